"""The shared VAE: trains, resumes, records latent statistics, and gives each family its convention."""

from __future__ import annotations

import json

import pytest

from matchchoose import InputError
from matchchoose_microzoo.models import build_pipeline, load_vae, train_vae


@pytest.fixture(scope="module")
def vae_dir(data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("vae")
    train_vae(data_root, out, domains=["red_discs", "blue_bars"], steps=2, batch_size=2, size="test", progress=False,
              checkpoint_every=1)
    return out


def test_train_vae_writes_a_vae_folder(vae_dir):
    import diffusers

    vae = diffusers.AutoencoderKL.from_pretrained(str(vae_dir))
    assert vae.config.latent_channels == 4 and len(vae.config.block_out_channels) == 3
    stats = json.loads((vae_dir / "latent_stats.json").read_text())
    assert stats["std"] > 0 and stats["rms"] >= stats["std"] - 1e-9 and stats["n_images"] == 16
    assert set(stats["psnr_held_out"]) == {"red_discs", "blue_bars"}
    assert json.loads((vae_dir / "train.json").read_text())["steps"] == 2


def test_vae_resume_is_exact(data_root, vae_dir, tmp_path):
    from safetensors.torch import load_file

    import torch

    train_vae(data_root, tmp_path, domains=["red_discs", "blue_bars"], steps=2, batch_size=2, size="test",
              progress=False, checkpoint_every=1)
    # drop the last checkpoint: the next call resumes from step 1 and must reach the same weights
    import shutil

    shutil.rmtree(tmp_path / "checkpoints" / "step-2")
    result = train_vae(data_root, tmp_path, domains=["red_discs", "blue_bars"], steps=2, batch_size=2, size="test",
                       progress=False, checkpoint_every=1)
    assert result.resumed_from == 1
    a = load_file(str(vae_dir / "diffusion_pytorch_model.safetensors"))
    b = load_file(str(tmp_path / "diffusion_pytorch_model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_family_conventions_and_pipeline_with_trained_vae(vae_dir, tmp_path):
    stats = json.loads((vae_dir / "latent_stats.json").read_text())
    sd3 = load_vae(vae_dir, "sd3")
    sd = load_vae(vae_dir, "sd")
    assert sd3.config.shift_factor == pytest.approx(stats["mean"], abs=1e-5)
    assert sd3.config.scaling_factor == pytest.approx(1 / stats["std"], rel=1e-4)
    assert sd.config.shift_factor is None and sd.config.scaling_factor == pytest.approx(1 / stats["rms"], rel=1e-4)
    folder = build_pipeline("sd3-s", tmp_path / "m", vae=vae_dir, size="test")
    assert json.loads((folder / "vae" / "config.json").read_text())["shift_factor"] == pytest.approx(stats["mean"],
                                                                                                   abs=1e-5)
    with pytest.raises(InputError, match="not a micro-zoo VAE folder"):
        load_vae(tmp_path, "sd")
