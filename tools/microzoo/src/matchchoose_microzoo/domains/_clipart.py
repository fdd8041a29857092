"""Clipart and object pictures: Tux Paint stamps (photos and vector drawings), openclipart, and
Sweet Home 3D's rendered furniture."""

from __future__ import annotations

import html
import re
import zipfile
from functools import lru_cache
from pathlib import Path

from ._render import open_image, svg_image
from ._spec import Domain, Item, Package, Sources
from ._text import nice, parse_properties, strip_digits

__all__ = ["DOMAINS", "clipart_subject", "stamp_caption"]

TUXPAINT = Package("deb", "tuxpaint-stamps-default", "2022.06.04-1", "GPL-2.0-only",
                   sha256="6db6c1bfc870a47f1499d6203b083522eacb57c5f9c87d468f2e92eb6d9d5f34", size_mb=161)
OPENCLIPART = Package("deb", "openclipart-png", "1:0.18+dfsg-19", "CC0-1.0",
                      sha256="f07f1545a2970c2cf3fa339bc2405da1a95cf2b1827bfa05bf73eb1c20291c02", size_mb=131)
OPENCLIPART_SVG = Package("deb", "openclipart-svg", "1:0.18+dfsg-19", "CC0-1.0",
                          sha256="989712d90d57dfa3230049f553bb43b76c30ee4d4b8c5f6e106e33f7db5cbdc5", size_mb=24.9)
SWEETHOME3D = Package("deb", "sweethome3d-furniture", "1.8-1", "CC-BY-3.0 AND CC0-1.0",
                      sha256="3ccb90c63f9525e887a767b9cd5c8b6933b8b6b2973a615a5359ee68a2118668", size_mb=120)

_STAMPS = "usr/share/tuxpaint/stamps"


def stamp_caption(txt: Path) -> str | None:
    """The English sentence of a Tux Paint stamp: the first line of its ``.txt`` (other lines are
    ``locale.utf8=translation``)."""
    if not txt.is_file():
        return None
    for line in txt.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if line and not re.match(r"^[a-z]{2,3}(_[A-Z]{2})?(@\w+)?\.utf8=", line):
            return line
    return None


def _stamps(src: Sources, suffix: str):
    base = src[TUXPAINT.name] / _STAMPS
    for path in sorted(base.rglob(f"*{suffix}")):
        rel = path.relative_to(base)
        if rel.parts[0] == "symbols":  # letters, digits, notes, currency signs: not pictures of things
            continue
        caption = stamp_caption(path.with_suffix(".txt"))
        if caption:
            yield path, rel, caption


def tuxpaint_photos(src: Sources):
    """Tux Paint's bitmap stamps: cut-out photographs and some painted clipart, each with a sentence."""
    for path, rel, caption in _stamps(src, ".png"):
        yield Item(key=rel.as_posix(), load=lambda p=path: open_image(p), fields={"sentence": caption},
                   meta={"category": rel.parent.as_posix()}, package=TUXPAINT.name)


def tuxpaint_vector(src: Sources):
    """Tux Paint's SVG stamps: cartoon vector drawings, each with a sentence."""
    for path, rel, caption in _stamps(src, ".svg"):
        # unsafe: these trusted distribution files declare XML entities, which cairosvg resolves only so.
        yield Item(key=rel.as_posix(), load=lambda p=path: svg_image(p.read_bytes(), 512, unsafe=True),
                   fields={"sentence": caption}, meta={"category": rel.parent.as_posix()}, package=TUXPAINT.name)


# ---------------------------------------------------------------------------------- openclipart
#: Top categories of pictures of things; the others are shapes, patterns, signs and computer icons.
OPENCLIPART_CATEGORIES = ("animals", "buildings", "decorations", "education", "electronics", "food", "geography",
                          "office", "people", "plants", "recreation", "science", "tools", "transportation")
_WORK = re.compile(r"<cc:Work\b.*?</cc:Work>", re.S)
_TITLE = re.compile(r"<dc:title>([^<]*)</dc:title>")
_SUBJECT = re.compile(r"<dc:subject>(.*?)</dc:subject>", re.S)


def clipart_subject(svg_text: str | None, stem: str) -> tuple[str, list[str]]:
    """Title and keywords of an openclipart drawing from its SVG's Dublin Core metadata; the file
    name (numbering dropped) when the SVG has no title.

    Examples
    --------
    >>> svg = "<cc:Work><dc:title>Red apple</dc:title><dc:subject><rdf:Bag><rdf:li>fruit</rdf:li>"
    >>> clipart_subject(svg + "</rdf:Bag></dc:subject></cc:Work>", "apple_01")
    ('red apple', ['fruit'])
    >>> clipart_subject(None, "ladybug_02")
    ('ladybug', [])
    """
    title, keywords = "", []
    work = _WORK.search(svg_text or "")
    if work:
        found = _TITLE.search(work.group(0))
        title = html.unescape(found.group(1)).strip() if found else ""
        subject = _SUBJECT.search(work.group(0))
        if subject:
            found = re.findall(r"<rdf:li>([^<]*)</rdf:li>", subject.group(1))
            keywords = [html.unescape(k).strip().lower() for k in found]
    title = re.sub(r"^clip\s*art by [^-]+- ", "", " ".join(title.split()), flags=re.I)
    title = re.sub(r"\.svg$", "", title, flags=re.I).lower()
    if not re.search(r"[a-z]{3}", title):  # empty, or a code such as "r16"
        title = nice(strip_digits(stem)).lower()
    title = nice(title) if "_" in title else title
    title = " ".join(re.sub(r"(?<=[a-z])\d+$", "", w) for w in title.split() if w not in ("openclipart", "clipart"))
    keywords = [k for k in dict.fromkeys(keywords)
                if k and k not in title and len(k) < 30 and re.search(r"[a-z]{3}", k) and "hash(" not in k
                and k not in ("unsorted", "clip art", "clipart", "openclipart", "svg", "hash")]
    return title, keywords[:3]


