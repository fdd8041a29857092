"""Prior features: a row never sees its own dataset's results; exact values on a toy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matchchoose import Metric, ZooRecords
from matchchoose.rank import MatchChoose
from matchchoose.rank._priors import prior_features

NORM = pd.DataFrame({"a": [1.0, 0.0, 0.5], "b": [0.0, 1.0, np.nan]}, index=["x", "y", "z"])
DIST = pd.DataFrame(
    [[0, 1, 2, 1], [1, 0, 3, 2], [2, 3, 0, 4], [1, 2, 4, 0]],
    index=["x", "y", "z", "t"], columns=["x", "y", "z", "t"], dtype=float,
)


def test_overall_prior_leaves_the_row_dataset_out():
    pri = prior_features(NORM, None, ["x", "t"])
    assert list(pri["x"].columns) == ["prior.overall"]
    assert pri["x"].loc["a", "prior.overall"] == pytest.approx((0.0 + 0.5) / 2)  # y and z, not x
    assert pri["x"].loc["b", "prior.overall"] == pytest.approx(1.0)  # only y has b
    assert pri["t"].loc["a", "prior.overall"] == pytest.approx(0.5)  # all three


def test_nearest_prior_weights_the_k_nearest_others():
    pri = prior_features(NORM, DIST, ["t", "x"], k=2)
    # t's two nearest training datasets: x (d=1), y (d=2); h = median = 1.5; weights exp(-d/h).
    wx, wy = np.exp(-1 / 1.5), np.exp(-2 / 1.5)
    assert pri["t"].loc["a", "prior.nearest"] == pytest.approx((wx * 1.0 + wy * 0.0) / (wx + wy))
    # x itself is excluded: its nearest others are y (1) and z (2); b is NaN on z, so only y counts.
    assert pri["x"].loc["b", "prior.nearest"] == pytest.approx(1.0)


def test_match_choose_with_priors_is_deterministic_and_uses_them():
    rng = np.random.default_rng(1)
    rows = [(f"m{i}", f"d{j}", float(i + rng.normal(0, 0.1))) for i in range(6) for j in range(5)]
    names = [f"d{j}" for j in range(5)]
    d = rng.random((5, 5))
    records = ZooRecords(pd.DataFrame(rows, columns=["model", "dataset", "value"]), Metric("accuracy", True),
                         distances=pd.DataFrame(d + d.T, index=names, columns=names))
    train = records.without_results("d0")
    params = dict(predictor="random_forest", priors=True, embedding={"dim": 4, "walk_length": 6, "num_walks": 3},
                  cache=False, random_state=0)
    a = MatchChoose(**params).fit(train)
    b = MatchChoose(**params).fit(train)
    assert "prior.overall" in a.feature_names_ and "prior.nearest" in a.feature_names_
    pa, pb = a.predict("d0"), b.predict("d0")
    assert pa.equals(pb)
    assert pa.idxmax() == "m5"  # the model best everywhere else


def test_predicting_an_isolated_dataset_warns():
    rows = [(f"m{i}", f"d{j}", float(i + j)) for i in range(4) for j in range(3)]
    records = ZooRecords(pd.DataFrame(rows, columns=["model", "dataset", "value"]), Metric("accuracy", True))
    mc = MatchChoose(predictor="random_forest", embedding={"dim": 4, "walk_length": 6, "num_walks": 3},
                     cache=False).fit(records.without_results("d0"))
    with pytest.warns(UserWarning, match="no edge in the matching graph"):
        mc.predict("d0")
