"""The Match & Choose selector: matching graph → Node2Vec+ (or another graph learner) → features ⊕ edge
embedding → predictor."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .._errors import InputError, NotFittedError
from .._estimator import Selector
from .._validation import check_in, check_int
from ..graph import (EDGE_OPERATORS, EMBEDDERS, GraphEmbedder, MatchingGraph, dataset_node, edge_embedding,
                     make_embedder, model_node)
from ..records import ZooRecords
from ._encode import encode_features
from ._predictors import PREDICTORS, make_predictor
from ._priors import prior_features

__all__ = ["MatchChoose", "INPUTS", "TRAIN_EMBEDDINGS"]

INPUTS = ("both", "features", "graph")
TRAIN_EMBEDDINGS = ("full", "holdout")


class MatchChoose(Selector):
    """Predict how every model of a zoo ranks on a dataset after fine-tuning (paper section 4).

    ``fit(records)`` builds the matching graph of ``records`` (every model and dataset; datasets
    without results, such as the target of a selection, keep their distance edges only), embeds it
    with a graph learner (Node2Vec+ by default), and trains the rank predictor on one row per recorded
    (model, dataset) result: model features ⊕ dataset features ⊕ edge embedding. ``predict(dataset)``
    scores every model on a dataset of ``records``, normally one without results.

    Parameters
    ----------
    predictor : str, default="catboost"
        A name of :data:`matchchoose.rank.PREDICTORS`.
    predictor_params : dict, optional
        Keyword arguments of the predictor factory (``n_classes``, ``params``).
    inputs : {"both", "features", "graph"}
        Ablation (paper Table 4): node features and graph embedding, features only, embedding only.
    edge_operator : {"hadamard", "average", "l1", "l2", "concat"}
        How the model and dataset node embeddings combine into the edge embedding.
    score_affinity, distance_affinity : str
        How results and distances become walk weights (:mod:`matchchoose.graph._affinity`).
    knn : int
        Neighbours per dataset for ``distance_affinity="knn"``.
    dataset_edge_scale : float
        Weight multiplier of dataset–dataset edges.
    graph_learner : str, default="node2vec+"
        A name of :data:`matchchoose.graph.EMBEDDERS`: ``"node2vec+"`` (the paper), ``"node2vec"``, or
        TransferGraph's ``"graphsage"`` and ``"gat"`` (these need torch, ``matchchoose[gnn]``).
    embedding : dict, optional
        Parameters of the graph learner's class (:class:`~matchchoose.graph.Node2VecPlus`: ``dim``,
        ``walk_length``, ...; :class:`~matchchoose.graph.GraphSAGE` and :class:`~matchchoose.graph.GAT`:
        ``dim``, ``epochs``, ...).
    train_embedding : {"full", "holdout"}
        ``"full"`` (paper): training rows use the fold graph, where their own model edges are
        present. ``"holdout"``: training datasets are split into ``holdout_groups`` groups; a
        group's rows use the embedding of a graph without that group's model edges (aligned to the
        fold embedding by orthogonal Procrustes), so training rows look like the prediction row,
        whose model edges are absent.
    holdout_groups : int
    priors : bool, default=True
        Add ``prior.overall`` and ``prior.nearest`` inputs: the model's mean normalised score over the
        other training datasets and over the ``prior_k`` nearest ones (:mod:`._priors`); the row's
        own dataset is always left out, so training rows look like prediction rows.
    prior_k : int
    random_state : int
        Seed of the graph learner (walks and Word2Vec, or the GNN's weights and negatives), the holdout
        split and the predictor.
    cache : bool or path
        Embedding cache (see :class:`~matchchoose.graph.Node2VecPlus`).

    Examples
    --------
    >>> mc = MatchChoose(predictor="random_forest", random_state=0).fit(train_records)  # doctest: +SKIP
    >>> mc.predict("my_dataset").sort_values(ascending=False).head(3)                   # doctest: +SKIP
    """

    def __init__(self, predictor="catboost", predictor_params=None, inputs="both", edge_operator="hadamard",
                 score_affinity="normalized", distance_affinity="gaussian", knn=3, dataset_edge_scale=1.0,
                 graph_learner="node2vec+", embedding=None, train_embedding="full", holdout_groups=4, priors=True,
                 prior_k=3, random_state=0, cache=True):
        self.predictor = predictor
        self.predictor_params = predictor_params
        self.inputs = inputs
        self.edge_operator = edge_operator
        self.score_affinity = score_affinity
        self.distance_affinity = distance_affinity
        self.knn = knn
        self.dataset_edge_scale = dataset_edge_scale
        self.graph_learner = graph_learner
        self.embedding = embedding
        self.train_embedding = train_embedding
        self.holdout_groups = holdout_groups
        self.priors = priors
        self.prior_k = prior_k
        self.random_state = random_state
        self.cache = cache

    # ------------------------------------------------------------------ fit
    def fit(self, records: ZooRecords) -> "MatchChoose":
        owner = type(self).__name__
        check_in("predictor", self.predictor, PREDICTORS, owner)
        check_in("inputs", self.inputs, INPUTS, owner)
        check_in("edge_operator", self.edge_operator, EDGE_OPERATORS, owner)
        check_in("train_embedding", self.train_embedding, TRAIN_EMBEDDINGS, owner)
        check_in("graph_learner", self.graph_learner, EMBEDDERS, owner)
        check_int("holdout_groups", self.holdout_groups, low=2, owner=owner)
        check_int("random_state", self.random_state, low=0, owner=owner)
        if records.results.empty:
            raise InputError(f"MatchChoose.fit got no {records.metric.name!r} results to learn from: record "
                             "results on other datasets first ('mnc kb import FILE --kind results').")
        self.records_ = records
        self.models_ = list(records.models)
        self.timings_ = {"embedding": 0.0, "training": 0.0}

        use_graph = self.inputs in ("both", "graph")
        use_features = self.inputs in ("both", "features")
        if use_features:
            self.model_features_ = encode_features(records.model_features, "model.")
            self.dataset_features_ = encode_features(records.dataset_features, "dataset.")
        else:
            self.model_features_ = pd.DataFrame(index=records.model_features.index)
            self.dataset_features_ = pd.DataFrame(index=records.dataset_features.index)

        check_int("prior_k", self.prior_k, low=1, owner=owner)
        self.priors_ = None
        if self.priors:
            self.priors_ = prior_features(records.normalized_matrix(), records.distances, records.datasets,
                                          k=self.prior_k)
        norm = records.normalized_matrix().stack().dropna().rename("y").reset_index()
        norm.columns = ["dataset", "model", "y"]
        train = norm.sort_values(["dataset", "model"], kind="mergesort").reset_index(drop=True)

        import time

        t0 = time.perf_counter()
        self.embedding_ = self._embed(records) if use_graph else None
        row_embeddings = None
        if use_graph and self.train_embedding == "holdout":
            row_embeddings = self._holdout_embeddings(records, train["dataset"])
        self.timings_["embedding"] = time.perf_counter() - t0

        X = self._design(train["model"].to_numpy(), train["dataset"].to_numpy(), row_embeddings)
        if X.shape[1] == 0:
            raise InputError(
                f"MatchChoose(inputs={self.inputs!r}) has no input columns: the records have no model or "
                "dataset features. Import features, use inputs='graph' or 'both', or priors=True."
            )
        t0 = time.perf_counter()
        params = dict(self.predictor_params or {})
        self.predictor_ = make_predictor(self.predictor, self.random_state, **params)
        self.predictor_.fit(X, train["y"].to_numpy(), train["dataset"].to_numpy())
        self.timings_["training"] = time.perf_counter() - t0
        self.n_train_rows_ = len(train)
        self.feature_names_ = self._feature_names()
        return self

    def _embedder(self) -> GraphEmbedder:
        params = {"random_state": self.random_state, "cache": self.cache}
        params.update(self.embedding or {})
        return make_embedder(self.graph_learner, type(self).__name__, **params)

    def _graph(self, records, exclude=()):
        return MatchingGraph.from_records(
            records, score_affinity_method=self.score_affinity, distance_affinity_method=self.distance_affinity,
            knn=self.knn, dataset_edge_scale=self.dataset_edge_scale, exclude_results_of=exclude)

    def _embed(self, records, exclude=()):
        self.graph_ = graph = self._graph(records, exclude)
        return self._embedder().fit_transform(graph)

    def _holdout_embeddings(self, records, row_datasets: pd.Series) -> np.ndarray:
        """Per training row, the node embeddings of a graph without its dataset's model edges."""
        from scipy.linalg import orthogonal_procrustes

        datasets = np.array(sorted(row_datasets.unique()))
        rng = np.random.default_rng(self.random_state)
        order = rng.permutation(datasets.size)
        n_groups = min(self.holdout_groups, datasets.size)
        group_of = {datasets[i]: k % n_groups for k, i in enumerate(order)}
        main = self.embedding_
        per_dataset = {}
        for g in range(n_groups):
            members = [d for d in datasets if group_of[d] == g]
            emb = self._embedder().fit_transform(self._graph(records, exclude=members))
            rot, _ = orthogonal_procrustes(emb.to_numpy(float), main.loc[emb.index].to_numpy(float))
            aligned = pd.DataFrame(emb.to_numpy(float) @ rot, index=emb.index)
            for d in members:
                per_dataset[d] = aligned
        return per_dataset

    # -------------------------------------------------------------- design
    def _design(self, models, datasets, row_embeddings=None) -> np.ndarray:
        parts = []
        if self.model_features_.shape[1]:
            parts.append(self.model_features_.loc[models].to_numpy(float))
        if self.dataset_features_.shape[1]:
            parts.append(self.dataset_features_.loc[datasets].to_numpy(float))
        if self.priors_ is not None:
            models, datasets = np.asarray(models), np.asarray(datasets)
            n_cols = next(iter(self.priors_.values())).shape[1]
            block = np.zeros((len(models), n_cols))
            for d in np.unique(datasets):
                rows = np.flatnonzero(datasets == d)
                block[rows] = self.priors_[d].loc[models[rows]].to_numpy(float)
            parts.append(block)
        if self.embedding_ is not None:
            m_nodes = [model_node(m) for m in models]
            d_nodes = [dataset_node(d) for d in datasets]
            if row_embeddings is None:
                u = self.embedding_.loc[m_nodes].to_numpy(float)
                v = self.embedding_.loc[d_nodes].to_numpy(float)
            else:
                u = np.vstack([row_embeddings[d].loc[[mn]].to_numpy(float) for mn, d in zip(m_nodes, datasets)])
                v = np.vstack([row_embeddings[d].loc[[dn]].to_numpy(float) for dn, d in zip(d_nodes, datasets)])
            parts.append(edge_embedding(u, v, self.edge_operator))
        if not parts:
            return np.empty((len(models), 0))
        return np.hstack(parts)

    def _feature_names(self) -> list:
        names = list(self.model_features_.columns) + list(self.dataset_features_.columns)
        if self.priors_ is not None:
            names += list(next(iter(self.priors_.values())).columns)
        if self.embedding_ is not None:
            dim = self.embedding_.shape[1] * (2 if self.edge_operator == "concat" else 1)
            names += [f"edge.{self.edge_operator}_{i}" for i in range(dim)]
        return names

    # ------------------------------------------------------------- predict
    def predict(self, dataset: str) -> pd.Series:
        """Scores of every model on ``dataset`` (index = model, higher = better).

        ``dataset`` must be one of the records given to :meth:`fit` (normally without results).
        """
        if not hasattr(self, "predictor_"):
            raise NotFittedError(self)
        if dataset not in self.records_.datasets:
            raise InputError(
                f"Dataset {dataset!r} is not in the knowledge base MatchChoose was fitted on: profile it and "
                "add its distances first."
            )
        if self.embedding_ is not None and not any(dataset_node(dataset) in (u, v) for u, v, _ in self.graph_.edges):
            warnings.warn(
                f"Dataset {dataset!r} has no edge in the matching graph (no distances to other datasets): its "
                "graph embedding carries no information. Add its distances, or use inputs='features'/priors=True.",
                UserWarning, stacklevel=2)
        models = np.array(self.models_)
        X = self._design(models, np.array([dataset] * len(models)))
        return pd.Series(self.predictor_.predict(X), index=self.models_, name=dataset, dtype=float)
