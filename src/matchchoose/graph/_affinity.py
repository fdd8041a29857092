"""How recorded scores and dataset distances become random-walk affinities.

Node2Vec+ walks move along an edge with probability proportional to its weight, so a weight must be an
*affinity*: larger = closer. The paper (4.3) weights both edge types with the raw Fréchet distance,
which makes a walk prefer the worst model and the least similar dataset; it leaves the mapping open.
We offer several mappings, all into (0, 1], and pick the default by measurement
(``benchmarks/design_choices.py``, recorded in ``docs/benchmarks.md``).

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
``offset_gaussian``  ``gaussian`` on offset-corrected distances (below).
``offset_knn``       ``knn`` on offset-corrected distances.

Offset correction. A distance between dataset *summaries* (mean embeddings, Fréchet statistics) is
often dominated by how atypical each dataset is on its own: ``d_ij ≈ a_i + a_j``. On TransferGraph's
ViT domain-similarity distances this additive model explains 98% of the variance, so the most
"central" dataset (caltech101) is everybody's nearest neighbour and the plain ``gaussian``/``knn``
graphs are a star around it. The ``offset_*`` methods fit the per-dataset offsets ``a`` by least
squares on the known off-diagonal pairs, ``min_a sum_{i<j} (d_ij - a_i - a_j)^2``, and use the
residual ``r_ij = d_ij - a_i - a_j`` shifted to start at zero, ``r_ij - min(r)``, as the distance.
Only the *order* of each dataset's neighbours changes: the two smallnorb tasks (same images) become
mutual nearest neighbours, and the residuals follow how similarly two datasets rank the models
(Spearman -0.45 against -0.26 for the raw distance on that zoo).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._validation import check_in

__all__ = ["SCORE_AFFINITIES", "DISTANCE_AFFINITIES", "score_affinity", "distance_affinity", "offset_residuals"]

_EPS = 0.05

SCORE_AFFINITIES = ("normalized", "rank", "softmax", "raw")
DISTANCE_AFFINITIES = ("gaussian", "inverse", "knn", "raw", "offset_gaussian", "offset_knn")


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
    method : {"gaussian", "inverse", "knn", "raw", "offset_gaussian", "offset_knn"}
        See the module docstring; ``offset_*`` remove per-dataset additive offsets first.
    k : int
        Neighbours kept per dataset by ``knn`` and ``offset_knn`` (an edge stays if either end keeps it).

    Returns
    -------
    DataFrame, shape (n, n)
        Symmetric weights, NaN on the diagonal and where there is no edge.

    Examples
    --------
    >>> a = np.array([1.0, 2.0, 3.0, 4.0])
    >>> d = pd.DataFrame(a[:, None] + a[None, :], index=list("wxyz"), columns=list("wxyz"))
    >>> d.loc["y", "z"] = d.loc["z", "y"] = 6.5  # y and z closer than their offsets say
    >>> w = distance_affinity(d, "offset_knn", k=1)
    >>> w.loc["y"].idxmax(), w.loc["z"].idxmax()
    ('z', 'y')
    """
    check_in("method", method, DISTANCE_AFFINITIES, owner="distance_affinity")
    d = distances.to_numpy(dtype=float, copy=True)
    np.fill_diagonal(d, np.nan)
    if method.startswith("offset_"):
        d = offset_residuals(d)
        method = method[len("offset_"):]
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


def offset_residuals(d: np.ndarray) -> np.ndarray:
    """Distances without their per-dataset additive offsets, shifted to start at zero.

    Parameters
    ----------
    d : ndarray, shape (n, n)
        Symmetric distances, NaN where unknown; the diagonal is ignored.

    Returns
    -------
    ndarray, shape (n, n)
        ``r_ij - min(r)`` with ``r_ij = d_ij - a_i - a_j`` and ``a`` the least-squares offsets fitted
        on the known pairs ``i < j`` (minimum-norm solution when they do not determine ``a``, e.g.
        ``n = 2``); NaN on the diagonal and where ``d`` is unknown. All values are >= 0.

    Examples
    --------
    >>> d = np.array([[0.0, 3.0, 4.0], [3.0, 0.0, 5.0], [4.0, 5.0, 0.0]])  # exactly a = (1, 2, 3)
    >>> np.round(offset_residuals(d), 6).tolist()
    [[nan, 0.0, 0.0], [0.0, nan, 0.0], [0.0, 0.0, nan]]
    """
    d = np.array(d, dtype=float)
    n = d.shape[0]
    np.fill_diagonal(d, np.nan)
    i, j = np.triu_indices(n, 1)
    known = np.isfinite(d[i, j])
    i, j = i[known], j[known]
    out = np.full_like(d, np.nan)
    if i.size == 0:
        return out
    design = np.zeros((i.size, n))
    rows = np.arange(i.size)
    design[rows, i] = 1.0
    design[rows, j] = 1.0
    offsets = np.linalg.lstsq(design, d[i, j], rcond=None)[0]
    resid = d[i, j] - offsets[i] - offsets[j]
    resid = resid - resid.min()
    out[i, j] = resid
    out[j, i] = resid
    return out
