"""``mnc race``: budgeted selection for real, fine-tuning the zoo's models on a folder within a budget.

A thin wrapper over :func:`matchchoose.budget.race_folder`.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..choose import CHOOSE_SELECTORS, DEFAULT_SELECTOR
from ._choose import _probe_options
from ._common import NamesOption, console, console_err, kb_option, predictor_names, resolve_kb_path, sampling_options
from ._finetune import _recipe_options
from ._grid import _ints
from ._table import Col, print_table

__all__ = ["race"]


def _models(spec: str | None, folder: str | None) -> dict:
    """``--models NAME=PATH,...`` and/or ``--models-dir DIR`` (every subfolder with a
    model_index.json); one-line errors (InputError) for what the user must fix."""
    from .._errors import InputError

    out = {}
    for item in (spec or "").split(","):
        item = item.strip()
        if item:
            name, sep, path = item.partition("=")
            name, path = (name, path) if sep else (Path(item).name, item)
            if not (Path(path) / "model_index.json").is_file():
                raise InputError(f"--models: {path!r} is not a diffusers pipeline folder (no model_index.json).")
            out[name] = path
    if folder is not None:
        root = Path(folder)
        if not root.is_dir():
            raise InputError(f"--models-dir {folder!r} is not a folder: give the folder whose subfolders are the "
                             "models' diffusers pipelines.")
        found = {p.name: str(p) for p in sorted(root.iterdir()) if (p / "model_index.json").is_file()}
        if not found and not out:
            raise InputError(f"--models-dir {folder!r} has no model: no subfolder holds a model_index.json "
                             "(a diffusers pipeline).")
        for name, path in found.items():
            out.setdefault(name, path)
    if not out:
        raise InputError("No models: give --models-dir DIR (or --models NAME=PATH,...).")
    return out


def _printer(budget: float):
    """Progress: one line per run on stderr, with the compute charged so far."""
    state = {"n": 0}

    def show(event: dict) -> None:
        steps = event["fidelity"]
        what = "zero-shot" if steps == 0 else f"to {steps:g} step{'s' if steps != 1 else ''}"
        if event["what"] == "start":
            state["n"] += 1
            console_err.print(f"[{state['n']}] {event['model']} {what} ...", highlight=False)
        else:
            console_err.print(f"[{state['n']}] {event['model']} {what}: score {event['score']:.4f} "
                              f"({event['steps_trained']} steps trained, {event['seconds']:.1f} s)",
                              highlight=False)

    return show


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--budget", type=click.FloatRange(min=0), required=True,
              help="Training steps in total over every model (the exhaustive grid is models x --steps).")
@click.option("--models-dir", default=None, help="Every subfolder with a model_index.json is a candidate model.")
@click.option("--models", default=None, help="Comma-separated NAME=PIPELINE_FOLDER (or folders; with --models-dir: "
              "added to its models).")
@click.option("--fidelities", default=None,
              help="Rungs: comma-separated training steps at which runs may stop (the target --steps is added). "
                   "Default: the knowledge base's recorded rungs when they end at --steps, else steps/4, steps/2.")
@click.option("--procedure", type=click.Choice(["race", "subtune", "prior_topk"]), default="race",
              show_default=True, help="race: prior-guided successive halving; the others are baselines.")
@click.option("--zero-shot/--no-zero-shot", default=True, show_default=True,
              help="Sample and score the pretrained models first (no training; evidence for the race).")
@click.option("--prior", "prior_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CSV with columns model and score (higher = better): the prior instead of Match & Choose's.")
@click.option("--finish/--no-finish", default=True, show_default=True,
              help="When the race decides early, train its pick to --steps with the budget it left.")
@click.option("--new-prior", is_flag=True, help="Predict the prior again instead of reusing the one of an earlier run.")
@click.option("--name", default=None, help="Dataset name of FOLDER in the knowledge base (default: the folder's name).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="mnc-race", show_default=True,
              help="Run folders: OUT/<dataset>/<recipe hash>/<model>/ (checkpoints, samples).")
@click.option("--recipe", "recipe_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Recipe file (.json or .toml); recipe flags override it. Its steps are the target fidelity.")
@sampling_options("run")
@click.option("--sample-batch-size", type=click.IntRange(min=1), default=4, show_default=True,
              help="Images per sampler batch.")
@click.option("--probe", default="dinov2", show_default=True, help="Scoring probe (dinov2: FD_DINOv2, offline).")
@click.option("--probe-weights", default=None, help="Scoring probe weights (local folder, hub id or ONNX file).")
@click.option("--kind", type=click.Choice(["fd", "kid", "cmmd"]), default="fd", show_default=True,
              help="The score the race compares.")
@click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2,
              show_default=True, help="Held-out fraction of FOLDER.")
@click.option("--profile-probe", default=None,
              help="Probe that links FOLDER to the knowledge base's datasets for the prior (default: theirs).")
@click.option("--selector", type=click.Choice(list(CHOOSE_SELECTORS)), default=DEFAULT_SELECTOR, show_default=True,
              help="Selector that predicts the prior (as 'mnc choose --selector').")
@click.option("--predictor", default="catboost", show_default=True,
              help="Rank predictor of the prior (--selector mnc and mnc[paper] only).", cls=NamesOption,
              names=predictor_names)
@click.option("--prior-seed", "prior_seed", type=int, default=0, show_default=True,
              help="Seed of the prior's predictor (--selector mnc and mnc[paper]; --seed is the training seed).")
@click.option("--quiet", is_flag=True, help="No progress lines or training bars.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Write the race as JSON.")
@kb_option
@_recipe_options
def race(folder, budget, models_dir, models, fidelities, procedure, zero_shot, prior_path, finish, new_prior, name,
         out_dir, recipe_path, n_samples, sample_steps, guidance, sample_resolution, split_seed, sample_batch_size,
         probe, probe_weights, kind, val_fraction, profile_probe, selector, predictor, prior_seed, quiet, json_out,
         kb_path,
         **flags):
    """Find the model to fine-tune on FOLDER within a budget of training steps, for real.

    Predicts the prior ranking (as 'mnc choose'), scores the pretrained models (zero-shot), then
    fine-tunes the shortlist briefly, drops the losers and continues the survivors (resuming from
    checkpoints), each run sampled on FOLDER's held-out captions and scored. Every score is
    recorded in the knowledge base with its fidelity and protocol; rerunning the same command reads
    them back and trains nothing already done (a larger --budget continues).

    Example: mnc race ./my_images --budget 4000 --steps 2000 --models-dir zoo/ --kb kb.sqlite --json race.json
    """
    from ..budget import race_folder, read_prior
    from ..finetune import Recipe
    from ..kb import KnowledgeBase

    candidates = _models(models, models_dir)
    overrides = {key[len("recipe__"):]: value for key, value in flags.items() if value is not None}
    recipe = (Recipe.load(recipe_path) if recipe_path else Recipe()).replace(**overrides)
    options = {"recipe": recipe.to_dict(), "n_samples": n_samples, "sample_steps": sample_steps,
               "guidance_scale": guidance, "sample_resolution": sample_resolution, "probe": probe,
               "probe_options": _probe_options(probe, probe_weights, None), "score_kinds": (kind,),
               "val_fraction": val_fraction, "seed": split_seed, "sample_batch_size": sample_batch_size}
    kb = KnowledgeBase(resolve_kb_path(kb_path))
    choose_options = {"probe": profile_probe, "selector": selector, "predictor": predictor,
                      "random_state": prior_seed, "progress": not quiet}
    run = race_folder(kb, folder, models=candidates, budget=budget, spec_options=options, out_dir=out_dir,
                      dataset=name, fidelities=_ints(fidelities, "--fidelities") or None, zero_shot=zero_shot,
                      prior=read_prior(prior_path) if prior_path else None, procedure=procedure,
                      choose_options=choose_options, new_prior=new_prior, finish=finish,
                      progress=None if quiet else _printer(budget), train_progress=not quiet)
    _print(run)
    if json_out:
        Path(json_out).write_text(json.dumps(run.to_dict(), indent=1, sort_keys=True, default=str))


def _print(run) -> None:
    arrow = "higher" if run.higher_is_better else "lower"
    rows = [[i, t["model"], f"{t['fidelity']:g}", f"{t['score']:.4f}", f"{t['compute']:g}", t["source"]]
            for i, t in enumerate(run.trace, 1)]
    columns = [Col("#", "right"), Col("model", style="bold"), Col("fidelity (steps)", "right"),
               Col(f"{run.metric} ({arrow} is better)", "right"), Col("compute (steps)", "right"),
               Col("source", drop=1)]
    print_table(console, f"{run.procedure} on {run.dataset!r}: budget {run.budget:g} steps, rungs "
                         f"{', '.join(map(str, run.fidelities))}", columns, rows)
    if run.zero_shot:
        best = min(run.zero_shot, key=run.zero_shot.get) if not run.higher_is_better else \
            max(run.zero_shot, key=run.zero_shot.get)
        console.print(f"zero-shot best: {best} ({run.zero_shot[best]:.4f}); prior ({run.prior_source}) top: "
                      f"{max(run.prior, key=run.prior.get)}", highlight=False)
    fraction = run.spent / run.exhaustive if run.exhaustive else 0.0
    trained = "trained to the target" if run.pick_trained else "not trained to the target within the budget"
    if run.finished:
        trained += " after the race had decided, with the budget it left"
    console.print(f"[bold]Pick:[/] {run.pick} ({trained})", highlight=False)
    console.print(f"compute {run.spent:g} of {run.budget:g} steps ({fraction:.1%} of the exhaustive grid, "
                  f"{run.exhaustive:g}); trained now {run.steps_trained} steps; {run.seconds:.1f} s; runs in "
                  f"{run.run_dir}; scores in the knowledge base as {run.metric!r} results of {run.dataset!r} "
                  f"(grid_recipe {run.recipe_hash})", highlight=False, soft_wrap=True)
