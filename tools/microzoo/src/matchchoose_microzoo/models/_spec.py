"""The tiny base-model zoo: what each model is (architecture, text conditioning, pretraining mixture).

Nothing here imports torch. A :class:`ModelSpec` names the real default-zoo model whose configs it is
shrunk from (``source``: scheduler class and prediction type, block types, VAE shift and scaling
conventions are kept), the denoiser sizes that replace the real ones, the text encoder kind, and
the pretraining mixture: a subset of the micro-zoo domains with weights.

All models work on the same latent grid: :data:`RESOLUTION` pixel images through the shared VAE
(downsampling :data:`VAE_FACTOR`, :data:`LATENT_CHANNELS` channels) give 16 x 16 x 4 latents.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from matchchoose import InputError

__all__ = ["LATENT_CHANNELS", "RESOLUTION", "TEXT_ENCODERS", "VAE_CONFIG", "VAE_FACTOR", "ZOO", "ModelSpec",
           "get_spec", "mixture_domains", "model_names"]

#: Training and sampling resolution of every zoo model (pixels).
RESOLUTION = 64
#: Shared VAE: 64 px -> 16 x 16 latents with 4 channels (three resolution levels, factor 4).
VAE_FACTOR = 4
LATENT_CHANNELS = 4
VAE_CONFIG = {
    "in_channels": 3, "out_channels": 3, "latent_channels": LATENT_CHANNELS, "layers_per_block": 1,
    "block_out_channels": [32, 64, 64], "down_block_types": ["DownEncoderBlock2D"] * 3,
    "up_block_types": ["UpDecoderBlock2D"] * 3, "norm_num_groups": 16, "act_fn": "silu",
    "sample_size": RESOLUTION, "scaling_factor": 1.0,
}

#: Text encoder kinds: (pipeline component class, description).
TEXT_ENCODERS = {
    "minilm": ("BertModel", "pretrained all-MiniLM-L6-v2 (6 layers, 384 wide, WordPiece; from PyPI)"),
    "clip": ("CLIPTextModel", "random-init tiny CLIP text model (byte-level BPE)"),
    "clip2": ("CLIPTextModel + CLIPTextModelWithProjection", "two random-init tiny CLIPs (SDXL layout)"),
    "clip2-t5": ("CLIPTextModelWithProjection x2 + T5EncoderModel",
                 "two random-init tiny CLIPs and a random-init word-level T5 (SD3 layout)"),
    "t5": ("T5EncoderModel", "random-init word-level T5 encoder (Unigram over the MiniLM WordPiece words)"),
    "clip-t5": ("CLIPTextModel + T5EncoderModel", "a random-init tiny CLIP (pooled) and a random-init word-level T5 "
                "(FLUX.1 layout)"),
}


@dataclass(frozen=True)
class ModelSpec:
    """One zoo model.

    Parameters
    ----------
    name : str
        Zoo name (also the default output folder name).
    family : str
        Fine-tuning family (:data:`matchchoose.finetune.families.REGISTRY`).
    source : str
        Default-zoo model whose configs are shrunk (``sd15``, ``sd21``, ``sdxl-base``,
        ``pixart-sigma-512``, ``sd3-medium``).
    text : str
        Text encoder kind (:data:`TEXT_ENCODERS`).
    denoiser : dict
        Config keys of the denoiser that replace the source's (sizes and block types).
    mixture : dict
        Pretraining domains -> weights (normalised when sampling).
    steps : int
        Pretraining steps at batch 16 (:func:`~._pretrain.pretrain`'s default): about 4-8
        CPU-minutes on a quiet 2-core machine at the measured seconds per step (docs/microzoo-models.md).
    text_width : int
        Width of the random-init text encoders (CLIP hidden size, T5 ``d_model``); MiniLM is 384.
    scheduler : dict
        Scheduler config keys that replace the source's.
    description : str
        One line for tables.
    """

    name: str
    family: str
    source: str
    text: str
    denoiser: dict
    mixture: dict
    steps: int = 2000
    text_width: int = 64
    scheduler: dict = field(default_factory=dict)
    description: str = ""

    @property
    def pipeline_class(self) -> str:
        return {"sd": "StableDiffusionPipeline", "sdxl": "StableDiffusionXLPipeline", "pixart": "PixArtSigmaPipeline",
                "sd3": "StableDiffusion3Pipeline", "flux": "FluxPipeline"}[self.family]

    @property
    def denoiser_class(self) -> str:
        return {"sd": "UNet2DConditionModel", "sdxl": "UNet2DConditionModel", "pixart": "PixArtTransformer2DModel",
                "sd3": "SD3Transformer2DModel", "flux": "FluxTransformer2DModel"}[self.family]

    def weights(self) -> dict:
        """The mixture with weights normalised to sum to 1."""
        total = float(sum(self.mixture.values()))
        return {d: w / total for d, w in self.mixture.items()}


def _unet(channels, layers, heads, *, first_attention=True, sample_size=RESOLUTION // VAE_FACTOR):
    n = len(channels)
    if first_attention:
        down = ["CrossAttnDownBlock2D"] * (n - 1) + ["DownBlock2D"]
    else:  # SDXL: no attention at the finest level
        down = ["DownBlock2D"] + ["CrossAttnDownBlock2D"] * (n - 1)
    up = [{"DownBlock2D": "UpBlock2D", "CrossAttnDownBlock2D": "CrossAttnUpBlock2D"}[b] for b in reversed(down)]
    return {"block_out_channels": list(channels), "layers_per_block": layers, "down_block_types": down,
            "up_block_types": up, "attention_head_dim": heads, "norm_num_groups": 8, "sample_size": sample_size}


_LATENT = RESOLUTION // VAE_FACTOR

#: The zoo. Mixtures cover 7 or 8 of the 27 micro-zoo domains each, overlapping partially; one domain
#: (``sklearn_digits``) is in no mixture.
ZOO: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec(
        name="unet-s-minilm", family="sd", source="sd15", text="minilm", steps=1800,
        denoiser=_unet([32, 64], 1, 4),
        mixture={"noto_emoji": 2, "openmoji": 1, "game_icons": 1, "tabler_icons": 1, "kgeography_flags": 1,
                 "typeface_glyphs": 1, "playing_cards": 1},
        description="SD 1.5-like small UNet, 2 levels, pretrained MiniLM text encoder, epsilon"),
    ModelSpec(
        name="unet-m-clip", family="sd", source="sd21", text="clip", steps=1400,
        denoiser=_unet([32, 64, 64], 1, 4),
        mixture={"wesnoth_units": 2, "minetest_textures": 1, "supertux_sprites": 1, "openarena_textures": 1,
                 "playing_cards": 1, "mnist_digits": 1, "pixelarticons": 1},
        description="SD 2.1-like UNet, 3 levels, tiny CLIP, v-prediction"),
    ModelSpec(
        name="unet-l-minilm", family="sd", source="sd15", text="minilm", steps=400,
        denoiser=_unet([64, 128], 2, 8),
        mixture={"noto_emoji": 1, "wesnoth_portraits": 1, "furniture_3d": 1, "tuxpaint_photos": 1, "astrophotos": 1,
                 "kgeography_maps": 1, "world_scripts": 1, "oxygen_icons": 1},
        description="SD 1.5-like wide UNet, 2 levels x 2 layers, pretrained MiniLM text encoder"),
    ModelSpec(
        name="sdxl-s", family="sdxl", source="sdxl-base", text="clip2", steps=1800,
        denoiser={**_unet([32, 64, 96], 1, [2, 4, 6], first_attention=False), "transformer_layers_per_block": [1, 1, 2],
                  "addition_time_embed_dim": 8, "addition_embed_type_num_heads": 8},
        mixture={"fluent_emoji_3d": 2, "furniture_3d": 1, "tuxpaint_photos": 1, "oxygen_icons": 1, "astrophotos": 1,
                 "wesnoth_portraits": 1, "constellation_art": 1},
        description="SDXL-like UNet (no attention at the finest level), two tiny CLIPs, size conditioning"),
    ModelSpec(
        name="pixart-s", family="pixart", source="pixart-sigma-512", text="t5", steps=1600,
        denoiser={"num_layers": 4, "num_attention_heads": 4, "attention_head_dim": 32, "sample_size": _LATENT,
                  "patch_size": 2, "norm_num_groups": 8},
        mixture={"typeface_glyphs": 1, "world_scripts": 1, "kanji_stroke_order": 1, "mnist_digits": 1,
                 "kgeography_maps": 1, "pixelarticons": 1, "tabler_icons": 1},
        description="PixArt-Sigma-like DiT, 4 blocks x 128, word-level T5, learned sigma"),
    ModelSpec(
        name="pixart-m", family="pixart", source="pixart-sigma-512", text="t5", steps=500,
        denoiser={"num_layers": 8, "num_attention_heads": 6, "attention_head_dim": 32, "sample_size": _LATENT,
                  "patch_size": 2, "norm_num_groups": 8},
        mixture={"openclipart": 2, "tuxpaint_vector": 1, "supertux_sprites": 1, "openmoji": 1, "kgeography_flags": 1,
                 "game_icons": 1, "noto_emoji": 1},
        description="PixArt-Sigma-like DiT, 8 blocks x 192, word-level T5, learned sigma"),
    ModelSpec(
        name="sd3-s", family="sd3", source="sd3-medium", text="clip2-t5", text_width=32, steps=600,
        denoiser={"num_layers": 4, "num_attention_heads": 4, "attention_head_dim": 32, "sample_size": _LATENT,
                  "patch_size": 2, "pos_embed_max_size": 64},  # room for 512 px (FLOP counts)
        scheduler={"shift": 1.0},
        mixture={"minetest_textures": 1, "openarena_textures": 1, "wesnoth_terrain": 2, "wesnoth_units": 1,
                 "fluent_emoji_3d": 1, "constellation_art": 1, "astrophotos": 1},
        description="SD3-like MMDiT, 4 blocks x 128, two tiny CLIPs + word-level T5, rectified flow"),
    ModelSpec(
        name="flux-s", family="flux", source="flux1-schnell", text="clip-t5", text_width=64, steps=2000,
        denoiser={"num_layers": 2, "num_single_layers": 4, "num_attention_heads": 4, "attention_head_dim": 32,
                  "axes_dims_rope": [8, 12, 12], "guidance_embeds": False},
        mixture={"openclipart": 1, "tuxpaint_vector": 1, "oxygen_icons": 1, "pixelarticons": 2, "world_scripts": 1,
                 "wesnoth_terrain": 1, "kanji_stroke_order": 1},
        description="FLUX.1-schnell-like transformer: 2 double-stream + 4 single-stream blocks x 128, rotary "
                    "positions, packed 2 x 2 latents, tiny CLIP (pooled) + word-level T5, rectified flow"),
)}


def model_names() -> list[str]:
    """Names of the zoo models, in definition order."""
    return list(ZOO)


def get_spec(name) -> ModelSpec:
    """The :class:`ModelSpec` of ``name`` (a zoo name or a spec, returned as is)."""
    if isinstance(name, ModelSpec):
        return name
    if name not in ZOO:
        raise InputError(f"Unknown micro-zoo model {name!r}; choose from {', '.join(ZOO)}.")
    return ZOO[name]


def mixture_domains() -> dict:
    """``{domain: [models whose mixture has it]}`` over the whole zoo, domains sorted."""
    out: dict = {}
    for spec in ZOO.values():
        for domain in spec.mixture:
            out.setdefault(domain, []).append(spec.name)
    return dict(sorted(out.items()))
