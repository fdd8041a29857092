"""Flattening configs into Table 1 style hyperparameters, per family; provenance, legacy names, defaults."""

from __future__ import annotations

import math

import pytest

from matchchoose.features import (
    FAMILIES,
    canonical_class,
    default_zoo_dir,
    family_of,
    flatten_config,
    flatten_pipeline,
    read_pipeline,
)

ZOO = default_zoo_dir()


def flat(name):
    return flatten_pipeline(read_pipeline(ZOO / name))


def test_sdxl_keys_in_table1_style():
    hp = flat("sdxl-base")
    assert hp["pipeline_class_name"] == "StableDiffusionXLPipeline"
    assert hp["unet_block_out_channels_2"] == 1280
    assert hp["unet_attention_head_dim_1"] == 10
    assert hp["unet_transformer_layers_per_block_2"] == 10
    assert hp["unet_mid_block_type"] == "UNetMidBlock2DCrossAttn"
    assert hp["vae_sample_size"] == 1024
    assert hp["text_encoder_2_class_name"] == "CLIPTextModelWithProjection"
    assert hp["text_encoder_2_hidden_size"] == 1280
    assert hp["pipeline_force_zeros_for_empty_prompt"] is True
    assert hp["scheduler_class_name"] == "EulerDiscreteScheduler"


def test_provenance_and_runtime_keys_are_dropped():
    for name in ("sdxl-base", "flux1-dev", "kolors", "sana-1.6b-512px"):
        keys = flat(name)
        for marker in ("name_or_path", "diffusers_version", "transformers_version", "torch_dtype", "architectures",
                       "auto_map", "use_cache"):
            assert not [k for k in keys if marker in k], (name, marker)


def test_sd15_gets_class_defaults_and_per_block_broadcast():
    hp = flat("sd15")
    # SD 1.5's config predates mid_block_type: diffusers (and we) use the class default.
    assert hp["unet_mid_block_type"] == "UNetMidBlock2DCrossAttn"
    # attention_head_dim: 8 is one value for the 4 down blocks.
    assert [hp[f"unet_attention_head_dim_{i}"] for i in range(4)] == [8, 8, 8, 8]
    assert "unet_attention_head_dim" not in hp
    assert hp["unet_transformer_layers_per_block_3"] == 1


def test_no_default_filling_on_request():
    config = read_pipeline(ZOO / "sd15")
    assert "unet_mid_block_type" not in flatten_pipeline(config, fill_defaults=False)


def test_segmind_vega_differs_from_sdxl_where_it_should():
    vega, sdxl = flat("segmind-vega"), flat("sdxl-base")
    assert vega["unet_mid_block_type"] == "UNetMidBlock2D"
    assert (vega["unet_transformer_layers_per_block_2"], sdxl["unet_transformer_layers_per_block_2"]) == (2, 10)


def test_kolors_unet_and_chatglm_encoder():
    hp = flat("kolors")
    assert hp["unet_encoder_hid_dim"] == 4096 and hp["unet_encoder_hid_dim_type"] == "text_proj"
    assert hp["text_encoder_class_name"] == "ChatGLMModel"
    assert hp["text_encoder_ffn_hidden_size"] == 13696


def test_transformer_families():
    pixart, sana, sd3, flux = flat("pixart-sigma-512"), flat("sana-1.6b-512px"), flat("sd35-medium"), flat("flux1-dev")
    assert pixart["transformer_class_name"] == "PixArtTransformer2DModel"  # legacy Transformer2DModel mapped
    assert pixart["transformer_num_layers"] == 28 and pixart["transformer_attention_head_dim"] == 72
    assert pixart["scheduler_lambda_min_clipped"] == -math.inf  # -Infinity read from the file
    assert sana["transformer_num_layers"] == 20 and sana["vae_class_name"] == "AutoencoderDC"
    assert sana["vae_decoder_qkv_multiscales_3_0"] == 5  # nested lists flatten index by index
    assert sd3["transformer_num_layers"] == 24 and sd3["text_encoder_3_class_name"] == "T5EncoderModel"
    assert flux["transformer_num_single_layers"] == 38 and flux["transformer_guidance_embeds"] is True


