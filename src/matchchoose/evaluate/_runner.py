"""Leave-one-dataset-out evaluation of M&C and the baselines (paper 5.2-5.4, 5.7).

For each held-out dataset its model results leave the training records and the matching graph; its
distance edges, features and prescores stay (:func:`~matchchoose.evaluate.iter_folds`). Every method
is fitted on that training view and scores every model on the held-out dataset; the scores are
compared with the recorded truth. Several seeds give a mean and a standard deviation; sparsity drops a
fraction of the *training* results at random before the folds (paper Fig. 6); the truth always comes
from the full records.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._errors import InputError
from .._validation import check_real
from ..records import ZooRecords
from ._baselines import BASELINES
from ._metrics import METRICS, expected_random_metrics, overall_best_model, pick_model, selection_metrics
from ._registry import make_selector
from ._result import EvaluationResult
from ._split import iter_folds

__all__ = ["MethodSpec", "default_methods", "run_evaluation"]

METRIC_KEYS = tuple(METRICS) + ("coverage",)


@dataclass(frozen=True)
class MethodSpec:
    """A named way to select: ``kind`` names a selector of :data:`~matchchoose.evaluate.SELECTORS`
    (``"mnc"`` or a baseline), ``params`` its parameters."""

    name: str
    kind: str
    params: dict = field(default_factory=dict)

    def build(self, seed: int, full_records: ZooRecords):
        """A fresh selector: ``seed`` is its ``random_state``, ``full_records`` what an oracle reads."""
        return make_selector(self.kind, **{**self.params, "random_state": seed, "full_records": full_records})


def default_methods(records: ZooRecords, *, mnc_params=None, predictors=(), ablation=False,
                    baselines=None) -> list:
    """M&C (``mnc``), optional variants, the prior-residual blend (``blend``, the default selector of
    ``mnc choose``) and every baseline the records allow.

    ``predictors`` (names of :data:`~matchchoose.rank.PREDICTORS`, or ``"all"``) add ``mnc[NAME]``;
    ``ablation`` adds ``mnc[features]`` and ``mnc[graph]``. A baseline is kept when its class
    :meth:`applies_to` the records: ``initial`` needs prescores, ``direct`` dataset features,
    ``nearest`` distances or dataset features.
    """
    from ..rank import PREDICTORS

    mnc_params = dict(mnc_params or {})
    predictors = list(PREDICTORS) if predictors == "all" else list(predictors)
    methods = [MethodSpec("mnc", "mnc", mnc_params)]
    for name in predictors:
        if name != mnc_params.get("predictor", "catboost"):
            methods.append(MethodSpec(f"mnc[{name}]", "mnc", {**mnc_params, "predictor": name}))
    if ablation:
        methods.append(MethodSpec("mnc[features]", "mnc", {**mnc_params, "inputs": "features"}))
        methods.append(MethodSpec("mnc[graph]", "mnc", {**mnc_params, "inputs": "graph"}))
    if baselines is None or "blend" in baselines:
        methods.append(MethodSpec("blend", "blend"))
    wanted = list(BASELINES) if baselines is None else list(baselines)
    for name in wanted:
        if name == "blend":
            continue
        if name not in BASELINES:
            raise InputError(f"Unknown baseline {name!r}: choose from {sorted(BASELINES)}.")
        if BASELINES[name].applies_to(records):
            methods.append(MethodSpec(name, name))
    return methods


def _fold_task(records, level, fold, methods, seed, reference, ks):
    """Fit and score every method on one fold; returns {method: (metrics, scores, timings)}."""
    out = {}
    hib = records.metric.higher_is_better
    dataset, train, truth = fold.dataset, fold.train, fold.truth
    for spec in methods:
        t0 = time.perf_counter()
        selector = spec.build(seed, records)
        if hasattr(selector, "available") and not selector.available(train, dataset):
            continue
        if getattr(selector, "expected_value", False):
            metrics = expected_random_metrics(truth, hib, reference, ks=ks)
            metrics["coverage"] = 1.0
            scores = pd.Series(0.0, index=records.models)
            timings = {}
        else:
            selector.fit(train)
            t1 = time.perf_counter()
            scores = selector.predict(dataset)
            # A selector that scores only some models (prescores) is judged on those it scored.
            judged = truth
            if hasattr(selector, "scored_models"):
                judged = truth[truth.index.isin(selector.scored_models(dataset))]
            ref = reference if reference in judged.index else None
            metrics = selection_metrics(judged, scores.loc[judged.index], hib, ref, ks=ks)
            if ref is None and reference in truth.index:
                utility = records.metric.orient(truth)
                pick = pick_model(scores.loc[judged.index])
                metrics["o2b"] = float(utility[truth.index.get_loc(reference)] - utility[truth.index.get_loc(pick)])
            metrics["coverage"] = len(judged) / len(truth)
            timings = dict(getattr(selector, "timings_", {}))
            timings["prediction"] = time.perf_counter() - t1
        timings["total"] = time.perf_counter() - t0
        out[spec.name] = (metrics, scores, timings)
    return level, dataset, seed, out


def _rel_ks(records: ZooRecords) -> tuple:
    values = records.results["value"].to_numpy()
    ok = (values > 0).all() if not records.metric.higher_is_better else (values >= 0).all()
    return (1, 3) if ok else ()


def run_evaluation(records: ZooRecords, methods=None, *, datasets=None, seeds=(0,), sparsity=0.0,
                   n_jobs=1, progress=None, aggregate=None, fidelity=None) -> EvaluationResult:
    """Leave-one-dataset-out evaluation of ``methods`` on ``records``.

    Parameters
    ----------
    records : ZooRecords
        The full records (truth of every fold).
    methods : list of MethodSpec, optional
        Default: :func:`default_methods`.
    datasets : list of str, optional
        Datasets to hold out (default: every dataset with results). The others only train.
    seeds : sequence of int
        One full evaluation per seed.
    sparsity : float in [0, 1), or a sequence of them
        Fraction of the training results dropped at random (per seed) before the folds; several
        levels give a sweep (paper Fig. 6).
    n_jobs : int
        Folds evaluated in parallel processes (results do not depend on it).
    progress : callable, optional
        Called with the number of finished folds and the total (over every level).
    aggregate : str, optional
        How the records combined repeated runs (``"best"``, ``"mean"``); recorded in the result.
    fidelity : float, optional
        The fidelity the records were read at; recorded in the result.

    Returns
    -------
    EvaluationResult
        Reads as the ``mnc evaluate --json`` layout: ``result["methods"][name]`` holds the mean of
        every metric of :func:`~matchchoose.evaluate.selection_metrics`, its std over seeds
        (``<metric>_std``) and ``per_dataset`` results with the ``predicted_scores``;
        ``result.to_dict()`` and ``result.save(path)`` give the JSON.

    Examples
    --------
    >>> result = run_evaluation(records, seeds=[0, 1, 2])   # doctest: +SKIP
    >>> result["methods"]["mnc"]["tau_w"]                    # doctest: +SKIP
    >>> result.save("eval.json")                             # doctest: +SKIP
    """
    methods = default_methods(records) if methods is None else list(methods)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise InputError("run_evaluation needs at least one seed.")
    levels = sorted({check_real("sparsity", level, low=0.0, high=1.0, high_open=True)
                     for level in ([sparsity] if np.isscalar(sparsity) else list(sparsity))})
    if not levels:
        raise InputError("The 'sparsity' parameter of run_evaluation must name at least one level. Got none.")
    list(iter_folds(records, datasets))  # check the names before any work
    try:
        reference = overall_best_model(records)
    except InputError:  # a sparse zoo where no model has every result: o2b is undefined (NaN), the rest stands
        reference = None
    ks = _rel_ks(records)
    tasks = []
    for level in levels:
        for seed in seeds:
            sparse = records.drop_random_results(level, seed) if level > 0 else records
            # The held-out dataset's results leave training; its truth comes from the full records.
            for fold in iter_folds(records, datasets, train_records=sparse):
                tasks.append((records, level, fold, methods, seed, reference, ks))
    outputs = _run_tasks(tasks, n_jobs, progress)
    runs = {level: _collect([o[1:] for o in outputs if o[0] == level], methods, seeds, reference)
            for level in levels}
    return EvaluationResult(metric=records.metric, n_models=len(records.models),
                            distance_metric=records.distance_metric, aggregate=aggregate, runs=runs,
                            fidelity=fidelity)


def _run_tasks(tasks, n_jobs, progress) -> list:
    if progress is not None:
        progress(0, len(tasks))
    if n_jobs == 1:
        results = (_fold_task(*task) for task in tasks)
    else:
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=n_jobs, return_as="generator", backend="loky")
        results = parallel(delayed(_fold_task)(*task) for task in tasks)
    outputs = []
    for i, out in enumerate(results):
        outputs.append(out)
        if progress is not None:
            progress(i + 1, len(tasks))
    return outputs


def _collect(outputs, methods, seeds, reference) -> dict:
    per = {}  # method -> seed -> dataset -> (metrics, scores)
    timings = {}
    for dataset, seed, out in outputs:
        for name, (metrics, scores, t) in out.items():
            per.setdefault(name, {}).setdefault(seed, {})[dataset] = (metrics, scores)
            for key, value in t.items():
                timings.setdefault(name, {}).setdefault(key, 0.0)
                timings[name][key] += value
    result = {"methods": {}, "reference_model": reference, "seeds": seeds, "timings": timings}
    for spec in methods:
        if spec.name not in per:
            continue
        by_seed = per[spec.name]
        seed_means = []
        for seed in seeds:
            table = pd.DataFrame({d: m for d, (m, _) in by_seed.get(seed, {}).items()}).T
            seed_means.append(table.reindex(columns=METRIC_KEYS).mean(axis=0, skipna=True))
        seed_means = pd.DataFrame(seed_means)
        entry = {k: _num(seed_means[k].mean()) for k in METRIC_KEYS}
        entry.update({f"{k}_std": _num(seed_means[k].std(ddof=0)) for k in METRIC_KEYS})
        datasets = sorted({d for s in by_seed.values() for d in s})
        entry["n_datasets"] = len(datasets)
        per_dataset = {}
        for d in datasets:
            rows = [by_seed[s][d] for s in seeds if d in by_seed.get(s, {})]
            metrics = pd.DataFrame([m for m, _ in rows]).reindex(columns=METRIC_KEYS).mean(axis=0)
            scores = pd.concat([sc for _, sc in rows], axis=1).mean(axis=1)
            item = {k: _num(metrics[k]) for k in METRIC_KEYS}
            item["predicted_scores"] = {str(m): float(v) for m, v in scores.items()}
            per_dataset[d] = item
        entry["per_dataset"] = per_dataset
        entry["params"] = {"kind": spec.kind, **spec.params}
        result["methods"][spec.name] = entry
    return result


def _num(x):
    x = float(x)
    return None if np.isnan(x) else x
