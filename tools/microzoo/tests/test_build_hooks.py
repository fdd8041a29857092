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
