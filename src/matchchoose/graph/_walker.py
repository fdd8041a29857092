"""Node2Vec+ random walks on pecanpy's graph, with a walk kernel compiled once per machine.

pecanpy (Liu et al. 2023) builds its ``move_forward`` kernel as a numba closure over each graph's
arrays, so every new graph pays a fresh JIT compilation (about 6.5 s here); a leave-one-dataset-out
evaluation builds one graph per fold and would spend most of its time compiling. This module keeps
pecanpy's graph storage (:class:`pecanpy.pecanpy.SparseOTF`), its noise thresholds and its node2vec+
transition probabilities (``SparseRWGraph.get_extended_normalized_probs``) and only replaces the
walk *driver* with a module-level ``njit(cache=True)`` function that takes the graph arrays as
arguments: compiled once, cached on disk, reused by every graph.

The driver replays pecanpy's single-threaded random stream exactly (same start-node shuffle, same
seed, one uniform draw per step, same CDF search), so its walks are identical to
``SparseOTF(workers=1, random_state=seed).simulate_walks`` under ``numba.set_num_threads(1)``; a test
pins this.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from pecanpy.rw.sparse_rw import SparseRWGraph

_ext_probs = SparseRWGraph.get_extended_normalized_probs
_plain_probs = SparseRWGraph.get_normalized_probs


@njit(nogil=True, cache=True)
def _step(indptr, indices, data, p, q, noise, extend, cur, prev):
    if extend:
        if prev < 0:
            probs = _ext_probs(data, indices, indptr, p, q, cur, None, noise)
        else:
            probs = _ext_probs(data, indices, indptr, p, q, cur, prev, noise)
    else:
        if prev < 0:
            probs = _plain_probs(data, indices, indptr, p, q, cur, None, noise)
        else:
            probs = _plain_probs(data, indices, indptr, p, q, cur, prev, noise)
    cdf = np.cumsum(probs)
    choice = np.searchsorted(cdf, np.random.random())
    return indices[indptr[cur] + choice]


@njit(nogil=True, cache=True)
def _walk_kernel(indptr, indices, data, p, q, noise, extend, starts, walk_length, seed):
    np.random.seed(seed)
    n_walks = starts.size
    walks = np.zeros((n_walks, walk_length + 2), dtype=np.uint32)
    for i in range(n_walks):
        start = starts[i]
        walks[i, 0] = start
        walks[i, -1] = walk_length + 1  # last column: effective walk length
        if indptr[start] == indptr[start + 1]:
            walks[i, -1] = 1
            continue
        walks[i, 1] = _step(indptr, indices, data, p, q, noise, extend, start, -1)
        for j in range(2, walk_length + 1):
            cur = walks[i, j - 1]
            if indptr[cur] == indptr[cur + 1]:
                walks[i, -1] = j
                break
            walks[i, j] = _step(indptr, indices, data, p, q, noise, extend, cur, np.int64(walks[i, j - 2]))
    return walks


def simulate_walks(graph, num_walks: int, walk_length: int, random_state: int) -> list[list[str]]:
    """Node2vec(+) walks from every node of a pecanpy ``SparseOTF`` graph, deterministic under a seed.

    Parameters
    ----------
    graph : pecanpy.pecanpy.SparseOTF
        Graph with ``p``, ``q``, ``extend`` and ``gamma`` set.
    num_walks, walk_length : int
        Walks per node and their length.
    random_state : int
        Seed; the same seed gives the same walks, bit for bit.

    Returns
    -------
    list of list of str
        One list of node ids per walk (``num_walks * n_nodes`` walks).
    """
    starts = np.tile(np.arange(graph.num_nodes, dtype=np.uint32), num_walks)
    np.random.RandomState(random_state).shuffle(starts)  # pecanpy's balanced start order
    if graph.extend:
        noise = graph.get_noise_thresholds()
    else:
        noise = np.zeros(graph.num_nodes, dtype=np.float32)
    walks = _walk_kernel(
        graph.indptr,
        graph.indices,
        graph.data,
        float(graph.p),
        float(graph.q),
        noise,
        bool(graph.extend),
        starts,
        int(walk_length),
        int(random_state),
    )
    nodes = graph.nodes
    return [[nodes[k] for k in row[: row[-1]]] for row in walks]
