"""The shared VAE of the zoo: an ``AutoencoderKL`` trained here on the micro-zoo domains.

Every zoo model encodes :data:`~._spec.RESOLUTION` px images into 16 x 16 x 4 latents with this one
VAE (the real zoo shares VAEs within families too). It is trained on the training splits of all
given domains, uniformly mixed, with an L1 + L2 reconstruction loss and a small KL term (no
perceptual or adversarial loss: no pretrained network for them is available offline), AdamW and a
cosine learning-rate decay after a linear warm-up. Checkpoints and exact resume as in
:mod:`._loop`.

After training, ``latent_stats.json`` records the mean, standard deviation and root mean square of
posterior samples over the training images (the pipelines' ``shift_factor`` and ``scaling_factor``
come from them, :func:`~._build.load_vae`) and the reconstruction PSNR on each domain's held-out
images.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matchchoose import InputError, require
from ._spec import RESOLUTION, VAE_CONFIG

__all__ = ["VaeResult", "train_vae", "vae_config"]


@dataclass
class VaeResult:
    """What :func:`train_vae` produced: the VAE folder, the loss of every step, ``latent_stats.json``."""

    out_dir: Path
    losses: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    resumed_from: int | None = None


def vae_config(size: str = "full") -> dict:
    """The shared VAE's ``AutoencoderKL`` config (``size="test"``: 8 channels per level)."""
    config = dict(VAE_CONFIG)
    if size == "test":
        config.update(block_out_channels=[8, 8, 8], norm_num_groups=4)
    return config


def _lr(base: float, step: int, steps: int, warmup: int) -> float:
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _batch(data, items):
    import torch

    return torch.from_numpy(np.stack([data.image(it)[0] for it in items])).permute(0, 3, 1, 2).contiguous()


def _latent_stats(vae, data, seed: int) -> dict:
    import torch

    items = data.items()
    gen = torch.Generator().manual_seed(seed)
    total, total_sq, count = 0.0, 0.0, 0
    with torch.no_grad():
        for start in range(0, len(items), 64):
            z = vae.encode(_batch(data, items[start:start + 64])).latent_dist.sample(generator=gen).double()
            total += float(z.sum())
            total_sq += float((z * z).sum())
            count += z.numel()
    mean = total / count
    rms = math.sqrt(total_sq / count)
    std = math.sqrt(max(total_sq / count - mean * mean, 1e-12))
    return {"mean": mean, "std": std, "rms": rms, "n_images": len(items)}


def _psnr(vae, data_root, domains, held_out_fraction: float, per_domain: int) -> dict:
    """Reconstruction PSNR (dB, posterior mode) on up to ``per_domain`` held-out images of each domain."""
    import torch

    from ._data import MixtureData

    out = {}
    if not held_out_fraction:
        return out
    for domain in domains:
        view = MixtureData(data_root, {domain: 1.0}, RESOLUTION, held_out_fraction=held_out_fraction, part="held_out")
        items = view.items()[:per_domain]
        x = _batch(view, items)
        with torch.no_grad():
            rec = vae.decode(vae.encode(x).latent_dist.mode()).sample.clamp(-1, 1)
        mse = float(((rec - x) / 2).pow(2).mean())
        out[domain] = round(10 * math.log10(1.0 / max(mse, 1e-12)), 2)
    return out


