"""KGeography's atlas: flags of countries and their subdivisions, and political maps with one
division highlighted.

Each ``*.kgm`` file (XML) describes one map: its palette image (``<mapFile>``), its name and, per
``<division>``, a name, an optional flag image and the RGB colour that paints it on the map.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ._render import open_image
from ._spec import Domain, Item, Package, Sources

__all__ = ["DOMAINS", "read_kgm"]

KGEOGRAPHY = Package("deb", "kgeography-data", "4:22.12.3-1", "GPL-2.0-or-later AND CC0-1.0",
                     sha256="1cdaf45dea7cbf1682a05109b4e9299934f0a60ca8866fa957cf4d9dcfe3982a", size_mb=10.9)
_BASE = "usr/share/kgeography"
HIGHLIGHT = (220, 30, 30)


def read_kgm(path: Path) -> dict:
    """One KGeography map: ``name``, ``divisions_name``, ``map_file`` and ``divisions``, each a dict
    with ``name``, ``flag`` (or ``None``), ``colour`` (RGB tuple or ``None``) and ``ignore`` (bool)."""
    root = ET.parse(path).getroot()

    def text(node, tag, default=""):
        found = node.find(tag)
        return (found.text or "").strip() if found is not None and found.text else default

    divisions = []
    for div in root.iter("division"):
        colour = div.find("color")
        rgb = None
        if colour is not None:
            try:
                rgb = tuple(int(text(colour, c)) for c in ("red", "green", "blue"))
            except ValueError:
                rgb = None
        divisions.append({"name": text(div, "name"), "flag": text(div, "flag") or None, "colour": rgb,
                          "ignore": text(div, "ignore", "no").lower() not in ("", "no", "false")})
    return {"name": text(root, "name"), "divisions_name": text(root, "divisionsName"),
            "map_file": text(root, "mapFile"), "divisions": divisions}


def _maps(base: Path):
    for kgm in sorted(base.glob("*.kgm")):
        try:
            yield kgm, read_kgm(kgm)
        except ET.ParseError:  # one broken map must not hide the others
            continue


def flags(src: Sources):
    """Every flag a map names, once: countries and their states, provinces, regions."""
    base = src[KGEOGRAPHY.name] / _BASE
    seen = set()
    for kgm, info in _maps(base):
        countries = re.search(r"countr", info["divisions_name"], re.I) is not None
        for div in info["divisions"]:
            flag = div["flag"]
            if not flag or flag in seen or not (base / "flags" / flag).is_file():
                continue
            seen.add(flag)
            region = re.sub(r"\s*\(.*\)$", "", info["name"])
            where = "" if countries or not region else f" ({region})"
            yield Item(key=f"flags/{flag}", load=lambda p=base / "flags" / flag: open_image(p),
                       fields={"place": div["name"], "where": where}, meta={"map": kgm.name}, package=KGEOGRAPHY.name)


def _highlight(path: Path, rgb):
    import numpy as np
    from PIL import Image

    arr = np.asarray(open_image(path).convert("RGB"))
    mask = (arr == np.asarray(rgb, dtype=arr.dtype)).all(axis=-1)
    out = (arr * 0.35 + 160).astype(np.uint8)  # everything else washed out
    out[mask] = HIGHLIGHT
    return Image.fromarray(out, "RGB")


def maps(src: Sources):
    """One image per (map, division): the political map with that division in red."""
    base = src[KGEOGRAPHY.name] / _BASE
    for kgm, info in _maps(base):
        path = base / info["map_file"]
        if not path.is_file():
            continue
        what = f"{info['name']} by {info['divisions_name'].lower()}" if info["divisions_name"] else info["name"]
        for div in info["divisions"]:
            if div["ignore"] or div["colour"] is None or not div["name"]:
                continue
            yield Item(key=f"{kgm.name}#{div['name']}", load=lambda p=path, c=div["colour"]: _highlight(p, c),
                       fields={"map": what, "division": div["name"]}, meta={"map_file": info["map_file"]},
                       package=KGEOGRAPHY.name)


DOMAINS = [
    Domain("kgeography_flags", "flags of countries, states, provinces and regions (KGeography)", "flags and maps",
           (KGEOGRAPHY,), "GPL-2.0-or-later AND CC0-1.0", "flag of {place}{where}", flags,
           attribution="KGeography, KDE (GPL-2.0-or-later; flags mostly public domain)"),
    Domain("kgeography_maps", "political maps with one division highlighted in red (KGeography)",
           "flags and maps", (KGEOGRAPHY,), "GPL-2.0-or-later", "map of {map} with {division} highlighted in red",
           maps, attribution="KGeography, KDE (GPL-2.0-or-later)"),
]
