"""One cache layer: named folders, canonical keys, all-or-nothing writes, info and clearing."""

from __future__ import annotations

import json

import pytest

from matchchoose import InputError
from matchchoose._cache import CACHES, atomic_write, cache_dir, cache_info, cache_key, clear_cache


def test_keys_are_canonical_and_distinct():
    assert cache_key({"a": 1, "b": [1, 2]}) == cache_key({"b": [1, 2], "a": 1})
    assert cache_key({"a": 1}) != cache_key({"a": 2})
    assert len(cache_key({})) == 32


def test_atomic_write_replaces_whole_or_leaves_the_old_file(tmp_path):
    path = atomic_write(tmp_path / "sub" / "f.bin", lambda fh: fh.write(b"first"))
    assert path.read_bytes() == b"first"

    def fail(fh):
        fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, fail)
    assert path.read_bytes() == b"first"
    assert [p.name for p in path.parent.iterdir()] == ["f.bin"]  # no temporary file left behind


def test_info_and_clear(tmp_path):
    (cache_dir("predictors", tmp_path)).mkdir(parents=True)
    (cache_dir("predictors", tmp_path) / "a.pkl").write_bytes(b"x" * 10)
    (cache_dir("node2vec", tmp_path)).mkdir()
    (cache_dir("node2vec", tmp_path) / "b.npy").write_bytes(b"y" * 3)
    (tmp_path / "something-else").write_text("kept")
    info = {e["name"]: e for e in cache_info(tmp_path)}
    assert list(info)[: len(CACHES)] == list(CACHES) and "something-else" in info
    assert (info["predictors"]["files"], info["predictors"]["bytes"]) == (1, 10)
    assert info["probes"]["files"] == 0 and info["something-else"]["description"] == ""
    assert clear_cache(["predictors"], tmp_path) == {"predictors": 10}
    assert not cache_dir("predictors", tmp_path).exists() and cache_dir("node2vec", tmp_path).exists()
    assert clear_cache(root=tmp_path)["node2vec"] == 3
    assert (tmp_path / "something-else").read_text() == "kept"  # never anything but the named caches
    with pytest.raises(InputError, match="Unknown cache 'models'"):
        clear_cache(["models"], tmp_path)


def test_mnc_cache_info_and_clear(mnc, monkeypatch, tmp_path, one_line_error):
    monkeypatch.setenv("MNC_CACHE_DIR", str(tmp_path))
    cache_dir("node2vec").mkdir(parents=True)
    (cache_dir("node2vec") / "e.npy").write_bytes(b"z" * 5)
    code, out, err = mnc("cache", "info", "--json")
    assert code == 0, err
    assert {e["name"]: e["bytes"] for e in json.loads(out)}["node2vec"] == 5
    code, out, _ = mnc("cache", "clear")
    assert code == 2 and cache_dir("node2vec").exists()  # nothing is cleared without names or --all
    code, out, err = mnc("cache", "clear", "node2vec")
    assert code == 0 and "cleared node2vec" in out and not cache_dir("node2vec").exists()
    code, _, err = mnc("cache", "clear", "nope")
    one_line_error(code, err, "Unknown cache 'nope'")
