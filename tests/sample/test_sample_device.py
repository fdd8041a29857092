"""Sampling precision per family and the deterministic option, on tiny random-weight pipelines (CPU)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")

from matchchoose.finetune.tiny import build_tiny_pipeline  # noqa: E402
from matchchoose.sample import load_pipeline, sample_images  # noqa: E402
from matchchoose.sample._sample import _native_dtype  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {name: build_tiny_pipeline(name, root / name) for name in ("sd", "pixart")}


@pytest.mark.parametrize(("name", "dtype"), [("sd", torch.float16), ("pixart", torch.bfloat16)])
def test_native_dtype_per_family(tiny, name, dtype):
    assert _native_dtype(tiny[name], torch) == dtype


def test_native_dtype_of_an_unknown_folder_is_float16(tmp_path):
    (tmp_path / "model_index.json").write_text('{"_class_name": "SomeOtherPipeline"}')
    assert _native_dtype(tmp_path, torch) == torch.float16
    assert _native_dtype(tmp_path / "absent", torch) == torch.float16


def test_float16_sampling_keeps_the_t5_encoder_in_bfloat16(tiny):
    pipe = load_pipeline(tiny["pixart"], device="cpu", dtype="float16")
    assert pipe.text_encoder.dtype == torch.bfloat16 and pipe.transformer.dtype == torch.float16


def test_deterministic_sampling_on_cpu_gives_todays_images(tiny, tmp_path):
    from PIL import Image

    pipe = load_pipeline(tiny["sd"], device="cpu")
    sample_images(pipe, ["a cat"], tmp_path / "a", steps=2, resolution=16)
    sample_images(pipe, ["a cat"], tmp_path / "b", steps=2, resolution=16, deterministic=True)
    assert not torch.are_deterministic_algorithms_enabled()
    a, b = (np.asarray(Image.open(tmp_path / d / "00000.png")) for d in "ab")
    np.testing.assert_array_equal(a, b)


def test_cli_sample_has_the_deterministic_flag(mnc):
    code, out, _ = mnc("sample", "--help")
    assert code == 0 and "--deterministic" in out and "+32 %" in out
