"""The matching graph (paper 4.3): model and dataset nodes, weighted by results and similarity."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from .._validation import check_int, check_real
from ..records import ZooRecords
from ._affinity import distance_affinity, score_affinity

__all__ = ["MatchingGraph", "model_node", "dataset_node"]


def model_node(name: str) -> str:
    """Node id of a model (prefixed so a model and a dataset may share a name)."""
    return f"m:{name}"


def dataset_node(name: str) -> str:
    """Node id of a dataset."""
    return f"d:{name}"


@dataclass(frozen=True)
class MatchingGraph:
    """An undirected weighted graph of models and datasets.

    Model–dataset edges carry the affinity of a recorded result; dataset–dataset edges the affinity
    of two datasets' distance. Model–model edges are absent, as in the paper.

    Parameters
    ----------
    nodes : tuple of str
        Node ids (``m:<model>``, ``d:<dataset>``), sorted.
    edges : tuple of (str, str, float)
        ``(u, v, weight)`` with ``u < v``, sorted; weights > 0.

    Examples
    --------
    >>> import pandas as pd
    >>> from matchchoose import Metric, ZooRecords
    >>> r = ZooRecords(pd.DataFrame({"model": ["a", "b"], "dataset": ["x", "x"], "value": [0.9, 0.7]}),
    ...                Metric("accuracy", True))
    >>> MatchingGraph.from_records(r).edges
    (('d:x', 'm:a', 1.0), ('d:x', 'm:b', 0.05))
    """

    nodes: tuple
    edges: tuple

    @classmethod
    def from_records(
        cls,
        records: ZooRecords,
        *,
        score_affinity_method: str = "normalized",
        distance_affinity_method: str = "gaussian",
        knn: int = 3,
        dataset_edge_scale: float = 1.0,
        exclude_results_of=(),
    ) -> "MatchingGraph":
        """Build the graph of ``records``: every model and dataset is a node.

        Parameters
        ----------
        records : ZooRecords
            Results become model–dataset edges, ``records.distances`` dataset–dataset edges.
        score_affinity_method, distance_affinity_method : str
            See :mod:`matchchoose.graph._affinity`.
        knn : int
            Neighbours kept per dataset by the ``knn`` distance affinity.
        dataset_edge_scale : float
            Multiplies dataset–dataset weights, to balance the two edge types in the walks.
        exclude_results_of : iterable of str
            Datasets whose model edges are left out (their distance edges stay).
        """
        check_int("knn", knn, low=1, owner="MatchingGraph")
        check_real("dataset_edge_scale", dataset_edge_scale, low=0, low_open=True, owner="MatchingGraph")
        nodes = [model_node(m) for m in records.models] + [dataset_node(d) for d in records.datasets]
        edges = []
        # A lone name is one dataset, as in ZooRecords.without_results (set("d0") would exclude nothing).
        excluded = {exclude_results_of} if isinstance(exclude_results_of, str) else set(exclude_results_of)
        util = records.utility_matrix()
        if len(util):
            weights = score_affinity(util, records.score_matrix(), score_affinity_method)
            for dataset, row in weights.iterrows():
                if dataset in excluded:
                    continue
                for model, w in row.items():
                    if np.isfinite(w):
                        edges.append((dataset_node(dataset), model_node(model), float(w)))
        if records.distances is not None:
            aff = distance_affinity(records.distances, distance_affinity_method, k=knn)
            names = list(aff.index)
            values = aff.to_numpy()
            for i in range(len(names)):
                for j in range(i + 1, len(names)):
                    w = values[i, j]
                    if np.isfinite(w) and w > 0:
                        edges.append((dataset_node(names[i]), dataset_node(names[j]), float(w * dataset_edge_scale)))
        edges = tuple(sorted((min(u, v), max(u, v), w) for u, v, w in edges))
        return cls(nodes=tuple(sorted(nodes)), edges=edges)

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def n_edges(self) -> int:
        return len(self.edges)

    def content_hash(self) -> str:
        """SHA-256 of the nodes and the edges (weights rounded to float32): the embedding cache key."""
        h = hashlib.sha256()
        for node in self.nodes:
            h.update(node.encode())
            h.update(b"\0")
        h.update(b"\1")
        for u, v, w in self.edges:
            h.update(f"{u}\0{v}\0".encode())
            h.update(np.float32(w).tobytes())
        return h.hexdigest()

    def to_pecanpy(self, *, p: float, q: float, extend: bool, gamma: float, random_state: int):
        """The graph as a pecanpy ``SparseOTF`` (nodes added first, so isolated nodes are kept)."""
        from pecanpy import pecanpy as pp
        from pecanpy.graph import AdjlstGraph

        adj = AdjlstGraph()
        for node in self.nodes:
            adj.add_node(node)
        for u, v, w in self.edges:
            adj.add_edge(u, v, w, directed=False)
        return pp.SparseOTF.from_adjlst_graph(
            adj, p=p, q=q, extend=extend, gamma=gamma, workers=1, random_state=random_state
        )
