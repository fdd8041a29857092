"""Pretraining data: a weighted mixture of micro-zoo domains, sampled statelessly from a seed.

Each domain is a Hugging Face ImageFolder ``DATA_ROOT/<domain>/`` (``metadata.jsonl`` captions).
By default only its training split is used: the held-out split of
:func:`matchchoose.profile.split` with ``val_fraction=0.2`` and seed 0 (what ``mnc grid`` samples
captions from and scores against) is left out, so a pretrained model has never seen the images
it will be scored on.

The ``j``-th image of step ``s`` is drawn from ``default_rng([seed, stream, s])``: a domain by the
mixture weights, then an image of it uniformly (with replacement), so resuming at step ``s`` needs no
sampler state. Images are resized and center-cropped by the fine-tuning data code
(:meth:`matchchoose.finetune.TrainingImages.prepare`), so pretraining and fine-tuning see the
same pixels.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from matchchoose import InputError

__all__ = ["MixtureData", "available_domains"]

_STREAM = 0x3A17


def available_domains(data_root) -> list[str]:
    """Sorted names of the folders under ``data_root`` that hold an ImageFolder with ``metadata.jsonl``."""
    root = Path(data_root)
    if not root.is_dir():
        raise InputError(f"Micro-zoo data folder {str(root)!r} does not exist; build the domains with "
                         "'mnc-microzoo datasets build --out DIR'.")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "metadata.jsonl").is_file())


class MixtureData:
    """The training images of a weighted mixture of domains.

    Parameters
    ----------
    data_root : str or Path
        Folder with one ImageFolder per domain.
    mixture : dict
        ``{domain: weight}``; weights are normalised.
    resolution : int
        Side of the square training images.
    seed : int, default=0
        Seed of the sampling stream.
    held_out_fraction : float, default=0.2
        Leave out each domain's held-out split (``split(folder, held_out_fraction, split_seed)``);
        0 uses every image.
    split_seed : int, default=0
    part : {"train", "held_out"}, default="train"
        Which side of the split to use (``"held_out"``: e.g. for reconstruction checks).
    """

    def __init__(self, data_root, mixture: dict, resolution: int, *, seed: int = 0, held_out_fraction: float = 0.2,
                 split_seed: int = 0, part: str = "train"):
        from matchchoose.finetune import Recipe, TrainingImages
        from matchchoose.profile import ImageFolder, split

        if part not in ("train", "held_out"):
            raise InputError(f"MixtureData: part must be 'train' or 'held_out', got {part!r}.")
        if part == "held_out" and not held_out_fraction:
            raise InputError("MixtureData: part='held_out' needs a held_out_fraction > 0.")
        if not mixture:
            raise InputError("MixtureData: the mixture is empty.")
        bad = {d: w for d, w in mixture.items() if not (isinstance(w, (int, float)) and w > 0)}
        if bad:
            d = next(iter(bad))
            raise InputError(f"MixtureData: weight of domain {d!r} must be a positive number, got {bad[d]!r}.")
        root = Path(data_root)
        present = set(available_domains(root))
        missing = [d for d in mixture if d not in present]
        if missing:
            raise InputError(f"{root}: domain(s) {', '.join(missing)} missing; build them with 'mnc-microzoo datasets "
                             f"build --domains {','.join(missing)} --out {root}'.")
        self.root = root
        self.domains = list(mixture)
        weights = np.array([float(mixture[d]) for d in self.domains])
        self.weights = weights / weights.sum()
        self.resolution = int(resolution)
        self.seed = int(seed)
        self.folders = {}
        for domain in self.domains:
            folder = ImageFolder(root / domain)
            if held_out_fraction:
                train, val = split(folder, val_fraction=held_out_fraction, random_state=split_seed)
                folder = train if part == "train" else val
            self.folders[domain] = folder
        self._prep = TrainingImages(next(iter(self.folders.values())),
                                    Recipe(resolution=self.resolution, center_crop=True, random_flip=False))
        self._pixels: dict = {}

    def __len__(self) -> int:
        """Number of distinct training images."""
        return sum(len(f) for f in self.folders.values())

    def items(self) -> list:
        """Every ``(domain, index)`` of the mixture, in domain then folder order."""
        return [(d, i) for d in self.domains for i in range(len(self.folders[d]))]

    def draw(self, step: int, batch_size: int) -> list:
        """The ``(domain, index)`` of the ``batch_size`` images of step ``step``."""
        rng = np.random.default_rng([self.seed, _STREAM, int(step)])
        which = rng.choice(len(self.domains), size=batch_size, p=self.weights)
        out = []
        for k in which:
            domain = self.domains[int(k)]
            out.append((domain, int(rng.integers(0, len(self.folders[domain])))))
        return out

    def caption(self, item) -> str:
        domain, index = item
        return self.folders[domain].captions[index] or ""

    def image(self, item) -> tuple:
        """``(HxWx3 float32 in [-1, 1], (orig_h, orig_w), (top, left))`` of ``item`` (cached)."""
        if item not in self._pixels:
            domain, index = item
            with self.folders[domain].load(index) as image:
                self._pixels[item] = self._prep.prepare(image.convert("RGB"), None)
        return self._pixels[item]

    def content_hash(self) -> str:
        """SHA-1 over the domains, their weights and their training images' content hashes."""
        h = hashlib.sha1()
        for domain, w in zip(self.domains, self.weights):
            h.update(f"{domain}:{w:.12g}:{self.folders[domain].content_hash()}\n".encode())
        return h.hexdigest()
