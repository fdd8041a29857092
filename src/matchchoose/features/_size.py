"""Size and cost of a pipeline from its configs alone: denoiser parameters and FLOPs per image.

Everything is built on PyTorch's ``meta`` device: modules have shapes but no storage, so even Flux
(12 B parameters) costs a few MB of memory, and no weight is read or downloaded.

Parameters
    The denoiser's state dict, buffers included (``sum(t.numel() for t in state_dict().values())``):
    that is what reproduces the paper's Table 2 (SD3.5's 2.47 B counts its positional-embedding
    buffer; its ``nn.Parameter`` count is 2.24 B).

FLOPs per generated image (:func:`pipeline_flops`)
    ``calls x (2 if CFG else 1) x denoiser forward + prompts x text encoders + one VAE decode``, each
    measured with :class:`torch.utils.flop_counter.FlopCounterMode` (a multiply-add is 2 FLOPs).
    ``calls`` is the length of the scheduler's timesteps for the pipeline's default step count
    (PNDM adds one step: 51 calls for 50 steps); CFG doubles the denoiser batch when the pipeline's
    default guidance scale is > 1 and the model is not guidance-distilled (Flux.1 dev embeds its
    guidance: one branch); the negative prompt is encoded unless the pipeline zeroes it
    (``force_zeros_for_empty_prompt``). Fused scaled-dot-product attention is counted apart
    (:attr:`PipelineCost.attention`), not in the total: the paper's TFLOP column matches this
    convention at a 512x512 request to within 0.3 % for 9 of its 10 models (``docs/model-features.md``).

Resolution
    ``"paper"``: a 512x512 request (the paper's crop size) as the pipeline serves it: pipelines that
    bin resolutions (PixArt, Sana, HunyuanDiT) snap a square request to their native square.
    ``"native"``: the denoiser's ``sample_size`` x the VAE's downsampling (Flux: 1024).
    An int: that square size, unbinned.
"""

from __future__ import annotations

import importlib
import inspect
import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import pandas as pd

from .._errors import InputError, require
from ._config import PipelineConfig
from ._flatten import family_of

__all__ = ["PipelineCost", "denoiser_params", "pipeline_flops", "size_table", "native_resolution", "served_resolution",
           "RESOLUTIONS",
           "PIPELINE_DEFAULTS"]

RESOLUTIONS = ("paper", "native")
_PAPER_REQUEST = 512

#: Call defaults of the zoo's pipelines (diffusers 0.42.1), used when the class cannot be inspected
#: (KolorsPipeline needs sentencepiece): steps, guidance scale, max text tokens, resolution binning.
PIPELINE_DEFAULTS = {
    "StableDiffusionPipeline": dict(steps=50, guidance=7.5),
    "StableDiffusionXLPipeline": dict(steps=50, guidance=5.0),
    "KolorsPipeline": dict(steps=50, guidance=5.0, tokens={"text_encoder": 256}),
    "PixArtSigmaPipeline": dict(steps=20, guidance=4.5, max_tokens=300, binning=True),
    "PixArtAlphaPipeline": dict(steps=20, guidance=4.5, max_tokens=120, binning=True),
    "SanaPipeline": dict(steps=20, guidance=4.5, max_tokens=300, binning=True),
    "StableDiffusion3Pipeline": dict(steps=28, guidance=7.0, max_tokens=256),
    "FluxPipeline": dict(steps=28, guidance=3.5, true_cfg=1.0, max_tokens=512),
    "HunyuanDiTPipeline": dict(steps=50, guidance=5.0, binning=True,
                               tokens={"text_encoder": 77, "text_encoder_2": 256}),
    "StableCascadePriorPipeline": dict(steps=20, guidance=4.0),
    "StableCascadeDecoderPipeline": dict(steps=10, guidance=0.0),
}
_MODELS_EXTRA = "models"


def _torch():
    return require("torch", "Counting parameters and FLOPs", _MODELS_EXTRA)


def _diffusers():
    return require("diffusers", "Counting parameters and FLOPs", _MODELS_EXTRA)


# ------------------------------------------------------------------ building on meta
def _diffusers_class(name: str, where: str):
    diffusers = _diffusers()
    cls = getattr(diffusers, name, None)
    if cls is None and name == "PaellaVQModel":
        for module in ("diffusers.pipelines.wuerstchen", "diffusers.pipelines.deprecated.wuerstchen"):
            try:
                cls = getattr(importlib.import_module(module), name)
                break
            except ImportError:
                continue
    if cls is None or not hasattr(cls, "from_config"):
        raise InputError(f"{where}: diffusers {diffusers.__version__} has no model class {name!r}; cannot build it.")
    return cls


