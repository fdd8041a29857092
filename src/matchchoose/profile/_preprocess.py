"""Named preprocessing modes of the image probes: RGB PIL images in, a float32 NCHW batch out.

A mode is a small frozen dataclass; its :attr:`ResizeCropNormalize.name` (for instance
``pil-bicubic-short224-center224-clipnorm``) is stored with every profile, so embeddings made with
different preprocessing are never compared. Every mode does, per image, what the reference
torchvision pipelines of CLIP and DINOv2 do (``Resize(short, BICUBIC)``, ``CenterCrop(crop)``,
``ToTensor()``, ``Normalize(mean, std)``), with PIL only:

1. resize with PIL bicubic so that the short side is ``short_side`` pixels; the long side becomes
   ``int(short_side * long / short)`` (truncated, as torchvision does);
2. crop the centre ``crop_size`` x ``crop_size`` square; the top-left corner is
   ``round((size - crop_size) / 2)`` on each axis (Python's ``round``, as torchvision does);
3. scale the 8-bit values to [0, 1] (``/ 255``);
4. subtract ``mean`` and divide by ``std``, per channel, in float32.

Modes:

============================================== =========================================================
``CLIP_VIT_B32``                               ``pil-bicubic-short224-center224-clipnorm``: OpenAI CLIP
                                               at 224 px (CLIP mean/std)
:func:`clip_mode` (model folder)               CLIP at the model's own size, read from its
                                               ``preprocessor_config.json`` (else its config)
``DINOV2``                                     ``pil-bicubic-short256-center224-imagenetnorm``: DINOv2's
                                               evaluation transform (ImageNet mean/std)
============================================== =========================================================
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from numbers import Real
from pathlib import Path

import numpy as np

from .._errors import InputError

__all__ = ["CLIP_MEAN", "CLIP_STD", "CLIP_VIT_B32", "DINOV2", "IMAGENET_MEAN", "IMAGENET_STD",
           "PREPROCESS_MODES", "ResizeCropNormalize", "clip_mode"]

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_NORM_TAGS = {(CLIP_MEAN, CLIP_STD): "clipnorm", (IMAGENET_MEAN, IMAGENET_STD): "imagenetnorm"}


@dataclass(frozen=True)
class ResizeCropNormalize:
    """PIL bicubic resize of the short side, centre crop, scale to [0, 1], normalise.

    Parameters
    ----------
    short_side : int
        Length of the short side after the resize.
    crop_size : int
        Side of the square centre crop; at most ``short_side``.
    mean, std : tuple of 3 floats
        Per-channel (RGB) normalisation of the [0, 1] values.

    Examples
    --------
    >>> from PIL import Image
    >>> mode = ResizeCropNormalize(2, 2, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    >>> mode.name
    'pil-bicubic-short2-center2-norm321944b2'
    >>> mode([Image.new("RGB", (4, 2), (255, 0, 0))])[0, :, 0, 0]
    array([ 1., -1., -1.], dtype=float32)
    """

    short_side: int
    crop_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __post_init__(self):
        for field in ("short_side", "crop_size"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InputError(f"The '{field}' of a preprocessing mode must be a positive int. Got {value!r}.")
        if self.crop_size > self.short_side:
            raise InputError(f"A preprocessing mode's crop_size ({self.crop_size}) cannot exceed its short_side "
                             f"({self.short_side}): the centre crop would leave the resized image.")
        for field in ("mean", "std"):
            value = getattr(self, field)
            ok = (isinstance(value, (tuple, list)) and len(value) == 3
                  and all(isinstance(v, Real) and not isinstance(v, bool) and np.isfinite(v) for v in value))
            if not ok or (field == "std" and min(value) <= 0):
                raise InputError(f"The '{field}' of a preprocessing mode must be 3 finite numbers (std > 0), "
                                 f"one per RGB channel. Got {value!r}.")
            object.__setattr__(self, field, tuple(float(v) for v in value))

    @property
    def name(self) -> str:
        """``pil-bicubic-short{short_side}-center{crop_size}-{norm}``: ``norm`` is ``clipnorm``,
        ``imagenetnorm``, or ``norm`` and 8 hex digits of the mean and std."""
        norm = _NORM_TAGS.get((self.mean, self.std))
        if norm is None:
            digest = hashlib.sha256(json.dumps([self.mean, self.std]).encode()).hexdigest()[:8]
            norm = f"norm{digest}"
        return f"pil-bicubic-short{self.short_side}-center{self.crop_size}-{norm}"

    def resize(self, img):
        """``img`` (PIL) resized with bicubic resampling so that its short side is ``short_side``."""
        from PIL import Image

        w, h = img.size
        if w <= h:
            size = (self.short_side, int(self.short_side * h / w))
        else:
            size = (int(self.short_side * w / h), self.short_side)
        return img if size == (w, h) else img.resize(size, Image.Resampling.BICUBIC)

    def center_crop(self, img):
        """The centre ``crop_size`` x ``crop_size`` square of ``img`` (PIL), torchvision's rounding."""
        w, h = img.size
        c = self.crop_size
        top, left = int(round((h - c) / 2.0)), int(round((w - c) / 2.0))
        return img.crop((left, top, left + c, top + c))

    def array(self, img) -> np.ndarray:
        """One image as a float32 ``(3, crop_size, crop_size)`` array, normalised."""
        rgb = img if img.mode == "RGB" else img.convert("RGB")
        pixels = np.asarray(self.center_crop(self.resize(rgb)), dtype=np.float32) / np.float32(255.0)
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        return np.ascontiguousarray(((pixels - mean) / std).transpose(2, 0, 1))

    def __call__(self, images) -> np.ndarray:
        """A batch of images (PIL) as a float32 ``(n, 3, crop_size, crop_size)`` array."""
        arrays = [self.array(img) for img in images]
        if not arrays:
            return np.zeros((0, 3, self.crop_size, self.crop_size), dtype=np.float32)
        return np.stack(arrays)


CLIP_VIT_B32 = ResizeCropNormalize(224, 224, CLIP_MEAN, CLIP_STD)
DINOV2 = ResizeCropNormalize(256, 224, IMAGENET_MEAN, IMAGENET_STD)
#: The named modes, by name.
PREPROCESS_MODES = {mode.name: mode for mode in (CLIP_VIT_B32, DINOV2)}


def _size_of(value, what: str, source: str) -> int:
    """An int size, or the side of a square ``{"height", "width"}`` / ``{"shortest_edge"}`` dict."""
    if isinstance(value, dict):
        if "shortest_edge" in value:
            value = value["shortest_edge"]
        elif "height" in value and "width" in value:
            if value["height"] != value["width"]:
                raise InputError(f"{source}: {what} {value} is not square; the clip probe supports square "
                                 "crops only.")
            value = value["height"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{source}: {what} must be a positive int (or a dict with 'shortest_edge' or "
                         f"'height'/'width'). Got {value!r}.")
    return value


def clip_mode(folder=None, image_size: int | None = None) -> ResizeCropNormalize:
    """The preprocessing mode of a CLIP vision model.

    Read from ``folder/preprocessor_config.json`` when the file exists (``size`` (short side),
    ``crop_size``, ``image_mean``, ``image_std``; the interpolation is always PIL bicubic, CLIP's);
    otherwise the short side and the crop are ``image_size`` (the vision config's) with CLIP's mean
    and std.

    Parameters
    ----------
    folder : str or Path, optional
        The model folder (or a folder holding its ``preprocessor_config.json``).
    image_size : int, optional
        The vision config's ``image_size``; used when there is no ``preprocessor_config.json``, and
        then required.

    Raises
    ------
    InputError
        Malformed ``preprocessor_config.json`` (the message names it), or neither source given.
    """
    path = Path(folder) / "preprocessor_config.json" if folder is not None else None
    if path is not None and path.is_file():
        try:
            cfg = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: cannot be read as JSON ({exc}); fix or delete it.") from None
        if not isinstance(cfg, dict):
            raise InputError(f"{path}: must hold a JSON object.")
        crop_raw = cfg.get("crop_size", cfg.get("size", image_size))
        crop = _size_of(crop_raw, "crop_size", str(path))
        short = _size_of(cfg.get("size", crop), "size", str(path)) if cfg.get("do_resize", True) else crop
        crop = crop if cfg.get("do_center_crop", True) else short
        mean = cfg.get("image_mean", CLIP_MEAN) if cfg.get("do_normalize", True) else (0.0, 0.0, 0.0)
        std = cfg.get("image_std", CLIP_STD) if cfg.get("do_normalize", True) else (1.0, 1.0, 1.0)
        try:
            return ResizeCropNormalize(short, crop, tuple(mean), tuple(std))
        except (InputError, TypeError) as exc:
            raise InputError(f"{path}: {exc}") from None
    if image_size is None:
        raise InputError("clip_mode needs a folder with preprocessor_config.json or the model's image_size.")
    return ResizeCropNormalize(int(image_size), int(image_size), CLIP_MEAN, CLIP_STD)
