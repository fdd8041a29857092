"""Score and distance affinities (random-walk weights) on cases computed by hand.

Scores: one dataset with utilities 1, 2, 3 (models a, b, c); eps = 0.05.

    normalized  0.05 + 0.95 * minmax(u)        = 0.05, 0.525, 1
    rank        1 - (rank - 1) / n             = 1/3, 2/3, 1
    softmax     exp(z - max z), z = (u - 2) / sqrt(2/3) = e^-2.449..., e^-1.224..., 1

Distances between datasets p, q, r: p-q 1, p-r 2, q-r 4; the scale is their median, 2.

    gaussian  exp(-(d/2)^2)   = e^-0.25, e^-1, e^-4
    inverse   1 / (1 + d/2)   = 2/3, 1/2, 1/3
    knn (k=1) gaussian, kept: p-q (p's and q's nearest), p-r (r's nearest); q-r dropped
"""

import math

import numpy as np
import pandas as pd
import pytest

from matchchoose import InputError
from matchchoose.graph import DISTANCE_AFFINITIES, SCORE_AFFINITIES, distance_affinity, score_affinity


def frame(rows, index=None, columns=None):
    rows = np.asarray(rows, dtype=float)
    index = index or [f"d{i}" for i in range(rows.shape[0])]
    columns = columns or list("abcdefgh"[: rows.shape[1]])
    return pd.DataFrame(rows, index=index, columns=columns)


def scores(method, rows, raw=None):
    u = frame(rows)
    return score_affinity(u, frame(raw) if raw is not None else u, method).to_numpy()


def dist3():
    return pd.DataFrame([[0, 1, 2], [1, 0, 4], [2, 4, 0]], index=list("pqr"), columns=list("pqr"), dtype=float)


# ----------------------------------------------------------------------------- scores
def test_registries():
    assert SCORE_AFFINITIES == ("normalized", "rank", "softmax", "raw")
    assert DISTANCE_AFFINITIES[:4] == ("gaussian", "inverse", "knn", "raw")


def test_normalized():
    assert scores("normalized", [[1, 2, 3]]).tolist() == [[0.05, 0.525, 1.0]]
    # A flat dataset: every model is "the best".
    assert scores("normalized", [[4, 4, 4]]).tolist() == [[1.0, 1.0, 1.0]]
    # Rows are independent: each dataset is normalised on its own.
    assert scores("normalized", [[1, 2, 3], [30, 10, 20]]).tolist() == [[0.05, 0.525, 1.0], [1.0, 0.05, 0.525]]


def test_rank_incl_ties():
    np.testing.assert_allclose(scores("rank", [[1, 2, 3]]), [[1 / 3, 2 / 3, 1.0]])
    # Ties share the average rank: b, c are ranks 1.5 -> 1 - 0.5/3.
    np.testing.assert_allclose(scores("rank", [[1, 3, 3]]), [[1 / 3, 5 / 6, 5 / 6]])


def test_softmax():
    z = 1 / math.sqrt(2 / 3)
    np.testing.assert_allclose(scores("softmax", [[1, 2, 3]]), [[math.exp(-2 * z), math.exp(-z), 1.0]])
    np.testing.assert_allclose(scores("softmax", [[1, 2, 3]])[0], [0.0864, 0.2938, 1.0], atol=1e-4)
    assert scores("softmax", [[5, 5]]).tolist() == [[1.0, 1.0]]


def test_raw_uses_raw_values_and_shifts_non_positive():
    # Raw ignores the utility: FID 10, 20, 30 weights the worst model most, as the paper writes it.
    assert scores("raw", [[-10, -20, -30]], raw=[[10, 20, 30]]).tolist() == [[10.0, 20.0, 30.0]]
    # Non-positive values are shifted by -min + eps * range: -1, 0, 3 -> +1 + 0.05 * 4.
    np.testing.assert_allclose(scores("raw", [[-1, 0, 3]]), [[0.2, 1.2, 4.2]])
    # The shift is global (over every finite value), and a zero range falls back to eps.
    np.testing.assert_allclose(scores("raw", [[0, 0], [0, 0]]), [[0.05, 0.05], [0.05, 0.05]])
    np.testing.assert_allclose(scores("raw", [[-2, 1], [np.nan, 0]]), [[0.15, 3.15], [np.nan, 2.15]])


@pytest.mark.parametrize("method", ["normalized", "rank", "softmax"])
def test_nan_is_no_edge(method):
    out = scores(method, [[1, np.nan, 3], [np.nan, np.nan, np.nan], [2, 2, np.nan]])
    assert np.isnan(out[0, 1]) and np.isnan(out[1]).all() and np.isnan(out[2, 2])
    # The missing value does not count: a and c are worst and best of two.
    assert out[0, 2] == 1.0
    assert out[0, 0] == pytest.approx({"normalized": 0.05, "rank": 0.5, "softmax": math.exp(-2.0)}[method])


