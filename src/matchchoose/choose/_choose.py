"""Choose a model for a new dataset: profile it, link it to the knowledge base, rank the zoo.

:func:`choose` is ``mnc choose`` (paper 4.5):

1. profile the folder with the knowledge base's probe (or reuse its stored profile) and store its
   Fréchet distances to every profiled dataset (:func:`matchchoose.profile.profile_dataset`);
2. read the records of the quality metric with those distances and the profiles' mean embeddings
   as dataset features; the new dataset joins the matching graph with its distance edges and no
   model edge;
3. fit :class:`~matchchoose.rank.MatchChoose` on every recorded result (if the images are already
   in the knowledge base *with* results, those results are left out, as in leave-one-dataset-out,
   and shown beside the prediction), or load the fitted predictor from the cache: it is keyed by
   the records' content hash and the predictor's settings, so any change to the knowledge base
   invalidates it;
4. rank the models by predicted score, with the nearest known datasets and a shortlist.
"""

from __future__ import annotations

import json
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from .._cache import atomic_write, cache_dir, cache_key
from .._errors import InputError, KnowledgeBaseError
from ..kb import distance_metric_name
from .._validation import check_in
from ..records import Metric

__all__ = ["Choice", "choose", "resolve_metric", "resolve_probe"]

_PREDICTOR_CACHE_VERSION = 3  # 3: BlendSelector keeps members_

#: Selectors ``mnc choose`` can rank with; the default is the one the selection-suite protocol chose
#: (docs/benchmarks.md section 11).
CHOOSE_SELECTORS = ("blend", "mnc", "mnc[paper]")
DEFAULT_SELECTOR = "blend"


@dataclass
class Choice:
    """The answer of :func:`choose`.

    Attributes
    ----------
    dataset : str
        The new dataset's name in the knowledge base.
    metric : Metric
        Quality metric the models are ranked by.
    probe : str
        Probe key of the profiles and distances.
    ranking : DataFrame
        One row per model, best first: ``rank``, ``model``, ``score`` (predicted normalised score,
        higher is better), ``prior`` (the model's mean normalised score over the known datasets),
        and, when the dataset has recorded results, ``true_value`` and ``true_rank``.
    nearest : DataFrame
        The closest known datasets with results: ``dataset``, ``distance``, ``best_model``.
    shortlist : list of str
        The models to fine-tune first: with the ``blend`` selector, the fewest top-ranked models whose
        probability of being best adds up to ``coverage`` (its length follows the uncertainty); else the
        top ``top``.
    selector : str
        The selector that ranked (``blend``, the default; ``mnc``; ``mnc[paper]``).
    confidence : dict
        How sure the ranking is and what drove it (``blend`` only, else ``{}``): ``p_best_pick`` (the
        probability that the pick is the best), ``n_outcomes`` (the training datasets behind it),
        ``coverage``, ``params`` (the choices nested leave-one-dataset-out made on the knowledge base) and
        ``neighbours`` ({dataset: weight} of the nearest datasets that moved the ranking away from the prior).
    known_results : bool
        The dataset already had results in the knowledge base (left out of the fit).
    cache_hit : bool
        The fitted predictor came from the cache.
    timings : dict
        Seconds spent profiling, reading the knowledge base, fitting/loading and predicting.
    """

    dataset: str
    metric: Metric
    probe: str
    ranking: pd.DataFrame
    nearest: pd.DataFrame
    shortlist: list
    known_results: bool
    cache_hit: bool
    profile_reused: bool
    n_train_datasets: int
    timings: dict = field(default_factory=dict)
    selector: str = "blend"
    confidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready rendering (NaN as ``None``)."""

        def rows(frame):
            return json.loads(frame.to_json(orient="records"))

        return {
            "dataset": self.dataset, "metric": self.metric.name, "higher_is_better": self.metric.higher_is_better,
            "probe": self.probe, "shortlist": list(self.shortlist), "ranking": rows(self.ranking),
            "nearest": rows(self.nearest), "known_results": self.known_results, "cache_hit": self.cache_hit,
            "profile_reused": self.profile_reused, "n_train_datasets": self.n_train_datasets,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "selector": self.selector, "confidence": self.confidence,
        }


def resolve_probe(kb, probe: str | None) -> str:
    """The probe name to profile with: ``probe`` if given, else the one probe the knowledge base's
    profiles use; :class:`KnowledgeBaseError` when it has none or several."""
    if probe is not None:
        return probe
    keys = sorted(set(kb.profiles()["probe"]))
    if len(keys) == 1:
        if "@" in keys[0]:
            info = kb.find_profiles(keys[0])[0].probe_info
            raise KnowledgeBaseError(
                f"The knowledge base {kb.path} was profiled with probe {keys[0]!r}, non-default weights "
                f"({info.get('weights', '?')}): pass --probe {keys[0].split('@')[0]} --probe-weights with those weights.")
        return keys[0]
    if not keys:
        raise KnowledgeBaseError(
            f"The knowledge base {kb.path} has no dataset profiles, so a new dataset cannot be compared with its "
            "datasets: profile each of them with 'mnc profile DIR --name NAME --probe PROBE'.")
    raise KnowledgeBaseError(f"The knowledge base {kb.path} has profiles of several probes ({', '.join(keys)}): "
                             "pick one with --probe.")


def resolve_metric(kb, metric: str | None) -> str:
    """The result metric to rank by (``mnc choose`` and ``mnc evaluate``): ``metric``, else the only
    metric with results, else the knowledge base's :attr:`~matchchoose.kb.KnowledgeBase.default_metric`."""
    summary = kb.summary() if kb.exists() else {"results": {}}
    available = sorted(summary["results"])
    if not available:
        raise KnowledgeBaseError(
            f"The knowledge base {kb.path} has no recorded results: import some with 'mnc kb import FILE --kind "
            "results' (or run 'mnc grid'), then profile their datasets with 'mnc profile'.")
    if metric is None:
        if len(available) > 1 and kb.default_metric in available:
            return kb.default_metric
        if len(available) > 1:
            raise KnowledgeBaseError(f"The knowledge base {kb.path} has results for several metrics "
                                     f"({', '.join(available)}): pick one with --metric.")
        return available[0]
    return metric


