"""The tidy tables the selection engine works on, whatever zoo they come from.

:class:`ZooRecords` is the one object that flows from the knowledge base (``matchchoose.kb``) into the
matching graph (``matchchoose.graph``), the rank predictors (``matchchoose.rank``) and the evaluation
(``matchchoose.evaluate``). It knows nothing about T2I models or classifiers: models, datasets, one
quality metric with its direction, optional features, dataset distances and prescores.

Orientation. Raw values keep the metric's own units (accuracy, CLIP-FID...). Everything that ranks
uses *utility*, the value oriented so that higher is better (``-FID``, ``accuracy``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ._errors import InputError

__all__ = ["Metric", "ZooRecords", "target_rows"]


@dataclass(frozen=True)
class Metric:
    """A quality metric and its direction.

    Parameters
    ----------
    name : str
        Metric name as stored in the knowledge base (``"clip_fid"``, ``"accuracy"``).
    higher_is_better : bool
        ``True`` for accuracy-like metrics, ``False`` for distances such as FID.

    Examples
    --------
    >>> Metric("clip_fid", higher_is_better=False).orient(np.array([3.0, 5.0]))
    array([-3., -5.])
    """

    name: str
    higher_is_better: bool

    def orient(self, values):
        """Return ``values`` as utilities: higher is better."""
        values = np.asarray(values, dtype=float)
        return values if self.higher_is_better else -values

    def unorient(self, utilities):
        """Inverse of :meth:`orient`."""
        utilities = np.asarray(utilities, dtype=float)
        return utilities if self.higher_is_better else -utilities


def _empty_frame(index_name: str) -> pd.DataFrame:
    return pd.DataFrame(index=pd.Index([], name=index_name, dtype=object))


@dataclass(frozen=True)
class ZooRecords:
    """Recorded results of a model zoo, with everything the selection engine may use.

    Parameters
    ----------
    results : DataFrame
        Long table with columns ``model``, ``dataset``, ``value``: one aggregated result per
        (model, dataset) pair, in the metric's raw units.
    metric : Metric
        The metric of ``results``.
    models : list of str, optional
        Every model of the zoo (defaults to the models in ``results`` and ``model_features``).
    datasets : list of str, optional
        Every dataset known (defaults to those in ``results``, ``dataset_features`` and ``distances``).
        A dataset may have no results: that is the target of a selection.
    model_features : DataFrame, optional
        Index = model, one column per feature (numeric or categorical; NaN allowed).
    dataset_features : DataFrame, optional
        Index = dataset, one column per feature.
    distances : DataFrame, optional
        Square, symmetric dataset × dataset distances (lower = more similar), NaN where unknown.
    distance_metric : str, optional
        Name of the distance (``"fd_clip"``, ``"vit_domain_similarity"``).
    prescores : DataFrame, optional
        Long table ``model, dataset, value``: scores known before fine-tuning (LogME, zero-shot FID).
    prescore_metric : Metric, optional
        Metric (and direction) of ``prescores``.

    Examples
    --------
    >>> r = ZooRecords(pd.DataFrame({"model": ["a", "b"], "dataset": ["x", "x"], "value": [0.9, 0.8]}),
    ...                Metric("accuracy", True))
    >>> r.utility_matrix().loc["x", "a"]
    0.9
    """

    results: pd.DataFrame
    metric: Metric
    models: list = field(default=None)
    datasets: list = field(default=None)
    model_features: pd.DataFrame = field(default=None)
    dataset_features: pd.DataFrame = field(default=None)
    distances: pd.DataFrame = field(default=None)
    distance_metric: str | None = None
    prescores: pd.DataFrame = field(default=None)
    prescore_metric: Metric | None = None

    def __post_init__(self):
        res = self.results
        missing = {"model", "dataset", "value"} - set(res.columns)
        if missing:
            raise InputError(f"ZooRecords.results lacks column(s) {sorted(missing)}: expected model, dataset, value.")
        res = res.loc[:, ["model", "dataset", "value"]].astype({"model": str, "dataset": str, "value": float})
        if res.duplicated(["model", "dataset"]).any():
            dup = res[res.duplicated(["model", "dataset"], keep=False)].iloc[0]
            raise InputError(
                f"ZooRecords.results has several values for model {dup.model!r} on dataset {dup.dataset!r}: "
                "aggregate repeated runs first (best or mean)."
            )
        if res["value"].isna().any():
            bad = res[res["value"].isna()].iloc[0]
            raise InputError(f"ZooRecords.results has a NaN value for model {bad.model!r} on dataset {bad.dataset!r}.")
        res = res.sort_values(["dataset", "model"], kind="mergesort").reset_index(drop=True)
        object.__setattr__(self, "results", res)

        mf = self.model_features if self.model_features is not None else _empty_frame("model")
        df = self.dataset_features if self.dataset_features is not None else _empty_frame("dataset")
        mf = mf.copy()
        df = df.copy()
        mf.index = mf.index.astype(str)
        df.index = df.index.astype(str)

        models = self.models
        if models is None:
            models = set(res["model"]) | set(mf.index)
            if self.prescores is not None:
                models |= set(self.prescores["model"].astype(str))
        models = sorted(set(map(str, models)))
        unknown = sorted(set(res["model"]) - set(models))
        if unknown:
            raise InputError(f"ZooRecords.results names model {unknown[0]!r}, which is not in 'models'.")

        dist = self.distances
        datasets = self.datasets
        if datasets is None:
            datasets = set(res["dataset"]) | set(df.index)
            if dist is not None:
                datasets |= set(map(str, dist.index))
        datasets = sorted(set(map(str, datasets)))
        unknown = sorted(set(res["dataset"]) - set(datasets))
        if unknown:
            raise InputError(f"ZooRecords.results names dataset {unknown[0]!r}, which is not in 'datasets'.")

        object.__setattr__(self, "models", models)
        object.__setattr__(self, "datasets", datasets)
        object.__setattr__(self, "model_features", mf.reindex(models))
        object.__setattr__(self, "dataset_features", df.reindex(datasets))
        if dist is not None:
            dist = dist.copy()
            dist.index = dist.index.astype(str)
            dist.columns = dist.columns.astype(str)
            dist = dist.reindex(index=datasets, columns=datasets).astype(float)
            values = dist.to_numpy(copy=True)
            # Symmetrise: a distance known in one direction is known in both.
            values = np.where(np.isnan(values), values.T, values)
            np.fill_diagonal(values, 0.0)
            dist = pd.DataFrame(values, index=datasets, columns=datasets)
            object.__setattr__(self, "distances", dist)
        if self.prescores is not None:
            pre = self.prescores.loc[:, ["model", "dataset", "value"]].astype(
                {"model": str, "dataset": str, "value": float}
            )
            if self.prescore_metric is None:
                raise InputError("ZooRecords.prescores needs 'prescore_metric' (its name and direction).")
            object.__setattr__(self, "prescores", pre.reset_index(drop=True))

    # ------------------------------------------------------------------ views
    @property
    def evaluated_datasets(self) -> list:
        """Datasets with at least one result, sorted."""
        return sorted(self.results["dataset"].unique())

    def score_matrix(self) -> pd.DataFrame:
        """Raw values as a dataset × model matrix (NaN where no result)."""
        mat = self.results.pivot(index="dataset", columns="model", values="value")
        return mat.reindex(index=self.evaluated_datasets, columns=self.models)

    def utility_matrix(self) -> pd.DataFrame:
        """Oriented values (higher is better) as a dataset × model matrix."""
        raw = self.score_matrix()
        return pd.DataFrame(self.metric.orient(raw.to_numpy()), index=raw.index, columns=raw.columns)

    def normalized_matrix(self) -> pd.DataFrame:
        """Per-dataset min-max normalised utilities: 1 for the best model, 0 for the worst.

        A dataset whose models all score the same gets 0.5 everywhere.
        """
        util = self.utility_matrix()
        lo = util.min(axis=1)
        span = util.max(axis=1) - lo
        norm = util.sub(lo, axis=0).div(span.where(span > 0), axis=0)
        flat = (span <= 0).to_numpy()
        norm.loc[flat] = 0.5
        return norm.where(util.notna())

    def rank_matrix(self) -> pd.DataFrame:
        """Per-dataset rank of each model, 1 = best (ties share the lowest rank); NaN where no result."""
        return self.utility_matrix().rank(axis=1, ascending=False, method="min")

    def truth(self, dataset: str) -> pd.Series:
        """Raw values of every model with a result on ``dataset`` (index = model)."""
        sub = self.results[self.results["dataset"] == dataset]
        if sub.empty:
            raise InputError(f"Dataset {dataset!r} has no results for metric {self.metric.name!r}.")
        return sub.set_index("model")["value"].sort_index()

    def prescore_utility(self, dataset: str) -> pd.Series | None:
        """Oriented prescores on ``dataset`` (index = model), or ``None`` when there are none."""
        if self.prescores is None:
            return None
        sub = self.prescores[self.prescores["dataset"] == dataset]
        if sub.empty:
            return None
        s = sub.groupby("model")["value"].mean()
        return pd.Series(self.prescore_metric.orient(s.to_numpy()), index=s.index).sort_index()

    def content_hash(self) -> str:
        """SHA-256 (hex) of a canonical JSON rendering of everything in the records (floats by
        ``repr``, NaN as null): a cache key that ignores import order, file names and timestamps."""
        records = self

        def cell(value):
            if isinstance(value, str):
                return value
            return None if value is None or pd.isna(value) else repr(float(value))

        def features(frame):
            return {str(col): [frame[col].dtype.kind, [cell(v) for v in frame[col]]] for col in frame.columns}

        def scores(frame):
            if frame is None:
                return None
            rows = sorted(zip(frame["dataset"], frame["model"], frame["value"], strict=True))
            return [[dataset, model, cell(value)] for dataset, model, value in rows]

        def metric(m):
            return None if m is None else [m.name, m.higher_is_better]

        payload = {
            "metric": metric(records.metric),
            "results": scores(records.results),
            "models": records.models,
            "datasets": records.datasets,
            "model_features": features(records.model_features),
            "dataset_features": features(records.dataset_features),
            "distance_metric": records.distance_metric,
            "distances": None if records.distances is None else [
                [cell(v) for v in row] for row in records.distances.to_numpy()],
            "prescore_metric": metric(records.prescore_metric),
            "prescores": scores(records.prescores),
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    # -------------------------------------------------------------- transforms
    def without_results(self, datasets) -> "ZooRecords":
        """Copy with every result of ``datasets`` removed; features, distances and prescores stay.

        This is the leave-one-dataset-out training view (paper 5.2): the held-out dataset's model
        edges leave the graph and the training set, its distance edges stay.
        """
        if isinstance(datasets, str):
            datasets = [datasets]
        keep = ~self.results["dataset"].isin(list(datasets))
        return replace(self, results=self.results[keep].reset_index(drop=True))

    def with_results(self, results: pd.DataFrame) -> "ZooRecords":
        """Copy with ``results`` (columns model, dataset, value) in place of the current ones."""
        return replace(self, results=results)

    def drop_random_results(self, fraction: float, random_state: int, protect=()) -> "ZooRecords":
        """Copy with ``fraction`` of the model–dataset results removed at random (paper Fig. 6).

        Results of datasets in ``protect`` are never dropped (they are the evaluation truth).
        """
        if not 0.0 <= fraction < 1.0:
            raise InputError(f"The 'fraction' parameter must be a float in [0, 1). Got {fraction!r} instead.")
        if isinstance(protect, str):  # a lone name is one dataset, not its characters
            protect = [protect]
        res = self.results
        candidates = np.flatnonzero(~res["dataset"].isin(list(protect)).to_numpy())
        rng = np.random.default_rng(random_state)
        n_drop = int(round(fraction * candidates.size))
        dropped = rng.choice(candidates, size=n_drop, replace=False) if n_drop else np.array([], dtype=int)
        keep = np.ones(len(res), dtype=bool)
        keep[dropped] = False
        return replace(self, results=res[keep].reset_index(drop=True))

    def subset(self, *, models=None, datasets=None) -> "ZooRecords":
        """Copy restricted to some models and/or datasets."""
        models = self.models if models is None else sorted(map(str, models))
        datasets = self.datasets if datasets is None else sorted(map(str, datasets))
        res = self.results[self.results["model"].isin(models) & self.results["dataset"].isin(datasets)]
        pre = self.prescores
        if pre is not None:
            pre = pre[pre["model"].isin(models) & pre["dataset"].isin(datasets)]
        dist = None if self.distances is None else self.distances.loc[datasets, datasets]
        return replace(
            self,
            results=res.reset_index(drop=True),
            models=models,
            datasets=datasets,
            model_features=self.model_features.loc[models],
            dataset_features=self.dataset_features.loc[datasets],
            distances=dist,
            prescores=pre,
        )


def target_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``scores`` (columns ``model``, ``dataset``, ``fidelity``, ...) that are final results.

    The target of a dataset is the largest fidelity any model reached on it: a curve that stops short of it (a
    model a budgeted race dropped early) has no target result there, rather than an early score passed off as a
    final one. A pair's rows without a fidelity are its target only when it has no numeric one. This is what
    :meth:`matchchoose.kb.KnowledgeBase.records` reads unless told a fidelity.

    Examples
    --------
    >>> rows = pd.DataFrame({"model": ["a", "a", "b", "c"], "dataset": ["d"] * 4, "fidelity": [10, 40, 10, None],
    ...                      "value": [1.0, 2.0, 3.0, 4.0]})
    >>> target_rows(rows)["value"].tolist()
    [2.0, 4.0]
    """
    fid = scores["fidelity"].astype(float)
    pair_top = fid.groupby([scores["model"], scores["dataset"]]).transform("max")
    dataset_top = fid.groupby(scores["dataset"]).transform("max")
    return scores[(fid == dataset_top) | pair_top.isna()]
