"""Options and helpers shared by the ``mnc`` commands."""

from __future__ import annotations

import os
import sys

import click
from rich.console import Console

console = Console(width=None if sys.stdout.isatty() else 150)
console_err = Console(stderr=True)
EMBEDDED = ":embedded:"


def kb_option(func=None, *, embedded: bool = False):
    """``--kb PATH``: the knowledge base; default ``$MNC_KB`` or the user data directory (and, for
    commands that only read results, the embedded micro-zoo knowledge base when neither exists)."""
    from ..kb import default_kb_path

    def decorate(f):
        fallback = ", else (when that does not exist) the embedded micro-zoo knowledge base" if embedded else ""
        return click.option(
            "--kb",
            "kb_path",
            type=click.Path(dir_okay=False),
            default=None,
            show_default=False,
            help=f"Knowledge base (SQLite; ':embedded:' for the one that ships with matchchoose). Default: $MNC_KB, "
                 f"else {default_kb_path(env=False)}{fallback}.",
        )(f)

    return decorate(func) if func is not None else decorate


def resolve_kb_path(kb_path, *, embedded: bool = False) -> str:
    """The path ``--kb`` names, or the documented default.

    ``--kb :embedded:`` names the embedded knowledge base (its working copy) explicitly.
    With ``embedded``: when no ``--kb`` is given, ``$MNC_KB`` is unset and no knowledge base
    exists at the user default path, a working copy of the embedded knowledge base (a note on
    stderr says so).
    """
    from ..kb import default_kb_path

    if kb_path == EMBEDDED:
        from ..kb import embedded_kb

        return str(embedded_kb())
    if kb_path:
        return kb_path
    path = default_kb_path()
    if embedded and not os.environ.get("MNC_KB") and not path.exists():
        from ..kb import embedded_kb

        copy = embedded_kb()
        console_err.print(f"No knowledge base given: using the embedded micro-zoo knowledge base (working copy "
                          f"{copy}); pass --kb or set MNC_KB to use your own.", style="dim", highlight=False)
        return str(copy)
    return str(path)