@contextmanager
def _quiet():
    """Silence diffusers/transformers notices while building (legacy keys a class ignores, e.g.
    PixArt's ``use_linear_projection``: expected, and said once in the docs instead)."""
    loggers = []
    for module in ("diffusers.utils.logging", "transformers.utils.logging"):
        try:
            logging = importlib.import_module(module)
        except ImportError:
            continue
        loggers.append((logging, logging.get_verbosity()))
        logging.set_verbosity_error()
    try:
        yield
    finally:
        for logging, level in loggers:
            logging.set_verbosity(level)


def build_component(config: PipelineConfig, name: str):
    """Component ``name`` of ``config`` as a diffusers or transformers module on the meta device."""
    torch = _torch()
    where = f"{config.source}/{name}"
    if name not in config.components:
        raise InputError(f"{where}: the pipeline has no config for component {name!r}.")
    cfg = dict(config.components[name])
    cls_name = config.component_class(name)
    library = (config.model_index.get(name) or [None])[0]
    with torch.device("meta"), _quiet():
        if library == "transformers" or "model_type" in cfg:
            transformers = require("transformers", "Counting text-encoder FLOPs", _MODELS_EXTRA)
            cls = getattr(transformers, cls_name or "", None)
            if cls is None or "model_type" not in cfg:
                raise InputError(f"{where}: transformers has no class {cls_name!r}; cannot build it.")
            hf_config = transformers.AutoConfig.for_model(**cfg)
            return cls._from_config(hf_config)
        cfg["_class_name"] = cls_name
        return _diffusers_class(cls_name, where).from_config(cfg)


def denoiser_params(config: PipelineConfig) -> int:
    """Parameters of the denoiser (state dict with buffers), from its config on the meta device.

    Examples
    --------
    >>> from matchchoose.features import default_zoo_dir, read_pipeline
    >>> round(denoiser_params(read_pipeline(default_zoo_dir() / "sd15")) / 1e9, 2)  # doctest: +SKIP
    0.86
    """
    if config.denoiser is None:
        raise InputError(f"{config.source}: no denoiser component (unet, transformer, prior or decoder) to count.")
    module = build_component(config, config.denoiser)
    return int(sum(t.numel() for t in module.state_dict().values()))


