"""Measurement noise of final scores: when a knowledge base repeats a final measurement (the micro zoo samples
each fine-tuned model under two seeds), a pick within that noise of the best is as good as the best."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..records import target_rows

__all__ = ["final_noise", "target_rows", "within_noise"]


def final_noise(rows: pd.DataFrame) -> pd.Series | None:
    """``(model, dataset) -> spread`` (max - min) of the repeated rows at the dataset's target fidelity
    (:func:`matchchoose.records.target_rows`), for the pairs measured more than once there; ``None`` when no
    pair is (nothing to measure the noise with).

    Examples
    --------
    >>> rows = pd.DataFrame({"model": ["a", "a", "b"], "dataset": ["d"] * 3, "fidelity": [40, 40, 40],
    ...                      "value": [10.0, 12.0, 11.0]})
    >>> final_noise(rows).to_dict()
    {('a', 'd'): 2.0}
    """
    if rows is None or rows.empty:
        return None
    spread = target_rows(rows).groupby(["model", "dataset"])["value"].agg(
        lambda v: float(v.max() - v.min()) if len(v) > 1 else np.nan).dropna()
    return spread if len(spread) else None


def within_noise(utility: pd.Series, dataset: str, pick: str, noise: pd.Series) -> bool:
    """Whether ``pick`` is within the measured noise of the best model on ``dataset``: the best one's utility
    (``utility``: model -> score, higher = better) is ahead by at most the larger of the two models' noises (a
    pair without a measured noise counts 0)."""
    best = utility.idxmax()
    tol = max(float(noise.get((pick, dataset), 0.0)), float(noise.get((best, dataset), 0.0)))
    return bool(utility[best] - utility[pick] <= tol + 1e-12)
