"""Tiny random-weight diffusers pipelines, shrunk from the zoo's real configs, for tests and a tiny zoo.

:func:`build_tiny_pipeline` reads a real pipeline's configs (a default-zoo id such as ``"sdxl-base"``
or any local diffusers folder), keeps every structural choice of them (block types, scheduler and
its prediction type, VAE scaling and shift factors, learned sigma, guidance embeddings, QK norms,
dual attention layers...) and shrinks only the sizes: widths to 8-32 channels, one layer per
block, two resolution levels in the VAE (a factor 2 instead of 8 or 32), tiny text encoders whose
widths fit the denoiser. Tokenizers are built offline from a vocabulary written here (byte-level BPE
for CLIP, Unigram for T5, byte-fallback BPE for Gemma), so nothing is downloaded. The pipeline is
saved with ``save_pretrained`` (safetensors), so whatever loads it takes the real from-folder path.

Weights are random and seeded: the same ``seed`` gives the same files, bit for bit.

Examples
--------
>>> from matchchoose.finetune.tiny import build_tiny_pipeline  # doctest: +SKIP
>>> path = build_tiny_pipeline("sd", "/tmp/tiny-sd")            # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from .._errors import InputError, require

__all__ = ["TINY_SOURCES", "assemble_pipeline", "build_tiny_pipeline", "tiny_tokenizer"]

#: Family name -> the default-zoo model its tiny pipeline is shrunk from.
TINY_SOURCES = {
    "sd": "sd15",
    "sd-v": "sd21",
    "sdxl": "sdxl-base",
    "sd3": "sd3-medium",
    "sd35": "sd35-medium",
    "flux": "flux1-dev",
    "pixart": "pixart-sigma-512",
    "sana": "sana-1.6b-512px",
}

# Widths of the tiny text encoders; the denoisers' conditioning widths follow from them.
_CLIP_WIDTH = 16
_T5_WIDTH = 32
_GEMMA_WIDTH = 16
_CLIP_LENGTH = 77  # the pipelines pad CLIP prompts to tokenizer.model_max_length
_LONG_LENGTH = 512  # T5 / Gemma: pipelines pad to 256-512 tokens
_WORDS = ("a", "an", "the", "of", "photo", "picture", "cat", "dog", "red", "blue", "green", "in", "on", "with",
          "and", "image", "tiny", "small", "big", "car", "tree", "house", "sky")
_SKIP = ("safety_checker", "feature_extractor", "image_encoder")


# ------------------------------------------------------------------------------------------- tokenizers
def _bytes_to_unicode() -> list[str]:
    """GPT-2 / CLIP byte -> printable character table (the byte-level BPE alphabet)."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def _clip_tokenizer():
    transformers = require("transformers", "Building a tiny pipeline", "finetune")
    specials = ["<|startoftext|>", "<|endoftext|>"]
    alphabet = _bytes_to_unicode()
    vocab = {tok: i for i, tok in enumerate(specials)}
    for ch in alphabet:
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    merges = []
    for word in _WORDS:  # merge a few whole words, so that common captions take few tokens
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            left, right = pieces[0], pieces[1]
            merges.append((left, right))
            merged = left + right
            vocab.setdefault(merged, len(vocab))
            pieces = [merged] + pieces[2:]
    merges = list(dict.fromkeys(merges))
    return transformers.CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=_CLIP_LENGTH)


def _t5_tokenizer():
    transformers = require("transformers", "Building a tiny pipeline", "finetune")
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    for word in _WORDS:
        vocab.append(("▁" + word, -3.0))
    for ch in "abcdefghijklmnopqrstuvwxyz0123456789.,!?'-":
        vocab.append((ch, -5.0))
        vocab.append(("▁" + ch, -5.5))
    return transformers.T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=_LONG_LENGTH)


def _gemma_tokenizer():
    transformers = require("transformers", "Building a tiny pipeline", "finetune")
    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<mask>": 4}
    for b in range(256):  # byte fallback covers any text
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for ch in "▁abcdefghijklmnopqrstuvwxyz":
        vocab.setdefault(ch, len(vocab))
    merges = []
    for word in _WORDS:
        pieces = ["▁"] + list(word)
        while len(pieces) > 1:
            merges.append((pieces[0], pieces[1]))
            merged = pieces[0] + pieces[1]
            vocab.setdefault(merged, len(vocab))
            pieces = [merged] + pieces[2:]
    merges = list(dict.fromkeys(merges))
    return transformers.GemmaTokenizer(vocab=vocab, merges=merges, model_max_length=8192)


