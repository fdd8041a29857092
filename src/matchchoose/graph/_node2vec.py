"""Node2Vec+ node embeddings of a matching graph, cached by graph content."""

from __future__ import annotations

import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd

from .._cache import atomic_write, cache_dir, cache_key
from .._paths import default_cache_dir
from .._validation import check_int, check_real
from ._matching import MatchingGraph

__all__ = ["Node2VecPlus", "default_cache_dir"]

_MEMORY: "OrderedDict[str, pd.DataFrame]" = OrderedDict()
_MEMORY_SIZE = 64


class Node2VecPlus:
    """Node2Vec+ (Liu et al. 2023) through pecanpy, deterministic under ``random_state``.

    Walks come from :func:`matchchoose.graph._walker.simulate_walks` (pecanpy's own walks, without the
    per-graph JIT), then a single-threaded skip-gram Word2Vec (gensim) embeds the nodes.
    Embeddings are cached in memory and on disk under a key made of the graph's content hash and
    every parameter, so a repeated evaluation does not walk again.

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
    >>> emb.loc["m:sd15"].shape
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

    def cache_key(self, graph: MatchingGraph) -> str:
        """Key of ``graph``'s embedding under these parameters."""
        return cache_key({"graph": graph.content_hash(), "params": self._params(), "v": 1})

    def _cache_dir(self) -> Path | None:
        if self.cache is False or self.cache is None:
            return None
        return cache_dir("node2vec") if self.cache is True else Path(self.cache)

    def fit_transform(self, graph: MatchingGraph) -> pd.DataFrame:
        """Embed every node of ``graph``.

        Returns
        -------
        DataFrame, shape (n_nodes, dim)
            Index = node ids of ``graph.nodes``, float32 values.
        """
        self._check_params()
        key = self.cache_key(graph)
        if key in _MEMORY:
            _MEMORY.move_to_end(key)
            self.cache_hit_ = True
            return _MEMORY[key].copy()
        cache_dir = self._cache_dir()
        path = cache_dir / f"{key}.npy" if cache_dir else None
        if path is not None and path.exists():
            try:
                values = np.load(path, allow_pickle=False)
            except (OSError, ValueError, EOFError):  # EOFError: an empty file (np.load raises it)
                values = None  # a damaged cache file is recomputed, never trusted
            if values is not None and values.shape == (graph.n_nodes, self.dim):
                self.cache_hit_ = True
                return self._remember(key, pd.DataFrame(values, index=list(graph.nodes)))
        self.cache_hit_ = False
        frame = pd.DataFrame(self._embed(graph), index=list(graph.nodes))
        if path is not None:
            atomic_write(path, lambda fh: np.save(fh, frame.to_numpy()))  # a reader never sees half a file
        return self._remember(key, frame)

    @staticmethod
    def _remember(key, frame):
        _MEMORY[key] = frame
        while len(_MEMORY) > _MEMORY_SIZE:
            _MEMORY.popitem(last=False)
        return frame.copy()

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
