"""Tiny pipelines: seeded, shrunk from the real configs, offline tokenizers."""

from __future__ import annotations

import hashlib
import json

import pytest

from matchchoose import InputError
from matchchoose.finetune.tiny import build_tiny_pipeline, tiny_tokenizer


def _digest(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.safetensors"))}


def test_same_seed_same_files(tmp_path, tiny):
    a = build_tiny_pipeline("sd", tmp_path / "a", seed=3)
    b = build_tiny_pipeline("sd", tmp_path / "b", seed=3)
    c = build_tiny_pipeline("sd", tmp_path / "c", seed=4)
    assert _digest(a) == _digest(b) and _digest(a) != _digest(c)
    assert len(_digest(a)) == 3  # unet, vae, text encoder


def test_structure_follows_the_source_configs(tiny):
    index = json.loads((tiny("sdxl") / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionXLPipeline" and index["force_zeros_for_empty_prompt"] is True
    unet = json.loads((tiny("sdxl") / "unet" / "config.json").read_text())
    assert unet["addition_embed_type"] == "text_time" and unet["down_block_types"] == ["DownBlock2D",
                                                                                         "CrossAttnDownBlock2D"]
    sched = json.loads((tiny("sd-v") / "scheduler" / "scheduler_config.json").read_text())
    assert sched["prediction_type"] == "v_prediction"
    pixart = json.loads((tiny("pixart") / "transformer" / "config.json").read_text())
    assert pixart["out_channels"] == 2 * pixart["in_channels"]  # learned sigma kept
    flux = json.loads((tiny("flux") / "transformer" / "config.json").read_text())
    assert flux["guidance_embeds"] is True
    vae = json.loads((tiny("sd3") / "vae" / "config.json").read_text())
    assert (vae["latent_channels"], vae["scaling_factor"], vae["shift_factor"]) == (16, 1.5305, 0.0609)
    no_t5 = json.loads((tiny("sd3", with_t5=False) / "model_index.json").read_text())
    assert no_t5["text_encoder_3"] == [None, None]


@pytest.mark.parametrize("kind", ["clip", "t5", "gemma"])
def test_offline_tokenizers(kind):
    tok = tiny_tokenizer(kind)
    ids = tok("a photo of a zebra, 42!", add_special_tokens=False)["input_ids"]
    assert ids and max(ids) < len(tok)
    if kind != "t5":  # byte-level BPE / byte fallback: no unknown token
        assert tok.unk_token_id not in ids


def test_unknown_source(tmp_path):
    with pytest.raises(InputError, match="neither a family"):
        build_tiny_pipeline("dit", tmp_path / "x")
    with pytest.raises(InputError, match="cannot shrink"):
        build_tiny_pipeline("kolors", tmp_path / "k")
