"""Node2Vec+ embeddings: bit-for-bit determinism, the memory and disk caches, parameter checks.

A tiny matching graph: datasets x, y, t; models a, b, c and an isolated model "lone".
"""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from matchchoose import InputError
from matchchoose.graph import MatchingGraph, Node2VecPlus, default_cache_dir
from matchchoose.graph import _embedder

NODES = ("d:t", "d:x", "d:y", "m:a", "m:b", "m:c", "m:lone")
EDGES = (("d:t", "d:x", 0.8), ("d:t", "d:y", 0.1), ("d:x", "d:y", 0.3), ("d:x", "m:a", 1.0), ("d:x", "m:b", 0.05),
         ("d:x", "m:c", 0.5), ("d:y", "m:a", 0.05), ("d:y", "m:b", 1.0))
GRAPH = MatchingGraph(NODES, EDGES)
SMALL = dict(dim=8, walk_length=10, num_walks=5)

SCRIPT = """
import hashlib
from matchchoose.graph import MatchingGraph, Node2VecPlus
nodes = {nodes!r}
edges = {edges!r}
emb = Node2VecPlus(dim=8, walk_length=10, num_walks=5, random_state=0, cache=False).fit_transform(
    MatchingGraph(nodes, edges))
print(hashlib.sha256(emb.to_numpy().tobytes()).hexdigest())
"""


def embed(**kw):
    params = {**SMALL, "random_state": 0, "cache": False, **kw}
    model = Node2VecPlus(**params)
    return model, model.fit_transform(GRAPH)


def digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(frame.to_numpy().tobytes()).hexdigest()


def test_shape_index_dtype(fresh_embedding_memory):
    model, emb = embed()
    assert emb.shape == (7, 8) and list(emb.index) == list(NODES)
    assert (emb.dtypes == np.float32).all() and np.isfinite(emb.to_numpy()).all()
    assert model.cache_hit_ is False


def test_same_seed_bit_identical_other_seed_differs(fresh_embedding_memory):
    _, first = embed()
    fresh_embedding_memory.clear()
    _, again = embed()
    assert digest(first) == digest(again)
    _, other = embed(random_state=1)
    assert not np.array_equal(first.to_numpy(), other.to_numpy())
    # Parameters other than the seed change the embedding too (they are part of the cache key).
    _, plain = embed(extend=False, p=0.5)
    assert not np.array_equal(first.to_numpy(), plain.to_numpy())


