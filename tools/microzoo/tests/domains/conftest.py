"""Fixtures of the micro-zoo tests: tiny fake package trees that mimic each extractor family's
layout, a font built on the fly, a fake command runner for the package cache, and the CLI.

Nothing here touches the network: packages are either built in ``tmp_path`` and handed to the
extractors directly (:func:`fake_sources`), or installed into a temporary :class:`PackageCache`
as if they had been downloaded (:func:`installed`).
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from matchchoose_microzoo.domains import DOMAINS, PackageCache, Sources

WESNOTH_CORE = "usr/share/games/wesnoth/1.16/data/core"


# ------------------------------------------------------------------------------------ helpers
def png(path: Path, size=(24, 24), colour=(200, 40, 40, 255), mode="RGBA", seed=0) -> Path:
    """Write a small deterministic image (a coloured square on a transparent or noisy ground)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w, h = size
    if mode == "RGBA":
        arr = np.zeros((h, w, 4), np.uint8)
        arr[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = colour
        img = Image.fromarray(arr, "RGBA")
    else:
        arr = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        img = Image.fromarray(arr, "RGB").convert(mode)
    fmt = {".jpg": "JPEG", ".tga": "TGA", ".webp": "WEBP"}.get(path.suffix, "PNG")
    img.save(path, format=fmt)
    return path


def svg(width=20, height=20, colour="#c03030") -> bytes:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><rect x="4" y="4" width="{width - 8}" height="{height - 8}" '
            f'fill="{colour}"/></svg>').encode()


