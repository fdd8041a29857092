"""``mnc grid``: fine-tune, sample and score every (model, dataset) cell; state in the knowledge base."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from ._choose import _probe_options
from ._common import console, kb_option, resolve_kb_path, sampling_options
from ._finetune import _recipe_options

__all__ = ["grid"]


def _named(spec: str | None, folder: str | None, what: str, marker: str | None) -> dict:
    """``name=path,...`` or the subfolders of ``folder`` (those holding ``marker`` when given)."""
    out = {}
    if spec:
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            name, sep, path = item.partition("=")
            if not sep:
                name, path = Path(item).name, item
            if name in out:
                raise click.UsageError(f"--{what}: {name!r} is given twice.")
            out[name] = path
    if folder:
        root = Path(folder)
        if not root.is_dir():
            raise click.UsageError(f"--{what}-dir {folder!r} is not a folder.")
        for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if marker is None or (sub / marker).is_file():
                out.setdefault(sub.name, str(sub))
    if not out:
        raise click.UsageError(f"No {what}: give --{what} NAME=PATH,... or --{what}-dir DIR.")
    return out


@click.command()
@click.option("--models", default=None, help="Comma-separated NAME=PIPELINE_FOLDER (or folders: name = folder name).")
@click.option("--models-dir", default=None, help="Every subfolder with a model_index.json is a model.")
@click.option("--datasets", default=None, help="Comma-separated NAME=IMAGE_FOLDER (or folders).")
@click.option("--datasets-dir", default=None, help="Every subfolder is a dataset.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Run folders, OUT/<model>/<dataset>/ (required unless --status).")
@click.option("--recipe", "recipe_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Recipe file (.json or .toml); recipe flags override it.")
@sampling_options("cell")
@click.option("--probe", default="clip", show_default=True, help="Scoring probe (clip: CLIP-FID; dinov2 offline).")
@click.option("--probe-weights", default=None, help="Scoring probe weights (local folder, hub id or ONNX file).")
@click.option("--kind", "kinds", default="fd", show_default=True, help="Scores: comma-separated fd, kid, cmmd.")
@click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2,
              show_default=True, help="Held-out fraction of each dataset.")
@click.option("--prescore/--no-prescore", default=True, show_default=True,
              help="Also score the pretrained model (prescores: the Initial baseline).")
@click.option("--fidelities", default=None,
              help="Learning curves: comma-separated training steps at which each cell is also sampled and scored "
                   "(results with that fidelity; the recipe's --steps is the target).")
@click.option("--sample-seeds", default=None,
              help="Comma-separated seeds: the target's samples and the prescore are drawn once per seed (sampling "
                   "noise; default: --split-seed only). Space them by more than --n-samples.")
@click.option("--sample-batch-size", type=click.IntRange(min=1), default=4, show_default=True,
              help="Images per sampler batch.")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--address", default=None, help="Ray cluster address (default: a local Ray instance).")
@click.option("--gpus-per-cell", type=float, default=1.0, show_default=True, help="Ray: GPUs per cell when the "
              "cluster has GPUs.")
@click.option("--retry-failed", is_flag=True, help="Run failed cells again.")
@click.option("--max-cells", type=click.IntRange(min=1), default=None, help="Run at most N cells now.")
@click.option("--status", "status_only", is_flag=True, help="Only show the cells' state for this grid.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Write the report as JSON.")
@kb_option
@_recipe_options
def grid(models, models_dir, datasets, datasets_dir, out_dir, recipe_path, n_samples, sample_steps, guidance,
         sample_resolution, probe, probe_weights, kinds, val_fraction, split_seed, prescore, fidelities, sample_seeds,
         sample_batch_size, backend, address,
         gpus_per_cell, retry_failed, max_cells, status_only, json_out, kb_path, **flags):
    """Fine-tune → sample → score every (model, dataset) cell and record the results in the KB.

    Rerunning the same command skips finished cells and resumes interrupted ones from their
    checkpoints; a failed cell keeps its error (see --status) and never blocks the others.

    Example: mnc grid --models-dir zoo/ --datasets-dir data/ --out runs/ --steps 2000 --backend ray
    """
    from ..finetune import Recipe
    from ..grid import GridSpec, run_grid
    from ..kb import KnowledgeBase

    overrides = {name[len("recipe__"):]: value for name, value in flags.items() if value is not None}
    recipe = (Recipe.load(recipe_path) if recipe_path else Recipe()).replace(**overrides)
    spec = GridSpec(
        models=_named(models, models_dir, "models", "model_index.json"),
        datasets=_named(datasets, datasets_dir, "datasets", None), out_dir=str(out_dir or ""),
        recipe=recipe.to_dict(), n_samples=n_samples, sample_steps=sample_steps, guidance_scale=guidance,
        sample_resolution=sample_resolution, probe=probe, probe_options=_probe_options(probe, probe_weights, None),
        score_kinds=tuple(k.strip() for k in kinds.split(",") if k.strip()), val_fraction=val_fraction, seed=split_seed,
        prescore=prescore, gpus_per_cell=gpus_per_cell, fidelities=_ints(fidelities, "--fidelities"),
        sample_seeds=_ints(sample_seeds, "--sample-seeds"), sample_batch_size=sample_batch_size)
    kb = KnowledgeBase(resolve_kb_path(kb_path))
    if status_only:
        cells = kb.grid_cells(spec.recipe_hash())
        _print_cells(cells, f"grid {spec.recipe_hash()}: {len(cells)} cells")
        return
    if not out_dir:
        raise click.UsageError("--out is required (the run folders).")
    report = run_grid(kb, spec, backend=backend, address=address, retry_failed=retry_failed, max_cells=max_cells,
                      progress=True)
    _print_cells(report.cells, f"grid {report.recipe}")
    console.print(f"ran {report.ran} cell(s): {report.done} done, {report.failed} failed, {report.resumed} resumed; "
                  f"skipped {report.skipped_done} done, {report.skipped_failed} failed"
                  f"{' (--retry-failed to rerun)' if report.skipped_failed else ''}, {report.skipped_busy} held by "
                  f"another driver; {report.seconds:.1f} s", highlight=False)
    if json_out:
        Path(json_out).write_text(json.dumps(report.to_dict(), indent=1, default=str))


def _ints(text: str | None, option: str) -> tuple:
    if not text:
        return ()
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise click.UsageError(f"{option} must be comma-separated integers, got {text!r}.") from None


def _print_cells(cells, title: str) -> None:
    table = Table(title=title)
    for col in ("model", "dataset", "state", "attempts", "scores", "error"):
        table.add_column(col, overflow="fold")
    for row in cells.itertuples():
        scores = ", ".join(f"{k} {v:.3f}" for k, v in (row.result or {}).get("scores", {}).items())
        error = (row.error or "").splitlines()[0][:120] if row.error else ""
        table.add_row(row.model, row.dataset, row.state, str(row.attempts), scores, error)
    console.print(table)
