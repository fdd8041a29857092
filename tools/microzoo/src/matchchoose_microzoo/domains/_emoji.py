"""Emoji in three visual styles: a colour bitmap font, 3D renders and flat outlined vector art.

Names come from the ``emoji`` wheel's ``unicode_codes/emoji.json`` (CLDR short names), read as a
data file of the pinned wheel: the ``emoji`` package itself is never imported, so captions do not
change with whatever version happens to be installed.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from ._render import font, glyph_image, open_image, svg_image
from ._spec import Domain, Item, Package, Sources
from ._text import nice

__all__ = ["DOMAINS", "emoji_names"]

EMOJI_WHEEL = Package("pip", "emoji", "2.16.0", "BSD-3-Clause",
                      sha256="c4230d80640def9071599ff56b1b5950fe13a2a94c0da98c5deab12431b24330", size_mb=0.6)
NOTO_FONT = Package("deb", "fonts-noto-color-emoji", "2.042-0+deb12u1", "OFL-1.1 AND Apache-2.0",
                    sha256="a5ab0f69c7938423862320d9aca5dd187b3fd879d6a9a57dd52e17c3fa8d2751", size_mb=9.9)
FLUENT_3D = Package("npm", "@lobehub/fluent-emoji-3d", "1.1.0", "MIT",
                    sha256="c1bb7eee7de090205a232518a9ab4adb3df458bfbe8a1f78232991194c8b2e58", size_mb=15.8)
OPENMOJI = Package("npm", "openmoji", "17.0.0", "CC-BY-SA-4.0",
                   sha256="55ee7d13485dec86e9f38c1f3a645a13382d33ff97c0cd845ee824b0aef45e68", size_mb=4.3)

#: Noto Color Emoji 2.042 covers Emoji 15.0; newer sequences would render as several glyphs.
NOTO_EMOJI_VERSION = 15.0
#: The font's only bitmap strike (CBDT), in pixels per em.
NOTO_STRIKE = 109
FULLY_QUALIFIED = 2


def emoji_names(root: Path) -> dict[str, dict]:
    """The ``emoji`` wheel's table: emoji sequence -> ``{"en": ":name:", "status": int, "E": version}``."""
    path = Path(root) / "emoji" / "unicode_codes" / "emoji.json"
    return json.loads(path.read_text(encoding="utf-8"))


def emoji_name(entry: dict, sequence: str = "") -> str:
    """``":palm_down_hand_dark_skin_tone:"`` -> ``"palm down hand dark skin tone"``; flags, whose
    CLDR name is just the place, become ``"flag of <place>"``.

    Examples
    --------
    >>> emoji_name({"en": ":A_button_(blood_type):"})
    'A button (blood type)'
    >>> emoji_name({"en": ":Marshall_Islands:"}, "\U0001F1F2\U0001F1ED")
    'flag of Marshall Islands'
    """
    name = nice(entry["en"].strip(":"))
    first = ord(sequence[0]) if sequence else 0
    if 0x1F1E6 <= first <= 0x1F1FF or (first == 0x1F3F4 and len(sequence) > 2):  # regional indicators, tag flags
        return f"flag of {name}"
    return name


def _codepoints_key(sequence: str) -> str:
    """Lower-case hex code points joined by ``-``, variation selector 16 dropped (file-name form)."""
    return "-".join(f"{ord(ch):x}" for ch in sequence if ch != "\ufe0f")


# ----------------------------------------------------------------------------------- extractors
def noto_emoji(src: Sources):
    """Every fully-qualified emoji up to Emoji 15.0, drawn with the font's colour bitmaps."""
    ttf = src[NOTO_FONT.name] / "usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
    load_font = lru_cache(maxsize=1)(lambda: font(ttf, NOTO_STRIKE))

    def render(seq):
        img = glyph_image(load_font(), seq, 160, embedded_color=True)
        if img is None:
            return None
        box = img.getbbox()
        if box[2] - box[0] > 1.3 * NOTO_STRIKE:  # no ligature: the sequence fell apart into glyphs
            return None
        return img

    names = emoji_names(src[EMOJI_WHEEL.name])
    for seq, entry in names.items():
        if entry.get("status") != FULLY_QUALIFIED or entry.get("E", 99) > NOTO_EMOJI_VERSION:
            continue
        yield Item(key=f"U+{_codepoints_key(seq).upper()}", load=lambda s=seq: render(s),
                   fields={"name": emoji_name(entry, seq)}, meta={"emoji": seq, "emoji_version": entry["E"]},
                   package=NOTO_FONT.name)


def fluent_emoji_3d(src: Sources):
    """Microsoft's Fluent 3D emoji (256 px WebP), named by code points, captioned via the emoji table."""
    by_codepoints = {}
    for seq, entry in emoji_names(src[EMOJI_WHEEL.name]).items():
        if entry.get("status") == FULLY_QUALIFIED:
            by_codepoints.setdefault(_codepoints_key(seq), (seq, entry))
    assets = src[FLUENT_3D.name] / "assets"
    for path in sorted(assets.glob("*.webp")):
        found = by_codepoints.get(path.stem.lower().replace("-fe0f", ""))
        if found is None:  # a few files are not emoji code points
            continue
        seq, entry = found
        yield Item(key=f"assets/{path.name}", load=lambda p=path: open_image(p),
                   fields={"name": emoji_name(entry, seq)},
                   meta={"emoji": seq}, package=FLUENT_3D.name)


def openmoji(src: Sources):
    """OpenMoji's colour SVGs (black outlines, flat colours), named by the package's own annotations."""
    root = src[OPENMOJI.name]
    entries = json.loads((root / "data" / "openmoji.json").read_text(encoding="utf-8"))
    for entry in entries:
        path = root / "color" / "svg" / f"{entry['hexcode']}.svg"
        if entry.get("group") == "component" or not path.is_file():
            continue
        yield Item(key=f"color/svg/{path.name}", load=lambda p=path: svg_image(p.read_bytes(), 512),
                   fields={"name": entry["annotation"]},
                   meta={"group": entry.get("group", ""), "author": entry.get("openmoji_author", "")},
                   package=OPENMOJI.name)


DOMAINS = [
    Domain("noto_emoji", "emoji drawn from the Noto Color Emoji font (glossy flat bitmaps)", "emoji",
           (NOTO_FONT, EMOJI_WHEEL), "OFL-1.1 (font) AND Apache-2.0 (artwork)", "{name} emoji", noto_emoji,
           trim=True, attribution="Noto Color Emoji, Google (Apache-2.0)"),
    Domain("fluent_emoji_3d", "Microsoft Fluent emoji, 3D-rendered", "emoji", (FLUENT_3D, EMOJI_WHEEL), "MIT",
           "{name} emoji, 3D render", fluent_emoji_3d, trim=True,
           attribution="Fluent Emoji, Microsoft (MIT), packaged by LobeHub"),
    Domain("openmoji", "OpenMoji emoji: flat colours with black outlines (SVG)", "emoji", (OPENMOJI,),
           "CC-BY-SA-4.0", "{name} emoji, OpenMoji outlined style", openmoji, trim=True, requires=("cairosvg",),
           attribution="OpenMoji, the open-source emoji and icon project (CC BY-SA 4.0), https://openmoji.org"),
]
