"""Other game art: SuperTux cartoon sprites, Minetest block textures, OpenArena surface textures and
playing-card decks."""

from __future__ import annotations

import gzip
import re
import zipfile
from functools import lru_cache
from pathlib import Path

from ._render import open_image, svg_image
from ._spec import Domain, Item, Package, Sources
from ._text import nice, parse_sexpr, strip_digits

__all__ = ["DOMAINS", "sprite_actions"]

SUPERTUX = Package("deb", "supertux-data", "0.6.3-2", "GPL-3.0-or-later",
                   sha256="a6ad8865972f1dbb5e7b49f4e1b381dd16a68f3028a3502cfeaca2400285d27f", size_mb=162)
MINETEST = Package("deb", "minetest-data", "5.6.1+dfsg+~1.9.0mt8+dfsg-2", "CC-BY-SA-3.0",
                   sha256="91371dd2bd51cfcd4fa60c138667989a47047dfe1a47f7523b9ad1782d397585", size_mb=3.6)
OPENARENA = Package("deb", "openarena-081-textures", "0.8.5split-14", "GPL-2.0-or-later",
                    sha256="72bf05abd5286a1523b56ca04e25bceb775813d747f92ecd20749d512361a81f", size_mb=94)
CARDS = Package("deb", "gnome-cards-data", "1:3.22.23-1", "GPL-3.0-or-later",
                sha256="54ef445826dd7701d3ea83f999fbc8f058d304b714732425b23cde5c632596e0", size_mb=10.5)

# ------------------------------------------------------------------------------------ SuperTux
#: Sprite folders and the noun their captions use.
_SUPERTUX_KINDS = {"creatures": "creature", "objects": "object", "powerups": "power-up"}
_SUPERTUX_PLAIN_ACTIONS = {"left", "right", "normal", "default", "idle", "walk", "walk-left", "stand-left"}
#: Actions that show debris, editor markers or nothing rather than the thing itself.
_SUPERTUX_NOT_A_LOOK = re.compile(r"piece|editor|particle|debris|empty|invisible|broken|fragment|dead|gone", re.I)
#: At most this many actions of one sprite file (Tux alone has a hundred).
_SUPERTUX_MAX_ACTIONS = 6


def sprite_actions(path: Path) -> list[tuple[str, str]]:
    """``(action name, first image file)`` of each action of a SuperTux ``.sprite`` file that
    lists images (mirrored ``-right`` twins of ``-left`` actions are dropped)."""
    out = []
    for node in parse_sexpr(path.read_text(encoding="utf-8", errors="replace")):
        if not isinstance(node, list) or not node:
            continue
        for action in node[1:]:
            if not (isinstance(action, list) and action and action[0] == "action"):
                continue
            fields = {f[0]: f[1:] for f in action[1:] if isinstance(f, list) and f}
            name = (fields.get("name") or ["default"])[0]
            images = [i for i in fields.get("images", []) if isinstance(i, str)]
            if images and not name.endswith("right") and not _SUPERTUX_NOT_A_LOOK.search(name):
                out.append((name, images[0]))
    return out


def supertux_sprites(src: Sources):
    """First frame of each action of SuperTux's creatures, objects and power-ups."""
    base = src[SUPERTUX.name] / "usr/share/games/supertux2/images"
    for folder, noun in _SUPERTUX_KINDS.items():
        for sprite in sorted((base / folder).rglob("*.sprite")):
            rel_dir = sprite.parent.relative_to(base / folder).parts
            thing = nice(rel_dir[0] if rel_dir else sprite.stem)
            seen = set()
            for action, image in sprite_actions(sprite)[:_SUPERTUX_MAX_ACTIONS]:
                path = (sprite.parent / image).resolve()
                if path in seen or not path.is_file() or path.suffix.lower() != ".png":
                    continue
                seen.add(path)
                state = "" if action in _SUPERTUX_PLAIN_ACTIONS else f", {nice(re.sub(r'-?left$', '', action))}"
                yield Item(key=f"{sprite.relative_to(base).as_posix()}#{action}", load=lambda p=path: open_image(p),
                           fields={"thing": thing, "noun": noun, "state": state.rstrip(", ")},
                           meta={"image": path.name}, package=SUPERTUX.name)


# ------------------------------------------------------------------------------------ Minetest
#: Mods whose textures are user interface, not blocks or items.
_MINETEST_UI_MODS = {"sfinv", "creative", "mtg_craftguide", "player_api", "game_commands", "give_initial_stuff",
                     "spawn", "env_sounds", "sethome", "weather", "map", "binoculars"}


#: Item textures that cover less of their tile than this are model skins or specks (a butterfly's
#: two pixels), not pictures.
MIN_COVER = 0.12


def _first_frame(path: Path):
    img = open_image(path)
    if img.height > img.width and img.height % img.width == 0:  # vertical animation strip
        img = img.crop((0, 0, img.width, img.width))
    if img.mode in ("RGBA", "LA", "PA", "P"):
        import numpy as np

        alpha = np.asarray(img.convert("RGBA").getchannel("A"))
        if np.count_nonzero(alpha > 8) < MIN_COVER * alpha.size:
            return None
    return img


