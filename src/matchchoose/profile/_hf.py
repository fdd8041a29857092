"""Shared plumbing of the transformers probes: where the weights come from, devices and dtypes.

A probe's ``model`` is a local folder (written by ``save_pretrained``) or a Hugging Face id. For an
id, the Hub is used only when it can be reached: with ``HF_HUB_OFFLINE`` (or
``TRANSFORMERS_OFFLINE``) set, or when a 3-second TCP probe of ``HF_ENDPOINT`` fails, only the local
Hugging Face cache is read (``local_files_only=True``, so transformers never retries for minutes),
and a miss is one :class:`InputError` line that says what to do instead.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .._device import resolve_device
from .._errors import InputError, require

__all__ = ["ModelSource", "check_loading_info", "hub_offline", "hub_reachable", "load_pretrained",
           "resolve_device_dtype", "resolve_model"]

# "owner/name" or a legacy single-name id ("bert-base-uncased").
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_TRUE = ("1", "true", "yes", "on")
_DTYPES = {"float32": "float32", "fp32": "float32", "float": "float32", "float16": "float16", "fp16": "float16",
           "half": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16"}


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` is set (read at call time)."""
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hub (``HF_ENDPOINT``) opens; assumed behind a proxy.

    huggingface_hub retries a refused connection with backoff (tens of seconds); this probe turns
    an unreachable Hub into an immediate, clear error.
    """
    import socket
    from urllib.parse import urlparse

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")):
        return True
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class ModelSource:
    """Where a probe's model comes from.

    Attributes
    ----------
    spec : str
        What the user passed.
    path : str
        What ``from_pretrained`` gets: the absolute folder, or the Hub id.
    local : bool
        ``path`` is a local folder.
    offline : bool
        Only the local Hugging Face cache may be read (``local_files_only=True``).
    why_offline : str
        Why (empty when online).
    """

    spec: str
    path: str
    local: bool
    offline: bool = False
    why_offline: str = ""

    @property
    def weights(self) -> str:
        """What identifies the weights: the Hub id, or the absolute folder."""
        return self.path


def resolve_model(model, probe: str) -> ModelSource:
    """Classify ``model`` as an existing local folder or a Hub id, and whether the Hub is usable.

    Raises
    ------
    InputError
        ``model`` is an existing path without ``config.json``, or neither a folder nor an id.
    """
    try:
        text = os.fspath(model)
    except TypeError:
        raise InputError(f"The 'model' parameter of the {probe} probe must be a folder or a Hugging Face id. "
                         f"Got {model!r}.") from None
    path = Path(text).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise InputError(f"The {probe} probe's model {text!r} is not a transformers model folder (no "
                             "config.json); save one there with save_pretrained, or pass a Hugging Face id.")
        return ModelSource(text, str(path.resolve()), local=True)
    if not _HUB_ID.match(text):
        raise InputError(f"The {probe} probe's model {text!r} is neither an existing folder nor a Hugging Face "
                         "id (owner/name); check the path.")
    if hub_offline():
        return ModelSource(text, text, local=False, offline=True, why_offline="HF_HUB_OFFLINE is set")
    if not hub_reachable():
        endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
        return ModelSource(text, text, local=False, offline=True, why_offline=f"{endpoint} cannot be reached")
    return ModelSource(text, text, local=False)


@contextlib.contextmanager
def _quiet_transformers():
    """Silence transformers' load report and progress bar while loading (the probes check the
    loading info themselves)."""
    logging = require("transformers.utils.logging", "loading a transformers probe", "models")
    level, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()


def load_pretrained(loader, source: ModelSource, *, probe: str, alternative: str, **kwargs):
    """``loader(source.path, local_files_only=..., **kwargs)``, with one-line errors.

    Parameters
    ----------
    loader : callable
        A ``from_pretrained``.
    source : ModelSource
    probe : str
        The probe's name, for messages.
    alternative : str
        What to suggest when offline (``"use the 'dinov2' probe, ..."``).

    Raises
    ------
    InputError
        The folder cannot be loaded, the id is not cached while offline, or not on the Hub.
    """
    try:
        with _quiet_transformers():
            return loader(source.path, local_files_only=source.local or source.offline, **kwargs)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if source.local:
            raise InputError(f"The {probe} probe cannot load the model folder {source.path!r}: {detail}") from None
        if source.offline:
            raise InputError(f"The {probe} probe cannot load {source.spec!r}: it is not a local folder and not in "
                             f"the Hugging Face cache, and the Hub is unreachable ({source.why_offline}); pass a "
                             f"local folder (model='path/to/folder', written by save_pretrained) or "
                             f"{alternative}.") from None
        raise InputError(f"The {probe} probe cannot load {source.spec!r} from the Hugging Face Hub ({detail}); "
                         "check the id, or pass a local folder.") from None


def check_loading_info(info: dict, source: ModelSource, probe: str, ignore: tuple[str, ...] = ()) -> None:
    """Raise if weights the probe needs were missing from the checkpoint (transformers would leave
    them randomly initialised). Missing keys starting with a prefix in ``ignore`` are allowed."""
    missing = sorted(k for k in info.get("missing_keys", ()) if not k.startswith(ignore))
    mismatched = sorted(str(k[0] if isinstance(k, tuple) else k) for k in info.get("mismatched_keys", ()))
    if missing or mismatched:
        bad = missing or mismatched
        what = "lacks" if missing else "has wrongly shaped"
        raise InputError(f"The {probe} probe's model {source.spec!r} {what} {len(bad)} weight tensor(s) "
                         f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}); is it the right kind of "
                         "model?")


def resolve_device_dtype(device, dtype, probe: str, extra: str = "models"):
    """``(torch.device, torch.dtype)``: CUDA when available else CPU; float16 on CUDA, float32 on CPU.

    Raises
    ------
    InputError
        Unknown device or dtype, or CUDA asked for and not available.
    """
    torch = require("torch", f"the {probe} probe", extra)
    device = resolve_device(device, owner=f"the {probe} probe")
    if dtype is None:
        return device, torch.float16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, str) and dtype.strip().lower().removeprefix("torch.") in _DTYPES:
        return device, getattr(torch, _DTYPES[dtype.strip().lower().removeprefix("torch.")])
    if isinstance(dtype, torch.dtype) and dtype.is_floating_point:
        return device, dtype
    raise InputError(f"The 'dtype' parameter of the {probe} probe must be one of 'float32', 'float16', "
                     f"'bfloat16' (or a floating torch.dtype). Got {dtype!r}.")
