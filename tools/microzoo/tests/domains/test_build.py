"""Building domains into ImageFolder datasets: layout, provenance, reproducibility, the selection
rules and the existing-folder rules. Packages come from fake trees installed into the cache."""

from __future__ import annotations

import json
import warnings

import pytest
from PIL import Image

from matchchoose import InputError, MatchChooseError
from matchchoose_microzoo import DOMAINS, BUILDER_VERSION, PackageCache, build_all, build_domain
from matchchoose_microzoo.domains import _fetch, domain_status, iter_metadata
from matchchoose.profile import ImageFolder


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_build_writes_an_imagefolder_with_provenance(installed, tmp_path):
    installed("kgeography_maps")
    with pytest.warns(RuntimeWarning, match="only 2 usable images of the 5"):
        result = build_domain("kgeography_maps", tmp_path / "out", n=5, size=24, seed=0)
    folder = tmp_path / "out" / "kgeography_maps"
    assert result.path == folder and result.status == "built"
    assert (result.n, result.n_available) == (2, 2)  # the fake map has two divisions (and a sea, ignored)
    rows = list(iter_metadata(folder))
    assert [r["file_name"] for r in rows] == ["images/00000.png", "images/00001.png"]
    for row in rows:
        img = Image.open(folder / row["file_name"])
        assert img.size == (24, 24) and img.mode == "RGB"
        assert row["text"].startswith("map of Testland") and row["key"].startswith("testland.kgm#")
        assert row["package"] == "deb:kgeography-data=4:22.12.3-1"
        assert row["meta"] == {"map_file": "testland.png"}
    info = json.loads((folder / "domain.json").read_text())
    pkg = DOMAINS["kgeography_maps"].packages[0]
    assert info["packages"] == [{"registry": "deb", "name": "kgeography-data", "version": "4:22.12.3-1",
                                 "licence": pkg.licence, "file": "fake", "sha256": pkg.sha256}]
    assert info["licence"] == DOMAINS["kgeography_maps"].licence and info["attribution"]
    assert (info["n"], info["n_requested"], info["size"], info["seed"]) == (2, 5, 24, 0)
    assert info["builder_version"] == BUILDER_VERSION and info["image_policy"]["fit"] == "pad"
    # the project's own reader sees the captions
    loaded = ImageFolder(folder)
    assert loaded.items == [(r["file_name"], r["text"]) for r in rows] and loaded.report.n_ok == 2


def test_build_is_byte_identical_when_repeated(installed, tmp_path):
    installed("mnist_digits")
    build_domain("mnist_digits", tmp_path / "a", n=8, size=20, seed=3)
    build_domain("mnist_digits", tmp_path / "b", n=8, size=20, seed=3)
    first, second = _files(tmp_path / "a" / "mnist_digits"), _files(tmp_path / "b" / "mnist_digits")
    assert len(first) == 8 + 2 and first == second
    build_domain("mnist_digits", tmp_path / "c", n=8, size=20, seed=4)
    other = [r["key"] for r in iter_metadata(tmp_path / "c" / "mnist_digits")]
    assert other != [r["key"] for r in iter_metadata(tmp_path / "a" / "mnist_digits")]


def test_selection_is_a_prefix_of_the_seeded_order(installed, tmp_path):
    installed("mnist_digits")
    build_domain("mnist_digits", tmp_path / "small", n=3, size=16, seed=1)
    build_domain("mnist_digits", tmp_path / "large", n=9, size=16, seed=1)
    small = [r["key"] for r in iter_metadata(tmp_path / "small" / "mnist_digits")]
    large = [r["key"] for r in iter_metadata(tmp_path / "large" / "mnist_digits")]
    assert large[:3] == small


def test_pixel_identical_images_are_kept_once(installed, tmp_path):
    installed("sklearn_digits")  # 12 rows, where rows i and i + 6 have the same pixels
    with pytest.warns(RuntimeWarning):
        result = build_domain("sklearn_digits", tmp_path, n=12, size=16)
    assert (result.n, result.n_duplicates, result.n_skipped) == (6, 6, 0)
    digests = {(tmp_path / "sklearn_digits" / r["file_name"]).read_bytes() for r in
               iter_metadata(tmp_path / "sklearn_digits")}
    assert len(digests) == result.n


