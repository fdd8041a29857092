"""The prior-residual blend: Overall's ranking, moved by the nearest datasets and the target's prescores.

The Overall baseline (one ranking for every dataset) is hard to beat on zoos where one family wins nearly
everywhere (TransferGraph, SFDA). :class:`BlendSelector` starts from it and learns, per knowledge base, how far
to move away from it:

``score(m) = prior(m) + a * neighbour_residual(m) + b * prescore(m)``

* ``prior``: the model's aggregated score over the training datasets (``mean`` of min-max normalised
  utilities, as Overall; ``rank``: mean rank score ``1 - (rank - 1) / (n - 1)``; ``top``: mean of the
  normalised utility to the 4th power, which rewards being near the best);
* ``neighbour_residual``: how the ``k`` nearest training datasets deviate from that prior (kernel weights
  ``exp(-d / h)``, ``h`` = median neighbour distance; distances as recorded, or ``centred``: with the
  per-dataset offsets ``d_ij ~ o_i + o_j`` removed, which dominate TransferGraph's matrix);
* ``prescore``: the target's min-max normalised prescores (zero-shot scores), centred, where they exist.

Every choice (aggregation, distance mode, ``k``, ``a``, ``b``) is made by leave-one-dataset-out *inside the
training datasets* of the fit (nested LODO): the target's results are never seen. The search space contains
Overall itself (``mean``, ``a = b = 0``), so the blend only leaves Overall where the training datasets say so.
The same inner folds give the uncertainty: each inner fold's error vector (truth - score, in the prior's units)
added to the target's scores is one plausible outcome; the share of outcomes a model wins is its probability
of being best (:meth:`BlendSelector.explain`).

With ``rule="average"`` no single candidate is chosen: every candidate whose inner mean weighted tau is within
one standard error of the best one's is a member, each member's scores for a dataset are standardised over the
models (z-scores), and the score is the standardised mean of the members' z-scores. Picking one of ~300
candidates on a few inner folds is noisy; averaging the ones the folds cannot tell apart is not.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from .._errors import InputError, NotFittedError
from .._estimator import Selector
from .._validation import check_in
from ..records import ZooRecords

__all__ = ["AGGREGATIONS", "BlendSelector"]

AGGREGATIONS = ("mean", "rank", "top")
RULES = ("best", "one_se", "average")


def _transform(norm: np.ndarray, aggregation: str) -> np.ndarray:
    """Per-dataset scores in [0, 1] (rows = datasets) that the prior averages; NaN stays NaN."""
    if aggregation == "mean":
        return norm
    if aggregation == "top":
        return norm ** 4
    ranks = pd.DataFrame(norm).rank(axis=1, ascending=False, method="average").to_numpy()
    n = np.sum(~np.isnan(norm), axis=1, keepdims=True)
    return np.where(n > 1, 1.0 - (ranks - 1.0) / np.maximum(n - 1.0, 1.0), 0.5)


def _nanmean(block: np.ndarray) -> np.ndarray:
    count = np.sum(~np.isnan(block), axis=0)
    total = np.nansum(block, axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def _centred(dist: pd.DataFrame) -> pd.DataFrame:
    """Distances with per-dataset offsets removed: ``d_ij - o_i - o_j`` (least squares over known pairs)."""
    names = list(dist.index)
    n = len(names)
    rows, cols = np.where(~np.isnan(dist.to_numpy(float)) & ~np.eye(n, dtype=bool))
    if rows.size < n:
        return dist
    design = np.zeros((rows.size, n))
    design[np.arange(rows.size), rows] = 1.0
    design[np.arange(rows.size), cols] += 1.0
    offsets, *_ = np.linalg.lstsq(design, dist.to_numpy(float)[rows, cols], rcond=None)
    return dist - offsets[:, None] - offsets[None, :]


def _kernel(d: np.ndarray) -> np.ndarray:
    d = d - min(0.0, float(d.min()))
    h = float(np.median(d))
    return np.exp(-d / h) if h > 0 else (d <= 0).astype(float)


class BlendSelector(Selector):
    """Overall's prior, moved by the nearest datasets' residuals and the target's prescores (nested LODO).

    Parameters
    ----------
    aggregations : tuple of str, default ("mean", "rank", "top")
        Priors the inner folds choose from (:data:`AGGREGATIONS`).
    neighbour_weights : tuple of float, default (0, 0.25, 0.5, 1)
        Candidate ``a``.
    prescore_weights : tuple of float, default (0, 0.1, 0.25, 0.5, 1)
        Candidate ``b`` (only searched when training datasets have prescores).
    ks : tuple of int, default (2, 3, 5)
        Candidate neighbour counts.
    rule : {"best", "one_se", "average"}, default "best"
        ``best``: the highest mean inner weighted tau (ties: the smallest inner squared error, then the
        simplest); ``one_se``: the simplest candidate within one standard error of it; ``average``: the
        standardised mean of every candidate within one standard error of it (scores in z units).
    random_state : None
        Unused (deterministic); accepted so the runner can pass a seed.

    Attributes
    ----------
    params_ : dict
        The chosen ``aggregation``, ``distance``, ``k``, ``a``, ``b`` and their inner mean weighted tau.
        With ``rule="average"``: ``members`` (their number), ``aggregation`` and ``distance`` (the members'
        distinct values joined by ``+``), ``k``, ``a`` and ``b`` (the members' means) and the average's inner
        mean weighted tau.
    members_ : list of dict
        The candidates behind the score (one, except with ``rule="average"``).
    inner_errors_ : DataFrame, shape (n_inner_folds, n_models)
        Truth minus score of each inner fold at the chosen parameters (in the units of the chosen prior;
        with ``rule="average"``, standardised truth minus the average).

    Examples
    --------
    >>> import pandas as pd
    >>> from matchchoose import Metric, ZooRecords
    >>> res = pd.DataFrame({"model": list("abab"), "dataset": list("xxyy"), "value": [1.0, 2, 1, 3]})
    >>> r = ZooRecords(res, Metric("acc", True), datasets=["x", "y", "t"])
    >>> BlendSelector().fit(r).predict("t").idxmax()
    'b'
    """

    def __init__(self, aggregations=AGGREGATIONS, neighbour_weights=(0.0, 0.25, 0.5, 1.0),
                 prescore_weights=(0.0, 0.1, 0.25, 0.5, 1.0), ks=(2, 3, 5), rule="best", random_state=None):
        self.aggregations = aggregations
        self.neighbour_weights = neighbour_weights
        self.prescore_weights = prescore_weights
        self.ks = ks
        self.rule = rule
        self.random_state = random_state

    # ------------------------------------------------------------------ inputs
    def _distances(self, records: ZooRecords) -> dict:
        """``{"raw": frame, "centred": frame}`` over every dataset, or ``{}`` when nothing links datasets."""
        names = list(records.datasets)
        dist = records.distances
        if dist is None and records.dataset_features.shape[1] > 0:
            from ._baselines import _FeatureEncoder, _with_features

            with_feats = _with_features(records.dataset_features, names)
            if len(with_feats) >= 3:
                enc = _FeatureEncoder().fit(records.dataset_features.loc[with_feats])
                x = enc.transform(records.dataset_features.loc[with_feats])
                std = x.std(axis=0)
                x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
                d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2))
                dist = pd.DataFrame(d, index=with_feats, columns=with_feats)
        if dist is None:
            return {}
        dist = dist.reindex(index=names, columns=names).astype(float)
        out = {"raw": dist}
        if dist.notna().sum().sum() >= 3 * len(names):
            out["centred"] = _centred(dist)
        return out

    def _prescores(self, records: ZooRecords) -> dict:
        out = {}
        if records.prescores is None or records.prescores.empty:
            return out
        for d in records.datasets:
            pre = records.prescore_utility(d)
            if pre is None:
                continue
            pre = pre.reindex(self.models_).astype(float)
            if pre.notna().sum() < 2:
                continue
            lo, hi = pre.min(), pre.max()
            norm = (pre - lo) / (hi - lo) if hi > lo else pre * 0 + 0.5
            out[d] = (norm - norm.mean()).fillna(0.0).to_numpy()
        return out

    # -------------------------------------------------------------- components
    def _neighbours(self, target: str, pool: list, mode: str, k: int) -> tuple[list, np.ndarray]:
        dist = self.distances_.get(mode)
        if dist is None or target not in dist.index:
            return [], np.empty(0)
        row = dist.loc[target, pool].dropna()
        if row.empty:
            return [], np.empty(0)
        frame = pd.DataFrame({"name": row.index, "d": row.to_numpy()}).sort_values(["d", "name"], kind="mergesort")
        frame = frame.iloc[:k]
        return list(frame["name"]), _kernel(frame["d"].to_numpy(float))

    def _components(self, target: str, pool: list) -> dict:
        """Prior per aggregation and neighbour residual per (aggregation, mode, k) for ``target`` from ``pool``."""
        idx = [self.row_[d] for d in pool]
        out = {}
        for agg in self.aggregations_:
            block = self.transformed_[agg][idx]
            prior = _nanmean(block)
            out[agg] = prior
            for mode, k in self.neighbour_options_:
                names, w = self._neighbours(target, pool, mode, k)
                if not names:
                    out[(agg, mode, k)] = np.zeros_like(prior)
                    continue
                nb = self.transformed_[agg][[self.row_[n] for n in names]] - prior
                mask = ~np.isnan(nb)
                wsum = (mask * w[:, None]).sum(axis=0)
                out[(agg, mode, k)] = np.where(wsum > 0, np.nansum(nb * w[:, None], axis=0) / np.maximum(wsum, 1e-12),
                                               0.0)
        return out

    def _candidates(self) -> list:
        """Candidate parameter dicts, simplest first."""
        cands = []
        for agg in self.aggregations_:
            nbrs = [(None, None, 0.0)] + [(m, k, a) for a in self.neighbour_weights if a > 0
                                          for (m, k) in self.neighbour_options_]
            for (mode, k, a), b in itertools.product(nbrs, self.prescore_weights_):
                cands.append({"aggregation": agg, "distance": mode, "k": k, "a": float(a), "b": float(b)})
        cands.sort(key=lambda c: (c["a"] > 0) + (c["b"] > 0) + (c["aggregation"] != "mean"))
        return cands

    @staticmethod
    def _combine(comp: dict, pre, c: dict) -> np.ndarray:
        score = comp[c["aggregation"]].copy()
        if c["a"] > 0:
            score = score + c["a"] * comp[(c["aggregation"], c["distance"], c["k"])]
        if c["b"] > 0 and pre is not None:
            score = score + c["b"] * pre
        return score

    @staticmethod
    def _member_parts(comp: dict, pre, c: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(prior, neighbours, prescore)`` of one candidate; they add up to :meth:`_combine`."""
        prior = comp[c["aggregation"]]
        shift = c["a"] * comp[(c["aggregation"], c["distance"], c["k"])] if c["a"] > 0 else np.zeros_like(prior)
        pre_shift = c["b"] * pre if (c["b"] > 0 and pre is not None) else np.zeros_like(prior)
        return prior, shift, pre_shift

    @classmethod
    def _average_parts(cls, comp: dict, pre, members: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The members' z-scores averaged and standardised again, split into prior, neighbour and prescore
        parts (each member's parts scaled by its spread; the centring goes to the prior)."""
        n = len(comp[members[0]["aggregation"]])
        acc = [np.zeros(n), np.zeros(n), np.zeros(n)]
        for c in members:
            parts = cls._member_parts(comp, pre, c)
            total = parts[0] + parts[1] + parts[2]
            sd = float(np.std(total))
            if not np.isfinite(sd) or sd <= 1e-12:
                continue  # a constant member ranks nothing
            acc[0] += (parts[0] - float(np.mean(total))) / sd
            acc[1] += parts[1] / sd
            acc[2] += parts[2] / sd
        acc = [x / len(members) for x in acc]
        total = acc[0] + acc[1] + acc[2]
        sd = float(np.std(total))
        sd = sd if np.isfinite(sd) and sd > 1e-12 else 1.0
        return (acc[0] - float(np.mean(total))) / sd, acc[1] / sd, acc[2] / sd

    def _parts_of(self, comp: dict, pre) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.rule == "average":
            return self._average_parts(comp, pre, self.members_)
        return self._member_parts(comp, pre, self.members_[0])

    # --------------------------------------------------------------------- fit
    def fit(self, records):
        if not isinstance(records, ZooRecords):
            raise InputError(f"BlendSelector.fit expects ZooRecords. Got {type(records).__name__} instead.")
        check_in("rule", self.rule, RULES, "BlendSelector")
        for agg in self.aggregations:
            check_in("aggregations", agg, AGGREGATIONS, "BlendSelector")
        self.models_ = list(records.models)
        self.datasets_ = list(records.datasets)
        norm = records.normalized_matrix().reindex(columns=self.models_)
        if norm.empty:
            raise InputError("BlendSelector.fit: the records have no results to learn from.")
        self.train_datasets_ = list(norm.index)
        self.row_ = {d: i for i, d in enumerate(self.train_datasets_)}
        self.norm_ = norm.to_numpy(float)
        self.aggregations_ = tuple(self.aggregations)
        self.transformed_ = {agg: _transform(self.norm_, agg) for agg in self.aggregations_}
        self.distances_ = self._distances(records)
        self.neighbour_options_ = [(m, k) for m in self.distances_ for k in self.ks]
        self.prescores_ = self._prescores(records)
        trained_pre = [d for d in self.train_datasets_ if d in self.prescores_]
        self.prescore_weights_ = tuple(self.prescore_weights) if len(trained_pre) >= 2 else (0.0,)
        from scipy import stats  # lazily: a warm `mnc choose` unpickles this class without fitting

        cands = self._candidates()
        inner = [d for d in self.train_datasets_ if np.sum(~np.isnan(self.norm_[self.row_[d]])) >= 2]
        taus = np.full((len(cands), len(inner)), np.nan)
        sq = np.full((len(cands), len(inner)), np.nan)
        comps = {}
        if len(self.train_datasets_) >= 3:
            for j, t in enumerate(inner):
                pool = [d for d in self.train_datasets_ if d != t]
                comps[t] = comp = self._components(t, pool)
                truth = self.norm_[self.row_[t]]
                known = ~np.isnan(truth)
                if np.unique(truth[known]).size < 2:
                    continue
                pre = self.prescores_.get(t)
                for i, c in enumerate(cands):
                    s = self._combine(comp, pre, c)[known]
                    taus[i, j] = stats.weightedtau(truth[known], s).statistic if np.unique(s).size > 1 else 0.0
                    target = self.transformed_[c["aggregation"]][self.row_[t]][known]
                    sq[i, j] = float(np.mean((target - s) ** 2))
        mean = np.nanmean(taus, axis=1) if comps else np.zeros(len(cands))
        mean = np.where(np.isnan(mean), -np.inf, mean)
        # Among the candidates tied at the best inner tau, the one whose scores err least (so that the errors
        # behind the uncertainty are small where the ranking is right), then the simplest.
        tied = np.flatnonzero(mean >= mean.max() - 1e-9)
        err = np.nanmean(sq[tied], axis=1) if comps else np.zeros(tied.size)
        best = int(tied[np.argmin(err)])
        choice, band = best, [best]
        if self.rule in ("one_se", "average") and comps:
            row = taus[best][~np.isnan(taus[best])]
            se = float(row.std(ddof=1) / np.sqrt(row.size)) if row.size > 1 else 0.0
            band = [int(i) for i in np.flatnonzero(mean >= mean[best] - se)]
            choice = band[0]
        self.candidates_evaluated_ = len(cands)
        if self.rule == "average":
            return self._fit_average(cands, band, mean, comps, inner, stats)
        self.members_ = [cands[choice]]
        self.params_ = {**cands[choice], "inner_tau_w": float(mean[choice]) if comps else None,
                        "inner_folds": len(comps)}
        self.inner_tau_ = pd.Series(taus[choice], index=inner) if comps else pd.Series(dtype=float)
        errors = {}
        for t, comp in comps.items():
            s = self._combine(comp, self.prescores_.get(t), cands[choice])
            # In the units of the chosen prior, so that a perfectly predicted fold has no error.
            errors[t] = self.transformed_[cands[choice]["aggregation"]][self.row_[t]] - s
        self.inner_errors_ = pd.DataFrame(errors, index=self.models_).T
        return self

    def _fit_average(self, cands: list, band: list, mean: np.ndarray, comps: dict, inner: list, stats):
        self.members_ = members = [cands[i] for i in band]
        taus, errors = {}, {}
        for t, comp in comps.items():
            parts = self._average_parts(comp, self.prescores_.get(t), members)
            score = parts[0] + parts[1] + parts[2]
            truth = self.norm_[self.row_[t]]
            known = ~np.isnan(truth)
            if np.unique(truth[known]).size < 2:
                continue
            sd = float(np.std(truth[known]))
            # Standardised truth minus the (standardised) average: a perfectly ordered and spaced fold has no error.
            errors[t] = np.where(known, (truth - np.nanmean(truth)) / sd - score, np.nan)
            taus[t] = stats.weightedtau(truth[known], score[known]).statistic if np.unique(score[known]).size > 1 \
                else 0.0

        def joined(key):
            values = sorted({str(c[key]) for c in members if c[key] is not None and (key != "distance" or c["a"] > 0)})
            return "+".join(values) if values else None

        with_k = [c["k"] for c in members if c["a"] > 0]
        self.params_ = {"rule": "average", "members": len(members), "aggregation": joined("aggregation"),
                        "distance": joined("distance"), "k": float(np.mean(with_k)) if with_k else None,
                        "a": float(np.mean([c["a"] for c in members])),
                        "b": float(np.mean([c["b"] for c in members])),
                        "inner_tau_w": float(np.mean(list(taus.values()))) if taus else None,
                        "best_member_inner_tau_w": float(mean[band[0]]) if comps else None,
                        "inner_folds": len(comps)}
        self.inner_tau_ = pd.Series(taus, dtype=float).reindex([t for t in inner if t in taus])
        self.inner_errors_ = pd.DataFrame(errors, index=self.models_).T
        return self

    # ----------------------------------------------------------------- predict
    def _check(self, dataset) -> str:
        if not hasattr(self, "params_"):
            raise NotFittedError(self)
        dataset = str(dataset)
        if dataset not in self.datasets_:
            raise InputError(f"BlendSelector.predict: dataset {dataset!r} is not in the fitted records; add it "
                             "(with its distances, features or prescores) before predicting.")
        return dataset

    def _parts(self, dataset: str) -> dict:
        pool = [d for d in self.train_datasets_ if d != dataset]
        comp = self._components(dataset, pool)
        prior, shift, pre_shift = self._parts_of(comp, self.prescores_.get(dataset))
        weights: dict = {}
        for c in self.members_:  # each member's neighbour weights, averaged over the members
            names, w = self._neighbours(dataset, pool, c["distance"], c["k"]) if c["a"] > 0 else ([], np.empty(0))
            for name, x in zip(names, (w / w.sum()).tolist() if names else []):
                weights[name] = weights.get(name, 0.0) + x / len(self.members_)
        if weights:
            total = sum(weights.values())
            weights = {k: v / total for k, v in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))}
        return {"prior": prior, "neighbours": shift, "prescore": pre_shift, "neighbour_weights": weights}

    def predict(self, dataset) -> pd.Series:
        dataset = self._check(dataset)
        parts = self._parts(dataset)
        score = parts["prior"] + parts["neighbours"] + parts["prescore"]
        return pd.Series(score, index=self.models_, name=dataset, dtype=float)

    def explain(self, dataset, coverage: float = 0.9) -> dict:
        """How sure the ranking of ``dataset`` is, and what drove it.

        Returns
        -------
        dict
            ``scores`` (Series), ``p_best`` (Series: share of the inner folds' error vectors under which the
            model wins), ``low``/``high`` (10th/90th percentile of score + error), ``shortlist`` (the fewest
            top-scored models whose ``p_best`` adds up to ``coverage``), ``parts`` (prior, neighbour and
            prescore contribution per model), ``neighbours`` ({dataset: weight}), ``params`` and
            ``n_outcomes`` (inner folds behind the probabilities).
        """
        dataset = self._check(dataset)
        parts = self._parts(dataset)
        score = pd.Series(parts["prior"] + parts["neighbours"] + parts["prescore"], index=self.models_)
        errors = self.inner_errors_.reindex(columns=self.models_).fillna(0.0).to_numpy()
        if errors.shape[0] == 0:
            errors = np.zeros((1, len(self.models_)))
        outcomes = score.to_numpy()[None, :] + errors
        wins = np.bincount(np.argmax(outcomes, axis=1), minlength=len(self.models_)) / outcomes.shape[0]
        p_best = pd.Series(wins, index=self.models_)
        order = score.sort_values(ascending=False, kind="mergesort").index
        shortlist, total = [], 0.0
        for m in order:
            shortlist.append(m)
            total += p_best[m]
            if total >= coverage - 1e-12:
                break
        return {
            "scores": score, "p_best": p_best,
            "low": pd.Series(np.quantile(outcomes, 0.1, axis=0), index=self.models_),
            "high": pd.Series(np.quantile(outcomes, 0.9, axis=0), index=self.models_),
            "shortlist": shortlist,
            "parts": pd.DataFrame({k: parts[k] for k in ("prior", "neighbours", "prescore")}, index=self.models_),
            "neighbours": parts["neighbour_weights"], "params": dict(self.params_),
            "n_outcomes": int(outcomes.shape[0]),
        }
