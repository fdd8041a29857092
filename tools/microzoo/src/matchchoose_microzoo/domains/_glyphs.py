"""Rendered writing: Latin letters in classic typefaces, letters of the world's scripts, and kanji
stroke-order diagrams.

Glyphs are drawn centred at a fixed size per em (``glyph_image``), not stretched to fill the
frame, so a lowercase 'x' stays smaller than a capital 'X'.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from .._deps import require as require_tool
from ._render import font, glyph_image
from ._spec import Domain, Item, Package, Sources

__all__ = ["DOMAINS", "parse_kanjidic", "script_letters"]

URW = Package("deb", "fonts-urw-base35", "20200910-7", "AGPL-3.0-only WITH PS-or-PDF-font-exception-20170817",
              sha256="93e4997c99c4c31ea88c5d37e2259af0a0c826b9358931d5a69f794f7f0c73ac", size_mb=10.8)
NOTO_CORE = Package("deb", "fonts-noto-core", "20201225-1", "OFL-1.1",
                    sha256="58f4f0bb6720f919f92096b3508e1412a0f1544424ade6c5b5bf1eb694dd64ba", size_mb=12.2)
KANJI_FONT = Package("deb", "fonts-kanjistrokeorders", "4.003~dfsg-1", "BSD-3-Clause",
                     sha256="e90f1f37f84c4741f1cba873fe0df000c3b2c9ad66e9b0a757096f73c8883045", size_mb=7.1)
KANJIDIC = Package("deb", "kanjidic", "2022.08.23", "CC-BY-SA-3.0",
                   sha256="7c6c23db82dd6c1ad4827c7180967c2e4b6276ccb9795a68e455868eca4b618b", size_mb=0.4)

CANVAS = 256
_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#: URW faces whose letters are symbols or dingbats, not Latin letters.
_SYMBOL_FACES = ("StandardSymbolsPS", "D050000L")
#: Noto families that are not a script of their own (Latin/Greek/Cyrillic, symbols, notation).
_NOT_SCRIPTS = re.compile(r"^Noto(Sans|Serif)(Display|Mono|Math|Symbols2?|SignWriting|IndicSiyaqNumbers|"
                          r"MayanNumerals|Music)?-|^NotoMusic|Unjoined|^NotoSansTifinagh[A-Z]")
#: At most this many letters of one font, evenly spaced over its repertoire, so that a few huge
#: repertoires (cuneiform, hieroglyphs, Tangut) do not crowd out the other scripts.
PER_FONT = 40


def _kind(ch: str) -> str:
    return "digit" if ch.isdigit() else ("uppercase letter" if ch.isupper() else "lowercase letter")


def typeface_glyphs(src: Sources):
    """Letters and digits of the 33 text faces of the URW base 35 (Nimbus, URW Bookman, C059...)."""
    folder = src[URW.name] / "usr/share/fonts/opentype/urw-base35"
    faces = [p for p in sorted(folder.glob("*.otf")) if not p.name.startswith(_SYMBOL_FACES)]
    load = lru_cache(maxsize=None)(lambda p: font(p, 180))
    for path in faces:
        family = " ".join(load(path).getname())
        for ch in _CHARS:
            yield Item(key=f"{path.name}#{ch}", load=lambda p=path, c=ch: glyph_image(load(p), c, CANVAS),
                       fields={"kind": _kind(ch), "char": ch, "family": family}, package=URW.name)


def script_letters(cmap: dict[int, str], limit: int = PER_FONT) -> list[tuple[str, str]]:
    """``(character, lower-case Unicode name)`` of the letters in a font's character map, Latin and
    IPA excluded, at most ``limit`` of them evenly spaced by code point.

    Examples
    --------
    >>> script_letters({0x41: "A", 0x3B1: "alpha", 0x5D0: "alef"})
    [('α', 'greek small letter alpha'), ('א', 'hebrew letter alef')]
    """
    letters = []
    for code in sorted(cmap):
        ch = chr(code)
        if code < 0x370 or not unicodedata.category(ch).startswith("L"):
            continue
        name = unicodedata.name(ch, "")
        if name and not name.startswith(("LATIN", "MODIFIER")):
            letters.append((ch, name.lower()))
    if len(letters) > limit:
        step = len(letters) / limit
        letters = [letters[int(i * step)] for i in range(limit)]
    return letters


def world_scripts(src: Sources):
    """Letters of 145 scripts (Devanagari, Arabic, Ethiopic, Cherokee, runes...) in Noto fonts."""
    ttlib = require_tool("fontTools.ttLib", "The world_scripts domain")
    folder = src[NOTO_CORE.name] / "usr/share/fonts/truetype/noto"
    load = lru_cache(maxsize=8)(lambda p: font(p, 190))
    seen = set()
    for path in sorted(folder.glob("Noto*-Regular.ttf")):
        if _NOT_SCRIPTS.search(path.name):
            continue
        with ttlib.TTFont(path, lazy=True) as tt:
            cmap = tt.getBestCmap() or {}
        family = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", path.name.split("-")[0])
        for ch, name in script_letters(cmap):
            if ch in seen:
                continue
            seen.add(ch)
            yield Item(key=f"{path.name}#U+{ord(ch):04X}", load=lambda p=path, c=ch: glyph_image(load(p), c, CANVAS),
                       fields={"name": name, "family": family}, meta={"char": ch}, package=NOTO_CORE.name)


def parse_kanjidic(path: Path) -> list[tuple[str, list[str], int]]:
    """``(kanji, English meanings, school grade)`` of the kanjidic entries that have a grade (G1-G10).

    The file is EUC-JP; meanings are the ``{...}`` fields.
    """
    out = []
    for line in path.read_text(encoding="euc_jp", errors="replace").splitlines():
        if not line or line.startswith("#"):
            continue
        grade = re.search(r"\sG(\d+)\s", line)
        meanings = re.findall(r"\{([^}]+)\}", line)
        if grade and meanings:
            out.append((line[0], meanings, int(grade.group(1))))
    return out


def kanji(src: Sources):
    """Stroke-order diagrams (numbered strokes) of the school kanji, with their English meanings."""
    ttlib = require_tool("fontTools.ttLib", "The kanji_stroke_order domain")
    ttf = next((src[KANJI_FONT.name] / "usr/share/fonts/truetype").rglob("*.ttf"))
    with ttlib.TTFont(ttf, lazy=True) as tt:
        cmap = tt.getBestCmap() or {}
    load = lru_cache(maxsize=1)(lambda: font(ttf, 220))
    for ch, meanings, grade in parse_kanjidic(src[KANJIDIC.name] / "usr/share/edict/kanjidic"):
        if ord(ch) not in cmap:
            continue
        yield Item(key=f"U+{ord(ch):04X}", load=lambda c=ch: glyph_image(load(), c, CANVAS),
                   fields={"kanji": ch, "meaning": ", ".join(meanings[:3])}, meta={"grade": grade},
                   package=KANJI_FONT.name)


DOMAINS = [
    Domain("typeface_glyphs", "Latin letters and digits in the 33 text faces of the URW base 35", "typography",
           (URW,), URW.licence, "the {kind} '{char}' set in the {family} typeface", typeface_glyphs,
           attribution="URW++ base 35 fonts (AGPL-3.0 with font exception)"),
    Domain("world_scripts", "letters of 145 writing systems in Noto fonts", "typography", (NOTO_CORE,),
           "OFL-1.1", "the {name} glyph set in the {family} typeface", world_scripts,
           attribution="Noto fonts, Google (OFL-1.1)"),
    Domain("kanji_stroke_order", "stroke-order diagrams of Japanese school kanji", "typography",
           (KANJI_FONT, KANJIDIC), "BSD-3-Clause (font) AND CC-BY-SA-3.0 (meanings)",
           "stroke-order diagram of the Japanese kanji {kanji} meaning '{meaning}'", kanji,
           attribution="KanjiStrokeOrders font by Ulrich Apel; meanings from KANJIDIC, EDRDG (CC BY-SA 3.0)"),
]
