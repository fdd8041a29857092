"""Budgeted selection for real: fine-tune, sample and score on the user's folder (``mnc race``).

:class:`FinetuneRuns` is the ``run(model, fidelity) -> score`` that :func:`race` (or a baseline)
calls: it trains the model on the folder's training split up to ``fidelity`` steps, resuming from
its last checkpoint (each stage is a prefix of the full run: the learning rate does not depend on
the total number of steps), samples the held-out captions, scores the images and records every
score in the knowledge base with its fidelity and protocol. It uses the grid's own stages
(:func:`matchchoose.grid.train_to`, :func:`~matchchoose.grid.draw_and_score`) and provenance, so a
race's results are grid results of the same protocol.

:func:`race_folder` puts the real run together: the prior (the selector's prediction, computed as
``mnc choose`` does, or given), the zero-shot scores (the pretrained models sampled and scored:
prescores, no training), the other datasets' learning curves from the knowledge base (what the
race learns its promotions from), the procedure, and the trace.

Resuming. The knowledge base is the state: a score already recorded for this dataset, protocol
(``grid_recipe`` hash) and fidelity is read, never recomputed, and the prior is saved beside the
runs (``prior.json``) and read again, so a rerun after an interruption makes the same decisions,
trains only what was not finished (from the checkpoints) and a rerun after completion trains
nothing. A larger budget continues where the last run stopped.

Layout of ``out_dir``::

    OUT/<dataset>/<recipe hash>/prior.json              the prior the race entered with
    OUT/<dataset>/<recipe hash>/<model>/finetune/       checkpoints/, adapter/ (one run, staged)
    OUT/<dataset>/<recipe hash>/<model>/finetune-branch-N/  N steps, when the run went past N unscored
    OUT/<dataset>/<recipe hash>/<model>/samples-stepN/  images after N steps
    OUT/<dataset>/<recipe hash>/<model>/pretrained/     images of the pretrained model (zero-shot)
    OUT/<dataset>/<recipe hash>/race.json               the last trace
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import InputError, KnowledgeBaseError
from ._evidence import CurveBank
from ._procedure import PROCEDURES

__all__ = ["FinetuneRuns", "RaceRun", "default_fidelities", "race_folder"]


def _quiet_loading():
    """No diffusers / transformers loading bars between the race's own progress lines."""
    from ..finetune.families import quiet_loading

    return quiet_loading()


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))


