"""The once-compiled walk driver replays pecanpy's own single-threaded walks exactly.

Toy graph (weights on the edges), plus an isolated node "iso":

    a --1.0-- b --0.3-- e
    |0.2    /0.7        |0.9
    c ------            d
    c --0.05-- d

With ``walk_length = L`` a pecanpy walk holds ``L + 1`` nodes (the start and ``L`` steps); a walk
from an isolated node is the node alone.
"""

import warnings

import numba
import pytest
from pecanpy import pecanpy as pp
from pecanpy.graph import AdjlstGraph

from matchchoose.graph._walker import simulate_walks

NODES = ["a", "b", "c", "d", "e", "iso"]
EDGES = [("a", "b", 1.0), ("a", "c", 0.2), ("b", "c", 0.7), ("c", "d", 0.05), ("d", "e", 0.9), ("b", "e", 0.3)]


def toy_graph(*, p=0.5, q=2.0, extend=True, gamma=0.0, seed=7) -> pp.SparseOTF:
    adj = AdjlstGraph()
    for node in NODES:
        adj.add_node(node)
    for u, v, w in EDGES:
        adj.add_edge(u, v, w, directed=False)
    return pp.SparseOTF.from_adjlst_graph(adj, p=p, q=q, extend=extend, gamma=gamma, workers=1, random_state=seed)


@pytest.fixture
def one_thread():
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


def walks_of(graph, num_walks=4, walk_length=8, seed=7):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the isolated node has no mean edge weight
        return simulate_walks(graph, num_walks, walk_length, seed)


@pytest.mark.slow
@pytest.mark.parametrize(("extend", "p", "q", "gamma"), [(True, 0.5, 2.0, 0.1), (False, 2.0, 0.25, 0.0)])
def test_identical_to_pecanpy_simulate_walks(one_thread, extend, p, q, gamma):
    # pecanpy JIT-compiles its walker for every graph (about 10 s each): one small graph per mode.
    ours = walks_of(toy_graph(p=p, q=q, extend=extend, gamma=gamma), num_walks=4, walk_length=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        reference = toy_graph(p=p, q=q, extend=extend, gamma=gamma).simulate_walks(4, 8)
    assert ours == reference
    assert ["iso"] in ours and max(map(len, ours)) == 9


def test_pinned_walks():
    # Taken from pecanpy 2.0.9's SparseOTF(p=0.5, q=2, extend=True, random_state=7).simulate_walks(4, 8).
    walks = walks_of(toy_graph())
    assert walks[:3] == [["b", "a", "b", "a", "b", "e", "b", "c", "a"], ["iso"], ["iso"]]
    assert sum(map(len, walks)) == 184


def test_walk_structure():
    walks = walks_of(toy_graph(), num_walks=3, walk_length=5)
    assert len(walks) == 3 * len(NODES)
    # Every node starts exactly num_walks walks (pecanpy's balanced, shuffled start order).
    assert sorted(w[0] for w in walks) == sorted(NODES * 3)
    neighbours = {n: set() for n in NODES}
    for u, v, _ in EDGES:
        neighbours[u].add(v)
        neighbours[v].add(u)
    for walk in walks:
        if walk[0] == "iso":
            assert walk == ["iso"]
            continue
        assert len(walk) == 6
        assert all(b in neighbours[a] for a, b in zip(walk, walk[1:]))


def test_deterministic_and_seed_sensitive():
    g = toy_graph()
    first = walks_of(g, seed=11)
    assert walks_of(g, seed=11) == first
    assert walks_of(toy_graph(), seed=11) == first
    assert walks_of(g, seed=12) != first
    # The start order follows the seed too.
    assert [w[0] for w in walks_of(g, seed=12)] != [w[0] for w in first]


def test_plain_node2vec_with_unit_p_q_is_a_weighted_walk():
    # With p = q = 1 and extend=False the walk is first order: from "d" it goes to "e" far more often than "c".
    g = toy_graph(p=1.0, q=1.0, extend=False)
    steps = [w[1] for w in walks_of(g, num_walks=200, walk_length=2, seed=0) if w[0] == "d"]
    assert len(steps) == 200
    assert steps.count("e") / len(steps) == pytest.approx(0.9 / 0.95, abs=0.05)

