"""The training loop: seeded, checkpointed, exactly resumable.

Layout of a run folder::

    RUN_DIR/
        checkpoints/step-N/          every recipe.checkpoint_every steps and at the end
            adapter_model.safetensors   trainable weights (method's key format)
            optimizer.pt                optimizer (and fp16 grad scaler) state
            rng.pt                      torch (CPU and the training GPU), numpy and python global RNG states
            trainer_state.json          step, losses so far, recipe, method, model, dataset hash
        adapter/                     the final weights, what load_adapter reads
            adapter_model.safetensors
            adapter_config.json         method, family, denoiser, base model
            run.json                    recipe, model, dataset hash, versions, wall time, loss curve

Everything random in step ``s`` (the images and their augmentation, VAE posterior samples, noise,
timesteps, low-memory rounding) is drawn from generators seeded by (seed, s), and the global RNG
states are saved and restored too, so training 4 steps straight or 2 steps, then resuming for 2
more, gives the same weights bit for bit (on the same device and software; on CUDA with
``Recipe(deterministic=True)``). Only the training device's CUDA random state is saved, so a
checkpoint made with more GPUs visible resumes on a machine with fewer.

On CUDA the loss stays on the device: it is copied to the host (one synchronisation) every
:data:`_SYNC_EVERY` steps, at checkpoints and at the end, when its finiteness is checked and the
progress bar shows it; on the CPU that happens every step. Attention backends and precision per
family: :mod:`matchchoose.finetune._device`.
"""

from __future__ import annotations

import json
import os
import platform
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._device import resolve_device
from .._errors import InputError, MatchChooseError
from .._progress import ProgressBar
from ._cache import EncodingCache
from ._data import BatchPrefetcher, TrainingImages
from ._device import (attention_backends, deterministic_algorithms, describe_backends, log, native_precision,
                      sdpa_context)
from ._layout import ADAPTER_FORMAT, latest_checkpoint
from ._methods import make_method, method_config
from ._optim import FusedAdamW, lr_at
from ._recipe import Recipe
from .families import detect_family, family_class

__all__ = ["FinetuneResult", "finetune", "latest_checkpoint", "ADAPTER_FORMAT"]

# Recipe fields a resumed run may change; every other field must equal the checkpoint's.
_RESUMABLE_CHANGES = ("steps", "checkpoint_every", "keep_checkpoints")
#: On CUDA, steps between two copies of the losses to the host (and finiteness checks).
_SYNC_EVERY = 25


@dataclass
class FinetuneResult:
    """What :func:`finetune` produced.

    Attributes
    ----------
    out_dir, adapter_dir : Path
        The run folder and its ``adapter/`` folder.
    run : dict
        The contents of ``adapter/run.json``.
    losses : list of float
        Mean training loss of every step (including the steps of resumed segments).
    resumed_from : int or None
        Step of the checkpoint this call resumed from.
    """

    out_dir: Path
    adapter_dir: Path
    run: dict
    losses: list = field(default_factory=list)
    resumed_from: int | None = None


class TrainingError(MatchChooseError):
    """Training diverged (non-finite loss)."""


# ------------------------------------------------------------------------------------------ helpers
def _step_seed(seed: int, step: int, salt: int = 0) -> int:
    return (seed * 1_000_003 + step * 10_007 + salt * 7) % (2 ** 63)


def _precision(recipe: Recipe, family: str, device: torch.device) -> str:
    """The mixed precision a run uses: the recipe's, with ``"auto"`` resolved for the family and device."""
    if recipe.mixed_precision != "auto":
        return recipe.mixed_precision
    if device.type != "cuda":
        return "no"
    return "bf16" if recipe.low_memory else native_precision(family)