class FinetuneRuns:
    """``run(model, fidelity) -> score`` by fine-tuning, sampling and scoring for real.

    Parameters
    ----------
    kb : KnowledgeBase
        Where every score is recorded (and found again on a rerun).
    spec : GridSpec
        The protocol: models (name -> pipeline folder), the one dataset (name -> image folder),
        recipe (its ``steps`` is the target fidelity), sampling and scoring. Its recipe hash
        identifies the scores that may be reused.
    run_dir : path
        ``OUT/<dataset>/<recipe hash>``: one folder per model.
    progress : callable, optional
        ``progress(event)`` with ``event`` a dict (``what``: "start" | "done", ``model``,
        ``fidelity``, ...), before and after every run.
    train_progress : bool
        The trainer's own progress bar (stderr).

    Attributes
    ----------
    steps_trained : int
        Training steps run by this object (0 when every score was already recorded).
    log : list of dict
        One entry per call: ``model``, ``fidelity``, ``score``, ``source`` ("ran" or
        "recorded"), ``steps_trained``, ``seconds``.

    Examples
    --------
    >>> from matchchoose.grid import GridSpec                                          # doctest: +SKIP
    >>> spec = GridSpec(models={"sd15": "zoo/sd15"}, datasets={"pets": "pets/"}, out_dir="runs",
    ...                 recipe={"steps": 2000}, probe="dinov2", prescore=False)           # doctest: +SKIP
    >>> run = FinetuneRuns(kb, spec, "runs/pets")                                      # doctest: +SKIP
    >>> run("sd15", 500), run("sd15", 2000), run.steps_trained                         # doctest: +SKIP
    (31.2, 24.7, 2000)
    """

    def __init__(self, kb, spec, run_dir, *, progress=None, train_progress: bool = False):
        from ..grid import provenance
        from ..profile import get_probe
        from ..score import metric_name

        if len(spec.datasets) != 1:
            raise InputError("FinetuneRuns runs on one dataset: give the spec exactly one.")
        self.kb, self.spec, self.run_dir = kb, spec, Path(run_dir)
        (self.dataset, self.folder), = spec.datasets.items()
        self.protocol = spec.protocol()
        self.recipe_hash = spec.recipe_hash()
        self.provenance = provenance(spec)
        self.metric = metric_name(spec.score_kinds[0], get_probe(spec.probe, **dict(spec.probe_options)).key)
        self.progress, self.train_progress = progress, train_progress
        self.steps_trained = 0
        self.log: list = []
        self._split = None
        self._results, self._prescores = self._recorded()

    # ------------------------------------------------------------------ the knowledge base as state
    def _recorded(self) -> tuple[dict, dict]:
        """Scores of this dataset, metric and protocol already in the knowledge base:
        ``{(model, fidelity): value}`` and ``{model: prescore}`` (means over repeats)."""
        try:
            rows = self.kb.curves(self.metric, per_row=True, prescores=True, datasets=[self.dataset])
        except KnowledgeBaseError:  # metric or dataset not stored yet: nothing recorded
            return {}, {}
        mine = rows[np.array([(p or {}).get("grid_recipe") == self.recipe_hash for p in rows["provenance"]], bool)]
        results, prescores = {}, {}
        for (model, fidelity, kind), value in mine.groupby(["model", "fidelity", "kind"])["value"].mean().items():
            if kind == "prescore":
                prescores[str(model)] = float(value)
            else:
                results[(str(model), float(fidelity))] = float(value)
        return results, prescores

    def _record(self, scores, model: str, *, fidelity=None) -> float:
        from ..score import record_score

        for score in scores:
            record_score(self.kb, score, model=model, dataset=self.dataset, prescore=fidelity is None,
                         protocol=self.provenance, **({} if fidelity is None else {"fidelity": float(fidelity)}))
        found = [s.value for s in scores if s.metric == self.metric]
        if not found:
            raise InputError(f"Scoring {model!r} on {self.dataset!r} gave no {self.metric!r} score.")
        return float(found[0])

    # ------------------------------------------------------------------ runs
    def _data(self):
        if self._split is None:
            from ..grid import split_target

            self._split = split_target(self.folder, self.protocol)
        return self._split

    def _model_dir(self, model: str) -> Path:
        return self.run_dir / _safe(model)

    def _path(self, model: str) -> str:
        if model not in self.spec.models:
            raise InputError(f"Model {model!r} is not among the race's models ({', '.join(self.spec.models)}).")
        return str(self.spec.models[model])

    def _run_folder(self, model: str, steps: int) -> Path:
        """The fine-tuning folder that reaches ``steps``: the model's run, unless an earlier race took
        it beyond ``steps`` without scoring there; then a branch started from a copy of the run's
        newest checkpoint at or below ``steps`` (every stage checkpoint is kept), which continues it
        exactly as the run did (each step depends only on the seed and its index)."""
        import shutil

        from ..finetune._layout import checkpoints

        main = self._model_dir(model) / "finetune"
        found = checkpoints(main)
        if not found or found[-1][0] <= steps:
            return main
        branch = self._model_dir(model) / f"finetune-branch-{steps}"
        below = [(step, folder) for step, folder in found if step <= steps]
        if below and not checkpoints(branch):
            step, folder = below[-1]
            shutil.copytree(folder, branch / "checkpoints" / folder.name)
        return branch

    def __call__(self, model, fidelity) -> float:
        model, fidelity = str(model), float(fidelity)
        key = (model, fidelity)
        if key in self._results:
            self.log.append({"model": model, "fidelity": fidelity, "score": self._results[key],
                             "source": "recorded", "steps_trained": 0, "seconds": 0.0})
            return self._results[key]
        if fidelity != int(fidelity) or fidelity < 1:
            raise InputError(f"Fidelities of a real run are training steps (integers >= 1); got {fidelity:g}.")
        from ..finetune import Recipe
        from ..grid import draw_and_score, train_to
        from ..sample import load_pipeline

        self._emit("start", model=model, fidelity=fidelity)
        started = time.perf_counter()
        train, val, captions = self._data()
        recipe = Recipe.from_dict(self.protocol["recipe"], source=f"race recipe of {model}")
        result = train_to(self._path(model), train, self._run_folder(model, int(fidelity)), recipe, int(fidelity),
                          progress=self.train_progress)
        trained = int(fidelity) - int(result.resumed_from or 0)
        self.steps_trained += trained
        with _quiet_loading():
            pipe = load_pipeline(self._path(model), adapter_dir=result.adapter_dir,
                                 dtype=self.protocol.get("sample_dtype"))
        scores = draw_and_score(pipe, captions, val, self._model_dir(model) / f"samples-step{int(fidelity)}",
                                self.protocol, int(self.protocol["seed"]))
        del pipe
        value = self._record(scores, model, fidelity=fidelity)
        self._results[key] = value
        seconds = time.perf_counter() - started
        self.log.append({"model": model, "fidelity": fidelity, "score": value, "source": "ran",
                         "steps_trained": trained, "seconds": round(seconds, 3)})
        self._emit("done", model=model, fidelity=fidelity, score=value, steps_trained=trained, seconds=seconds)
        return value

    def zero_shot(self, models) -> pd.Series:
        """The pretrained models' scores on the held-out captions (prescores; recorded, or
        sampled and scored now and recorded): compute 0 in the budget, sampling time only."""
        from ..grid import draw_and_score
        from ..sample import load_pipeline

        out = {}
        for model in map(str, models):
            if model not in self._prescores:
                self._emit("start", model=model, fidelity=0.0)
                started = time.perf_counter()
                _, val, captions = self._data()
                with _quiet_loading():
                    pipe = load_pipeline(self._path(model), dtype=self.protocol.get("sample_dtype"))
                scores = draw_and_score(pipe, captions, val, self._model_dir(model) / "pretrained", self.protocol,
                                        int(self.protocol["seed"]))
                del pipe
                self._prescores[model] = self._record(scores, model)
                self._emit("done", model=model, fidelity=0.0, score=self._prescores[model], steps_trained=0,
                           seconds=time.perf_counter() - started)
            out[model] = self._prescores[model]
        return pd.Series(out, dtype=float)

    def _emit(self, what: str, **info) -> None:
        if self.progress is not None:
            self.progress({"what": what, **info})


