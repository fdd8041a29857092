"""Budgeted selection: which model to fine-tune, found by fine-tuning a few of them briefly.

:func:`race` is prior-guided successive halving (Jamieson & Talwalkar 2016; Hyperband, Li et al.
2018) whose promotions use learned evidence (:class:`~matchchoose.budget._evidence.Evidence`) and
whose schedule is chosen for the budget by replaying it on the other datasets' recorded curves
(meta-learned, as Quick-Tune's cost-aware gray-box search; the prior ranking decides which models
enter). :func:`subtune` and :func:`prior_topk` are the baselines it is measured against.

Every procedure takes the same inputs and returns a :class:`Selection`:

* ``prior``: the selector's scores on the target (higher = better), optional ``prior_std``;
* ``zero_shot``: the pretrained models' raw scores on the target (prescores), or ``None``;
* ``fidelities``: the rungs a run may stop at, ascending; the last is the target;
* ``budget``: compute, in fidelity units (``fraction * n_models * target`` for a fraction of the
  exhaustive grid);
* ``run(model, fidelity) -> raw score``: fine-tune (resuming) and score; see :class:`Ledger`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._errors import InputError
from ._evidence import CurveBank, Evidence
from ._ledger import Ledger

__all__ = ["PROCEDURES", "Selection", "plan_schedules", "prior_topk", "race", "subtune"]


@dataclass
class Selection:
    """The outcome of a budgeted selection.

    Attributes
    ----------
    pick : str
        The model to fine-tune (or already fine-tuned to the target when ``trace`` says so).
    spent : float
        Compute used, in fidelity units.
    trace : list of [model, fidelity, score]
        Every run in order (raw metric values).
    schedule : list of [fidelity, n_models]
        The stages run (``race``), or what the baseline did.
    evidence : dict
        model -> combined evidence at the last stage it was compared in (``race``), else {}.
    """

    pick: str
    spent: float
    trace: list
    schedule: list = field(default_factory=list)
    evidence: dict = field(default_factory=dict)


def _check(models, prior, fidelities, budget, owner) -> tuple[list, pd.Series, list, float]:
    models = [str(m) for m in models]
    if not models:
        raise InputError(f"{owner} needs at least one model.")
    prior = pd.Series(prior, dtype=float)
    missing = [m for m in models if m not in prior.index or not np.isfinite(prior[m])]
    if missing:
        raise InputError(f"The 'prior' parameter of {owner} has no finite score for model {missing[0]!r}.")
    rungs = sorted({float(f) for f in fidelities})
    if not rungs or rungs[0] <= 0 or not all(math.isfinite(f) for f in rungs):
        raise InputError(f"The 'fidelities' parameter of {owner} must hold finite numbers > 0. Got {fidelities!r}.")
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not math.isfinite(budget) or budget < 0:
        raise InputError(f"The 'budget' parameter of {owner} must be a finite number >= 0. Got {budget!r} instead.")
    return models, prior, rungs, float(budget)


def _orient(values, higher_is_better: bool):
    return values if higher_is_better else -values


# ------------------------------------------------------------------ schedules
def schedule_cost(schedule, fidelities) -> float:
    """Compute of ``schedule`` (tuple of (rung index, n_models), rungs ascending, counts
    non-increasing): each stage trains its survivors from the previous stage's rung."""
    cost, previous = 0.0, 0.0
    for index, count in schedule:
        cost += count * (fidelities[index] - previous)
        previous = fidelities[index]
    return cost


