"""Where matchchoose keeps caches (fitted predictors, graph embeddings, converted probe weights,
reference embeddings, the working copy of the embedded knowledge base)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_cache_dir"]


def default_cache_dir() -> Path:
    """``$MNC_CACHE_DIR``, else ``$XDG_CACHE_HOME/matchchoose`` (``~/.cache/matchchoose``)."""
    env = os.environ.get("MNC_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "matchchoose"
