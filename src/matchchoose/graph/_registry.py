"""The graph learners by name: what ``MatchChoose(graph_learner=...)`` and ``--graph-learner`` choose from."""

from __future__ import annotations

import inspect

from .._errors import InputError
from .._validation import check_in
from ._embedder import GraphEmbedder
from ._gnn import GAT, GraphSAGE
from ._node2vec import Node2Vec, Node2VecPlus

__all__ = ["EMBEDDERS", "make_embedder"]

#: Graph learner name -> embedder class (paper 4.4 uses ``node2vec+``; TransferGraph also ``node2vec``,
#: ``graphsage`` and ``gat``). The GNNs need torch (``matchchoose[gnn]``).
EMBEDDERS = {"node2vec+": Node2VecPlus, "node2vec": Node2Vec, "graphsage": GraphSAGE, "gat": GAT}


def make_embedder(name: str, owner: str | None = None, **params) -> GraphEmbedder:
    """A fresh embedder registered as ``name``, with ``params``.

    Parameters
    ----------
    name : str
        A key of :data:`EMBEDDERS`.
    owner : str, optional
        Who asks (named in the errors, e.g. ``"MatchChoose"``).
    **params
        Keyword arguments of the embedder's class; one it does not take raises :class:`InputError`.

    Examples
    --------
    >>> make_embedder("graphsage", dim=8)
    GraphSAGE(dim=8)
    """
    check_in("graph_learner", name, EMBEDDERS, owner)
    cls = EMBEDDERS[name]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        where = f" of {owner}" if owner else ""
        raise InputError(f"The graph learner {name!r}{where} ({cls.__name__}) takes no parameter "
                         f"{', '.join(map(repr, unknown))}: it takes {', '.join(accepted)}.")
    return cls(**params)
