"""The common base of the pipeline families: loading, freezing, encoding, and the flow-matching loss.

A family knows one kind of diffusers pipeline: how to load its components from a local folder,
which module denoises, how to encode captions (with the pipeline's own tokenizers and text
encoders, through its ``encode_prompt``) and images (its VAE, scaling and shift factors), and how to
compute the training loss of one batch. Everything random in a step is drawn from the
:class:`torch.Generator` the trainer passes, so a step depends only on the seed and its index.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

from ..._errors import InputError

__all__ = ["Batch", "Family", "FlowMatchingFamily"]


@contextmanager
def _quiet_loading():
    """Silence diffusers' and transformers' loading progress bars (the trainer shows its own)."""
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    states = (dlog.is_progress_bar_enabled(), tlog.is_progress_bar_enabled())
    dlog.disable_progress_bar()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        if states[0]:
            dlog.enable_progress_bar()
        if states[1]:
            tlog.enable_progress_bar()


class Batch:
    """One micro-batch of training images.

    Attributes
    ----------
    pixels : torch.Tensor
        ``(B, 3, R, R)`` in ``[-1, 1]``, float32, on the CPU.
    captions : list of str
        After caption dropout (dropped captions are ``""``).
    original_sizes : list of (int, int)
        ``(height, width)`` of each source image (SDXL's size conditioning).
    crops : list of (int, int)
        ``(top, left)`` of each crop in the resized image (SDXL's crop conditioning).
    """

    def __init__(self, pixels, captions, original_sizes, crops):
        self.pixels = pixels
        self.captions = list(captions)
        self.original_sizes = list(original_sizes)
        self.crops = list(crops)

    def __len__(self) -> int:
        return len(self.captions)


class Family:
    """Base class of a pipeline family; subclasses fill in the class attributes and the encoders/loss.

    Parameters
    ----------
    pipe : diffusers.DiffusionPipeline
        The loaded pipeline (on its training device).
    model_path : str
        Where it was loaded from (for error messages).

    Class attributes
    ----------------
    name : str
        Registry name (``"sd"``).
    pipeline_classes : tuple of str
        ``model_index.json`` ``_class_name`` values of this family.
    denoiser_name : str
        Pipeline attribute of the denoiser (``"unet"`` or ``"transformer"``).
    lora_targets : tuple of str
        Default module-name suffixes LoRA wraps (attention projections).
    optional_components : tuple of str
        Components that may be absent from the folder (loaded as ``None``).
    unused_components : tuple of str
        Components never needed for training or sampling here (loaded as ``None``).
    """

    name = "base"
    pipeline_classes: tuple = ()
    denoiser_name = "unet"
    lora_targets: tuple = ("to_q", "to_k", "to_v", "to_out.0")
    optional_components: tuple = ()
    unused_components: tuple = ("safety_checker", "feature_extractor", "image_encoder")
    #: Regular expression on module names of the attention blocks the ``adapter`` method follows.
    adapter_pattern = r"(^|\.)attn2$"
    #: Whether the matched attention must take a conditioning input (False for joint attention).
    adapter_cross_only = True
    #: The pipeline's caption length in tokens (its ``max_sequence_length``), where it has one.
    max_sequence_length: int | None = None
    #: Pipeline attribute of the tokenizer that :attr:`max_sequence_length` applies to.
    long_tokenizer = "tokenizer"

    @classmethod
    def sequence_length(cls, pipe) -> int | None:
        """Caption length in tokens for ``pipe``: :attr:`max_sequence_length`, or the long tokenizer's
        ``model_max_length`` where that is smaller (a model built for short captions, such as the micro
        zoo's, says so in its tokenizer config; real pipelines' tokenizers allow at least the default).
        """
        if cls.max_sequence_length is None:
            return None
        limit = getattr(getattr(pipe, cls.long_tokenizer, None), "model_max_length", None)
        if isinstance(limit, int) and 0 < limit < cls.max_sequence_length:
            return limit
        return cls.max_sequence_length

    def __init__(self, pipe, model_path: str = ""):
        self.pipe = pipe
        self.model_path = str(model_path)
        self.recipe = None
        self.text_length = self.sequence_length(pipe)

    # ----------------------------------------------------------------------------------- loading
    @classmethod
    def load(cls, model_path, *, device="cpu", dtype=torch.float32) -> "Family":
        """Load the pipeline at ``model_path`` (a local diffusers folder with weights) onto ``device``.

        Components in :attr:`unused_components` are not loaded; those in
        :attr:`optional_components` are loaded as ``None`` when their folder or entry is absent.
        A VAE that asks to be upcast (``force_upcast``) stays float32 when ``dtype`` is float16, and
        T5 / Gemma text encoders stay bfloat16 (float32 without bfloat16 support): they overflow in
        float16 (:func:`~matchchoose.finetune._device.keep_safe_in_fp16`).
        """
        import diffusers

        from ...features import read_json

        root = Path(model_path)
        index = read_json(root / "model_index.json", "pipeline index of a diffusers folder")
        kwargs = {}
        for key, value in index.items():
            if key.startswith("_") or not isinstance(value, (list, tuple)):
                continue
            if key in cls.unused_components:
                kwargs[key] = None
            elif key in cls.optional_components and (value[0] is None or not (root / key).is_dir()):
                kwargs[key] = None
        pipeline_class = index.get("_class_name")
        if pipeline_class not in cls.pipeline_classes:
            raise InputError(f"{root}: pipeline class {pipeline_class!r} is not of family {cls.name!r} "
                             f"({', '.join(cls.pipeline_classes)}).")
        missing = [k for k, v in index.items() if not k.startswith("_") and isinstance(v, (list, tuple))
                   and v[0] is not None and k not in kwargs and not (root / k).is_dir()]
        if missing:
            raise InputError(f"{root}: component folder(s) {', '.join(missing)} missing; a fine-tuning needs the "
                             "complete pipeline with weights (diffusers save_pretrained layout).")
        try:
            with _quiet_loading():
                pipe = getattr(diffusers, pipeline_class).from_pretrained(str(root), dtype=dtype, **kwargs)
        except OSError as exc:
            raise InputError(f"{root}: cannot load the pipeline's weights ({str(exc).strip()}); fine-tuning needs "
                             "the complete pipeline with weights (diffusers save_pretrained layout).") from None
        if dtype == torch.float16 and getattr(pipe, "vae", None) is not None and \
                getattr(pipe.vae.config, "force_upcast", False):
            pipe.vae.to(torch.float32)
        if dtype == torch.float16:
            from .._device import keep_safe_in_fp16

            keep_safe_in_fp16(pipe, device)
        pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        family = cls(pipe, str(root))
        family.freeze()
        return family

    def freeze(self):
        """Put every component in eval mode with ``requires_grad=False``."""
        for module in self.modules().values():
            module.requires_grad_(False)
            module.eval()

    def modules(self) -> dict:
        """The pipeline's :class:`torch.nn.Module` components by name."""
        return {k: v for k, v in self.pipe.components.items() if isinstance(v, torch.nn.Module)}

    @property
    def denoiser(self) -> torch.nn.Module:
        """The denoising network (UNet or transformer)."""
        return getattr(self.pipe, self.denoiser_name)

    @property
    def device(self) -> torch.device:
        return self.denoiser.device

    @property
    def dtype(self) -> torch.dtype:
        """The denoiser's weight dtype (the dtype latents and conditioning are cast to)."""
        return self.denoiser.dtype

    def setup(self, recipe):
        """Called once before training with the run's :class:`~matchchoose.finetune.Recipe`."""
        self.recipe = recipe

    @property
    def vae_scale_factor(self) -> int:
        vae = self.pipe.vae
        channels = getattr(vae.config, "block_out_channels", None) or vae.config.encoder_block_out_channels
        return 2 ** (len(channels) - 1)

    def resolution_multiple(self) -> int:
        """Training resolutions must be a multiple of this (VAE factor times the denoiser's patching)."""
        return self.vae_scale_factor

    # ----------------------------------------------------------------------------------- encoding
    def encode_prompts(self, captions: list) -> dict:
        """Conditioning tensors of ``captions`` (keyword arguments the loss passes on)."""
        raise NotImplementedError

    def encode_images(self, pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Latents of ``pixels`` (``[-1, 1]``): a VAE posterior sample, shifted and scaled."""
        vae = self.pipe.vae
        pixels = pixels.to(self.device, vae.dtype)
        posterior = vae.encode(pixels).latent_dist
        latents = posterior.sample(generator=generator)
        shift = getattr(vae.config, "shift_factor", None)
        if shift is not None:
            latents = latents - shift
        return (latents * vae.config.scaling_factor).to(self.dtype)

    # ----------------------------------------------------------------------------------- loss
    def loss(self, latents: torch.Tensor, cond: dict, batch: Batch, generator: torch.Generator) -> torch.Tensor:
        """Mean training loss of the batch (float32 scalar)."""
        raise NotImplementedError

    def randn(self, shape, generator, dtype=None) -> torch.Tensor:
        """Standard normal noise drawn on the CPU from ``generator`` (identical on every device)."""
        return torch.randn(shape, generator=generator, dtype=torch.float32).to(self.device, dtype or self.dtype)

    @staticmethod
    def mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(prediction.float(), target.float(), reduction="mean")

    # ----------------------------------------------------------------------------------- adapters
    def cross_attention_modules(self) -> list:
        """``(name, module)`` of the attention blocks the ``adapter`` method follows, in module order.

        Default: the denoiser's cross-attention modules (``attn2`` with a conditioning input).
        """
        pattern = re.compile(self.adapter_pattern)
        found = []
        for name, module in self.denoiser.named_modules():
            cross = getattr(module, "is_cross_attention", True) or not self.adapter_cross_only
            if pattern.search(name) and cross and hasattr(module, "to_out"):
                found.append((name, module))
        if not found:
            raise InputError(f"{self.model_path}: no cross-attention block found in the {self.denoiser_name} "
                             f"(pattern {self.adapter_pattern!r}); the 'adapter' method cannot be used.")
        return found


class FlowMatchingFamily(Family):
    """A family trained with rectified flow: ``x_t = (1 - s) x_0 + s eps``, target ``eps - x_0``.

    The noise level ``s`` is taken from the grid of a :class:`~diffusers.FlowMatchEulerDiscreteScheduler`
    built from the pipeline's scheduler config (shifted as the pipeline's scheduler shifts), at an
    index drawn uniformly or logit-normally, as the diffusers training scripts do.
    """

    default_timestep_sampling = "uniform"

    def setup(self, recipe):
        super().setup(recipe)
        self.train_scheduler = self.make_train_scheduler()
        self.timestep_sampling = recipe.timestep_sampling or self.default_timestep_sampling

    def make_train_scheduler(self):
        import diffusers

        config = dict(self.pipe.scheduler.config)
        return diffusers.FlowMatchEulerDiscreteScheduler.from_config(config)

    def sample_noise_levels(self, batch_size: int, generator):
        """``(timesteps, sigmas)`` of the batch, both float32 on the device."""
        sched = self.train_scheduler
        n = sched.config.num_train_timesteps
        if self.timestep_sampling == "logit_normal":
            u = torch.sigmoid(torch.randn((batch_size,), generator=generator))
        else:
            u = torch.rand((batch_size,), generator=generator)
        index = (u * n).long().clamp_(0, n - 1)
        timesteps = sched.timesteps.float()[index]
        sigmas = sched.sigmas.float()[index]
        return timesteps.to(self.device), sigmas.to(self.device)

    def noisy_and_target(self, latents, generator):
        """``(noisy latents, target, timesteps)`` of flow matching."""
        noise = self.randn(latents.shape, generator, latents.dtype)
        timesteps, sigmas = self.sample_noise_levels(latents.shape[0], generator)
        s = sigmas.view(-1, *([1] * (latents.ndim - 1))).to(latents.dtype)
        noisy = (1.0 - s) * latents + s * noise
        return noisy, noise - latents, timesteps