def minetest_textures(src: Sources):
    """16 x 16 block and item textures of Minetest Game, named from the file minus the mod prefix."""
    mods = src[MINETEST.name] / "usr/share/games/minetest/games/minetest_game/mods"
    for path in sorted(mods.glob("*/textures/*.png")):
        mod = path.parts[-3]
        if mod in _MINETEST_UI_MODS or path.stem.startswith(("gui_", "crack")):
            continue
        # "default_" says nothing; other mod names do ("wool_red", "bones_front", "farming_wheat_8")
        name = path.stem[len("default_"):] if path.stem.startswith("default_") else path.stem
        name = " ".join(dict.fromkeys(nice(re.sub(r"_animated$", "", name)).split()))
        yield Item(key=f"mods/{mod}/textures/{path.name}", load=lambda p=path: _first_frame(p),
                   fields={"name": name}, meta={"mod": mod}, package=MINETEST.name)


# ------------------------------------------------------------------------------------ OpenArena
#: Texture sets of effects, skies and symbols rather than surfaces.
_OPENARENA_SKIP = re.compile(r"(sfx|sky|skies|flare|fx|nebulae|symbols|common|fog|env)", re.I)


def openarena_textures(src: Sources):
    """Wall, floor and trim textures of OpenArena (jpg/tga in a pk3 zip), named from file and set."""
    pk3 = src[OPENARENA.name] / "usr/share/games/openarena/baseoa/pak4-textures.pk3"
    with zipfile.ZipFile(pk3) as z:
        names = sorted(n for n in z.namelist() if re.search(r"\.(jpg|tga)$", n, re.I))

    @lru_cache(maxsize=1)
    def archive():
        return zipfile.ZipFile(pk3)

    for name in names:
        parts = name.split("/")
        if len(parts) != 3 or parts[0] != "textures" or _OPENARENA_SKIP.search(parts[1]):
            continue
        stem = strip_digits(re.sub(r"^[+_\d]+", "", parts[2].rsplit(".", 1)[0]))
        if re.search(r"(glow|blend|_fx|trans|alpha|light|flare)", stem, re.I) or len(stem) < 3:
            continue
        yield Item(key=name, load=lambda n=name: open_image(archive().read(n)),
                   fields={"name": nice(re.sub(r"\d+", " ", stem)).lower(), "set": nice(parts[1])},
                   package=OPENARENA.name)


# ------------------------------------------------------------------------------------ cards
_RANKS = ("ace", "2", "3", "4", "5", "6", "7", "8", "9", "10", "jack", "queen", "king")
_SUITS = ("clubs", "diamonds", "hearts", "spades")
#: Width of one card when a deck is rasterised (the deck is 13 cards wide, 5 rows high).
CARD_PX = 240


def cards(src: Sources):
    """The 52 cards of each of the 30 AisleRiot decks: each ``.svgz`` deck is a 13 x 5 grid whose rows
    are clubs, diamonds, hearts and spades (the fifth holds jokers and backs)."""
    decks = sorted((src[CARDS.name] / "usr/share/aisleriot/cards").glob("*.svgz"))

    @lru_cache(maxsize=None)
    def sheet(path):
        return svg_image(gzip.decompress(path.read_bytes()), 13 * CARD_PX).convert("RGBA")

    def card(path, suit, rank):
        img = sheet(path)
        w, h = img.width / 13, img.height / 5
        return img.crop((round(rank * w), round(suit * h), round((rank + 1) * w), round((suit + 1) * h)))

    for path in decks:
        deck = nice(path.stem).lower()
        if not deck.isascii():  # a Cyrillic-named duplicate of the atlasnye deck
            continue
        for s, suit in enumerate(_SUITS):
            for r, rank in enumerate(_RANKS):
                yield Item(key=f"{path.name}#{rank}-of-{suit}", load=lambda p=path, s=s, r=r: card(p, s, r),
                           fields={"rank": rank, "suit": suit, "deck": deck}, package=CARDS.name)


DOMAINS = [
    Domain("supertux_sprites", "SuperTux cartoon platformer sprites: creatures, objects, power-ups", "game art",
           (SUPERTUX,), "GPL-3.0-or-later", "cartoon platformer game sprite of the {thing} {noun}{state} from SuperTux",
           supertux_sprites, trim=True, pixel_art=True,
           attribution="SuperTux, https://www.supertux.org (GPL-3.0-or-later)"),
    Domain("minetest_textures", "Minetest Game 16 px block and item textures", "game art", (MINETEST,),
           "CC-BY-SA-3.0", "pixel art game texture of {name} from Minetest", minetest_textures, pixel_art=True,
           attribution="Minetest Game textures by their authors (CC BY-SA 3.0), https://www.minetest.net"),
    Domain("openarena_textures", "OpenArena first-person-shooter surface textures (walls, floors, trims)",
           "game art", (OPENARENA,), "GPL-2.0-or-later", "{name} surface texture from the OpenArena game ({set} set)",
           openarena_textures, fit="crop", attribution="OpenArena, https://openarena.ws (GPL-2.0-or-later)"),
    Domain("playing_cards", "playing cards from 29 AisleRiot deck designs", "game art", (CARDS,),
           "GPL-3.0-or-later (some decks LGPL or CC-BY, see the package's copyright)",
           "the {rank} of {suit} playing card, {deck} deck design", cards, requires=("cairosvg",),
           attribution="AisleRiot card decks by their authors, GNOME (GPL-3.0-or-later and others)"),
]