def train_vae(data_root, out_dir, *, domains=None, steps: int = 1500, batch_size: int = 16,
              lr: float = 5e-4, kl_weight: float = 1e-6, warmup_steps: int = 50, seed: int = 0,
              checkpoint_every: int = 250, keep_checkpoints: int = 2, held_out_fraction: float = 0.2,
              size: str = "full", resume: bool = True, progress: bool = True, device: str = "cpu") -> VaeResult:
    """Train the shared VAE on micro-zoo domains; save it as a diffusers ``AutoencoderKL`` folder.

    Parameters
    ----------
    data_root : str or Path
        Folder with one ImageFolder per domain (``mnc-microzoo datasets build --out``).
    out_dir : str or Path
        The VAE folder (``config.json``, ``diffusion_pytorch_model.safetensors``,
        ``latent_stats.json``, ``train.json``) and its ``checkpoints/``.
    domains : list of str, optional
        Domains to train on (default: every domain under ``data_root``), uniformly mixed.
    steps, batch_size, lr, kl_weight, warmup_steps : training settings
        Defaults: 1500 steps of 16 images, AdamW 5e-4 with 50 warm-up steps and a cosine decay to a
        tenth, KL weight 1e-6.
    seed : int, default=0
        Seeds the initial weights, the data stream and the posterior samples.
    checkpoint_every, keep_checkpoints : int
        Checkpoint period (and at the end) and how many to keep.
    held_out_fraction : float, default=0.2
        Each domain's held-out split is left out of training (and used for the PSNR).
    size : {"full", "test"}
        ``"test"``: a much narrower VAE, for tests.
    resume : bool, default=True
        Resume from the newest checkpoint (same settings and data); ``False`` refuses a folder with
        checkpoints.
    progress : bool, default=True
    device : str, default="cpu"
        Where to train (``"cuda"`` on a GPU); the latent statistics and PSNR are measured on the CPU.

    Returns
    -------
    VaeResult
    """
    torch = require("torch", "Training the micro-zoo VAE", "models")
    diffusers = require("diffusers", "Training the micro-zoo VAE", "models")
    from matchchoose.cli import ProgressBar
    from matchchoose.finetune import latest_checkpoint
    from ._data import MixtureData, available_domains
    from ._loop import load_checkpoint, save_checkpoint, step_seed

    if steps < 1 or batch_size < 1:
        raise InputError(f"train_vae: steps and batch_size must be >= 1, got {steps} and {batch_size}.")
    out = Path(out_dir)
    domains = list(domains) if domains is not None else available_domains(data_root)
    if not domains:
        raise InputError(f"{data_root}: no domain folders (ImageFolder with metadata.jsonl) found.")
    latest = latest_checkpoint(out)
    if latest is not None and not resume:
        raise InputError(f"{out}: already has checkpoints (newest {latest.name}); resume or use an empty folder.")
    data = MixtureData(data_root, {d: 1.0 for d in domains}, RESOLUTION, seed=seed,
                       held_out_fraction=held_out_fraction)
    torch.manual_seed(seed)
    np.random.seed(seed % 2 ** 32)
    vae = diffusers.AutoencoderKL.from_config(vae_config(size)).to(device)
    vae.train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    settings = {"steps": steps, "batch_size": batch_size, "learning_rate": lr, "kl_weight": kl_weight,
                "warmup_steps": warmup_steps, "seed": seed, "size": size, "domains": domains,
                "held_out_fraction": held_out_fraction}
    data_hash = data.content_hash()
    start, losses, wall_before, resumed_from = 0, [], 0.0, None
    if latest is not None:
        state = load_checkpoint(latest, vae, optimizer, settings, data_hash)
        start, losses, wall_before, resumed_from = state["step"], list(state["losses"]), state["wall_time_s"], state[
            "step"]
    bar = ProgressBar(steps, "vae", enabled=progress, completed=start, fields={"loss": "-"}).start()
    t0 = time.perf_counter()
    try:
        for step in range(start, steps):
            for group in optimizer.param_groups:
                group["lr"] = _lr(lr, step, steps, warmup_steps)
            gen = torch.Generator().manual_seed(step_seed(seed, step))
            x = _batch(data, data.draw(step, batch_size)).to(device)
            posterior = vae.encode(x).latent_dist
            rec = vae.decode(posterior.sample(generator=gen)).sample
            loss = (rec - x).abs().mean() + (rec - x).pow(2).mean() + kl_weight * posterior.kl().mean()
            if not torch.isfinite(loss):
                raise InputError(f"train_vae: the loss is {loss.item()} at step {step + 1}; lower the learning rate.")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            bar.advance(loss=f"{losses[-1]:.4f}")
            done = step + 1
            if (checkpoint_every and done % checkpoint_every == 0) or done == steps:
                save_checkpoint(out, done, vae, optimizer, {"losses": losses, "settings": settings,
                                                            "data_hash": data_hash,
                                                            "wall_time_s": wall_before + time.perf_counter() - t0},
                                keep=keep_checkpoints)
    finally:
        bar.close()
    wall = wall_before + time.perf_counter() - t0
    vae.to("cpu").eval()
    stats = _latent_stats(vae, data, seed)
    stats["psnr_held_out"] = _psnr(vae, data_root, domains, held_out_fraction, per_domain=16)
    if stats["psnr_held_out"]:
        stats["psnr_held_out_mean"] = round(float(np.mean(list(stats["psnr_held_out"].values()))), 2)
    from matchchoose.finetune.families import quiet_loading

    with quiet_loading():
        vae.save_pretrained(str(out), safe_serialization=True)
    (out / "latent_stats.json").write_text(json.dumps(stats, indent=1) + "\n", encoding="utf-8")
    trained = steps - start
    record = {"format": "matchchoose-microzoo-vae/1", "settings": settings, "data_hash": data_hash,
              "steps": len(losses), "wall_time_s": round(wall, 2),
              "seconds_per_step": round((wall - wall_before) / trained, 4) if trained else None, "losses": losses,
              "resumed_from": resumed_from}
    (out / "train.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return VaeResult(out, losses, stats, resumed_from)
