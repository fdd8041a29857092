"""Pretraining a zoo model: every denoiser weight, the fine-tuning family's own loss, the model's mixture.

Pretraining is fine-tuning without adapters: the pipeline is loaded by its
:class:`~matchchoose.finetune.families.Family` (frozen text encoders and VAE), every
parameter of the denoiser is trained with AdamW, and the loss of a batch is the family's
:meth:`~matchchoose.finetune.families.Family.loss`: DDPM epsilon / v-prediction for the
UNets, epsilon with learned sigma for PixArt, rectified flow with logit-normal noise levels for
SD3. Batches come from the model's mixture (:class:`~._data.MixtureData`) with caption dropout
(the empty caption; all-zero conditioning where the pipeline zeroes empty prompts, as SDXL does) so
that classifier-free guidance works.

Two exact shortcuts keep a step cheap: the frozen text encoders' outputs are computed once per
distinct caption (in a fixed order and fixed chunks, so the cache is the same on every run), and the
frozen VAE's posterior (mean and standard deviation) once per image; a step draws its latents from
the cached posterior with the step's generator, shifted and scaled exactly as
:meth:`Family.encode_images` does.

Layout of ``OUT`` (a complete diffusers folder)::

    model_index.json, unet/ or transformer/, vae/, text_encoder*/, tokenizer*/, scheduler/
    MICROZOO.json        the spec, seed, and a summary of the pretraining
    pretrain.json        settings, data hash, wall time, seconds per step, loss of every step
    checkpoints/step-N/  weights.safetensors, optimizer.pt, rng.pt, trainer_state.json

Everything random in step ``s`` is drawn from generators seeded by (seed, s) and the global RNG
states are checkpointed, so N steps straight and N/2 + resume + N/2 give the same weights bit for
bit on the same machine and software.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matchchoose import InputError, require
from ._spec import RESOLUTION, get_spec

__all__ = ["PretrainResult", "pretrain"]

_DROP_STREAM = 0xD209
_ENCODE_CHUNK = 32


@dataclass
class PretrainResult:
    """What :func:`pretrain` produced: the model folder, the loss of every step, ``pretrain.json``."""

    out_dir: Path
    losses: list = field(default_factory=list)
    record: dict = field(default_factory=dict)
    resumed_from: int | None = None


class _Encodings:
    """Cached frozen-encoder outputs: conditioning per caption, VAE posterior per image."""

    def __init__(self, family, data, captions: list, zero_empty: bool):
        import torch

        self.family = family
        self.cond: dict = {}
        self.shared: dict = {}
        ordered = sorted(set(captions) | {""})
        with torch.no_grad():
            for start in range(0, len(ordered), _ENCODE_CHUNK):
                chunk = ordered[start:start + _ENCODE_CHUNK]
                out = family.encode_prompts(chunk)
                for key, value in out.items():
                    if not (torch.is_tensor(value) and value.shape[:1] == (len(chunk),)):
                        self.shared[key] = value  # not per caption (Flux text ids)
                for j, caption in enumerate(chunk):
                    self.cond[caption] = {k: v[j:j + 1].clone() for k, v in out.items() if k not in self.shared}
        if zero_empty:  # SDXL force_zeros_for_empty_prompt: the empty prompt is all zeros
            self.cond[""] = {k: torch.zeros_like(v) if v.is_floating_point() else v for k, v in self.cond[""].items()}
        vae = family.pipe.vae
        self.items = data.items()
        self.index = {item: i for i, item in enumerate(self.items)}
        means, stds = [], []
        with torch.no_grad():
            for start in range(0, len(self.items), 64):
                chunk = self.items[start:start + 64]
                pixels = torch.from_numpy(np.stack([data.image(it)[0] for it in chunk])).permute(0, 3, 1, 2)
                dist = vae.encode(pixels.to(family.device, vae.dtype)).latent_dist
                means.append(dist.mean)
                stds.append(dist.std)
        self.mean = torch.cat(means)
        self.std = torch.cat(stds)

    def conditioning(self, captions: list) -> dict:
        import torch

        out = {k: torch.cat([self.cond[c][k] for c in captions]) for k in self.cond[captions[0]]}
        out.update(self.shared)
        return out

    def latents(self, items: list, generator):
        """A posterior sample of each item, shifted and scaled as :meth:`Family.encode_images` does."""
        import torch

        rows = torch.tensor([self.index[it] for it in items])
        mean, std = self.mean[rows], self.std[rows]
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        latents = mean + std * noise.to(mean.device)
        config = self.family.pipe.vae.config
        shift = getattr(config, "shift_factor", None)
        if shift is not None:
            latents = latents - shift
        return (latents * config.scaling_factor).to(self.family.dtype)


def _lr(base: float, step: int, warmup: int) -> float:
    return base * (step + 1) / warmup if warmup and step < warmup else base


def pretrain(model, data_root, out_dir, *, vae=None, steps: int | None = None, batch_size: int = 16,
             lr: float = 2e-4, warmup_steps: int = 100, weight_decay: float = 0.01,
             max_grad_norm: float = 1.0, caption_dropout: float = 0.1, seed: int = 0,
             checkpoint_every: int = 250, keep_checkpoints: int = 2, held_out_fraction: float = 0.2,
             mixture: dict | None = None, size: str = "full", resume: bool = True, progress: bool = True,
             device: str = "cpu", max_seconds: float | None = None) -> PretrainResult:
    """Pretrain zoo model ``model`` on its domain mixture; write a complete diffusers folder.

    Parameters
    ----------
    model : str or ModelSpec
        A zoo model (:data:`~._spec.ZOO`).
    data_root : str or Path
        Folder with one ImageFolder per domain (``mnc-microzoo datasets build --out``).
    out_dir : str or Path
        The model folder (see the module docstring). Built with random weights
        (:func:`~._build.build_pipeline`, same ``seed``) when it has no ``model_index.json``.
    vae : str or Path, optional
        The shared VAE folder (:func:`~._vae.train_vae`) for a new model folder; default a seeded
        random VAE (for tests only: latents of an untrained VAE are meaningless).
    steps : int, optional
        Optimizer steps; default the spec's budget (:attr:`ModelSpec.steps`, 1,500 to 5,000).
    batch_size, lr, warmup_steps, weight_decay, max_grad_norm : training settings
        Batch 16, AdamW 2e-4 on every denoiser weight; 100 linear warm-up steps, then a constant
        rate (so that a finished run can be continued by raising ``steps``); weight decay 0.01;
        gradient clipping at 1.0.
    caption_dropout : float, default=0.1
        Probability of training an image on the empty caption (classifier-free guidance).
    seed : int, default=0
        Seeds the initial weights, the data stream, caption dropout, noise and timesteps.
    checkpoint_every, keep_checkpoints : int
        Checkpoint period (and at the end) and how many to keep (0: all).
    held_out_fraction : float, default=0.2
        Leave each domain's held-out split (what ``mnc grid`` scores against) out of pretraining.
    mixture : dict, optional
        ``{domain: weight}`` replacing the spec's mixture (e.g. for short tests).
    size : {"full", "test"}, default="full"
        Size of a newly built model (:func:`~._build.build_pipeline`).
    resume : bool, default=True
        Resume from the newest checkpoint (same settings but ``steps``, ``checkpoint_every``,
        ``keep_checkpoints``; same data); ``False`` refuses a folder with checkpoints.
    progress : bool, default=True
        A progress bar with the loss on stderr.
    device : str, default="cpu"
    max_seconds : float, optional
        A wall-clock budget: stop after the first step that ends past it (with a checkpoint there)
        even if ``steps`` are not done; ``pretrain.json`` records the steps actually trained, and
        running again with that many ``steps`` reproduces the run. For sharing one GPU between
        several models in a fixed time (the GPU build script); the default trains all ``steps``.

    Returns
    -------
    PretrainResult

    Raises
    ------
    InputError
        Unknown model, missing domains, a folder of another model, incompatible checkpoint,
        a non-finite loss.
    """
    torch = require("torch", "Pretraining a micro-zoo model", "models")
    from matchchoose.cli import ProgressBar
    from matchchoose.finetune import Recipe
    from matchchoose.finetune import latest_checkpoint
    from matchchoose.finetune.families import family_class
    from matchchoose.finetune.families import Batch
    from ._build import META_FILE, build_pipeline, zoo_metadata
    from ._data import MixtureData
    from ._loop import load_checkpoint, save_checkpoint, step_seed

    spec = get_spec(model)
    steps = spec.steps if steps is None else steps
    if steps < 1 or batch_size < 1:
        raise InputError(f"pretrain: steps and batch_size must be >= 1, got {steps} and {batch_size}.")
    if not 0.0 <= caption_dropout < 1.0:
        raise InputError(f"pretrain: caption_dropout must be in [0, 1), got {caption_dropout}.")
    out = Path(out_dir)
    latest = latest_checkpoint(out)
    if latest is not None and not resume:
        raise InputError(f"{out}: already has checkpoints (newest {latest.name}); resume or use an empty folder.")
    if not (out / "model_index.json").is_file():
        build_pipeline(spec, out, vae=vae, seed=seed, size=size)
    meta = zoo_metadata(out)
    if meta is None or meta.get("name") != spec.name:
        raise InputError(f"{out}: not a folder of micro-zoo model {spec.name} (MICROZOO.json says "
                         f"{(meta or {}).get('name')!r}); use an empty folder.")
    mix = dict(mixture) if mixture is not None else dict(spec.mixture)
    data = MixtureData(data_root, mix, RESOLUTION, seed=seed, held_out_fraction=held_out_fraction)

    torch.manual_seed(seed)
    np.random.seed(seed % 2 ** 32)
    family = family_class(spec.family).load(out, device=device)
    recipe = Recipe(resolution=RESOLUTION, seed=seed, steps=steps, batch_size=batch_size, learning_rate=lr,
                    max_grad_norm=max_grad_norm, caption_dropout=caption_dropout, center_crop=True)
    family.setup(recipe)
    denoiser = family.denoiser
    denoiser.requires_grad_(True)
    denoiser.train()
    params = [p for p in denoiser.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    settings = {"model": spec.name, "family": spec.family, "batch_size": batch_size, "learning_rate": lr,
                "warmup_steps": warmup_steps, "weight_decay": weight_decay, "max_grad_norm": max_grad_norm,
                "caption_dropout": caption_dropout, "seed": seed, "held_out_fraction": held_out_fraction,
                "mixture": data.weights.round(12).tolist(), "domains": data.domains, "resolution": RESOLUTION,
                "steps": steps, "checkpoint_every": checkpoint_every, "keep_checkpoints": keep_checkpoints}
    data_hash = data.content_hash()
    start, losses, wall_before, resumed_from = 0, [], 0.0, None
    if latest is not None:
        state = load_checkpoint(latest, denoiser, optimizer, settings, data_hash,
                                may_change=("steps", "checkpoint_every", "keep_checkpoints"))
        start, losses, wall_before = int(state["step"]), list(state["losses"]), float(state["wall_time_s"])
        resumed_from = start
        if start > steps:
            raise InputError(f"{latest}: the checkpoint is at step {start}, beyond the {steps} steps asked; raise "
                             "steps or use a new folder.")
    t_cache = time.perf_counter()
    zero_empty = bool(getattr(family.pipe.config, "force_zeros_for_empty_prompt", False))
    cache = _Encodings(family, data, [data.caption(it) for it in data.items()], zero_empty) if start < steps else None
    cache_s = time.perf_counter() - t_cache
    bar = ProgressBar(steps, f"pretrain {spec.name}", enabled=progress, completed=start, fields={"loss": "-"}).start()
    t0 = time.perf_counter()
    step_seconds = []
    try:
        for step in range(start, steps):
            t_step = time.perf_counter()
            for group in optimizer.param_groups:
                group["lr"] = _lr(lr, step, warmup_steps)
            gen = torch.Generator().manual_seed(step_seed(seed, step))
            items = data.draw(step, batch_size)
            drop = np.random.default_rng([seed, _DROP_STREAM, step]).random(batch_size) < caption_dropout
            captions = ["" if d else data.caption(it) for d, it in zip(drop, items)]
            batch = Batch(None, captions, [data.image(it)[1] for it in items], [data.image(it)[2] for it in items])
            latents = cache.latents(items, gen)
            loss = family.loss(latents, cache.conditioning(captions), batch, gen)
            if not torch.isfinite(loss):
                raise InputError(f"pretrain {spec.name}: the loss is {loss.item()} at step {step + 1}; lower the "
                                 "learning rate.")
            loss.backward()
            if max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            step_seconds.append(time.perf_counter() - t_step)
            bar.advance(loss=f"{losses[-1]:.4f}")
            done = step + 1
            out_of_time = max_seconds is not None and time.perf_counter() - t0 > max_seconds and done < steps
            if out_of_time:
                steps = done
            if (checkpoint_every and done % checkpoint_every == 0) or done == steps:
                save_checkpoint(out, done, denoiser, optimizer,
                                {"losses": losses, "settings": settings, "data_hash": data_hash,
                                 "wall_time_s": wall_before + time.perf_counter() - t0}, keep=keep_checkpoints)
            if out_of_time:
                break
    finally:
        bar.close()
    run_s = time.perf_counter() - t0
    if start == steps and latest is not None:  # nothing to train: make sure the folder has the checkpoint's weights
        from safetensors.torch import load_file

        denoiser.load_state_dict(load_file(str(latest / "weights.safetensors")))
    denoiser.eval()
    from matchchoose.finetune.families import quiet_loading

    with quiet_loading():
        denoiser.save_pretrained(str(out / family.denoiser_name), safe_serialization=True)
    trained = steps - start
    window = losses[-min(len(losses), 100):]
    record = {"format": "matchchoose-microzoo-pretrain/1", "settings": {**settings, "steps": steps},
              "data_hash": data_hash, "n_train_images": len(data), "steps": len(losses), "resumed_from": resumed_from,
              "wall_time_s": round(wall_before + run_s, 2), "cache_seconds": round(cache_s, 2),
              "seconds_per_step": round(run_s / trained, 4) if trained else None,
              "seconds_per_step_median": round(float(np.median(step_seconds)), 4) if step_seconds else None,
              "denoiser_parameters": int(sum(p.numel() for p in params)),
              "loss_first_100": float(np.mean(losses[:100])) if losses else None,
              "loss_last_100": float(np.mean(window)) if window else None, "losses": losses,
              "device": str(family.device), "torch_threads": torch.get_num_threads()}
    (out / "pretrain.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    meta["pretraining"] = {k: record[k] for k in ("steps", "wall_time_s", "seconds_per_step", "loss_first_100",
                                                  "loss_last_100", "n_train_images", "data_hash")}
    meta["pretraining"].update(mixture=dict(zip(data.domains, data.weights.round(6).tolist())),
                               batch_size=batch_size, learning_rate=lr, seed=seed)
    (out / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return PretrainResult(out, losses, record, resumed_from)
