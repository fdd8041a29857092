"""Rank predictors (paper 4.4, 4.5, 5.7), chosen by name from one registry.

Every predictor has the same scikit-learn-style contract:

``fit(X, y, groups)``
    ``X`` (n_rows, n_features): one row per (model, dataset) pair with a known result;
    ``y`` (n_rows,): the per-dataset normalised score, 1 = the dataset's best model, 0 = its worst;
    ``groups`` (n_rows,): the dataset of each row.
``predict(X)`` → (n_rows,) scores, higher = better (only their order within a dataset matters).

Classifiers follow the paper: each rank is a class. With many models (TransferGraph's zoo has 180)
one class per rank leaves a single example per class and dataset, so ranks are binned into
``n_classes`` equal-width rank-percentile classes (with ``n_classes >= n_models`` this is exactly the
paper's one class per rank). A classifier's probabilities become a ranking through the expected rank
percentile, ``sum_k P(class k) * centre_k``; the score is its negative.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd

from .._errors import InputError, NotFittedError
from .._estimator import Estimator
from .._validation import check_int

__all__ = ["PREDICTORS", "RankClassifier", "RankPredictor", "ScoreRegressor", "YetiRanker", "make_predictor",
           "rank_percentiles"]


def rank_percentiles(y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Rank percentile of each row within its group: 0 for the best, → 1 for the worst.

    ``(rank - 1) / n`` with ``rank`` 1 for the largest ``y`` (ties share their lowest rank).

    Examples
    --------
    >>> rank_percentiles(np.array([0.1, 0.9, 0.5, 1.0]), np.array(["a", "a", "a", "b"]))
    array([0.66666667, 0.        , 0.33333333, 0.        ])
    """
    y = np.asarray(y, dtype=float)
    out = np.empty_like(y)
    frame = pd.DataFrame({"y": y, "g": np.asarray(groups)})
    for _, idx in frame.groupby("g", sort=False).indices.items():
        ranks = pd.Series(y[idx]).rank(ascending=False, method="min").to_numpy()
        out[idx] = (ranks - 1.0) / idx.size
    return out


class RankPredictor(Estimator):
    """Base of the rank predictors: the estimator contract of :class:`~matchchoose._estimator.Estimator`,
    ``fit(X, y, groups)`` and ``predict(X)``; ``repr`` shows every parameter."""

    def __repr__(self):
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in names)
        return f"{type(self).__name__}({args})"

    def _check_fitted(self, attribute="model_"):
        super()._check_fitted(attribute)


class RankClassifier(RankPredictor):
    """Multi-class over rank classes; a ranking from the expected rank (the paper's mode).

    Parameters
    ----------
    estimator : str
        ``"catboost"`` (paper), ``"random_forest"``, ``"xgboost"``, ``"svc"`` (RBF), ``"mlp"`` (256 units).
    n_classes : int, default=10
        Rank-percentile classes (the paper's zoo has 10 models: one class per rank).
    random_state : int
    params : dict, optional
        Extra keyword arguments of the underlying estimator.
    """

    def __init__(self, estimator="catboost", n_classes=10, random_state=0, params=None):
        self.estimator = estimator
        self.n_classes = n_classes
        self.random_state = random_state
        self.params = params

    def _make(self):
        params = dict(self.params or {})
        seed = self.random_state
        if self.estimator == "catboost":
            from catboost import CatBoostClassifier

            base = dict(iterations=300, depth=6, learning_rate=0.1, loss_function="MultiClass", border_count=32,
                        random_seed=seed, verbose=False, allow_writing_files=False, thread_count=1)
            base.update(params)
            return CatBoostClassifier(**base)
        if self.estimator == "random_forest":
            from sklearn.ensemble import RandomForestClassifier

            return RandomForestClassifier(**{"n_estimators": 300, "random_state": seed, "n_jobs": 1, **params})
        if self.estimator == "xgboost":
            from .._errors import require

            xgb = require("xgboost", "the 'xgboost' predictor", "xgboost-cpu")
            base = dict(n_estimators=300, max_depth=6, learning_rate=0.1, random_state=seed, n_jobs=1,
                        tree_method="hist", objective="multi:softprob")
            base.update(params)
            return xgb.XGBClassifier(**base)
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if self.estimator == "svc":
            from sklearn.calibration import CalibratedClassifierCV
            from sklearn.svm import SVC

            # Platt-calibrated probabilities, as scikit-learn 1.9 recommends over SVC(probability=True).
            svc = SVC(**{"kernel": "rbf", "random_state": seed, **params})
            return make_pipeline(StandardScaler(), CalibratedClassifierCV(svc, ensemble=False))
        if self.estimator == "mlp":
            from sklearn.neural_network import MLPClassifier

            return make_pipeline(StandardScaler(), MLPClassifier(**{
                "hidden_layer_sizes": (256,), "max_iter": 500, "random_state": seed, **params}))
        raise InputError(
            f"The 'estimator' parameter of RankClassifier must be one of "
            f"['catboost', 'mlp', 'random_forest', 'svc', 'xgboost']. Got {self.estimator!r} instead."
        )

    def fit(self, X, y, groups):
        check_int("n_classes", self.n_classes, low=2, owner=type(self).__name__)
        pct = rank_percentiles(y, groups)
        classes = np.minimum((pct * self.n_classes).astype(int), self.n_classes - 1)
        # Re-index to the classes present: estimators want 0..K-1 without gaps.
        self.classes_, y_cls = np.unique(classes, return_inverse=True)
        self.centres_ = (self.classes_ + 0.5) / self.n_classes
        model = self._make()
        if self.classes_.size == 1:
            self.model_ = None
        else:
            model.fit(np.asarray(X, dtype=float), y_cls)
            self.model_ = model
        return self

    def predict_proba(self, X):
        """Class probabilities, shape (n_rows, n_present_classes), columns ordered as ``classes_``."""
        if not hasattr(self, "classes_"):
            raise NotFittedError(self)
        if self.model_ is None:
            return np.ones((len(X), 1))
        return np.asarray(self.model_.predict_proba(np.asarray(X, dtype=float)), dtype=float)

    def predict(self, X):
        """Negative expected rank percentile: higher = better."""
        return -(self.predict_proba(X) @ self.centres_)


