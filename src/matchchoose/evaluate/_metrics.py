"""Selection metrics of one dataset, their expectation under a random ranking, and their average.

A selector scores every model of the zoo (higher = better); the *pick* is the top-scored model.
The metrics compare that pick, and the whole predicted ranking, with the recorded fine-tuning
results (the *truth*, raw metric units). Paper 5.1 defines OSR, Kendall weighted tau, outscore to
optimal (O2O) and outscore to best (O2B); rel@k, Pearson and Spearman are extra diagnostics.

Orientation. Everything is computed on utilities ``u = truth`` (higher is better) or
``u = -truth`` (lower is better, FID), so that ``scipy.stats.weightedtau`` weights the *best*
models: it gives its weight to the largest values of both arguments.

Ties. Among models with the same highest predicted score, the pick is the one whose name sorts
first (``sorted`` order), so the same scores always give the same pick. The top-k of rel@k follows
the same order.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import pandas as pd

from .._errors import InputError
from .._validation import check_int

__all__ = [
    "METRICS",
    "expected_random_metrics",
    "overall_best_model",
    "pick_model",
    "rel_at_k",
    "selection_metrics",
    "summarize",
]

#: Metric name -> ``True`` when higher is better. Keys of :func:`selection_metrics` with the default ``ks``.
METRICS = {
    "osr": True,
    "tau_w": True,
    "o2o": False,
    "o2b": False,
    "rel_at_1": True,
    "rel_at_3": True,
    "pearson": True,
    "spearman": True,
}


# ----------------------------------------------------------------------------- input checks
def _as_series(name: str, values) -> pd.Series:
    if not isinstance(values, pd.Series):
        got = type(values).__name__
        raise InputError(f"The '{name}' parameter must be a pandas Series indexed by model. Got {got} instead.")
    s = pd.Series(pd.to_numeric(values, errors="coerce").to_numpy(dtype=float), index=values.index.astype(str))
    if s.index.has_duplicates:
        dup = s.index[s.index.duplicated()][0]
        raise InputError(f"The '{name}' parameter names model {dup!r} more than once.")
    return s


def _truth(truth) -> pd.Series:
    t = _as_series("truth", truth)
    if t.empty:
        raise InputError("The 'truth' parameter is empty: the dataset has no model results to evaluate against.")
    if t.isna().any():
        raise InputError(f"The 'truth' parameter has a missing value for model {t.index[t.isna()][0]!r}.")
    return t.sort_index()


def _align(truth, predicted) -> tuple[pd.Series, pd.Series]:
    """Truth and predictions on the models of ``truth`` (sorted by name); extra predictions are ignored."""
    t = _truth(truth)
    p = _as_series("predicted", predicted).reindex(t.index)
    if p.isna().any():
        missing = list(p.index[p.isna()])
        raise InputError(
            f"The 'predicted' scores lack model(s) {missing} that have a result in 'truth': "
            "a selector must score every model of the zoo."
        )
    return t, p


def _utility(truth: pd.Series, higher_is_better: bool) -> pd.Series:
    if not isinstance(higher_is_better, (bool, np.bool_)):
        raise InputError(f"The 'higher_is_better' parameter must be a bool. Got {higher_is_better!r} instead.")
    return truth if higher_is_better else -truth


def _order(predicted: pd.Series) -> list:
    """Models from best to worst predicted score; equal scores in name order."""
    frame = pd.DataFrame({"model": predicted.index, "score": predicted.to_numpy()})
    frame = frame.sort_values(["score", "model"], ascending=[False, True], kind="mergesort")
    return list(frame["model"])


def pick_model(predicted) -> str:
    """The model a selector picks: highest predicted score, ties broken by model name (first in sorted order).

    Examples
    --------
    >>> pick_model(pd.Series({"b": 2.0, "a": 2.0, "c": 1.0}))
    'a'
    """
    p = _as_series("predicted", predicted).dropna()
    if p.empty:
        raise InputError("The 'predicted' parameter has no score: cannot pick a model.")
    return _order(p)[0]


# ----------------------------------------------------------------------------- single metrics
def _rel_values(truth: pd.Series, higher_is_better: bool) -> pd.Series:
    """rel of each model alone: value / best (higher is better) or best / value (lower is better)."""
    if higher_is_better:
        if (truth < 0).any() or truth.max() <= 0:
            bad = truth.idxmin()
            raise InputError(
                f"rel_at_k needs non-negative metric values with a positive best; model {bad!r} has {truth[bad]!r}. "
                "Pass ks=() to skip rel_at_k."
            )
        return truth / truth.max()
    if (truth <= 0).any():
        bad = truth.idxmin()
        raise InputError(
            f"rel_at_k needs positive metric values; model {bad!r} has {truth[bad]!r}. Pass ks=() to skip rel_at_k."
        )
    return truth.min() / truth


def rel_at_k(truth, predicted, higher_is_better: bool, k: int) -> float:
    """Best true value among the top-``k`` predicted models, relative to the best over all models.

    ``max(truth[top-k]) / max(truth)`` when higher is better, ``min(truth) / min(truth[top-k])``
    when lower is better: 1.0 means the top-``k`` contains an optimal model. ``k`` larger than the
    number of models uses them all.

    Raises
    ------
    InputError
        When the values are not positive (the ratio would not be in [0, 1]).

    Examples
    --------
    >>> fid = pd.Series({"a": 10.0, "b": 20.0, "c": 40.0})
    >>> rel_at_k(fid, pd.Series({"a": 0.0, "b": 1.0, "c": 2.0}), higher_is_better=False, k=2)
    0.5
    """
    k = check_int("k", k, low=1)
    t, p = _align(truth, predicted)
    rel = _rel_values(t, higher_is_better)
    return float(rel[_order(p)[:k]].max())


def _correlation(func, u: pd.Series, p: pd.Series) -> float:
    # Undefined (NaN) for fewer than two models or a constant input: no ordering to compare.
    if len(u) < 2 or u.nunique() < 2 or p.nunique() < 2:
        return math.nan
    return float(func(u.to_numpy(), p.to_numpy()).statistic)


def selection_metrics(truth, predicted, higher_is_better: bool, reference_model=None, ks=(1, 3)) -> dict:
    """Score one dataset's prediction against its recorded results.

    Parameters
    ----------
    truth : Series
        Raw metric value of every evaluated model on the dataset (index = model).
    predicted : Series
        Selector scores (index = model, higher = better). Must cover every model of ``truth``;
        models absent from ``truth`` are ignored.
    higher_is_better : bool
        Direction of the metric of ``truth``.
    reference_model : str, optional
        The model that is best on average (see :func:`overall_best_model`), for ``o2b``.
        ``None`` gives ``o2b = nan``.
    ks : tuple of int, default (1, 3)
        The ``k`` of the ``rel_at_k`` entries; ``()`` skips them (metrics with non-positive values).

    Returns
    -------
    dict
        ``osr`` (1.0 if the pick is optimal, ties in truth count), ``tau_w`` (weighted tau of
        utility vs. prediction), ``o2o`` (best utility - pick's utility, raw units, >= 0), ``o2b``
        (reference's utility - pick's utility; negative = the pick beats the reference),
        ``rel_at_<k>``, ``pearson`` and ``spearman`` (NaN on constant input or fewer than 2 models).

    Examples
    --------
    >>> fid = pd.Series({"a": 10.0, "b": 20.0, "c": 40.0})
    >>> m = selection_metrics(fid, pd.Series({"a": 1.0, "b": 3.0, "c": 2.0}), False, reference_model="c")
    >>> m["osr"], m["o2o"], m["o2b"]
    (0.0, 10.0, -20.0)
    """
    from scipy import stats  # lazily: importing the package (a warm `mnc choose`) should not cost scipy.stats

    t, p = _align(truth, predicted)
    u = _utility(t, higher_is_better)
    pick = _order(p)[0]
    best = u.max()
    out = {
        "osr": float(u[pick] == best),
        "tau_w": _correlation(stats.weightedtau, u, p),
        "o2o": float(best - u[pick]),
        "o2b": float(_reference_utility(u, reference_model) - u[pick]),
    }
    for k in ks:
        out[f"rel_at_{check_int('ks', k, low=1)}"] = rel_at_k(t, p, higher_is_better, k)
    out["pearson"] = _correlation(stats.pearsonr, u, p)
    out["spearman"] = _correlation(stats.spearmanr, u, p)
    return out


def _reference_utility(u: pd.Series, reference_model) -> float:
    if reference_model is None:
        return math.nan
    if str(reference_model) not in u.index:
        raise InputError(
            f"The reference model {reference_model!r} has no result in 'truth': o2b needs a reference "
            "evaluated on every dataset (see overall_best_model)."
        )
    return float(u[str(reference_model)])


# ----------------------------------------------------------------------------- random baseline
def expected_random_metrics(truth, higher_is_better: bool, reference_model=None, ks=(1, 3)) -> dict:
    """Exact expectation of :func:`selection_metrics` over a uniformly random ranking of the models.

    Every model is picked with probability ``1/n``, so ``osr = (#models tied at best)/n``,
    ``o2o = best - mean(u)``, ``o2b = u(ref) - mean(u)`` and ``rel_at_1`` = mean of the per-model
    rel. For ``k > 1`` the top-``k`` is a uniformly random ``k``-subset: with the values sorted
    from worst (``j = 1``) to best (``j = n``), the subset's best is the ``j``-th with probability
    ``C(j-1, k-1) / C(n, k)``. Pearson, Spearman and ``tau_w`` are reported as 0 (NaN for a
    constant truth, as in :func:`selection_metrics`): exact for Pearson and Spearman (the
    numerator is linear in the permuted scores), and for ``tau_w`` when ``truth`` has no ties;
    with ties scipy breaks them by the other variable and the expectation drifts slightly from 0
    (about 0.04 for four models with one tie).

    Examples
    --------
    >>> m = expected_random_metrics(pd.Series({"a": 10.0, "b": 20.0, "c": 40.0}), False, "c")
    >>> round(m["osr"], 4), round(m["o2o"], 4), round(m["o2b"], 4)
    (0.3333, 13.3333, -16.6667)
    """
    t = _truth(truth)
    u = _utility(t, higher_is_better)
    n = len(u)
    best = u.max()
    flat = math.nan if n < 2 or u.nunique() < 2 else 0.0
    out = {
        "osr": float((u == best).sum() / n),
        "tau_w": flat,
        "o2o": float(best - u.mean()),
        "o2b": float(_reference_utility(u, reference_model) - u.mean()),
    }
    if ks:
        rel = np.sort(_rel_values(t, higher_is_better).to_numpy())  # worst first: rel is monotone in utility
        for k in ks:
            k = check_int("ks", k, low=1)
            kk = min(k, n)
            j = np.arange(1, n + 1)
            prob = np.array([math.comb(int(i) - 1, kk - 1) for i in j], dtype=float) / math.comb(n, kk)
            out[f"rel_at_{k}"] = float(np.dot(prob, rel))
    out["pearson"] = flat
    out["spearman"] = flat
    return out


def overall_best_model(records, datasets=None) -> str:
    """The model with the highest mean utility over ``datasets``, among models evaluated on all of them.

    This is the reference of ``o2b`` ("the best model over all datasets on average", paper 5.1).
    Compute it once on the full records of an evaluation. Ties go to the name that sorts first.

    Parameters
    ----------
    records : ZooRecords
        Full records (with the results of every evaluated dataset).
    datasets : list of str, optional
        Datasets to average over; default every evaluated dataset.

    Examples
    --------
    >>> from matchchoose import Metric, ZooRecords
    >>> res = pd.DataFrame({"model": ["a", "b", "a", "b"], "dataset": ["x", "x", "y", "y"],
    ...                     "value": [10.0, 12.0, 30.0, 20.0]})
    >>> overall_best_model(ZooRecords(res, Metric("fid", higher_is_better=False)))
    'b'
    """
    util = records.utility_matrix()
    if datasets is not None:
        datasets = [datasets] if isinstance(datasets, str) else list(map(str, datasets))
        unknown = sorted(set(datasets) - set(util.index))
        if unknown:
            raise InputError(f"overall_best_model: dataset(s) {unknown} have no results.")
        util = util.loc[datasets]
    if util.empty:
        raise InputError("overall_best_model needs at least one dataset with results.")
    complete = util.columns[util.notna().all(axis=0)]
    if len(complete) == 0:
        raise InputError("overall_best_model: no model has a result on every evaluated dataset.")
    mean = util[complete].mean(axis=0)
    return _order(mean)[0]


# ----------------------------------------------------------------------------- aggregation
def summarize(per_dataset: dict) -> dict:
    """Average each metric over datasets, skipping NaN.

    Parameters
    ----------
    per_dataset : dict of str to dict
        ``{dataset: selection_metrics(...)}``.

    Returns
    -------
    dict
        ``{metric: nan-mean}`` for every metric seen, ``n_datasets``, and ``n_nan_<metric>``: how
        many datasets had no value for that metric (NaN or absent). A metric NaN everywhere stays NaN.

    Examples
    --------
    >>> summarize({"x": {"osr": 1.0, "pearson": float("nan")}, "y": {"osr": 0.0, "pearson": 0.5}})
    {'osr': 0.5, 'pearson': 0.5, 'n_datasets': 2, 'n_nan_osr': 0, 'n_nan_pearson': 1}
    """
    if not isinstance(per_dataset, dict):
        raise InputError(f"summarize expects a dict of dataset -> metrics. Got {type(per_dataset).__name__}.")
    names: list = []
    for metrics in per_dataset.values():
        names += [m for m in metrics if m not in names]
    out: dict = {}
    counts: dict = {}
    for name in names:
        values = []
        for dataset, metrics in per_dataset.items():
            v = metrics.get(name, math.nan)
            if not isinstance(v, Real) or isinstance(v, bool):
                raise InputError(f"summarize: metric {name!r} of dataset {dataset!r} is not a number: {v!r}.")
            values.append(float(v))
        arr = np.asarray(values, dtype=float)
        ok = ~np.isnan(arr)
        out[name] = float(arr[ok].mean()) if ok.any() else math.nan
        counts[f"n_nan_{name}"] = int((~ok).sum())
    out["n_datasets"] = len(per_dataset)
    out.update(counts)
    return out
