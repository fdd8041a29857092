"""Generating ``class_defaults.json``: the config defaults diffusers uses for keys a file omits.

diffusers fills a config key that a saved ``config.json`` lacks with the default of the class's
``__init__`` argument (``register_to_config``). The flattener does the same from this shipped table,
so parsing needs no torch; regenerate it after upgrading diffusers::

    python -m matchchoose.features._defaults   # needs matchchoose[models]

Classes covered: every diffusers class of the default zoo, the classes legacy names map to, and
every diffusers scheduler (user pipelines differ most often by their scheduler).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from .._errors import require

__all__ = ["ZOO_CLASSES", "generate_class_defaults", "write_class_defaults"]

#: diffusers model classes whose defaults are shipped (schedulers are all added).
ZOO_CLASSES = (
    "UNet2DConditionModel", "PixArtTransformer2DModel", "DiTTransformer2DModel", "SanaTransformer2DModel",
    "SD3Transformer2DModel", "FluxTransformer2DModel", "HunyuanDiT2DModel", "StableCascadeUNet",
    "AutoencoderKL", "AutoencoderDC", "AutoencoderTiny",
)
_PIPELINE_CLASSES = {"PaellaVQModel": ("diffusers.pipelines.wuerstchen", "diffusers.pipelines.deprecated.wuerstchen")}


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return None  # enums, callables: not a hyperparameter a JSON config can hold


def _defaults(cls) -> dict:
    out = {}
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.default is inspect.Parameter.empty:
            continue
        value = _jsonable(param.default)
        if value is not None or param.default is None:
            out[name] = value
    return out


def generate_class_defaults() -> dict:
    """``{"diffusers_version": ..., "classes": {class: {key: default}}}`` from the installed diffusers."""
    import importlib

    diffusers = require("diffusers", "Generating class defaults", "models")
    classes = {}
    for name in ZOO_CLASSES:
        classes[name] = _defaults(getattr(diffusers, name))
    for name, modules in _PIPELINE_CLASSES.items():
        for module in modules:  # the class moved to deprecated/ in diffusers 0.3x
            try:
                classes[name] = _defaults(getattr(importlib.import_module(module), name))
                break
            except ImportError:
                continue
    for name in sorted(dir(diffusers)):
        if name.endswith("Scheduler") and not name.startswith("_"):
            try:
                cls = getattr(diffusers, name)
                if inspect.isclass(cls) and hasattr(cls, "config_name"):
                    classes[name] = _defaults(cls)
            except ImportError:  # a dummy class: the scheduler's optional backend (torchsde...) is missing
                continue
    return {"diffusers_version": diffusers.__version__, "classes": dict(sorted(classes.items()))}


def write_class_defaults(path=None) -> Path:
    """Write :func:`generate_class_defaults` as sorted JSON (default: the packaged file)."""
    path = Path(path) if path else Path(__file__).with_name("class_defaults.json")
    path.write_text(json.dumps(generate_class_defaults(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":  # pragma: no cover
    print(write_class_defaults())
