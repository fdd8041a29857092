"""The knowledge base that ships with matchchoose: the micro zoo's recorded results.

``matchchoose/kb/default/microzoo.sqlite`` holds the results, prescores, dataset profiles and
distances and model configs of the micro zoo (7 small text-to-image models pretrained on CPU, LoRA
fine-tuned on real captioned image domains and scored with DINOv2; see ``docs/microzoo.md``).
``mnc choose`` uses it when no knowledge base is given (no ``--kb``, no ``$MNC_KB``, and no
knowledge base at the user default path).

The packaged file is never written to: :func:`embedded_kb` copies it once into the cache
(``$MNC_CACHE_DIR/default-kb/``, named by its content hash), and the copy receives the profiles
and distances of the folders ranked against it. A new version of the package brings a new file,
hence a fresh copy.
"""

from __future__ import annotations

import hashlib
import shutil
from importlib import resources
from pathlib import Path

from .. import _cache
from .._errors import KnowledgeBaseError

__all__ = ["EMBEDDED_KB_NAME", "embedded_kb", "embedded_kb_file"]

EMBEDDED_KB_NAME = "microzoo.sqlite"


def embedded_kb_file() -> Path | None:
    """The packaged (read-only) file, or ``None`` when this installation lacks it."""
    path = Path(str(resources.files("matchchoose.kb").joinpath("default", EMBEDDED_KB_NAME)))
    return path if path.is_file() else None


def embedded_kb(cache_dir=None) -> Path:
    """A writable working copy of the embedded knowledge base (made on first use).

    Parameters
    ----------
    cache_dir : path, optional
        Where the copy goes (default ``$MNC_CACHE_DIR/default-kb``).
    """
    source = embedded_kb_file()
    if source is None:
        raise KnowledgeBaseError(f"This installation of matchchoose lacks its embedded knowledge base "
                                 f"(matchchoose/kb/default/{EMBEDDED_KB_NAME}): reinstall it, or pass --kb.")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir is not None else _cache.cache_dir("default-kb")
    target = root / f"{source.stem}-{digest}.sqlite"
    if not target.is_file():
        try:
            with source.open("rb") as packaged:  # atomic: concurrent first uses never see half a file
                _cache.atomic_write(target, lambda copy: shutil.copyfileobj(packaged, copy))
        except OSError as exc:
            raise KnowledgeBaseError(f"Cannot copy the embedded knowledge base to {root}: {exc.strerror or exc}; "
                                     "set MNC_CACHE_DIR to a writable folder.") from exc
    return target
