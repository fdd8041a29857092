"""Measurement noise of final scores (matchchoose.evaluate.final_noise / within_noise), by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd

from matchchoose.evaluate import final_noise, target_rows, within_noise


def rows():
    # a: target 40 measured twice (10, 12) plus an early rung; b: one row without a fidelity (its target, as the
    # pair has no numeric one); c: twice at 40 (20, 30); e: dropped at rung 10, so no target result.
    return pd.DataFrame([("a", "d", 10.0, 50.0), ("a", "d", 40.0, 10.0), ("a", "d", 40.0, 12.0),
                         ("b", "d", np.nan, 12.5), ("c", "d", 40.0, 20.0), ("c", "d", 40.0, 30.0),
                         ("e", "d", 10.0, 1.0), ("e", "d", 10.0, 9.0)],
                        columns=["model", "dataset", "fidelity", "value"])


def test_target_rows_follow_the_knowledge_base():
    """The dataset's largest fidelity, or no fidelity at all for a pair: what KnowledgeBase.records reads."""
    at = target_rows(rows())
    assert sorted(at["value"]) == [10.0, 12.0, 12.5, 20.0, 30.0]


def test_final_noise_is_the_spread_of_repeated_target_rows():
    noise = final_noise(rows())
    assert noise.to_dict() == {("a", "d"): 2.0, ("c", "d"): 10.0}
    assert final_noise(rows().iloc[[0, 3]]) is None  # nothing measured twice at its target
    # e's two rows at rung 10 are not final scores: they measure no final noise
    assert final_noise(rows().iloc[:0]) is None


def test_within_noise_uses_the_larger_of_the_two_noises():
    noise = final_noise(rows())
    u = pd.Series({"a": -11.0, "b": -12.5, "c": -25.0})  # lower FD is better: utility = -mean
    assert within_noise(u, "d", "a", noise)  # the best itself
    assert within_noise(u, "d", "b", noise)  # 1.5 behind, a's noise 2
    assert not within_noise(u, "d", "c", noise)  # 14 behind, c's noise 10
