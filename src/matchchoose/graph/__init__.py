"""The matching graph (paper 4.3) and its Node2Vec+ embeddings (paper 4.4)."""

from ._affinity import DISTANCE_AFFINITIES, SCORE_AFFINITIES, distance_affinity, score_affinity
from ._edges import EDGE_OPERATORS, edge_embedding
from ._matching import MatchingGraph, dataset_node, model_node
from ._node2vec import Node2VecPlus, default_cache_dir

__all__ = [
    "DISTANCE_AFFINITIES",
    "EDGE_OPERATORS",
    "MatchingGraph",
    "Node2VecPlus",
    "SCORE_AFFINITIES",
    "dataset_node",
    "default_cache_dir",
    "distance_affinity",
    "edge_embedding",
    "model_node",
    "score_affinity",
]