def tiny_tokenizer(kind: str):
    """An offline tokenizer with a small vocabulary: ``"clip"``, ``"t5"`` or ``"gemma"``.

    Any text tokenizes without unknown tokens for CLIP (byte-level) and Gemma (byte fallback); T5
    spells unknown words letter by letter.
    """
    makers = {"clip": _clip_tokenizer, "t5": _t5_tokenizer, "gemma": _gemma_tokenizer}
    if kind not in makers:
        raise InputError(f"tiny_tokenizer: unknown kind {kind!r}; expected one of {sorted(makers)}.")
    return makers[kind]()


# ------------------------------------------------------------------------------------------- configs
def _strip(config: dict) -> dict:
    """A component config without the provenance keys diffusers / transformers add."""
    drop = {"_class_name", "_diffusers_version", "_name_or_path", "architectures", "transformers_version",
            "torch_dtype", "dtype", "_commit_hash", "_use_default_values"}
    return {k: v for k, v in config.items() if k not in drop}


def _ends(values, n: int = 2) -> list:
    """First and last entries of a per-block list (two resolution levels)."""
    values = list(values)
    return values[:1] + values[-1:] if len(values) >= n else values


def _per_block(value, n: int, new):
    return [new] * n if isinstance(value, (list, tuple)) else new


def _shrink_unet(cfg: dict, cross_dim: int, pooled_dim: int | None, width: int = 1) -> dict:
    cfg = _strip(cfg)
    down = _ends(cfg.get("down_block_types") or ["CrossAttnDownBlock2D", "DownBlock2D"])
    up = _ends(cfg.get("up_block_types") or ["UpBlock2D", "CrossAttnUpBlock2D"])
    n = len(down)
    channels = [16 * width, 32 * width] if n == 2 else [16 * width] * n
    cfg.update(down_block_types=down, up_block_types=up, block_out_channels=channels, layers_per_block=1,
               norm_num_groups=8, cross_attention_dim=cross_dim, sample_size=8)
    cfg["attention_head_dim"] = _per_block(cfg.get("attention_head_dim", 8), n, 2)
    if cfg.get("num_attention_heads") is not None:
        cfg["num_attention_heads"] = _per_block(cfg["num_attention_heads"], n, 2)
    if "transformer_layers_per_block" in cfg:
        cfg["transformer_layers_per_block"] = _per_block(cfg["transformer_layers_per_block"], n, 1)
    if cfg.get("addition_embed_type") == "text_time":
        cfg["addition_time_embed_dim"] = 4
        cfg["projection_class_embeddings_input_dim"] = 6 * 4 + int(pooled_dim)
    if cfg.get("addition_embed_type_num_heads"):
        cfg["addition_embed_type_num_heads"] = 2
    return cfg


def _shrink_vae_kl(cfg: dict) -> dict:
    cfg = _strip(cfg)
    cfg.update(block_out_channels=[8, 16],
               down_block_types=_ends(cfg.get("down_block_types", ["DownEncoderBlock2D"] * 2)),
               up_block_types=_ends(cfg.get("up_block_types", ["UpDecoderBlock2D"] * 2)), layers_per_block=1,
               norm_num_groups=4, sample_size=16)
    return cfg


def _shrink_vae_dc(cfg: dict) -> dict:
    cfg = _strip(cfg)
    enc = _ends(cfg.get("encoder_block_types") or ["ResBlock", "EfficientViTBlock"])
    dec = _ends(cfg.get("decoder_block_types") or ["ResBlock", "EfficientViTBlock"])
    last = max(16, int(cfg.get("latent_channels", 32)))  # the output shortcut groups channels by latent_channels
    cfg.update(encoder_block_types=enc, decoder_block_types=dec, encoder_block_out_channels=[8, last],
               decoder_block_out_channels=[8, last], encoder_layers_per_block=[1, 1], decoder_layers_per_block=[1, 1],
               attention_head_dim=4)
    for key in ("encoder_qkv_multiscales", "decoder_qkv_multiscales"):
        cfg[key] = _ends(cfg.get(key) or [[], [5]])
    for key in ("decoder_norm_types", "decoder_act_fns"):
        if isinstance(cfg.get(key), list):
            cfg[key] = _ends(cfg[key])
    return cfg


