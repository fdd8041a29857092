"""What every graph learner shares: ``fit_transform(graph)`` behind one memory and disk cache.

A learner (Node2Vec+, GraphSAGE, GAT) says what it depends on (:meth:`GraphEmbedder._params`), where its
disk cache lives (``_cache_name``, a key of :data:`matchchoose._cache.CACHES`) and how it embeds
(:meth:`GraphEmbedder._embed`); the key, the lookup, the atomic write and the damaged-file rule live here only.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd

from .._cache import atomic_write, cache_dir, cache_key
from ._matching import MatchingGraph

__all__ = ["GraphEmbedder"]

#: Embeddings of this process, by cache key (most recently used last), shared by every learner.
_MEMORY: "OrderedDict[str, pd.DataFrame]" = OrderedDict()
_MEMORY_SIZE = 64


class GraphEmbedder:
    """Base of the node embedders of a :class:`~matchchoose.graph.MatchingGraph`.

    Subclasses store their keyword arguments in ``__init__`` (one of them ``cache``: ``True`` for the
    default cache directory, a path, or ``False`` for memory only) and implement ``_check_params``,
    ``_params`` (every parameter the embedding depends on, never ``cache``) and
    ``_embed(graph) -> ndarray[n_nodes, dim]``.
    """

    #: Folder of the disk cache (a key of :data:`matchchoose._cache.CACHES`).
    _cache_name = "node2vec"

    def _check_params(self):  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def _params(self) -> dict:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def _embed(self, graph: MatchingGraph) -> np.ndarray:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def cache_key(self, graph: MatchingGraph) -> str:
        """Key of ``graph``'s embedding under these parameters."""
        return cache_key({"graph": graph.content_hash(), "params": self._params(), "v": 1})

    def _cache_dir(self) -> Path | None:
        if self.cache is False or self.cache is None:
            return None
        return cache_dir(self._cache_name) if self.cache is True else Path(self.cache)

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
        folder = self._cache_dir()
        path = folder / f"{key}.npy" if folder else None
        if path is not None and path.exists():
            try:
                values = np.load(path, allow_pickle=False)
            except (OSError, ValueError, EOFError):  # EOFError: an empty file (np.load raises it)
                values = None  # a damaged cache file is recomputed, never trusted
            if values is not None and values.shape == (graph.n_nodes, self.dim):
                self.cache_hit_ = True
                return self._remember(key, pd.DataFrame(values, index=list(graph.nodes)))
        self.cache_hit_ = False
        values = np.asarray(self._embed(graph), dtype=np.float32)
        frame = pd.DataFrame(values, index=list(graph.nodes))
        if path is not None:
            atomic_write(path, lambda fh: np.save(fh, frame.to_numpy()))  # a reader never sees half a file
        return self._remember(key, frame)

    @staticmethod
    def _remember(key, frame):
        _MEMORY[key] = frame
        while len(_MEMORY) > _MEMORY_SIZE:
            _MEMORY.popitem(last=False)
        return frame.copy()

    def __repr__(self) -> str:
        """The class and the parameters that differ from their defaults, as scikit-learn prints estimators."""
        import inspect

        changed = [f"{name}={getattr(self, name)!r}"
                   for name, param in inspect.signature(type(self).__init__).parameters.items()
                   if name != "self" and getattr(self, name, param.default) != param.default]
        return f"{type(self).__name__}({', '.join(changed)})"