def test_empty_images_are_skipped_and_listed(installed, tmp_path):
    installed("minetest_textures")
    with pytest.warns(RuntimeWarning):
        result = build_domain("minetest_textures", tmp_path, n=10, size=16)
    info = json.loads((tmp_path / "minetest_textures" / "domain.json").read_text())
    assert result.n == 3 and info["n_skipped"] == 2
    assert sorted(info["skipped"], key=lambda s: s["key"]) == [
        {"key": "mods/butterflies/textures/butterflies_butterfly_red.png", "reason": "nothing to draw"},
        {"key": "mods/default/textures/default_void.png", "reason": "blank image (one flat colour)"}]


def test_fewer_images_than_asked_warns(installed, tmp_path):
    installed("kgeography_flags")
    with pytest.warns(RuntimeWarning, match="only 1 usable images of the 200"):
        result = build_domain("kgeography_flags", tmp_path)
    assert result.n == 1


def test_existing_folder_rules(installed, tmp_path):
    installed("kgeography_maps")
    build_domain("kgeography_maps", tmp_path, n=2, size=16)
    again = build_domain("kgeography_maps", tmp_path, n=2, size=16)
    assert again.status == "up to date" and again.n == 2
    with pytest.raises(InputError, match="exists and was built with other settings") as err:
        build_domain("kgeography_maps", tmp_path, n=2, size=24)
    assert "--overwrite" in str(err.value) and "\n" not in str(err.value)
    rebuilt = build_domain("kgeography_maps", tmp_path, n=2, size=24, overwrite=True)
    assert rebuilt.status == "built"
    assert build_domain("kgeography_maps", tmp_path, n=2, size=24, overwrite=True).status == "built"  # forced
    assert Image.open(tmp_path / "kgeography_maps" / "images" / "00000.png").size == (24, 24)
    assert not list(tmp_path.glob(".kgeography_maps.building-*"))


def test_bad_parameters(installed, tmp_path):
    with pytest.raises(InputError, match="'n' parameter of build_domain must be an int in \\[1, inf\\]"):
        build_domain("kgeography_maps", tmp_path, n=0)
    with pytest.raises(InputError, match="Unknown micro-zoo domain 'nope'; known domains: noto_emoji"):
        build_domain("nope", tmp_path)


def test_build_all_with_progress_and_keep_going(installed, tmp_path, monkeypatch):
    installed("kgeography_maps", "mnist_digits")
    monkeypatch.setattr(_fetch, "which", lambda tool: None)  # anything not cached cannot be fetched
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        results = build_all(tmp_path / "out", domains="kgeography_maps,mnist_digits,oxygen_icons", n=3, size=16,
                            progress=True, keep_going=True)
    assert [getattr(r, "n", None) for r in results[:2]] == [2, 3]
    assert isinstance(results[2], MatchChooseError) and "apt-get is not installed" in str(results[2])
    with pytest.raises(MatchChooseError, match="apt-get is not installed"):
        build_all(tmp_path / "out2", domains=["oxygen_icons"], n=3, progress=False)


def test_domain_status(installed, monkeypatch):
    cache = installed("mnist_digits")
    assert domain_status("mnist_digits", cache) == "cached"
    monkeypatch.setattr(_fetch, "which", lambda tool: f"/usr/bin/{tool}")
    assert domain_status("wesnoth_units", PackageCache(cache.root)) == "download 146 MB"
    monkeypatch.setattr(_fetch, "which", lambda tool: None)
    assert domain_status("wesnoth_units", cache).startswith("no: apt-get not found")


def test_a_package_with_an_unknown_layout_is_a_one_line_error(tmp_path):
    from matchchoose_microzoo.domains import Sources, list_items

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MatchChooseError, match="Domain 'wesnoth_units' cannot read its packages") as err:
        list_items("wesnoth_units", Sources({"wesnoth-1.16-data": empty}))
    assert "\n" not in str(err.value)
