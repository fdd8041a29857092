"""BatchPrefetcher: batches prepared ahead in worker threads are exactly TrainingImages.micro_batch's, and a
run with prefetching trains the same weights."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from matchchoose.finetune import Recipe, finetune
from matchchoose.finetune import _train
from matchchoose.finetune._data import BatchPrefetcher, TrainingImages
from matchchoose.profile import ImageFolder


@pytest.mark.parametrize("accumulation", [1, 2])
def test_prefetched_batches_equal_the_direct_ones(images, accumulation):
    recipe = Recipe(batch_size=4, gradient_accumulation=accumulation, resolution=16, random_flip=True,
                    center_crop=False, caption_dropout=0.3, seed=3)
    data = TrainingImages(ImageFolder(images), recipe)
    prefetcher = BatchPrefetcher(data, 2, 7, workers=3, depth=4)
    try:
        for step in range(2, 7):
            for micro in range(accumulation):
                got, expected = prefetcher.get(step, micro), data.micro_batch(step, micro)
                assert torch.equal(got.pixels, expected.pixels)
                assert (got.captions, got.original_sizes, got.crops) == (expected.captions, expected.original_sizes,
                                                                         expected.crops)
        # Outside the schedule (a retry, a resumed step): made on demand, still the same.
        assert torch.equal(prefetcher.get(0, 0).pixels, data.micro_batch(0, 0).pixels)
    finally:
        prefetcher.close()


def test_training_with_prefetch_workers_gives_the_same_weights(tiny, images, recipe, tmp_path, monkeypatch):
    plain = finetune(tiny("sd"), images, tmp_path / "a", recipe("sd", steps=3), progress=False, device="cpu")
    monkeypatch.setattr(_train, "_data_workers", lambda device: 2)
    fetched = finetune(tiny("sd"), images, tmp_path / "b", recipe("sd", steps=3), progress=False, device="cpu")
    a, b = (load_file(str(r.adapter_dir / "adapter_model.safetensors")) for r in (plain, fetched))
    assert all(torch.equal(a[k], b[k]) for k in a) and plain.losses == fetched.losses


def test_no_worker_threads_on_cpu_by_default():
    assert _train._data_workers(torch.device("cpu")) == 0
    assert 1 <= _train._data_workers(torch.device("cuda")) <= 4
