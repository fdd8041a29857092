"""Every extractor on a fake package tree of its family: which files become items, their captions,
and that every item loads into a square RGB image."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from matchchoose_microzoo.domains import DOMAINS, fit_square, list_items

#: Captions each fake tree must produce (exactly: files that must be skipped are in the trees too).
EXPECTED = {
    "noto_emoji": {"grinning face emoji", "flag of Fiji emoji", "shaking face emoji"},
    "fluent_emoji_3d": {"grinning face emoji, 3D render", "flag of Fiji emoji, 3D render"},
    "openmoji": {"grinning face emoji, OpenMoji outlined style"},
    "game_icons": {"sharp axe icon, black silhouette", "wide thing icon, black silhouette"},
    "pixelarticons": {"sharp axe pixel icon", "wide thing pixel icon"},
    "tabler_icons": {"a b line icon (text)", "no meta line icon"},
    "oxygen_icons": {"list add icon, glossy Oxygen desktop style (actions)"},
    "wesnoth_units": {"pixel-art game sprite of the Spearman (human unit) from Battle for Wesnoth",
                      "pixel-art game sprite of the female Spearwoman (human unit) from Battle for Wesnoth"},
    "wesnoth_portraits": {"painted fantasy portrait of the Spearman (human) from Battle for Wesnoth",
                          "painted fantasy portrait of a lady hero (humans) from Battle for Wesnoth"},
    "wesnoth_terrain": {"hexagonal map tile of green grass terrain from Battle for Wesnoth",
                        "hexagonal map tile of human cottage village terrain from Battle for Wesnoth"},
    "supertux_sprites": {"cartoon platformer game sprite of the snail creature from SuperTux",
                         "cartoon platformer game sprite of the snail creature, flat from SuperTux"},
    "minetest_textures": {f"pixel art game texture of {name} from Minetest"
                          for name in ("stone", "water", "wool red", "void", "butterflies butterfly red")},
    "openarena_textures": {"concrete surface texture from the OpenArena game (base wall set)",
                           "tiles surface texture from the OpenArena game (gothic floor set)"},
    "tuxpaint_photos": {"A blackbird."},
    "tuxpaint_vector": {"A cat."},
    "openclipart": {"clipart of lady bug & leaf (insect), category animals / bugs",
                    "clipart of red apple, category food / fruit"},
    "furniture_3d": {"3D render of an arméchair (living room furniture)",
                     "3D render of stairs (miscellaneous furniture)"},
    "astrophotos": {"astronomical photograph of Messier 31, the Andromeda Galaxy",
                    "astronomical photograph of NGC 7000, the North America Nebula"},
    "constellation_art": {"constellation artwork of Andromeda, Western sky culture",
                          "constellation artwork of Orion, Western sky culture"},
    "kgeography_flags": {"flag of North (Testland)"},
    "kgeography_maps": {"map of Testland (Provinces) by provinces with North highlighted in red",
                        "map of Testland (Provinces) by provinces with South highlighted in red"},
    "world_scripts": {"the greek small letter alpha glyph set in the Noto Sans Greek typeface",
                      "the greek small letter beta glyph set in the Noto Sans Greek typeface",
                      "the greek small letter gamma glyph set in the Noto Sans Greek typeface",
                      "the hebrew letter alef glyph set in the Noto Sans Hebrew typeface",
                      "the hebrew letter bet glyph set in the Noto Sans Hebrew typeface"},
    "kanji_stroke_order": {"stroke-order diagram of the Japanese kanji 日 meaning 'day, sun, Japan'"},
}
#: Items whose image is legitimately empty (the loader returns None and the builder skips them).
EMPTY = {"minetest_textures": {"pixel art game texture of butterflies butterfly red from Minetest"}}


def _need_cairosvg():
    """Skip when cairosvg or the system's cairo library (loaded at import: OSError) is missing."""
    try:
        import cairosvg  # noqa: F401
    except (ImportError, OSError) as exc:
        pytest.skip(f"cairosvg unusable here: {exc}")


def _skip_without(domain):
    for module in domain.requires:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{domain.name} needs {module}")


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_extractor_items_and_images(name, fake_sources):
    domain = DOMAINS[name]
    items = list_items(domain, fake_sources(name))
    captions = {domain.caption(item) for item in items}
    assert items, "the fake tree must give at least one item"
    assert all(c.strip() for c in captions)
    assert [i.key for i in items] == sorted(i.key for i in items)
    if name in EXPECTED:
        assert captions == EXPECTED[name]
    _skip_without(domain)
    if name == "noto_emoji" and not Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf").is_file():
        pytest.skip("no Noto Color Emoji font on this machine to render with (captions are checked above)")
    for item in items:
        img = item.load()
        if img is None:
            assert domain.caption(item) in EMPTY.get(name, set())
            continue
        square = fit_square(img, 32, fit=domain.fit, trim=domain.trim, pixel_art=domain.pixel_art,
                            background=domain.background)
        assert square.size == (32, 32) and square.mode == "RGB"


