"""TransferGraph's other graph learners: GraphSAGE and GAT node embeddings of a matching graph.

TransferGraph (Li et al., ICDE 2024) embeds its model–dataset graph with Node2Vec, GraphSAGE or GAT, the
two GNNs trained without labels as link predictors: two message-passing layers, a dot-product decoder,
binary cross-entropy of the graph's edges against sampled negatives, Adam (their
``model_selection/graph/utils/gnn.py`` and ``train_with_GNN.py``). Here the same recipe runs in plain CPU
torch on the dense weighted adjacency matrix (matching graphs have at most a few hundred nodes), so no
graph library is needed and every operation is deterministic.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np

from .._errors import require
from .._validation import check_int, check_real
from ._embedder import GraphEmbedder
from ._matching import MatchingGraph

__all__ = ["GAT", "GraphSAGE"]

_DOC_PARAMETERS = """
    Parameters
    ----------
    dim : int, default=32
        Embedding dimension (also the input and hidden width).
    epochs : int, default=200
        Full-graph Adam steps.
    learning_rate : float, default=0.01
    negative_ratio : int, default=2
        Negative pairs per supervision edge (TransferGraph's ``neg_sampling_ratio=2.0``).
    supervision_fraction : float in [0, 1), default=0.3
        Share of the edges drawn anew every epoch as the supervision edges, left out of that epoch's
        message passing (TransferGraph's ``disjoint_train_ratio=0.3``), so a link is predicted from the
        rest of the graph rather than read off itself; 0: every edge passes messages and is supervised.
    random_state : int, default=0
        Seed of the initial weights, the supervision split and the negatives.
    cache : bool or path, default=True
        ``True``: the ``gnn`` cache of :func:`~matchchoose.graph.default_cache_dir`; a path: that
        directory; ``False``: memory only.
"""

_DOC_TRAINING = """
    Inputs: the matching graph carries no node features, so every node starts from a learned input vector
    (a seeded normal draw, trained with the rest), as TransferGraph does for nodes without features; model
    and dataset features reach Match & Choose's predictor directly, beside the edge embedding.

    Objective (unsupervised link prediction): a pair's score is the dot product of its two embeddings. Each
    supervision edge ``(u, v, w)`` is a positive weighted by its affinity ``w``; each is paired with
    ``negative_ratio`` corruptions that keep one endpoint (chosen by a coin flip) and draw the other
    uniformly among the other nodes. Negatives are not filtered against the edges: on a graph where
    nearly every model has a result on every dataset there would be almost none left, and unfiltered noise
    makes a pair's optimal score ``logit(w / (w + c))``, so the embedding learns the affinity, not merely
    that the edge exists (skip-gram's negative sampling, which Node2Vec+ uses, does the same).

    Deterministic: the weights, the splits and the negatives come from one ``torch.Generator`` seeded by
    ``random_state``; the computation runs single-threaded with ``torch.use_deterministic_algorithms``
    (both restored afterwards), so the same seed gives the same embedding bit for bit on a CPU.
    Requires torch (``pip install 'matchchoose[gnn]'``).
"""


@contextmanager
def _deterministic(torch):
    """One thread, deterministic kernels and gradients on, for the duration; the caller's settings after."""
    threads = torch.get_num_threads()
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        with torch.enable_grad():
            yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
        torch.set_num_threads(threads)


def _adjacency(graph: MatchingGraph) -> tuple:
    """``(A, u, v, w)``: the symmetric weighted adjacency matrix (n, n) and the edge lists (m,)."""
    index = {node: i for i, node in enumerate(graph.nodes)}
    u = np.array([index[a] for a, _, _ in graph.edges], dtype=np.int64)
    v = np.array([index[b] for _, b, _ in graph.edges], dtype=np.int64)
    w = np.array([c for _, _, c in graph.edges], dtype=np.float32)
    adj = np.zeros((graph.n_nodes, graph.n_nodes), dtype=np.float32)
    adj[u, v] = w
    adj[v, u] = w
    return adj, u, v, w


class _LinkPredictionEmbedder(GraphEmbedder):
    """Shared training loop of the GNN learners; subclasses define ``_init_layers`` and ``_layer``."""

    _cache_name = "gnn"
    #: Registry name, part of the cache key (two learners never share an entry).
    learner = ""

    def __init__(self, dim=32, epochs=200, learning_rate=0.01, negative_ratio=2, supervision_fraction=0.3,
                 random_state=0, cache=True):
        self.dim = dim
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.negative_ratio = negative_ratio
        self.supervision_fraction = supervision_fraction
        self.random_state = random_state
        self.cache = cache

    def _check_params(self):
        owner = type(self).__name__
        check_int("dim", self.dim, low=1, owner=owner)
        check_int("epochs", self.epochs, low=1, owner=owner)
        check_real("learning_rate", self.learning_rate, low=0, low_open=True, owner=owner)
        check_int("negative_ratio", self.negative_ratio, low=1, owner=owner)
        check_real("supervision_fraction", self.supervision_fraction, low=0, high=1, high_open=True, owner=owner)
        check_int("random_state", self.random_state, low=0, owner=owner)

    def _params(self) -> dict:
        params = {k: getattr(self, k) for k in ("dim", "epochs", "learning_rate", "negative_ratio",
                                                 "supervision_fraction", "random_state")}
        return {"learner": self.learner, **params}

    # ------------------------------------------------------------------ layers
    @staticmethod
    def _weight(torch, gen, rows, cols):
        """A (rows, cols) Glorot-uniform matrix drawn from ``gen``."""
        bound = math.sqrt(6.0 / (rows + cols))
        return ((torch.rand(rows, cols, generator=gen) * 2 - 1) * bound).requires_grad_()

    def _init_layers(self, torch, gen) -> list:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def _layer(self, torch, params: dict, h, adj):  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def _forward(self, torch, x, layers, adj):
        h = x
        for i, params in enumerate(layers):
            h = self._layer(torch, params, h, adj)
            if i < len(layers) - 1:
                h = torch.relu(h)
        return h

    # ---------------------------------------------------------------- training
    def _embed(self, graph: MatchingGraph) -> np.ndarray:
        torch = require("torch", f"The {type(self).__name__} graph learner", "gnn")
        import torch.nn.functional as F

        adj_np, u_np, v_np, w_np = _adjacency(graph)
        n, m = graph.n_nodes, len(w_np)
        with _deterministic(torch):
            gen = torch.Generator().manual_seed(int(self.random_state))
            x = torch.randn(n, self.dim, generator=gen).requires_grad_()
            layers = self._init_layers(torch, gen)
            adj = torch.from_numpy(adj_np)
            if m == 0 or n < 2:  # nothing to predict: the untrained forward pass
                with torch.no_grad():
                    return self._forward(torch, x, layers, adj).numpy().copy()
            u, v, w = torch.from_numpy(u_np), torch.from_numpy(v_np), torch.from_numpy(w_np)
            params = [x] + [p for layer in layers for p in layer.values()]
            optimizer = torch.optim.Adam(params, lr=float(self.learning_rate), foreach=False)
            k = int(self.negative_ratio)
            for _ in range(int(self.epochs)):
                supervised = torch.rand(m, generator=gen) < float(self.supervision_fraction)
                if float(self.supervision_fraction) == 0.0 or not bool(supervised.any()):
                    supervised = torch.ones(m, dtype=torch.bool)
                    passing = adj
                else:
                    passing = adj.clone()
                    su, sv = u[supervised], v[supervised]
                    passing[su, sv] = 0.0
                    passing[sv, su] = 0.0
                su, sv, sw = u[supervised], v[supervised], w[supervised]
                h = self._forward(torch, x, layers, passing)
                positive = (h[su] * h[sv]).sum(dim=1)
                # Corruptions: keep one endpoint (a coin flip per pair), draw the other among the n - 1 others.
                anchor = torch.where(torch.rand(k, su.numel(), generator=gen) < 0.5, su, sv).reshape(-1)
                other = (anchor + 1 + torch.randint(0, n - 1, anchor.shape, generator=gen)) % n
                negative = (h[anchor] * h[other]).sum(dim=1)
                loss = (sw * F.softplus(-positive)).sum() / su.numel() + F.softplus(negative).sum() / su.numel()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                return self._forward(torch, x, layers, adj).numpy().copy()


class GraphSAGE(_LinkPredictionEmbedder):
    __doc__ = f"""GraphSAGE (Hamilton et al. 2017) node embeddings, as TransferGraph trains them.

    Two mean-aggregator layers (ReLU between them), each ``h_i' = W_self h_i + W_neigh mean_w(h_j) + b``
    with the neighbours' mean weighted by the edges' affinities (the full neighbourhood: the graphs are small,
    so no neighbour sampling). A node without edges keeps its own transform only.
{_DOC_TRAINING}{_DOC_PARAMETERS}
    Examples
    --------
    >>> emb = GraphSAGE(dim=8, epochs=50, random_state=0, cache=False).fit_transform(graph)  # doctest: +SKIP
    >>> emb.loc["m:sd15"].shape                                                               # doctest: +SKIP
    (8,)
    """

    learner = "graphsage"

    def _init_layers(self, torch, gen) -> list:
        d = self.dim
        return [{"self": self._weight(torch, gen, d, d), "neigh": self._weight(torch, gen, d, d),
                 "bias": torch.zeros(d, requires_grad=True)} for _ in range(2)]

    def _layer(self, torch, params, h, adj):
        degree = adj.sum(dim=1, keepdim=True)
        mean = (adj @ h) / torch.clamp(degree, min=1e-12)  # an isolated row is all zeros: its mean is 0
        return h @ params["self"] + mean @ params["neigh"] + params["bias"]


class GAT(_LinkPredictionEmbedder):
    __doc__ = f"""Graph attention (Veličković et al. 2018) node embeddings, as TransferGraph trains them.

    Two single-head attention layers (ReLU between them), each with a linear skip as in TransferGraph's GAT
    (``conv(x) + lin(x)``): ``h_i' = sum_j a_ij W h_j + W_skip h_i + b`` over the neighbours ``j`` of ``i``,
    ``a_ij = softmax_j LeakyReLU(s . W h_i + t . W h_j + c w_ij)``, the edge's affinity ``w_ij`` entering the
    attention through a learned ``c`` (an edge attribute, as TransferGraph passes its edge weights). A node
    without edges keeps its skip transform only.
{_DOC_TRAINING}{_DOC_PARAMETERS}
    Examples
    --------
    >>> emb = GAT(dim=8, epochs=50, random_state=0, cache=False).fit_transform(graph)  # doctest: +SKIP
    >>> emb.loc["m:sd15"].shape                                                        # doctest: +SKIP
    (8,)
    """

    learner = "gat"

    def _init_layers(self, torch, gen) -> list:
        d = self.dim
        return [{"lin": self._weight(torch, gen, d, d), "skip": self._weight(torch, gen, d, d),
                 "att_dst": self._weight(torch, gen, d, 1), "att_src": self._weight(torch, gen, d, 1),
                 "att_edge": torch.zeros(1, requires_grad=True), "bias": torch.zeros(d, requires_grad=True)}
                for _ in range(2)]

    def _layer(self, torch, params, h, adj):
        import torch.nn.functional as F

        z = h @ params["lin"]
        logits = F.leaky_relu(z @ params["att_dst"] + (z @ params["att_src"]).T + params["att_edge"] * adj, 0.2)
        mask = adj > 0
        # A large finite fill, not -inf: a row without neighbours stays finite (then zeroed by the mask).
        alpha = torch.softmax(torch.where(mask, logits, torch.full_like(logits, -1e30)), dim=1) * mask
        return alpha @ z + h @ params["skip"] + params["bias"]
