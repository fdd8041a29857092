"""What the recorded learning curves of other datasets say about partial evidence.

A budgeted selection sees, for the target dataset, a prior ranking (the selector's scores), maybe
the pretrained models' zero-shot scores, and the scores of the models it fine-tuned so far at a
few fidelities. How much each of these predicts the final (target-fidelity) ranking is learned
from the knowledge base's other datasets, whose full curves are known:

* every source is turned into rank z-scores among the models compared (ranks are comparable
  across datasets and metrics' scales, and robust to the metric's curvature);
* per stage (the rungs observed so far), non-negative least squares of the final rank z-scores
  on the sources' z-scores gives the weights (a stacked, meta-learned combination, as Quick-Tune's
  meta-learned gray-box surrogate, arXiv 2306.03828, in its simplest form);
* a model's *gain* after rung ``r`` (its mean rank improvement from ``r`` to the target over the
  other datasets) is one more source: learning-curve extrapolation transferred across datasets,
  after the observation that late bloomers stay late bloomers (arXiv 2402.02314, section 4).

With no other dataset's curve, the newest observation alone decides (plain successive halving),
the prior breaking ties.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import nnls
from scipy.stats import rankdata

__all__ = ["CurveBank", "DatasetCurves", "Evidence", "rank_z"]

_TIE_BREAK = 1e-3  # weight of the prior when nothing is learned: decides only among equal observations


def rank_z(values) -> np.ndarray:
    """Standardised average ranks of ``values`` (higher value, higher z); zeros when all tie or n < 2.

    Examples
    --------
    >>> rank_z([3.0, 1.0, 2.0]).round(3).tolist()
    [1.225, -1.225, 0.0]
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 2:
        return np.zeros(n)
    order = np.argsort(values, kind="mergesort")
    if np.any(np.diff(values[order]) == 0):
        ranks = rankdata(values)
    else:  # the common case, without scipy's overhead (this runs thousands of times per replay)
        ranks = np.empty(n)
        ranks[order] = np.arange(1, n + 1)
    sd = ranks.std()
    return np.zeros(n) if sd == 0 else (ranks - ranks.mean()) / sd


@dataclass
class DatasetCurves:
    """One dataset's oriented curves: ``at`` (models x fidelities, utilities, higher = better),
    ``final`` (utility at each model's largest fidelity), ``zero_shot`` (utilities or ``None``)."""

    name: str
    at: pd.DataFrame
    final: pd.Series
    zero_shot: pd.Series | None = None
    prior: pd.Series | None = None

    def complete(self, models, fidelities) -> bool:
        """Whether every model has a value at every fidelity and a final value."""
        models = list(models)
        if not set(models) <= set(self.at.index) or not set(fidelities) <= set(self.at.columns):
            return False
        return bool(self.at.loc[models, list(fidelities)].notna().all().all() and self.final[models].notna().all())


@dataclass
class CurveBank:
    """The learning curves of several datasets (the training side of a budgeted selection).

    Build it with :meth:`from_frames` from :meth:`KnowledgeBase.curves
    <matchchoose.kb.KnowledgeBase.curves>` (columns ``model, dataset, fidelity, value``).
    """

    datasets: dict = field(default_factory=dict)

    @classmethod
    def from_frames(cls, curves: pd.DataFrame, higher_is_better: bool, zero_shot: pd.DataFrame | None = None):
        """Bank of ``curves`` (rows without a numeric fidelity are ignored); ``zero_shot``: columns
        ``model, dataset, value`` (prescores, raw metric values), averaged per pair."""
        sign = 1.0 if higher_is_better else -1.0
        curves = curves[np.isfinite(curves["fidelity"].astype(float))]
        out = {}
        for name, frame in curves.groupby("dataset", sort=True):
            at = frame.pivot_table(index="model", columns="fidelity", values="value", aggfunc="mean") * sign
            at = at.sort_index(axis=0).sort_index(axis=1)
            last = at.apply(lambda row: row.dropna().iloc[-1] if row.notna().any() else np.nan, axis=1)
            zs = None
            if zero_shot is not None:
                sub = zero_shot[zero_shot["dataset"] == name]
                if not sub.empty:
                    zs = sub.groupby("model")["value"].mean() * sign
            out[name] = DatasetCurves(name, at, last, zs)
        bank = cls(out)
        bank._set_overall_priors()
        return bank

    def _set_overall_priors(self) -> None:
        """Each dataset's prior: the mean final rank z of each model over the *other* datasets (the
        "best on average" selector, left one out), a stand-in for the selector's prior."""
        finals = {name: pd.Series(rank_z(d.final.dropna()), index=d.final.dropna().index)
                  for name, d in self.datasets.items()}
        table = pd.DataFrame(finals)
        for name, d in self.datasets.items():
            others = table.drop(columns=name)
            d.prior = others.mean(axis=1).reindex(d.at.index).fillna(0.0) if others.shape[1] else None

    def usable(self, models, fidelities) -> list:
        """Datasets with complete curves for ``models`` at ``fidelities`` and a prior."""
        return [d for d in self.datasets.values() if d.prior is not None and d.complete(models, fidelities)]


def _stack(arrays: list, shape: tuple) -> np.ndarray:
    return np.array(arrays, dtype=float) if arrays else np.zeros((0, *shape))


