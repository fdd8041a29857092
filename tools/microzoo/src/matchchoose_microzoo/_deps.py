"""Optional dependencies of the micro zoo tooling: imported lazily, or a one-line error saying what to install."""

from __future__ import annotations

import importlib

from matchchoose import MissingDependencyError

__all__ = ["INSTALL", "require"]

#: How to install this package with its dependencies (cairosvg among them), from the repository root.
INSTALL = "pip install -e tools/microzoo"


def require(module: str, feature: str):
    """Import ``module``, or raise :class:`~matchchoose.MissingDependencyError` naming what to install.

    Examples
    --------
    >>> json = require("json", "the micro zoo")
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(f"{feature} requires {module.split('.')[0]}: {INSTALL}") from exc
