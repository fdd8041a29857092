"""GraphSAGE and GAT embeddings: shape, determinism under the seed, the caches, planted communities, errors.

Graphs are tiny (7 and 16 nodes), so each learner trains in well under a second.
"""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from matchchoose import InputError, MissingDependencyError  # noqa: E402
from matchchoose.graph import EMBEDDERS, GAT, GraphSAGE, MatchingGraph, Node2Vec, Node2VecPlus  # noqa: E402
from matchchoose.graph import make_embedder  # noqa: E402

NODES = ("d:t", "d:x", "d:y", "m:a", "m:b", "m:c", "m:lone")
EDGES = (("d:t", "d:x", 0.8), ("d:t", "d:y", 0.1), ("d:x", "d:y", 0.3), ("d:x", "m:a", 1.0), ("d:x", "m:b", 0.05),
         ("d:x", "m:c", 0.5), ("d:y", "m:a", 0.05), ("d:y", "m:b", 1.0))
GRAPH = MatchingGraph(NODES, EDGES)
SMALL = dict(dim=8, epochs=60)
LEARNERS = [GraphSAGE, GAT]


def embed(cls, **kw):
    model = cls(**{**SMALL, "random_state": 0, "cache": False, **kw})
    return model, model.fit_transform(GRAPH)


def digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(frame.to_numpy().tobytes()).hexdigest()


def two_communities() -> MatchingGraph:
    """Two planted communities: datasets p0..p2 with models a0..a4, datasets q0..q2 with models b0..b4. Every
    model has a strong result (1.0) on its own datasets and a weak one (0.05) on the others', datasets are
    close within a community; the target t has no results, only distances: close to p0..p2, far from q0..q2."""
    nodes, edges = ["d:t"], []
    for ds, ms in (("p", "a"), ("q", "b")):
        d_nodes = [f"d:{ds}{i}" for i in range(3)]
        m_nodes = [f"m:{ms}{i}" for i in range(5)]
        nodes += d_nodes + m_nodes
        edges += [(d, m, 1.0) for d in d_nodes for m in m_nodes]
        edges += [(d_nodes[i], d_nodes[j], 0.9) for i in range(3) for j in range(i + 1, 3)]
        edges += [(d, "d:t", 0.9 if ds == "p" else 0.1) for d in d_nodes]
    edges += [(f"d:p{i}", f"m:b{j}", 0.05) for i in range(3) for j in range(5)]
    edges += [(f"d:q{i}", f"m:a{j}", 0.05) for i in range(3) for j in range(5)]
    return MatchingGraph(tuple(sorted(nodes)), tuple(sorted((min(u, v), max(u, v), w) for u, v, w in edges)))


def cosine_gap(frame: pd.DataFrame) -> float:
    """Mean cosine similarity within the planted communities minus across them (distinct nodes; not t)."""
    frame = frame.drop("d:t")
    x = frame.to_numpy(float)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = x @ x.T
    side = np.array([n[2] in "pa" for n in frame.index])
    same = side[:, None] == side[None, :]
    off = ~np.eye(len(side), dtype=bool)
    return float(sim[same & off].mean() - sim[~same].mean())


def target_auc(frame: pd.DataFrame) -> float:
    """How often the target's link score (dot product) ranks one of its community's models above one of the
    other's: the question Match & Choose asks of a dataset without results (0.5 = chance)."""
    t = frame.loc["d:t"].to_numpy(float)
    score = {m: float(frame.loc[m].to_numpy(float) @ t) for m in frame.index if m.startswith("m:")}
    own = [v for m, v in score.items() if m[2] == "a"]
    other = [v for m, v in score.items() if m[2] == "b"]
    return float(np.mean([a > b for a in own for b in other]))


@pytest.mark.parametrize("cls", LEARNERS)
def test_shape_index_dtype(cls, fresh_embedding_memory):
    model, emb = embed(cls)
    assert emb.shape == (7, 8) and list(emb.index) == list(NODES)
    assert (emb.dtypes == np.float32).all() and np.isfinite(emb.to_numpy()).all()
    assert model.cache_hit_ is False


@pytest.mark.parametrize("cls", LEARNERS)
def test_same_seed_bit_identical_other_seed_differs(cls, fresh_embedding_memory):
    _, first = embed(cls)
    fresh_embedding_memory.clear()
    _, again = embed(cls)
    assert digest(first) == digest(again)
    _, other = embed(cls, random_state=1)
    assert not np.array_equal(first.to_numpy(), other.to_numpy())
    _, longer = embed(cls, epochs=61)  # a parameter other than the seed changes it too (it is in the key)
    assert not np.array_equal(first.to_numpy(), longer.to_numpy())


@pytest.mark.parametrize("cls", LEARNERS)
def test_torch_settings_are_restored(cls, fresh_embedding_memory):
    threads = torch.get_num_threads()
    before = torch.are_deterministic_algorithms_enabled()
    with torch.no_grad():  # a caller without gradients still gets a trained embedding
        _, emb = embed(cls)
    fresh_embedding_memory.clear()
    assert torch.get_num_threads() == threads and torch.are_deterministic_algorithms_enabled() == before
    assert digest(emb) == digest(embed(cls)[1])


