"""Pretraining: trains exactly the denoiser, is seeded, resumes exactly, and leaves a usable folder."""

from __future__ import annotations

import json

import pytest

from matchchoose import InputError
from matchchoose_microzoo.models import pretrain

ARGS = dict(batch_size=2, size="test", progress=False, checkpoint_every=1, warmup_steps=0, lr=1e-3)


def _state(folder, component):
    from safetensors.torch import load_file

    files = sorted((folder / component).glob("*.safetensors"))
    out = {}
    for f in files:
        out.update(load_file(str(f)))
    return out


def _equal(a, b):
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", ["unet-s-minilm", "sdxl-s", "pixart-s", "sd3-s", "flux-s"])
def test_one_step_trains_the_denoiser_only(built, data_root, mixture, tmp_path, name):
    import shutil

    start = tmp_path / "model"
    shutil.copytree(built(name), start)
    denoiser = "unet" if name.startswith(("unet", "sdxl")) else "transformer"
    before = {c: _state(start, c) for c in (denoiser, "vae", "text_encoder")}
    result = pretrain(name, data_root, start, steps=1, mixture=mixture, **ARGS)
    assert len(result.losses) == 1 and result.losses[0] > 0
    after = {c: _state(start, c) for c in before}
    assert not _equal(before[denoiser], after[denoiser])
    assert _equal(before["vae"], after["vae"]) and _equal(before["text_encoder"], after["text_encoder"])
    record = json.loads((start / "pretrain.json").read_text())
    assert record["settings"]["domains"] == list(mixture) and record["steps"] == 1
    meta = json.loads((start / "MICROZOO.json").read_text())
    assert meta["pretraining"]["mixture"] == {"red_discs": 0.75, "blue_bars": 0.25}


def test_same_seed_same_weights_and_resume_is_exact(data_root, mixture, tmp_path):
    straight = pretrain("unet-m-clip", data_root, tmp_path / "a", steps=4, mixture=mixture, **ARGS)
    again = pretrain("unet-m-clip", data_root, tmp_path / "b", steps=4, mixture=mixture, **ARGS)
    assert straight.losses == again.losses
    assert _equal(_state(tmp_path / "a", "unet"), _state(tmp_path / "b", "unet"))
    half = pretrain("unet-m-clip", data_root, tmp_path / "c", steps=2, mixture=mixture, **ARGS)
    resumed = pretrain("unet-m-clip", data_root, tmp_path / "c", steps=4, mixture=mixture, **ARGS)
    assert half.resumed_from is None and resumed.resumed_from == 2
    assert resumed.losses == straight.losses
    assert _equal(_state(tmp_path / "a", "unet"), _state(tmp_path / "c", "unet"))
    other = pretrain("unet-m-clip", data_root, tmp_path / "d", steps=4, mixture=mixture, **{**ARGS, "lr": 1e-3},
                     seed=1)
    assert other.losses != straight.losses


def test_resume_refuses_other_settings(data_root, mixture, tmp_path):
    pretrain("pixart-s", data_root, tmp_path / "p", steps=1, mixture=mixture, **ARGS)
    with pytest.raises(InputError, match="cannot resume: learning_rate was 0.001 and is now 0.01"):
        pretrain("pixart-s", data_root, tmp_path / "p", steps=2, mixture=mixture, **{**ARGS, "lr": 1e-2})
    with pytest.raises(InputError, match="not a folder of micro-zoo model sd3-s"):
        pretrain("sd3-s", data_root, tmp_path / "p", steps=2, mixture=mixture, **ARGS)
    with pytest.raises(InputError, match="already has checkpoints"):
        pretrain("pixart-s", data_root, tmp_path / "p", steps=2, mixture=mixture, resume=False, **ARGS)


@pytest.mark.parametrize("name", ["unet-s-minilm", "sdxl-s", "sd3-s"])
def test_cached_latents_equal_the_family_encoder(built, data_root, mixture, name):
    import torch

    from matchchoose.finetune.families import family_class
    from matchchoose_microzoo.models import RESOLUTION, MixtureData, get_spec
    from matchchoose_microzoo.models._pretrain import _Encodings

    family = family_class(get_spec(name).family).load(built(name))
    data = MixtureData(data_root, mixture, RESOLUTION)
    cache = _Encodings(family, data, ["a red disc number 1", "blue bars, picture 2"], zero_empty=False)
    items = data.items()[:3]
    pixels = torch.from_numpy(__import__("numpy").stack([data.image(it)[0] for it in items])).permute(0, 3, 1, 2)
    expected = family.encode_images(pixels, torch.Generator().manual_seed(7))
    assert torch.allclose(cache.latents(items, torch.Generator().manual_seed(7)), expected, atol=1e-5)
    cond = cache.conditioning(["a red disc number 1", ""])
    direct = family.encode_prompts(["a red disc number 1", ""])
    for key, value in direct.items():
        assert torch.allclose(cond[key], value, atol=1e-5), key


def test_pretrained_model_finetunes_and_samples_unchanged(data_root, mixture, tmp_path):
    from matchchoose.finetune import Recipe, finetune
    from matchchoose.sample import load_pipeline, sample_images

    model = tmp_path / "model"
    pretrain("pixart-s", data_root, model, steps=1, mixture=mixture, **ARGS)
    run = finetune(model, data_root / "green_grid", tmp_path / "run",
                   Recipe(steps=1, batch_size=2, resolution=64, checkpoint_every=0), progress=False, device="cpu")
    assert run.adapter_dir.is_dir()
    pipe = load_pipeline(model, adapter_dir=run.adapter_dir, device="cpu")
    result = sample_images(pipe, ["a green grid pattern 1"], tmp_path / "samples", steps=2)
    assert result.generated == 1 and (tmp_path / "samples" / "00000.png").is_file()


def test_a_wall_clock_budget_stops_early_records_the_steps_and_reproduces(data_root, mixture, tmp_path):
    """max_seconds: stop after the first step past the budget, with a checkpoint; the record says how many steps
    were trained, and training that many steps without a budget gives the same weights."""
    budgeted = pretrain("unet-s-minilm", data_root, tmp_path / "a", steps=50, mixture=mixture, max_seconds=0.0,
                        **{**ARGS, "checkpoint_every": 100})
    trained = len(budgeted.losses)
    assert 1 <= trained < 50
    record = json.loads((tmp_path / "a" / "pretrain.json").read_text())
    assert record["steps"] == trained and record["settings"]["steps"] == trained
    assert (tmp_path / "a" / "checkpoints" / f"step-{trained}").is_dir()
    straight = pretrain("unet-s-minilm", data_root, tmp_path / "b", steps=trained, mixture=mixture,
                        **{**ARGS, "checkpoint_every": 100})
    assert straight.losses == budgeted.losses
    assert _equal(_state(tmp_path / "a", "unet"), _state(tmp_path / "b", "unet"))
