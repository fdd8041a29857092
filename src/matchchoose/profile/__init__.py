"""Dataset profiles: image folders in, distances between image-set embeddings out.

- :mod:`._images`: :class:`ImageFolder` reads a folder of images (recursive, captions optional)
  robustly to RGB, with a :class:`LoadReport` of skipped files; :func:`split` makes a seeded
  train/validation split.
- :mod:`._distances`: Fréchet distance (exact, eigendecomposition-based, and an N x N matrix from N
  Gaussian profiles), KID and CMMD, numpy/scipy only.
"""

from ._distances import cmmd, frechet_distance, frechet_distance_matrix, gaussian_stats, kid
from ._images import IMAGE_EXTENSIONS, ImageFolder, LoadReport, SkippedImage, split, to_rgb

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageFolder",
    "LoadReport",
    "SkippedImage",
    "cmmd",
    "frechet_distance",
    "frechet_distance_matrix",
    "gaussian_stats",
    "kid",
    "split",
    "to_rgb",
]
