"""Training: seeded determinism, checkpoints, exact resume, run.json, precision modes."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from matchchoose import InputError
from matchchoose.finetune import Recipe, finetune, latest_checkpoint
from matchchoose.profile import ImageFolder


def weights(result):
    return load_file(str(result.adapter_dir / "adapter_model.safetensors"))


def identical(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_weights_other_seed_other_weights(tiny, images, recipe, tmp_path):
    r = recipe("sd", steps=2, random_flip=True, center_crop=False, caption_dropout=0.5)
    a = finetune(tiny("sd"), images, tmp_path / "a", r, progress=False)
    b = finetune(tiny("sd"), images, tmp_path / "b", r, progress=False)
    c = finetune(tiny("sd"), images, tmp_path / "c", r.replace(seed=1), progress=False)
    assert identical(weights(a), weights(b)) and a.losses == b.losses
    assert not identical(weights(a), weights(c))


@pytest.mark.parametrize("family,changes", [
    ("sd", {}),
    ("sd3", {"random_flip": True, "center_crop": False, "caption_dropout": 0.3}),
    ("sdxl", {"method": "adapter", "adapter_dim": 4, "gradient_accumulation": 2}),
    ("flux", {"low_memory": True}),
])
def test_resume_is_exact(family, changes, tiny, images, recipe, tmp_path):
    """4 steps straight == 2 steps, then 2 more resumed from the checkpoint, bit for bit."""
    r = recipe(family, steps=4, **changes)
    straight = finetune(tiny(family), images, tmp_path / "straight", r, progress=False)
    first = finetune(tiny(family), images, tmp_path / "resumed", r.replace(steps=2), progress=False)
    assert first.resumed_from is None and latest_checkpoint(tmp_path / "resumed").name == "step-2"
    resumed = finetune(tiny(family), images, tmp_path / "resumed", r, progress=False)
    assert resumed.resumed_from == 2
    assert identical(weights(straight), weights(resumed))
    assert straight.losses == resumed.losses and len(resumed.losses) == 4


def test_run_folder_layout_and_run_json(tiny, images, recipe, tmp_path):
    out = tmp_path / "run"
    r = recipe("sd", steps=3, checkpoint_every=1, keep_checkpoints=2)
    result = finetune(tiny("sd"), images, out, r, progress=False)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-2", "step-3"]
    ckpt = out / "checkpoints" / "step-3"
    assert {p.name for p in ckpt.iterdir()} == {"adapter_model.safetensors", "optimizer.pt", "rng.pt",
                                                 "trainer_state.json"}
    state = json.loads((ckpt / "trainer_state.json").read_text())
    assert state["step"] == 3 and Recipe.from_dict(state["recipe"]) == r and len(state["losses"]) == 3
    assert {"torch", "numpy", "python", "cuda"} <= set(torch.load(ckpt / "rng.pt", weights_only=True))
    run = json.loads((result.adapter_dir / "run.json").read_text())
    assert run == result.run
    assert run["recipe"] == r.to_dict() and run["steps"] == 3 and len(run["losses"]) == 3
    assert run["dataset"]["content_hash"] == ImageFolder(images).content_hash()
    assert run["dataset"]["n_images"] == 4 and run["model"]["family"] == "sd"
    assert run["versions"]["torch"] and run["versions"]["diffusers"] and run["wall_time_s"] > 0
    assert run["trainable_parameters"] == sum(v.numel() for v in weights(result).values())
    assert (result.adapter_dir / "pytorch_lora_weights.safetensors").is_file()
    assert Recipe.load(out / "recipe.json") == r


def test_resume_refuses_a_changed_recipe_or_dataset(tiny, images, recipe, tmp_path):
    out = tmp_path / "run"
    finetune(tiny("sd"), images, out, recipe("sd", steps=2), progress=False)
    with pytest.raises(InputError, match=r"cannot resume: recipe field 'learning_rate' was 0.001 and is now 0.01"):
        finetune(tiny("sd"), images, out, recipe("sd", steps=3, learning_rate=1e-2), progress=False)
    with pytest.raises(InputError, match="already has checkpoints"):
        finetune(tiny("sd"), images, out, recipe("sd", steps=3), resume=False, progress=False)
    with pytest.raises(InputError, match="at step 2, beyond the recipe's 1 steps"):
        finetune(tiny("sd"), images, out, recipe("sd", steps=1), progress=False)
    data = ImageFolder(images).subset([0, 1, 2])
    with pytest.raises(InputError, match="dataset .* differs"):
        finetune(tiny("sd"), data, out, recipe("sd", steps=3), progress=False)
    again = finetune(tiny("sd"), images, out, recipe("sd", steps=2), progress=False)  # done: rewrites adapter/
    assert again.resumed_from == 2 and len(again.losses) == 2


def test_low_memory_trains_bf16_weights_without_master_copy(tiny, images, recipe, tmp_path):
    result = finetune(tiny("sd"), images, tmp_path / "low", recipe("sd", steps=2, low_memory=True), progress=False)
    w = weights(result)
    assert all(v.dtype == torch.bfloat16 for v in w.values())
    assert any(v.abs().sum() > 0 for k, v in w.items() if ".lora_B." in k)
    optimizer = torch.load(tmp_path / "low" / "checkpoints" / "step-2" / "optimizer.pt", weights_only=True)
    moments = optimizer["optimizer"]["state"]
    assert all(m["exp_avg"].dtype == torch.bfloat16 for m in moments.values())
    assert json.loads((result.adapter_dir / "adapter_config.json").read_text())["dtype"] == "bfloat16"


def test_bf16_mixed_precision_and_gradient_checkpointing_on_cpu(tiny, images, recipe, tmp_path):
    plain = finetune(tiny("sdxl"), images, tmp_path / "plain", recipe("sdxl", steps=2), progress=False)
    ckpt = finetune(tiny("sdxl"), images, tmp_path / "ckpt", recipe("sdxl", steps=2, gradient_checkpointing=True),
                    progress=False)
    a, b = weights(plain), weights(ckpt)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)  # recomputation gives the same gradients
    mixed = finetune(tiny("sdxl"), images, tmp_path / "bf16", recipe("sdxl", steps=2, mixed_precision="bf16"),
                     progress=False)
    assert all(v.dtype == torch.float32 for v in weights(mixed).values())  # the master weights stay float32
    assert all(torch.isfinite(torch.tensor(mixed.losses)))
    with pytest.raises(InputError, match="'fp16' needs a CUDA device"):
        finetune(tiny("sdxl"), images, tmp_path / "fp16", recipe("sdxl", mixed_precision="fp16"), progress=False,
                 device="cpu")


def test_max_train_images_and_captionless_images(tiny, images, recipe, tmp_path):
    result = finetune(tiny("sd"), images, tmp_path / "sub", recipe("sd", max_train_images=2, batch_size=4),
                      progress=False)
    assert result.run["dataset"]["n_train_images"] == 2