def _dtype_of(recipe: Recipe, precision: str):
    if recipe.low_memory:
        return torch.bfloat16
    return {"no": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def _sync_every(device: torch.device) -> int:
    """Steps between two host copies of the losses: every step on the CPU (a copy costs nothing there)."""
    return 1 if device.type == "cpu" else _SYNC_EVERY


def _data_workers(device: torch.device) -> int:
    """Threads preparing batches ahead: none on the CPU (they would compete with the training
    threads for the same cores), up to 4 beside a GPU."""
    if device.type == "cpu":
        return 0
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def _versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("matchchoose", "torch", "diffusers", "transformers", "peft", "accelerate", "safetensors", "numpy"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    out["cuda"] = torch.version.cuda
    return out


def _rng_states(device: torch.device) -> dict:
    """The global random states; of CUDA only the training device's (``None`` when training on the CPU)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]),
                  float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }


def _set_rng_states(states: dict, device: torch.device):
    torch.set_rng_state(states["torch"])
    cuda = states.get("cuda")
    if isinstance(cuda, (list, tuple)):
        # Older checkpoints saved every visible GPU's state: take the training device's.
        index = device.index or 0 if device.type == "cuda" else 0
        cuda = cuda[index] if index < len(cuda) else None
    if cuda is not None and device.type == "cuda":
        torch.cuda.set_rng_state(cuda, device)
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))


def _dataset(dataset):
    from ..profile import ImageFolder

    return dataset if isinstance(dataset, ImageFolder) else ImageFolder(dataset)


# ------------------------------------------------------------------------------------------ trainer
class _Trainer:
    def __init__(self, model_path, dataset, out_dir, recipe: Recipe, device, progress: bool):
        self.model_path = Path(model_path).resolve()
        self.family_name = detect_family(self.model_path)
        self.data = _dataset(dataset)
        self.out_dir = Path(out_dir)
        self.recipe = recipe
        self.device = resolve_device(device, owner="Fine-tuning")
        self.progress = progress
        if recipe.mixed_precision == "fp16" and self.device.type != "cuda":
            raise InputError("mixed_precision 'fp16' needs a CUDA device (with loss scaling); use 'bf16' on the CPU.")
        self.precision = _precision(recipe, self.family_name, self.device)
        if self.precision == "fp16" and native_precision(self.family_name) == "bf16":
            log.warning("%s: a %s model was made in bfloat16; fp16 may overflow (mixed_precision 'bf16' or 'auto' "
                        "is safer)", self.model_path, self.family_name)
        self.dtype = _dtype_of(recipe, self.precision)
        self.scaler = None
        self.backends = attention_backends(self.device, self.family_name, training=True)
        self.sync_every = _sync_every(self.device)

    # ---------------------------------------------------------------------- setup
    def build(self):
        r = self.recipe
        torch.manual_seed(r.seed)
        np.random.seed(r.seed % (2 ** 32))
        random.seed(r.seed)
        cls = family_class(self.family_name)
        self.family = cls.load(self.model_path, device=self.device, dtype=self.dtype)
        self.family.setup(r)
        multiple = self.family.resolution_multiple()
        if r.resolution % multiple:
            raise InputError(f"{self.model_path}: resolution {r.resolution} is not a multiple of {multiple} (the "
                             f"{self.family.name} VAE and denoiser downsampling); use e.g. "
                             f"{max(multiple, r.resolution // multiple * multiple)}.")
        torch.manual_seed(r.seed)
        self.method = make_method(self.family, method_config(r, self.family))
        self.params = self.method.trainable()
        if not self.params:
            raise InputError(f"{self.model_path}: the {r.method} method found no parameter to train.")
        train_dtype = torch.bfloat16 if r.low_memory else torch.float32
        for p in self.params.values():
            p.data = p.data.to(device=self.device, dtype=train_dtype)
        if r.gradient_checkpointing:
            if not getattr(self.family.denoiser, "_supports_gradient_checkpointing", False):
                raise InputError(f"{self.model_path}: the {type(self.family.denoiser).__name__} does not support "
                                 "gradient checkpointing; train without --gradient-checkpointing.")
            self.family.denoiser.enable_gradient_checkpointing()
        self.family.denoiser.train()
        if r.low_memory:
            self.optimizer = FusedAdamW(self.params, r)
        else:
            self.optimizer = torch.optim.AdamW(list(self.params.values()), lr=r.learning_rate,
                                               betas=(r.adam_beta1, r.adam_beta2), eps=r.adam_epsilon,
                                               weight_decay=r.weight_decay)
            if self.precision == "fp16":
                self.scaler = torch.amp.GradScaler("cuda")
        self.images = TrainingImages(self.data, r)
        self.prefetcher = None
        self.cache = EncodingCache(self.family) if r.cache_encodings else None
        self.dataset_hash = self.data.content_hash()
        log.info("%s: training in %s on %s, attention backends: %s%s", self.model_path.name,
                 {"no": "float32"}.get(self.precision, self.precision), self.device, describe_backends(self.backends),
                 ", deterministic algorithms" if r.deterministic else "")

    # ---------------------------------------------------------------------- checkpoints
    def _state_meta(self) -> dict:
        return {"model": str(self.model_path), "family": self.family_name, "dataset": str(self.data.root),
                "dataset_hash": self.dataset_hash, "method": self.method.config(), "dtype": str(self.dtype)}

    def save_checkpoint(self, step: int, losses: list, wall: float):
        from safetensors.torch import save_file

        root = self.out_dir / "checkpoints"
        final = root / f"step-{step}"
        tmp = root / f".step-{step}.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        save_file(self.method.state_dict(), str(tmp / "adapter_model.safetensors"))
        torch.save({"optimizer": self.optimizer.state_dict(),
                    "scaler": self.scaler.state_dict() if self.scaler is not None else None}, tmp / "optimizer.pt")
        torch.save(_rng_states(self.device), tmp / "rng.pt")
        state = {"step": step, "losses": losses, "wall_time_s": wall, "recipe": self.recipe.to_dict(),
                 **self._state_meta()}
        (tmp / "trainer_state.json").write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        keep = self.recipe.keep_checkpoints
        if keep:
            steps = sorted((int(p.name[5:]), p) for p in root.iterdir()
                           if p.is_dir() and p.name.startswith("step-") and p.name[5:].isdigit())
            for _, p in steps[:-keep]:
                shutil.rmtree(p)

    def load_checkpoint(self, path: Path) -> tuple[int, list, float]:
        from safetensors.torch import load_file

        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        old = Recipe.from_dict(state["recipe"], source=str(path / "trainer_state.json"))
        changed = [f for f, v in old.to_dict().items()
                   if f not in _RESUMABLE_CHANGES and v != self.recipe.to_dict()[f]]
        if changed:
            f = changed[0]
            raise InputError(f"{path}: cannot resume: recipe field {f!r} was {getattr(old, f)!r} and is now "
                             f"{getattr(self.recipe, f)!r} (only {', '.join(_RESUMABLE_CHANGES)} may change); use "
                             "the same recipe or a new run folder.")
        if state["dataset_hash"] != self.dataset_hash:
            raise InputError(f"{path}: cannot resume: the dataset {self.data.root} differs from the one this run "
                             "trained on (content hash changed); use a new run folder.")
        if state["family"] != self.family_name:
            raise InputError(f"{path}: cannot resume: the run trained a {state['family']} model, {self.model_path} "
                             f"is {self.family_name}.")
        weights = load_file(str(path / "adapter_model.safetensors"))
        self.method.load_state_dict(weights, source=str(path))  # copies into the parameters (dtype kept)
        # On the CPU: the optimizers move each state tensor to its parameter's device themselves.
        opt = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True)
        self.optimizer.load_state_dict(opt["optimizer"])
        if self.scaler is not None and opt.get("scaler"):
            self.scaler.load_state_dict(opt["scaler"])
        _set_rng_states(torch.load(path / "rng.pt", weights_only=True), self.device)
        return int(state["step"]), list(state["losses"]), float(state.get("wall_time_s", 0.0))

    # ---------------------------------------------------------------------- steps
    def train_step(self, step: int) -> torch.Tensor:
        """One optimizer step; the mean loss as a float64 scalar on the device (no host sync)."""
        r = self.recipe
        fam = self.family
        k = r.gradient_accumulation
        autocast = torch.autocast(self.device.type, dtype=self.dtype,
                                  enabled=self.precision != "no" and not r.low_memory)
        # float64 on the device: the same arithmetic as summing Python floats, without a sync.
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        if not r.low_memory:
            for group in self.optimizer.param_groups:
                group["lr"] = lr_at(r, step)
        for micro in range(k):
            gen = torch.Generator().manual_seed(_step_seed(r.seed, step, micro))
            batch = self.batch(step, micro)
            with torch.no_grad():
                if self.cache is None:
                    cond = fam.encode_prompts(batch.captions)
                    latents = fam.encode_images(batch.pixels, gen)
                else:
                    cond = self.cache.encode_prompts(batch.captions)
                    latents = self.cache.encode_images(batch.pixels, batch.keys, gen)
            if r.low_memory:
                self.optimizer.begin_step(step, last=micro == k - 1)
            with sdpa_context(self.backends):
                with autocast:
                    loss = fam.loss(latents, cond, batch, gen)
                if self.sync_every == 1 and not torch.isfinite(loss):
                    raise self.diverged(loss.item(), step)
                scaled = loss / k
                (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
            total += loss.detach().to(torch.float64) / k
        if r.low_memory:
            self.optimizer.finish_step()
            return total
        params = list(self.params.values())
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if r.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, r.max_grad_norm)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total

    def start_prefetch(self, start: int) -> None:
        """Prepare the batches of steps ``start..`` in worker threads (pinned memory on CUDA)."""
        workers = _data_workers(self.device)
        if workers and start < self.recipe.steps:
            self.prefetcher = BatchPrefetcher(self.images, start, self.recipe.steps, workers=workers,
                                              pin=self.device.type == "cuda")

    def batch(self, step: int, micro: int):
        """Micro-batch ``micro`` of step ``step``: prefetched (and its pixels already on their way to the
        device, asynchronously from pinned memory) when a prefetcher runs."""
        batch = self.images.micro_batch(step, micro) if self.prefetcher is None else self.prefetcher.get(step, micro)
        if self.cache is not None:
            batch.keys = EncodingCache.image_keys(batch.pixels)
        if self.prefetcher is not None and self.device.type == "cuda":
            batch.pixels = batch.pixels.to(self.device, non_blocking=True)
        return batch

    def diverged(self, value: float, step: int) -> "TrainingError":
        return TrainingError(f"{self.model_path}: the loss is {value} at step {step + 1}; lower the learning rate, "
                             "or use bf16 rather than fp16.")

    def flush(self, pending: list, losses: list) -> None:
        """Copy the ``(step, loss tensor)`` of ``pending`` to ``losses`` (one host sync); raise
        :class:`TrainingError` at the first non-finite one."""
        if not pending:
            return
        values = torch.stack([loss for _, loss in pending]).tolist()
        for (step, _), value in zip(pending, values, strict=True):
            if not np.isfinite(value):
                raise self.diverged(value, step)
            losses.append(value)
        pending.clear()

    # ---------------------------------------------------------------------- final
    def write_adapter(self, losses: list, wall: float, resumed_from) -> tuple[Path, dict]:
        from safetensors.torch import save_file

        adapter = self.out_dir / "adapter"
        tmp = self.out_dir / ".adapter.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        weights = self.method.state_dict()
        save_file(weights, str(tmp / "adapter_model.safetensors"), metadata={"format": "pt"})
        if self.method.name == "lora":  # the same weights in diffusers' layout: pipe.load_lora_weights(adapter/)
            prefix = self.family.denoiser_name
            save_file({f"{prefix}.{k}": v for k, v in weights.items()}, str(tmp / "pytorch_lora_weights.safetensors"),
                      metadata={"format": "pt", "lora_adapter_metadata": self.method.diffusers_metadata(prefix)})
        config = {"format": ADAPTER_FORMAT, "family": self.family_name,
                  "pipeline_class": self.family.pipe.__class__.__name__, "denoiser": self.family.denoiser_name,
                  "denoiser_class": type(self.family.denoiser).__name__, "base_model": str(self.model_path),
                  "dtype": str(next(iter(self.params.values())).dtype).replace("torch.", ""),
                  **self.method.config()}
        (tmp / "adapter_config.json").write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
        n_params = int(sum(p.numel() for p in self.params.values()))
        run = {
            "format": ADAPTER_FORMAT,
            "recipe": self.recipe.to_dict(),
            "method": self.method.config(),
            "trainable_parameters": n_params,
            "model": {"path": str(self.model_path), "family": self.family_name,
                      "pipeline_class": self.family.pipe.__class__.__name__,
                      "denoiser_class": type(self.family.denoiser).__name__},
            "dataset": {"path": str(self.data.root), "n_images": len(self.data), "n_train_images": len(self.images),
                        "content_hash": self.dataset_hash},
            "device": str(self.device) + (f" ({torch.cuda.get_device_name(self.device)})"
                                          if self.device.type == "cuda" else ""),
            "precision": {"no": "float32"}.get(self.precision, self.precision),
            "attention_backends": describe_backends(self.backends),
            **({"encoding_cache": {"hits": dict(self.cache.hits), "misses": dict(self.cache.misses)}}
               if self.cache is not None else {}),
            "versions": _versions(),
            "steps": len(losses),
            "resumed_from": resumed_from,
            "wall_time_s": round(wall, 3),
            "final_loss": float(np.mean(losses[-min(len(losses), 50):])) if losses else None,
            "losses": losses,
        }
        (tmp / "run.json").write_text(json.dumps(run, indent=1) + "\n", encoding="utf-8")
        if adapter.exists():
            shutil.rmtree(adapter)
        os.replace(tmp, adapter)
        return adapter, run

    def cleanup(self):
        if self.cache is not None:
            self.cache.close()  # run.json was written: the counts are kept there
        if self.prefetcher is not None:
            self.prefetcher.close()
            self.prefetcher = None
        if isinstance(self.optimizer, FusedAdamW):
            self.optimizer.remove()


def finetune(model_path, dataset, out_dir, recipe: Recipe | None = None, *, resume: bool = True,
             progress: bool = True, device=None) -> FinetuneResult:
    """Fine-tune a diffusers pipeline on an image folder with LoRA or adapters; save a loadable adapter.

    Parameters
    ----------
    model_path : str or Path
        Local diffusers folder (``model_index.json`` and component folders with weights) of a
        supported family (:data:`~matchchoose.finetune.families.REGISTRY`).
    dataset : str, Path or ImageFolder
        Training images with captions (``metadata.jsonl``, ``captions.jsonl`` or sidecar ``.txt``;
        images without a caption train on the empty caption).
    out_dir : str or Path
        Run folder: ``checkpoints/step-N/`` and the final ``adapter/`` (see the module docstring).
    recipe : Recipe, optional
        Hyperparameters; default :class:`Recipe` (the paper's protocol).
    resume : bool, default=True
        Resume from the newest checkpoint in ``out_dir`` (same recipe but for ``steps``,
        ``checkpoint_every``, ``keep_checkpoints``; same dataset). ``False`` refuses a folder
        that already has checkpoints.
    progress : bool, default=True
        Show a progress bar with the loss on stderr.
    device : str, optional
        ``"cuda"``, ``"cuda:1"``, ``"cpu"``; default CUDA when available.

    Returns
    -------
    FinetuneResult

    Raises
    ------
    InputError
        Unsupported pipeline, bad recipe for the model (resolution), incompatible checkpoint.
    """
    recipe = recipe or Recipe()
    if not isinstance(recipe, Recipe):
        raise InputError(f"recipe must be a matchchoose.finetune.Recipe, got {type(recipe).__name__}.")
    out = Path(out_dir)
    latest = latest_checkpoint(out)
    if latest is not None and not resume:
        raise InputError(f"{out}: the run folder already has checkpoints (newest {latest.name}); resume it "
                         "(--resume, the default) or use an empty folder.")
    with deterministic_algorithms(recipe.deterministic):
        return _run(model_path, dataset, out, recipe, device, progress, latest)


def _run(model_path, dataset, out: Path, recipe: Recipe, device, progress: bool, latest) -> FinetuneResult:
    trainer = _Trainer(model_path, dataset, out, recipe, device, progress)
    trainer.build()
    out.mkdir(parents=True, exist_ok=True)
    recipe.save(out / "recipe.json")  # the recipe of the latest call, for the record
    start, losses, wall_before, resumed_from = 0, [], 0.0, None
    if latest is not None:
        start, losses, wall_before = trainer.load_checkpoint(latest)
        resumed_from = start
        if start > recipe.steps:
            raise InputError(f"{latest}: the checkpoint is at step {start}, beyond the recipe's {recipe.steps} "
                             "steps; raise --steps or use a new run folder.")
    t0 = time.perf_counter()
    bar = ProgressBar(recipe.steps, f"finetune {trainer.model_path.name}", enabled=progress, completed=start,
                      fields={"loss": "-"}).start()
    pending = []
    trainer.start_prefetch(start)
    try:
        for step in range(start, recipe.steps):
            pending.append((step, trainer.train_step(step)))
            done = step + 1
            checkpoint = (recipe.checkpoint_every and done % recipe.checkpoint_every == 0) or done == recipe.steps
            if checkpoint or len(pending) >= trainer.sync_every:
                trainer.flush(pending, losses)
            bar.advance(**({"loss": f"{losses[-1]:.4f}"} if not pending else {}))
            if checkpoint:
                trainer.save_checkpoint(done, losses, wall_before + time.perf_counter() - t0)
    except BaseException:
        trainer.cleanup()
        raise
    finally:
        bar.close()
    wall = wall_before + time.perf_counter() - t0
    adapter, run = trainer.write_adapter(losses, wall, resumed_from)
    trainer.cleanup()
    return FinetuneResult(out, adapter, run, losses, resumed_from)