def write(path: Path, text: str | bytes, encoding="utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding=encoding)
    return path


def box_font(path: Path, chars: str) -> Path:
    """A TrueType font whose every character in ``chars`` is a filled box (built with fontTools)."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    def box():
        pen = TTGlyphPen(None)
        pen.moveTo((100, 0))
        pen.lineTo((100, 700))
        pen.lineTo((500, 700))
        pen.lineTo((500, 0))
        pen.closePath()
        return pen.glyph()

    names = [".notdef"] + [f"u{ord(c):x}" for c in chars]
    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder(names)
    fb.setupCharacterMap({ord(c): f"u{ord(c):x}" for c in chars})
    fb.setupGlyf({n: box() for n in names})
    fb.setupHorizontalMetrics({n: (600, 100) for n in names})
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    fb.setupNameTable({"familyName": "Box Sans", "styleName": "Regular"})
    fb.setupOS2()
    fb.setupPost()
    path.parent.mkdir(parents=True, exist_ok=True)
    fb.save(str(path))
    return path


# ------------------------------------------------------------------------------------ fake trees
def emoji_wheel(root: Path) -> Path:
    table = {
        "\U0001F600": {"en": ":grinning_face:", "status": 2, "E": 1},
        "\U0001F1EB\U0001F1EF": {"en": ":Fiji:", "status": 2, "E": 2},
        "\U0001FAE8": {"en": ":shaking_face:", "status": 2, "E": 15},
        "\U0001FAE9": {"en": ":face_with_bags_under_eyes:", "status": 2, "E": 16},  # newer than the font
        "\u263A": {"en": ":smiling_face:", "status": 4, "E": 0.6},  # unqualified
    }
    write(root / "emoji/unicode_codes/emoji.json", json.dumps(table))
    return root


def tree_noto_emoji(root):
    emoji_wheel(root / "emoji")
    font_dir = root / "noto/usr/share/fonts/truetype/noto"
    system = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
    if system.is_file():
        write(font_dir / "NotoColorEmoji.ttf", system.read_bytes())
    return {"fonts-noto-color-emoji": root / "noto", "emoji": root / "emoji"}


def tree_fluent(root):
    emoji_wheel(root / "emoji")
    png(root / "fluent/assets/1f600.webp", (32, 32))
    png(root / "fluent/assets/1f1eb-1f1ef.webp", (32, 32))
    png(root / "fluent/assets/not-an-emoji.webp", (32, 32))
    return {"@lobehub/fluent-emoji-3d": root / "fluent", "emoji": root / "emoji"}


def tree_openmoji(root):
    data = [{"hexcode": "1F600", "annotation": "grinning face", "group": "smileys-emotion", "emoji": "\U0001F600"},
            {"hexcode": "1F3FB", "annotation": "light skin tone", "group": "component"},
            {"hexcode": "1F601", "annotation": "missing file", "group": "smileys-emotion"}]
    write(root / "data/openmoji.json", json.dumps(data))
    write(root / "color/svg/1F600.svg", svg())
    write(root / "color/svg/1F3FB.svg", svg())
    return {"openmoji": root}


def _iconify(root):
    icons = {"prefix": "x", "width": 24, "height": 24, "icons": {
        "sharp-axe": {"body": '<path d="M4 4h16v16H4z" fill="currentColor"/>'},
        "wide-thing": {"body": '<path d="M0 8h32v8H0z" fill="currentColor"/>', "width": 32},
        "hidden-one": {"body": '<path d="M0 0h4v4H0z"/>', "hidden": True}}}
    write(root / "icons.json", json.dumps(icons))
    return root


def tree_game_icons(root):
    return {"@iconify-json/game-icons": _iconify(root)}


def tree_pixelarticons(root):
    return {"@iconify-json/pixelarticons": _iconify(root)}


def tree_tabler(root):
    write(root / "icons.json", json.dumps({"a-b": {"name": "a-b", "category": "Text"}}))
    write(root / "icons/outline/a-b.svg", svg(24, 24))
    write(root / "icons/outline/no-meta.svg", svg(24, 24))
    return {"@tabler/icons": root}


def tree_oxygen(root):
    base = root / "usr/share/icons/oxygen/base/128x128"
    png(base / "actions/list-add.png", (128, 128))
    (base / "actions/add.png").symlink_to("list-add.png")
    return {"oxygen-icon-theme": root}


SPEARMAN_CFG = """#textdomain wesnoth-units
#define SPEARMAN_MACRO
[unit_type]
    name= _ "Macro Unit"
[/unit_type]
#enddef
[unit_type]
    id=Spearman
    name= _ "Spearman"
    race=human
    image="units/human/spearman.png"
    profile="portraits/humans/spearman.png~RIGHT()"
    description= _ "Spears are
much easier to make."
    {SOME_MACRO}
    [attack]
        name=spear
        icon=attacks/spear.png
    [/attack]
    [female]
        name= _ "female^Spearwoman"
        image="units/human/spearman+female.png"
    [/female]
[/unit_type]
"""


def tree_wesnoth(root):
    core = root / WESNOTH_CORE
    write(core / "units/humans/Spearman.cfg", SPEARMAN_CFG)
    write(core / "units/fake/Fog.cfg", '[unit_type]\n name="Fog Clearer"\n image="units/human/fog.png"\n[/unit_type]\n')
    write(core / "team-colors.cfg", "[color_range]\n    id=red\n    rgb=FF0000,FFFFFF,000000,FF0000\n"
          "[/color_range]\n[color_palette]\n    magenta=F49AC1,3F0016,55002A\n[/color_palette]\n")
    sprite = png(core / "images/units/human/spearman.png", (72, 72))
    img = Image.open(sprite).convert("RGBA")
    img.putpixel((36, 36), (0xF4, 0x9A, 0xC1, 255))  # a team-colour key pixel
    img.save(sprite)
    png(core / "images/units/human/spearman+female.png", (72, 72), colour=(40, 40, 200, 255))
    png(core / "images/units/human/fog.png", (72, 72))
    png(core / "images/portraits/humans/spearman.png", (100, 100))
    png(core / "images/portraits/humans/lady-hero.png", (100, 100), colour=(40, 200, 40, 255))
    png(core / "images/portraits/humans/transparent/spearman.png", (100, 100))
    png(core / "images/terrain/grass/green.png", (72, 72), mode="RGB")
    png(core / "images/terrain/grass/green-n.png", (72, 72))
    png(core / "images/terrain/mountains/basic6_2.png", (72, 72))
    png(core / "images/terrain/water/ocean05.png", (200, 100), mode="RGB")
    png(core / "images/terrain/village/human-cottage.png", (72, 72))
    mask = np.zeros((72, 72), np.uint8)
    mask[10:62, 10:62] = 255  # the game's mask is a hexagon; a square shows the same mechanics
    rgba = Image.new("RGBA", (72, 72), (255, 255, 255, 0))
    rgba.putalpha(Image.fromarray(mask, "L"))
    rgba.save(core / "images/terrain/alphamask.png")
    return {"wesnoth-1.16-data": root}


def tree_supertux(root):
    base = root / "usr/share/games/supertux2/images"
    write(base / "creatures/snail/snail.sprite", '(supertux-sprite\n (action (name "left") (images "snail1.png" '
          '"snail2.png"))\n (action (name "right") (mirror-action "left"))\n (action (name "flat-left") ; squished\n'
          '  (images "flat.png"))\n (action (name "piece1") (images "bit.png")))\n')
    png(base / "creatures/snail/snail1.png", (32, 32))
    png(base / "creatures/snail/flat.png", (32, 16), colour=(40, 200, 40, 255))
    png(base / "creatures/snail/bit.png", (8, 8))
    return {"supertux-data": root}


def tree_minetest(root):
    mods = root / "usr/share/games/minetest/games/minetest_game/mods"
    png(mods / "default/textures/default_stone.png", (16, 16), mode="RGB")
    png(mods / "default/textures/default_water_animated.png", (16, 32), mode="RGB", seed=3)
    png(mods / "wool/textures/wool_red.png", (16, 16), mode="RGB", seed=1)
    png(mods / "sfinv/textures/sfinv_crafting_arrow.png", (16, 16))
    Image.new("RGB", (16, 16), (20, 20, 20)).save(mods / "default/textures/default_void.png")  # one flat colour
    speck = np.zeros((16, 16, 4), np.uint8)
    speck[7:9, 7:9] = (255, 0, 0, 255)
    (mods / "butterflies/textures").mkdir(parents=True)
    Image.fromarray(speck, "RGBA").save(mods / "butterflies/textures/butterflies_butterfly_red.png")
    return {"minetest-data": root}


def tree_openarena(root):
    pk3 = root / "usr/share/games/openarena/baseoa/pak4-textures.pk3"
    pk3.parent.mkdir(parents=True)
    files = {"textures/base_wall/concrete02.jpg": (64, 64), "textures/sfx/flame1.jpg": (32, 32),
             "textures/base_wall/panel_glow.jpg": (32, 32), "textures/gothic_floor/tiles.tga": (32, 64)}
    with zipfile.ZipFile(pk3, "w") as z:
        for name, (w, h) in files.items():
            buf = io.BytesIO()
            noise = np.random.default_rng(len(name)).integers(0, 255, (h, w, 3), dtype=np.uint8)
            Image.fromarray(noise, "RGB").save(buf, format="JPEG" if name.endswith("jpg") else "TGA")
            z.writestr(name, buf.getvalue())
    return {"openarena-081-textures": root}


def tree_cards(root):
    cells = "".join(f'<rect x="{c * 20}" y="{r * 30}" width="20" height="30" fill="rgb({c * 19},{r * 50},90)"/>'
                    for r in range(5) for c in range(13))
    deck = f'<svg xmlns="http://www.w3.org/2000/svg" width="260" height="150">{cells}</svg>'.encode()
    write(root / "usr/share/aisleriot/cards/test_deck.svgz", gzip.compress(deck))
    return {"gnome-cards-data": root}


def tree_tuxpaint(root):
    base = root / "usr/share/tuxpaint/stamps"
    png(base / "animals/birds/blackbird.png", (40, 30))
    write(base / "animals/birds/blackbird.txt", "A blackbird.\nfr.utf8=Un merle.\nde.utf8=Eine Amsel.\n")
    write(base / "animals/cat.svg", svg(30, 20))
    write(base / "animals/cat.txt", "pt_BR.utf8=Um gato.\nA cat.\n")
    png(base / "symbols/alphabets/a.png")
    write(base / "symbols/alphabets/a.txt", "The letter A.\n")
    png(base / "food/nameless.png")
    return {"tuxpaint-stamps-default": root}


LADYBUG_SVG = """<svg xmlns="http://www.w3.org/2000/svg"><metadata><rdf:RDF><cc:Work rdf:about="">
<dc:title>Lady bug &amp; leaf</dc:title><dc:subject><rdf:Bag><rdf:li>insect</rdf:li><rdf:li>hash(0x8a)</rdf:li>
<rdf:li>bug</rdf:li></rdf:Bag></dc:subject><dc:creator><cc:Agent><dc:title>Someone</dc:title></cc:Agent></dc:creator>
</cc:Work></rdf:RDF></metadata><rect width="10" height="10"/></svg>"""


def tree_openclipart(root):
    base = root / "png/usr/share/openclipart/png"
    png(base / "animals/bugs/ladybug_architetto_01.png", (60, 40))
    png(base / "food/fruit/red_apple_02.png", (40, 40), colour=(200, 0, 0, 255))
    (base / "food/fruit/bug.png").symlink_to("../../animals/bugs/ladybug_architetto_01.png")
    png(base / "shapes/stars/star_01.png")
    png(base / "recreation/games/cards/ace.png")
    write(root / "svg/usr/share/openclipart/svg/animals/bugs/ladybug_architetto_01.svg", LADYBUG_SVG)
    return {"openclipart-png": root / "png", "openclipart-svg": root / "svg"}


def tree_furniture(root):
    props = ("# catalogue\nid=Test\nlicense=Public domain\n\nname#1=Arm\\u00e9chair\ncategory#1=Living room\n"
             "icon#1=/test/armchair.png\ncreator#1=Somebody\n\nname#2=Stairs\ncategory#2=Miscellaneous\n"
             "icon#2=/test/stairs.png\n")
    pack = root / "usr/share/sweethome3d/furniture/Test.sh3f"
    pack.parent.mkdir(parents=True)
    with zipfile.ZipFile(pack, "w") as z:
        z.writestr("PluginFurnitureCatalog.properties", props.encode("latin-1"))
        for name in ("test/armchair.png", "test/stairs.png"):
            buf = io.BytesIO()
            Image.new("RGBA", (128, 128), (120, 60, 30, 255)).save(buf, format="PNG")
            z.writestr(name, buf.getvalue())
    return {"sweethome3d-furniture": root}


TEXTURES_JSON = """{
    "shortName": "Nebulae",
    "subTiles" : [
    { "imageCredits": {"short" : "Someone"}, "imageUrl" : "m31.png",
      "worldCoords" : [[[10.0, -.97], [1, .5]]] },
    { "imageCredits" : {"Short": "Other", "infoUrl": "https://example.org"}, "imageUrl" : "n7000.png" },
    { "imageCredits" : {"short": "Gone"}, "imageUrl" : "missing.png" }
    ]
}"""


def tree_stellarium(root):
    base = root / "usr/share/stellarium"
    write(base / "nebulae/default/textures.json", TEXTURES_JSON)
    write(base / "nebulae/default/names.dat", '# header\nNGC  224             _("Andromeda Galaxy") # NED\n'
          'NGC  7000            _("North America Nebula") # WK\nNGC  7000            _("Second Name")\n')
    png(base / "nebulae/default/m31.png", (64, 64), mode="RGB")
    png(base / "nebulae/default/n7000.png", (64, 48), mode="RGB", seed=1)
    culture = base / "skycultures/western"
    write(culture / "info.ini", "[info]\nname = Western\nlicense = CC BY-SA 4.0\n")
    write(culture / "constellation_names.eng.fab", 'And\t"Andromeda"\t_("Andromeda")\nOri\t"Orion"\n')
    write(culture / "constellationsart.fab", "# art\nAnd andromeda.png 1 2 3 4 5 6 7 8 9\nOri orion.png 1 2 3\n"
          "Cet cetus.png 1 2 3\n")
    png(culture / "andromeda.png", (64, 64), mode="L")
    png(culture / "orion.png", (64, 64), mode="L", seed=2)
    write(base / "skycultures/no_art/info.ini", "[info]\nname = Empty\n")
    return {"stellarium-data": root}


KGM = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE kgeographyMap>
<map>
    <mapFile>testland.png</mapFile>
    <name>Testland (Provinces)</name>
    <divisionsName>Provinces</divisionsName>
    <division><name>Sea</name><ignore>yes</ignore><color><red>0</red><green>0</green><blue>255</blue></color>
    </division>
    <division><name>North</name><flag>testland/north.png</flag>
        <color><red>200</red><green>0</green><blue>0</blue></color></division>
    <division><name>South</name><flag>testland/south.png</flag>
        <color><red>0</red><green>200</green><blue>0</blue></color></division>
</map>
"""


def tree_kgeography(root):
    base = root / "usr/share/kgeography"
    write(base / "testland.kgm", KGM)
    write(base / "broken.kgm", "<map><name>Broken</name>")
    arr = np.zeros((40, 40, 3), np.uint8)
    arr[:] = (0, 0, 255)
    arr[5:20, 5:35] = (200, 0, 0)
    arr[20:35, 5:35] = (0, 200, 0)
    Image.fromarray(arr, "RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(base / "testland.png")
    png(base / "flags/testland/north.png", (30, 20), mode="RGB")
    return {"kgeography-data": root}


def tree_typeface(root):
    folder = root / "usr/share/fonts/opentype/urw-base35"
    chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    box_font(folder / "NimbusSans-Regular.otf", chars)
    box_font(folder / "StandardSymbolsPS.otf", chars)
    return {"fonts-urw-base35": root}


def tree_world_scripts(root):
    folder = root / "usr/share/fonts/truetype/noto"
    box_font(folder / "NotoSansGreek-Regular.ttf", "Aαβγ")
    box_font(folder / "NotoSansHebrew-Regular.ttf", "אב")
    box_font(folder / "NotoSans-Regular.ttf", "Aα")  # Latin/Greek/Cyrillic family: not a script of its own
    box_font(folder / "NotoSansMath-Regular.ttf", "∑")
    return {"fonts-noto-core": root}


KANJIDIC = ("# KANJIDIC header\n"
            "日 467C U65e5 B72 G1 S4 Yri4 Wil {day} {sun} {Japan}\n"
            "明 4C40 U660e B72 G2 S8 {bright} {light}\n"
            "乍 3D29 U4e4d B4 S5 {though}\n")


def tree_kanji(root):
    box_font(root / "font/usr/share/fonts/truetype/kanjistrokeorders/KanjiStrokeOrders_v4.003.ttf", "日")
    write(root / "dic/usr/share/edict/kanjidic", KANJIDIC, encoding="euc_jp")
    return {"fonts-kanjistrokeorders": root / "font", "kanjidic": root / "dic"}


def tree_mnist(root):
    rng = np.random.default_rng(0)
    for digit in range(10):
        data = np.round(rng.random(2 * 784), 3).tolist()
        write(root / f"src/digits/{digit}.json", json.dumps({"data": data}))
    return {"mnist": root}


def tree_sklearn(root):
    rows = [",".join(str(v) for v in [i % 6] * 63 + [16] + [i % 10]) for i in range(12)]  # i, i + 6: same pixels
    write(root / "sklearn/datasets/data/digits.csv.gz", gzip.compress(("\n".join(rows) + "\n").encode()))
    return {"scikit-learn": root}


TREES = {
    "noto_emoji": tree_noto_emoji, "fluent_emoji_3d": tree_fluent, "openmoji": tree_openmoji,
    "game_icons": tree_game_icons, "pixelarticons": tree_pixelarticons, "tabler_icons": tree_tabler,
    "oxygen_icons": tree_oxygen, "wesnoth_units": tree_wesnoth, "wesnoth_portraits": tree_wesnoth,
    "wesnoth_terrain": tree_wesnoth, "supertux_sprites": tree_supertux, "minetest_textures": tree_minetest,
    "openarena_textures": tree_openarena, "playing_cards": tree_cards, "tuxpaint_photos": tree_tuxpaint,
    "tuxpaint_vector": tree_tuxpaint, "openclipart": tree_openclipart, "furniture_3d": tree_furniture,
    "astrophotos": tree_stellarium, "constellation_art": tree_stellarium, "kgeography_flags": tree_kgeography,
    "kgeography_maps": tree_kgeography, "typeface_glyphs": tree_typeface, "world_scripts": tree_world_scripts,
    "kanji_stroke_order": tree_kanji, "mnist_digits": tree_mnist, "sklearn_digits": tree_sklearn,
}


@pytest.fixture
def fake_sources(tmp_path):
    """``fake_sources(domain) -> Sources``: a fake package tree for ``domain``, built in ``tmp_path``."""

    def make(domain: str) -> Sources:
        root = tmp_path / "trees" / domain
        root.mkdir(parents=True)
        return Sources(TREES[domain](root))

    return make


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """``installed(*domains) -> PackageCache``: the default cache (``$MNC_CACHE_DIR`` pointed into
    ``tmp_path``) holding the domains' packages as fake trees, recorded as downloaded, so that no
    fetch command runs."""
    monkeypatch.setenv("MNC_CACHE_DIR", str(tmp_path / "mnc"))
    cache = PackageCache()

    def install(*domains: str) -> PackageCache:
        for name in domains:
            domain = DOMAINS[name]
            trees = TREES[name](tmp_path / "trees" / name)
            for pkg in domain.packages:
                folder = cache.folder(pkg)
                if cache.is_cached(pkg):
                    continue
                folder.mkdir(parents=True, exist_ok=True)
                content = "root/package" if pkg.registry == "npm" else "root"
                (folder / content).parent.mkdir(parents=True, exist_ok=True)
                Path(trees[pkg.name]).rename(folder / content)
                manifest = {"registry": pkg.registry, "name": pkg.name, "version": pkg.version, "file": "fake",
                            "sha256": pkg.sha256, "size_bytes": 0, "command": "test", "content_root": content}
                (folder / "package.json").write_text(json.dumps(manifest))
        return cache

    return install
