"""``mnc finetune``: LoRA / adapter fine-tuning of a local diffusers pipeline on an image folder.

A thin wrapper over :func:`matchchoose.finetune.finetune`. Every field of
:class:`~matchchoose.finetune.Recipe` has a flag (generated from the dataclass, so a new field gets
one for free); the common ones have short aliases (``--lr``, ``--rank``). The recipe is, in order
of precedence: the flags, then ``--recipe FILE``, then (when resuming) the recipe of the run's
newest checkpoint, then the defaults (the paper's protocol).
"""

from __future__ import annotations

import dataclasses
import typing

import click

from ._common import console

__all__ = ["finetune"]

# Recipe field -> extra (short) flag names.
_ALIASES = {"learning_rate": ["--lr"], "lora_rank": ["--rank"], "lora_alpha": ["--alpha"]}
_CHOICES = {"method": ("lora", "adapter", "full"), "mixed_precision": ("no", "fp16", "bf16", "auto"),
            "timestep_sampling": ("uniform", "logit_normal")}


def _recipe_fields():
    from ..finetune._recipe import Recipe

    hints = typing.get_type_hints(Recipe)
    return [(f, hints[f.name]) for f in dataclasses.fields(Recipe)]


def _base_type(hint):
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def _recipe_options(func):
    """One click option per recipe field, all defaulting to ``None`` (= not given)."""
    for f, hint in reversed(_recipe_fields()):
        flag = "--" + f.name.replace("_", "-")
        names = [flag] + _ALIASES.get(f.name, [])
        kind = _base_type(hint)
        default = f.default if f.default is not dataclasses.MISSING else None
        shown = "none" if default is None else default
        if kind is bool:
            option = click.option(f"{flag}/--no-{flag[2:]}", f"recipe__{f.name}", default=None,
                                  help=f"Recipe: {f.name} (default {str(shown).lower()}).")
        elif f.name in _CHOICES:
            option = click.option(*names, f"recipe__{f.name}", type=click.Choice(_CHOICES[f.name]), default=None,
                                  help=f"Recipe: {f.name} (default {shown}).")
        elif kind is int:
            option = click.option(*names, f"recipe__{f.name}", type=int, default=None,
                                  help=f"Recipe: {f.name} (default {shown}).")
        elif kind is float:
            option = click.option(*names, f"recipe__{f.name}", type=float, default=None,
                                  help=f"Recipe: {f.name} (default {shown}).")
        else:  # lora_targets: comma-separated names
            option = click.option(*names, f"recipe__{f.name}", type=str, default=None,
                                  help=f"Recipe: {f.name}, comma-separated (default: the family's).")
        func = option(func)
    return func


@click.command()
@click.option("--model", "model_path", required=True, type=click.Path(exists=True, file_okay=False),
              help="Local diffusers pipeline folder (model_index.json and weights).")
@click.option("--dataset", required=True, type=click.Path(exists=True, file_okay=False),
              help="Image folder with captions (metadata.jsonl, captions.jsonl or sidecar .txt).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Run folder: checkpoints/step-N/ and the final adapter/.")
@click.option("--recipe", "recipe_path", type=click.Path(dir_okay=False), default=None,
              help="Recipe file (.json or .toml); flags override it.")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Resume from the newest checkpoint in --out; --no-resume refuses a folder with checkpoints.")
@click.option("--device", default=None, help="cuda, cuda:N or cpu (default: CUDA when available).")
@click.option("--save-recipe", type=click.Path(dir_okay=False), default=None,
              help="Write the effective recipe (.json or .toml) and exit without training.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_recipe_options
def finetune(model_path, dataset, out_dir, recipe_path, resume, device, save_recipe, quiet, **flags):
    """Fine-tune a pipeline on an image folder (paper 5.1: LoRA, 10,000 steps, batch 8, lr 1e-5, 512 px).

    Supported families: sd (SD 1.x/2.x), sdxl, sd3 (SD3 / 3.5), flux, pixart, sana. Checkpoints go
    to OUT/checkpoints/step-N every --checkpoint-every steps; rerunning the same command resumes
    from the newest one exactly. The final weights are in OUT/adapter (load them with
    matchchoose.finetune.load_adapter, or pipe.load_lora_weights for LoRA).

    Example: mnc finetune --model ./sdxl-base --dataset ./pets --out runs/sdxl-pets --steps 2000
    """
    import json

    from ..finetune import Recipe, latest_checkpoint

    overrides = {name[len("recipe__"):]: value for name, value in flags.items() if value is not None}
    latest = latest_checkpoint(out_dir) if resume else None
    if recipe_path:
        recipe = Recipe.load(recipe_path)
        origin = recipe_path
    elif latest is not None:
        state_file = latest / "trainer_state.json"
        recipe = Recipe.from_dict(json.loads(state_file.read_text(encoding="utf-8"))["recipe"], source=str(state_file))
        origin = f"checkpoint {latest}"
    else:
        recipe, origin = Recipe(), "defaults (paper 5.1)"
    recipe = recipe.replace(**overrides)
    if save_recipe:
        path = recipe.save(save_recipe)
        console.print(f"wrote {path}", highlight=False)
        return

    from ..finetune import finetune as run

    result = run(model_path, dataset, out_dir, recipe, resume=resume, progress=not quiet, device=device)
    info = result.run
    resumed = f", resumed from step {result.resumed_from}" if result.resumed_from is not None else ""
    final = f"{info['final_loss']:.4f}" if info.get("final_loss") is not None else "n/a"
    console.print(f"Fine-tuned {info['model']['family']} model {model_path} with {recipe.method} "
                  f"({info['trainable_parameters']:,} trainable parameters) for {info['steps']} steps{resumed} in "
                  f"{info['wall_time_s']:.1f} s on {info['device']}; final loss {final}.", highlight=False,
                  soft_wrap=True)
    console.print(f"recipe: {origin}" + (f" + flags {', '.join(sorted(overrides))}" if overrides else ""),
                  highlight=False, soft_wrap=True)
    console.print(f"adapter: {result.adapter_dir}", highlight=False, soft_wrap=True)