def openclipart(src: Sources):
    """Public-domain vector clipart (pre-rendered PNG) of things: animals, food, people, vehicles...

    Captions take the drawing's title and keywords from the matching SVG of ``openclipart-svg``."""
    base = src[OPENCLIPART.name] / "usr/share/openclipart/png"
    svg_base = src[OPENCLIPART_SVG.name] / "usr/share/openclipart/svg"
    for top in OPENCLIPART_CATEGORIES:
        for path in sorted((base / top).rglob("*.png")):
            rel = path.relative_to(base)
            # symlinks: the same file filed under a second category; cards: a domain of their own
            if path.is_symlink() or rel.parts[:3] == ("recreation", "games", "cards"):
                continue
            svg = svg_base / rel.with_suffix(".svg")
            text = svg.read_text(encoding="utf-8", errors="replace") if svg.is_file() else None
            title, keywords = clipart_subject(text, path.stem)
            category = " / ".join(nice(p) for p in rel.parts[:-1])
            yield Item(key=rel.as_posix(), load=lambda p=path: open_image(p),
                       fields={"subject": title, "keywords": f" ({', '.join(keywords)})" if keywords else "",
                               "category": category},
                       meta={"keywords": keywords}, package=OPENCLIPART.name)


# ---------------------------------------------------------------------------------- Sweet Home 3D
def with_article(noun: str) -> str:
    """``"apple imac"`` -> ``"an apple imac"``; plurals and names ending in "s" keep no article.

    Examples
    --------
    >>> with_article("chair"), with_article("armchair"), with_article("stairs")
    ('a chair', 'an armchair', 'stairs')
    """
    if not noun or (noun.endswith("s") and not noun.endswith("ss")):
        return noun
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def furniture(src: Sources):
    """128 px icons rendered from Sweet Home 3D's furniture models, named by the catalogue."""
    packs = sorted((src[SWEETHOME3D.name] / "usr/share/sweethome3d/furniture").glob("*.sh3f"))

    @lru_cache(maxsize=None)
    def archive(path):
        return zipfile.ZipFile(path)

    for pack in packs:
        with zipfile.ZipFile(pack) as z:
            props = parse_properties(z.read("PluginFurnitureCatalog.properties").decode("latin-1"))
        licence = props.get("license", "")
        for key, icon in sorted(props.items()):
            m = re.match(r"icon#(\d+)$", key)
            if not m:
                continue
            i = m.group(1)
            name, category = props.get(f"name#{i}", "").strip(), props.get(f"category#{i}", "").strip()
            if not name:
                continue
            yield Item(key=f"{pack.name}#{icon.lstrip('/')}",
                       load=lambda p=pack, n=icon.lstrip("/"): open_image(archive(p).read(n)),
                       fields={"name": with_article(name.lower()), "category": category.lower()},
                       meta={"pack": pack.stem, "licence": licence, "creator": props.get(f"creator#{i}", "")},
                       package=SWEETHOME3D.name)


DOMAINS = [
    Domain("tuxpaint_photos", "Tux Paint bitmap stamps: cut-out photographs and painted clipart", "clipart",
           (TUXPAINT,), "GPL-2.0-only", "{sentence}", tuxpaint_photos, trim=True,
           attribution="Tux Paint stamps, New Breed Software and contributors (GPL-2.0)"),
    Domain("tuxpaint_vector", "Tux Paint vector stamps: cartoon SVG drawings", "clipart", (TUXPAINT,),
           "GPL-2.0-only", "{sentence}", tuxpaint_vector, trim=True, requires=("cairosvg",),
           attribution="Tux Paint stamps, New Breed Software and contributors (GPL-2.0)"),
    Domain("openclipart", "openclipart vector clipart of things (public domain)", "clipart",
           (OPENCLIPART, OPENCLIPART_SVG),
           "CC0-1.0", "clipart of {subject}{keywords}, category {category}", openclipart, trim=True,
           attribution="Open Clip Art Library (public domain)"),
    Domain("furniture_3d", "Sweet Home 3D furniture: 3D-rendered 128 px catalogue icons", "3D renders",
           (SWEETHOME3D,), "CC-BY-3.0 AND CC0-1.0 (per pack)", "3D render of {name} ({category} furniture)",
           furniture, trim=True,
           attribution="Sweet Home 3D furniture libraries (Blend Swap, KatorLegaz, Reallusion, Scopia; "
                       "CC BY 3.0 and CC0)"),
]
