"""matchchoose.quantize on tiny random-weight pipelines: determinism, bit maps, the allocation, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

from matchchoose import InputError  # noqa: E402
from matchchoose.quantize import (BitMap, allocate_bits, calibration_captions, parse_scheme,  # noqa: E402
                                  profile_bitmap, quantize_pipeline, reallocate)
from matchchoose.quantize._profile import quantizable_layers, sampled_steps  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    from matchchoose.finetune.tiny import build_tiny_pipeline

    return build_tiny_pipeline("sd", tmp_path_factory.mktemp("tiny") / "sd")


@pytest.fixture(scope="module")
def captioned(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("captioned")
    rng = np.random.default_rng(0)
    with open(root / "metadata.jsonl", "w", encoding="utf-8") as fh:
        for i in range(10):
            Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(root / f"{i}.png")
            fh.write(json.dumps({"file_name": f"{i}.png", "text": f"a red cat {i}"}) + "\n")
    return root


@pytest.fixture(scope="module")
def profile(tiny_sd, captioned):
    from matchchoose.sample import load_pipeline

    pipe = load_pipeline(tiny_sd, device="cpu")
    return profile_bitmap(pipe, calibration_captions(captioned, 4), "mpq:4.5", num_steps=4, n_timesteps=3,
                          resolution=16, seed=0)


def _images(pipe, seed):
    import torch

    return pipe("a red cat", num_inference_steps=3, height=16, width=16, output_type="np",
                generator=torch.Generator().manual_seed(seed)).images


def test_parse_scheme():
    assert parse_scheme("W8A8") == parse_scheme("w8a8") and parse_scheme("w8a8").kind == "uniform"
    s = parse_scheme("mpq:4.5/6")
    assert (s.kind, s.weight_bits, s.act_bits, s.name) == ("mpq", 4.5, 6.0, "mpq:4.5/6")
    assert parse_scheme("mpq:5").act_bits == 8.0
    for bad in ("int8", "w9a8", "w4a2", "mpq:1", "mpq:4/3", "mpq:"):
        with pytest.raises(InputError, match="quantize scheme"):
            parse_scheme(bad)


def test_allocation_hand_checked_case():
    # two equal layers, budget 6 of {4, 8}: the important one takes 8 bits, the other 4
    assert allocate_bits([1.0, 0.0], [10, 10], 6.0, (4, 8)).tolist() == [8, 4]
    assert allocate_bits([0.0, 1.0], [10, 10], 6.0, (4, 8)).tolist() == [4, 8]
    # a budget at the top of the range gives every layer the most bits
    assert allocate_bits([0.3, 0.1, 0.2], [5, 7, 9], 8.0, (2, 4, 8)).tolist() == [8, 8, 8]


@pytest.mark.parametrize("budget", [2.0, 3.3, 4.0, 4.5, 6.0, 7.9])
def test_allocation_respects_the_budget(budget):
    rng = np.random.default_rng(int(budget * 10))
    theta = rng.random(40)
    sizes = rng.integers(1, 10_000, 40)
    bits = allocate_bits(theta, sizes, budget, (2, 3, 4, 5, 6, 8))
    assert set(bits.tolist()) <= {2, 3, 4, 5, 6, 8}
    assert (bits * sizes).sum() / sizes.sum() <= budget + 1e-9
    # the budget is used: no single layer could take one more candidate step and still fit, or it is at 8
    slack = budget * sizes.sum() - (bits * sizes).sum()
    assert all(b == 8 or sizes[i] > slack for i, b in enumerate(bits.tolist()))


def test_allocation_refuses_impossible_budgets():
    with pytest.raises(InputError, match="outside the candidates' range"):
        allocate_bits([1.0], [1], 1.5, (2, 4, 8))
    with pytest.raises(InputError, match="same non-zero length"):
        allocate_bits([1.0, 2.0], [1], 4.0, (2, 4, 8))


def test_profile_covers_every_layer_and_meets_the_budget(profile, tiny_sd):
    from matchchoose.sample import load_pipeline

    layers = quantizable_layers(load_pipeline(tiny_sd, device="cpu").unet)
    assert set(profile.layers) == set(layers) and set(profile.importance) == set(layers)
    assert all(0.0 <= v <= 1.0 for v in profile.importance.values())
    assert len(set(profile.importance.values())) > 1  # layers differ in orthogonality
    assert profile.average_bits("w") <= 4.5 and profile.average_bits("a") == 8.0
    assert profile.meta["profiled_steps"] == sampled_steps(4, 3) == [0, 2, 3]
    low = reallocate(profile, "mpq:3")
    assert low.average_bits("w") <= 3.0 and low.importance == profile.importance
    acts = reallocate(profile, "mpq:4/6")
    assert acts.average_bits("a") <= 6.0 and {v["a"] for v in acts.layers.values()} <= {4, 6, 8}


def test_bitmap_round_trips(profile, tmp_path):
    path = profile.save(tmp_path / "q")
    assert path == tmp_path / "q" / "bitmap.json"
    back = BitMap.load(tmp_path / "q")
    assert back.to_dict() == json.loads(json.dumps(profile.to_dict()))
    assert back.layers == profile.layers and back.importance == profile.importance
    (tmp_path / "bad.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(InputError, match="not a matchchoose bit map"):
        BitMap.load(tmp_path / "bad.json")
    data = profile.to_dict()
    data["layers"][next(iter(data["layers"]))] = {"w": 12, "a": 8}
    (tmp_path / "wide.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="expected integers w in 1..8"):
        BitMap.load(tmp_path / "wide.json")


@pytest.mark.parametrize("scheme,backend", [("w8a8", "auto"), ("w4a8", "fake"), ("mpq:4", "auto"),
                                            ("mpq:4/6", "fake")])
def test_quantised_pipeline_samples_deterministically(tiny_sd, profile, scheme, backend):
    from matchchoose.sample import load_pipeline

    reference = _images(load_pipeline(tiny_sd, device="cpu"), 0)
    pipe = load_pipeline(tiny_sd, device="cpu")
    applied = quantize_pipeline(pipe, scheme, bitmap=profile, backend=backend)
    assert sum(applied.meta["applied"].values()) == len(profile.layers)
    if backend == "fake":
        assert applied.meta["applied"]["torchao"] == 0
    a, b = _images(pipe, 0), _images(pipe, 0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, _images(pipe, 1))
    assert not np.array_equal(a, reference)  # quantisation changed the images...
    assert np.abs(a - reference).mean() < 0.1  # ...but not beyond recognition


def test_mpq_needs_a_profile_and_bit_maps_must_fit(tiny_sd, profile):
    from matchchoose.sample import load_pipeline

    with pytest.raises(InputError, match="needs a profiled bit map"):
        quantize_pipeline(load_pipeline(tiny_sd, device="cpu"), "mpq:4")
    alien = BitMap(layers={"no.such.layer": {"w": 4, "a": 8}})
    with pytest.raises(InputError, match="'no.such.layer' is not a Linear or Conv2d"):
        quantize_pipeline(load_pipeline(tiny_sd, device="cpu"), alien)


def test_unsupported_pipeline_is_refused():
    from matchchoose.quantize._profile import denoiser_of

    class FancyPipeline:
        unet = None

    with pytest.raises(InputError, match="FancyPipeline is not supported"):
        denoiser_of(FancyPipeline())


def test_mnc_quantize_and_sample(tiny_sd, captioned, mnc, tmp_path):
    code, out, err = mnc("quantize", "--model", tiny_sd, "--dataset", captioned, "--out", tmp_path / "q",
                         "--bits", "mpq:4.5", "--captions", "4", "--steps", "3", "--timesteps", "2",
                         "--resolution", "16")
    assert code == 0, err
    assert "average" in out and (tmp_path / "q" / "bitmap.json").is_file()
    args = ["sample", "--model", tiny_sd, "--dataset", captioned, "--steps", "2", "--resolution", "16"]
    code, out, err = mnc(*args, "--out", tmp_path / "s", "--quantize", "mpq:4", "--bit-map", tmp_path / "q")
    assert code == 0, err
    applied = BitMap.load(tmp_path / "s" / "quantize.json")
    assert applied.meta["scheme"] == "mpq:4" and applied.average_bits("w") <= 4.0
    assert len(list((tmp_path / "s").glob("*.png"))) == 2
    code, out, err = mnc(*args, "--out", tmp_path / "s2", "--quantize", "int4")
    assert code == 2 and "Unknown quantize scheme 'int4'" in err


def test_mnc_quantize_is_documented(mnc):
    code, out, _ = mnc("quantize", "--help")
    assert code == 0 and "Example: mnc quantize" in out and "--bits" in out
    code, out, _ = mnc("sample", "--help")
    assert code == 0 and "--quantize" in out and "--bit-map" in out


@pytest.mark.parametrize("family", ["sdxl", "sd3", "flux", "pixart", "sana"])
def test_every_family_profiles_and_samples_quantised(family, tmp_path_factory):
    """MPQ on each family mnc sample supports (sd above): profile, allocate, apply, sample twice the same."""
    import torch

    from matchchoose.finetune.tiny import build_tiny_pipeline
    from matchchoose.sample import load_pipeline

    path = build_tiny_pipeline(family, tmp_path_factory.mktemp("tiny") / family)
    res = 32 if family == "sana" else 16
    pipe = load_pipeline(path, device="cpu")
    bitmap = profile_bitmap(pipe, ["a red cat", "a blue dog"], "mpq:4", num_steps=3, n_timesteps=2, resolution=res)
    assert bitmap.average_bits("w") <= 4.0 and len(bitmap.layers) == len(bitmap.importance) > 0
    extra = {"use_resolution_binning": False} if family in ("pixart", "sana") else {}

    def images():
        return pipe("a red cat", num_inference_steps=2, height=res, width=res, output_type="np",
                    generator=torch.Generator().manual_seed(0), **extra).images

    reference = images()
    applied = quantize_pipeline(pipe, bitmap)
    assert sum(applied.meta["applied"].values()) == len(bitmap.layers)
    a = images()
    np.testing.assert_array_equal(a, images())
    assert not np.array_equal(a, reference)
