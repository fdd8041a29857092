"""benchmarks/microzoo_floor.py: the grid cells put in the units of the real-image floor, by hand."""

from __future__ import annotations

import pandas as pd
import pytest


def test_summarise_puts_cells_in_floor_units(load_script):
    mod = load_script("microzoo_floor")
    # d1: floor 100 (two draws 90 and 110). m1: 500 -> 300, half the gap closed (ratio 0.6, reachable 0.2);
    # m2: 400 -> 450, worse (gap closed -50 / 300). d2: floor 50; m1: 250 -> 50, the whole gap (ratio 0.2).
    cells = pd.DataFrame({"model": ["m1", "m2", "m1"], "dataset": ["d1", "d1", "d2"],
                          "prescore": [500.0, 400.0, 250.0], "final": [300.0, 450.0, 50.0]})
    floor = pd.DataFrame({"dataset": ["d1", "d1", "d2"], "draw": [0, 1, 0], "floor": [90.0, 110.0, 50.0]})
    out, dom, summary = mod.summarise(cells, floor)
    out = out.set_index(["model", "dataset"])
    assert out.loc[("m1", "d1"), "ratio"] == pytest.approx(0.6)
    assert out.loc[("m1", "d1"), "reachable"] == pytest.approx(0.2)
    assert out.loc[("m1", "d1"), "gap_closed"] == pytest.approx(0.5)
    assert out.loc[("m2", "d1"), "gap_closed"] == pytest.approx(-50 / 300)
    assert out.loc[("m1", "d2"), "gap_closed"] == pytest.approx(1.0)
    assert summary["improved_share"] == pytest.approx(2 / 3)
    assert summary["median_ratio"] == pytest.approx(0.6)
    assert summary["share_cells_where_0.75_is_reachable"] == pytest.approx(1.0)
    assert summary["per_model_median_gap_closed"]["m1"] == pytest.approx(0.75)
    assert dom.set_index("dataset").loc["d1", "floor"] == pytest.approx(100.0)
