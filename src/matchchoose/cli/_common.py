"""Options and helpers shared by the ``mnc`` commands."""

from __future__ import annotations

import sys

import click
from rich.console import Console

console = Console(width=None if sys.stdout.isatty() else 150)
console_err = Console(stderr=True)


def kb_option(func):
    """``--kb PATH``: the knowledge base; default ``$MNC_KB`` or the user data directory."""
    from ..kb import default_kb_path

    return click.option(
        "--kb",
        "kb_path",
        type=click.Path(dir_okay=False),
        default=None,
        show_default=False,
        help=f"Knowledge base (SQLite). Default: $MNC_KB, else {default_kb_path(env=False)}.",
    )(func)


def resolve_kb_path(kb_path):
    """The path ``--kb`` names, or the documented default."""
    from ..kb import default_kb_path

    return kb_path if kb_path else str(default_kb_path())