def _shrink_clip(cfg: dict, vocab_size: int, eos_id: int, bos_id: int, pad_id: int) -> dict:
    cfg = _strip(cfg)
    cfg.update(hidden_size=_CLIP_WIDTH, intermediate_size=2 * _CLIP_WIDTH, num_attention_heads=2, num_hidden_layers=2,
               projection_dim=_CLIP_WIDTH, vocab_size=vocab_size, max_position_embeddings=_CLIP_LENGTH,
               eos_token_id=eos_id, bos_token_id=bos_id, pad_token_id=pad_id)
    return cfg


def _shrink_t5(cfg: dict, vocab_size: int) -> dict:
    cfg = _strip(cfg)
    cfg.update(d_model=_T5_WIDTH, d_kv=8, d_ff=2 * _T5_WIDTH, num_layers=1, num_decoder_layers=1, num_heads=2,
               vocab_size=vocab_size, dropout_rate=0.0)
    return cfg


def _shrink_gemma2(cfg: dict, vocab_size: int) -> dict:
    cfg = _strip(cfg)
    cfg.update(hidden_size=_GEMMA_WIDTH, intermediate_size=2 * _GEMMA_WIDTH, num_attention_heads=2,
               num_key_value_heads=1, head_dim=8, num_hidden_layers=1, vocab_size=vocab_size, query_pre_attn_scalar=8,
               max_position_embeddings=2048, pad_token_id=0, eos_token_id=1, bos_token_id=2, sliding_window=256)
    cfg.pop("cache_implementation", None)
    return cfg


def _shrink_sd3(cfg: dict, latent: int, pooled: int, width: int = 1) -> dict:
    cfg = _strip(cfg)
    layers = 2
    cfg.update(attention_head_dim=8 * width, num_attention_heads=2, num_layers=layers,
               caption_projection_dim=16 * width, joint_attention_dim=_T5_WIDTH, pooled_projection_dim=pooled,
               pos_embed_max_size=16, sample_size=8,
               in_channels=latent, out_channels=latent)
    if cfg.get("dual_attention_layers"):
        cfg["dual_attention_layers"] = [0]
    return cfg


def _shrink_flux(cfg: dict, latent: int, width: int = 1) -> dict:
    cfg = _strip(cfg)
    cfg.update(attention_head_dim=16 * width, num_attention_heads=2, num_layers=1, num_single_layers=1,
               joint_attention_dim=_T5_WIDTH, pooled_projection_dim=_CLIP_WIDTH,
               axes_dims_rope=[4 * width, 6 * width, 6 * width],
               in_channels=4 * latent, patch_size=1)
    cfg.pop("out_channels", None)
    return cfg


def _shrink_pixart(cfg: dict, latent: int, width: int = 1) -> dict:
    cfg = _strip(cfg)
    learned_sigma = cfg.get("out_channels") == 2 * cfg.get("in_channels", 4)
    cfg.update(num_layers=1, num_attention_heads=2, attention_head_dim=8 * width, cross_attention_dim=16 * width,
               caption_channels=_T5_WIDTH, in_channels=latent, out_channels=2 * latent if learned_sigma else latent,
               norm_num_groups=8)
    cfg["sample_size"] = 128 if cfg.get("sample_size") == 128 else 8  # 128 switches on resolution conditioning
    return cfg


def _shrink_sana(cfg: dict, latent: int, width: int = 1) -> dict:
    cfg = _strip(cfg)
    cfg.update(num_layers=1, num_attention_heads=2, attention_head_dim=8 * width, num_cross_attention_heads=2,
               cross_attention_head_dim=8 * width, cross_attention_dim=16 * width, caption_channels=_GEMMA_WIDTH,
               in_channels=latent, out_channels=latent, sample_size=8)
    return cfg


# ------------------------------------------------------------------------------------------- builder
def _source(source):
    from ..features import default_zoo_dir, read_pipeline_dir

    if isinstance(source, str) and source in TINY_SOURCES:
        source = TINY_SOURCES[source]
    folder = Path(source)
    if not folder.is_dir():
        folder = default_zoo_dir() / str(source)
    if not folder.is_dir():
        raise InputError(f"build_tiny_pipeline: {source!r} is neither a family ({', '.join(TINY_SOURCES)}), a "
                         "default-zoo id nor a diffusers folder.")
    return read_pipeline_dir(folder)


