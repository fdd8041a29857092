"""Prior features: what the Overall and Nearest baselines know, as inputs of the rank predictor.

For a (model, dataset) row, ``prior.overall`` is the model's mean normalised score over the *other*
training datasets and ``prior.nearest`` its similarity-weighted normalised score over the ``k``
nearest other training datasets. The row's own dataset is always left out, so a training row sees
exactly what a prediction row sees (whose dataset has no results at all): no result leaks into its
own features. The predictor then learns when to trust the prior and how features and the graph move
a model away from it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["prior_features"]


def _nearest_weights(row: pd.Series, k: int) -> pd.Series:
    """Weights ``exp(-d / h)`` of the ``k`` nearest entries of ``row`` (``h`` = their median distance)."""
    known = row.dropna().sort_values(kind="mergesort").iloc[:k]
    if known.empty:
        return known
    h = float(np.median(known.to_numpy()))
    if h <= 0:
        return (known <= 0).astype(float)
    return np.exp(-known / h)


def prior_features(normalized: pd.DataFrame, distances: pd.DataFrame | None, datasets, k: int = 3) -> dict:
    """Prior feature vectors over models for each dataset of ``datasets``.

    Parameters
    ----------
    normalized : DataFrame, shape (n_train_datasets, n_models)
        Per-dataset normalised scores of the training datasets (1 = best), NaN where no result.
    distances : DataFrame or None
        Square dataset distances (lower = more similar); ``None`` omits ``prior.nearest``.
    datasets : iterable of str
        Datasets to compute priors for (training datasets and targets).
    k : int
        Neighbours of ``prior.nearest``.

    Returns
    -------
    dict
        ``{dataset: DataFrame(index=models, columns=["prior.overall", "prior.nearest"])}``; a model with
        no information gets 0, the worst normalised score.
    """
    out = {}
    for dataset in datasets:
        others = normalized.drop(index=dataset, errors="ignore")
        cols = {"prior.overall": others.mean(axis=0, skipna=True)}
        if distances is not None and dataset in distances.index:
            row = distances.loc[dataset, others.index].astype(float)
            weights = _nearest_weights(row, k)
            if not weights.empty and weights.sum() > 0:
                block = others.loc[weights.index]
                w = block.notna().mul(weights, axis=0)
                cols["prior.nearest"] = block.fillna(0.0).mul(weights, axis=0).sum() / w.sum().replace(0, np.nan)
            else:
                cols["prior.nearest"] = pd.Series(np.nan, index=normalized.columns)
        frame = pd.DataFrame(cols).reindex(normalized.columns)
        out[dataset] = frame.fillna(0.0)
    return out
