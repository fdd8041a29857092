"""Applying a saved LoRA / adapter to a diffusers pipeline for sampling."""

from __future__ import annotations

import json
from pathlib import Path

from .._errors import InputError
from ._layout import ADAPTER_FORMAT

__all__ = ["load_adapter", "read_adapter_config"]


def read_adapter_config(adapter_dir) -> dict:
    """``adapter_config.json`` of an adapter folder written by :func:`~matchchoose.finetune.finetune`.

    ``adapter_dir`` may also be a run folder (its ``adapter/`` is used) or a checkpoint folder
    (``checkpoints/step-N``, whose ``trainer_state.json`` describes the method).
    """
    root = Path(adapter_dir)
    if (root / "adapter" / "adapter_config.json").is_file():
        root = root / "adapter"
    if (root / "adapter_config.json").is_file():
        try:
            config = json.loads((root / "adapter_config.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{root / 'adapter_config.json'}: malformed JSON ({exc.msg}).") from None
        if config.get("format") != ADAPTER_FORMAT:
            raise InputError(f"{root / 'adapter_config.json'}: not a matchchoose adapter (format "
                             f"{config.get('format')!r}, expected {ADAPTER_FORMAT!r}).")
    elif (root / "trainer_state.json").is_file():
        state = json.loads((root / "trainer_state.json").read_text(encoding="utf-8"))
        config = {"format": ADAPTER_FORMAT, "family": state["family"], **state["method"]}
    else:
        raise InputError(f"{root}: no adapter_config.json; expected the adapter/ folder of an 'mnc finetune' run "
                         "(or a checkpoints/step-N folder).")
    if not (root / "adapter_model.safetensors").is_file():
        raise InputError(f"{root}: adapter_model.safetensors is missing.")
    config["_dir"] = str(root)
    return config


def load_adapter(pipeline, adapter_dir):
    """Apply the LoRA or adapter weights saved in ``adapter_dir`` to ``pipeline``'s denoiser, in place.

    Parameters
    ----------
    pipeline : diffusers.DiffusionPipeline
        A pipeline of the family the adapter was trained on (same denoiser architecture), e.g.
        ``DiffusionPipeline.from_pretrained(base_model)``; it keeps its device and dtype.
    adapter_dir : str or Path
        The ``adapter/`` folder of a run (or the run folder itself, or a checkpoint folder).

    Returns
    -------
    pipeline
        The same pipeline, with the weights applied (sample with it as usual).

    Raises
    ------
    InputError
        Wrong family, weights that do not fit the denoiser, a pipeline that already has an adapter.

    Examples
    --------
    >>> from diffusers import DiffusionPipeline                      # doctest: +SKIP
    >>> pipe = load_adapter(DiffusionPipeline.from_pretrained(base), "runs/a/adapter")  # doctest: +SKIP
    >>> image = pipe("a photo of a cat").images[0]                   # doctest: +SKIP
    """
    from safetensors.torch import load_file

    from ._methods import make_method
    from .families import family_class, supported_pipelines

    config = read_adapter_config(adapter_dir)
    root = Path(config.pop("_dir"))
    pipeline_class = type(pipeline).__name__
    family = supported_pipelines().get(pipeline_class)
    if family is None:
        raise InputError(f"load_adapter: pipeline class {pipeline_class} is not a supported family "
                         f"({', '.join(sorted(set(supported_pipelines().values())))}).")
    if family != config["family"]:
        raise InputError(f"{root}: the adapter was trained on a {config['family']} pipeline; this is a {family} "
                         f"pipeline ({pipeline_class}).")
    fam = family_class(family)(pipeline, getattr(pipeline, "name_or_path", "") or pipeline_class)
    denoiser = fam.denoiser
    if hasattr(denoiser, "peft_config") or any(".mnc_adapter." in n or ".lora_A." in n
                                               for n, _ in denoiser.named_parameters()):
        raise InputError(f"load_adapter: the pipeline's {fam.denoiser_name} already has an adapter; load "
                         f"{root} into a freshly loaded pipeline.")
    was_training = denoiser.training
    method = make_method(fam, config)
    weights = load_file(str(root / "adapter_model.safetensors"))
    method.load_state_dict(weights, source=str(root))
    ref = next(p for n, p in denoiser.named_parameters() if "lora_" not in n and ".mnc_adapter." not in n)
    for p in method.trainable().values():
        p.data = p.data.to(device=ref.device, dtype=ref.dtype)
    denoiser.requires_grad_(False)
    denoiser.train(was_training)
    return pipeline
