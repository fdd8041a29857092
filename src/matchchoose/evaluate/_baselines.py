"""Baseline selectors (paper 5.1) and two references, behind the selector protocol of M&C.

Selector protocol (:class:`matchchoose._estimator.Selector`, shared with the M&C selector of
``matchchoose.rank``):

* ``__init__`` only stores its keyword arguments;
* ``fit(records)`` learns from a training view :class:`~matchchoose.ZooRecords` in which the
  target dataset has *no results* but keeps its features, distances and prescores; it returns
  ``self`` and sets attributes ending in ``_``;
* ``predict(dataset)`` returns a float Series indexed by ``records.models`` (all of them, sorted),
  higher = better, without NaN. Models the selector knows nothing about get the *lowest-score
  rule*: ``min(known scores) - 1`` (0.0 when no model is known), so they rank last, in name order.

Calling ``predict`` before ``fit`` raises :class:`~matchchoose.NotFittedError`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .._errors import InputError, NotFittedError
from .._estimator import Selector
from .._validation import check_in, check_int
from ..records import ZooRecords

__all__ = [
    "BASELINES",
    "DirectSelector",
    "InitialSelector",
    "NearestSelector",
    "OracleSelector",
    "OverallSelector",
    "RandomSelector",
    "make_baseline",
]


def _lowest_fill(scores: pd.Series, models: list, dataset: str) -> pd.Series:
    """Scores on ``models``; unknown models get ``min(known) - 1`` (0.0 when none is known)."""
    s = scores.reindex(models).astype(float)
    known = s.dropna()
    floor = float(known.min()) - 1.0 if not known.empty else 0.0
    s = s.fillna(floor)
    s.index = pd.Index(models, name="model")
    s.name = dataset
    return s


def _check_records(owner, records) -> ZooRecords:
    if not isinstance(records, ZooRecords):
        raise InputError(f"{type(owner).__name__}.fit expects ZooRecords. Got {type(records).__name__} instead.")
    return records


class _Selector(Selector):
    """Shared ``fit`` bookkeeping and ``predict`` checks."""

    def _fit_common(self, records) -> ZooRecords:
        records = _check_records(self, records)
        self.models_ = list(records.models)
        self.datasets_ = list(records.datasets)
        return records

    def _check_predict(self, dataset) -> str:
        if not hasattr(self, "models_"):
            raise NotFittedError(self)
        dataset = str(dataset)
        if dataset not in self.datasets_:
            raise InputError(
                f"{type(self).__name__}.predict: dataset {dataset!r} is not in the fitted records; "
                "add it (with its features or distances) before predicting."
            )
        return dataset


class RandomSelector(_Selector):
    """Uniformly random choice: every model scores 0.0.

    The evaluator reports the exact expected metrics of a random ranking
    (:func:`~matchchoose.evaluate.expected_random_metrics`) instead of scoring these ties, as the
    class attribute ``expected_value = True`` tells it.

    Examples
    --------
    >>> import pandas as pd
    >>> from matchchoose import Metric, ZooRecords
    >>> r = ZooRecords(pd.DataFrame({"model": ["a", "b"], "dataset": "x", "value": [1.0, 2.0]}), Metric("acc", True))
    >>> RandomSelector().fit(r).predict("x").tolist()
    [0.0, 0.0]
    """

    expected_value = True

    def fit(self, records):
        self._fit_common(records)
        return self

    def predict(self, dataset) -> pd.Series:
        dataset = self._check_predict(dataset)
        return _lowest_fill(pd.Series(0.0, index=self.models_), self.models_, dataset)


class InitialSelector(_Selector):
    """Rank models by their score before fine-tuning (paper's "Initial"): the target's prescores.

    Models without a prescore on the target get the lowest-score rule. The evaluation scores this
    baseline over :meth:`scored_models` only, as TransferGraph scores LogME: a prescore says
    nothing about a model it was not computed for.
    """

    @classmethod
    def applies_to(cls, records: ZooRecords) -> bool:
        """Whether ``records`` hold any prescore."""
        return records.prescores is not None and not records.prescores.empty

    @classmethod
    def available(cls, records: ZooRecords, dataset: str) -> bool:
        """Whether ``records`` holds a prescore of at least one zoo model on ``dataset``."""
        pre = records.prescore_utility(str(dataset))
        return pre is not None and pre.reindex(records.models).notna().any()

    def fit(self, records):
        records = self._fit_common(records)
        self.records_ = records
        return self

    def scored_models(self, dataset) -> list:
        """The models with a prescore on ``dataset``."""
        dataset = self._check_predict(dataset)
        pre = self.records_.prescore_utility(dataset)
        return [] if pre is None else sorted(pre.reindex(self.models_).dropna().index)

    def predict(self, dataset) -> pd.Series:
        dataset = self._check_predict(dataset)
        if not self.available(self.records_, dataset):
            raise InputError(f"InitialSelector: dataset {dataset!r} has no prescores of the zoo's models.")
        return _lowest_fill(self.records_.prescore_utility(dataset), self.models_, dataset)


class OverallSelector(_Selector):
    """The same ranking for every dataset (paper's "Overall"): mean normalised score over training datasets.

    Scores are ``records.normalized_matrix()`` averaged over the datasets where each model has a
    result; models never evaluated get the lowest-score rule.

    Attributes
    ----------
    scores_ : Series
        Mean normalised score of each model (NaN for models never evaluated).
    """

    def fit(self, records):
        records = self._fit_common(records)
        norm = records.normalized_matrix()
        if norm.empty:
            raise InputError("OverallSelector.fit: the records have no results to average.")
        self.scores_ = norm.mean(axis=0, skipna=True)
        return self

    def predict(self, dataset) -> pd.Series:
        dataset = self._check_predict(dataset)
        return _lowest_fill(self.scores_, self.models_, dataset)


class _FeatureEncoder:
    """Dataset features -> float matrix: numeric columns imputed with the training median (all-NaN
    columns dropped), other columns one-hot on the training categories (NaN / unseen -> all zeros)."""

    def fit(self, frame: pd.DataFrame) -> "_FeatureEncoder":
        self.numeric_, self.medians_, self.categories_ = [], {}, {}
        for col in frame.columns:
            values = frame[col]
            if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
                median = pd.to_numeric(values, errors="coerce").astype(float).median()
                if not np.isnan(median):
                    self.numeric_.append(col)
                    self.medians_[col] = float(median)
            else:
                cats = sorted(set(values.dropna().astype(str)))
                if cats:
                    self.categories_[col] = cats
        if not self.numeric_ and not self.categories_:
            raise InputError("The training datasets' features are all missing: nothing to learn from.")
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        blocks = []
        for col in self.numeric_:
            values = pd.to_numeric(frame[col], errors="coerce").astype(float)
            blocks.append(values.fillna(self.medians_[col]).to_numpy())
        for col, cats in self.categories_.items():
            values = frame[col].astype(object).where(frame[col].notna(), None)
            for cat in cats:
                blocks.append(np.array([v is not None and str(v) == cat for v in values], dtype=float))
        return np.column_stack(blocks)


def _with_features(features: pd.DataFrame, datasets) -> list:
    """The ``datasets`` with at least one known feature, in the given order."""
    if features.shape[1] == 0:
        return []
    has = features.loc[list(datasets)].notna().any(axis=1)
    return [d for d in datasets if has[d]]


class DirectSelector(_Selector):
    """The paper's "Direct classifier": a multi-output random forest on dataset features only.

    One output per model; its classes are the model's ranks (1 = best, ties share the lowest rank)
    on the training datasets. A model without a result on a training dataset is given the worst
    rank, ``len(records.models)``, there. The score of a model is minus its expected rank,
    ``-sum_r r * P(rank = r)``, from ``predict_proba``. Models with no result on any training
    dataset get the lowest-score rule. Features: numeric columns imputed with the training median,
    categorical columns one-hot encoded. Training datasets without any feature are left out, with
    a warning.

    Parameters
    ----------
    random_state : int, RandomState or None, default 0
        Seed of the forest; an int gives bit-identical predictions across fits.
    n_estimators : int, default 300
        Number of trees.

    Examples
    --------
    >>> import pandas as pd
    >>> from matchchoose import Metric, ZooRecords
    >>> res = pd.DataFrame({"model": ["a", "b"] * 2, "dataset": ["x", "x", "y", "y"], "value": [1.0, 2, 4, 3]})
    >>> feats = pd.DataFrame({"f": [0.0, 1.0, 0.9]}, index=["x", "y", "t"])
    >>> r = ZooRecords(res, Metric("acc", True), dataset_features=feats)
    >>> DirectSelector(n_estimators=10).fit(r).predict("t").idxmax() in {"a", "b"}
    True
    """

    def __init__(self, random_state=0, n_estimators=300):
        self.random_state = random_state
        self.n_estimators = n_estimators

    @classmethod
    def applies_to(cls, records: ZooRecords) -> bool:
        """Whether ``records`` have dataset features."""
        return records.dataset_features.shape[1] > 0

    def fit(self, records):
        n_estimators = check_int("n_estimators", self.n_estimators, low=1, owner="DirectSelector")
        records = self._fit_common(records)
        if records.dataset_features.shape[1] == 0:
            raise InputError("DirectSelector needs dataset features; the records have none.")
        evaluated = records.evaluated_datasets
        train = _with_features(records.dataset_features, evaluated)
        skipped = sorted(set(evaluated) - set(train))
        if skipped:
            msg = f"DirectSelector: training dataset(s) {skipped} have no features and are left out."
            warnings.warn(msg, stacklevel=2)
        if not train:
            raise InputError("DirectSelector needs at least one training dataset with results and features.")
        self.encoder_ = _FeatureEncoder().fit(records.dataset_features.loc[train])
        X = self.encoder_.transform(records.dataset_features.loc[train])
        ranks = records.rank_matrix().loc[train]
        self.known_models_ = list(ranks.columns[ranks.notna().any(axis=0)])
        Y = ranks.fillna(len(self.models_)).astype(int).to_numpy()
        from sklearn.ensemble import RandomForestClassifier  # lazily: a warm `mnc choose` never needs it

        self.forest_ = RandomForestClassifier(n_estimators=n_estimators, random_state=self.random_state, n_jobs=1)
        self.forest_.fit(X, Y)
        self.features_ = records.dataset_features
        self.train_datasets_ = train
        return self

    def predict(self, dataset) -> pd.Series:
        dataset = self._check_predict(dataset)
        row = self.features_.loc[[dataset]]
        if not row.notna().to_numpy().any():
            raise InputError(f"DirectSelector: dataset {dataset!r} has no features to predict from.")
        proba = self.forest_.predict_proba(self.encoder_.transform(row))
        proba = proba if isinstance(proba, list) else [proba]
        classes = self.forest_.classes_ if isinstance(self.forest_.classes_, list) else [self.forest_.classes_]
        expected = np.array([float(np.dot(c, p[0])) for c, p in zip(classes, proba)])
        scores = pd.Series(-expected, index=self.models_)
        return _lowest_fill(scores.where(scores.index.isin(self.known_models_)), self.models_, dataset)


class NearestSelector(_Selector):
    """Similarity-weighted average of the normalised scores of the ``k`` nearest training datasets.

    Neighbours are the training datasets (those with results, other than the target) with a known
    distance to the target in ``records.distances``, nearest first (ties by name). When the target
    has no such distance, the Euclidean distance between standardised dataset features (training
    mean and standard deviation; NaN imputed with the training median) is used instead.

    Weights are ``exp(-d / h)`` with ``h`` the median distance of the ``k`` neighbours (when
    ``h = 0`` only the neighbours at distance 0 count). Unlike ``1 / (d + eps)``, this is
    invariant to the distance's units (CLIP-FID, cosine...), stays bounded when a neighbour is a
    near-duplicate (``d ~ 0``), and tends to the plain mean when the neighbours are equidistant.
    Each model's score averages only the neighbours where it has a normalised score; models
    without any get the lowest-score rule.

    Parameters
    ----------
    k : int, default 3
        Number of neighbours (all available ones when fewer).
    random_state : None
        Unused (the selector is deterministic); accepted so every baseline takes the same keywords.
    """

    def __init__(self, k=3, random_state=None):
        self.k = k
        self.random_state = random_state

    @classmethod
    def applies_to(cls, records: ZooRecords) -> bool:
        """Whether ``records`` have distances or dataset features to find neighbours with."""
        return records.distances is not None or records.dataset_features.shape[1] > 0

    def fit(self, records):
        check_int("k", self.k, low=1, owner="NearestSelector")
        records = self._fit_common(records)
        self.normalized_ = records.normalized_matrix()
        if self.normalized_.empty:
            raise InputError("NearestSelector.fit: the records have no results.")
        dist = records.distances
        if dist is not None and (dist.to_numpy() < 0).any():
            raise InputError("NearestSelector: 'distances' has negative values; pass distances (lower = more similar).")
        self.distances_ = dist
        self.features_ = records.dataset_features
        return self

    def _neighbour_distances(self, dataset: str) -> pd.Series:
        candidates = [d for d in self.normalized_.index if d != dataset]
        if not candidates:
            raise InputError(f"NearestSelector: no training dataset other than {dataset!r} has results.")
        if self.distances_ is not None:
            row = self.distances_.loc[dataset, candidates].dropna()
            if not row.empty:
                return row
        with_feats = _with_features(self.features_, candidates)
        if not with_feats or not self.features_.loc[dataset].notna().any():
            raise InputError(
                f"NearestSelector: dataset {dataset!r} has neither distances to the training datasets "
                "nor features to compute them from."
            )
        encoder = _FeatureEncoder().fit(self.features_.loc[with_feats])
        train = encoder.transform(self.features_.loc[with_feats])
        mean, std = train.mean(axis=0), train.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        target = (encoder.transform(self.features_.loc[[dataset]]) - mean) / std
        d = np.sqrt((((train - mean) / std - target) ** 2).sum(axis=1))
        return pd.Series(d, index=with_feats)

    def predict(self, dataset) -> pd.Series:
        dataset = self._check_predict(dataset)
        d = self._neighbour_distances(dataset)
        frame = pd.DataFrame({"name": d.index, "d": d.to_numpy()}).sort_values(["d", "name"], kind="mergesort")
        frame = frame.iloc[: self.k]
        h = float(np.median(frame["d"]))
        w = np.exp(-frame["d"].to_numpy() / h) if h > 0 else (frame["d"].to_numpy() == 0).astype(float)
        scores = self.normalized_.loc[list(frame["name"])]
        weights = pd.DataFrame(np.repeat(w[:, None], scores.shape[1], axis=1), index=scores.index,
                               columns=scores.columns)
        weights = weights.where(scores.notna(), 0.0)
        total = weights.sum(axis=0)
        avg = (scores.fillna(0.0) * weights).sum(axis=0) / total.where(total > 0)
        return _lowest_fill(avg, self.models_, dataset)


class OracleSelector(_Selector):
    """The true utilities of the target: an upper bound for the metrics, never a real selector.

    It reads the answer from ``full_records`` (which hold the target's results), not from the
    training view given to ``fit``. Models without a result on the target get the lowest-score rule.

    Parameters
    ----------
    full_records : ZooRecords
        Records with the results of every dataset to be predicted.
    """

    def __init__(self, full_records=None):
        self.full_records = full_records

    def fit(self, records):
        if not isinstance(self.full_records, ZooRecords):
            raise InputError(
                "The 'full_records' parameter of OracleSelector must be ZooRecords. "
                f"Got {type(self.full_records).__name__} instead."
            )
        self._fit_common(records)
        return self

    def predict(self, dataset) -> pd.Series:
        dataset = self._check_predict(dataset)
        full = self.full_records
        truth = full.truth(dataset)
        utility = pd.Series(full.metric.orient(truth.to_numpy()), index=truth.index)
        return _lowest_fill(utility, self.models_, dataset)


#: Baseline name -> selector class (``oracle`` needs ``full_records=``).
BASELINES = {
    "random": RandomSelector,
    "initial": InitialSelector,
    "overall": OverallSelector,
    "direct": DirectSelector,
    "nearest": NearestSelector,
    "oracle": OracleSelector,
}


def make_baseline(name: str, **kwargs):
    """Build the baseline registered as ``name`` with ``kwargs``; unknown names list the valid ones.

    Examples
    --------
    >>> make_baseline("nearest", k=2)
    NearestSelector(k=2)
    """
    check_in("name", name, BASELINES)
    return BASELINES[name](**kwargs)
