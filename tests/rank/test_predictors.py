"""Rank predictors: rank percentiles by hand, the registry on a separable toy, classes and determinism.

Toy: 6 datasets x 8 models. Column 0 of X is the model's quality ``q`` (the only informative
feature), column 1 noise; the target (normalised score) is ``q`` itself, so the truly best model on
every dataset is the one with ``q = 1``. Datasets d0..d4 train, d5 is held out.
"""

import numpy as np
import pytest

from matchchoose import InputError, NotFittedError
from matchchoose.rank import PREDICTORS, RankClassifier, ScoreRegressor, YetiRanker, make_predictor, rank_percentiles

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]


def toy():
    rng = np.random.default_rng(0)
    n_datasets, n_models = 6, 8
    q = rng.permutation(n_models) / (n_models - 1)
    rows = [(d, m, q[m], rng.normal()) for d in range(n_datasets) for m in range(n_models)]
    rows = np.array(rows)
    X = rows[:, 2:]
    y = rows[:, 2].copy()
    groups = np.array([f"d{int(d)}" for d in rows[:, 0]])
    train = groups != "d5"
    return X, y, groups, train, int(np.argmax(q))


# ----------------------------------------------------------------------------- rank percentiles
def test_rank_percentiles_by_hand():
    y = np.array([0.1, 0.9, 0.5, 1.0])
    g = np.array(["a", "a", "a", "b"])
    np.testing.assert_allclose(rank_percentiles(y, g), [2 / 3, 0.0, 1 / 3, 0.0])


def test_rank_percentiles_ties_share_the_best_rank():
    # 0.9, 0.9 are rank 1; 0.5 rank 3; 0.1 rank 4 -> (rank - 1) / 4.
    y = np.array([0.1, 0.9, 0.9, 0.5, 0.2, 0.2])
    g = np.array(["a", "a", "a", "a", "b", "b"])
    assert rank_percentiles(y, g).tolist() == [0.75, 0.0, 0.0, 0.5, 0.0, 0.0]


def test_rank_percentiles_interleaved_groups():
    y = np.array([3.0, 10.0, 1.0, 20.0, 2.0])
    g = np.array(["a", "b", "a", "b", "a"])
    np.testing.assert_allclose(rank_percentiles(y, g), [0.0, 0.5, 2 / 3, 0.0, 1 / 3])


# ----------------------------------------------------------------------------- registry
def test_registry_names():
    assert {"catboost", "random_forest", "xgboost", "svc", "mlp", "catboost_yetirank", "catboost_regressor",
            "rf_regressor"} <= set(PREDICTORS)
    assert all(isinstance(desc, str) and desc for _, desc in PREDICTORS.values())
    assert isinstance(make_predictor("catboost"), RankClassifier)
    assert isinstance(make_predictor("catboost_yetirank"), YetiRanker)
    assert isinstance(make_predictor("rf_regressor"), ScoreRegressor)
    assert repr(make_predictor("random_forest", random_state=3)) == (
        "RankClassifier(estimator='random_forest', n_classes=10, random_state=3, params=None)")


@pytest.mark.parametrize("name", sorted(PREDICTORS))
def test_every_predictor_ranks_the_best_model_first(name):
    X, y, groups, train, best = toy()
    predictor = make_predictor(name, random_state=0)
    assert predictor.fit(X[train], y[train], groups[train]) is predictor
    scores = predictor.predict(X[~train])
    assert scores.shape == (8,) and np.isfinite(scores).all()
    assert int(np.argmax(scores)) == best
    # The whole order is learnt, not only the top.
    assert np.corrcoef(scores, y[~train])[0, 1] > 0.9


def test_unknown_names_list_choices():
    with pytest.raises(InputError, match=r"Unknown predictor 'lightgbm': choose one of \['catboost', "):
        make_predictor("lightgbm")
    X, y, groups, train, _ = toy()
    with pytest.raises(InputError, match=r"'estimator' parameter of RankClassifier must be one of \[.*'svc'"):
        RankClassifier("knn").fit(X, y, groups)
    with pytest.raises(InputError, match=r"'estimator' parameter of ScoreRegressor must be one of "
                                         r"\['catboost', 'linear', 'random_forest'\]. Got 'svr' instead."):
        ScoreRegressor("svr").fit(X, y, groups)
    with pytest.raises(InputError, match="'n_classes' parameter of RankClassifier must be an int in"):
        RankClassifier(n_classes=1).fit(X, y, groups)


@pytest.mark.parametrize("predictor", [RankClassifier("random_forest"), ScoreRegressor(), YetiRanker()])
def test_not_fitted_error(predictor):
    with pytest.raises(NotFittedError, match=f"This {type(predictor).__name__} instance is not fitted yet"):
        predictor.predict(np.zeros((1, 2)))


