"""load_adapter: trained weights applied to a freshly loaded pipeline sample, and change its images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline

from matchchoose import InputError
from matchchoose.finetune import finetune, load_adapter, read_adapter_config
from matchchoose.finetune._methods import make_method, method_config

ALL = ["sd", "sdxl", "sd3", "flux", "pixart", "sana"]


def _pipe(path):
    pipe = DiffusionPipeline.from_pretrained(path)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize("family", ALL)
@pytest.mark.parametrize("method", ["lora", "adapter"])
def test_trained_weights_load_back_and_change_the_samples(family, method, tiny, images, recipe, sample, tmp_path):
    r = recipe(family, steps=2, learning_rate=1e-2, method=method, adapter_dim=4)
    result = finetune(tiny(family), images, tmp_path / "run", r, progress=False)
    base = sample(_pipe(tiny(family)), family)
    tuned_pipe = load_adapter(_pipe(tiny(family)), result.adapter_dir)
    tuned = sample(tuned_pipe, family)
    res = r.resolution
    assert base.shape == tuned.shape == (1, res, res, 3)
    assert np.isfinite(tuned).all() and np.abs(tuned - base).max() > 1e-5
    again = sample(load_adapter(_pipe(tiny(family)), tmp_path / "run"), family)  # the run folder works too
    assert np.array_equal(again, tuned)


@pytest.mark.parametrize("family", ["sd", "sd3"])
@pytest.mark.parametrize("method", ["lora", "adapter"])
def test_step_zero_is_the_base_model(family, method, tiny, recipe, sample):
    """LoRA's B and the adapters' up-projection start at zero: attached but untrained, nothing changes."""
    from matchchoose.finetune.families import family_class

    pipe = _pipe(tiny(family))
    base = sample(pipe, family)
    fam = family_class(family)(pipe, tiny(family))
    torch.manual_seed(0)
    make_method(fam, method_config(recipe(family, method=method, adapter_dim=4), fam))
    assert np.array_equal(sample(pipe, family), base)


def test_diffusers_load_lora_weights_reads_the_same_file(tiny, images, recipe, sample, tmp_path):
    r = recipe("sd", steps=2, learning_rate=1e-2, lora_rank=2, lora_alpha=8)
    result = finetune(tiny("sd"), images, tmp_path / "run", r, progress=False)
    ours = sample(load_adapter(_pipe(tiny("sd")), result.adapter_dir), "sd")
    theirs = _pipe(tiny("sd"))
    theirs.load_lora_weights(str(result.adapter_dir))  # rank and alpha from the safetensors metadata
    assert np.allclose(sample(theirs, "sd"), ours, atol=1e-6)


def test_load_errors(tiny, images, recipe, tmp_path):
    result = finetune(tiny("sd"), images, tmp_path / "run", recipe("sd"), progress=False)
    with pytest.raises(InputError, match="trained on a sd pipeline; this is a sdxl pipeline"):
        load_adapter(_pipe(tiny("sdxl")), result.adapter_dir)
    pipe = load_adapter(_pipe(tiny("sd")), result.adapter_dir)
    with pytest.raises(InputError, match="already has an adapter"):
        load_adapter(pipe, result.adapter_dir)
    with pytest.raises(InputError, match="no adapter_config.json"):
        load_adapter(_pipe(tiny("sd")), tmp_path)
    checkpoint = read_adapter_config(tmp_path / "run" / "checkpoints" / "step-1")
    assert checkpoint["method"] == "lora" and checkpoint["family"] == "sd"
    other = finetune(tiny("sd"), images, tmp_path / "r8", recipe("sd", lora_rank=8), progress=False)
    (other.adapter_dir / "adapter_model.safetensors").replace(result.adapter_dir / "adapter_model.safetensors")
    with pytest.raises(Exception, match="size mismatch|do not fit"):
        load_adapter(_pipe(tiny("sd")), result.adapter_dir)
