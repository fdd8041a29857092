"""Exception types of matchchoose.

Every error the library raises on bad input is a :class:`MatchChooseError`; the CLI turns it into a
one-line message and a non-zero exit code, never a traceback. Messages name the input (file, line,
column, dataset, model) and say what to do.
"""

from __future__ import annotations

__all__ = [
    "MatchChooseError",
    "InputError",
    "KnowledgeBaseError",
    "NotFittedError",
    "MissingDependencyError",
]


class MatchChooseError(Exception):
    """Base class of every error matchchoose raises on purpose."""


class InputError(MatchChooseError, ValueError):
    """Bad user input: a file, a column, a value, a parameter."""


class KnowledgeBaseError(MatchChooseError):
    """The knowledge base cannot answer (missing metric, no results, wrong schema version...)."""


class NotFittedError(MatchChooseError, AttributeError):
    """``predict`` was called before ``fit``."""

    def __init__(self, obj: object):
        name = type(obj).__name__
        super().__init__(f"This {name} instance is not fitted yet: call 'fit' before using it.")


class MissingDependencyError(MatchChooseError, ImportError):
    """An optional dependency is not installed."""


def require(module: str, feature: str, extra: str):
    """Import ``module`` lazily, or raise an error that says what to install.

    Examples
    --------
    >>> np = require("numpy", "the engine", "core")
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f"{feature} requires {module.split('.')[0]}: pip install 'matchchoose[{extra}]'"
        ) from exc