# ----------------------------------------------------------------------------- RankClassifier classes
def test_rank_classes_binning():
    # Two groups of four models; ranks 1..4 -> percentiles 0, 1/4, 1/2, 3/4.
    X = np.arange(8, dtype=float)[:, None]
    y = np.array([4.0, 3.0, 2.0, 1.0, 1.0, 2.0, 3.0, 4.0])
    g = np.array(["a"] * 4 + ["b"] * 4)
    two = RankClassifier("random_forest", n_classes=2, params={"n_estimators": 5}).fit(X, y, g)
    assert two.classes_.tolist() == [0, 1] and two.centres_.tolist() == [0.25, 0.75]
    # n_classes >= n_models: one class per rank (the paper's setting), centres at the bin middles.
    many = RankClassifier("random_forest", n_classes=4, params={"n_estimators": 5}).fit(X, y, g)
    assert many.classes_.tolist() == [0, 1, 2, 3]
    assert many.centres_.tolist() == [0.125, 0.375, 0.625, 0.875]
    # Classes without rows are dropped: ranks fall in bins 0, 2, 5, 7 of 10.
    ten = RankClassifier("random_forest", n_classes=10, params={"n_estimators": 5}).fit(X, y, g)
    assert ten.classes_.tolist() == [0, 2, 5, 7]
    assert ten.centres_.tolist() == pytest.approx([0.05, 0.25, 0.55, 0.75])
    assert ten.predict_proba(X).shape == (8, 4)


class _FixedProba:
    def __init__(self, proba):
        self.proba = np.asarray(proba, dtype=float)

    def predict_proba(self, X):
        return self.proba


def test_expected_rank_direction():
    X = np.arange(8, dtype=float)[:, None]
    y = np.array([4.0, 3.0, 2.0, 1.0, 1.0, 2.0, 3.0, 4.0])
    g = np.array(["a"] * 4 + ["b"] * 4)
    clf = RankClassifier("random_forest", n_classes=2, params={"n_estimators": 5}).fit(X, y, g)
    # Score = -(P(best class) * 0.25 + P(worst class) * 0.75).
    clf.model_ = _FixedProba([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])
    np.testing.assert_allclose(clf.predict(np.zeros((3, 1))), [-0.3, -0.5, -0.65])
    # More probability on class 0 (the best ranks) -> a higher score.
    assert (np.diff(clf.predict(np.zeros((3, 1)))) < 0).all()


def test_expected_rank_direction_on_real_fit():
    X, y, groups, train, _ = toy()
    clf = RankClassifier("random_forest", n_classes=8, random_state=0, params={"n_estimators": 50})
    clf.fit(X[train], y[train], groups[train])
    proba = clf.predict_proba(X[~train])
    scores = clf.predict(X[~train])
    np.testing.assert_allclose(scores, -(proba @ clf.centres_))
    assert np.argmax(scores) == np.argmax(proba[:, 0])


def test_single_class_predicts_a_constant():
    X = np.zeros((4, 1))
    y = np.ones(4)  # every model ties: one class
    clf = RankClassifier("catboost").fit(X, y, np.array(["a", "a", "b", "b"]))
    assert clf.model_ is None and clf.classes_.tolist() == [0]
    assert clf.predict(np.zeros((3, 1))).tolist() == [-0.05] * 3


# ----------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("name", ["catboost", "random_forest", "catboost_yetirank"])
def test_same_seed_bit_identical(name):
    X, y, groups, train, _ = toy()
    X = X + np.random.default_rng(5).normal(scale=0.3, size=X.shape)  # ambiguity leaves room for randomness
    a = make_predictor(name, random_state=4).fit(X[train], y[train], groups[train]).predict(X[~train])
    b = make_predictor(name, random_state=4).fit(X[train], y[train], groups[train]).predict(X[~train])
    assert a.tobytes() == b.tobytes()
    c = make_predictor(name, random_state=5).fit(X[train], y[train], groups[train]).predict(X[~train])
    assert c.tobytes() != a.tobytes()


def test_yetiranker_accepts_interleaved_groups():
    X, y, groups, train, best = toy()
    order = np.random.default_rng(0).permutation(train.sum())
    Xt, yt, gt = X[train][order], y[train][order], groups[train][order]
    scores = YetiRanker(random_state=0).fit(Xt, yt, gt).predict(X[~train])
    assert int(np.argmax(scores)) == best


def test_params_reach_the_estimator():
    X, y, groups, train, _ = toy()
    clf = make_predictor("random_forest", params={"n_estimators": 7}).fit(X[train], y[train], groups[train])
    assert len(clf.model_.estimators_) == 7
    reg = make_predictor("catboost_regressor", params={"iterations": 11}).fit(X[train], y[train], groups[train])
    assert reg.model_.tree_count_ == 11
