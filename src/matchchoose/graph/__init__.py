"""The matching graph (paper 4.3) and its node embeddings: Node2Vec+ (paper 4.4), node2vec, GraphSAGE, GAT."""

from ._affinity import DISTANCE_AFFINITIES, SCORE_AFFINITIES, distance_affinity, score_affinity
from ._edges import EDGE_OPERATORS, edge_embedding
from ._embedder import GraphEmbedder
from ._gnn import GAT, GraphSAGE
from ._matching import MatchingGraph, dataset_node, model_node
from ._node2vec import Node2Vec, Node2VecPlus, default_cache_dir
from ._registry import EMBEDDERS, make_embedder

__all__ = [
    "DISTANCE_AFFINITIES",
    "EDGE_OPERATORS",
    "EMBEDDERS",
    "GAT",
    "GraphEmbedder",
    "GraphSAGE",
    "MatchingGraph",
    "Node2Vec",
    "Node2VecPlus",
    "SCORE_AFFINITIES",
    "dataset_node",
    "default_cache_dir",
    "distance_affinity",
    "edge_embedding",
    "make_embedder",
    "model_node",
    "score_affinity",
]