def plan_schedules(n_models: int, fidelities, budget: float) -> list:
    """Every schedule considered that fits ``budget``: the empty one (decide from the prior), and
    geometric successive-halving chains (rate 2, 3 or 4) over consecutive rungs from any start to
    any end rung, plus two-stage ones (screen ``n`` at one rung, continue 1 or 2 to a later one)."""
    k = len(fidelities)
    found = {()}
    for start in range(k):
        for n in range(1, n_models + 1):
            for end in range(start, k):
                for eta in (2, 3, 4):
                    found.add(tuple((j, max(1, n // eta ** (j - start))) for j in range(start, end + 1)))
                for keep in (1, 2):
                    if keep < n and end > start:
                        found.add(((start, n), (end, keep)))
    fits = [s for s in found if schedule_cost(s, fidelities) <= budget * (1 + 1e-9)]
    return sorted(fits, key=lambda s: (schedule_cost(s, fidelities), s))


def _execute(schedule, evidence: Evidence, prior: np.ndarray, zero_shot,
             observe) -> tuple[int, np.ndarray, np.ndarray]:
    """Run ``schedule``: enter the best by prior (and zero-shot), promote by combined evidence.

    Models and rungs are positions; ``observe(model, rung)`` returns the utility (higher = better).
    Returns the pick, the positions compared last and their evidence.
    """
    n = len(prior)
    alive = np.arange(n)
    score = evidence.score(alive, prior, zero_shot, {})
    alive = alive[np.argsort(-score, kind="stable")]
    observed: dict = {}
    for rung, count in schedule:
        alive = alive[:count]
        values = np.full(n, np.nan)
        values[alive] = [observe(m, rung) for m in alive]
        observed[rung] = values
        score = evidence.score(alive, prior, zero_shot, observed)
        order = np.argsort(-score, kind="stable")
        alive, score = alive[order], score[order]
    return int(alive[0]), alive, score


def _regrets(schedule, evidence: Evidence) -> np.ndarray:
    """Normalised regret of ``schedule`` on each training dataset, replayed with evidence learned
    without that dataset (cross-fitted: its own final ranking must not shape what judges it)."""
    cache = evidence.replays_
    if schedule not in cache:
        final = evidence.final_
        span = final.max(axis=1) - final.min(axis=1)
        held = evidence.held_out()
        picks = np.array([
            _execute(schedule, held[i], evidence.prior_[i], None if evidence.zero_shot_ is None
                     else evidence.zero_shot_[i], lambda m, j, i=i: evidence.at_[i, m, j])[0]
            for i in range(len(final))])
        gap = final.max(axis=1) - final[np.arange(len(final)), picks]
        cache[schedule] = np.where(span > 0, gap / np.where(span > 0, span, 1.0), 0.0)
    return cache[schedule]


def _replay(schedules, evidence: Evidence):
    """The schedule to run: among those whose replayed mean regret is within one standard error
    (paired, over the training datasets) of the least, the one that sees the most models at the
    target, then the cheapest.

    Picking the least replayed regret outright chases noise among near-ties (hundreds of schedules,
    tens of datasets); an observation at the target is the truth itself, so among schedules the
    replay cannot tell apart, the one ending with more models there is the safer bet (the
    one-standard-error rule of Breiman et al. 1984, with "simple" read as "least extrapolated").
    When some schedule never errs on the training datasets, the cheapest such one runs.
    """
    regrets = {s: _regrets(s, evidence) for s in schedules}
    best = min(schedules, key=lambda s: (regrets[s].mean(), schedule_cost(s, evidence.fidelities)))
    n = len(regrets[best])
    last = len(evidence.fidelities) - 1

    def tied(s) -> bool:
        diff = regrets[s] - regrets[best]
        return diff.mean() <= (diff.std(ddof=1) / np.sqrt(n) if n > 1 else 0.0) + 1e-12

    if not regrets[best].any():  # flawless on every training dataset: no noise to guard against
        return min((s for s in schedules if not regrets[s].any()),
                   key=lambda s: (schedule_cost(s, evidence.fidelities), s))
    at_target = lambda s: s[-1][1] if s and s[-1][0] == last else 0  # noqa: E731
    return min((s for s in schedules if tied(s)),
               key=lambda s: (-at_target(s), schedule_cost(s, evidence.fidelities), regrets[s].mean(), s))


def _default_schedule(schedules, fidelities):
    """Without other curves: halving at rate 2 from the lowest rung, reaching the highest rung
    affordable with the most models."""
    chains = [s for s in schedules if s and s[0][0] == 0
              and all(b[1] == max(1, s[0][1] // 2 ** (b[0] - s[0][0])) for b in s)
              and [b[0] for b in s] == list(range(s[0][0], s[-1][0] + 1))]
    if not chains:
        return ()
    return max(chains, key=lambda s: (s[-1][0], s[0][1]))


_CACHE: list = []  # (history, models, rungs, use_zero_shot, Evidence) of the last few calls


def _evidence(history, models, rungs, use_zs) -> Evidence:
    """The Evidence for these inputs, reused across calls with the same ``history`` object (a
    simulation runs several budgets per held-out dataset: the replays are shared)."""
    for entry in _CACHE:
        if entry[0] is history and entry[1:4] == (models, rungs, use_zs):
            return entry[4]
    evidence = Evidence(history, models, rungs, use_zs)
    if history is not None:
        _CACHE.insert(0, (history, list(models), list(rungs), use_zs, evidence))
        del _CACHE[4:]
    return evidence


def race(models, *, prior, run, budget: float, fidelities, higher_is_better: bool, zero_shot=None,
         prior_std=None, history: CurveBank | None = None, kappa: float = 1.0) -> Selection:
    """Prior-guided successive halving with learned promotions, within ``budget``.

    1. The evidence weights are learned from ``history`` (other datasets' curves).
    2. Every successive-halving schedule that fits the budget is replayed on those curves; the one
       with the least regret is run (without history: halving at rate 2 from the lowest rung).
    3. The models enter in order of prior (+ ``kappa`` x its standard deviation, optimism under
       uncertainty, when ``prior_std`` is given) and zero-shot evidence; at each rung the
       survivors are ranked by the combined evidence and the best continue.

    Parameters
    ----------
    models : list of str
    prior : Series
        Selector scores (higher = better) of every model.
    run : callable
        ``run(model, fidelity) -> raw score`` (resume semantics: see :class:`Ledger`).
    budget : float
        Compute, in fidelity units.
    fidelities : list of float
        Rungs, the last is the target.
    higher_is_better : bool
        Direction of the raw scores.
    zero_shot : Series, optional
        Raw scores of the pretrained models on the target (free: compute 0).
    prior_std : Series, optional
        Uncertainty of ``prior`` (same units).
    history : CurveBank, optional
        Learning curves of other datasets (never the target's).
    kappa : float, default=1.0
        Weight of ``prior_std`` in the entry order.

    Returns
    -------
    Selection

    Examples
    --------
    >>> curves = {("a", 1.0): 0.2, ("b", 1.0): 0.6, ("b", 4.0): 0.9}
    >>> sel = race(["a", "b"], prior=pd.Series({"a": 1.0, "b": 0.0}), run=lambda m, f: curves[(m, f)],
    ...            budget=6, fidelities=[1, 4], higher_is_better=True)
    >>> sel.pick, sel.spent
    ('b', 5.0)
    """
    models, prior, rungs, budget = _check(models, prior, fidelities, budget, "race")
    use_zs = zero_shot is not None and set(models) <= set(pd.Series(zero_shot).dropna().index)
    zs = _orient(pd.Series(zero_shot, dtype=float)[models].to_numpy(), higher_is_better) if use_zs else None
    entry = prior[models].to_numpy(float)
    if prior_std is not None:
        entry = entry + kappa * pd.Series(prior_std, dtype=float).reindex(models).fillna(0.0).to_numpy()
    evidence = _evidence(history, models, rungs, use_zs)
    schedules = plan_schedules(len(models), rungs, budget)
    schedule = _replay(schedules, evidence) if evidence.learned else _default_schedule(schedules, rungs)
    ledger = Ledger(run, budget)
    pick, alive, score = _execute(schedule, evidence, entry, zs,
                                  lambda m, j: float(_orient(ledger.observe(models[m], rungs[j]), higher_is_better)))
    return Selection(pick=models[pick], spent=ledger.spent, trace=ledger.trace,
                     schedule=[[rungs[j], n] for j, n in schedule],
                     evidence={models[m]: float(v) for m, v in zip(alive, score, strict=True)})


def subtune(models, *, prior, run, budget: float, fidelities, higher_is_better: bool, zero_shot=None,
            **_ignored) -> Selection:
    """Every model to one fidelity, then the best one to the target (the ``subtune`` baseline).

    The screening rung is the largest below the target at which screening all models and then
    training the best to the target fits the budget. When none does, all models go to the largest
    rung affordable for all of them (the target itself when the budget covers the exhaustive grid)
    and the best there is the pick; when not even that fits, the pick is the best zero-shot score
    (or the prior's top model when there are none) and nothing runs.
    """
    models, prior, rungs, budget = _check(models, prior, fidelities, budget, "subtune")
    target, n = rungs[-1], len(models)
    ledger = Ledger(run, budget)
    value = lambda m, f: float(_orient(ledger.observe(m, f), higher_is_better))  # noqa: E731
    screen = [f for f in rungs[:-1] if n * f + (target - f) <= budget * (1 + 1e-9)]
    if screen:
        f = screen[-1]
        scores = pd.Series({m: value(m, f) for m in models})
        pick = _top(scores)
        value(pick, target)
        return Selection(pick, ledger.spent, ledger.trace, [[f, n], [target, 1]])
    screen = [f for f in rungs if n * f <= budget * (1 + 1e-9)]
    if screen:
        f = screen[-1]
        pick = _top(pd.Series({m: value(m, f) for m in models}))
        return Selection(pick, ledger.spent, ledger.trace, [[f, n]])
    if zero_shot is not None and set(models) <= set(pd.Series(zero_shot).dropna().index):
        pick = _top(_orient(pd.Series(zero_shot, dtype=float)[models], higher_is_better))
    else:
        pick = _top(prior[models])
    return Selection(pick, 0.0, [], [])


def prior_topk(models, *, prior, run, budget: float, fidelities, higher_is_better: bool, **_ignored) -> Selection:
    """The prior's top-``k`` fully fine-tuned, ``k = floor(budget / target)`` (at most all models);
    the best at the target is the pick (``k = 0``: the prior's top model, nothing runs)."""
    models, prior, rungs, budget = _check(models, prior, fidelities, budget, "prior_topk")
    target = rungs[-1]
    k = min(len(models), int(math.floor(budget / target * (1 + 1e-9))))
    order = list(prior[models].sort_values(ascending=False, kind="mergesort").index)
    if k == 0:
        return Selection(order[0], 0.0, [], [])
    ledger = Ledger(run, budget)
    scores = pd.Series({m: float(_orient(ledger.observe(m, target), higher_is_better)) for m in order[:k]})
    return Selection(_top(scores), ledger.spent, ledger.trace, [[target, k]])


def _top(scores: pd.Series) -> str:
    """Highest score; ties go to the model listed first."""
    return str(scores.index[int(np.argmax(scores.to_numpy()))])


#: Budgeted procedures by name (``mnc evaluate --budgeted``).
PROCEDURES = {"race": race, "subtune": subtune, "prior_topk": prior_topk}
