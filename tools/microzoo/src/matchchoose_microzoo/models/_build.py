"""Building a zoo model as a random-weight diffusers pipeline folder (the start of pretraining).

The denoiser and scheduler configs are the source model's real configs (from the package's default
zoo) with the sizes of the :class:`~._spec.ModelSpec` put in; the text encoders are built by
:mod:`._text`; the VAE is the shared trained one (:func:`~._vae.train_vae`) or, without one, a
seeded random VAE of the same architecture. Everything is seeded: the same seed writes identical
weight files.
"""

from __future__ import annotations

import copy
import inspect
import json
from pathlib import Path

from matchchoose import InputError, require
from ._spec import LATENT_CHANNELS, RESOLUTION, VAE_CONFIG, VAE_FACTOR, get_spec

__all__ = ["SIZES", "build_pipeline", "denoiser_parameters", "load_vae", "zoo_metadata"]

#: ``"full"``: the zoo as specified; ``"test"``: every width and depth shrunk for fast tests.
SIZES = ("full", "test")
META_FILE = "MICROZOO.json"
_PROVENANCE = {"_class_name", "_diffusers_version", "_name_or_path", "architectures", "transformers_version",
               "torch_dtype", "dtype", "_commit_hash", "_use_default_values"}


def _strip(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in _PROVENANCE}


def _source_configs(source: str):
    from matchchoose.features import default_zoo_dir, read_pipeline_dir

    folder = default_zoo_dir() / source
    if not folder.is_dir():
        raise InputError(f"Micro-zoo source {source!r} is not in the default zoo ({default_zoo_dir()}).")
    return read_pipeline_dir(folder)


def _test_denoiser(spec, config: dict) -> dict:
    """A much smaller denoiser of the same structure (for tests)."""
    config = dict(config)
    if spec.denoiser_class == "UNet2DConditionModel":
        n = len(config["block_out_channels"])
        config.update(block_out_channels=[8] * n, layers_per_block=1, attention_head_dim=2, norm_num_groups=4)
        if "transformer_layers_per_block" in config:
            config["transformer_layers_per_block"] = 1
    else:
        config.update(num_layers=1, num_attention_heads=2, attention_head_dim=4)
        if "num_single_layers" in config:  # Flux: rotary axes must add up to the head width
            config.update(num_single_layers=1, attention_head_dim=8, axes_dims_rope=[2, 2, 4])
    return config


def load_vae(vae_dir, family: str):
    """The shared VAE at ``vae_dir`` with the family's latent convention in its config.

    SD3 pipelines shift latents by the data mean before scaling (``shift_factor``), the others only
    scale; both scale to unit variance with the statistics :func:`~._vae.train_vae` measured.
    """
    diffusers = require("diffusers", "Loading the micro-zoo VAE", "models")
    root = Path(vae_dir)
    stats_file = root / "latent_stats.json"
    if not (root / "config.json").is_file() or not stats_file.is_file():
        raise InputError(f"{root}: not a micro-zoo VAE folder (config.json and latent_stats.json); train one with "
                         "train_vae.")
    stats = json.loads(stats_file.read_text(encoding="utf-8"))
    vae = diffusers.AutoencoderKL.from_pretrained(str(root))
    if family in ("sd3", "flux"):
        vae.register_to_config(scaling_factor=round(1.0 / stats["std"], 5), shift_factor=round(stats["mean"], 5))
    else:
        vae.register_to_config(scaling_factor=round(1.0 / stats["rms"], 5), shift_factor=None)
    return vae


def _text_widths(spec, size: str) -> dict:
    """Widths the denoiser takes from the text encoders (cross-attention, pooled, joint, caption)."""
    width = spec.text_width if size == "full" else 16
    if spec.text == "minilm":
        return {"cross": 384 if size == "full" else 32}
    if spec.text == "clip":
        return {"cross": width}
    if spec.text == "clip2":
        return {"cross": 2 * width, "pooled": width}
    if spec.text == "clip2-t5":  # SD3 pads the concatenated CLIP states to T5's width
        return {"joint": 2 * width, "pooled": 2 * width}
    if spec.text == "t5":
        return {"caption": width}
    if spec.text == "clip-t5":  # FLUX.1: pooled CLIP projection, T5 states for the joint attention
        return {"pooled": width, "joint": 2 * width}
    raise InputError(f"Micro-zoo model {spec.name}: unknown text encoder kind {spec.text!r}.")