def test_stable_cascade():
    prior, decoder = flat("stable-cascade-prior"), flat("stable-cascade")
    assert prior["prior_class_name"] == decoder["decoder_class_name"] == "StableCascadeUNet"
    assert prior["prior_block_types_per_layer_0_2"] == "SDCascadeAttnBlock"
    assert prior["pipeline_resolution_multiple"] == 42.67 and decoder["pipeline_latent_dim_scale"] == 10.67
    assert decoder["vqgan_class_name"] == "PaellaVQModel"


@pytest.mark.parametrize("name, family", [
    ("sd15", "unet"), ("sdxl-base", "unet"), ("segmind-vega", "unet"), ("juggernaut-x-v10", "unet"),
    ("kolors", "unet"), ("sd35-medium", "sd3"), ("flux1-dev", "flux"), ("pixart-sigma-512", "pixart"),
    ("sana1.5-4.8b", "sana"), ("hunyuandit", "hunyuandit"), ("stable-cascade", "stable_cascade"),
    ("stable-cascade-prior", "stable_cascade")])
def test_family_of(name, family):
    assert family_of(read_pipeline(ZOO / name)) == family
    assert family in set(FAMILIES.values())


def test_unknown_family_still_yields_generic_features(write_pipeline):
    root = write_pipeline("novel", {
        "_class_name": "NovelPipeline", "_diffusers_version": "9.9",
        "transformer": ["diffusers", "NovelTransformer3000"], "vae": ["diffusers", "AutoencoderKL"],
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"], "guidance": 4.0,
    }, {
        "transformer": {"_class_name": "NovelTransformer3000", "depth": 12, "widths": [64, 128],
                        "rope": {"theta": 10000, "axes": [16, 56]}, "_name_or_path": "x"},
        "vae": {"_class_name": "AutoencoderKL", "latent_channels": 16},
        "scheduler": {"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0},
    })
    config = read_pipeline(root)
    assert family_of(config) == "generic"
    hp = flatten_pipeline(config)
    assert hp["transformer_class_name"] == "NovelTransformer3000"
    assert (hp["transformer_depth"], hp["transformer_widths_1"]) == (12, 128)
    assert (hp["transformer_rope_theta"], hp["transformer_rope_axes_1"]) == (10000, 56)
    assert hp["pipeline_guidance"] == 4.0 and hp["vae_latent_channels"] == 16
    assert "transformer__name_or_path" not in hp and "transformer_name_or_path" not in hp
    # known classes still get their defaults
    assert hp["vae_block_out_channels_0"] == 64 and hp["scheduler_num_train_timesteps"] == 1000


def test_no_denoiser_is_generic(write_pipeline):
    root = write_pipeline("encoder-only", {"_class_name": "P", "vae": ["diffusers", "AutoencoderKL"]},
                          {"vae": {"latent_channels": 4}})
    config = read_pipeline(root)
    assert config.denoiser is None and family_of(config) == "generic"
    assert flatten_pipeline(config)["vae_latent_channels"] == 4


def test_canonical_class_and_flatten_config_example():
    assert canonical_class("Transformer2DModel", {"norm_type": "ada_norm_zero"}) == "DiTTransformer2DModel"
    assert canonical_class("Transformer2DModel", {"norm_type": "layer_norm"}) == "Transformer2DModel"
    out = flatten_config("vae", {"_class_name": "X", "nan": float("nan"), "n": None, "t": [[1, 2], []]})
    assert out == {"vae_class_name": "X", "vae_nan": None, "vae_n": None, "vae_t_0_0": 1, "vae_t_0_1": 2}
