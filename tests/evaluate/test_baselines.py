"""Baseline selectors on a toy zoo where every answer can be checked by hand.

Toy: lower-is-better FID, models a-d plus "e" (in the zoo, never evaluated), training datasets
x, y, z and the target t (its results exist in the full records only).

    FID   a   b   c   d        normalised utility   a    b    c    d
    x    10  20  30  40                        x  1   2/3  1/3   0
    y    40  10  20  30                        y  0    1   2/3  1/3
    z    20  30  10   -                        z 1/2   0    1    -
    t    30  10  20  40   (truth)

Distances from t: x = 1, y = 4, z = 10. Prescores (zero-shot FID) on t: a 50, b 60, c 70.
"""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

from matchchoose import InputError, Metric, NotFittedError, ZooRecords
from matchchoose.evaluate._baselines import (
    BASELINES,
    DirectSelector,
    InitialSelector,
    NearestSelector,
    OracleSelector,
    OverallSelector,
    RandomSelector,
    _FeatureEncoder,
    make_baseline,
)

MODELS = list("abcde")


def full_records(distances=True, features=True, prescores=True) -> ZooRecords:
    fid = {
        "x": {"a": 10, "b": 20, "c": 30, "d": 40},
        "y": {"a": 40, "b": 10, "c": 20, "d": 30},
        "z": {"a": 20, "b": 30, "c": 10},
        "t": {"a": 30, "b": 10, "c": 20, "d": 40},
    }
    rows = [(m, ds, float(v)) for ds, vals in fid.items() for m, v in vals.items()]
    kw = {}
    if features:
        kw["dataset_features"] = pd.DataFrame(
            {"f": [0.0, 1.0, 2.0, 0.2], "kind": ["photo", "art", "photo", "photo"]}, index=list("xyzt")
        )
    if distances:
        kw["distances"] = pd.DataFrame(
            [[0, 5, 6, 1], [5, 0, 7, 4], [6, 7, 0, 10], [1, 4, 10, 0]], index=list("xyzt"), columns=list("xyzt")
        )
    if prescores:
        kw["prescores"] = pd.DataFrame({"model": list("abc"), "dataset": "t", "value": [50.0, 60.0, 70.0]})
        kw["prescore_metric"] = Metric("zero_shot_fid", False)
    results = pd.DataFrame(rows, columns=["model", "dataset", "value"])
    return ZooRecords(results, Metric("clip_fid", False), models=MODELS, datasets=list("txyz"), **kw)


def train_view(**kw) -> ZooRecords:
    return full_records(**kw).without_results("t")


def check_contract(pred: pd.Series):
    assert list(pred.index) == MODELS
    assert pred.dtype == float and not pred.isna().any()


# ----------------------------------------------------------------------------- simple baselines
def test_random_selector():
    pred = RandomSelector().fit(train_view()).predict("t")
    check_contract(pred)
    assert (pred == 0.0).all() and RandomSelector.expected_value is True


def test_initial_selector():
    train = train_view()
    pred = InitialSelector().fit(train).predict("t")
    check_contract(pred)
    assert pred.tolist() == [-50.0, -60.0, -70.0, -71.0, -71.0]  # d, e: no prescore -> min - 1
    assert InitialSelector.available(train, "t") and not InitialSelector.available(train, "y")
    assert not InitialSelector.available(train_view(prescores=False), "t")
    with pytest.raises(InputError, match="'y' has no prescores"):
        InitialSelector().fit(train).predict("y")


def test_overall_selector():
    pred = OverallSelector().fit(train_view()).predict("t")
    check_contract(pred)
    expected = [1.5 / 3, (2 / 3 + 1) / 3, 2 / 3, (1 / 3) / 2, 1 / 6 - 1]  # d averages x, y only; e: min - 1
    assert pred.to_numpy() == pytest.approx(expected)
    assert pred.idxmax() == "c"
    # The target's results never enter: fitting on the full records would change the answer.
    assert not np.allclose(OverallSelector().fit(full_records()).predict("t"), pred)


def test_oracle_selector_is_the_truth():
    pred = OracleSelector(full_records()).fit(train_view()).predict("t")
    check_contract(pred)
    assert pred.tolist() == [-30.0, -10.0, -20.0, -40.0, -41.0]
    with pytest.raises(InputError, match="full_records"):
        OracleSelector().fit(train_view())


