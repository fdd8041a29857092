"""Node features as numbers: one-hot categoricals, imputed numerics (paper 4.2)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["encode_features"]


def encode_features(frame: pd.DataFrame, prefix: str, max_levels: int = 50) -> pd.DataFrame:
    """Encode a feature table (index = node name) into float columns.

    Numeric columns: NaN → the column median, plus a ``<col>__missing`` indicator when any value is
    missing; constant columns are dropped. Categorical columns: one-hot over the ``max_levels`` most
    frequent levels (the rest share ``<col>=__other__``); a missing value is all zeros.
    Features describe nodes, never results, so encoding every node at once leaks no result.

    Parameters
    ----------
    frame : DataFrame
        Index = model or dataset names, one column per feature.
    prefix : str
        Prepended to every output column (``"model."``, ``"dataset."``).

    Returns
    -------
    DataFrame
        Same index, float columns, sorted by name.

    Examples
    --------
    >>> f = pd.DataFrame({"arch": ["unet", "dit", None], "size": [1.0, np.nan, 3.0]}, index=list("abc"))
    >>> encode_features(f, "m.").columns.tolist()
    ['m.arch=dit', 'm.arch=unet', 'm.size', 'm.size__missing']
    """
    out = {}
    for col in frame.columns:
        series = frame[col]
        numeric = pd.to_numeric(series, errors="coerce")
        is_numeric = series.notna().sum() > 0 and numeric.notna().sum() == series.notna().sum()
        if is_numeric:
            values = numeric.astype(float)
            if values.nunique(dropna=True) <= 1 and not values.isna().any():
                continue
            if values.isna().any():
                out[f"{prefix}{col}__missing"] = values.isna().astype(float)
                values = values.fillna(values.median() if values.notna().any() else 0.0)
            out[f"{prefix}{col}"] = values
        else:
            text = series.where(series.isna(), series.astype(str))
            counts = text.value_counts()
            if counts.size <= 1 and not text.isna().any():
                continue
            kept = list(counts.index[:max_levels])
            for level in kept:
                out[f"{prefix}{col}={level}"] = (text == level).astype(float)
            if counts.size > max_levels:
                out[f"{prefix}{col}=__other__"] = (text.notna() & ~text.isin(kept)).astype(float)
    if not out:
        return pd.DataFrame(index=frame.index)
    encoded = pd.DataFrame(out, index=frame.index)
    return encoded.reindex(columns=sorted(encoded.columns)).astype(float)