def _check_linkable(kb, metric: str, probe: str) -> None:
    """Refuse, before profiling a folder, a knowledge base where no dataset has both ``metric``
    results and a ``probe`` profile: the new dataset could not be linked to any result."""
    with_results = set(kb.datasets_with_results(metric))
    profiles = kb.profiles()
    profiled = {d for d, p in zip(profiles["dataset"], profiles["probe"]) if p.split("@")[0] == probe}
    if not with_results & profiled:
        raise KnowledgeBaseError(
            f"No dataset with {metric!r} results in {kb.path} has a {probe!r} profile, so nothing would link the "
            f"folder to the recorded results: profile the datasets that have results with "
            f"'mnc profile DIR --name NAME --probe {probe}' (nothing was profiled or stored).")


def _predictor_cache_path(cache, key: str) -> Path | None:
    if cache is False or cache is None:
        return None
    return cache_dir("predictors", None if cache is True else cache) / f"{key}.pkl"


def _make_selector(params: dict):
    params = dict(params)
    if params.pop("selector") == "blend":
        from ..evaluate import BlendSelector

        return BlendSelector(**params)
    from ..rank import MatchChoose

    return MatchChoose(**params)


def _fit_or_load(records, target: str, params: dict, cache):
    key = cache_key({"records": records.content_hash(), "target": target, "params": params,
                     "version": __version__, "format": _PREDICTOR_CACHE_VERSION})
    path = _predictor_cache_path(cache, key)
    if path is not None and path.exists():
        try:
            with path.open("rb") as fh:
                return pickle.load(fh), True
        except Exception:  # a truncated or stale cache file is rebuilt, never trusted
            path.unlink(missing_ok=True)
    model = _make_selector(params).fit(records)
    if path is not None:
        atomic_write(path, lambda fh: pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL))
    return model, False


def _given_truth(truth, records, target: str) -> pd.Series:
    models = set(records.models)
    values = pd.Series({str(k): float(v) for k, v in dict(truth).items()}, dtype=float)
    unknown = sorted(set(values.index) - models)
    if unknown:
        raise InputError(f"The known results of {target!r} name models the knowledge base does not have: "
                         f"{', '.join(unknown)} (it has {', '.join(sorted(models))}).")
    if values.empty or not np.isfinite(values.to_numpy()).all():
        raise InputError(f"The known results of {target!r} must be finite numbers, one per model.")
    return values