def _text_components(spec, size: str) -> dict:
    """Text encoders and tokenizers by pipeline component name."""
    from ._text import clip_encoder, minilm_encoder, t5_encoder

    width = spec.text_width if size == "full" else 16
    if spec.text == "minilm":
        if size == "full":
            model, tok = minilm_encoder()
        else:  # test size: a random one-layer BERT with MiniLM's tokenizer
            transformers = require("transformers", "Building a micro-zoo model", "models")
            _, tok = minilm_encoder()
            model = transformers.BertModel(transformers.BertConfig(
                vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                intermediate_size=64, max_position_embeddings=128)).eval()
            model.config.use_attention_mask = True
        return {"text_encoder": model, "tokenizer": tok}
    if spec.text == "clip":
        model, tok = clip_encoder(width)
        return {"text_encoder": model, "tokenizer": tok}
    if spec.text == "clip2":
        m1, t1 = clip_encoder(width)
        m2, t2 = clip_encoder(width, projection=True)
        return {"text_encoder": m1, "tokenizer": t1, "text_encoder_2": m2, "tokenizer_2": t2}
    if spec.text == "clip2-t5":
        m1, t1 = clip_encoder(width, projection=True)
        m2, t2 = clip_encoder(width, projection=True)
        m3, t3 = t5_encoder(2 * width)
        return {"text_encoder": m1, "tokenizer": t1, "text_encoder_2": m2, "tokenizer_2": t2, "text_encoder_3": m3,
                "tokenizer_3": t3}
    if spec.text == "t5":
        model, tok = t5_encoder(width)
        return {"text_encoder": model, "tokenizer": tok}
    if spec.text == "clip-t5":
        m1, t1 = clip_encoder(width)
        m2, t2 = t5_encoder(2 * width)
        return {"text_encoder": m1, "tokenizer": t1, "text_encoder_2": m2, "tokenizer_2": t2}
    raise InputError(f"Micro-zoo model {spec.name}: unknown text encoder kind {spec.text!r}.")


def denoiser_parameters(name, size: str = "full") -> int:
    """Parameters of zoo model ``name``'s denoiser, counted on the meta device (no weights made)."""
    torch = require("torch", "Counting micro-zoo parameters", "models")
    spec = get_spec(name)
    with torch.device("meta"):
        _, model = _denoiser(spec, _source_configs(spec.source), _text_widths(spec, size), size)
    return int(sum(p.numel() for p in model.parameters()))


def _denoiser(spec, source, widths: dict, size: str):
    diffusers = require("diffusers", "Building a micro-zoo model", "models")
    key = "unet" if spec.denoiser_class == "UNet2DConditionModel" else "transformer"
    accepted = inspect.signature(getattr(diffusers, spec.denoiser_class).__init__).parameters
    # keys of a legacy class (PixArt's Transformer2DModel) that the modern class does not take are dropped
    config = {k: v for k, v in _strip(copy.deepcopy(source.components[key])).items() if k in accepted}
    config.update(copy.deepcopy(spec.denoiser))
    if size == "test":
        config = _test_denoiser(spec, config)
    config.update(in_channels=LATENT_CHANNELS)
    if spec.denoiser_class == "FluxTransformer2DModel":  # latents packed into 2 x 2 patches
        config.update(in_channels=4 * LATENT_CHANNELS, out_channels=None, patch_size=1,
                      joint_attention_dim=widths["joint"], pooled_projection_dim=widths["pooled"])
        return key, diffusers.FluxTransformer2DModel.from_config(config)
    if spec.denoiser_class == "UNet2DConditionModel":
        config.update(out_channels=LATENT_CHANNELS, cross_attention_dim=widths["cross"])
        if config.get("addition_embed_type") == "text_time":
            config["projection_class_embeddings_input_dim"] = 6 * config["addition_time_embed_dim"] + widths["pooled"]
        return key, diffusers.UNet2DConditionModel.from_config(config)
    heads, head_dim = config["num_attention_heads"], config["attention_head_dim"]
    if spec.denoiser_class == "PixArtTransformer2DModel":
        learned_sigma = source.components[key].get("out_channels") == 2 * source.components[key].get("in_channels", 4)
        config.update(out_channels=2 * LATENT_CHANNELS if learned_sigma else LATENT_CHANNELS,
                      cross_attention_dim=heads * head_dim, caption_channels=widths["caption"])
        return key, diffusers.PixArtTransformer2DModel.from_config(config)
    if spec.denoiser_class == "SD3Transformer2DModel":
        config.update(out_channels=LATENT_CHANNELS, caption_projection_dim=heads * head_dim,
                      joint_attention_dim=widths["joint"], pooled_projection_dim=widths["pooled"])
        return key, diffusers.SD3Transformer2DModel.from_config(config)
    raise InputError(f"Micro-zoo model {spec.name}: unsupported denoiser {spec.denoiser_class}.")