class Evidence:
    """Learned weights of the evidence sources, per stage of a race.

    Models are positions ``0..n-1`` in ``models``; rungs are positions in ``fidelities``.

    Parameters
    ----------
    bank : CurveBank or None
        Curves of other datasets; ``None`` or fewer than two usable ones: fixed weights (newest
        observation, prior as tie-break).
    models : list of str
    fidelities : list of float
        The rungs, ascending; the last is the target.
    use_zero_shot : bool
        Whether zero-shot scores are a source (only when the target dataset has them).
    """

    def __init__(self, bank: CurveBank | None, models, fidelities, use_zero_shot: bool):
        self.models = list(models)
        self.fidelities = [float(f) for f in fidelities]
        self.use_zero_shot = use_zero_shot
        training = [] if bank is None else bank.usable(self.models, self.fidelities)
        if use_zero_shot:
            training = [d for d in training if d.zero_shot is not None and set(self.models) <= set(d.zero_shot.index)]
        self.training_names = [d.name for d in training]
        self.learned = len(training) >= 2
        # Training arrays: prior, zero-shot (d, n); utilities at the rungs (d, n, k); final (d, n).
        n, k = len(self.models), len(self.fidelities)
        self.prior_ = _stack([d.prior[self.models].to_numpy(float) for d in training], (n,))
        self.zero_shot_ = (_stack([d.zero_shot[self.models].to_numpy(float) for d in training], (n,))
                           if use_zero_shot else None)
        self.at_ = _stack([d.at.loc[self.models, self.fidelities].to_numpy(float) for d in training], (n, k))
        self.final_ = _stack([d.final[self.models].to_numpy(float) for d in training], (n,))
        self.gain_ = self._gains()
        self._weights: dict = {}
        self._held: list | None = None
        self.replays_: dict = {}  # schedule -> regrets on the training datasets (see _procedure)

    def held_out(self) -> list:
        """``[self.without(i) for each training dataset i]``, made once."""
        if self._held is None:
            self._held = [self.without(i) for i in range(len(self.prior_))]
        return self._held

    def without(self, i: int) -> Evidence:
        """The same evidence learned without training dataset ``i`` (to replay a schedule on ``i``
        honestly: its own final ranking must not shape the weights or gains it is judged with)."""
        other = object.__new__(Evidence)
        other.models, other.fidelities, other.use_zero_shot = self.models, self.fidelities, self.use_zero_shot
        keep = np.arange(len(self.prior_)) != i
        other.training_names = [n for j, n in enumerate(self.training_names) if keep[j]]
        other.learned = int(keep.sum()) >= 2
        other.prior_, other.at_, other.final_ = self.prior_[keep], self.at_[keep], self.final_[keep]
        other.zero_shot_ = None if self.zero_shot_ is None else self.zero_shot_[keep]
        other.gain_ = other._gains()
        other._weights, other._held, other.replays_ = {}, None, {}
        return other

    def _gains(self) -> np.ndarray:
        """(k, n): per rung, each model's mean (final z - rung z) over the training datasets."""
        k, n = len(self.fidelities), len(self.models)
        if not self.learned:
            return np.zeros((k, n))
        finals = np.array([rank_z(f) for f in self.final_])
        return np.array([np.mean([finals[i] - rank_z(self.at_[i, :, j]) for i in range(len(finals))], axis=0)
                         for j in range(k)])

    def features(self, alive: np.ndarray, prior: np.ndarray, zero_shot, observed: dict) -> np.ndarray:
        """(len(alive), n_sources) z-scores among the ``alive`` model positions: prior, zero-shot
        (when used), each observed rung (``observed``: rung position -> utilities over every
        model position, NaN where unobserved), and the gain after the newest rung."""
        columns = [rank_z(prior[alive])]
        if self.use_zero_shot:
            columns.append(rank_z(zero_shot[alive]))
        for j in sorted(observed):
            columns.append(rank_z(observed[j][alive]))
        if observed:
            columns.append(self.gain_[max(observed), alive])
        return np.column_stack(columns)

    def weights(self, stage: tuple) -> np.ndarray:
        """Weights for ``stage`` = the rung positions observed (a sorted tuple), learned once."""
        if stage not in self._weights:
            self._weights[stage] = self._fit(stage)
        return self._weights[stage]

    def _default(self, stage: tuple) -> np.ndarray:
        n_sources = 1 + int(self.use_zero_shot) + len(stage) + int(bool(stage))
        w = np.zeros(n_sources)
        if stage:
            w[n_sources - 2] = 1.0  # the newest observation
            w[0] = _TIE_BREAK
        else:
            w[: 1 + int(self.use_zero_shot)] = 1.0
        return w

    def _fit(self, stage: tuple) -> np.ndarray:
        if not self.learned:
            return self._default(stage)
        every = np.arange(len(self.models))
        x = np.vstack([self.features(every, self.prior_[i], None if self.zero_shot_ is None else self.zero_shot_[i],
                                     {j: self.at_[i, :, j] for j in stage}) for i in range(len(self.prior_))])
        y = np.concatenate([rank_z(f) for f in self.final_])
        w, _ = nnls(x, y)
        if not np.any(w > 0):
            return self._default(stage)
        w[0] = max(w[0], _TIE_BREAK * w.max())  # the prior still breaks exact ties
        return w

    def score(self, alive: np.ndarray, prior: np.ndarray, zero_shot, observed: dict) -> np.ndarray:
        """Combined evidence of the ``alive`` positions (higher = more likely best at the target)."""
        return self.features(alive, prior, zero_shot, observed) @ self.weights(tuple(sorted(observed)))