# ------------------------------------------------------------------ counting
class _AttentionCounter:
    """Counts fused scaled-dot-product attention analytically and returns an empty output instead."""

    def __init__(self):
        torch = _torch()
        from torch.overrides import TorchFunctionMode

        counter = self
        self.flops = 0
        sdpa = torch.nn.functional.scaled_dot_product_attention

        class Mode(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                if func is sdpa:
                    names = ("query", "key", "value")
                    q, k, v = (args[i] if i < len(args) else kwargs[n] for i, n in enumerate(names))
                    batch = math.prod(q.shape[:-2])
                    counter.flops += 2 * batch * q.shape[-2] * k.shape[-2] * (q.shape[-1] + v.shape[-1])
                    return torch.empty(*q.shape[:-1], v.shape[-1], dtype=q.dtype, device=q.device)
                return func(*args, **kwargs)

        self.mode = Mode()


def _count(fn) -> tuple:
    """(FLOPs outside fused attention, fused-attention FLOPs) of calling ``fn``."""
    torch = _torch()
    from torch.utils.flop_counter import FlopCounterMode

    attention = _AttentionCounter()
    with torch.no_grad(), FlopCounterMode(display=False) as counter, attention.mode:
        fn()
    return int(counter.get_total_flops()), int(attention.flops)


@dataclass(frozen=True)
class PipelineCost:
    """FLOPs of generating one image with a pipeline (see the module docstring for the convention).

    Attributes
    ----------
    height, width : int
        Resolution generated.
    calls : int
        Denoiser calls per branch.
    cfg : bool
        Whether classifier-free guidance doubles the denoiser batch.
    prompts : int
        Prompts encoded (2 with a negative prompt).
    denoiser, denoiser_attention : int
        FLOPs of one denoiser forward at batch 1, outside and inside fused attention.
    text_encoders : dict
        Component -> (tokens, FLOPs of one prompt outside fused attention).
    vae, vae_attention : int
        FLOPs of one decode.
    notes : tuple of str
        What could not be counted and why.
    """

    height: int
    width: int
    calls: int
    cfg: bool
    prompts: int
    denoiser: int
    denoiser_attention: int
    text_encoders: dict = field(default_factory=dict)
    vae: int = 0
    vae_attention: int = 0
    notes: tuple = ()

    @property
    def denoising(self) -> int:
        """FLOPs of the whole denoising loop, outside fused attention."""
        return self.calls * (2 if self.cfg else 1) * self.denoiser

    @property
    def text(self) -> int:
        """FLOPs of prompt encoding, outside fused attention."""
        return self.prompts * sum(flops for _, flops in self.text_encoders.values())

    @property
    def total(self) -> int:
        """FLOPs per image outside fused attention: the paper's Table 2 convention."""
        return self.denoising + self.text + self.vae

    @property
    def attention(self) -> int:
        """Fused-attention FLOPs per image (denoiser and VAE; left out of :attr:`total`)."""
        return self.calls * (2 if self.cfg else 1) * self.denoiser_attention + self.vae_attention

    @property
    def tflop(self) -> float:
        """:attr:`total` in TFLOP."""
        return self.total / 1e12

    def as_dict(self) -> dict:
        """Plain dict (JSON-able), TFLOP rounded to 0.01 GFLOP."""
        tf = lambda x: round(x / 1e12, 5)  # noqa: E731
        return {"height": self.height, "width": self.width, "calls": self.calls, "cfg": self.cfg,
                "prompts": self.prompts, "tflop": tf(self.total), "tflop_denoising": tf(self.denoising),
                "tflop_text": tf(self.text), "tflop_vae": tf(self.vae), "tflop_attention": tf(self.attention),
                "tflop_denoiser_call": tf(self.denoiser),
                "text_tokens": {k: t for k, (t, _) in self.text_encoders.items()}, "notes": list(self.notes)}


# ------------------------------------------------------------------ pipeline defaults
def _call_defaults(config: PipelineConfig) -> dict:
    known = PIPELINE_DEFAULTS.get(config.pipeline_class)
    if known is not None:
        return dict(known)
    cls = getattr(_diffusers(), config.pipeline_class or "", None)
    try:
        params = inspect.signature(cls.__call__).parameters
    except (TypeError, ValueError, AttributeError):
        params = {}
    if "num_inference_steps" not in params:
        raise InputError(f"{config.source}: cannot read the call defaults of pipeline class "
                         f"{config.pipeline_class!r} (not in this diffusers); FLOPs need its step count.")
    default = lambda name: params[name].default if name in params else None  # noqa: E731
    return {"steps": default("num_inference_steps"), "guidance": default("guidance_scale") or 0.0,
            "true_cfg": default("true_cfg_scale"), "max_tokens": default("max_sequence_length"),
            "binning": bool(default("use_resolution_binning"))}


def _vae_name(config: PipelineConfig):
    return next((n for n in ("vae", "vqgan") if n in config.components), None)


def _vae_factor(config: PipelineConfig) -> int:
    name = _vae_name(config)
    cfg = config.components.get(name, {}) if name else {}
    channels = cfg.get("encoder_block_out_channels") or cfg.get("block_out_channels")
    return 2 ** (len(channels) - 1) if channels else 8


def native_resolution(config: PipelineConfig) -> int:
    """Native square size: the denoiser's ``sample_size`` x the VAE's downsampling (Flux: 1024)."""
    family = family_of(config)
    if family == "stable_cascade":
        return 1024
    sample = config.components.get(config.denoiser or "", {}).get("sample_size")
    if isinstance(sample, (list, tuple)):
        sample = sample[0]
    return int(sample * _vae_factor(config)) if sample else 1024


def served_resolution(config: PipelineConfig, resolution="paper", defaults: dict | None = None) -> int:
    """The square size a pipeline generates for ``resolution`` (see the module docstring).

    Examples
    --------
    >>> from matchchoose.features import default_zoo_dir, read_pipeline
    >>> served_resolution(read_pipeline(default_zoo_dir() / "sana1.5-4.8b"))  # doctest: +SKIP
    1024
    """
    if isinstance(resolution, str):
        if resolution not in RESOLUTIONS:
            raise InputError(f"The 'resolution' parameter of pipeline_flops must be one of {list(RESOLUTIONS)} or "
                             f"an int. Got {resolution!r} instead.")
        defaults = _call_defaults(config) if defaults is None else defaults
        binned = resolution == "native" or defaults.get("binning")
        return native_resolution(config) if binned else _PAPER_REQUEST
    if isinstance(resolution, int) and not isinstance(resolution, bool) and resolution > 0:
        return resolution
    raise InputError(f"The 'resolution' parameter of pipeline_flops must be 'paper', 'native' or a positive int. "
                     f"Got {resolution!r} instead.")


def _steps_to_calls(config: PipelineConfig, steps: int) -> int:
    """Denoiser calls for ``steps``: the scheduler's timesteps (PNDM: steps + 1)."""
    cfg = dict(config.components.get("scheduler", {}))
    cls = getattr(_diffusers(), config.component_class("scheduler") or "", None)
    if cls is None or not hasattr(cls, "from_config"):
        return steps
    scheduler = cls.from_config(cfg)
    try:
        scheduler.set_timesteps(steps)
    except (TypeError, ValueError):  # flow-matching with dynamic shifting wants mu; the count does not
        scheduler.set_timesteps(steps, mu=1.0)
    calls = len(scheduler.timesteps)
    if type(scheduler).__name__ == "DDPMWuerstchenScheduler":
        calls -= 1  # the Stable Cascade loops run over timesteps[:-1]
    return calls


# ------------------------------------------------------------------ denoiser inputs
def _unet_inputs(torch, cfg, h, w, tokens):
    enc = cfg.get("encoder_hid_dim") if cfg.get("encoder_hid_dim_type") else None
    cross = cfg.get("cross_attention_dim", 1280)
    enc = enc or (cross[0] if isinstance(cross, (list, tuple)) else cross)
    kw = dict(sample=torch.empty(1, cfg.get("in_channels", 4), h // 8, w // 8),
              timestep=torch.tensor([10.0]), encoder_hidden_states=torch.empty(1, tokens, enc))
    if cfg.get("addition_embed_type") == "text_time":
        text = cfg["projection_class_embeddings_input_dim"] - 6 * cfg["addition_time_embed_dim"]
        kw["added_cond_kwargs"] = {"text_embeds": torch.empty(1, text), "time_ids": torch.empty(1, 6)}
    return kw


def _denoiser_inputs(config, family, h, w, tokens):
    torch = _torch()
    cfg = {**config.components[config.denoiser]}
    t = torch.tensor([10.0])
    f = _vae_factor(config)
    if family == "unet":
        return _unet_inputs(torch, cfg, h, w, max(tokens.values(), default=77))
    if family == "pixart":
        additional = cfg.get("use_additional_conditions")
        additional = cfg.get("sample_size") == 128 if additional is None else additional
        cond = {"resolution": torch.empty(1, 2), "aspect_ratio": torch.empty(1, 1)} if additional else \
            {"resolution": None, "aspect_ratio": None}
        return dict(hidden_states=torch.empty(1, cfg["in_channels"], h // f, w // f),
                    encoder_hidden_states=torch.empty(1, max(tokens.values()), cfg["caption_channels"]),
                    timestep=t, added_cond_kwargs=cond)
    if family == "sana":
        kw = dict(hidden_states=torch.empty(1, cfg["in_channels"], h // f, w // f),
                  encoder_hidden_states=torch.empty(1, max(tokens.values()), cfg["caption_channels"]), timestep=t)
        if cfg.get("guidance_embeds"):
            kw["guidance"] = torch.tensor([4.5])
        return kw
    if family == "sd3":
        return dict(hidden_states=torch.empty(1, cfg["in_channels"], h // f, w // f),
                    encoder_hidden_states=torch.empty(1, _sd3_tokens(config, tokens), cfg["joint_attention_dim"]),
                    pooled_projections=torch.empty(1, cfg["pooled_projection_dim"]), timestep=t)
    if family == "flux":
        n = (h // f // 2) * (w // f // 2)
        text = max(tokens.values())
        kw = dict(hidden_states=torch.empty(1, n, cfg["in_channels"]),
                  encoder_hidden_states=torch.empty(1, text, cfg["joint_attention_dim"]),
                  pooled_projections=torch.empty(1, cfg["pooled_projection_dim"]), timestep=torch.tensor([1.0]),
                  img_ids=torch.zeros(n, 3), txt_ids=torch.zeros(text, 3))
        if cfg.get("guidance_embeds"):
            kw["guidance"] = torch.tensor([3.5])
        return kw
    if family == "hunyuandit":
        patch = cfg.get("patch_size", 2)
        n = (h // f // patch) * (w // f // patch)
        head = cfg["attention_head_dim"]
        return dict(hidden_states=torch.empty(1, cfg["in_channels"], h // f, w // f), timestep=t,
                    encoder_hidden_states=torch.empty(1, cfg.get("text_len", 77), cfg["cross_attention_dim"]),
                    text_embedding_mask=torch.ones(1, cfg.get("text_len", 77)),
                    encoder_hidden_states_t5=torch.empty(1, cfg.get("text_len_t5", 256), cfg["cross_attention_dim_t5"]),
                    text_embedding_mask_t5=torch.ones(1, cfg.get("text_len_t5", 256)),
                    image_meta_size=torch.empty(1, 6), style=torch.zeros(1, dtype=torch.long),
                    image_rotary_emb=(torch.empty(n, head), torch.empty(n, head)))
    if family == "stable_cascade":
        index = config.model_index
        text = torch.empty(1, 1, cfg["clip_text_pooled_in_channels"])
        if config.denoiser == "prior":
            side = math.ceil(h / index.get("resolution_multiple", 42.67))
            return dict(sample=torch.empty(1, cfg["in_channels"], side, side), timestep_ratio=torch.tensor([0.5]),
                        clip_text_pooled=text, clip_text=torch.empty(1, 77, cfg["clip_text_in_channels"]),
                        clip_img=torch.empty(1, 1, cfg["clip_image_in_channels"]))
        prior = math.ceil(h / 42.67)
        side = int(prior * index.get("latent_dim_scale", 10.67))
        return dict(sample=torch.empty(1, cfg["in_channels"], side, side), timestep_ratio=torch.tensor([0.5]),
                    clip_text_pooled=text, effnet=torch.empty(1, cfg["effnet_in_channels"], prior, prior))
    raise InputError(f"{config.source}: no FLOP recipe for a {config.component_class(config.denoiser)!r} denoiser "
                     f"(known families: unet, pixart, sana, sd3, flux, hunyuandit, stable_cascade).")


def _sd3_tokens(config, tokens) -> int:
    """SD3 concatenates the CLIP sequence (77, the two CLIP encoders side by side) and the T5 one."""
    def is_clip(name):
        return str(config.components[name].get("model_type", "")).startswith("clip")

    clip = [t for name, t in tokens.items() if is_clip(name)]
    other = [t for name, t in tokens.items() if not is_clip(name)]
    return max(clip, default=0) + max(other, default=0)


# ------------------------------------------------------------------ text encoders and VAE
def _text_tokens(config: PipelineConfig, defaults: dict) -> dict:
    out = {}
    fixed = defaults.get("tokens", {})
    for name, cfg in config.components.items():
        if not name.startswith("text_encoder"):
            continue
        if name in fixed:
            out[name] = fixed[name]
        elif str(cfg.get("model_type", "")).startswith("clip"):
            out[name] = int(cfg.get("max_position_embeddings", 77))
        else:
            out[name] = int(defaults.get("max_tokens") or 77)
    return out


def _chatglm_flops(cfg: dict, tokens: int) -> int:
    """Analytic count for ChatGLM (Kolors' encoder; remote code, not in transformers): 2 x tokens x
    the weights of every per-token matmul (fused attention excluded)."""
    h, layers = cfg["hidden_size"], cfg["num_layers"]
    kv = cfg.get("kv_channels", h // cfg["num_attention_heads"]) * cfg.get("multi_query_group_num", 0)
    qkv = h * (h + 2 * kv) if cfg.get("multi_query_attention") else 3 * h * h
    per_layer = qkv + h * h + h * 2 * cfg["ffn_hidden_size"] + cfg["ffn_hidden_size"] * h
    return 2 * tokens * layers * per_layer


def _text_flops(config, name, tokens, notes) -> int:
    torch = _torch()
    cfg = config.components[name]
    if cfg.get("model_type") == "chatglm":
        return _chatglm_flops(cfg, tokens)
    try:
        module = build_component(config, name)
    except (InputError, ValueError, KeyError) as exc:
        notes.append(f"{name}: not counted ({exc})")
        return 0
    ids = torch.zeros(1, tokens, dtype=torch.long, device="meta")
    flops, _ = _count(lambda: module(input_ids=ids))
    return flops


def _vae_flops(config, h, w, notes) -> tuple:
    torch = _torch()
    name = _vae_name(config)
    if name is None:
        notes.append("no VAE: decode not counted")
        return 0, 0
    module = build_component(config, name)
    cfg = config.components[name]
    if config.component_class(name) == "PaellaVQModel":
        z = torch.empty(1, cfg.get("latent_channels", 4), h // 4, w // 4, device="meta")
    else:
        f = _vae_factor(config)
        z = torch.empty(1, cfg.get("latent_channels", 4), h // f, w // f, device="meta")
    return _count(lambda: module.decode(z))


# ------------------------------------------------------------------ entry point
def pipeline_flops(config: PipelineConfig, *, resolution="paper", steps: int | None = None) -> PipelineCost:
    """FLOPs of generating one image (paper Table 2's TFLOP column), counted on the meta device.

    Parameters
    ----------
    config : PipelineConfig
    resolution : {"paper", "native"} or int, default="paper"
        See the module docstring.
    steps : int, optional
        Inference steps; default: the pipeline's default.

    Raises
    ------
    InputError
        Unknown denoiser family or pipeline class (the message says which).
    MissingDependencyError
        torch or diffusers missing: ``pip install 'matchchoose[models]'``.

    Examples
    --------
    >>> from matchchoose.features import default_zoo_dir, read_pipeline
    >>> cost = pipeline_flops(read_pipeline(default_zoo_dir() / "sdxl-base"))  # doctest: +SKIP
    >>> round(cost.tflop, 1), cost.calls, cost.cfg                             # doctest: +SKIP
    (156.0, 50, True)
    """
    torch = _torch()
    family = family_of(config)
    if config.denoiser is None:
        raise InputError(f"{config.source}: no denoiser component (unet, transformer, prior or decoder).")
    defaults = _call_defaults(config)
    size = served_resolution(config, resolution, defaults)
    steps = int(steps if steps is not None else defaults["steps"])
    true_cfg = defaults.get("true_cfg")
    cfg = (true_cfg > 1.0) if true_cfg is not None else (defaults.get("guidance") or 0.0) > 1.0
    zero_negative = bool(config.model_index.get("force_zeros_for_empty_prompt"))
    prompts = 2 if cfg and not zero_negative else 1
    notes = []
    tokens = _text_tokens(config, defaults)
    with torch.device("meta"):
        module = build_component(config, config.denoiser)
        inputs = _denoiser_inputs(config, family, size, size, tokens)
        denoiser, denoiser_attention = _count(lambda: module(**inputs))
        text = {name: (t, _text_flops(config, name, t, notes)) for name, t in tokens.items()}
        vae, vae_attention = _vae_flops(config, size, size, notes)
    return PipelineCost(height=size, width=size, calls=_steps_to_calls(config, steps), cfg=cfg, prompts=prompts,
                        denoiser=denoiser, denoiser_attention=denoiser_attention, text_encoders=text, vae=vae,
                        vae_attention=vae_attention, notes=tuple(notes))


def size_table(entries, *, native: bool = True) -> pd.DataFrame:
    """Parameters and FLOPs of zoo entries: what ``zoo_sizes.csv`` holds (one row per model).

    Columns: ``model, num_params, tflop_measured`` (paper convention), ``height, calls, cfg,
    prompts, tflop_denoising, tflop_text, tflop_vae, tflop_attention`` and, with ``native``,
    ``native_height, tflop_native``. A model whose FLOPs cannot be counted gets empty FLOP cells.
    """
    rows = []
    for entry in entries:
        row = {"model": entry.name, "num_params": denoiser_params(entry.config)}
        try:
            cost = pipeline_flops(entry.config).as_dict()
        except InputError:
            cost = None
        if cost is not None:
            row.update(tflop_measured=cost["tflop"], height=cost["height"], calls=cost["calls"], cfg=cost["cfg"],
                       prompts=cost["prompts"], tflop_denoising=cost["tflop_denoising"],
                       tflop_text=cost["tflop_text"], tflop_vae=cost["tflop_vae"],
                       tflop_attention=cost["tflop_attention"])
            if native:
                at_native = pipeline_flops(entry.config, resolution="native")
                row.update(native_height=at_native.height, tflop_native=round(at_native.tflop, 5))
        rows.append(row)
    return pd.DataFrame(rows)
