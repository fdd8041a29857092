"""Measurement noise of final scores (matchchoose.evaluate.final_noise / within_noise), by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd

from matchchoose.evaluate import final_noise, target_rows, within_noise


def rows():
    # a: target 40 measured twice (10, 12) plus an early rung; b: one target row without a fidelity (a target by
    # the KB's convention) beside a rung at 40; c: twice at 40 (20, 30).
    return pd.DataFrame([("a", "d", 10.0, 50.0), ("a", "d", 40.0, 10.0), ("a", "d", 40.0, 12.0),
                         ("b", "d", 40.0, 99.0), ("b", "d", np.nan, 12.5),
                         ("c", "d", 40.0, 20.0), ("c", "d", 40.0, 30.0)],
                        columns=["model", "dataset", "fidelity", "value"])


def test_target_rows_take_each_pairs_largest_fidelity_and_rows_without_one():
    at = target_rows(rows())
    assert sorted(at["value"]) == [10.0, 12.0, 12.5, 20.0, 30.0]


def test_final_noise_is_the_spread_of_repeated_target_rows():
    noise = final_noise(rows())
    assert noise.to_dict() == {("a", "d"): 2.0, ("c", "d"): 10.0}
    assert final_noise(rows().iloc[[0, 3]]) is None  # nothing measured twice at its target
    assert final_noise(rows().iloc[:0]) is None


def test_within_noise_uses_the_larger_of_the_two_noises():
    noise = final_noise(rows())
    u = pd.Series({"a": -11.0, "b": -12.5, "c": -25.0})  # lower FD is better: utility = -mean
    assert within_noise(u, "d", "a", noise)  # the best itself
    assert within_noise(u, "d", "b", noise)  # 1.5 behind, a's noise 2
    assert not within_noise(u, "d", "c", noise)  # 14 behind, c's noise 10
