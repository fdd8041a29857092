"""The micro zoo's tiny base models: small T2I diffusers pipelines pretrained here on domain mixtures.

:data:`ZOO` defines the models (UNet variants, SDXL-, PixArt- and SD3-like
transformers, three kinds of text conditioning, a pretraining mixture each);
:func:`train_vae` trains the shared VAE on the micro-zoo domains, :func:`build_pipeline` writes a
model with random weights and :func:`pretrain` trains all its denoiser weights on its mixture with
the fine-tuning family's own loss, writing a diffusers folder that ``mnc zoo add``, ``mnc finetune``
and ``mnc sample`` take as is. See ``docs/microzoo-models.md``.

Examples
--------
>>> from matchchoose_microzoo.models import ZOO, pretrain, train_vae           # doctest: +SKIP
>>> train_vae("data/microzoo", "zoo/vae", steps=1500)                   # doctest: +SKIP
>>> pretrain("unet-s-minilm", "data/microzoo", "zoo/unet-s-minilm", vae="zoo/vae")  # doctest: +SKIP
"""

from __future__ import annotations

from ._spec import (LATENT_CHANNELS, RESOLUTION, TEXT_ENCODERS, VAE_CONFIG, VAE_FACTOR, ZOO, ModelSpec, get_spec,
                    mixture_domains, model_names)

__all__ = ["LATENT_CHANNELS", "RESOLUTION", "TEXT_ENCODERS", "VAE_CONFIG", "VAE_FACTOR", "ZOO", "MixtureData",
           "ModelSpec", "PretrainResult", "VaeResult", "build_pipeline", "denoiser_parameters", "get_spec", "load_vae",
           "mixture_domains", "model_names", "pretrain", "train_vae", "use_minilm_folder", "zoo_metadata"]

_LAZY = {
    "build_pipeline": "._build", "denoiser_parameters": "._build", "load_vae": "._build", "zoo_metadata": "._build",
    "MixtureData": "._data",
    "pretrain": "._pretrain", "PretrainResult": "._pretrain",
    "train_vae": "._vae", "VaeResult": "._vae",
    "use_minilm_folder": "._text",
}


def __getattr__(name: str):
    """Import the torch-using parts on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
