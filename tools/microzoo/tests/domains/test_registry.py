"""The registry, the declarative types, the file-format readers and the square-image policy."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from matchchoose import InputError
from matchchoose_microzoo import DOMAINS, Domain, Item, Package, domain_names, get_domain, register_domain
from matchchoose_microzoo.domains import fit_square
from matchchoose_microzoo.domains._render import png_bytes
from matchchoose_microzoo.domains._text import nice, parse_properties, parse_sexpr, parse_wml


# ------------------------------------------------------------------------------------ registry
def test_registry_has_at_least_24_distinct_domains():
    assert len(DOMAINS) >= 24
    assert domain_names() == list(DOMAINS)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in DOMAINS)
    assert len({d.title for d in DOMAINS.values()}) == len(DOMAINS)


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_every_domain_declares_provenance(name):
    domain = DOMAINS[name]
    assert domain.licence and domain.attribution and domain.caption_template and domain.template_fields
    for pkg in domain.packages:
        assert pkg.registry in ("deb", "npm", "pip")
        assert re.fullmatch(r"[0-9a-f]{64}", pkg.sha256), f"{pkg.key} is not pinned by sha256"
        assert pkg.version and not pkg.version.startswith(("^", "~", ">")), "exact versions only"
        assert pkg.licence and pkg.size_mb


def test_same_package_is_declared_identically_everywhere():
    seen = {}
    for domain in DOMAINS.values():
        for pkg in domain.packages:
            assert seen.setdefault(pkg.key, pkg) == pkg


def test_unknown_domain_lists_the_known_ones():
    with pytest.raises(InputError) as err:
        get_domain("wallpapers")
    message = str(err.value)
    assert "Unknown micro-zoo domain 'wallpapers'" in message and "noto_emoji" in message
    assert "\n" not in message


def test_register_domain_refuses_to_replace_silently():
    domain = DOMAINS["mnist_digits"]
    with pytest.raises(InputError, match="already registered"):
        register_domain(domain)
    assert register_domain(domain, replace=True) is domain


def test_sources_mapping():
    from matchchoose_microzoo import Sources

    src = Sources({"emoji": "/tmp/emoji"})
    assert "emoji" in src and "other" not in src and src.get("other") is None and len(src) == 1
    with pytest.raises(InputError, match="No unpacked package 'other'; have \\['emoji'\\]"):
        src["other"]


def test_package_spec_per_registry():
    assert Package("deb", "wesnoth-1.16-data", "1:1.16.9-1", "GPL").spec == "wesnoth-1.16-data=1:1.16.9-1"
    assert Package("npm", "@tabler/icons", "3.51.0", "MIT").spec == "@tabler/icons@3.51.0"
    assert Package("pip", "emoji", "2.16.0", "BSD").key == "pip:emoji==2.16.0"
    with pytest.raises(InputError, match="registry must be one of"):
        Package("conda", "x", "1", "MIT")


def test_domain_validation_and_caption():
    pkg = Package("npm", "x", "1.0.0", "MIT")
    with pytest.raises(InputError, match="fit must be one of"):
        Domain("d", "t", "g", (pkg,), "MIT", "{a}", lambda src: [], fit="stretch")
    with pytest.raises(InputError, match="has no field"):
        Domain("d", "t", "g", (pkg,), "MIT", "no field", lambda src: [])
    domain = Domain("d", "t", "g", (pkg,), "MIT", "a {kind}  of {thing}", lambda src: [])
    assert domain.template_fields == ("kind", "thing")
    assert domain.caption(Item("k", lambda: None, {"kind": "picture", "thing": "a cat"})) == "a picture of a cat"
    with pytest.raises(InputError, match="has no caption field 'thing'"):
        domain.caption(Item("k", lambda: None, {"kind": "picture"}))


# ------------------------------------------------------------------------------------ formats
def test_nice_and_properties():
    assert nice("application-x_perl+gz") == "application x perl gz"
    props = parse_properties("# c\n! c\nname#1 = Caf\\u00e9 \\\n    table\nkey\\:x: v\nbare\n")
    assert props == {"name#1": "Café table", "key:x": "v", "bare": ""}


def test_sexpr_reads_strings_comments_and_unbalanced_files():
    tree = parse_sexpr('(a "x y" ; comment\n (b 1.5 "q\\"t"))\n(c')
    assert tree == [["a", "x y", ["b", "1.5", 'q"t']], ["c"]]


def test_wml_keeps_structure_and_skips_macros():
    root = parse_wml('#define X\n[unit_type]\n name="Macro"\n[/unit_type]\n#enddef\n'
                     '[unit_type]\n name= _ "A ""quoted"" name"\n description= _ "two\nlines" # note\n {MACRO}\n'
                     '[attack]\n name=sword\n[/attack]\n[/unit_type]\n')
    units = root.find("unit_type")
    assert len(units) == 1
    assert units[0].attrs["name"] == 'A "quoted" name'
    assert units[0].attrs["description"] == "two\nlines"
    assert units[0].find("attack")[0].attrs["name"] == "sword"


# ------------------------------------------------------------------------------------ square images
def _rgba(w, h, box=None, colour=(255, 0, 0, 255)):
    arr = np.zeros((h, w, 4), np.uint8)
    x0, y0, x1, y1 = box or (0, 0, w, h)
    arr[y0:y1, x0:x1] = colour
    return Image.fromarray(arr, "RGBA")


def test_pad_letterboxes_on_white_and_keeps_the_whole_image():
    out = fit_square(_rgba(100, 50), 64)
    arr = np.asarray(out)
    assert out.size == (64, 64) and out.mode == "RGB"
    assert tuple(arr[0, 32]) == (255, 255, 255) and tuple(arr[32, 32]) == (255, 0, 0)
    rows = np.where((arr != 255).any(axis=(1, 2)))[0]
    assert rows.max() - rows.min() + 1 == 29  # 59 px wide (4 % margins), half as high


def test_crop_fills_the_square_from_the_centre():
    arr = np.zeros((50, 100, 3), np.uint8)
    arr[:, 50:] = 255
    out = np.asarray(fit_square(Image.fromarray(arr, "RGB"), 32, fit="crop"))
    assert tuple(out[16, 2]) == (0, 0, 0) and tuple(out[16, 29]) == (255, 255, 255)


def test_trim_and_black_background():
    sprite = _rgba(80, 80, box=(30, 30, 50, 50))
    out = np.asarray(fit_square(sprite, 40, trim=True, background="black", margin=0))
    assert (out == (255, 0, 0)).all()  # the 20 px sprite fills the frame
    out = np.asarray(fit_square(sprite, 40, background="black", margin=0))
    assert tuple(out[0, 0]) == (0, 0, 0)


def test_pixel_art_stays_crisp():
    checker = np.indices((4, 4)).sum(axis=0) % 2 * 255
    img = Image.fromarray(checker.astype(np.uint8), "L")
    out = np.asarray(fit_square(img, 32, pixel_art=True, margin=0))
    assert set(np.unique(out)) == {0, 255}  # whole factor 8: no blended grey
    blurred = np.asarray(fit_square(img, 32, margin=0))
    assert len(np.unique(blurred)) > 2


def test_png_bytes_are_deterministic():
    img = fit_square(_rgba(30, 20), 16)
    assert png_bytes(img) == png_bytes(img.copy())
    assert Image.open(__import__("io").BytesIO(png_bytes(img))).info.get("dpi") is None