def _declared(config, name: str) -> str | None:
    entry = config.model_index.get(name)
    return entry[1] if isinstance(entry, (list, tuple)) and len(entry) == 2 and entry[1] else None


def build_tiny_pipeline(source, path, *, seed: int = 0, with_t5: bool = True, width: int = 1,
                        overwrite: bool = False) -> Path:
    """Build, save and return the folder of a tiny random-weight pipeline shrunk from ``source``.

    Parameters
    ----------
    source : str or Path
        A family of :data:`TINY_SOURCES` (``"sd"``, ``"sd-v"``, ``"sdxl"``, ``"sd3"``, ``"sd35"``,
        ``"flux"``, ``"pixart"``, ``"sana"``), a default-zoo id (``"juggernaut-x-v10"``) or a
        diffusers folder with the configs to shrink.
    path : str or Path
        Output folder (``model_index.json``, component folders with safetensors weights).
    seed : int, default=0
        Seed of the random weights; the same seed gives identical files.
    with_t5 : bool, default=True
        For SD3 pipelines: include the third text encoder (T5). Without it, ``text_encoder_3`` and
        ``tokenizer_3`` are saved as absent and the pipeline pads with zeros, as SD3 allows.
    width : int, default=1
        Multiplies the denoiser's channel widths (UNet channels 16 and 32, transformer head
        dimension 8 or 16) for a small rather than tiny model, e.g. for memory benchmarks; the text
        encoders and the VAE stay tiny.
    overwrite : bool, default=False
        Replace an existing ``model_index.json`` at ``path``; otherwise an existing tiny pipeline
        is reused as is.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        Unknown source, or a component class this builder cannot shrink.
    """
    torch = require("torch", "Building a tiny pipeline", "finetune")
    diffusers = require("diffusers", "Building a tiny pipeline", "finetune")
    transformers = require("transformers", "Building a tiny pipeline", "finetune")
    out = Path(path)
    if (out / "model_index.json").is_file() and not overwrite:
        return out
    config = _source(source)
    index = config.model_index
    pipeline_class = index.get("_class_name")
    if not hasattr(diffusers, str(pipeline_class)):
        raise InputError(f"{config.source}: pipeline class {pipeline_class!r} is not in diffusers.")
    comps = config.components
    parts: dict = {}

    def seeded(i: int):
        torch.manual_seed(seed * 1000 + i)

    # Text encoders and tokenizers first: their widths condition the denoiser.
    text_keys = sorted(k for k in index if k.startswith("text_encoder"))
    pooled_sum, clip_widths = 0, []
    for i, key in enumerate(text_keys):
        cls = _declared(config, key)
        tok_key = key.replace("text_encoder", "tokenizer")
        if cls is None:
            parts[key], parts[tok_key] = None, None
            continue
        if cls == "T5EncoderModel" and not with_t5 and pipeline_class == "StableDiffusion3Pipeline":
            parts[key], parts[tok_key] = None, None
            continue
        src = comps.get(key, {})
        seeded(10 + i)
        if cls.startswith("CLIPTextModel"):
            tok = tiny_tokenizer("clip")
            ids = tok.convert_tokens_to_ids(["<|startoftext|>", "<|endoftext|>"])
            cfg = transformers.CLIPTextConfig(**_shrink_clip(src, len(tok), ids[1], ids[0], ids[1]))
            model = getattr(transformers, cls)(cfg)
            clip_widths.append(_CLIP_WIDTH)
            pooled_sum += _CLIP_WIDTH
        elif cls == "T5EncoderModel":
            tok = tiny_tokenizer("t5")
            model = transformers.T5EncoderModel(transformers.T5Config(**_shrink_t5(src, len(tok))))
        elif cls in ("Gemma2Model", "Gemma2ForCausalLM"):
            tok = tiny_tokenizer("gemma")
            model = getattr(transformers, cls)(transformers.Gemma2Config(**_shrink_gemma2(src, len(tok))))
        else:
            raise InputError(f"build_tiny_pipeline: cannot shrink text encoder {key!r} of class {cls} "
                             f"({config.source}); supported: CLIPTextModel(WithProjection), T5EncoderModel, "
                             "Gemma2Model.")
        parts[key], parts[tok_key] = model.eval(), tok

    vae_cls = _declared(config, "vae")
    seeded(1)
    if vae_cls == "AutoencoderKL":
        vae = diffusers.AutoencoderKL.from_config(_shrink_vae_kl(comps["vae"]))
        latent = vae.config.latent_channels
    elif vae_cls == "AutoencoderDC":
        vae = diffusers.AutoencoderDC.from_config(_shrink_vae_dc(comps["vae"]))
        latent = vae.config.latent_channels
    else:
        raise InputError(f"build_tiny_pipeline: cannot shrink VAE class {vae_cls} ({config.source}).")
    parts["vae"] = vae

    seeded(2)
    denoiser_key = "unet" if "unet" in comps else "transformer"
    den_cfg = comps.get(denoiser_key)
    den_cls = config.component_class(denoiser_key)
    if den_cls == "UNet2DConditionModel":
        cross = sum(clip_widths) if clip_widths else _CLIP_WIDTH
        pooled = _CLIP_WIDTH if pipeline_class.startswith("StableDiffusionXL") else None
        parts["unet"] = diffusers.UNet2DConditionModel.from_config(_shrink_unet(den_cfg, cross, pooled, width))
    elif den_cls == "SD3Transformer2DModel":
        parts["transformer"] = diffusers.SD3Transformer2DModel.from_config(
            _shrink_sd3(den_cfg, latent, pooled_sum, width))
    elif den_cls == "FluxTransformer2DModel":
        parts["transformer"] = diffusers.FluxTransformer2DModel.from_config(_shrink_flux(den_cfg, latent, width))
    elif den_cls == "PixArtTransformer2DModel":
        parts["transformer"] = diffusers.PixArtTransformer2DModel.from_config(
            _shrink_pixart(den_cfg, latent, width))
    elif den_cls == "SanaTransformer2DModel":
        parts["transformer"] = diffusers.SanaTransformer2DModel.from_config(_shrink_sana(den_cfg, latent, width))
    else:
        raise InputError(f"build_tiny_pipeline: cannot shrink denoiser class {den_cls} ({config.source}).")

    sched_cfg = copy.deepcopy(comps["scheduler"])
    parts["scheduler"] = getattr(diffusers, _declared(config, "scheduler")).from_config(_strip(sched_cfg))

    pipe = assemble_pipeline(pipeline_class, parts, index)
    out.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(out, safe_serialization=True)
    (out / "TINY.json").write_text(json.dumps({"source": config.source, "model": config.name, "seed": seed,
                                               "with_t5": with_t5, "width": width}, indent=1) + "\n", encoding="utf-8")
    return out


