"""``mnc cache``: what the caches hold, and clearing them (everything in them is recomputed on demand)."""

from __future__ import annotations

import json

import click

from ._common import console
from ._table import Col, print_table

__all__ = ["cache"]


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f}"


@click.group()
def cache():
    """Show and clear matchchoose's caches ($MNC_CACHE_DIR, else ~/.cache/matchchoose).

    Example: mnc cache info
    """


@cache.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per cache) instead of a table.")
def info(as_json):
    """List the caches: folder, files, size and what each holds.

    Example: mnc cache info --json
    """
    from .._cache import cache_info
    from .._paths import default_cache_dir

    entries = cache_info()
    if as_json:
        click.echo(json.dumps(entries, indent=1))
        return
    rows = [[e["name"], e["files"], _mb(e["bytes"]), e["description"]] for e in entries]
    print_table(console, f"Caches in {default_cache_dir()}",
                [Col("cache"), Col("files", "right"), Col("MB", "right"), Col("holds", exact=False, drop=1)], rows,
                hint="mnc cache info --json")


@cache.command()
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every cache (the micro zoo's downloaded packages included).")
def clear(names, all_):
    """Remove the caches NAMES (see mnc cache info); they are rebuilt when needed.

    Clearing 'default-kb' also drops what mnc choose profiled into the embedded knowledge base's
    working copy (those folders are profiled again on their next use).

    Example: mnc cache clear predictors node2vec
    """
    from .._cache import CACHES, clear_cache

    if bool(names) == all_:
        raise click.UsageError(f"Name the caches to clear ({', '.join(CACHES)}), or pass --all.")
    freed = clear_cache(None if all_ else names)
    for name, size in freed.items():
        console.print(f"cleared {name} ({_mb(size)} MB)", highlight=False)