@pytest.mark.slow
def test_bit_identical_across_processes_and_hash_seeds(fresh_embedding_memory):
    _, emb = embed()
    script = SCRIPT.format(nodes=NODES, edges=EDGES)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONHASHSEED": seed})
             for seed in ("1", "2")]
    outs = [proc.communicate(timeout=120) for proc in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    assert [out.strip() for out, _ in outs] == [digest(emb)] * 2


def test_memory_cache_hit_returns_a_copy(fresh_embedding_memory):
    model, first = embed()
    assert model.cache_hit_ is False and len(fresh_embedding_memory) == 1
    again_model, again = embed()
    assert again_model.cache_hit_ is True
    pd.testing.assert_frame_equal(first, again)
    again.iloc[0, 0] = 123.0  # callers cannot corrupt the cache
    pd.testing.assert_frame_equal(embed()[1], first)


def test_cache_key_covers_graph_and_parameters():
    base = Node2VecPlus(**SMALL)
    key = base.cache_key(GRAPH)
    assert len(key) == 32 and key == Node2VecPlus(**SMALL).cache_key(GRAPH)
    assert Node2VecPlus(**SMALL, cache=False).cache_key(GRAPH) == key  # where it is cached is not content
    for change in ({"dim": 9}, {"random_state": 1}, {"p": 2.0}, {"extend": False}, {"epochs": 2}):
        assert Node2VecPlus(**{**SMALL, **change}).cache_key(GRAPH) != key
    other = MatchingGraph(NODES, EDGES[:-1])
    assert base.cache_key(other) != key


def test_disk_cache_written_and_read_back(tmp_path, fresh_embedding_memory):
    model, first = embed(cache=tmp_path)
    path = tmp_path / f"{model.cache_key(GRAPH)}.npy"
    assert model.cache_hit_ is False and path.exists()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    np.testing.assert_array_equal(np.load(path), first.to_numpy())
    fresh_embedding_memory.clear()  # as in a fresh process
    model2, second = embed(cache=str(tmp_path))
    assert model2.cache_hit_ is True
    pd.testing.assert_frame_equal(first, second)
    assert digest(first) == digest(second)


def test_disk_cache_read_in_a_fresh_process(tmp_path, fresh_embedding_memory):
    model, first = embed(cache=tmp_path)
    script = (
        "import sys, hashlib\n"
        "from matchchoose.graph import MatchingGraph, Node2VecPlus\n"
        f"g = MatchingGraph({NODES!r}, {EDGES!r})\n"
        f"m = Node2VecPlus(dim=8, walk_length=10, num_walks=5, random_state=0, cache={str(tmp_path)!r})\n"
        "e = m.fit_transform(g)\n"
        "print(m.cache_hit_, hashlib.sha256(e.to_numpy().tobytes()).hexdigest())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", digest(first)]


def test_cache_true_uses_default_dir(monkeypatch, tmp_path, fresh_embedding_memory):
    monkeypatch.setenv("MNC_CACHE_DIR", str(tmp_path / "mnc"))
    assert default_cache_dir() == tmp_path / "mnc"
    model, _ = embed(cache=True)
    assert (tmp_path / "mnc" / "node2vec" / f"{model.cache_key(GRAPH)}.npy").exists()
    monkeypatch.delenv("MNC_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "matchchoose"


def test_memory_only_writes_nothing(tmp_path, monkeypatch, fresh_embedding_memory):
    monkeypatch.setenv("MNC_CACHE_DIR", str(tmp_path))
    embed(cache=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "wrong_shape"])
def test_damaged_cache_file_is_recomputed(tmp_path, fresh_embedding_memory, damage):
    model, first = embed(cache=tmp_path)
    path = tmp_path / f"{model.cache_key(GRAPH)}.npy"
    blob = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a numpy file")
    elif damage == "truncated":
        path.write_bytes(blob[: len(blob) - 16])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        np.save(path, np.zeros((3, 8), dtype=np.float32))
    fresh_embedding_memory.clear()
    model2, again = embed(cache=tmp_path)
    assert model2.cache_hit_ is False
    pd.testing.assert_frame_equal(first, again)
    assert path.read_bytes() == blob  # the damaged file is replaced by a good one


def test_memory_cache_is_bounded(fresh_embedding_memory, monkeypatch):
    monkeypatch.setattr(_embedder, "_MEMORY_SIZE", 2)
    for seed in range(3):
        embed(random_state=seed)
    assert len(fresh_embedding_memory) == 2
    assert embed(random_state=0)[0].cache_hit_ is False  # the oldest entry left first
    assert embed(random_state=2)[0].cache_hit_ is True


@pytest.mark.parametrize(("param", "value", "expected"), [
    ("dim", 0, "an int in [1, inf]"),
    ("dim", 8.0, "an int in [1, inf]"),
    ("walk_length", 1, "an int in [2, inf]"),
    ("num_walks", 0, "an int in [1, inf]"),
    ("window", 0, "an int in [1, inf]"),
    ("epochs", 0, "an int in [1, inf]"),
    ("random_state", -1, "an int in [0, inf]"),
    ("random_state", None, "an int in [0, inf]"),
    ("p", 0.0, "a float in (0, inf]"),
    ("q", -1, "a float in (0, inf]"),
    ("gamma", "big", "a float in [-inf, inf]"),
])
def test_parameter_errors_name_the_parameter(param, value, expected):
    model = Node2VecPlus(**{**SMALL, param: value})
    message = f"The '{param}' parameter of Node2VecPlus must be {expected}. Got {value!r} instead."
    with pytest.raises(InputError) as info:
        model.fit_transform(GRAPH)
    assert str(info.value) == message


def test_init_stores_parameters_unchanged():
    model = Node2VecPlus(dim=3, p=-5, cache="somewhere")
    assert (model.dim, model.p, model.cache) == (3, -5, "somewhere")
    assert not hasattr(model, "cache_hit_")
