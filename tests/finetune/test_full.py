"""--method full: the whole denoiser trains (text encoders and VAE frozen), resumes bit for bit, loads back."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from matchchoose.finetune import finetune, load_adapter


@pytest.mark.parametrize("low_memory", [False, True])
def test_full_finetuning_resumes_exactly(tiny, images, recipe, tmp_path, low_memory):
    r = recipe("sd", method="full", steps=4, checkpoint_every=2, low_memory=low_memory)
    straight = finetune(tiny("sd"), images, tmp_path / "a", r, progress=False, device="cpu")
    finetune(tiny("sd"), images, tmp_path / "b", r.replace(steps=2), progress=False, device="cpu")
    resumed = finetune(tiny("sd"), images, tmp_path / "b", r, progress=False, device="cpu")
    assert resumed.resumed_from == 2 and resumed.losses == straight.losses
    a = load_file(str(straight.adapter_dir / "adapter_model.safetensors"))
    b = load_file(str(resumed.adapter_dir / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert {v.dtype for v in a.values()} == {torch.bfloat16 if low_memory else torch.float32}
    state = torch.load(tmp_path / "b" / "checkpoints" / "step-4" / "optimizer.pt", weights_only=True)["optimizer"]
    if low_memory:  # the Kahan compensation is part of the checkpoint
        assert all("kahan_comp" in s for s in state["state"].values())


def test_full_finetuning_trains_the_denoiser_only(tiny, images, recipe, tmp_path):
    from matchchoose.sample import load_pipeline

    result = finetune(tiny("sd"), images, tmp_path / "run", recipe("sd", method="full", steps=2), progress=False,
                      device="cpu")
    base = load_pipeline(tiny("sd"), device="cpu")
    unet = dict(base.unet.named_parameters())
    saved = load_file(str(result.adapter_dir / "adapter_model.safetensors"))
    assert set(saved) == set(unet) and result.run["trainable_parameters"] == sum(p.numel() for p in unet.values())
    assert result.run["method"] == {"method": "full"}
    changed = sum(not torch.equal(saved[k], unet[k].detach()) for k in saved)
    assert changed > len(saved) // 2  # lr 1e-3 for 2 steps moves (almost) every tensor
    text = {k: v.clone() for k, v in base.text_encoder.state_dict().items()}
    vae = {k: v.clone() for k, v in base.vae.state_dict().items()}
    load_adapter(base, result.adapter_dir)
    assert all(torch.equal(p.detach(), saved[k]) for k, p in base.unet.named_parameters())
    assert not any(p.requires_grad for p in base.unet.parameters())
    assert all(torch.equal(v, text[k]) for k, v in base.text_encoder.state_dict().items())
    assert all(torch.equal(v, vae[k]) for k, v in base.vae.state_dict().items())