@pytest.mark.slow
def test_bit_identical_in_a_fresh_process(fresh_embedding_memory):
    _, emb = embed(GraphSAGE)
    script = (
        "import hashlib\n"
        "from matchchoose.graph import GraphSAGE, MatchingGraph\n"
        f"g = MatchingGraph({NODES!r}, {EDGES!r})\n"
        "e = GraphSAGE(dim=8, epochs=60, random_state=0, cache=False).fit_transform(g)\n"
        "print(hashlib.sha256(e.to_numpy().tobytes()).hexdigest())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert out.stdout.strip() == digest(emb)


@pytest.mark.parametrize("cls", LEARNERS)
def test_memory_and_disk_cache_hits_return_identical_values(cls, tmp_path, fresh_embedding_memory):
    model, first = embed(cls, cache=tmp_path)
    path = tmp_path / f"{model.cache_key(GRAPH)}.npy"
    assert model.cache_hit_ is False and path.exists()
    again_model, again = embed(cls, cache=tmp_path)
    assert again_model.cache_hit_ is True and digest(again) == digest(first)
    again.iloc[0, 0] = 123.0  # callers cannot corrupt the cache
    fresh_embedding_memory.clear()  # as in a fresh process: read back from disk
    disk_model, disk = embed(cls, cache=tmp_path)
    assert disk_model.cache_hit_ is True
    pd.testing.assert_frame_equal(disk, first)


def test_default_disk_cache_is_the_gnn_cache(monkeypatch, tmp_path, fresh_embedding_memory):
    monkeypatch.setenv("MNC_CACHE_DIR", str(tmp_path))
    model, _ = embed(GAT, cache=True)
    assert [p.name for p in (tmp_path / "gnn").iterdir()] == [f"{model.cache_key(GRAPH)}.npy"]


def test_cache_key_covers_learner_graph_and_parameters():
    key = GraphSAGE(**SMALL).cache_key(GRAPH)
    assert len(key) == 32 and GraphSAGE(**SMALL, cache=False).cache_key(GRAPH) == key
    assert GAT(**SMALL).cache_key(GRAPH) != key  # same parameters, another learner
    for change in ({"dim": 9}, {"epochs": 61}, {"random_state": 1}, {"learning_rate": 0.02},
                   {"negative_ratio": 3}, {"supervision_fraction": 0.0}):
        assert GraphSAGE(**{**SMALL, **change}).cache_key(GRAPH) != key, change
    assert GraphSAGE(**SMALL).cache_key(MatchingGraph(NODES, EDGES[:-1])) != key


@pytest.mark.parametrize("cls", LEARNERS)
def test_planted_communities_are_separated(cls, fresh_embedding_memory):
    graph = two_communities()
    trained = [cls(dim=16, random_state=seed, cache=False).fit_transform(graph) for seed in range(3)]
    # One Adam step: what the random inputs and the aggregation alone give.
    untrained = [cls(dim=16, epochs=1, random_state=seed, cache=False).fit_transform(graph) for seed in range(3)]
    gap = np.mean([cosine_gap(e) for e in trained])
    assert gap > 0.3 and gap > np.mean([cosine_gap(e) for e in untrained]) + 0.2
    auc = np.mean([target_auc(e) for e in trained])
    assert auc > 0.75 and auc > np.mean([target_auc(e) for e in untrained]) + 0.2


@pytest.mark.parametrize("cls", LEARNERS)
def test_graph_without_edges_and_isolated_nodes(cls, fresh_embedding_memory):
    bare = MatchingGraph(("d:x", "m:a"), ())
    emb = cls(dim=4, random_state=0, cache=False).fit_transform(bare)
    assert emb.shape == (2, 4) and np.isfinite(emb.to_numpy()).all()
    _, with_lone = embed(cls)
    assert np.isfinite(with_lone.loc["m:lone"].to_numpy()).all()  # no edge: its own transform, no NaN


@pytest.mark.parametrize(("param", "value", "expected"), [
    ("dim", 0, "an int in [1, inf]"),
    ("epochs", 0, "an int in [1, inf]"),
    ("learning_rate", 0, "a float in (0, inf]"),
    ("negative_ratio", 0, "an int in [1, inf]"),
    ("supervision_fraction", 1.0, "a float in [0, 1)"),
    ("random_state", -1, "an int in [0, inf]"),
])
@pytest.mark.parametrize("cls", LEARNERS)
def test_parameter_errors_name_the_parameter(cls, param, value, expected):
    with pytest.raises(InputError) as info:
        cls(**{**SMALL, param: value}).fit_transform(GRAPH)
    assert str(info.value) == (f"The '{param}' parameter of {cls.__name__} must be {expected}. "
                               f"Got {value!r} instead.")


def test_missing_torch_names_the_extra(monkeypatch, fresh_embedding_memory):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingDependencyError, match=r"GraphSAGE graph learner requires torch: pip install "
                                                     r"'matchchoose\[gnn\]'"):
        GraphSAGE(**SMALL, cache=False).fit_transform(GRAPH)


def test_registry_names_and_factory():
    assert EMBEDDERS == {"node2vec+": Node2VecPlus, "node2vec": Node2Vec, "graphsage": GraphSAGE, "gat": GAT}
    assert Node2Vec().extend is False and Node2Vec().cache_key(GRAPH) == Node2VecPlus(extend=False).cache_key(GRAPH)
    built = make_embedder("gat", dim=4, random_state=2)
    assert isinstance(built, GAT) and (built.dim, built.random_state) == (4, 2)
    assert repr(built) == "GAT(dim=4, random_state=2)"
    with pytest.raises(InputError, match=r"The 'graph_learner' parameter of MatchChoose must be one of "
                                         r"\['gat', 'graphsage', 'node2vec', 'node2vec\+'\]. Got 'sage' instead."):
        make_embedder("sage", "MatchChoose")
    with pytest.raises(InputError, match=r"The graph learner 'graphsage' \(GraphSAGE\) takes no parameter "
                                         r"'walk_length': it takes dim, epochs"):
        make_embedder("graphsage", walk_length=5)