def assemble_pipeline(pipeline_class: str, parts: dict, model_index: dict | None = None):
    """A diffusers pipeline of class ``pipeline_class`` from its components ``parts`` (name -> object).

    Components the class does not take are left out; the safety checker, feature extractor and
    image encoder are ``None`` (and the safety check off); plain options of ``model_index`` (a
    pipeline's ``model_index.json``, e.g. SDXL's ``force_zeros_for_empty_prompt``) are passed on.
    Used by the tiny test pipelines, the micro zoo's builder and the GPU check.
    """
    import inspect

    diffusers = require("diffusers", "Assembling a pipeline", "models")
    pipe_cls = getattr(diffusers, pipeline_class)
    accepted = inspect.signature(pipe_cls.__init__).parameters
    kwargs = {k: v for k, v in parts.items() if k in accepted}
    for key in _SKIP:
        if key in accepted:
            kwargs[key] = None
    if "requires_safety_checker" in accepted:
        kwargs["requires_safety_checker"] = False
    for key, value in (model_index or {}).items():  # pipeline options such as force_zeros_for_empty_prompt
        if not key.startswith("_") and not isinstance(value, list) and key in accepted and key not in kwargs:
            kwargs[key] = value
    missing = [k for k, prm in accepted.items() if k != "self" and prm.default is inspect.Parameter.empty
               and k not in kwargs]
    if missing:
        raise InputError(f"{pipeline_class} needs {', '.join(missing)}, which the given components do not provide.")
    return pipe_cls(**kwargs)
