"""The matching graph of a toy zoo whose edges can be listed by hand.

Accuracy (higher is better); the model "x" and the dataset "x" share a name; model "lone" has no
result; dataset "t" (the target) has distances but no results.

    acc    a    x    lone        normalized affinity    a      x
    x     0.9  0.7    -                               1     0.05
    y     0.5  0.8    -                              0.05    1

Distances x-y 1, x-t 2, y-t 4 (median 2): gaussian e^-0.25, e^-1, e^-4.
"""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from matchchoose import InputError, Metric, ZooRecords
from matchchoose.graph import MatchingGraph, dataset_node, model_node


def toy(**kw) -> ZooRecords:
    results = pd.DataFrame({"model": ["a", "x", "a", "x"], "dataset": ["x", "x", "y", "y"],
                            "value": [0.9, 0.7, 0.5, 0.8]})
    dist = pd.DataFrame([[0, 1, 2], [1, 0, 4], [2, 4, 0]], index=list("xyt"), columns=list("xyt"), dtype=float)
    return ZooRecords(results, Metric("accuracy", True), models=["a", "x", "lone"], distances=dist, **kw)


E1, E2, E4 = math.exp(-0.25), math.exp(-1.0), math.exp(-4.0)


def test_node_ids_are_prefixed():
    assert model_node("x") == "m:x" and dataset_node("x") == "d:x"
    g = MatchingGraph.from_records(toy())
    assert g.nodes == ("d:t", "d:x", "d:y", "m:a", "m:lone", "m:x")
    assert g.n_nodes == 6


def test_edges_sorted_with_u_before_v():
    g = MatchingGraph.from_records(toy())
    assert [(u, v) for u, v, _ in g.edges] == [
        ("d:t", "d:x"), ("d:t", "d:y"), ("d:x", "d:y"),
        ("d:x", "m:a"), ("d:x", "m:x"), ("d:y", "m:a"), ("d:y", "m:x"),
    ]
    assert all(u < v for u, v, _ in g.edges) and list(g.edges) == sorted(g.edges)
    w = {(u, v): w for u, v, w in g.edges}
    assert w[("d:x", "m:a")] == 1.0 and w[("d:x", "m:x")] == pytest.approx(0.05)
    assert w[("d:y", "m:a")] == pytest.approx(0.05) and w[("d:y", "m:x")] == 1.0
    assert (w[("d:x", "d:y")], w[("d:t", "d:x")], w[("d:t", "d:y")]) == pytest.approx((E1, E2, E4))
    assert g.n_edges == 7
    assert all(isinstance(w, float) for _, _, w in g.edges)


def test_graph_options_reach_the_edges():
    g = MatchingGraph.from_records(toy(), score_affinity_method="raw", distance_affinity_method="inverse",
                                   dataset_edge_scale=2.0)
    w = {(u, v): w for u, v, w in g.edges}
    assert w[("d:x", "m:a")] == 0.9 and w[("d:y", "m:a")] == 0.5
    assert w[("d:x", "d:y")] == pytest.approx(2 * 2 / 3) and w[("d:t", "d:y")] == pytest.approx(2 / 3)
    knn = MatchingGraph.from_records(toy(), distance_affinity_method="knn", knn=1)
    assert [(u, v) for u, v, _ in knn.edges if u.startswith("d:") and v.startswith("d:")] == [
        ("d:t", "d:x"), ("d:x", "d:y")]


def test_exclude_results_of_keeps_distance_edges():
    full = MatchingGraph.from_records(toy())
    g = MatchingGraph.from_records(toy(), exclude_results_of=["x"])
    assert g.nodes == full.nodes
    assert set(full.edges) - set(g.edges) == {e for e in full.edges if e[0] == "d:x" and e[1].startswith("m:")}
    assert not any(u == "d:x" and v.startswith("m:") for u, v, _ in g.edges)
    # x's dataset-dataset edges and y's model edges stay, with unchanged weights.
    assert [e for e in g.edges if "d:x" in e[:2]] == [e for e in full.edges if e[:2] in {("d:t", "d:x"),
                                                                                        ("d:x", "d:y")}]
    assert [e for e in g.edges if e[0] == "d:y" and e[1].startswith("m:")] == [
        e for e in full.edges if e[0] == "d:y" and e[1].startswith("m:")]