# ---------------------------------------------------------------------- inputs of the race
def _history(kb, metric: str, dataset: str, models) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The other datasets' curves (``model, dataset, fidelity, value``) and prescores (``model,
    dataset, value``) of ``metric`` for ``models``; empty frames when there are none."""
    empty = (pd.DataFrame(columns=["model", "dataset", "fidelity", "value"]),
             pd.DataFrame(columns=["model", "dataset", "value"]))
    try:
        rows = kb.curves(metric, per_row=True, prescores=True)
    except KnowledgeBaseError:
        return empty
    rows = rows[(rows["dataset"] != dataset) & rows["model"].isin(list(models))]
    results = rows[(rows["kind"] == "result") & np.isfinite(rows["fidelity"].astype(float))]
    curves = results.groupby(["model", "dataset", "fidelity"], as_index=False)["value"].mean()
    zero = rows[rows["kind"] == "prescore"].groupby(["model", "dataset"], as_index=False)["value"].mean()
    return curves, zero


def default_fidelities(curves: pd.DataFrame, models, target: int) -> list:
    """The rungs of a race to ``target`` steps: the fidelities at which at least two other datasets
    have a score of every model, when those curves end at ``target`` too (so the race's promotions
    are learned from them); else a quarter, a half and the whole of ``target``.

    Examples
    --------
    >>> default_fidelities(pd.DataFrame(columns=["model", "dataset", "fidelity", "value"]), ["a"], 1000)
    [250, 500, 1000]
    """
    models = list(models)
    counts: dict = {}
    for _, frame in curves.groupby("dataset"):
        table = frame.pivot_table(index="model", columns="fidelity", values="value")
        if not set(models) <= set(table.index):
            continue
        complete = table.loc[models].notna().all()
        if complete.get(float(target), False):
            for f in complete.index[complete.to_numpy()]:
                counts[float(f)] = counts.get(float(f), 0) + 1
    learned = sorted(int(f) for f, n in counts.items() if n >= 2 and 1 <= f <= target and f == int(f))
    if len(learned) >= 2 and learned[-1] == target:
        return learned
    return sorted({max(1, target // 4), max(1, target // 2), int(target)})


def read_prior(path) -> pd.Series:
    """A prior from a CSV (``model`` and ``score``, higher = better) or a ``prior.json``."""
    path = Path(path)
    if path.suffix == ".json":
        return pd.Series(json.loads(path.read_text())["prior"], dtype=float)
    try:
        frame = pd.read_csv(path)
    except Exception as exc:  # pandas raises many types for unreadable CSV
        raise InputError(f"Cannot read the prior file {str(path)!r}: {exc}.") from exc
    if not {"model", "score"} <= set(frame.columns):
        raise InputError(f"The prior file {str(path)!r} needs the columns 'model' and 'score' (higher = better); "
                         f"it has {', '.join(map(str, frame.columns))}.")
    values = pd.to_numeric(frame["score"], errors="coerce")
    if values.isna().any() or frame["model"].duplicated().any():
        raise InputError(f"The prior file {str(path)!r}: column 'score' must hold one number per model.")
    return pd.Series(values.to_numpy(float), index=frame["model"].astype(str))


# ---------------------------------------------------------------------- the run
@dataclass
class RaceRun:
    """What :func:`race_folder` did: the pick, the trace and the compute.

    Attributes
    ----------
    pick : str
    trace : list of dict
        Every run the procedure asked for, in order: ``model``, ``fidelity`` (steps), ``score``
        (raw metric value), ``compute`` (the steps it cost the budget: the increment over what
        that model had reached), ``source`` ("ran" now, or "recorded" earlier), ``steps_trained``
        (steps run now) and ``seconds``.
    spent : float
        Compute charged to the budget (training steps), whether run now or earlier.
    steps_trained : int
        Training steps run by this call (0 on a rerun of a finished race).
    finished : bool
        The last run of ``trace`` trained the pick to the target after the procedure had decided
        (``finish``), with budget it left unspent.
    """

    dataset: str
    metric: str
    higher_is_better: bool
    procedure: str
    budget: float
    fidelities: list
    pick: str
    spent: float
    steps_trained: int
    trace: list
    schedule: list
    prior: dict
    prior_source: str
    zero_shot: dict | None
    recipe_hash: str
    run_dir: str
    learned_from: list = field(default_factory=list)
    finished: bool = False
    seconds: float = 0.0

    @property
    def exhaustive(self) -> float:
        """Compute of the exhaustive grid: every model to the target."""
        return len(self.prior) * self.fidelities[-1]

    @property
    def pick_trained(self) -> bool:
        """Whether the pick was trained to the target within the budget."""
        return any(t["model"] == self.pick and t["fidelity"] == self.fidelities[-1] for t in self.trace)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(target=self.fidelities[-1], exhaustive=self.exhaustive, pick_trained=self.pick_trained,
                   compute_fraction=self.spent / self.exhaustive if self.exhaustive else None)
        return out


def race_folder(kb, folder, *, models: dict, budget: float, spec_options: dict, out_dir, dataset: str | None = None,
                fidelities=None, zero_shot: bool = True, prior=None, procedure: str = "race",
                choose_options: dict | None = None, new_prior: bool = False, finish: bool = True,
                progress=None, train_progress: bool = False) -> RaceRun:
    """Run a budgeted selection for real on the image folder ``folder``.

    Parameters
    ----------
    kb : KnowledgeBase
        Gives the prior (its recorded results, as ``mnc choose``) and the other datasets' curves;
        receives every score.
    folder : path
        The target images (with captions); split into training and held-out images by the
        protocol's ``val_fraction`` and ``seed``.
    models : dict
        name -> local diffusers pipeline folder: the candidates (each needs a prior score).
    budget : float
        Training steps, in total over all models (the exhaustive grid is ``len(models) *
        target``).
    spec_options : dict
        :class:`~matchchoose.grid.GridSpec` fields: ``recipe`` (its ``steps`` is the target
        fidelity), ``n_samples``, ``sample_steps``, ``guidance_scale``, ``sample_resolution``,
        ``probe``, ``probe_options``, ``score_kinds`` (the first is the race's metric),
        ``val_fraction``, ``seed``, ``sample_batch_size``, ``sample_dtype``.
    out_dir : path
        Run folders (see the module docstring).
    dataset : str, optional
        The folder's name in the knowledge base (default: the folder's name).
    fidelities : list of int, optional
        The rungs (training steps); the target is added. Default: :func:`default_fidelities`.
    zero_shot : bool
        Sample and score the pretrained models first (prescores; no training).
    prior : Series, optional
        Scores (higher = better) per model instead of the selector's prediction.
    procedure : {"race", "subtune", "prior_topk"}
    choose_options : dict, optional
        Keyword arguments of :func:`matchchoose.choose.choose` (``probe``, ``predictor``,
        ``random_state``, ...): how the prior is predicted.
    new_prior : bool
        Predict the prior again instead of reading the one saved by an earlier run.
    finish : bool
        When the procedure decides without training its pick to the target (it may stop early when
        the evidence it learned from other datasets is decisive), train the pick to the target if
        the budget left allows: the model the user wanted, fine-tuned.
    progress : callable, optional
        See :class:`FinetuneRuns`.

    Returns
    -------
    RaceRun

    Examples
    --------
    >>> run = race_folder(KnowledgeBase("kb.sqlite"), "pets/", models={"sd15": "zoo/sd15", "sdxl": "zoo/sdxl"},
    ...                   budget=3000, spec_options={"recipe": {"steps": 2000}}, out_dir="runs")  # doctest: +SKIP
    >>> run.pick, run.spent, [(t["model"], t["fidelity"]) for t in run.trace]                   # doctest: +SKIP
    ('sdxl', 3000.0, [('sdxl', 500.0), ('sd15', 500.0), ('sdxl', 2000.0)])
    """
    from ..grid import GridSpec

    started = time.perf_counter()
    if procedure not in PROCEDURES:
        raise InputError(f"Unknown budgeted procedure {procedure!r}: choose from {', '.join(PROCEDURES)}.")
    if not models:
        raise InputError("A race needs at least one model.")
    if not Path(folder).is_dir():
        raise InputError(f"{str(folder)!r} is not a folder of images.")
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not np.isfinite(budget) or budget < 0:
        raise InputError(f"--budget must be a number of training steps >= 0; got {budget!r}.")
    options = dict(spec_options)
    options.setdefault("probe", "dinov2")
    options["score_kinds"] = tuple(options.get("score_kinds") or ("fd",))[:1]
    name = dataset or Path(folder).resolve().name
    spec = GridSpec(models={str(k): str(v) for k, v in models.items()}, datasets={name: str(folder)},
                    out_dir=str(out_dir), prescore=False, **options)  # prescores never change a fine-tuned score
    metric = FinetuneRuns(kb, spec, Path(out_dir)).metric  # validates the probe before anything runs
    target = int(spec.protocol()["recipe"]["steps"])
    _check_fidelities(fidelities or [target], target)
    higher = kb.metric(metric).higher_is_better if _known_metric(kb, metric) else False  # scores: lower is better
    run_dir = Path(out_dir) / _safe(name) / spec.recipe_hash()
    saved = run_dir / "prior.json"
    if prior is not None:
        prior, prior_source = pd.Series(prior, dtype=float), "given"
    elif saved.is_file() and not new_prior:
        # a rerun enters with the prior it started with, so it asks for the same runs
        prior, prior_source = read_prior(saved), json.loads(saved.read_text()).get("source", "mnc")
    else:
        from ..choose import DEFAULT_SELECTOR

        prior = _predict_prior(kb, folder, metric, name, choose_options or {})
        prior_source = str((choose_options or {}).get("selector", DEFAULT_SELECTOR))
    missing = [m for m in spec.models if m not in prior.index or not np.isfinite(prior[m])]
    if missing:
        raise InputError(f"No prior score for model {missing[0]!r}: the knowledge base's zoo "
                         f"({', '.join(map(str, prior.index))}) does not have it; rename its folder, leave it out "
                         "(--models) or give a prior (--prior FILE).")
    prior = prior[list(spec.models)]
    run_dir.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps({"prior": prior.to_dict(), "source": prior_source}, indent=1, sort_keys=True))

    runs = FinetuneRuns(kb, spec, run_dir, progress=progress, train_progress=train_progress)
    curves, others_zero = _history(kb, runs.metric, name, spec.models)
    rungs = sorted({int(f) for f in (fidelities or default_fidelities(curves, spec.models, target))} | {target})
    zs = runs.zero_shot(spec.models) if zero_shot else None
    history = CurveBank.from_frames(curves, higher, others_zero if zero_shot and len(others_zero) else None) \
        if len(curves) else None
    selection = PROCEDURES[procedure](list(spec.models), prior=prior, run=runs, budget=float(budget),
                                      fidelities=rungs, higher_is_better=higher, zero_shot=zs, history=history)
    done, spent = list(selection.trace), float(selection.spent)
    reached = max((float(f) for m, f, _ in done if m == selection.pick), default=0.0)
    finished = finish and reached < target and target - reached <= float(budget) - spent + 1e-9 * max(1.0, budget)
    if finished:  # the race is sure of its pick early: the budget left trains it to the target
        done.append([selection.pick, float(target), runs(selection.pick, target)])
        spent += target - reached
    trace = _trace(done, runs.log)
    learned = [] if history is None else [
        d.name for d in history.usable(list(spec.models), [float(f) for f in rungs])
        if zs is None or (d.zero_shot is not None and set(spec.models) <= set(d.zero_shot.index))]
    out = RaceRun(dataset=name, metric=runs.metric, higher_is_better=higher, procedure=procedure,
                  budget=float(budget), fidelities=rungs, pick=selection.pick, spent=spent, finished=bool(finished),
                  steps_trained=runs.steps_trained, trace=trace, schedule=selection.schedule,
                  prior={k: float(v) for k, v in prior.items()}, prior_source=prior_source,
                  zero_shot=None if zs is None else {k: float(v) for k, v in zs.items()},
                  recipe_hash=runs.recipe_hash, run_dir=str(run_dir), learned_from=learned,
                  seconds=time.perf_counter() - started)
    (run_dir / "race.json").write_text(json.dumps(out.to_dict(), indent=1, sort_keys=True, default=str))
    return out


def _check_fidelities(fidelities, target: int) -> None:
    values = [float(f) for f in fidelities]
    bad = [f for f in values if not (np.isfinite(f) and f == int(f) and 1 <= f <= target)]
    if bad:
        raise InputError(f"Fidelities must be training steps in [1, {target}] (the recipe's steps); got "
                         f"{', '.join(f'{f:g}' for f in values)}.")


def _known_metric(kb, name: str) -> bool:
    try:
        kb.metric(name)
        return True
    except KnowledgeBaseError:
        return False


def _predict_prior(kb, folder, metric: str, dataset: str, options: dict) -> pd.Series:
    """The selector's predicted scores for ``folder``, profiled as ``dataset`` (``mnc choose``)."""
    from ..choose import choose

    available = sorted(kb.summary()["results"]) if kb.exists() else []
    if metric not in available:
        raise KnowledgeBaseError(
            f"The knowledge base {kb.path} has no {metric!r} results, so Match & Choose cannot predict the prior of "
            f"a race scored with {metric!r} (it has: {', '.join(available) or 'no results'}): score with a metric "
            "it has (--probe, --kind) or give a prior (--prior FILE).")
    options = dict(options)
    options.setdefault("metric", metric)
    if options["metric"] != metric:
        raise InputError(f"The race scores with {metric!r}, so the prior must rank by it too (got "
                         f"{options['metric']!r}).")
    choice = choose(kb, folder, name=dataset, **options)
    ranking = choice.ranking
    return pd.Series(ranking["score"].to_numpy(float), index=ranking["model"].astype(str))


def _trace(ledger_trace: list, log: list) -> list:
    """The ledger's trace with each run's compute (the increment it cost) and where its score came from."""
    reached: dict = {}
    found = {(e["model"], e["fidelity"]): e for e in log}
    out = []
    for model, fidelity, score in ledger_trace:
        entry = found.get((model, float(fidelity)), {})
        compute = max(0.0, float(fidelity) - reached.get(model, 0.0))
        reached[model] = max(reached.get(model, 0.0), float(fidelity))
        out.append({"model": model, "fidelity": float(fidelity), "score": float(score), "compute": compute,
                    "source": entry.get("source", "ran"), "steps_trained": entry.get("steps_trained", 0),
                    "seconds": entry.get("seconds", 0.0)})
    return out