# ----------------------------------------------------------------------------- nearest
def test_nearest_selector_distances_k2():
    pred = NearestSelector(k=2).fit(train_view()).predict("t")
    check_contract(pred)
    wx, wy = math.exp(-1 / 2.5), math.exp(-4 / 2.5)  # h = median(1, 4) = 2.5
    x = np.array([1, 2 / 3, 1 / 3, 0])
    y = np.array([0, 1, 2 / 3, 1 / 3])
    expected = (wx * x + wy * y) / (wx + wy)
    assert pred.to_numpy()[:4] == pytest.approx(expected)
    assert pred["e"] == pytest.approx(expected.min() - 1)
    assert pred.idxmax() == "a"  # the nearest dataset's best model wins


def test_nearest_selector_k3_averages_available_scores():
    pred = NearestSelector(k=3).fit(train_view()).predict("t")
    w = np.exp(-np.array([1.0, 4.0, 10.0]) / 4.0)  # h = median(1, 4, 10) = 4
    norm = np.array([[1, 2 / 3, 1 / 3, 0], [0, 1, 2 / 3, 1 / 3], [0.5, 0, 1, np.nan]])
    expected = [np.dot(w, norm[:, j]) / w.sum() for j in range(3)]
    expected.append(np.dot(w[:2], norm[:2, 3]) / w[:2].sum())  # d has no result on z
    assert pred.to_numpy()[:4] == pytest.approx(expected)


def test_nearest_selector_k1_copies_nearest():
    pred = NearestSelector(k=1).fit(train_view()).predict("t")
    assert pred.to_numpy()[:4] == pytest.approx([1, 2 / 3, 1 / 3, 0])


def test_nearest_selector_zero_bandwidth():
    r = full_records()
    dist = r.distances.copy()
    dist.loc["t", ["x", "y"]] = dist.loc[["x", "y"], "t"] = 0.0
    r = ZooRecords(r.results, r.metric, models=MODELS, distances=dist).without_results("t")
    pred = NearestSelector(k=3).fit(r).predict("t")  # h = median(0, 0, 10) = 0: x and y only, equally
    assert pred.to_numpy()[:4] == pytest.approx([0.5, 5 / 6, 0.5, 1 / 6])


def test_nearest_selector_feature_fallback():
    r = full_records(distances=False)
    feats = r.dataset_features[["f"]].copy()
    feats.loc["t", "f"] = 1.1  # nearest y (0.1 away), then z (0.9), then x (1.1)
    train = ZooRecords(r.results, r.metric, models=MODELS, dataset_features=feats).without_results("t")
    assert NearestSelector(k=1).fit(train).predict("t").to_numpy()[:4] == pytest.approx([0, 1, 2 / 3, 1 / 3])
    pred = NearestSelector(k=2).fit(train).predict("t")
    wy, wz = math.exp(-0.2), math.exp(-1.8)  # d / median(d): scale-free, 0.1/0.5 and 0.9/0.5
    assert pred["a"] == pytest.approx(wz * 0.5 / (wy + wz))
    assert pred["d"] == pytest.approx(1 / 3)  # only y has d


def test_nearest_selector_errors():
    bare = train_view(distances=False, features=False)
    with pytest.raises(InputError, match="'t' has neither distances"):
        NearestSelector().fit(bare).predict("t")
    with pytest.raises(InputError, match="'k' parameter of NearestSelector"):
        NearestSelector(k=0).fit(train_view())
    r = full_records()
    neg = ZooRecords(r.results, r.metric, distances=-r.distances)
    with pytest.raises(InputError, match="negative"):
        NearestSelector().fit(neg)


# ----------------------------------------------------------------------------- direct
def test_feature_encoder():
    train = pd.DataFrame({"f": [1.0, np.nan, 3.0], "g": [np.nan] * 3, "kind": ["p", "a", None]})
    enc = _FeatureEncoder().fit(train)
    test = pd.DataFrame({"f": [np.nan], "g": [5.0], "kind": ["unseen"]})
    assert enc.transform(train).tolist() == [[1, 0, 1], [2, 1, 0], [3, 0, 0]]  # f, kind=a, kind=p; g dropped
    assert enc.transform(test).tolist() == [[2, 0, 0]]


