"""Training batches from an :class:`~matchchoose.profile.ImageFolder`, stateless and seeded.

The images of step ``s`` depend only on the seed and ``s``: the stream of samples is the
concatenation of per-epoch permutations (epoch ``e`` shuffled by ``default_rng([seed, e])``), and
the crop, flip and caption dropout of the ``j``-th image of step ``s`` are drawn from
``default_rng([seed, s, j])``. Resuming at step ``s`` therefore needs no sampler state.

Each image is resized so that its shorter side is the training resolution (bicubic), cropped to a
square (center or random), optionally flipped, and scaled to ``[-1, 1]``.

Because a micro-batch is a pure function of ``(step, micro)``, :class:`BatchPrefetcher` can prepare
the next ones ahead, in any order and on any thread, and hand out exactly what
:meth:`TrainingImages.micro_batch` returns. It uses threads rather than processes: PIL releases
the GIL while decoding and resizing, nothing has to be pickled, and no process is forked after CUDA
was initialised.
"""

from __future__ import annotations

import numpy as np

from .._errors import InputError

__all__ = ["BatchPrefetcher", "TrainingImages"]


class TrainingImages:
    """The training view of a dataset for one recipe.

    Parameters
    ----------
    dataset : ImageFolder
    recipe : Recipe
        ``resolution``, ``center_crop``, ``random_flip``, ``caption_dropout``,
        ``max_train_images``, ``seed``, ``batch_size``, ``gradient_accumulation``.
    """

    _STREAM = 0x5EED  # separates the data streams from other uses of the seed

    def __init__(self, dataset, recipe):
        self.dataset = dataset
        self.recipe = recipe
        n = len(dataset)
        if recipe.max_train_images is not None and recipe.max_train_images < n:
            rng = np.random.default_rng([recipe.seed, self._STREAM, 1])
            keep = np.sort(rng.choice(n, size=recipe.max_train_images, replace=False))
            self.indices = [int(i) for i in keep]
        else:
            self.indices = list(range(n))
        self._perms: dict[int, np.ndarray] = {}
        if not self.indices:
            raise InputError(f"{dataset.root}: no training images.")

    def __len__(self) -> int:
        return len(self.indices)

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            if len(self._perms) > 4:
                self._perms.clear()
            rng = np.random.default_rng([self.recipe.seed, self._STREAM, 2, epoch])
            self._perms[epoch] = rng.permutation(len(self.indices))
        return self._perms[epoch]

    def items_of_step(self, step: int) -> list:
        """Dataset indices of the ``batch_size`` images of optimizer step ``step``."""
        b = self.recipe.batch_size
        n = len(self.indices)
        out = []
        for j in range(b):
            position = step * b + j
            epoch, k = divmod(position, n)
            out.append(self.indices[int(self._perm(epoch)[k])])
        return out

    def micro_batch(self, step: int, micro: int):
        """The :class:`~.families._base.Batch` of micro-batch ``micro`` of step ``step``."""
        import torch

        from .families._base import Batch

        r = self.recipe
        size = r.micro_batch_size
        items = self.items_of_step(step)[micro * size:(micro + 1) * size]
        pixels, captions, sizes, crops = [], [], [], []
        for j, index in enumerate(items):
            rng = np.random.default_rng([r.seed, self._STREAM, 3, step, micro * size + j])
            array, original, crop = self.prepare(self.dataset.load(index), rng)
            pixels.append(array)
            sizes.append(original)
            crops.append(crop)
            caption = self.dataset.captions[index] or ""
            if r.caption_dropout and rng.random() < r.caption_dropout:
                caption = ""
            captions.append(caption)
        tensor = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).contiguous()
        return Batch(tensor, captions, sizes, crops)

    def prepare(self, image, rng):
        """``(float32 HxWx3 array in [-1, 1], (orig_h, orig_w), (crop_top, crop_left))`` of one image."""
        from PIL import Image

        r = self.recipe.resolution
        w, h = image.size
        scale = r / min(w, h)
        new_w, new_h = max(r, round(w * scale)), max(r, round(h * scale))
        resized = image.resize((new_w, new_h), Image.BICUBIC) if (new_w, new_h) != (w, h) else image
        if self.recipe.center_crop:
            top, left = (new_h - r) // 2, (new_w - r) // 2
        else:
            top = int(rng.integers(0, new_h - r + 1))
            left = int(rng.integers(0, new_w - r + 1))
        crop = resized.crop((left, top, left + r, top + r))
        array = np.asarray(crop, dtype=np.float32) / 127.5 - 1.0
        if self.recipe.random_flip and rng.random() < 0.5:
            array = array[:, ::-1, :]
        return np.ascontiguousarray(array), (h, w), (top, left)


class BatchPrefetcher:
    """Prepare the micro-batches of the coming steps in worker threads, in pinned memory.

    Parameters
    ----------
    images : TrainingImages
    start, stop : int
        The optimizer steps to be trained (``range(start, stop)``).
    workers : int
        Worker threads.
    depth : int, optional
        Micro-batches kept in flight; default ``2 * workers``.
    pin : bool, default=False
        Copy each batch's pixels to page-locked memory (for fast, asynchronous host-to-GPU copies).

    Examples
    --------
    >>> prefetcher = BatchPrefetcher(images, 0, 10, workers=2)  # doctest: +SKIP
    >>> batch = prefetcher.get(0, 0)                            # doctest: +SKIP
    """

    def __init__(self, images: TrainingImages, start: int, stop: int, *, workers: int, depth: int | None = None,
                 pin: bool = False):
        from concurrent.futures import ThreadPoolExecutor

        self.images = images
        self.pin = pin
        k = images.recipe.gradient_accumulation
        self._order = [(step, micro) for step in range(start, stop) for micro in range(k)]
        self._next = 0
        self._futures: dict = {}
        self._depth = depth or 2 * workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mnc-data")
        self._fill()

    def _make(self, step: int, micro: int):
        batch = self.images.micro_batch(step, micro)
        if self.pin:
            batch.pixels = batch.pixels.pin_memory()
        return batch

    def _fill(self) -> None:
        while self._next < len(self._order) and len(self._futures) < self._depth:
            key = self._order[self._next]
            self._futures[key] = self._pool.submit(self._make, *key)
            self._next += 1

    def get(self, step: int, micro: int):
        """The micro-batch ``micro`` of step ``step`` (prepared now if it was not scheduled)."""
        future = self._futures.pop((step, micro), None)
        batch = future.result() if future is not None else self._make(step, micro)
        self._fill()
        return batch

    def close(self) -> None:
        """Stop the workers (pending batches are dropped)."""
        for future in self._futures.values():
            future.cancel()
        self._futures.clear()
        self._pool.shutdown(wait=True)
