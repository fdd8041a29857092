"""Node2Vec+ node embeddings of a matching graph, cached by graph content."""

from __future__ import annotations

import warnings

import numpy as np

from .._paths import default_cache_dir
from .._validation import check_int, check_real
from ._embedder import _MEMORY, GraphEmbedder  # noqa: F401  (_MEMORY: the in-process cache, shared)
from ._matching import MatchingGraph

__all__ = ["Node2Vec", "Node2VecPlus", "default_cache_dir"]


class Node2VecPlus(GraphEmbedder):
    """Node2Vec+ (Liu et al. 2023) through pecanpy, deterministic under ``random_state``.

    Walks come from :func:`matchchoose.graph._walker.simulate_walks` (pecanpy's own walks, without the
    per-graph JIT), then a single-threaded skip-gram Word2Vec (gensim) embeds the nodes.
    Embeddings are cached in memory and on disk (the ``node2vec`` cache) under a key made of the graph's
    content hash and every parameter, so a repeated evaluation does not walk again.

    Parameters
    ----------
    dim : int, default=32
        Embedding dimension.
    walk_length, num_walks, window : int
        Walk length, walks per node, skip-gram window.
    p, q : float
        Return and in-out parameters.
    gamma : float
        Node2vec+ noise threshold factor.
    extend : bool, default=True
        Node2vec+ (``True``) or plain node2vec.
    epochs : int
        Word2Vec epochs.
    random_state : int
        Seed of the walks and of Word2Vec.
    cache : bool or path
        ``True``: :func:`default_cache_dir`; a path: that directory; ``False``: memory only.

    Examples
    --------
    >>> emb = Node2VecPlus(dim=8, random_state=0, cache=False).fit_transform(graph)  # doctest: +SKIP
    >>> emb.loc["m:sd15"].shape                                                              # doctest: +SKIP
    (8,)
    """

    def __init__(self, dim=32, walk_length=40, num_walks=10, window=5, p=1.0, q=1.0, gamma=0.0,
                 extend=True, epochs=1, random_state=0, cache=True):
        self.dim = dim
        self.walk_length = walk_length
        self.num_walks = num_walks
        self.window = window
        self.p = p
        self.q = q
        self.gamma = gamma
        self.extend = extend
        self.epochs = epochs
        self.random_state = random_state
        self.cache = cache

    def _check_params(self):
        owner = type(self).__name__
        check_int("dim", self.dim, low=1, owner=owner)
        check_int("walk_length", self.walk_length, low=2, owner=owner)
        check_int("num_walks", self.num_walks, low=1, owner=owner)
        check_int("window", self.window, low=1, owner=owner)
        check_int("epochs", self.epochs, low=1, owner=owner)
        check_int("random_state", self.random_state, low=0, owner=owner)
        check_real("p", self.p, low=0, low_open=True, owner=owner)
        check_real("q", self.q, low=0, low_open=True, owner=owner)
        check_real("gamma", self.gamma, owner=owner)

    def _params(self) -> dict:
        return {k: getattr(self, k) for k in
                ("dim", "walk_length", "num_walks", "window", "p", "q", "gamma", "extend", "epochs", "random_state")}

    def _embed(self, graph: MatchingGraph) -> np.ndarray:
        from gensim.models import Word2Vec

        from ._walker import simulate_walks

        g = graph.to_pecanpy(p=self.p, q=self.q, extend=self.extend, gamma=self.gamma,
                             random_state=self.random_state)
        with warnings.catch_warnings():
            # Isolated nodes (a model with no result yet) have no mean edge weight: pecanpy warns.
            warnings.simplefilter("ignore", RuntimeWarning)
            walks = simulate_walks(g, self.num_walks, self.walk_length, self.random_state)
        w2v = Word2Vec(walks, vector_size=self.dim, window=self.window, sg=1, min_count=0, workers=1,
                       epochs=self.epochs, seed=self.random_state)
        return np.asarray(w2v.wv[list(graph.nodes)], dtype=np.float32)


class Node2Vec(Node2VecPlus):
    """Plain node2vec (Grover & Leskovec 2016): :class:`Node2VecPlus` with ``extend=False`` by default.

    It shares Node2VecPlus's cache: ``Node2Vec()`` and ``Node2VecPlus(extend=False)`` are one embedding.

    Examples
    --------
    >>> Node2Vec().extend
    False
    """

    def __init__(self, dim=32, walk_length=40, num_walks=10, window=5, p=1.0, q=1.0, gamma=0.0,
                 extend=False, epochs=1, random_state=0, cache=True):
        super().__init__(dim=dim, walk_length=walk_length, num_walks=num_walks, window=window, p=p, q=q,
                         gamma=gamma, extend=extend, epochs=epochs, random_state=random_state, cache=cache)
