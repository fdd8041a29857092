"""Checkpoints shared by VAE training and pretraining (the fine-tuning trainer's layout and RNG handling).

A checkpoint ``OUT/checkpoints/step-N/`` holds ``weights.safetensors`` (the whole trained module),
``optimizer.pt``, ``rng.pt`` (torch, numpy and python global RNG states, as
:func:`matchchoose.finetune.rng_states` returns them) and ``trainer_state.json`` (step, losses, settings,
data hash). It is written to a temporary folder and renamed, so a crash never leaves a half
checkpoint; :func:`matchchoose.finetune.latest_checkpoint` finds the newest.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from matchchoose import InputError

__all__ = ["load_checkpoint", "save_checkpoint", "step_seed"]


def step_seed(seed: int, step: int, salt: int = 0) -> int:
    """Seed of the generator of step ``step`` (the fine-tuning trainer's formula)."""
    from matchchoose.finetune import step_seed as _step_seed

    return _step_seed(seed, step, salt)


def _device_of(module):
    """The device of ``module``'s weights (the training device: only its CUDA random state is saved)."""
    import torch

    return next((p.device for p in module.parameters()), torch.device("cpu"))


def save_checkpoint(out_dir, step: int, module, optimizer, state: dict, keep: int = 2) -> Path:
    """Write ``OUT/checkpoints/step-<step>/`` atomically; keep the newest ``keep`` (0: all)."""
    import torch
    from safetensors.torch import save_file

    from matchchoose.finetune import rng_states

    root = Path(out_dir) / "checkpoints"
    final = root / f"step-{step}"
    tmp = root / f".step-{step}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    save_file(weights, str(tmp / "weights.safetensors"))
    torch.save({"optimizer": optimizer.state_dict()}, tmp / "optimizer.pt")
    torch.save(rng_states(_device_of(module)), tmp / "rng.pt")
    (tmp / "trainer_state.json").write_text(json.dumps({"step": step, **state}, indent=1) + "\n", encoding="utf-8")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    if keep:
        found = sorted((int(p.name[5:]), p) for p in root.iterdir()
                       if p.is_dir() and p.name.startswith("step-") and p.name[5:].isdigit())
        for _, p in found[:-keep]:
            shutil.rmtree(p)
    return final


def load_checkpoint(path, module, optimizer, settings: dict, data_hash: str, *, may_change=()) -> dict:
    """Restore ``module``, ``optimizer`` and the global RNGs from checkpoint ``path``; return its state.

    ``settings`` must equal the checkpoint's ``settings`` but for the keys in ``may_change``, and
    ``data_hash`` its data hash (otherwise a one-line :class:`InputError` names what differs).
    """
    import torch
    from safetensors.torch import load_file

    from matchchoose.finetune import set_rng_states

    path = Path(path)
    state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    old = state.get("settings", {})
    for key, value in settings.items():
        if key not in may_change and old.get(key) != value:
            raise InputError(f"{path}: cannot resume: {key} was {old.get(key)!r} and is now {value!r}; use the same "
                             "settings or a new output folder.")
    if state.get("data_hash") != data_hash:
        raise InputError(f"{path}: cannot resume: the training images differ from the checkpoint's (content hash "
                         "changed); use a new output folder.")
    weights = load_file(str(path / "weights.safetensors"))
    missing, unexpected = module.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise InputError(f"{path}: the checkpoint's weights do not fit the model ({len(missing)} missing, "
                         f"{len(unexpected)} unexpected keys); use a new output folder.")
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True)["optimizer"])
    set_rng_states(torch.load(path / "rng.pt", weights_only=True), _device_of(module))
    return state
