"""Icon sets in four styles: silhouettes, pixel icons, thin line icons and glossy desktop icons."""

from __future__ import annotations

import json

from ._render import open_image, svg_image
from ._spec import Domain, Item, Package, Sources
from ._text import nice

__all__ = ["DOMAINS", "iconify_svg"]

GAME_ICONS = Package("npm", "@iconify-json/game-icons", "1.2.4", "CC-BY-3.0",
                     sha256="f5758efb34d91c4f50b941f355f16ee73938625e5996fabc25171288404460a4", size_mb=2.7)
PIXELARTICONS = Package("npm", "@iconify-json/pixelarticons", "1.2.9", "MIT",
                        sha256="f3e7c9b8ae9fb75f214207d5657e7a75084f9f368ea9d6cbfb211fa96d8978fb", size_mb=0.05)
TABLER = Package("npm", "@tabler/icons", "3.51.0", "MIT",
                 sha256="b30108713d3fa60aee862c2a133225da8e0f309be0708fe2925763ff810c766c", size_mb=1.2)
OXYGEN = Package("deb", "oxygen-icon-theme", "5:5.103.0-1", "LGPL-3.0-or-later",
                 sha256="3e49023e148906e41457a98a19a09858ddd761ef4f212fa356232924b3cebcce", size_mb=31.8)


def iconify_svg(icon: dict, width: int, height: int) -> bytes:
    """A standalone SVG document from one entry of an Iconify ``icons.json`` (its ``body`` is the inner markup).

    Examples
    --------
    >>> iconify_svg({"body": "<path d='M0 0h1v1z'/>"}, 16, 16)[:40]
    b'<svg xmlns="http://www.w3.org/2000/svg" '
    """
    w, h = icon.get("width", width), icon.get("height", height)
    left, top = icon.get("left", 0), icon.get("top", 0)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{left} {top} {w} {h}" width="{w}" height="{h}" '
            f'color="black">{icon["body"]}</svg>').encode()


def _iconify(src: Sources, pkg: Package, *, native: bool = False):
    """Every icon of an ``@iconify-json/*`` set (aliases skipped: they repeat an icon); ``native``
    renders at the icon's own grid size (one pixel per cell, for pixel icons)."""
    data = json.loads((src[pkg.name] / "icons.json").read_text(encoding="utf-8"))
    width, height = data.get("width", 16), data.get("height", 16)
    for key, icon in sorted(data["icons"].items()):
        if icon.get("hidden"):
            continue
        svg = iconify_svg(icon, width, height)
        px = icon.get("width", width) if native else 512
        yield Item(key=f"icons.json#{key}", load=lambda s=svg, px=px: svg_image(s, px), fields={"name": nice(key)},
                   package=pkg.name)


def game_icons(src: Sources):
    """game-icons.net: black silhouettes of weapons, creatures, objects."""
    return _iconify(src, GAME_ICONS)


def pixelarticons(src: Sources):
    """pixelarticons: 24 x 24 pixel-grid UI icons."""
    return _iconify(src, PIXELARTICONS, native=True)


def tabler_icons(src: Sources):
    """Tabler's outline icons (2 px strokes on a 24 px grid), captioned with the name and category."""
    root = src[TABLER.name]
    meta = json.loads((root / "icons.json").read_text(encoding="utf-8"))
    for path in sorted((root / "icons" / "outline").glob("*.svg")):
        category = (meta.get(path.stem) or {}).get("category") or ""
        yield Item(key=f"icons/outline/{path.name}", load=lambda p=path: svg_image(p.read_bytes(), 512),
                   fields={"name": nice(path.stem), "category": f" ({category.lower()})" if category else ""},
                   meta={"category": category}, package=TABLER.name)


def oxygen_icons(src: Sources):
    """KDE's Oxygen theme at 128 px: glossy, shaded desktop icons, named by freedesktop icon names."""
    base = src[OXYGEN.name] / "usr/share/icons/oxygen/base/128x128"
    for path in sorted(base.glob("*/*.png")):
        if path.is_symlink():  # aliases of other icons
            continue
        yield Item(key=str(path.relative_to(base)), load=lambda p=path: open_image(p),
                   fields={"name": nice(path.stem), "context": path.parent.name}, package=OXYGEN.name)


DOMAINS = [
    Domain("game_icons", "game-icons.net black silhouette icons", "icons", (GAME_ICONS,), "CC-BY-3.0",
           "{name} icon, black silhouette", game_icons, requires=("cairosvg",),
           attribution="Icons by Lorc, Delapouite and contributors, https://game-icons.net (CC BY 3.0)"),
    Domain("pixelarticons", "pixelarticons: monochrome 24 px pixel-grid UI icons", "icons", (PIXELARTICONS,),
           "MIT", "{name} pixel icon", pixelarticons, trim=True, pixel_art=True, requires=("cairosvg",),
           attribution="pixelarticons by Gerrit Halfmann (MIT)"),
    Domain("tabler_icons", "Tabler outline icons: thin uniform strokes", "icons", (TABLER,), "MIT",
           "{name} line icon{category}", tabler_icons, requires=("cairosvg",),
           attribution="Tabler Icons, https://tabler.io/icons (MIT)"),
    Domain("oxygen_icons", "KDE Oxygen desktop icons: glossy, shaded, 128 px", "icons", (OXYGEN,),
           "LGPL-3.0-or-later", "{name} icon, glossy Oxygen desktop style ({context})", oxygen_icons,
           attribution="Oxygen icon theme, KDE (LGPL-3.0-or-later)"),
]