def test_direct_selector_matches_forest_expected_rank():
    pred = DirectSelector(random_state=0, n_estimators=25).fit(train_view()).predict("t")
    check_contract(pred)
    X = np.array([[0.0, 0, 1], [1, 1, 0], [2, 0, 1]])  # f, kind=art, kind=photo for x, y, z
    t = np.array([[0.2, 0, 1]])
    # Ranks per training dataset; d has no result on z and e none anywhere: worst rank (5 models).
    Y = np.array([[1, 2, 3, 4, 5], [4, 1, 2, 3, 5], [2, 3, 1, 5, 5]])
    forest = RandomForestClassifier(n_estimators=25, random_state=0, n_jobs=1).fit(X, Y)
    expected = [-float(np.dot(c, p[0])) for c, p in zip(forest.classes_, forest.predict_proba(t))]
    assert pred.to_numpy()[:4] == pytest.approx(expected[:4])
    assert pred["e"] == pytest.approx(min(expected[:4]) - 1)  # e never evaluated: lowest-score rule


def test_direct_selector_constant_ranks_are_exact():
    res = pd.DataFrame(
        [("a", "x", 1.0), ("b", "x", 2.0), ("c", "x", 3.0), ("d", "x", 4.0), ("a", "y", 5.0), ("b", "y", 6.0),
         ("c", "y", 7.0)],
        columns=["model", "dataset", "value"],
    )  # fmt: skip
    feats = pd.DataFrame({"f": [0.0, 1.0, 0.5]}, index=["x", "y", "t"])
    r = ZooRecords(res, Metric("fid", False), dataset_features=feats)
    pred = DirectSelector(n_estimators=5).fit(r).predict("t")
    # Every output has one class, so the forest's answer is exact. d: rank 4 on x, filled with the
    # worst rank (4 models) on y where it has no result.
    assert pred.tolist() == [-1.0, -2.0, -3.0, -4.0]


def test_direct_selector_is_deterministic():
    a = DirectSelector(random_state=3, n_estimators=30).fit(train_view()).predict("t")
    b = DirectSelector(random_state=3, n_estimators=30).fit(train_view()).predict("t")
    pd.testing.assert_series_equal(a, b, check_exact=True)


def test_direct_selector_feature_errors():
    with pytest.raises(InputError, match="needs dataset features"):
        DirectSelector().fit(train_view(features=False))
    r = full_records()
    feats = r.dataset_features.copy()
    feats.loc["t"] = np.nan
    no_target = ZooRecords(r.results, r.metric, models=MODELS, dataset_features=feats).without_results("t")
    with pytest.raises(InputError, match="'t' has no features"):
        DirectSelector(n_estimators=5).fit(no_target).predict("t")
    feats.loc["t"] = [0.2, "photo"]
    feats.loc["z"] = np.nan
    no_z = ZooRecords(r.results, r.metric, models=MODELS, dataset_features=feats).without_results("t")
    with pytest.warns(UserWarning, match=r"\['z'\] have no features"):
        sel = DirectSelector(n_estimators=5).fit(no_z)
    assert sel.train_datasets_ == ["x", "y"]


# ----------------------------------------------------------------------------- protocol and registry
@pytest.mark.parametrize("name", sorted(BASELINES))
def test_predict_before_fit_raises(name):
    sel = make_baseline(name, full_records=full_records()) if name == "oracle" else make_baseline(name)
    with pytest.raises(NotFittedError, match=type(sel).__name__):
        sel.predict("t")


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_every_baseline_follows_the_contract(name):
    sel = make_baseline(name, full_records=full_records()) if name == "oracle" else make_baseline(name)
    if name == "direct":
        sel.set_params(n_estimators=10)
    check_contract(sel.fit(train_view()).predict("t"))
    with pytest.raises(InputError, match="'nope' is not in the fitted records"):
        sel.predict("nope")


def test_registry_and_init_stores_kwargs():
    assert set(BASELINES) == {"random", "initial", "overall", "direct", "nearest", "oracle"}
    assert DirectSelector(random_state=7).get_params() == {"random_state": 7, "n_estimators": 300}
    assert NearestSelector(k=-1).k == -1  # validated in fit, not __init__
    with pytest.raises(InputError, match="'name' parameter must be one of"):
        make_baseline("best")