def choose(kb, path=None, *, dataset: str | None = None, name: str | None = None, metric: str | None = None,
           probe: str | None = None, probe_options: dict | None = None, top: int | None = None,
           predictor: str = "catboost", random_state: int = 0, cache=True, batch_size: int | None = None,
           n_nearest: int = 3, progress: bool = False, truth=None, fidelity: float | None = None,
           selector: str = DEFAULT_SELECTOR, coverage: float = 0.9, graph_learner: str = "node2vec+") -> Choice:
    """Rank the zoo of ``kb`` for the image folder ``path`` (or the stored ``dataset``).

    Parameters
    ----------
    kb : KnowledgeBase
    path : str or Path, optional
        Image folder of the new dataset. Give ``path`` or ``dataset``.
    dataset : str, optional
        A dataset already profiled in ``kb`` (no folder needed).
    name : str, optional
        Name for the folder's dataset (default: see :func:`~matchchoose.profile.profile_dataset`).
    metric : str, optional
        Quality metric; default: the only one with results.
    probe : str, optional
        Probe name; default: the one the knowledge base's profiles use.
    top : int, optional
        Shortlist length; default: as long as the uncertainty requires (``coverage``) with ``blend``, 3
        otherwise.
    predictor, graph_learner, random_state :
        :class:`~matchchoose.rank.MatchChoose` settings (``mnc`` selectors only; the rest are its defaults):
        ``graph_learner`` is a name of :data:`matchchoose.graph.EMBEDDERS`.
    selector : {"blend", "mnc", "mnc[paper]"}
        ``blend`` (default, chosen by the selection-suite protocol, docs/benchmarks.md section 11): Overall's prior
        moved by the nearest datasets and prescores, tuned by nested leave-one-dataset-out;
        ``mnc``: Match & Choose with priors; ``mnc[paper]``: the paper-faithful Match & Choose.
    coverage : float in (0, 1]
        Probability of holding the best model that the uncertainty-sized shortlist reaches.
    cache : bool or path
        Cache of fitted predictors and graph embeddings (``$MNC_CACHE_DIR``).
    truth : mapping, optional
        Known results of this dataset that the knowledge base does not hold (``{model: value}``
        in ``metric``, e.g. an example's published results): shown as ``true_value`` and
        ``true_rank`` beside the ranking, never used to rank. Recorded results win.
    fidelity : float, optional
        Train on the results at this fidelity (e.g. training steps) instead of each (model,
        dataset) pair's target, its largest fidelity (see :meth:`KnowledgeBase.records`).

    Returns
    -------
    Choice

    Notes
    -----
    Requests that cannot succeed (no results, no profiles of the probe, no dataset with both) are
    refused before the folder is profiled. A profile made before a later failure is kept, with its
    distances: it describes the images, not the ranking, so the next run reuses it instead of
    profiling again (remove it with :meth:`KnowledgeBase.remove_datasets`).
    """
    if (path is None) == (dataset is None):
        raise InputError("choose needs an image folder or the name of a profiled dataset (one of the two).")
    if top is not None and (not isinstance(top, int) or top < 1):
        raise InputError(f"--top must be a positive integer, got {top!r}.")
    check_in("selector", selector, CHOOSE_SELECTORS)
    from ..graph import EMBEDDERS

    check_in("graph_learner", graph_learner, EMBEDDERS)
    timings = {}
    t0 = time.perf_counter()
    metric_name = resolve_metric(kb, metric)
    probe_name = resolve_probe(kb, probe)
    if path is not None:
        _check_linkable(kb, metric_name, probe_name)
    target, probe_key, reused = _profile_target(kb, path, dataset, name=name, probe_name=probe_name,
                                                probe_options=probe_options, batch_size=batch_size,
                                                progress=progress)
    timings["profile"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    linked = _link(kb, target, metric_name, probe_key, probe_name, fidelity=fidelity, truth=truth)
    timings["read"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    params = {"selector": selector}
    if selector != "blend":
        params.update(predictor=predictor, random_state=int(random_state), priors=selector == "mnc")
        if graph_learner != "node2vec+":  # the default keeps the cache keys of predictors fitted before it existed
            params["graph_learner"] = graph_learner
    model, hit = _fit_or_load(linked.train, target, params, cache)
    timings["fit" if not hit else "load"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    explained = model.explain(target, coverage=coverage) if hasattr(model, "explain") else None
    ranking = _rank(model, target, linked, explained)
    nearest = _nearest(kb, target, linked, n_nearest)
    timings["predict"] = time.perf_counter() - t0
    confidence = {}
    if explained is not None:
        shortlist = explained["shortlist"] if top is None else list(ranking["model"].head(top))
        confidence = {"p_best_pick": float(ranking["p_best"].iloc[0]), "n_outcomes": explained["n_outcomes"],
                      "coverage": float(coverage), "params": explained["params"],
                      "neighbours": {k: float(v) for k, v in explained["neighbours"].items()}}
    else:
        shortlist = list(ranking["model"].head(3 if top is None else top))
    return Choice(dataset=target, metric=linked.records.metric, probe=probe_key, ranking=ranking, nearest=nearest,
                  shortlist=shortlist, known_results=linked.truth is not None,
                  cache_hit=hit, profile_reused=reused, n_train_datasets=len(linked.usable), timings=timings,
                  selector=selector, confidence=confidence)


def _profile_target(kb, path, dataset, *, name, probe_name, probe_options, batch_size, progress):
    """Stage 1: the folder's profile and distances (made, or found again), or a stored dataset's
    distances brought up to date; returns ``(dataset, probe key, profile reused)``."""
    if path is not None:
        from ..profile import profile_dataset

        result = profile_dataset(kb, path, name=name, probe=probe_name, probe_options=probe_options,
                                 batch_size=batch_size, progress=progress)
        return result.dataset, result.profile.probe, result.reused
    matches = kb.profiles(dataset=dataset)
    matches = matches[matches["probe"].str.split("@").str[0] == probe_name]
    if matches.empty:
        raise KnowledgeBaseError(f"Dataset {dataset!r} has no {probe_name!r} profile in {kb.path}: profile it "
                                 f"with 'mnc profile DIR --name {dataset} --probe {probe_name}'.")
    probe_key = matches["probe"].iloc[0]
    from ..profile import update_distances

    update_distances(kb, dataset, probe_key, matches["preprocess"].iloc[0])
    return dataset, probe_key, True


@dataclass(frozen=True)
class _Linked:
    """Stage 2: what the knowledge base knows about the target, linked by distance."""

    records: object  # ZooRecords: the target and the datasets linked to it
    train: object  # ZooRecords: the same without the target's results
    truth: pd.Series | None  # the target's known results (recorded or given), raw metric values
    usable: list  # datasets with results, a profile and a distance to the target
    distance_metric: str


def _link(kb, target, metric_name, probe_key, probe_name, *, fidelity, truth) -> _Linked:
    dmetric = distance_metric_name(probe_key)
    profiled = set(kb.profiles(probe=probe_key)["dataset"])
    linked = set(kb.distances_of(target, dmetric))
    all_records = kb.records(metric_name, distance_metric=dmetric if linked else None, profile_probe=probe_key,
                             fidelity=fidelity)
    with_results = set(all_records.results["dataset"])
    usable = sorted((with_results & profiled & linked) - {target})
    if not usable:
        raise KnowledgeBaseError(
            f"No dataset with {metric_name!r} results in {kb.path} has a {probe_key!r} profile, so nothing links "
            f"{target!r} to the recorded results: profile the datasets that have results with "
            f"'mnc profile DIR --name NAME --probe {probe_name}'.")
    records = all_records.subset(datasets=sorted(set(usable) | {target}))
    if target in with_results:
        truth = records.truth(target)
    elif truth is not None:
        truth = _given_truth(truth, records, target)
    train = records.without_results([target]) if truth is not None else records
    return _Linked(records=records, train=train, truth=truth, usable=usable, distance_metric=dmetric)


def _rank(model, target: str, linked: _Linked, explained=None) -> pd.DataFrame:
    """Stage 4: the models by predicted score (ties by name), with the prior and, when known, the truth;
    with an explanation, also each model's probability of being best, its 80 % interval and the parts of its
    score (prior, nearest datasets, prescore)."""
    scores = model.predict(target) if explained is None else explained["scores"]
    prior = linked.train.normalized_matrix().mean(axis=0).reindex(scores.index)
    ranking = pd.DataFrame({"model": scores.index, "score": scores.to_numpy(), "prior": prior.to_numpy()})
    if explained is not None:
        ranking["p_best"] = explained["p_best"].reindex(scores.index).to_numpy()
        ranking["low"] = explained["low"].reindex(scores.index).to_numpy()
        ranking["high"] = explained["high"].reindex(scores.index).to_numpy()
        parts = explained["parts"].reindex(scores.index)
        ranking["from_prior"] = parts["prior"].to_numpy()
        ranking["from_neighbours"] = parts["neighbours"].to_numpy()
        ranking["from_prescore"] = parts["prescore"].to_numpy()
    ranking = ranking.sort_values(["score", "model"], ascending=[False, True], kind="mergesort")
    ranking.insert(0, "rank", np.arange(1, len(ranking) + 1))
    truth = linked.truth
    if truth is not None:
        oriented = pd.Series(linked.records.metric.orient(truth.to_numpy()), index=truth.index)
        true_rank = oriented.rank(ascending=False, method="min")
        ranking["true_value"] = ranking["model"].map(truth)
        ranking["true_rank"] = ranking["model"].map(true_rank)
    return ranking.reset_index(drop=True)


def _nearest(kb, target: str, linked: _Linked, n: int) -> pd.DataFrame:
    """The ``n`` closest linked datasets, with the model best there."""
    distances = kb.distances_of(target, linked.distance_metric)
    best = linked.train.utility_matrix().idxmax(axis=1)
    usable = set(linked.usable)
    near = sorted(((d, v) for d, v in distances.items() if d in usable), key=lambda x: (x[1], x[0]))[:n]
    return pd.DataFrame({"dataset": [d for d, _ in near], "distance": [v for _, v in near],
                         "best_model": [best.get(d) for d, _ in near]})
