"""Reading a diffusers pipeline's configuration: a local folder or a Hugging Face id (JSON files only).

A pipeline is described by ``model_index.json`` (the pipeline class and, per component, its library
and class) and one JSON config per component folder: ``unet/config.json`` or
``transformer/config.json``, ``vae/config.json``, ``text_encoder*/config.json``,
``scheduler/scheduler_config.json``. Tokenizers, feature extractors and weights are not read.

The files are read as Python's :mod:`json` reads them, which accepts the non-strict tokens the
real files contain (``-Infinity`` in DPMSolver schedulers, ``NaN``). Every error names the file.
Nothing here needs torch.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .._errors import InputError, require

__all__ = ["PipelineConfig", "read_pipeline", "read_pipeline_dir", "download_pipeline", "read_json",
           "looks_like_hub_id"]

#: Config file name per component kind; anything else uses ``config.json``.
_CONFIG_FILES = ("config.json", "scheduler_config.json")
# Components without a model config: their class is recorded from model_index.json only.
_NO_CONFIG = ("tokenizer", "feature_extractor", "image_processor", "safety_checker")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class PipelineConfig:
    """A pipeline's configuration files, parsed.

    Parameters
    ----------
    name : str
        Model id (the folder name, or the Hub id with ``/`` replaced by ``--``).
    source : str
        Where the files came from: a folder path or ``hf://<repo id>``.
    model_index : dict
        ``model_index.json``.
    components : dict
        Component name (``"unet"``, ``"vae"``...) -> its config (dict), for every component of
        ``model_index.json`` that has a config file.
    missing : tuple of str
        Components listed in ``model_index.json`` whose config file is absent (tokenizers and
        feature extractors are never read and are not listed here).

    Examples
    --------
    >>> cfg = PipelineConfig("toy", "memory", {"_class_name": "P", "unet": ["diffusers", "UNet2DConditionModel"]},
    ...                      {"unet": {"_class_name": "UNet2DConditionModel", "sample_size": 64}})
    >>> cfg.denoiser
    'unet'
    """

    name: str
    source: str
    model_index: dict
    components: dict = field(default_factory=dict)
    missing: tuple = ()

    @property
    def pipeline_class(self) -> str | None:
        """The pipeline class of ``model_index.json`` (``"StableDiffusionXLPipeline"``)."""
        return self.model_index.get("_class_name")

    @property
    def denoiser(self) -> str | None:
        """The component that denoises (``"unet"``, ``"transformer"``, ``"prior"``, ``"decoder"``), if any."""
        for name in ("unet", "transformer", "prior", "decoder"):
            if name in self.components:
                return name
        return None

    def component_class(self, name: str) -> str | None:
        """Class of component ``name`` as ``model_index.json`` declares it (legacy names mapped)."""
        from ._flatten import canonical_class

        entry = self.model_index.get(name)
        declared = entry[1] if isinstance(entry, (list, tuple)) and len(entry) == 2 else None
        if declared is None:
            declared = self.components.get(name, {}).get("_class_name")
        return canonical_class(declared, self.components.get(name, {}))

    def to_json(self) -> dict:
        """A JSON-able dict (``model_index`` and ``components``) that :meth:`from_json` reads back."""
        return {"model_index": self.model_index, "components": self.components, "missing": list(self.missing)}

    @classmethod
    def from_json(cls, name: str, source: str, data: dict) -> "PipelineConfig":
        """Inverse of :meth:`to_json`."""
        return cls(name, source, data["model_index"], dict(data.get("components", {})),
                   tuple(data.get("missing", ())))


def read_json(path, what: str = "config") -> dict:
    """Read one JSON object; :class:`InputError` naming ``path`` when it is missing or malformed.

    Non-strict tokens (``NaN``, ``Infinity``, ``-Infinity``) are accepted, as in the real files.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file (the {what}).")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason}); expected a JSON {what}.") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno} ({exc.msg}).") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object, got a {type(data).__name__}.")
    return data


def _components(model_index: dict) -> list:
    """Names of the components ``model_index.json`` lists (entries ``[library, class]``)."""
    names = []
    for key, value in model_index.items():
        if key.startswith("_") or not isinstance(value, (list, tuple)) or len(value) != 2:
            continue
        if value[0] is None or value[1] is None or key.startswith(_NO_CONFIG):
            continue
        names.append(key)
    return names


