"""Every zoo entry builds, saves, reloads as a diffusers pipeline that samples, and parses as a zoo model."""

from __future__ import annotations

import hashlib

import pytest

from matchchoose_microzoo.models import ZOO, RESOLUTION, build_pipeline, zoo_metadata


def _hashes(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.safetensors"))}


@pytest.mark.parametrize("name", list(ZOO))
def test_builds_reloads_and_samples(built, name):
    import diffusers

    folder = built(name)
    spec = ZOO[name]
    pipe = diffusers.DiffusionPipeline.from_pretrained(str(folder))
    assert type(pipe).__name__ == spec.pipeline_class
    denoiser = getattr(pipe, "unet", None) or pipe.transformer
    assert type(denoiser).__name__ == spec.denoiser_class
    pipe.set_progress_bar_config(disable=True)
    extra = {"use_resolution_binning": False, "clean_caption": False} if spec.family == "pixart" else {}
    if spec.family == "flux":  # FluxPipeline's default size is fixed (512 px): the zoo resolution is asked for
        extra = {"height": RESOLUTION, "width": RESOLUTION}
    import torch

    image = pipe("a red disc", num_inference_steps=2, guidance_scale=2.0, output_type="pil",
                 generator=torch.Generator().manual_seed(0), **extra).images[0]
    assert image.size == (RESOLUTION, RESOLUTION)  # elsewhere the pipeline's default size is the zoo resolution
    meta = zoo_metadata(folder)
    assert meta["name"] == name and meta["size"] == "test" and meta["mixture"] == spec.weights()


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_add_style_features(built, name, kb):
    from matchchoose.features import add_model, family_of, flatten_pipeline, read_pipeline, zoo_entries

    folder = built(name)
    config = read_pipeline(folder)
    flat = flatten_pipeline(config)
    assert flat["pipeline_class_name"] == ZOO[name].pipeline_class
    assert family_of(config) == {"sd": "unet", "sdxl": "unet"}.get(ZOO[name].family, ZOO[name].family)
    entry = add_model(kb, folder, name=name)  # what 'mnc zoo add FOLDER' does
    assert entry.num_params and entry.num_params > 0
    assert name in [e.name for e in zoo_entries(kb)]
    assert name in list(kb.model_configs()["model"])


def test_same_seed_same_files_other_seed_other_denoiser(built, tmp_path):
    first = built("sd3-s")
    again = build_pipeline("sd3-s", tmp_path / "again", size="test", seed=0)
    other = build_pipeline("sd3-s", tmp_path / "other", size="test", seed=1)
    assert _hashes(first) == _hashes(again)
    assert _hashes(first)["transformer/diffusion_pytorch_model.safetensors"] != \
        _hashes(other)["transformer/diffusion_pytorch_model.safetensors"]


def test_full_size_uses_the_real_minilm(tmp_path):
    import diffusers
    import torch
    from safetensors.torch import load_file

    from matchchoose_microzoo.models._text import minilm_folder

    folder = build_pipeline("unet-s-minilm", tmp_path / "m", seed=0)
    pipe = diffusers.DiffusionPipeline.from_pretrained(str(folder))
    assert type(pipe.text_encoder).__name__ == "BertModel" and pipe.text_encoder.config.use_attention_mask
    real = load_file(str(minilm_folder() / "model.safetensors"))
    ours = pipe.text_encoder.state_dict()
    assert torch.equal(ours["embeddings.word_embeddings.weight"], real["embeddings.word_embeddings.weight"])
    assert pipe.tokenizer.model_max_length == 64
    n = sum(p.numel() for p in pipe.unet.parameters())
    assert 0.5e6 < n < 2e6
    assert pipe.unet.config.cross_attention_dim == 384
