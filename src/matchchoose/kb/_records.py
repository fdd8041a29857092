"""Reading a knowledge base's results: the :class:`~matchchoose.ZooRecords` of one metric, its learning
curves, and the content hash that keys caches of anything computed from the records.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .._errors import KnowledgeBaseError
from .._validation import check_in
from ..records import Metric, ZooRecords, target_rows

__all__ = ["RecordsReader"]


class RecordsReader:
    """Record-reading methods of :class:`~matchchoose.kb.KnowledgeBase` (mixed in)."""

    def records(self, metric: str, *, aggregate: str = "auto", distance_metric: str | None = None,
                prescore_metric: str | None = None, models=None, datasets=None,
                profile_probe: str | None = None, fidelity: float | None = None) -> ZooRecords:
        """The tidy tables of one metric, for the selection engine.

        Parameters
        ----------
        metric : str
            Quality metric of the results (``"accuracy"``, ``"clip_fid"``).
        aggregate : {"auto", "best", "mean"}, default="auto"
            How repeated runs of one (model, dataset) pair become one value: ``"best"`` keeps the
            best run in the metric's direction (max if higher is better, else min), ``"mean"``
            averages them. ``"auto"``: ``"mean"`` when some result of ``metric`` names its sampling
            seed (provenance ``sample_seed``, what ``mnc grid --sample-seeds`` records: repeated
            samples of one fine-tuned model measure it again, so the best of them would pick the
            luckiest draw), else ``"best"`` (repeated runs are different fine-tunings, e.g. other
            hyper-parameters, and the best is what a user would keep). :meth:`resolve_aggregate`
            says which one applies.
        distance_metric : str, optional
            Dataset distance to include. ``None``: the only one stored, no distances if there are
            none, :class:`KnowledgeBaseError` if there are several.
        prescore_metric : str, optional
            Prescore to include (repeated runs averaged). ``None`` picks like ``distance_metric``.
        models, datasets : list of str, optional
            Restrict to these (each must be stored). Default models: those with a result for
            ``metric`` or a prescore; default datasets: those with a result, a prescore, a distance
            or features, so a target dataset known only by its features or distances is included.
        profile_probe : str, optional
            Probe key whose profiles' mean embeddings join the dataset features (paper 4.2), one
            column ``<probe>.<i>`` per dimension, NaN for datasets without such a profile. Profiled
            datasets count as having features.
        fidelity : float, optional
            Which results of a learning curve: ``None`` (default) the target, i.e. per dataset the
            rows at the largest fidelity any model reached on it (a pair whose curve stops short of
            it, such as a model a budgeted race dropped early, has no target result; rows without a
            fidelity are the target of a pair that has no numeric one); a number: the rows at
            exactly that fidelity (pairs without one are absent). Repeated rows at the chosen fidelity are combined by
            ``aggregate``. Prescores (zero-shot, compute 0) are always their pairs' target rows.

        Returns
        -------
        ZooRecords
            ``results`` has one row per (model, dataset) pair; features are float columns for
            numeric features and object columns for categorical ones; ``distances`` is square
            (n_datasets, n_datasets) with NaN where unknown.

        Raises
        ------
        KnowledgeBaseError
            Unknown metric (the message lists those available), unknown model or dataset, or
            several distance/prescore metrics and none chosen (among several prescore metrics,
            that of ``metric`` itself is chosen when stored), or no result at ``fidelity`` (the
            message lists the fidelities stored).
        """
        check_in("aggregate", aggregate, ("auto", "best", "mean"), owner="KnowledgeBase.records")
        fidelity = _check_fidelity(fidelity, "KnowledgeBase.records")
        with self._snapshot() as conn:
            quality = self._scored_metric(conn, "result", metric)
            aggregate = _resolve_aggregate(conn, quality.name, aggregate)
            distance = self._choose(conn, "distance", distance_metric)
            prescore = self._choose(conn, "prescore", prescore_metric, prefer=metric)
            if prescore is not None:
                prescore = self._scored_metric(conn, "prescore", prescore)
            models = self._check_names(conn, "models", models)
            datasets = self._check_names(conn, "datasets", datasets)
            results = self._scores(conn, "result", quality.name, models, datasets)
            results = self._at_fidelity(results, fidelity, quality.name)
            prescores = None if prescore is None else self._scores(conn, "prescore", prescore.name, models, datasets)
            prescores = None if prescores is None else self._at_fidelity(prescores, None, prescore.name)
            pairs = None
            if distance is not None:
                pairs = conn.execute(
                    "SELECT dataset_a, dataset_b, value FROM distances WHERE metric = ?", (distance,)).fetchall()
            if models is None:
                models = sorted(set(results["model"]) | set(() if prescores is None else prescores["model"]))
            if datasets is None:
                named = set(results["dataset"]) | set(() if prescores is None else prescores["dataset"])
                named |= {name for pair in pairs or () for name in pair[:2]}
                named |= {row[0] for row in conn.execute("SELECT DISTINCT dataset FROM dataset_features")}
                if profile_probe is not None:
                    named |= {row[0] for row in conn.execute(
                        "SELECT DISTINCT dataset FROM profiles WHERE probe = ?", (profile_probe,))}
                datasets = sorted(named)
            model_features = _feature_frame(conn, "model", models)
            dataset_features = _feature_frame(conn, "dataset", datasets)
        if profile_probe is not None:
            means = self.profile_means(profile_probe).reindex(dataset_features.index)
            dataset_features = pd.concat([dataset_features, means], axis=1)

        how = "mean" if aggregate == "mean" else ("max" if quality.higher_is_better else "min")
        results = _aggregate(results, how)
        if prescores is not None:
            prescores = _aggregate(prescores, "mean")
        return ZooRecords(
            results=results, metric=quality, models=models, datasets=datasets,
            model_features=model_features, dataset_features=dataset_features,
            distances=None if pairs is None else _square(pairs, datasets), distance_metric=distance,
            prescores=prescores, prescore_metric=prescore,
        )

    def resolve_aggregate(self, metric: str, aggregate: str = "auto") -> str:
        """The aggregation :meth:`records` applies for ``aggregate``: ``"auto"`` resolved to
        ``"mean"`` or ``"best"`` (see there), anything else returned as given."""
        check_in("aggregate", aggregate, ("auto", "best", "mean"), owner="KnowledgeBase.resolve_aggregate")
        if aggregate != "auto":
            return aggregate
        with self._snapshot() as conn:
            return _resolve_aggregate(conn, self._scored_metric(conn, "result", metric).name, aggregate)

    def content_hash(self, metric: str, *, aggregate: str = "auto", distance_metric: str | None = None,
                     prescore_metric: str | None = None, models=None, datasets=None,
                     profile_probe: str | None = None, fidelity: float | None = None) -> str:
        """SHA-256 (hex) of everything :meth:`records` returns for these arguments.

        It does not depend on import order, file names or timestamps: use it to key caches of
        anything computed from the records.
        """
        records = self.records(metric, aggregate=aggregate, distance_metric=distance_metric,
                               prescore_metric=prescore_metric, models=models, datasets=datasets,
                               profile_probe=profile_probe, fidelity=fidelity)
        return _fingerprint(records)

    def curves(self, metric: str, *, aggregate: str = "mean", models=None, datasets=None,
               prescores: bool = False, per_row: bool = False) -> pd.DataFrame:
        """The learning curves of ``metric``: its results at every fidelity, as a tidy table.

        Parameters
        ----------
        metric : str
            Quality metric of the results.
        aggregate : {"mean", "best"}, default="mean"
            How repeated rows at one (model, dataset, fidelity) (e.g. several sampling seeds)
            become one value: their mean, or the best in the metric's direction.
        models, datasets : list of str, optional
            Restrict to these (each must be stored).
        prescores : bool, default=False
            Also include the prescores of ``metric`` (the pretrained model's score, compute 0) as
            rows at fidelity 0.
        per_row : bool, default=False
            Return every stored row instead of one per (model, dataset, fidelity).

        Returns
        -------
        pandas.DataFrame
            Sorted by model, dataset, fidelity (NaN, i.e. unknown, last). Default: columns
            ``model, dataset, fidelity, value, n_repeats``; with ``per_row``: ``model, dataset,
            fidelity, value, kind ('result' | 'prescore'), provenance (dict), source``.

        Examples
        --------
        >>> import pandas as pd
        >>> from matchchoose.kb import KnowledgeBase, import_frame
        >>> kb = KnowledgeBase(":memory:")
        >>> runs = pd.DataFrame({"model": "a", "dataset": "x", "metric": "accuracy",
        ...                      "value": [0.5, 0.7, 0.9], "fidelity": [100, 200, 200], "seed": [0, 0, 1]})
        >>> _ = import_frame(kb, runs, "results")
        >>> kb.curves("accuracy")[["fidelity", "value", "n_repeats"]].values.tolist()
        [[100.0, 0.5, 1.0], [200.0, 0.8, 2.0]]
        """
        check_in("aggregate", aggregate, ("best", "mean"), owner="KnowledgeBase.curves")
        check_in("per_row", per_row, (True, False), owner="KnowledgeBase.curves")
        with self._snapshot() as conn:
            quality = self._scored_metric(conn, "result", metric)
            models = self._check_names(conn, "models", models)
            datasets = self._check_names(conn, "datasets", datasets)
            kinds = ("result", "prescore") if prescores else ("result",)
            rows = conn.execute(
                "SELECT model, dataset, CASE kind WHEN 'prescore' THEN 0.0 ELSE fidelity END, value, kind,"
                f" provenance, source FROM results WHERE metric = ? AND kind IN ({', '.join('?' * len(kinds))})"
                " ORDER BY id", (quality.name, *kinds)).fetchall()
        frame = pd.DataFrame(rows, columns=["model", "dataset", "fidelity", "value", "kind", "provenance", "source"])
        frame = frame.astype({"model": object, "dataset": object, "fidelity": float, "value": float})
        if models is not None:
            frame = frame[frame["model"].isin(models)]
        if datasets is not None:
            frame = frame[frame["dataset"].isin(datasets)]
        # Sorted by value too, so a mean does not depend on import order.
        frame = frame.sort_values(["model", "dataset", "fidelity", "value"], kind="mergesort", na_position="last")
        if per_row:
            frame = frame.assign(provenance=[json.loads(p) for p in frame["provenance"]])
            return frame.reset_index(drop=True)
        how = "mean" if aggregate == "mean" else ("max" if quality.higher_is_better else "min")
        grouped = frame.groupby(["model", "dataset", "fidelity"], sort=True, dropna=False)["value"]
        curves = grouped.agg([how, "count"]).reset_index().rename(columns={how: "value", "count": "n_repeats"})
        curves = curves.sort_values(["model", "dataset", "fidelity"], kind="mergesort", na_position="last")
        return curves.astype({"n_repeats": int}).reset_index(drop=True)

    # --------------------------------------------------------------- helpers
    def _scored_metric(self, conn, kind: str, name: str) -> Metric:
        """The metric ``name`` of stored rows of ``kind``; raises listing those available."""
        available = [row[0] for row in conn.execute(
            "SELECT DISTINCT metric FROM results WHERE kind = ? ORDER BY metric", (kind,))]
        if name not in available:
            listing = ", ".join(available) or f"none (import some with 'mnc kb import FILE --kind {kind}s')"
            raise KnowledgeBaseError(f"No {kind}s for metric {name!r} in {self.path}; metrics with {kind}s: {listing}.")
        row = conn.execute("SELECT higher_is_better FROM metrics WHERE name = ?", (name,)).fetchone()
        return Metric(name, bool(row[0]))

    def _choose(self, conn, what: str, name: str | None, prefer: str | None = None) -> str | None:
        """The distance or prescore metric to use: ``name``, or the only one stored, or (among
        several) ``prefer``: prescores of the result metric itself."""
        if what == "distance":
            sql = "SELECT DISTINCT metric FROM distances ORDER BY metric"
        else:
            sql = "SELECT DISTINCT metric FROM results WHERE kind = 'prescore' ORDER BY metric"
        available = [row[0] for row in conn.execute(sql)]
        if name is not None or len(available) <= 1:
            if name is not None and name not in available:
                raise KnowledgeBaseError(
                    f"No {what}s for metric {name!r} in {self.path}; {what} metrics stored: "
                    f"{', '.join(available) or 'none'}."
                )
            return name if name is not None else (available[0] if available else None)
        if prefer is not None and prefer in available:
            return prefer
        raise KnowledgeBaseError(
            f"{self.path} has several {what} metrics ({', '.join(available)}): choose one with "
            f"{what}_metric=... (--{what}-metric on the command line)."
        )

    def _check_names(self, conn, table: str, names):
        if names is None:
            return None
        names = sorted({str(name) for name in ([names] if isinstance(names, str) else names)})
        known = {row[0] for row in conn.execute(f"SELECT name FROM {table}")}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise KnowledgeBaseError(f"{table[:-1].capitalize()} {unknown[0]!r} is not in {self.path}.")
        return names

    @staticmethod
    def _scores(conn, kind: str, metric: str, models, datasets) -> pd.DataFrame:
        frame = pd.DataFrame(conn.execute(
            "SELECT model, dataset, value, fidelity FROM results WHERE kind = ? AND metric = ?", (kind, metric)
        ).fetchall(), columns=["model", "dataset", "value", "fidelity"])
        if models is not None:
            frame = frame[frame["model"].isin(models)]
        if datasets is not None:
            frame = frame[frame["dataset"].isin(datasets)]
        return frame.astype({"model": object, "dataset": object, "value": float, "fidelity": float})

    def _at_fidelity(self, scores: pd.DataFrame, fidelity: float | None, metric: str) -> pd.DataFrame:
        """``scores`` at ``fidelity``, or (``None``) at each dataset's target (see :meth:`records`)."""
        if fidelity is not None:
            chosen = scores[scores["fidelity"] == fidelity]
            if chosen.empty and not scores.empty:
                stored = sorted(set(scores["fidelity"].dropna()))
                listing = ", ".join(f"{f:g}" for f in stored) or "none (every row is at the target)"
                raise KnowledgeBaseError(f"No results for metric {metric!r} at fidelity {fidelity:g} in {self.path}; "
                                         f"fidelities stored: {listing}.")
        else:
            chosen = target_rows(scores)  # each dataset's largest fidelity (see there)
        return chosen.drop(columns="fidelity")


def _check_fidelity(fidelity, owner: str) -> float | None:
    """``fidelity`` as a finite float >= 0, or ``None``; raises naming the parameter."""
    if fidelity is None:
        return None
    try:
        value = float(fidelity)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(fidelity, bool) or not np.isfinite(value) or value < 0:
        raise KnowledgeBaseError(f"The 'fidelity' parameter of {owner} must be a finite number >= 0 or None. "
                                 f"Got {fidelity!r} instead.")
    return value



def _resolve_aggregate(conn, metric: str, aggregate: str) -> str:
    """``aggregate`` with ``"auto"`` resolved: ``"mean"`` when some result of ``metric`` records its sampling
    seed (provenance ``sample_seed``), else ``"best"``."""
    if aggregate != "auto":
        return aggregate
    seeded = conn.execute(
        "SELECT 1 FROM results WHERE kind = 'result' AND metric = ?"
        " AND json_extract(provenance, '$.sample_seed') IS NOT NULL LIMIT 1", (metric,)).fetchone()
    return "mean" if seeded is not None else "best"


def _aggregate(scores: pd.DataFrame, how: str) -> pd.DataFrame:
    """One value per (model, dataset); sorted first so a mean does not depend on import order."""
    scores = scores.sort_values(["model", "dataset", "value"], kind="mergesort")
    return scores.groupby(["model", "dataset"], as_index=False, sort=True)["value"].agg(how)


def _square(pairs, datasets) -> pd.DataFrame:
    """Square (n_datasets, n_datasets) distance matrix from canonical (a, b, value) pairs; NaN if unknown."""
    position = {name: i for i, name in enumerate(datasets)}
    values = np.full((len(datasets), len(datasets)), np.nan)
    for a, b, value in pairs:
        if a in position and b in position:
            values[position[a], position[b]] = values[position[b], position[a]] = value
    return pd.DataFrame(values, index=list(datasets), columns=list(datasets))


def _feature_frame(conn, entity: str, names) -> pd.DataFrame:
    """Features of ``names`` (index) as columns: float when every stored value is numeric, else object.

    Columns come in the order features were first stored; a categorical column shows stored
    numbers as text, missing values are NaN.
    """
    wanted = set(names)
    columns: dict[str, dict] = {}
    categorical = set()
    for name, feature, num, text in conn.execute(
        f"SELECT {entity}, feature, value_num, value_text FROM {entity}_features ORDER BY rowid"
    ):
        if name not in wanted:
            continue
        column = columns.setdefault(feature, {})
        if text is not None:
            categorical.add(feature)
            column[name] = text
        elif num is not None:
            column[name] = num
    index = pd.Index(list(names), name=entity, dtype=object)
    data = {}
    for feature, values in columns.items():
        if feature in categorical:
            cells = [_as_text(values[name]) if name in values else np.nan for name in index]
            data[feature] = pd.Series(cells, index=index, dtype=object)
        else:
            data[feature] = pd.Series([values.get(name, np.nan) for name in index], index=index, dtype=float)
    return pd.DataFrame(data, index=index)


def _as_text(value) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def _fingerprint(records: ZooRecords) -> str:
    """See :meth:`ZooRecords.content_hash`."""
    return records.content_hash()
