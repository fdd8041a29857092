"""The models x datasets grid: every cell fine-tunes, samples and scores, locally or on Ray.

The driver (the process running :func:`run_grid`) registers the cells in the knowledge base, claims
the ones to run (pending, interrupted, or failed with ``retry_failed``), hands them to the backend
and records each result as it arrives, so the knowledge base is the grid's state:

- rerunning the same grid skips finished cells and resumes interrupted ones (their run folder keeps
  the fine-tuning checkpoints, which :func:`matchchoose.finetune.finetune` resumes from);
- a failed cell keeps its error and never blocks the others;
- only the driver writes to the knowledge base (one transaction per cell), so workers on other
  machines need no access to it and no row is lost or half-written.

Backends: ``local`` runs cells one after another in this process; ``ray`` runs them as Ray tasks
(``ray.init(address=...)`` for a cluster, a local instance otherwise), one GPU per cell when the
cluster has GPUs.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .._errors import InputError, require
from .._progress import ProgressBar
from .._validation import check_in

__all__ = ["BACKENDS", "CellTask", "GridReport", "GridSpec", "provenance", "run_grid"]

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class GridSpec:
    """What a grid runs: ``models`` (name -> pipeline folder or hub id), ``datasets`` (name -> image
    folder), the fine-tuning ``recipe`` (a dict of :class:`~matchchoose.finetune.Recipe` fields),
    sampling (``n_samples`` images from the held-out captions, ``sample_steps``, ``guidance_scale``,
    ``sample_resolution``), scoring (``probe``, ``probe_options``, ``score_kinds``), the held-out
    ``val_fraction``, the ``seed`` of split and sampling, ``prescore`` (also score the pretrained
    model: the Initial baseline), and ``out_dir`` (one run folder per cell).

    Learning curves and sampling noise: ``fidelities`` (training steps, each at most the recipe's
    ``steps``) also samples and scores each cell after that many steps, recorded as results with
    that ``fidelity`` (the recipe's ``steps`` is the target fidelity); ``sample_seeds`` draws the
    target's samples and the prescore's once per seed (both rows kept, the seed in their
    provenance). ``sample_dtype`` (``"float32"``, ...) overrides the sampler's default precision
    (on CUDA the family's own, :func:`matchchoose.sample.load_pipeline`). ``sample_batch_size`` is
    the sampler's batch (it changes nothing but speed on the CPU; on CUDA batched kernels may round
    differently, hence it is part of the protocol)."""

    models: dict
    datasets: dict
    out_dir: str
    recipe: dict = field(default_factory=dict)
    n_samples: int = 16
    sample_steps: int = 25
    guidance_scale: float = 5.0
    sample_resolution: int | None = None
    probe: str = "clip"
    probe_options: dict = field(default_factory=dict)
    score_kinds: tuple = ("fd",)
    val_fraction: float = 0.2
    seed: int = 0
    prescore: bool = True
    fidelities: tuple = ()
    sample_seeds: tuple = ()
    sample_batch_size: int = 4
    sample_dtype: str | None = None
    gpus_per_cell: float = 1.0
    cpus_per_cell: float = 1.0
    register_models: bool = True
    profile_datasets: bool = True

    def protocol(self) -> dict:
        """Everything that defines a cell's result (not where it runs): hashed into :meth:`recipe_hash`."""
        from ..finetune import Recipe

        recipe = Recipe.from_dict(dict(self.recipe), source="grid recipe").to_dict()  # every field, defaults too
        return {"recipe": recipe, "n_samples": self.n_samples,
                "sample_steps": self.sample_steps, "guidance_scale": self.guidance_scale,
                "sample_resolution": self.sample_resolution, "probe": self.probe,
                "probe_options": dict(sorted(self.probe_options.items())), "score_kinds": list(self.score_kinds),
                "val_fraction": self.val_fraction, "seed": self.seed, "prescore": self.prescore,
                **self._curve_protocol(recipe)}

    def _curve_protocol(self, recipe: dict) -> dict:
        """The learning-curve and noise settings, present only when set (so that a grid without them
        keeps the recipe hash it had before they existed)."""
        out = {}
        if self.fidelities:
            steps = int(recipe["steps"])
            fidelities = sorted({int(f) for f in self.fidelities} | {steps})
            if fidelities[0] < 1 or fidelities[-1] > steps:
                raise InputError(f"Grid fidelities must be training steps in [1, {steps}] (the recipe's steps); "
                                 f"got {', '.join(map(str, sorted(self.fidelities)))}.")
            out["fidelities"] = fidelities
        if self.sample_seeds:
            seeds = [int(s) for s in dict.fromkeys(self.sample_seeds)]
            close = [(a, b) for i, a in enumerate(seeds) for b in seeds[i + 1:] if abs(a - b) < self.n_samples]
            if close:  # image i of seed s is drawn with seed s + i: nearby seeds share images
                raise InputError(f"Grid sample seeds {close[0][0]} and {close[0][1]} are closer than n_samples "
                                 f"({self.n_samples}), so their samples would overlap; space them further apart "
                                 "(e.g. 0,100000).")
            if seeds != [self.seed]:
                out["sample_seeds"] = seeds
        if self.sample_batch_size != 4:
            out["sample_batch_size"] = int(self.sample_batch_size)
        if self.sample_dtype is not None:
            out["sample_dtype"] = str(self.sample_dtype)
        return out

    def recipe_hash(self) -> str:
        text = json.dumps(self.protocol(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CellTask:
    """One cell as a worker sees it (plain data: it crosses process and machine boundaries)."""

    model: str
    model_path: str
    dataset: str
    dataset_path: str
    run_dir: str
    protocol: dict
    resumed: bool


@dataclass
class GridReport:
    """Counts of one :func:`run_grid` call and the cells' final table."""

    recipe: str
    ran: int = 0
    done: int = 0
    failed: int = 0
    skipped_done: int = 0
    skipped_failed: int = 0
    skipped_busy: int = 0
    skipped_deadline: int = 0
    resumed: int = 0
    seconds: float = 0.0
    prepared: dict = field(default_factory=dict)
    cells: object = None  # DataFrame of the grid's cells after the run

    def to_dict(self) -> dict:
        out = asdict(self)
        out["cells"] = None if self.cells is None else json.loads(self.cells.to_json(orient="records"))
        return out


def _default_job():
    from ._cell import run_cell

    return run_cell


def _execute(job, task: CellTask) -> dict:
    """Run ``job(task)``; never raises: ``{"ok": False, "error": ...}`` on failure."""
    started = time.perf_counter()
    try:
        result = job(task)
        return {"ok": True, "result": result, "seconds": time.perf_counter() - started}
    except BaseException as exc:  # noqa: BLE001 - a cell's failure is data, recorded with the cell
        if isinstance(exc, KeyboardInterrupt):
            raise
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return {"ok": False, "error": text, "traceback": traceback.format_exc(limit=20),
                "seconds": time.perf_counter() - started}


def _prepare(kb, spec: GridSpec) -> dict:
    """Register the models' configs and features and profile the datasets (see :class:`GridSpec`).
    A model or dataset that cannot be read is reported, not fatal: its cells fail with the reason."""
    import warnings

    done = {"models": [], "datasets": [], "problems": []}
    if spec.register_models:
        from ..features import add_model, store_features

        for name, path in spec.models.items():
            if (Path(path) / "model_index.json").is_file():
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        add_model(kb, path, name=name, size=True, recompute=False)
                    done["models"].append(name)
                except InputError as exc:
                    done["problems"].append(f"model {name}: {exc}")
        if done["models"]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                store_features(kb)
    if spec.profile_datasets:
        from ..profile import profile_dataset

        for name, path in spec.datasets.items():
            try:
                profile_dataset(kb, path, name=name, probe=spec.probe, probe_options=dict(spec.probe_options))
                done["datasets"].append(name)
            except InputError as exc:
                done["problems"].append(f"dataset {name}: {exc}")
    return done


def _versions() -> dict:
    from importlib import metadata

    out = {}
    for package in ("matchchoose", "torch", "diffusers", "transformers", "peft"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return out


def provenance(spec: GridSpec) -> dict:
    """What every score of ``spec``'s cells records as provenance: the recipe hash (``grid_recipe``),
    the split, the package versions and the whole protocol."""
    return {"grid_recipe": spec.recipe_hash(), "split": f"val_fraction={spec.val_fraction},seed={spec.seed}",
            "versions": _versions(), **spec.protocol()}


def _record(kb, spec: GridSpec, recipe: str, task: CellTask, outcome: dict) -> bool:
    from ..score import record_score
    from ..score._score import Score

    if not outcome["ok"]:
        kb.grid_fail(task.model, task.dataset, recipe, outcome["error"], run_dir=task.run_dir)
        return False
    result = outcome["result"]
    protocol = provenance(spec)
    for kind, prescore in (("scores", False), ("prescores", True)):
        for item in result.get(kind, []):
            item = dict(item)
            fidelity, seed = item.pop("fidelity", None), item.pop("sample_seed", None)
            extra = {} if seed is None or "sample_seeds" not in protocol else {"sample_seed": seed}
            kwargs = {} if fidelity is None else {"fidelity": fidelity}
            record_score(kb, Score(**item), model=task.model, dataset=task.dataset, prescore=prescore,
                         protocol={**protocol, **extra}, **kwargs)
    summary = {k: v for k, v in result.items() if k not in ("scores", "prescores")}
    target = max((s.get("fidelity") or 0 for s in result.get("scores", [])), default=0)
    summary["scores"] = {s["metric"]: s["value"] for s in result.get("scores", [])
                         if (s.get("fidelity") or 0) == target and s.get("sample_seed") in (None, spec.seed)}
    summary["prescores"] = {s["metric"]: s["value"] for s in result.get("prescores", [])
                            if s.get("sample_seed") in (None, spec.seed)}
    summary["seconds"] = round(outcome["seconds"], 3)
    kb.grid_finish(task.model, task.dataset, recipe, run_dir=task.run_dir, result=summary)
    return True


def run_grid(kb, spec: GridSpec, *, backend: str = "local", address: str | None = None, job=None,
             retry_failed: bool = False, max_cells: int | None = None, progress: bool = True,
             stop_at: float | None = None) -> GridReport:
    """Run every (model, dataset) cell of ``spec`` that is not done; see the module docstring.

    Parameters
    ----------
    kb : KnowledgeBase
    spec : GridSpec
    backend : {"local", "ray"}
    address : str, optional
        Ray cluster address (``ray.init(address=...)``); default: start a local Ray instance.
    job : callable, optional
        ``job(CellTask) -> dict`` with ``scores`` and ``prescores`` (lists of
        :class:`~matchchoose.score.Score` fields); default: fine-tune, sample and score
        (:func:`matchchoose.grid._cell.run_cell`).
    retry_failed : bool
        Run failed cells again (their error is kept until then).
    max_cells : int, optional
        Run at most this many cells (the rest stay pending for the next call).
    stop_at : float, optional
        A deadline (``time.time()`` seconds): no cell is started after it; the cells left stay
        pending for the next call (local backend; Ray queues every cell at once).
    """
    check_in("backend", backend, BACKENDS, owner="run_grid")
    if not spec.models or not spec.datasets:
        raise InputError("A grid needs at least one model and one dataset.")
    for name, folder in spec.datasets.items():
        if not Path(folder).is_dir():
            raise InputError(f"Dataset {name!r}: {folder!r} is not a folder of images.")
    job = job or _default_job()
    recipe = spec.recipe_hash()
    started = time.perf_counter()
    kb.grid_add([(m, d) for m in spec.models for d in spec.datasets], recipe)
    report = GridReport(recipe=recipe)
    report.prepared = _prepare(kb, spec)
    tasks = []
    # dataset by dataset, so that a grid stopped early has whole columns (every model of a dataset)
    for dataset, dataset_path in spec.datasets.items():
        for model, model_path in spec.models.items():
            if max_cells is not None and len(tasks) >= max_cells:
                continue  # left as it is, for the next call
            run_dir = str(Path(spec.out_dir) / _safe(model) / _safe(dataset))
            tasks.append(CellTask(model=model, model_path=str(model_path), dataset=dataset,
                                  dataset_path=str(dataset_path), run_dir=run_dir, protocol=spec.protocol(),
                                  resumed=False))

    def claim(task: CellTask) -> CellTask | None:
        """Claim ``task`` just before it runs (so a killed driver leaves only its started cells
        'running'); ``None`` when it is done, failed (without retry) or held by a live driver."""
        if stop_at is not None and time.time() > stop_at:
            report.skipped_deadline += 1
            return None
        claimed = kb.grid_claim(task.model, task.dataset, recipe, retry_failed=retry_failed)
        if claimed is None:
            state = kb.grid_cells(recipe).set_index(["model", "dataset"]).loc[(task.model, task.dataset), "state"]
            attr = {"done": "skipped_done", "failed": "skipped_failed"}.get(state, "skipped_busy")
            setattr(report, attr, getattr(report, attr) + 1)
            return None
        report.resumed += claimed == "running"
        return replace(task, resumed=claimed == "running")

    runner = _run_local if backend == "local" else _run_ray
    for task, outcome in runner(tasks, claim, job, spec, address, progress):
        ok = _record(kb, spec, recipe, task, outcome)
        report.ran += 1
        report.done += ok
        report.failed += not ok
    report.seconds = time.perf_counter() - started
    report.cells = kb.grid_cells(recipe)
    return report


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _run_local(tasks, claim, job, spec, address, progress):
    with ProgressBar(len(tasks), "grid", enabled=progress, elapsed=True) as bar:
        for task in tasks:
            task = claim(task)
            if task is None:
                bar.advance(description="")
                continue
            outcome = _execute(job, task)
            bar.advance(description=f"{task.model} x {task.dataset}: {'done' if outcome['ok'] else 'FAILED'}")
            yield task, outcome


def _run_ray(tasks, claim, job, spec, address, progress):
    tasks = [t for t in map(claim, tasks) if t is not None]  # queued on the cluster = claimed
    if not tasks:
        return
    ray = require("ray", "the ray grid backend", "ray")
    if not ray.is_initialized():
        kwargs = {"ignore_reinit_error": True, "include_dashboard": False, "log_to_driver": False}
        if address:
            kwargs["address"] = address
        ray.init(**kwargs)
    gpus = ray.cluster_resources().get("GPU", 0)
    options = {"num_cpus": spec.cpus_per_cell, "num_gpus": spec.gpus_per_cell if gpus else 0, "max_retries": 0}
    remote = ray.remote(_execute).options(**options)
    pending = {remote.remote(job, task): task for task in tasks}
    with ProgressBar(len(tasks), "grid", enabled=progress, elapsed=True) as bar:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            task = pending.pop(ready[0])
            try:
                outcome = ray.get(ready[0])
            except Exception as exc:  # the worker itself died (out of memory, node lost)
                outcome = {"ok": False, "error": f"ray worker failed: {type(exc).__name__}: {exc}", "seconds": 0.0}
            bar.advance(description=f"{task.model} x {task.dataset}: {'done' if outcome['ok'] else 'FAILED'}")
            yield task, outcome