class ScoreRegressor(RankPredictor):
    """Regression on the per-dataset normalised score (CatBoost RMSE, a random forest, or least squares)."""

    def __init__(self, estimator="catboost", random_state=0, params=None):
        self.estimator = estimator
        self.random_state = random_state
        self.params = params

    def fit(self, X, y, groups):
        params = dict(self.params or {})
        if self.estimator == "catboost":
            from catboost import CatBoostRegressor

            base = dict(iterations=300, depth=6, learning_rate=0.1, random_seed=self.random_state,
                        verbose=False, allow_writing_files=False, thread_count=1)
            base.update(params)
            model = CatBoostRegressor(**base)
        elif self.estimator == "random_forest":
            from sklearn.ensemble import RandomForestRegressor

            model = RandomForestRegressor(**{"n_estimators": 300, "random_state": self.random_state,
                                             "n_jobs": 1, **params})
        elif self.estimator == "linear":
            from sklearn.linear_model import LinearRegression

            model = LinearRegression(**params)
        else:
            raise InputError(
                "The 'estimator' parameter of ScoreRegressor must be one of ['catboost', 'linear', "
                "'random_forest']. "
                f"Got {self.estimator!r} instead."
            )
        self.model_ = model.fit(np.asarray(X, dtype=float), np.asarray(y, dtype=float))
        return self

    def predict(self, X):
        self._check_fitted()
        return np.asarray(self.model_.predict(np.asarray(X, dtype=float)), dtype=float)


class YetiRanker(RankPredictor):
    """CatBoost learning-to-rank (``YetiRank``) with one query per dataset."""

    def __init__(self, random_state=0, params=None):
        self.random_state = random_state
        self.params = params

    def fit(self, X, y, groups):
        from catboost import CatBoostRanker, Pool

        groups = np.asarray(groups)
        order = np.argsort(groups, kind="mergesort")  # CatBoost wants each query's rows contiguous
        base = dict(iterations=300, depth=6, learning_rate=0.1, loss_function="YetiRank",
                    random_seed=self.random_state, verbose=False, allow_writing_files=False, thread_count=1)
        base.update(self.params or {})
        _, group_ids = np.unique(groups[order], return_inverse=True)
        pool = Pool(np.asarray(X, dtype=float)[order], label=np.asarray(y, dtype=float)[order], group_id=group_ids)
        self.model_ = CatBoostRanker(**base).fit(pool)
        return self

    def predict(self, X):
        self._check_fitted()
        return np.asarray(self.model_.predict(np.asarray(X, dtype=float)), dtype=float)


# name -> (factory(random_state, **params), description)
PREDICTORS = {
    "catboost": (lambda rs, **kw: RankClassifier("catboost", random_state=rs, **kw),
                 "CatBoost multi-class over rank classes, expected rank (paper default)"),
    "random_forest": (lambda rs, **kw: RankClassifier("random_forest", random_state=rs, **kw),
                      "random forest over rank classes"),
    "xgboost": (lambda rs, **kw: RankClassifier("xgboost", random_state=rs, **kw),
                "XGBoost over rank classes (needs matchchoose[xgboost-cpu])"),
    "svc": (lambda rs, **kw: RankClassifier("svc", random_state=rs, **kw), "RBF support vector classifier"),
    "mlp": (lambda rs, **kw: RankClassifier("mlp", random_state=rs, **kw), "MLP, 256 hidden units"),
    "catboost_yetirank": (lambda rs, **kw: YetiRanker(random_state=rs, **kw),
                          "CatBoost YetiRank, one query per dataset"),
    "catboost_regressor": (lambda rs, **kw: ScoreRegressor("catboost", random_state=rs, **kw),
                           "CatBoost regression on the per-dataset normalised score"),
    "rf_regressor": (lambda rs, **kw: ScoreRegressor("random_forest", random_state=rs, **kw),
                     "random forest regression on the per-dataset normalised score"),
    "linear": (lambda rs, **kw: ScoreRegressor("linear", random_state=rs, **kw),
               "linear regression on the per-dataset normalised score (TransferGraph's LR predictor)"),
}


def make_predictor(name: str, random_state: int = 0, **params):
    """A fresh predictor from the registry.

    Examples
    --------
    >>> make_predictor("random_forest", random_state=0)
    RankClassifier(estimator='random_forest', n_classes=10, random_state=0, params=None)
    """
    if name not in PREDICTORS:
        raise InputError(f"Unknown predictor {name!r}: choose one of {sorted(PREDICTORS)}.")
    return PREDICTORS[name][0](random_state, **params)