def read_pipeline_dir(path, name: str | None = None) -> PipelineConfig:
    """Read a local diffusers pipeline folder.

    Parameters
    ----------
    path : str or Path
        Folder with ``model_index.json`` and the component folders.
    name : str, optional
        Model id; default: the folder name.

    Raises
    ------
    InputError
        No ``model_index.json``, or a malformed file (the message names it).
    """
    root = Path(path)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder; expected a diffusers pipeline folder with model_index.json.")
    index = read_json(root / "model_index.json", "pipeline index of a diffusers folder")
    components, missing = {}, []
    for component in _components(index):
        folder = root / component
        found = next((folder / f for f in _CONFIG_FILES if (folder / f).is_file()), None)
        if found is None:
            missing.append(component)
            continue
        components[component] = read_json(found, f"config of component {component!r}")
    return PipelineConfig(name or root.resolve().name, str(root), index, components, tuple(missing))


def looks_like_hub_id(text: str) -> bool:
    """Whether ``text`` reads as a Hugging Face repo id (``owner/name``) rather than a path."""
    return bool(_HUB_ID.match(text)) and not Path(text).exists()


def _reachable(endpoint: str | None, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hub opens (skipped behind a proxy: the proxy decides).

    huggingface_hub retries a refused connection five times with backoff (about 25 s); this probe
    turns an unreachable Hub into an immediate, clear error.
    """
    import socket
    from urllib.parse import urlparse

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")):
        return True
    url = urlparse(endpoint or "https://huggingface.co")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def download_pipeline(repo_id: str, *, revision: str | None = None, cache_dir=None) -> PipelineConfig:
    """Download only the JSON config files of a Hugging Face diffusers repo, then parse them.

    Honours ``HF_HUB_OFFLINE`` and ``HF_ENDPOINT`` (both read at call time). Offline, or when the
    Hub cannot be reached, only the local Hugging Face cache is used.

    Raises
    ------
    InputError
        Offline, unreachable Hub, unknown repo, or a malformed file; the message says which.
    MissingDependencyError
        ``huggingface_hub`` is not installed.
    """
    hub = require("huggingface_hub", "Downloading a pipeline config from the Hugging Face Hub", "models")
    errors = require("huggingface_hub.errors", "Downloading a pipeline config", "models")
    endpoint = os.environ.get("HF_ENDPOINT") or None
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    unreachable = not offline and not _reachable(endpoint)
    offline = offline or unreachable

    def fetch(filename: str, required: bool):
        try:
            return hub.hf_hub_download(repo_id, filename, revision=revision, cache_dir=cache_dir, endpoint=endpoint,
                                       local_files_only=offline, etag_timeout=10)
        except errors.LocalEntryNotFoundError:
            why = (f"the Hub ({endpoint or 'https://huggingface.co'}) cannot be reached" if unreachable
                   else "HF_HUB_OFFLINE is set")
            raise InputError(f"hf://{repo_id}: cannot download {filename}: offline ({why}) and it is not in the "
                             "local cache; pass a local diffusers folder instead (mnc zoo add PATH).") from None
        except errors.RepositoryNotFoundError:
            raise InputError(f"hf://{repo_id}: no such repo on the Hugging Face Hub (or it is private/gated "
                             "and no token is set).") from None
        except errors.EntryNotFoundError:
            if required:
                raise InputError(f"hf://{repo_id}: the repo has no {filename}; is it a diffusers pipeline?") from None
            return None
        except (OSError, errors.HfHubHTTPError) as exc:
            raise InputError(f"hf://{repo_id}: cannot download {filename} from the Hugging Face Hub "
                             f"({type(exc).__name__}: offline or unreachable); pass a local diffusers folder "
                             "instead.") from None

    index_path = fetch("model_index.json", required=True)
    index = read_json(index_path, f"pipeline index of hf://{repo_id}")
    components, missing = {}, []
    for component in _components(index):
        for filename in sorted(_CONFIG_FILES, key=lambda f: not f.startswith(component.split("_")[0])):
            path = fetch(f"{component}/{filename}", required=False)
            if path is not None:
                components[component] = read_json(path, f"config of component {component!r} of hf://{repo_id}")
                break
        else:
            missing.append(component)
    return PipelineConfig(repo_id.replace("/", "--"), f"hf://{repo_id}", index, components, tuple(missing))


def read_pipeline(source, name: str | None = None) -> PipelineConfig:
    """Read a pipeline from a local folder or, when ``source`` is not a path, a Hugging Face id.

    Examples
    --------
    >>> from matchchoose.features import default_zoo_dir
    >>> read_pipeline(default_zoo_dir() / "sd15").denoiser
    'unet'
    """
    text = os.fspath(source)
    if Path(text).exists() or not looks_like_hub_id(text):
        return read_pipeline_dir(text, name)
    config = download_pipeline(text)
    return config if name is None else PipelineConfig(name, config.source, config.model_index, config.components,
                                                      config.missing)
