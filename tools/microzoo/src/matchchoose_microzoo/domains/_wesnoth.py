"""Battle for Wesnoth: unit sprites, painted portraits and hexagonal terrain tiles.

Units and portraits are named from the unit definitions (``data/core/units/**/*.cfg``, WML): each
``[unit_type]`` gives ``name``, ``race``, ``image`` (the sprite) and ``profile`` (the portrait), and
its ``[female]`` and ``[variation]`` children override them. The game recolours the magenta "team
colour" pixels of sprites and portraits at run time; we apply its default (red) range with the
game's own algorithm (``recolor_range`` in ``src/color_range.cpp``), so nothing looks magenta.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from ._render import open_image
from ._spec import Domain, Item, Package, Sources
from ._text import nice, parse_wml, strip_digits

__all__ = ["DOMAINS", "team_colour_map", "unit_entries"]

WESNOTH = Package("deb", "wesnoth-1.16-data", "1:1.16.9-1", "GPL-2.0-or-later",
                  sha256="1012b964bd412a6770685e3324ae3b61e176caff7846192d1ee63d55cd621e26", size_mb=146)
_RACES = {"lizard": "saurian", "merman": "merfolk", "bats": "bat", "wolf": "wolf", "elf": "elvish"}
#: Terrain files whose stem ends in a direction or a joint are transitions between two tiles.
_TRANSITION = re.compile(r"-(n|ne|nw|s|se|sw|e|w|in|out|inner|outer|convex|concave|corner|[tb][lr]|[lr]|"
                         r"tile-\w+|overlay|base|mask|shadow|fade|small)(?=[-\d]|$)")
_TERRAIN_SKIP = ("masks", "fog", "off-map", "void", "symbols", "light", "embellishments", "transitions",
                 "map-specific", "portals", "misc", "interior", "walls")
#: Parts of multi-hex images (``dry6_1``: piece 1 of a 6-hex mountain range) and masks.
_TERRAIN_PIECE = re.compile(r"\d+_\d+$|(^|[-_])(mask|transition|editor)([-_]|$)")
#: Side of a Wesnoth hex tile; opaque square tiles get the game's hexagonal alpha mask.
HEX = 72


def _data(src: Sources) -> Path:
    """``usr/share/games/wesnoth/1.16/data/core``."""
    return next((src[WESNOTH.name] / "usr/share/games/wesnoth").glob("*/data/core"))


def _image_path(value: str) -> str:
    """An image attribute without its image-path functions: ``units/x.png~RC(a>b)`` -> ``units/x.png``."""
    return value.split("~")[0].split(":")[0].strip()


def unit_entries(core: Path) -> list[dict]:
    """One dict per unit look: ``unit``, ``race``, ``image``, ``profile`` and ``cfg`` (sorted by cfg path).

    ``[female]`` children give "female X" entries, ``[variation]`` children "X (V variation)" ones;
    units flagged ``do_not_list`` and the ``fake`` folder are skipped.
    """
    out = []
    for cfg in sorted((core / "units").rglob("*.cfg")):
        rel = cfg.relative_to(core).as_posix()
        if "/fake/" in f"/{rel}":
            continue
        root = parse_wml(cfg.read_text(encoding="utf-8", errors="replace"))
        for unit in root.find("unit_type"):
            base = unit.attrs
            if base.get("do_not_list") == "yes" or "name" not in base:
                continue
            name = base["name"].split("^")[-1]
            race = _RACES.get(base.get("race", ""), base.get("race", "unknown"))
            looks = [(name, base)]
            for female in unit.find("female"):
                looks.append((f"female {female.attrs.get('name', name).split('^')[-1]}", {**base, **female.attrs}))
            for var in unit.find("variation"):
                label = var.attrs.get("variation_name", var.attrs.get("variation_id", "")).split("^")[-1]
                vname = var.attrs.get("name", name).split("^")[-1]
                looks.append((f"{vname}, {label.lower()} variation" if label else vname, {**base, **var.attrs}))
            for label, attrs in looks:
                out.append({"unit": label.replace("female female ", "female "), "race": race, "cfg": rel,
                            "image": _image_path(attrs.get("image", "")),
                            "profile": _image_path(attrs.get("profile", ""))})
    return out


def team_colour_map(core: Path, team: str = "red") -> dict[tuple[int, int, int], tuple[int, int, int]]:
    """Magenta key colour -> team colour, as the game computes it (``recolor_range``)."""
    text = (core / "team-colors.cfg").read_text(encoding="utf-8")
    palette = re.search(r"^\s*magenta=([0-9A-Fa-f,]+)", text, re.M).group(1).split(",")
    block = re.search(rf"\[color_range\]\s*id={team}\s*rgb=([0-9A-Fa-f,]+)", text).group(1).split(",")
    mid, high, low = ([int(c[i:i + 2], 16) for i in (0, 2, 4)] for c in block[:3])
    keys = [tuple(int(c[i:i + 2], 16) for i in (0, 2, 4)) for c in palette]
    reference = sum(keys[0]) // 3
    out = {}
    for key in keys:
        avg = sum(key) // 3
        if reference and avg <= reference:
            ratio = avg / reference
            new = [int(ratio * m + (1 - ratio) * lo) for m, lo in zip(mid, low)]
        else:
            ratio = (255.0 - avg) / (255.0 - reference)
            new = [int(ratio * m + (1 - ratio) * hi) for m, hi in zip(mid, high)]
        out[key] = tuple(min(255, v) for v in new)
    return out


def _recolour(img, mapping):
    """Replace the magenta key colours of ``img`` (RGBA) by ``mapping``'s colours."""
    import numpy as np
    from PIL import Image

    arr = np.array(img.convert("RGBA"))
    rgb = arr[..., :3].astype(np.int32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    for (r, g, b), new in mapping.items():
        mask = packed == ((r << 16) | (g << 8) | b)
        if mask.any():
            arr[mask, :3] = new
    return Image.fromarray(arr, "RGBA")


def _units(src: Sources, attr: str):
    core = _data(src)
    colours = lru_cache(maxsize=1)(lambda: team_colour_map(core))
    seen = set()
    for entry in unit_entries(core):
        rel = entry[attr]
        path = core / "images" / rel
        if not rel or rel in seen or not path.is_file():
            continue
        seen.add(rel)
        yield entry, rel, (lambda p=path: _recolour(open_image(p), colours()))
    if attr == "profile":  # portraits no unit points at (heroes of the campaigns): named from the path
        base = core / "images" / "portraits"
        for path in sorted(base.rglob("*.png")):
            rel = path.relative_to(core / "images").as_posix()
            if rel in seen or "transparent" in path.parts:
                continue
            folder = path.parent.relative_to(base).as_posix()
            who = {"unit": f"a {nice(strip_digits(path.stem))}", "race": nice(folder) or "character"}
            yield who, rel, (lambda p=path: _recolour(open_image(p), colours()))


def wesnoth_units(src: Sources):
    """Unit sprites (72 x 72 pixel art), one per unit and gender or variation."""
    for entry, rel, load in _units(src, "image"):
        yield Item(key=f"images/{rel}", load=load, fields={"unit": entry["unit"], "race": entry["race"]},
                   meta={"cfg": entry["cfg"]}, package=WESNOTH.name)


def wesnoth_portraits(src: Sources):
    """Painted portraits (about 400 px, transparent background) of units and campaign characters."""
    for entry, rel, load in _units(src, "profile"):
        who = entry["unit"] if entry["unit"].startswith("a ") else f"the {entry['unit']}"
        yield Item(key=f"images/{rel}", load=load, fields={"who": who, "race": entry["race"]},
                   meta={"cfg": entry.get("cfg", "")}, package=WESNOTH.name)


def _hex_tile(path: Path, mask_path: Path):
    """A terrain image; an opaque 72 x 72 tile is cut to a hexagon with the game's ``alphamask.png``."""
    img = open_image(path)
    if img.mode != "RGBA" and img.size == (HEX, HEX) and mask_path.is_file():
        img = img.convert("RGBA")
        img.putalpha(open_image(mask_path).convert("RGBA").getchannel("A"))
    return img


def _is_tile(path: Path) -> bool:
    """A hex tile or an overlay (alpha), not an animation sheet or a square texture."""
    from PIL import Image

    with Image.open(path) as img:
        return img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info or img.size == (HEX, HEX)


def wesnoth_terrain(src: Sources):
    """Base hexagonal terrain tiles and their overlays (villages, forests, castles); transitions
    between terrains, pieces of multi-hex images and interior decoration left out."""
    base = _data(src) / "images" / "terrain"
    mask = base / "alphamask.png"
    for path in sorted(base.rglob("*.png")):
        parts = path.relative_to(base).parts
        stem = strip_digits(path.stem)
        if (len(parts) < 2 or parts[0] in _TERRAIN_SKIP or _TRANSITION.search(stem)
                or _TERRAIN_PIECE.search(path.stem) or not _is_tile(path)):
            continue
        words = [w for w in nice(re.sub(r"\d+", " ", path.stem)).split() if w not in ("tile", "base")]
        words += [w for w in nice(parts[0]).split() if w not in words]
        name = " ".join(dict.fromkeys(words))
        yield Item(key=f"images/terrain/{'/'.join(parts)}", load=lambda p=path: _hex_tile(p, mask),
                   fields={"terrain": name}, meta={"folder": "/".join(parts[:-1])}, package=WESNOTH.name)


_CREDIT = "Battle for Wesnoth, https://www.wesnoth.org (GPL-2.0-or-later)"
DOMAINS = [
    Domain("wesnoth_units", "Battle for Wesnoth unit sprites: 72 px pixel art", "game art", (WESNOTH,),
           "GPL-2.0-or-later", "pixel-art game sprite of the {unit} ({race} unit) from Battle for Wesnoth",
           wesnoth_units, trim=True, pixel_art=True, attribution=_CREDIT),
    Domain("wesnoth_portraits", "Battle for Wesnoth character portraits: painted, about 400 px", "game art",
           (WESNOTH,), "GPL-2.0-or-later", "painted fantasy portrait of {who} ({race}) from Battle for Wesnoth",
           wesnoth_portraits, trim=True, attribution=_CREDIT),
    Domain("wesnoth_terrain", "Battle for Wesnoth hexagonal terrain tiles", "game art", (WESNOTH,),
           "GPL-2.0-or-later", "hexagonal map tile of {terrain} terrain from Battle for Wesnoth", wesnoth_terrain,
           trim=True, attribution=_CREDIT),
]
