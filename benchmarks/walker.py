"""Node2Vec+ walks: pecanpy's own ``simulate_walks`` vs matchchoose's once-compiled driver, side by side.

pecanpy compiles a numba closure per graph; matchchoose's driver (``matchchoose.graph._walker``) takes
the graph arrays as arguments, so it compiles once (and caches on disk). Both produce the same walks;
this script checks that on every graph and prints the time per fresh graph and the ratio.

Usage::

    python benchmarks/walker.py [--graphs 3] [--models 180] [--datasets 13]
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np


def random_matching_graph(n_models: int, n_datasets: int, seed: int):
    """A TransferGraph-sized bipartite graph plus a complete dataset–dataset layer."""
    from pecanpy.graph import AdjlstGraph

    rng = np.random.default_rng(seed)
    graph = AdjlstGraph()
    for i in range(n_models):
        for j in range(n_datasets - 1):  # the last dataset is the target: no model edges
            graph.add_edge(f"m:{i}", f"d:{j}", float(rng.random()) + 0.05, directed=False)
    for a in range(n_datasets):
        for b in range(a + 1, n_datasets):
            graph.add_edge(f"d:{a}", f"d:{b}", float(rng.random()) + 0.05, directed=False)
    return graph


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=3)
    parser.add_argument("--models", type=int, default=180)
    parser.add_argument("--datasets", type=int, default=13)
    parser.add_argument("--num-walks", type=int, default=10)
    parser.add_argument("--walk-length", type=int, default=40)
    args = parser.parse_args(argv)
    numba.set_num_threads(1)  # pecanpy is deterministic only single-threaded

    from pecanpy import pecanpy as pp

    from matchchoose.graph._walker import simulate_walks

    print(f"{'graph':>5} {'pecanpy (s)':>12} {'matchchoose (s)':>16} {'ratio':>8} {'identical':>10}")
    rows = []
    for k in range(args.graphs):
        adj = random_matching_graph(args.models, args.datasets, seed=k)
        g = pp.SparseOTF.from_adjlst_graph(adj, p=1.0, q=1.0, extend=True, workers=1, random_state=k)
        t0 = time.perf_counter()
        ours = simulate_walks(g, args.num_walks, args.walk_length, k)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        theirs = g.simulate_walks(args.num_walks, args.walk_length)
        t_theirs = time.perf_counter() - t0
        rows.append((t_theirs, t_ours))
        print(f"{k:>5} {t_theirs:>12.2f} {t_ours:>16.3f} {t_theirs / t_ours:>7.0f}x {str(ours == theirs):>10}")
    later = rows[1:] or rows
    mean_theirs = np.mean([r[0] for r in later])
    mean_ours = np.mean([r[1] for r in later])
    print(f"graphs after the first: pecanpy {mean_theirs:.2f} s, matchchoose {mean_ours:.3f} s per graph "
          f"({mean_theirs / mean_ours:.0f}x); the first graph includes each side's one-time compilation or cache load")


if __name__ == "__main__":
    main()
