"""Edge embeddings from node embeddings (Grover & Leskovec 2016, Table 1)."""

from __future__ import annotations

import numpy as np

from .._validation import check_in

__all__ = ["EDGE_OPERATORS", "edge_embedding"]

EDGE_OPERATORS = ("hadamard", "average", "l1", "l2", "concat")


def edge_embedding(u: np.ndarray, v: np.ndarray, operator: str = "hadamard") -> np.ndarray:
    """Combine node embeddings ``u`` (models) and ``v`` (datasets) row by row.

    Parameters
    ----------
    u, v : ndarray, shape (n_edges, dim)
    operator : {"hadamard", "average", "l1", "l2", "concat"}

    Returns
    -------
    ndarray, shape (n_edges, dim) or (n_edges, 2 * dim) for ``concat``

    Examples
    --------
    >>> edge_embedding(np.array([[1.0, 2.0]]), np.array([[3.0, 5.0]]), "l1")
    array([[2., 3.]])
    """
    check_in("operator", operator, EDGE_OPERATORS, owner="edge_embedding")
    u = np.asarray(u, dtype=float)
    v = np.asarray(v, dtype=float)
    if operator == "hadamard":
        return u * v
    if operator == "average":
        return (u + v) / 2.0
    if operator == "l1":
        return np.abs(u - v)
    if operator == "l2":
        return (u - v) ** 2
    return np.concatenate([u, v], axis=1)
