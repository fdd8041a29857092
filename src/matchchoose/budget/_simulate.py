"""Offline simulation of budgeted selection on recorded learning curves (``mnc evaluate --budgeted``).

For each held-out dataset, a procedure gets the selector's prior for it (predicted without its
results), its zero-shot scores (prescores) and the other datasets' full curves, and "runs" a
fine-tune by reading the held-out dataset's recorded score at that fidelity. Budgets are fractions
of the exhaustive grid: ``fraction * n_models * target fidelity``. The pick is judged at the target
fidelity (each pair's largest).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._errors import InputError
from ._evidence import CurveBank
from ._procedure import PROCEDURES, Selection

__all__ = ["RecordedRuns", "held_out_curves", "simulate_budgeted"]


class RecordedRuns:
    """``run(model, fidelity) -> score`` that reads one dataset's recorded curves.

    Parameters
    ----------
    curves : DataFrame
        Columns ``model, fidelity, value`` of one dataset (one row per model and fidelity).
    dataset : str
        Its name, for error messages.

    Examples
    --------
    >>> run = RecordedRuns(pd.DataFrame({"model": ["a"], "fidelity": [8.0], "value": [0.5]}), "x")
    >>> run("a", 8)
    0.5
    """

    def __init__(self, curves: pd.DataFrame, dataset: str):
        self.dataset = dataset
        self._values = {(str(m), float(f)): float(v) for m, f, v in curves[["model", "fidelity", "value"]].itertuples(
            index=False, name=None)}
        self.calls = 0

    def __call__(self, model, fidelity) -> float:
        self.calls += 1
        try:
            return self._values[(str(model), float(fidelity))]
        except KeyError:
            raise InputError(f"No recorded score of model {model!r} on dataset {self.dataset!r} at fidelity "
                             f"{float(fidelity):g}.") from None


def held_out_curves(curves: pd.DataFrame, dataset: str, models) -> tuple[list, pd.DataFrame] | None:
    """The rungs at which every one of ``models`` has a score on ``dataset`` (ascending) and those
    rows; ``None`` when fewer than one rung is complete or a model's largest fidelity is not the
    common largest (the target must be every model's target)."""
    sub = curves[(curves["dataset"] == dataset) & np.isfinite(curves["fidelity"].astype(float))]
    sub = sub[sub["model"].isin(models)]
    if sub.empty or set(sub["model"]) != set(models):
        return None
    table = sub.pivot_table(index="model", columns="fidelity", values="value", aggfunc="mean")
    complete = [float(f) for f in table.columns if table[f].notna().all()]
    if not complete or max(complete) != float(table.columns.max()):
        return None
    return sorted(complete), sub[sub["fidelity"].isin(complete)]


def _judge(selection: Selection, final: pd.Series, higher_is_better: bool, exhaustive: float) -> dict:
    utility = final if higher_is_better else -final
    best = final.max() if higher_is_better else final.min()
    value = final[selection.pick]
    rel = np.nan
    if (final > 0).all() or (higher_is_better and best > 0 and (final >= 0).all()):
        rel = value / best if higher_is_better else best / value
    return {"pick": selection.pick, "found_best": bool(utility[selection.pick] >= utility.max()),
            "rel_at_1": float(rel), "o2o": float(utility.max() - utility[selection.pick]),
            "compute_fraction": selection.spent / exhaustive,
            "trace": [[m, float(f), float(s)] for m, f, s in selection.trace]}


def _block(per_dataset: dict) -> dict:
    keys = ("found_best", "rel_at_1", "o2o", "compute_fraction")
    frame = pd.DataFrame([{k: v[k] for k in keys} for v in per_dataset.values()], columns=list(keys), dtype=float)
    out = {k: (None if frame.empty or frame[k].isna().all() else float(frame[k].mean())) for k in keys}
    out["n_datasets"] = len(per_dataset)
    out["per_dataset"] = {d: {**v, "rel_at_1": None if np.isnan(v["rel_at_1"]) else v["rel_at_1"]}
                          for d, v in per_dataset.items()}
    return out


def simulate_budgeted(curves: pd.DataFrame, *, priors: dict, higher_is_better: bool, budgets,
                      zero_shot: pd.DataFrame | None = None, prior_std: dict | None = None,
                      procedures=("race", "subtune", "prior_topk"), datasets=None) -> dict:
    """Replay budgeted procedures on recorded curves, one held-out dataset at a time.

    Parameters
    ----------
    curves : DataFrame
        :meth:`KnowledgeBase.curves <matchchoose.kb.KnowledgeBase.curves>`: ``model, dataset,
        fidelity, value`` (raw metric values, repeats already combined).
    priors : dict
        dataset -> Series of the selector's scores (higher = better) for that dataset, predicted
        without its results (e.g. ``mnc evaluate``'s ``predicted_scores``). Only these datasets
        are held out.
    higher_is_better : bool
        Direction of ``value``.
    budgets : list of float
        Fractions of the exhaustive grid (``n_models * target fidelity``), each in (0, 1].
    zero_shot : DataFrame, optional
        ``model, dataset, value``: pretrained models' scores, in the direction of ``value``.
    prior_std : dict, optional
        dataset -> Series: the prior's uncertainty (``race`` enters uncertain models earlier).
    procedures : list of str
        Names in :data:`~matchchoose.budget.PROCEDURES`.
    datasets : list of str, optional
        Restrict the held-out datasets.

    Returns
    -------
    dict
        ``{"budgeted": {BUDGET: block}}`` for ``race``, ``{"budgeted_baselines": {NAME: {BUDGET:
        block}}}`` for the others, and ``{"budgeted_references": {"prediction": block,
        "zero_shot": block}}`` (the prior's top model and the best zero-shot model, no compute),
        where ``block = {"found_best", "rel_at_1", "o2o", "compute_fraction", "n_datasets",
        "per_dataset": {DATASET: {"pick", "found_best", "rel_at_1", "o2o", "compute_fraction",
        "trace": [[model, fidelity, score], ...]}}}``, plus ``"budgeted_skipped"``: datasets
        without complete curves.
    """
    budgets = [float(b) for b in budgets]
    for b in budgets:
        if not 0 < b <= 1:
            raise InputError(f"Budgets are fractions of the exhaustive grid in (0, 1]. Got {b!r}.")
    for name in procedures:
        if name not in PROCEDURES:
            raise InputError(f"Unknown budgeted procedure {name!r}: choose from {sorted(PROCEDURES)}.")
    sign = 1.0 if higher_is_better else -1.0
    held = sorted(priors) if datasets is None else [d for d in datasets if d in priors]
    per = {name: {b: {} for b in budgets} for name in procedures}
    refs = {"prediction": {}, "zero_shot": {}}
    skipped = []
    for dataset in held:
        prior = pd.Series(priors[dataset], dtype=float)
        models = sorted(prior.index)
        found = held_out_curves(curves, dataset, models)
        if found is None:
            skipped.append(dataset)
            continue
        rungs, rows = found
        target = rungs[-1]
        final = rows[rows["fidelity"] == target].groupby("model")["value"].mean()[models]
        zs = None
        if zero_shot is not None:
            sub = zero_shot[zero_shot["dataset"] == dataset].groupby("model")["value"].mean()
            zs = sub if set(models) <= set(sub.index) else None
        others = curves[curves["dataset"] != dataset]
        history = CurveBank.from_frames(others, higher_is_better,
                                        None if zero_shot is None else zero_shot[zero_shot["dataset"] != dataset])
        exhaustive = len(models) * target
        std = None if prior_std is None else prior_std.get(dataset)
        for name in procedures:
            for b in budgets:
                selection = PROCEDURES[name](models, prior=prior, run=RecordedRuns(rows, dataset),
                                             budget=b * exhaustive, fidelities=rungs,
                                             higher_is_better=higher_is_better, zero_shot=zs, prior_std=std,
                                             history=history)
                per[name][b][dataset] = _judge(selection, final, higher_is_better, exhaustive)
        top = str(prior[models].sort_values(ascending=False, kind="mergesort").index[0])
        refs["prediction"][dataset] = _judge(Selection(top, 0.0, []), final, higher_is_better, exhaustive)
        if zs is not None:
            best_zs = str((zs[models] * sign).sort_values(ascending=False, kind="mergesort").index[0])
            refs["zero_shot"][dataset] = _judge(Selection(best_zs, 0.0, []), final, higher_is_better, exhaustive)
    key = lambda b: f"{b:g}"  # noqa: E731
    out = {"budgeted_skipped": skipped}
    if "race" in per:
        out["budgeted"] = {key(b): _block(per["race"][b]) for b in budgets}
    out["budgeted_baselines"] = {name: {key(b): _block(per[name][b]) for b in budgets}
                                 for name in procedures if name != "race"}
    out["budgeted_references"] = {name: _block(v) for name, v in refs.items() if v}
    return out
