"""How recorded scores and dataset distances become random-walk affinities.

Node2Vec+ walks move along an edge with probability proportional to its weight, so a weight must be an
*affinity*: larger = closer. The paper (4.3) weights both edge types with the raw Fréchet distance,
which makes a walk prefer the worst model and the least similar dataset; it leaves the mapping open.
We offer several mappings, all into (0, 1], and pick the default by measurement
(``benchmarks/affinity.py``, recorded in ``docs/benchmarks.md``).

Score → affinity (model–dataset edges), computed per dataset from utilities (higher = better):

``normalized``  ``eps + (1 - eps) * minmax(utility)``: the best model 1, the worst ``eps``.
``rank``        ``1 - (rank - 1) / n``: the best model 1, the worst ``1/n``; robust to outliers.
``softmax``     ``exp(z)/max exp(z)`` with ``z`` the per-dataset z-score of utility.
``raw``         the metric value itself, as the paper writes it (FID grows with *worse* models).

Distance → affinity (dataset–dataset edges), with ``s`` the median of the known off-diagonal distances:

``gaussian``    ``exp(-(d / s)^2)``
``inverse``     ``1 / (1 + d / s)``
``knn``         ``gaussian`` but only each dataset's ``k`` nearest neighbours keep an edge.
``raw``         the distance itself, as the paper writes it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._validation import check_in

__all__ = ["SCORE_AFFINITIES", "DISTANCE_AFFINITIES", "score_affinity", "distance_affinity"]

_EPS = 0.05

SCORE_AFFINITIES = ("normalized", "rank", "softmax", "raw")
DISTANCE_AFFINITIES = ("gaussian", "inverse", "knn", "raw")


def score_affinity(utility: pd.DataFrame, raw: pd.DataFrame, method: str = "normalized") -> pd.DataFrame:
    """Model–dataset edge weights from a dataset × model utility matrix.

    Parameters
    ----------
    utility : DataFrame, shape (n_datasets, n_models)
        Oriented scores (higher = better), NaN where no result.
    raw : DataFrame, shape (n_datasets, n_models)
        The same values in the metric's own units (used by ``method="raw"`` only).
    method : {"normalized", "rank", "softmax", "raw"}

    Returns
    -------
    DataFrame, shape (n_datasets, n_models)
        Weights in (0, 1] (``raw``: positive values), NaN where no result.

    Examples
    --------
    >>> u = pd.DataFrame([[1.0, 2.0, 3.0]], index=["d"], columns=list("abc"))
    >>> score_affinity(u, u, "rank").round(3).values.tolist()
    [[0.333, 0.667, 1.0]]
    """
    check_in("method", method, SCORE_AFFINITIES, owner="score_affinity")
    if method == "raw":
        values = raw.to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        if finite.size and finite.min() <= 0:
            values = values - finite.min() + _EPS * (np.ptp(finite) or 1.0)
        return pd.DataFrame(values, index=raw.index, columns=raw.columns)
    u = utility.to_numpy(dtype=float)
    out = np.full_like(u, np.nan)
    for i, row in enumerate(u):
        ok = ~np.isnan(row)
        if not ok.any():
            continue
        v = row[ok]
        if method == "normalized":
            span = v.max() - v.min()
            norm = (v - v.min()) / span if span > 0 else np.ones_like(v)
            out[i, ok] = _EPS + (1 - _EPS) * norm
        elif method == "rank":
            ranks = pd.Series(v).rank(ascending=False, method="average").to_numpy()
            out[i, ok] = 1.0 - (ranks - 1.0) / v.size
        else:  # softmax
            sd = v.std()
            z = (v - v.mean()) / sd if sd > 0 else np.zeros_like(v)
            out[i, ok] = np.exp(z - z.max())
    return pd.DataFrame(out, index=utility.index, columns=utility.columns)


def distance_affinity(distances: pd.DataFrame, method: str = "gaussian", k: int = 3) -> pd.DataFrame:
    """Dataset–dataset edge weights from a square distance matrix.

    Parameters
    ----------
    distances : DataFrame, shape (n, n)
        Symmetric distances (lower = more similar), NaN where unknown. The diagonal is ignored.
    method : {"gaussian", "inverse", "knn", "raw"}
    k : int
        Neighbours kept per dataset by ``knn`` (an edge stays if either end keeps it).

    Returns
    -------
    DataFrame, shape (n, n)
        Symmetric weights, NaN on the diagonal and where there is no edge.
    """
    check_in("method", method, DISTANCE_AFFINITIES, owner="distance_affinity")
    d = distances.to_numpy(dtype=float, copy=True)
    np.fill_diagonal(d, np.nan)
    off = d[np.isfinite(d)]
    if off.size == 0:
        return pd.DataFrame(np.full_like(d, np.nan), index=distances.index, columns=distances.columns)
    if method == "raw":
        w = d.copy()
        if off.min() <= 0:
            w = w - off.min() + _EPS * (np.ptp(off) or 1.0)
    else:
        scale = np.median(off[off > 0]) if (off > 0).any() else 1.0
        if method == "inverse":
            w = 1.0 / (1.0 + d / scale)
        else:
            w = np.exp(-((d / scale) ** 2))
            # Keep far pairs connected with a tiny weight rather than dropping them to exactly zero.
            w = np.where(np.isfinite(w), np.maximum(w, 1e-6), np.nan)
        if method == "knn":
            keep = np.zeros_like(w, dtype=bool)
            for i, row in enumerate(d):
                known = np.flatnonzero(np.isfinite(row))
                nearest = known[np.argsort(row[known], kind="mergesort")[:k]]
                keep[i, nearest] = True
            keep |= keep.T
            w = np.where(keep, w, np.nan)
    return pd.DataFrame(w, index=distances.index, columns=distances.columns)
