"""The fine-tuning recipe: every hyperparameter of a run, with the paper's protocol as defaults.

Paper 5.1 (arXiv 2508.10993): LoRA, 10,000 steps, batch size 8, learning rate 1e-5, AdamW, images
cropped to 512 x 512, text encoders frozen. What the paper does not state takes the value of the
diffusers LoRA training scripts the protocol follows (AdamW betas 0.9 / 0.999, weight decay 1e-2,
epsilon 1e-8, gradient clipping at 1.0, constant learning rate, LoRA alpha = rank, attention
projections as targets).

A recipe is a frozen dataclass; :meth:`Recipe.load` / :meth:`Recipe.save` read and write JSON or
TOML files (by suffix) and reject unknown keys, naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

from .._errors import InputError

__all__ = ["Recipe", "METHODS", "MIXED_PRECISION", "TIMESTEP_SAMPLING"]

METHODS = ("lora", "adapter", "full")
MIXED_PRECISION = ("no", "fp16", "bf16", "auto")
TIMESTEP_SAMPLING = ("uniform", "logit_normal")


@dataclass(frozen=True)
class Recipe:
    """Hyperparameters of one fine-tuning run.

    Parameters
    ----------
    method : {"lora", "adapter", "full"}, default="lora"
        ``"lora"``: low-rank adapters (peft) on the denoiser's attention projections (paper 5.1).
        ``"adapter"``: bottleneck adapters after the cross-attention blocks (arXiv 2303.18181),
        zero-initialised so that step 0 is the base model.
        ``"full"``: every weight of the denoiser (text encoders and VAE frozen).
    steps : int, default=10000
        Optimizer steps.
    batch_size : int, default=8
        Images per optimizer step (the effective batch; see ``gradient_accumulation``).
    learning_rate : float, default=1e-5
    lr_warmup_steps : int, default=0
        Linear warm-up from 0, then constant.
    adam_beta1, adam_beta2, adam_epsilon, weight_decay : float
        AdamW hyperparameters (0.9, 0.999, 1e-8, 1e-2).
    max_grad_norm : float, default=1.0
        Gradient clipping (global norm; per tensor in low-memory mode). 0: no clipping.
    resolution : int, default=512
        Training images are resized (shorter side) and cropped to ``resolution`` x ``resolution``.
    center_crop : bool, default=True
        Center crop; ``False``: a seeded random crop.
    random_flip : bool, default=False
        Horizontal flip with probability 1/2.
    caption_dropout : float, default=0.0
        Probability of training on the empty caption instead of the image's.
    max_train_images : int or None
        Train on a seeded random subset of this many images.
    lora_rank : int, default=4
    lora_alpha : float or None
        LoRA scale numerator; ``None``: equal to the rank (scale 1).
    lora_dropout : float, default=0.0
    lora_targets : tuple of str or None
        Module name suffixes LoRA wraps; ``None``: the family's attention projections.
    adapter_dim : int, default=64
        Bottleneck width of the ``"adapter"`` method.
    timestep_sampling : {"uniform", "logit_normal"} or None
        Flow-matching families only: how the noise level is drawn; ``None``: the family's default
        (SD3 logit-normal, Flux and Sana uniform, as in the diffusers scripts).
    seed : int, default=0
        Seeds LoRA / adapter initialisation, data order, augmentation, noise and timesteps.
    mixed_precision : {"no", "fp16", "bf16", "auto"}, default="no"
        Frozen weights in half precision and autocast; trainable weights stay float32. fp16 needs CUDA.
        ``"auto"``: the precision the family's weights were made in on CUDA (bf16 for Flux, SD3,
        PixArt and Sana, fp16 for SD 1.5 and SDXL; bf16 with ``low_memory``), ``"no"`` on the CPU.
        In fp16, components that overflow there (T5 and Gemma text encoders, a VAE that asks to be
        upcast) stay in bf16 or fp32.
    gradient_checkpointing : bool, default=False
        Recompute the denoiser's activations in the backward pass.
    gradient_accumulation : int, default=1
        Split each batch into this many micro-batches (must divide ``batch_size``).
    checkpoint_every : int, default=500
        Save a resumable checkpoint every this many steps (and at the end); 0: only at the end.
    keep_checkpoints : int or None
        Keep only the newest this many checkpoints; ``None``: keep all.
    low_memory : bool, default=False
        bfloat16 weights with no float32 master copy and the AdamW step fused into back-propagation
        (arXiv 2309.12381), with compensated (Kahan) summation of the updates.
    deterministic : bool, default=False
        Deterministic algorithms on CUDA (``torch.use_deterministic_algorithms``, cuBLAS workspace
        setting, no cuDNN autotuning), so that a run, and a resumed run, is bit-identical to a
        rerun; costs about +21 % training time on a GPU. CPU runs are bit-identical either way.
        Left out of :meth:`to_dict` when false, so recipes written before it existed keep their
        hash.
    cache_encodings : bool, default=False
        Encode each distinct training image (after resize and crop) and caption once and reuse the
        VAE posterior and text embeddings whenever the same content comes back (keyed by content;
        :mod:`matchchoose.finetune._cache`): the frozen encoders stop running after the first
        epoch. Equal to training without it to rounding, not bit for bit. Left out of
        :meth:`to_dict` when false.

    Examples
    --------
    >>> r = Recipe()
    >>> r.steps, r.batch_size, r.learning_rate, r.resolution
    (10000, 8, 1e-05, 512)
    >>> r.replace(steps=4).steps
    4
    """

    method: str = "lora"
    steps: int = 10000
    batch_size: int = 8
    learning_rate: float = 1e-5
    lr_warmup_steps: int = 0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    weight_decay: float = 1e-2
    max_grad_norm: float = 1.0
    resolution: int = 512
    center_crop: bool = True
    random_flip: bool = False
    caption_dropout: float = 0.0
    max_train_images: int | None = None
    lora_rank: int = 4
    lora_alpha: float | None = None
    lora_dropout: float = 0.0
    lora_targets: tuple | None = None
    adapter_dim: int = 64
    timestep_sampling: str | None = None
    seed: int = 0
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    gradient_accumulation: int = 1
    checkpoint_every: int = 500
    keep_checkpoints: int | None = None
    low_memory: bool = False
    deterministic: bool = False
    cache_encodings: bool = False

    # ---------------------------------------------------------------------------------- checks
    def __post_init__(self):
        if self.lora_targets is not None and not isinstance(self.lora_targets, tuple):
            if isinstance(self.lora_targets, str):
                targets = tuple(t.strip() for t in self.lora_targets.split(",") if t.strip())
            elif isinstance(self.lora_targets, (list,)):
                targets = tuple(self.lora_targets)
            else:
                raise InputError(f"Recipe: 'lora_targets' must be a list of module names or null, got "
                                 f"{self.lora_targets!r}.")
            object.__setattr__(self, "lora_targets", targets)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _INT_LIKE_FLOATS and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
        _check(self)

    # ---------------------------------------------------------------------------------- API
    def replace(self, **changes) -> "Recipe":
        """A copy with ``changes`` applied (validated); ``None`` values are ignored.

        Unknown names raise :class:`InputError`. Use this for command-line overrides.
        """
        names = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise InputError(f"Recipe: unknown field {unknown[0]!r}; known fields: {', '.join(sorted(names))}.")
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict:
        """JSON-able dict of every field (tuples as lists); fields added after the first release are
        left out at their default (:data:`_ADDED_LATER`), so a recipe's hash and file do not change."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _ADDED_LATER and value == f.default:
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "recipe") -> "Recipe":
        """Build a recipe from a dict, rejecting unknown keys (the error names ``source`` and the key)."""
        if not isinstance(data, dict):
            raise InputError(f"{source}: expected a table/object of recipe fields, got {type(data).__name__}.")
        names = [f.name for f in fields(cls)]
        for key in data:
            if key not in names:
                raise InputError(f"{source}: unknown recipe key {key!r}; remove it or use one of: {', '.join(names)}.")
        try:
            return cls(**data)
        except InputError as exc:
            raise InputError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path) -> "Recipe":
        """Read a recipe from a ``.json`` or ``.toml`` file; keys not given take the defaults.

        A TOML file may put the fields at the top level or in a ``[recipe]`` table.

        Raises
        ------
        InputError
            Missing or malformed file, unknown key, bad value; the message names the file.
        """
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no such recipe file.")
        suffix = path.suffix.lower()
        text = path.read_text(encoding="utf-8")
        if suffix == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno} "
                                 f"({exc.msg}).") from None
        elif suffix == ".toml":
            import tomllib

            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise InputError(f"{path}: malformed TOML ({exc}).") from None
            if set(data) == {"recipe"} and isinstance(data["recipe"], dict):
                data = data["recipe"]
        else:
            raise InputError(f"{path}: unknown recipe format {suffix!r}; use a .json or .toml file.")
        return cls.from_dict(data, source=str(path))

    def save(self, path) -> Path:
        """Write the recipe as ``.json`` or ``.toml`` (by suffix); return the path."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".json":
            text = json.dumps(self.to_dict(), indent=2) + "\n"
        elif suffix == ".toml":
            text = _to_toml(self.to_dict())
        else:
            raise InputError(f"{path}: unknown recipe format {suffix!r}; use a .json or .toml file.")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    @property
    def micro_batch_size(self) -> int:
        """Images per forward pass (``batch_size / gradient_accumulation``)."""
        return self.batch_size // self.gradient_accumulation

    @property
    def effective_lora_alpha(self) -> float:
        """``lora_alpha``, or the rank when it is not set."""
        return float(self.lora_rank if self.lora_alpha is None else self.lora_alpha)


#: Fields added after recipes were first hashed (grid cells): written only when not at their default.
_ADDED_LATER = ("deterministic", "cache_encodings")

_INT_LIKE_FLOATS = ("learning_rate", "adam_beta1", "adam_beta2", "adam_epsilon", "weight_decay", "max_grad_norm",
                    "caption_dropout", "lora_alpha", "lora_dropout")


def _fail(name: str, what: str, value):
    raise InputError(f"recipe field {name!r} must be {what}; got {value!r}.")


def _int(r, name, low, allow_none=False):
    v = getattr(r, name)
    if v is None and allow_none:
        return
    if not isinstance(v, int) or isinstance(v, bool) or v < low:
        _fail(name, f"an integer >= {low}" + (" or null" if allow_none else ""), v)


def _float(r, name, low, high=None, low_open=False, allow_none=False):
    v = getattr(r, name)
    if v is None and allow_none:
        return
    ok = isinstance(v, float) and math.isfinite(v) and (v > low if low_open else v >= low) and \
        (high is None or v <= high)
    if not ok:
        bound = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else "")
        _fail(name, f"a number {bound}" + (" or null" if allow_none else ""), v)


def _bool(r, name):
    if not isinstance(getattr(r, name), bool):
        _fail(name, "true or false", getattr(r, name))


def _choice(r, name, allowed, allow_none=False):
    v = getattr(r, name)
    if v is None and allow_none:
        return
    if v not in allowed:
        _fail(name, "one of " + ", ".join(map(repr, allowed)) + (" or null" if allow_none else ""), v)


def _check(r: Recipe):
    _choice(r, "method", METHODS)
    _int(r, "steps", 1)
    _int(r, "batch_size", 1)
    _float(r, "learning_rate", 0.0, low_open=True)
    _int(r, "lr_warmup_steps", 0)
    _float(r, "adam_beta1", 0.0, 1.0)
    _float(r, "adam_beta2", 0.0, 1.0)
    _float(r, "adam_epsilon", 0.0, low_open=True)
    _float(r, "weight_decay", 0.0)
    _float(r, "max_grad_norm", 0.0)
    _int(r, "resolution", 8)
    _bool(r, "center_crop")
    _bool(r, "random_flip")
    _float(r, "caption_dropout", 0.0, 1.0)
    _int(r, "max_train_images", 1, allow_none=True)
    _int(r, "lora_rank", 1)
    _float(r, "lora_alpha", 0.0, low_open=True, allow_none=True)
    _float(r, "lora_dropout", 0.0, 1.0)
    if r.lora_targets is not None and (not r.lora_targets or not all(isinstance(t, str) and t for t in r.lora_targets)):
        _fail("lora_targets", "a non-empty list of module names or null", r.lora_targets)
    _int(r, "adapter_dim", 1)
    _choice(r, "timestep_sampling", TIMESTEP_SAMPLING, allow_none=True)
    _int(r, "seed", 0)
    _choice(r, "mixed_precision", MIXED_PRECISION)
    _bool(r, "gradient_checkpointing")
    _int(r, "gradient_accumulation", 1)
    if r.batch_size % r.gradient_accumulation:
        _fail("gradient_accumulation", f"a divisor of batch_size ({r.batch_size})", r.gradient_accumulation)
    _int(r, "checkpoint_every", 0)
    _int(r, "keep_checkpoints", 1, allow_none=True)
    _bool(r, "low_memory")
    _bool(r, "deterministic")
    _bool(r, "cache_encodings")
    if r.low_memory and r.mixed_precision == "fp16":
        _fail("mixed_precision", "'no' or 'bf16' with low_memory (low-memory mode trains in bfloat16 without "
              "loss scaling)", r.mixed_precision)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(value)


def _to_toml(data: dict) -> str:
    # Every field whose value can be None defaults to None, so leaving it out reads back the same.
    lines = ["# matchchoose fine-tuning recipe (mnc finetune --recipe FILE); absent keys take the defaults."]
    for key, value in data.items():
        if value is None:
            lines.append(f"# {key} = (default: none)")
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
