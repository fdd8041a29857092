"""Pipeline families: one module per family, registered here by name and pipeline classes.

Adding a family is one module with a :class:`~._base.Family` subclass and one line in
:data:`REGISTRY`. The family of a pipeline folder is read from ``model_index.json``'s
``_class_name`` without importing torch; the family module (and torch, diffusers) is imported only
when it is used.

:class:`Batch` (one micro-batch of training images), :class:`Family` (the base class) and
:func:`quiet_loading` (a context that silences diffusers' and transformers' loading progress bars)
are public for trainers built on the families (``tools/microzoo``); they import torch when first
used.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ..._errors import InputError

__all__ = ["Batch", "Family", "REGISTRY", "detect_family", "family_class", "quiet_loading", "supported_pipelines"]

#: family name -> (module under this package, class name, pipeline classes of model_index.json)
REGISTRY = {
    "sd": ("sd", "StableDiffusion", ("StableDiffusionPipeline",)),
    "sdxl": ("sdxl", "StableDiffusionXL", ("StableDiffusionXLPipeline",)),
    "sd3": ("sd3", "StableDiffusion3", ("StableDiffusion3Pipeline",)),
    "flux": ("flux", "Flux", ("FluxPipeline",)),
    "pixart": ("pixart", "PixArt", ("PixArtAlphaPipeline", "PixArtSigmaPipeline")),
    "sana": ("sana", "Sana", ("SanaPipeline",)),
}


def supported_pipelines() -> dict:
    """``{pipeline class: family}`` of every registered family."""
    return {cls: family for family, (_, _, classes) in REGISTRY.items() for cls in classes}


def _describe() -> str:
    return "; ".join(f"{family} ({', '.join(classes)})" for family, (_, _, classes) in REGISTRY.items())


def detect_family(model_path) -> str:
    """The family name of the diffusers folder ``model_path``, from ``model_index.json``'s ``_class_name``.

    Raises
    ------
    InputError
        No ``model_index.json``, or a pipeline class no family supports (the message lists them).

    Examples
    --------
    >>> from matchchoose.features import default_zoo_dir
    >>> detect_family(default_zoo_dir() / "sdxl-base")
    'sdxl'
    """
    from ...features import read_json

    root = Path(model_path)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder; expected a local diffusers pipeline folder (model_index.json and "
                         "component folders with weights).")
    index = read_json(root / "model_index.json", "pipeline index of a diffusers folder")
    pipeline_class = index.get("_class_name")
    family = supported_pipelines().get(pipeline_class)
    if family is None:
        raise InputError(f"{root}: pipeline class {pipeline_class!r} is not supported for fine-tuning; supported "
                         f"families: {_describe()}.")
    return family


def family_class(name: str):
    """The :class:`~._base.Family` subclass registered as ``name`` (imports torch and diffusers)."""
    if name not in REGISTRY:
        raise InputError(f"Unknown pipeline family {name!r}; supported families: {_describe()}.")
    module, cls, _ = REGISTRY[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def __getattr__(name):
    # torch and diffusers are imported only when these are used
    if name in ("Batch", "Family"):
        from . import _base

        return getattr(_base, name)
    if name == "quiet_loading":
        from ._base import _quiet_loading

        return _quiet_loading
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
