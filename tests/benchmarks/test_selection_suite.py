"""benchmarks/selection_suite.py: its statistics and the noise-aware OSR on hand-checkable cases, and one
cached cell end to end (no shared data needed)."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from matchchoose import Metric, ZooRecords
from matchchoose.evaluate import MethodSpec



@pytest.fixture(scope="module")
def suite(load_script):
    return load_script("selection_suite")


def records():
    # FID-like (lower is better): on x, a 10, b 11, c 20.
    res = pd.DataFrame({"model": list("abcabc"), "dataset": list("xxxyyy"),
                        "value": [10.0, 11.0, 20.0, 30.0, 5.0, 40.0]})
    return ZooRecords(res, Metric("fd", False))


def test_noise_aware_osr_counts_a_pick_within_the_noise(suite):
    r = records()
    noise = pd.Series({("a", "x"): 0.5, ("b", "x"): 2.0, ("c", "x"): 0.1})
    # b is 1.0 worse than a; b's own seeds differ by 2.0: a hit. c is 10 worse: a miss.
    assert suite.noise_osr(r, "x", {"a": 0, "b": 1, "c": 0}, noise) == 1.0
    assert suite.noise_osr(r, "x", {"a": 0, "b": 0, "c": 1}, noise) == 0.0
    # A random pick: 2 of the 3 models are within the noise of the best.
    assert suite.noise_osr(r, "x", {}, noise, expected=True) == pytest.approx(2 / 3)


def test_paired_differences_and_intervals(suite):
    per = {"overall": {"x": {"tau_w": 0.5}, "y": {"tau_w": 0.7}},
           "blend": {"x": {"tau_w": 0.6}, "y": {"tau_w": 0.8}}}
    table = suite.summarise(per, ["x", "y"], ("tau_w",))
    mean, lo, hi = table["blend"]["d_tau_w_vs_overall"]
    # The same +0.1 on every dataset: every resample's mean difference is exactly 0.1.
    assert (mean, lo, hi) == pytest.approx((0.1, 0.1, 0.1))
    assert table["blend"]["tau_w"][0] == pytest.approx(0.7)
    assert table["blend"]["tau_w"][1] <= 0.7 <= table["blend"]["tau_w"][2]


def test_a_cell_is_cached_and_reread(suite, tmp_path, monkeypatch):
    monkeypatch.setattr(suite, "CACHE", tmp_path)
    r = records()
    first = suite.run_cell(r, MethodSpec("overall", "overall"), 0, "x")
    assert first["available"] and len(list(tmp_path.glob("*.json"))) == 1
    again = suite.run_cell(r, MethodSpec("overall", "overall"), 0, "x")
    assert again == first
    assert np.isfinite(first["metrics"]["tau_w"])
