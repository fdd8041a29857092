"""Decoding and probe preprocessing ahead in worker threads (what runs beside a GPU): the same images and
embeddings, in the same order, as the serial path."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from matchchoose.profile import ImageFolder


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(11):
        Image.fromarray(rng.integers(0, 256, (20 + i, 30, 3), dtype=np.uint8)).save(tmp_path / f"{i:02d}.png")
    Image.new("RGBA", (9, 9), (0, 0, 0, 0)).save(tmp_path / "11.png")
    png = (tmp_path / "03.png").read_bytes()
    (tmp_path / "12.png").write_bytes(png[: len(png) // 2])  # truncated: fails only when decoded
    return tmp_path


def _batches(ds, **kw):
    return [(idx, [np.asarray(img).copy() for img in imgs]) for idx, imgs in ds.iter_rgb(4, **kw)]


def test_iter_rgb_with_workers_yields_the_same_images_and_report(folder):
    serial_ds, threaded_ds = ImageFolder(folder, verify="header"), ImageFolder(folder, verify="header")
    serial, threaded = _batches(serial_ds), _batches(threaded_ds, workers=3)
    assert [idx for idx, _ in serial] == [idx for idx, _ in threaded]
    assert all(np.array_equal(a, b) for (_, xs), (_, ys) in zip(serial, threaded) for a, b in zip(xs, ys))
    assert [s.path for s in threaded_ds.report.skipped] == ["12.png"] == [s.path for s in serial_ds.report.skipped]
    assert threaded_ds.report.n_ok == serial_ds.report.n_ok == 12


def test_iter_rgb_refuses_a_negative_worker_count(folder):
    with pytest.raises(ValueError, match="workers"):
        next(ImageFolder(folder).iter_rgb(4, workers=-1))


def test_clip_probe_embeddings_are_identical_with_preprocessing_workers(folder, tmp_path_factory, monkeypatch):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from matchchoose.profile._clip import ClipProbe

    model_dir = tmp_path_factory.mktemp("clip")
    torch.manual_seed(0)
    config = transformers.CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                           num_attention_heads=2, projection_dim=8, image_size=32, patch_size=16)
    transformers.CLIPVisionModelWithProjection(config).save_pretrained(model_dir)
    probe = ClipProbe(str(model_dir), device="cpu", batch_size=3)
    assert probe.preprocess_workers() == 0
    images = [img for _, batch in ImageFolder(folder).iter_rgb(5) for img in batch]
    serial = probe.embed(images)
    calls = []
    real_prepare = probe._prepare
    monkeypatch.setattr(probe, "preprocess_workers", lambda: 2)
    monkeypatch.setattr(probe, "_prepare", lambda items: (calls.append(len(items)), real_prepare(items))[1])
    threaded = probe.embed(iter(images))
    assert calls == [3, 3, 3, 3]  # 12 images in batches of 3, prepared in the pool
    assert threaded.shape == (12, 8) and np.array_equal(serial, threaded)


def test_preprocess_workers_only_beside_a_gpu():
    from matchchoose.profile import get_probe

    probe = get_probe("pixels")
    assert probe.preprocess_workers() == 0
    probe.device = "cuda:0"
    assert 1 <= probe.preprocess_workers() <= 4
