"""sample_images on tiny random-weight pipelines: fixed seeds, batch-size invariance, resume, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("peft")

from matchchoose.sample import held_out_captions, load_pipeline, sample_images  # noqa: E402

CAPTIONS = ["a red cat", "a blue dog", "green"]


@pytest.fixture(scope="module")
def tiny_sd(tiny):
    return tiny("sd")


def _pixels(path):
    from PIL import Image

    return np.asarray(Image.open(path))


def test_images_depend_on_their_seed_only_and_sampling_resumes(tiny_sd, tmp_path):
    pipe = load_pipeline(tiny_sd)
    a = sample_images(pipe, CAPTIONS, tmp_path / "a", n=4, steps=2, resolution=16, batch_size=3)
    assert (a.n, a.generated) == (4, 4)
    rows = [json.loads(line) for line in (tmp_path / "a" / "metadata.jsonl").read_text().splitlines()]
    assert [r["text"] for r in rows] == CAPTIONS + CAPTIONS[:1] and [r["seed"] for r in rows] == [0, 1, 2, 3]
    b = sample_images(pipe, CAPTIONS, tmp_path / "b", n=4, steps=2, resolution=16, batch_size=1)
    for i in range(4):
        np.testing.assert_array_equal(_pixels(tmp_path / "a" / f"{i:05d}.png"), _pixels(tmp_path / "b" / f"{i:05d}.png"))
    assert not np.array_equal(_pixels(tmp_path / "a" / "00000.png"), _pixels(tmp_path / "a" / "00003.png"))
    (tmp_path / "a" / "00002.png").unlink()  # an interrupted run
    again = sample_images(pipe, CAPTIONS, tmp_path / "a", n=4, steps=2, resolution=16, batch_size=3)
    assert again.generated == 1
    np.testing.assert_array_equal(_pixels(tmp_path / "a" / "00002.png"), _pixels(tmp_path / "b" / "00002.png"))
    from matchchoose.profile import ImageFolder

    assert ImageFolder(tmp_path / "a").captions == CAPTIONS + CAPTIONS[:1]


def test_held_out_captions_follow_the_seeded_split(color_zoo):
    _, folders, _ = color_zoo
    folder = folders["red"]
    for i in range(10):
        (folder / f"{i}.txt").write_text(f"red {i}")
    caps, val = held_out_captions(folder, val_fraction=0.3, random_state=1)
    assert len(caps) == len(val) == 3 and caps == held_out_captions(folder, val_fraction=0.3, random_state=1)[0]
    assert caps != held_out_captions(folder, val_fraction=0.3, random_state=2)[0]


def test_mnc_sample(tiny_sd, color_zoo, mnc, tmp_path):
    _, folders, _ = color_zoo
    code, out, err = mnc("sample", "--model", tiny_sd, "--dataset", folders["red"], "--out", tmp_path / "s",
                         "--steps", "2", "--resolution", "16", "--n", "2")
    assert code == 0, err
    assert "2 images (2 generated now" in out
    code, _, err = mnc("sample", "--model", tmp_path / "nope", "--dataset", folders["red"], "--out", tmp_path / "t")
    assert code == 2 and "no such folder" in err