@pytest.mark.parametrize("method", ["normalized", "rank", "softmax"])
def test_higher_utility_higher_affinity(method):
    rng = np.random.default_rng(0)
    u = rng.normal(size=(5, 7))
    w = scores(method, u)
    assert ((w > 0) & (w <= 1)).all()
    for urow, wrow in zip(u, w):
        order = np.argsort(urow)
        assert (np.diff(wrow[order]) > 0).all()
        assert wrow[np.argmax(urow)] == 1.0


def test_score_affinity_keeps_labels():
    u = frame([[1, 2]], index=["ds"], columns=["m1", "m2"])
    out = score_affinity(u, u, "rank")
    assert out.index.tolist() == ["ds"] and out.columns.tolist() == ["m1", "m2"]


def test_unknown_score_method():
    u = frame([[1, 2]])
    with pytest.raises(InputError, match=r"The 'method' parameter of score_affinity must be one of "
                                         r"\['normalized', 'rank', 'raw', 'softmax'\]. Got 'zscore' instead."):
        score_affinity(u, u, "zscore")


# ----------------------------------------------------------------------------- distances
def test_gaussian():
    w = distance_affinity(dist3(), "gaussian").to_numpy()
    assert np.isnan(np.diag(w)).all()
    np.testing.assert_allclose(w[[0, 0, 1], [1, 2, 2]], [math.exp(-0.25), math.exp(-1), math.exp(-4)])
    np.testing.assert_array_equal(w, w.T)


def test_gaussian_floor_keeps_far_pairs():
    d = pd.DataFrame([[0, 1, 100], [1, 0, 1], [100, 1, 0]], dtype=float)
    w = distance_affinity(d, "gaussian").to_numpy()
    assert w[0, 2] == 1e-6 and w[0, 1] == pytest.approx(math.exp(-1))


def test_inverse():
    w = distance_affinity(dist3(), "inverse").to_numpy()
    np.testing.assert_allclose(w[[0, 0, 1], [1, 2, 2]], [2 / 3, 1 / 2, 1 / 3])
    assert np.isnan(np.diag(w)).all()


def test_knn_keeps_nearest_and_is_symmetric():
    w = distance_affinity(dist3(), "knn", k=1)
    g = distance_affinity(dist3(), "gaussian")
    assert w.loc["p", "q"] == w.loc["q", "p"] == g.loc["p", "q"]
    # r keeps p, p does not keep r: the edge stays in both directions.
    assert w.loc["p", "r"] == w.loc["r", "p"] == g.loc["p", "r"]
    assert np.isnan(w.loc["q", "r"]) and np.isnan(w.loc["r", "q"])
    np.testing.assert_array_equal(w.to_numpy(), w.to_numpy().T)
    # k >= n - 1 keeps every edge: the gaussian weights.
    np.testing.assert_array_equal(distance_affinity(dist3(), "knn", k=2).to_numpy(), g.to_numpy())


def test_raw_distance_and_shift():
    w = distance_affinity(dist3(), "raw").to_numpy()
    assert w[0, 1] == 1.0 and w[0, 2] == 2.0 and w[1, 2] == 4.0 and np.isnan(w[0, 0])
    d = pd.DataFrame([[0, 0, 2], [0, 0, 4], [2, 4, 0]], dtype=float)
    # Off-diagonal 0, 2, 4: shifted by 0 + 0.05 * 4.
    np.testing.assert_allclose(distance_affinity(d, "raw").to_numpy()[[0, 0, 1], [1, 2, 2]], [0.2, 2.2, 4.2])


def test_zero_distances_use_unit_scale():
    d = pd.DataFrame([[0.0, 0.0], [0.0, 0.0]])
    assert distance_affinity(d, "inverse").to_numpy()[0, 1] == 1.0
    assert distance_affinity(d, "gaussian").to_numpy()[0, 1] == 1.0


@pytest.mark.parametrize("method", DISTANCE_AFFINITIES)
def test_nan_distance_is_no_edge(method):
    d = dist3()
    d.loc["q", "r"] = d.loc["r", "q"] = np.nan
    w = distance_affinity(d, method, k=2)
    assert np.isnan(w.loc["q", "r"]) and np.isnan(w.loc["r", "q"])
    assert np.isfinite(w.loc["p", "q"]) and np.isfinite(w.loc["p", "r"])
    everything_unknown = pd.DataFrame(np.full((2, 2), np.nan))
    assert distance_affinity(everything_unknown, method).isna().all().all()


@pytest.mark.parametrize("method", ["gaussian", "inverse", "knn"])
def test_larger_distance_lower_affinity(method):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 2))
    d = pd.DataFrame(np.linalg.norm(x[:, None] - x[None], axis=2))
    w = distance_affinity(d, method, k=5).to_numpy()
    iu = np.triu_indices(6, 1)
    order = np.argsort(d.to_numpy()[iu])
    assert (np.diff(w[iu][order]) < 0).all()
    assert ((w[iu] > 0) & (w[iu] <= 1)).all()


def test_unknown_distance_method():
    with pytest.raises(InputError, match=r"The 'method' parameter of distance_affinity must be one of "
                                         r"\['gaussian', 'inverse', 'knn', .*'raw'\]. Got 'cosine' instead."):
        distance_affinity(dist3(), "cosine")
