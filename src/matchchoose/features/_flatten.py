"""Flattening a pipeline's configs into named hyperparameters, in the style of the paper's Table 1.

``unet/config.json: {"block_out_channels": [320, 640, 1280]}`` becomes ``unet_block_out_channels_0 =
320``, ``unet_block_out_channels_1 = 640``, ``unet_block_out_channels_2 = 1280``: the key is the
component folder, the config key, then list indices (and nested dict keys), joined by ``_``.
``model_index.json`` gives ``pipeline_class_name`` and its non-component entries
(``pipeline_force_zeros_for_empty_prompt``); each component gives ``<component>_class_name``.

Three normalisations make the keys of different files comparable (paper 4.2 does not say how it
handled them; these are our choices, documented in ``docs/model-features.md``):

* provenance and runtime keys are dropped (:data:`PROVENANCE_KEYS`, :data:`RUNTIME_KEYS`, every key
  starting with ``_`` except ``_class_name``): they say who saved the file, not what the model is;
* legacy class names are mapped to the class diffusers instantiates (:func:`canonical_class`:
  PixArt's ``Transformer2DModel`` with ``norm_type="ada_norm_single"`` is a ``PixArtTransformer2DModel``);
* a key a diffusers config omits takes the class default that diffusers itself would use
  (``class_defaults.json``, generated from diffusers' ``__init__`` signatures; no torch needed at
  run time), and UNet per-block arguments given as one number are broadcast to every block as
  diffusers does (``attention_head_dim: 8`` -> ``attention_head_dim_0 .. _3 = 8``).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources

from .._errors import InputError
from ._config import PipelineConfig

__all__ = ["PROVENANCE_KEYS", "RUNTIME_KEYS", "FAMILIES", "canonical_class", "family_of", "flatten_pipeline",
           "flatten_config", "class_defaults"]

#: Keys recording who saved a file and how, not what the model is.
PROVENANCE_KEYS = frozenset({
    "_name_or_path", "_diffusers_version", "_commit_hash", "_use_default_values", "transformers_version",
    "torch_dtype", "dtype", "architectures", "auto_map",
})
#: transformers keys that switch run-time behaviour (caching, outputs), not the architecture.
RUNTIME_KEYS = frozenset({
    "use_cache", "output_past", "cache_implementation", "return_dict", "output_hidden_states",
    "output_attentions", "torchscript", "use_return_dict",
})
# diffusers maps these legacy classes by a config value (diffusers/models/transformers/transformer_2d.py).
_LEGACY = {("Transformer2DModel", "ada_norm_single"): "PixArtTransformer2DModel",
           ("Transformer2DModel", "ada_norm_zero"): "DiTTransformer2DModel"}
# UNet2DConditionModel arguments that are one value or one per down block (diffusers broadcasts them).
_PER_BLOCK = {"UNet2DConditionModel": ("attention_head_dim", "num_attention_heads", "transformer_layers_per_block",
                                       "layers_per_block", "cross_attention_dim", "only_cross_attention")}

#: Denoiser class -> family name (anything else is ``"generic"``).
FAMILIES = {
    "UNet2DConditionModel": "unet",
    "PixArtTransformer2DModel": "pixart",
    "SanaTransformer2DModel": "sana",
    "SD3Transformer2DModel": "sd3",
    "FluxTransformer2DModel": "flux",
    "HunyuanDiT2DModel": "hunyuandit",
    "StableCascadeUNet": "stable_cascade",
}


def canonical_class(name: str | None, config: dict | None = None) -> str | None:
    """The class diffusers instantiates for ``name`` given its ``config``.

    Examples
    --------
    >>> canonical_class("Transformer2DModel", {"norm_type": "ada_norm_single"})
    'PixArtTransformer2DModel'
    >>> canonical_class("UNet2DConditionModel")
    'UNet2DConditionModel'
    """
    if name is None:
        return None
    return _LEGACY.get((name, (config or {}).get("norm_type")), name)


def family_of(config: PipelineConfig) -> str:
    """``"unet"``, ``"pixart"``, ``"sana"``, ``"sd3"``, ``"flux"``, ``"hunyuandit"``,
    ``"stable_cascade"``, or ``"generic"`` (unknown denoiser, or none)."""
    denoiser = config.denoiser
    return "generic" if denoiser is None else FAMILIES.get(config.component_class(denoiser), "generic")


@lru_cache(maxsize=1)
def class_defaults() -> dict:
    """Default config of every diffusers class in ``class_defaults.json`` (class -> {key: value})."""
    text = resources.files(__package__).joinpath("class_defaults.json").read_text(encoding="utf-8")
    return json.loads(text)["classes"]


def _dropped(key: str) -> bool:
    return key in PROVENANCE_KEYS or key in RUNTIME_KEYS or (key.startswith("_") and key != "_class_name")


def _emit(out: dict, key: str, value, where: str) -> None:
    """Store ``value`` under ``key``, flattening lists (``_<i>``) and dicts (``_<k>``)."""
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _emit(out, f"{key}_{i}", item, where)
    elif isinstance(value, dict):
        for sub, item in value.items():
            _emit(out, f"{key}_{sub}", item, where)
    elif value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, float) and math.isnan(value):
            value = None
        out[key] = value
    else:  # pragma: no cover - json.loads makes nothing else
        raise InputError(f"{where}: value of {key!r} has unsupported type {type(value).__name__}.")


def flatten_config(prefix: str, config: dict, class_name: str | None = None, *, fill_defaults: bool = True,
                   where: str = "config") -> dict:
    """Flatten one component config into ``{prefix_key[_index...]: scalar}``.

    Parameters
    ----------
    prefix : str
        Component name (``"unet"``).
    config : dict
        The parsed JSON.
    class_name : str, optional
        Canonical class (default: the config's ``_class_name``, mapped by :func:`canonical_class`).
    fill_defaults : bool, default=True
        Fill keys the file omits with the class defaults of ``class_defaults.json``.

    Examples
    --------
    >>> flatten_config("vae", {"_class_name": "X", "_diffusers_version": "0.1", "block_out_channels": [1, 2]})
    {'vae_class_name': 'X', 'vae_block_out_channels_0': 1, 'vae_block_out_channels_1': 2}
    """
    if not isinstance(config, dict):
        raise InputError(f"{where}: expected a JSON object, got a {type(config).__name__}.")
    class_name = class_name or canonical_class(config.get("_class_name"), config)
    merged = dict(config)
    if fill_defaults and class_name in class_defaults():
        merged = {**class_defaults()[class_name], **config}
    per_block = _PER_BLOCK.get(class_name, ())
    blocks = merged.get("down_block_types")
    out = {}
    if class_name is not None:
        out[f"{prefix}_class_name"] = class_name
    for key, value in merged.items():
        if _dropped(key) or key == "_class_name":
            continue
        if key in per_block and isinstance(blocks, (list, tuple)) and isinstance(value, (int, float, bool)):
            value = [value] * len(blocks)
        _emit(out, f"{prefix}_{key}", value, where)
    return out


def flatten_pipeline(config: PipelineConfig, *, fill_defaults: bool = True) -> dict:
    """All named hyperparameters of a pipeline (dict, key order: pipeline, then components as listed).

    Values are ``int``, ``float``, ``bool``, ``str`` or ``None`` (JSON ``null``; ``NaN`` too).

    Examples
    --------
    >>> from matchchoose.features import default_zoo_dir, read_pipeline
    >>> hp = flatten_pipeline(read_pipeline(default_zoo_dir() / "sdxl-base"))
    >>> hp["unet_block_out_channels_2"], hp["unet_mid_block_type"], hp["vae_sample_size"]
    (1280, 'UNetMidBlock2DCrossAttn', 1024)
    """
    index = config.model_index
    where = f"{config.source}/model_index.json"
    out = {"pipeline_class_name": config.pipeline_class}
    for key, value in index.items():
        if _dropped(key) or key == "_class_name":
            continue
        if isinstance(value, (list, tuple)) and len(value) == 2 and (value[0] is None or isinstance(value[0], str)):
            if value[1] is not None:  # a component: its class (configs come below)
                out[f"{key}_class_name"] = canonical_class(value[1], config.components.get(key))
            continue
        _emit(out, f"pipeline_{key}", value, where)
    for name, component in config.components.items():
        out.update(flatten_config(name, component, config.component_class(name), fill_defaults=fill_defaults,
                                  where=f"{config.source}/{name}"))
    return out
