"""Preprocessing modes: resize, centre crop and normalisation against hand computations on tiny images."""

from __future__ import annotations

import json

import numpy as np
import pytest

from matchchoose import InputError
from matchchoose.profile import CLIP_VIT_B32, DINOV2, PREPROCESS_MODES, ResizeCropNormalize, clip_mode
from matchchoose.profile._preprocess import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD

Image = pytest.importorskip("PIL.Image")

MEAN, STD = (0.5, 0.25, 0.0), (0.5, 0.25, 2.0)


def _image(h, w, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    return Image.fromarray(pixels), pixels


def _by_hand(pixels, mean, std):
    """(H, W, 3) uint8 -> (3, H, W): /255, minus mean, over std, per channel, in float64."""
    x = pixels.astype(np.float64) / 255.0
    return ((x - np.array(mean)) / np.array(std)).transpose(2, 0, 1)


def test_names_of_the_named_modes():
    assert CLIP_VIT_B32.name == "pil-bicubic-short224-center224-clipnorm"
    assert DINOV2.name == "pil-bicubic-short256-center224-imagenetnorm"
    assert (DINOV2.mean, DINOV2.std) == (IMAGENET_MEAN, IMAGENET_STD)
    assert (CLIP_VIT_B32.mean, CLIP_VIT_B32.std) == (CLIP_MEAN, CLIP_STD)
    assert set(PREPROCESS_MODES) == {CLIP_VIT_B32.name, DINOV2.name}
    other = ResizeCropNormalize(8, 4, MEAN, STD)
    assert other.name.startswith("pil-bicubic-short8-center4-norm") and len(other.name.split("-norm")[1]) == 8


def test_no_resize_centre_crop_and_normalise_by_hand():
    # 4 wide x 2 high, short side already 2: no resampling; crop keeps columns 1-2.
    img, pixels = _image(2, 4)
    out = ResizeCropNormalize(2, 2, MEAN, STD)([img])
    assert out.shape == (1, 3, 2, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], _by_hand(pixels[:, 1:3], MEAN, STD), rtol=0, atol=1e-6)


def test_single_pixel_values_by_hand():
    img = Image.new("RGB", (1, 1), (255, 51, 0))
    out = ResizeCropNormalize(1, 1, MEAN, STD)([img])[0, :, 0, 0]
    # (1 - 0.5) / 0.5, (0.2 - 0.25) / 0.25, (0 - 0) / 2
    np.testing.assert_allclose(out, [1.0, -0.2, 0.0], atol=1e-6)


def test_portrait_crop_offset_and_torchvision_rounding():
    # 3 wide x 7 high: top = round((7 - 3) / 2) = 2.
    img, pixels = _image(7, 3, seed=1)
    out = ResizeCropNormalize(3, 3, MEAN, STD).array(img)
    np.testing.assert_allclose(out, _by_hand(pixels[2:5, :], MEAN, STD), atol=1e-6)
    # 5 wide x 2 high, crop 2: left = round(1.5) = 2 (Python's round, as torchvision).
    img, pixels = _image(2, 5, seed=2)
    out = ResizeCropNormalize(2, 2, MEAN, STD).array(img)
    np.testing.assert_allclose(out, _by_hand(pixels[:, 2:4], MEAN, STD), atol=1e-6)


def test_resize_short_side_with_pil_bicubic_then_crop():
    # 6 wide x 3 high -> short side 2: (int(2 * 6 / 3), 2) = (4, 2), bicubic; then crop columns 1-2.
    img, _ = _image(3, 6, seed=3)
    mode = ResizeCropNormalize(2, 2, MEAN, STD)
    assert mode.resize(img).size == (4, 2)
    resized = np.asarray(img.resize((4, 2), Image.Resampling.BICUBIC))
    np.testing.assert_allclose(mode.array(img), _by_hand(resized[:, 1:3], MEAN, STD), atol=1e-6)
    # long side truncated, not rounded: 7 x 3 -> int(2 * 7 / 3) = 4
    assert mode.resize(Image.new("RGB", (7, 3))).size == (4, 2)
    assert mode.resize(Image.new("RGB", (3, 7))).size == (2, 4)


def test_dinov2_mode_shapes_and_grey_input():
    img = Image.new("L", (300, 200), 128)
    out = DINOV2([img, img.convert("RGB")])
    assert out.shape == (2, 3, 224, 224) and out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(out[0], out[1])
    np.testing.assert_allclose(out[0, :, 0, 0], (128 / 255 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD),
                               atol=1e-5)
    assert DINOV2([]).shape == (0, 3, 224, 224)


@pytest.mark.parametrize("kwargs, match", [
    (dict(short_side=4, crop_size=5, mean=MEAN, std=STD), "cannot exceed"),
    (dict(short_side=0, crop_size=0, mean=MEAN, std=STD), "positive int"),
    (dict(short_side=4, crop_size=4, mean=(0.5, 0.5), std=STD), "3 finite numbers"),
    (dict(short_side=4, crop_size=4, mean=MEAN, std=(1.0, 0.0, 1.0)), "std > 0"),
])
def test_invalid_modes(kwargs, match):
    with pytest.raises(InputError, match=match):
        ResizeCropNormalize(**kwargs)


def test_modes_are_frozen_and_hashable():
    with pytest.raises(AttributeError):
        DINOV2.crop_size = 10
    assert ResizeCropNormalize(256, 224, list(IMAGENET_MEAN), list(IMAGENET_STD)) == DINOV2
    assert len({DINOV2, CLIP_VIT_B32, ResizeCropNormalize(256, 224, IMAGENET_MEAN, IMAGENET_STD)}) == 2


# ------------------------------------------------------------------------------------ clip_mode
def test_clip_mode_from_preprocessor_config(tmp_path):
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({
        "crop_size": {"height": 32, "width": 32}, "size": {"shortest_edge": 36}, "do_center_crop": True,
        "image_mean": list(MEAN), "image_std": list(STD), "resample": 3}))
    mode = clip_mode(tmp_path, image_size=224)
    assert (mode.short_side, mode.crop_size, mode.mean, mode.std) == (36, 32, MEAN, STD)


def test_clip_mode_from_old_style_int_sizes(tmp_path):
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"crop_size": 224, "size": 224}))
    assert clip_mode(tmp_path) == CLIP_VIT_B32


def test_clip_mode_falls_back_to_image_size_with_clip_statistics(tmp_path):
    assert clip_mode(tmp_path, image_size=224) == CLIP_VIT_B32
    assert clip_mode(None, image_size=336).name == "pil-bicubic-short336-center336-clipnorm"
    with pytest.raises(InputError, match="image_size"):
        clip_mode(tmp_path)


def test_clip_mode_errors_name_the_file(tmp_path):
    path = tmp_path / "preprocessor_config.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match="preprocessor_config.json: cannot be read as JSON"):
        clip_mode(tmp_path, image_size=32)
    path.write_text(json.dumps({"crop_size": {"height": 32, "width": 16}}))
    with pytest.raises(InputError, match="not square"):
        clip_mode(tmp_path, image_size=32)
    path.write_text(json.dumps({"crop_size": 32, "image_std": [1, 1]}))
    with pytest.raises(InputError, match="preprocessor_config.json: .*3 finite numbers"):
        clip_mode(tmp_path, image_size=32)