def test_exclude_results_of_a_lone_name():
    # A string is one dataset (as in ZooRecords.without_results), not an iterable of characters.
    r = ZooRecords(pd.DataFrame({"model": ["a", "a"], "dataset": ["d0", "d1"], "value": [1.0, 2.0]}),
                   Metric("acc", True))
    assert MatchingGraph.from_records(r, exclude_results_of="d0").edges == (("d:d1", "m:a", 1.0),)
    assert MatchingGraph.from_records(r, exclude_results_of="d0") == MatchingGraph.from_records(
        r, exclude_results_of=["d0"])


def test_same_as_building_from_records_without_results():
    # Excluding x's results is the leave-one-dataset-out view, except that the affinities of the other
    # datasets are per-dataset and so do not change either way.
    records = toy()
    assert MatchingGraph.from_records(records, exclude_results_of=["x"]) == MatchingGraph.from_records(
        records.without_results("x"))


def test_no_distances_no_results():
    r = ZooRecords(pd.DataFrame({"model": ["a"], "dataset": ["x"], "value": [1.0]}), Metric("acc", True))
    assert MatchingGraph.from_records(r).edges == (("d:x", "m:a", 1.0),)
    empty = MatchingGraph.from_records(r.without_results("x"))
    assert empty.nodes == ("d:x", "m:a") and empty.edges == ()


def test_parameter_errors_name_the_parameter():
    with pytest.raises(InputError, match="'knn' parameter of MatchingGraph must be an int in"):
        MatchingGraph.from_records(toy(), knn=0)
    with pytest.raises(InputError, match=r"'dataset_edge_scale' parameter of MatchingGraph must be a float in \(0, "):
        MatchingGraph.from_records(toy(), dataset_edge_scale=0.0)
    with pytest.raises(InputError, match="'method' parameter of score_affinity"):
        MatchingGraph.from_records(toy(), score_affinity_method="bogus")


def test_content_hash_stable_and_sensitive():
    g = MatchingGraph.from_records(toy())
    h = g.content_hash()
    assert len(h) == 64 and h == MatchingGraph.from_records(toy()).content_hash() == g.content_hash()
    u, v, w = g.edges[0]
    changed = MatchingGraph(g.nodes, ((u, v, w * 1.01),) + g.edges[1:])
    assert changed.content_hash() != h
    # Weights are hashed as float32: a change below float32 resolution is the same graph.
    tiny = MatchingGraph(g.nodes, ((u, v, w + 1e-12),) + g.edges[1:])
    assert tiny.content_hash() == h
    assert MatchingGraph(g.nodes + ("m:zz",), g.edges).content_hash() != h
    assert MatchingGraph.from_records(toy(), exclude_results_of=["y"]).content_hash() != h


def test_content_hash_same_in_another_process():
    g = MatchingGraph.from_records(toy())
    script = (
        "import json, sys\n"
        "from matchchoose.graph import MatchingGraph\n"
        "nodes, edges = json.loads(sys.stdin.read())\n"
        "print(MatchingGraph(tuple(nodes), tuple(map(tuple, edges))).content_hash())\n"
    )
    payload = json.dumps([list(g.nodes), [list(e) for e in g.edges]])
    out = subprocess.run([sys.executable, "-c", script], input=payload, capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONHASHSEED": "123"})
    assert out.stdout.strip() == g.content_hash()


def test_to_pecanpy_keeps_isolated_nodes():
    g = MatchingGraph.from_records(toy())
    pg = g.to_pecanpy(p=0.5, q=2.0, extend=True, gamma=0.0, random_state=3)
    assert list(pg.nodes) == list(g.nodes) and pg.num_nodes == 6
    lone = pg.nodes.index("m:lone")
    assert pg.indptr[lone] == pg.indptr[lone + 1]  # no neighbour
    # Undirected: every edge is stored both ways, with its weight.
    assert pg.indptr[-1] == 2 * g.n_edges
    ia, ix = pg.nodes.index("m:a"), pg.nodes.index("d:x")
    nbrs = pg.indices[pg.indptr[ia]:pg.indptr[ia + 1]]
    weights = pg.data[pg.indptr[ia]:pg.indptr[ia + 1]]
    assert float(weights[list(nbrs).index(ix)]) == 1.0
    assert (pg.p, pg.q, pg.extend, pg.random_state) == (0.5, 2.0, True, 3)
    assert np.isclose(sorted(pg.data)[0], E4)