def test_typeface_glyphs_cover_every_character_of_the_text_faces(fake_sources):
    domain = DOMAINS["typeface_glyphs"]
    items = list_items(domain, fake_sources("typeface_glyphs"))
    assert len(items) == 62  # the symbol face is left out
    captions = {domain.caption(i) for i in items}
    assert "the uppercase letter 'Q' set in the Box Sans Regular typeface" in captions
    assert "the lowercase letter 'q' set in the Box Sans Regular typeface" in captions
    assert "the digit '7' set in the Box Sans Regular typeface" in captions


def test_digit_domains_read_every_sample(fake_sources):
    mnist = list_items(DOMAINS["mnist_digits"], fake_sources("mnist_digits"))
    assert len(mnist) == 20
    assert DOMAINS["mnist_digits"].caption(mnist[0]) == "a handwritten digit 0, white on black"
    img = np.asarray(mnist[0].load())
    assert img.shape == (28, 28) and img.dtype == np.uint8
    digits = list_items(DOMAINS["sklearn_digits"], fake_sources("sklearn_digits"))
    assert len(digits) == 12
    first = np.asarray(digits[0].load())  # row 0: 63 values 0 (white), the last 16 (black); label 0
    assert DOMAINS["sklearn_digits"].caption(digits[0]) == "a blocky 8x8 pixel image of the handwritten digit 0"
    assert first.shape == (8, 8) and first[0, 0] == 255 and first[7, 7] == 0


def test_wesnoth_sprites_get_the_red_team_colour(fake_sources):
    items = list_items(DOMAINS["wesnoth_units"], fake_sources("wesnoth_units"))
    spearman = next(i for i in items if i.key.endswith("spearman.png"))
    assert spearman.load().getpixel((36, 36)) == (255, 0, 0, 255)  # F49AC1 is the reference -> the red mid
    assert spearman.meta["cfg"] == "units/humans/Spearman.cfg"


def test_wesnoth_square_terrain_tiles_are_cut_to_the_hex_mask(fake_sources):
    items = list_items(DOMAINS["wesnoth_terrain"], fake_sources("wesnoth_terrain"))
    grass = next(i for i in items if i.key.endswith("grass/green.png")).load()
    assert grass.mode == "RGBA"
    assert grass.getpixel((0, 0))[3] == 0 and grass.getpixel((36, 36))[3] == 255


def test_kgeography_map_highlights_one_division(fake_sources):
    from matchchoose_microzoo.domains._geo import HIGHLIGHT

    items = list_items(DOMAINS["kgeography_maps"], fake_sources("kgeography_maps"))
    north = next(i for i in items if i.key.endswith("#North")).load()
    assert north.getpixel((10, 10)) == HIGHLIGHT
    assert north.getpixel((10, 30)) != HIGHLIGHT  # South is washed out
    assert items[0].meta["map_file"] == "testland.png"


def test_cards_are_cut_from_the_deck_grid(fake_sources):
    _need_cairosvg()
    domain = DOMAINS["playing_cards"]
    items = list_items(domain, fake_sources("playing_cards"))
    assert len(items) == 52
    by_caption = {domain.caption(i): i for i in items}
    card = by_caption["the king of hearts playing card, test deck deck design"].load()
    r, g, b, _ = card.getpixel((card.width // 2, card.height // 2))
    assert (round(r / 19), round(g / 50)) == (12, 2)  # the cell of column 12 (king), row 2 (hearts)


def test_provenance_of_images_with_their_own_licence(fake_sources):
    furniture = list_items(DOMAINS["furniture_3d"], fake_sources("furniture_3d"))
    assert furniture[0].meta["licence"] == "Public domain" and furniture[0].meta["pack"] == "Test"
    photos = list_items(DOMAINS["astrophotos"], fake_sources("astrophotos"))
    assert {p.meta["credit"] for p in photos} == {"Someone", "Other"}
    art = list_items(DOMAINS["constellation_art"], fake_sources("constellation_art"))
    assert {a.meta["licence"] for a in art} == {"CC BY-SA 4.0"}


def test_noto_emoji_render_when_the_font_is_there(fake_sources):
    sources = fake_sources("noto_emoji")
    font = sources["fonts-noto-color-emoji"] / "usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
    if not font.is_file():
        pytest.skip("no Noto Color Emoji font on this machine")
    items = list_items(DOMAINS["noto_emoji"], sources)
    img = next(i for i in items if i.fields["name"] == "grinning face").load()
    assert img is not None and img.mode == "RGBA"
    assert len(np.unique(np.asarray(img.convert("RGB")).reshape(-1, 3), axis=0)) > 10  # colour, not a box