def zoo_metadata(path) -> dict | None:
    """The ``MICROZOO.json`` record of a built or pretrained zoo model folder (``None`` if absent)."""
    file = Path(path) / META_FILE
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else None


def build_pipeline(name, path, *, vae=None, seed: int = 0, size: str = "full", overwrite: bool = False) -> Path:
    """Build, save and return the folder of zoo model ``name`` with random denoiser weights.

    Parameters
    ----------
    name : str or ModelSpec
        A zoo model (:data:`~._spec.ZOO`).
    path : str or Path
        Output folder: a complete diffusers pipeline (``model_index.json``, component folders with
        safetensors weights) and ``MICROZOO.json`` (the spec, seed and size).
    vae : str or Path, optional
        Folder of the shared VAE (:func:`~._vae.train_vae`); default a seeded random VAE of the same
        architecture (for tests).
    seed : int, default=0
        Seed of every random weight (denoiser, random-init text encoders, VAE when random).
    size : {"full", "test"}, default="full"
        ``"test"`` shrinks every width and depth (and replaces MiniLM by a random one-layer BERT).
    overwrite : bool, default=False
        Replace an existing pipeline at ``path``; otherwise it is returned as is.

    Returns
    -------
    Path
        ``path``.
    """
    torch = require("torch", "Building a micro-zoo model", "models")
    diffusers = require("diffusers", "Building a micro-zoo model", "models")
    spec = get_spec(name)
    if size not in SIZES:
        raise InputError(f"build_pipeline: size must be one of {', '.join(SIZES)}, got {size!r}.")
    out = Path(path)
    if (out / "model_index.json").is_file() and not overwrite:
        return out
    source = _source_configs(spec.source)

    torch.manual_seed(seed * 1000 + 1)
    parts, widths = _text_components(spec, size), _text_widths(spec, size)
    torch.manual_seed(seed * 1000 + 2)
    key, denoiser = _denoiser(spec, source, widths, size)
    parts[key] = denoiser
    if vae is not None:
        parts["vae"] = load_vae(vae, spec.family)
    else:
        torch.manual_seed(seed * 1000 + 3)
        config = dict(VAE_CONFIG)
        if size == "test":
            config.update(block_out_channels=[8, 8, 8], norm_num_groups=4)
        parts["vae"] = diffusers.AutoencoderKL.from_config(config)
        if spec.family in ("sd3", "flux"):
            parts["vae"].register_to_config(shift_factor=0.0)
    sched_cfg = _strip(copy.deepcopy(source.components["scheduler"]))
    sched_cfg.update(spec.scheduler)
    sched_class = source.component_class("scheduler")
    parts["scheduler"] = getattr(diffusers, sched_class).from_config(sched_cfg)

    from matchchoose.finetune.tiny import assemble_pipeline

    try:
        pipe = assemble_pipeline(spec.pipeline_class, parts, source.model_index)
    except InputError as exc:
        raise InputError(f"build_pipeline: micro-zoo model {spec.name}: {exc}") from None
    out.mkdir(parents=True, exist_ok=True)
    from matchchoose.finetune.families import quiet_loading

    with quiet_loading():
        pipe.save_pretrained(out, safe_serialization=True)
    n_params = int(sum(p.numel() for p in denoiser.parameters()))
    meta = {"format": "matchchoose-microzoo-model/1", "name": spec.name, "family": spec.family,
            "pipeline_class": spec.pipeline_class, "source": spec.source, "text_encoder": spec.text,
            "resolution": RESOLUTION, "vae_factor": VAE_FACTOR, "latent_channels": LATENT_CHANNELS,
            "mixture": spec.weights(), "seed": seed, "size": size, "denoiser_parameters": n_params,
            "vae": str(Path(vae).resolve()) if vae is not None else None, "pretraining": None}
    (out / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return out
