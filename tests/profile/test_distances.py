"""Fréchet, KID and CMMD against the reference formulas, brute-force loops and hand-checked toy cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.linalg

from matchchoose import InputError
from matchchoose.profile import cmmd, frechet_distance, frechet_distance_matrix, gaussian_stats, kid


def _samples(n, d, seed):
    """Two correlated, shifted Gaussian samples of shape (n, d)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) / np.sqrt(d) + 0.1
    return x, y


def _frechet_sqrtm(mu1, s1, mu2, s2):
    """The FID reference formula, with scipy's general matrix square root."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


# ------------------------------------------------------------------------------------- Fréchet
def test_frechet_pinned_toy_cases():
    # 1-D: (mu1 - mu2)^2 + (sigma1 - sigma2)^2 = 9 + 1.
    assert frechet_distance([0.0], [[1.0]], [3.0], [[4.0]]) == pytest.approx(10.0, abs=1e-12)
    # Commuting (diagonal) covariances: ||mu1 - mu2||^2 + ||sqrt(s1) - sqrt(s2)||^2 = 25 + 1 + 4.
    d = frechet_distance([0.0, 0.0], np.diag([1.0, 4.0]), [3.0, 4.0], np.diag([4.0, 16.0]))
    assert d == pytest.approx(30.0, abs=1e-12)
    # Identical Gaussians, singular covariance: exactly 0 (clipped, never negative).
    s = np.array([[1.0, 1.0], [1.0, 1.0]])
    assert frechet_distance([1.0, 2.0], s, [1.0, 2.0], s) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    ("dim", "n_samples"),
    # n_samples < dim: rank-deficient. Full rank at 512/768 is in benchmarks/frechet.py (sqrtm is slow).
    [(64, 500), (64, 40), (512, 200), pytest.param(768, 300, marks=pytest.mark.slow)],
)
def test_frechet_matches_sqrtm_reference(dim, n_samples):
    x, y = _samples(n_samples, dim, seed=dim + n_samples)
    (mu1, s1), (mu2, s2) = gaussian_stats(x), gaussian_stats(y)
    reference = _frechet_sqrtm(mu1, s1, mu2, s2)
    for method in ("eigh", "svd"):
        assert frechet_distance(mu1, s1, mu2, s2, method=method) == pytest.approx(reference, rel=1e-6), method


@pytest.mark.parametrize(("dim", "n_samples"), [(64, 40), (256, 100)])
def test_frechet_rank_deficient_against_exact_low_rank_formula(dim, n_samples):
    # With S1 = Xc^T Xc / (n-1) and S2 = Yc^T Yc / (n-1), tr((S1 S2)^{1/2}) is the nuclear norm of
    # Xc Yc^T / (n-1), an (n, n) matrix: a reference free of any square root of rounding noise.
    x, y = _samples(n_samples, dim, seed=7)
    xc, yc = x - x.mean(0), y - y.mean(0)
    trace_sqrt = np.linalg.svd(xc @ yc.T, compute_uv=False).sum() / (n_samples - 1)
    (mu1, s1), (mu2, s2) = gaussian_stats(x), gaussian_stats(y)
    exact = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    assert frechet_distance(mu1, s1, mu2, s2, method="svd") == pytest.approx(exact, rel=1e-12)
    assert frechet_distance(mu1, s1, mu2, s2, method="eigh") == pytest.approx(exact, rel=1e-7)


def test_frechet_distance_matrix_equals_pairwise_distances():
    rng = np.random.default_rng(0)
    stats = {name: gaussian_stats(rng.normal(size=(30, 8)) * (k + 1) + k) for k, name in enumerate("dcab")}
    names, matrix = frechet_distance_matrix(stats)
    assert names == ["a", "b", "c", "d"]
    assert np.array_equal(matrix, matrix.T) and np.all(np.diag(matrix) == 0)
    for (i, a), (j, b) in itertools.combinations(enumerate(names), 2):
        assert matrix[i, j] == pytest.approx(frechet_distance(*stats[a], *stats[b]), rel=1e-12)
    assert frechet_distance_matrix(stats, method="svd")[1] == pytest.approx(matrix, rel=1e-9)


def test_gaussian_stats_is_float64_np_cov():
    x = np.arange(12, dtype=np.float32).reshape(4, 3) ** 2
    mu, cov = gaussian_stats(x)
    assert mu.dtype == cov.dtype == np.float64
    assert np.array_equal(cov, np.cov(x.astype(np.float64), rowvar=False))
    assert gaussian_stats([[1.0], [3.0]])[1].tolist() == [[2.0]]


def test_frechet_validation_names_the_input():
    eye = np.eye(2)
    with pytest.raises(InputError, match="'mu1' and 'mu2'.*same dimension"):
        frechet_distance([0.0, 0.0], eye, [0.0], [[1.0]])
    with pytest.raises(InputError, match="covariance of 'mu2/cov2' must have shape"):
        frechet_distance([0.0, 0.0], eye, [0.0, 0.0], np.eye(3))
    with pytest.raises(InputError, match="'mu1/cov1' contain NaN"):
        frechet_distance([np.nan, 0.0], eye, [0.0, 0.0], eye)
    with pytest.raises(InputError, match="must be symmetric"):
        frechet_distance([0.0, 0.0], [[1.0, 0.5], [0.0, 1.0]], [0.0, 0.0], eye)
    with pytest.raises(InputError, match="'method'"):
        frechet_distance([0.0], [[1.0]], [0.0], [[1.0]], method="sqrtm")
    with pytest.raises(InputError, match="'stats' entries must share one dimension: 'a' has 1, 'b' has 2"):
        frechet_distance_matrix({"a": ([0.0], [[1.0]]), "b": ([0.0, 0.0], eye)})
    with pytest.raises(InputError, match="'stats' entry 'a' must be a pair"):
        frechet_distance_matrix({"a": [0.0]})
    with pytest.raises(InputError, match="non-empty mapping"):
        frechet_distance_matrix({})
    with pytest.raises(InputError, match="'x'.*at least 2 rows"):
        gaussian_stats([[1.0, 2.0]])
    with pytest.raises(InputError, match=r"'x'.*shape \(n_samples, dim\)"):
        gaussian_stats([1.0, 2.0])


# ----------------------------------------------------------------------------------------- KID
def _kid_brute_force(x, y, n_subsets, subset_size, seed):
    """Loop-by-loop KID with the same subset draws as :func:`kid`."""
    rng = np.random.default_rng(seed)
    d = x.shape[1]
    m = min(subset_size, len(x), len(y))

    def k(a, b):
        return (sum(ai * bi for ai, bi in zip(a, b)) / d + 1) ** 3

    values = []
    for _ in range(n_subsets):
        xs = x[rng.choice(len(x), m, replace=False)]
        ys = y[rng.choice(len(y), m, replace=False)]
        xx = sum(k(xs[i], xs[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        yy = sum(k(ys[i], ys[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        xy = sum(k(xs[i], ys[j]) for i in range(m) for j in range(m)) / (m * m)
        values.append(xx + yy - 2 * xy)
    return float(np.mean(values)), float(np.std(values))


def test_kid_pinned_toy_case():
    # k(a, b) = (a b + 1)^3 in 1-D: Kxx off-diagonal 1, Kyy 343, Kxy mean (1 + 1 + 27 + 64) / 4.
    mean, std = kid([[0.0], [1.0]], [[2.0], [3.0]], n_subsets=3, subset_size=2)
    assert (mean, std) == (pytest.approx(1 + 343 - 2 * 23.25, abs=1e-12), pytest.approx(0.0, abs=1e-12))


def test_kid_matches_brute_force():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(12, 3)), rng.normal(size=(9, 3)) + 0.3
    ours = kid(x, y, n_subsets=4, subset_size=6, random_state=5)
    assert ours == pytest.approx(_kid_brute_force(x, y, 4, 6, 5), rel=1e-12)
    assert kid(x, y, n_subsets=4, subset_size=6, random_state=5) == ours  # bit for bit


def test_kid_is_near_zero_for_one_distribution():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    same, std = kid(x, y, n_subsets=50, subset_size=200, random_state=0)
    shifted, _ = kid(x, y + 0.5, n_subsets=50, subset_size=200, random_state=0)
    assert abs(same) < std and abs(same) < 0.01 * shifted


def test_kid_validation_names_the_parameter():
    x = np.zeros((5, 3))
    with pytest.raises(InputError, match="'x' and 'y'.*same dimension. Got 3 and 2"):
        kid(x, np.zeros((5, 2)))
    with pytest.raises(InputError, match="'y' parameter contains NaN or infinite"):
        kid(x, np.full((5, 3), np.inf))
    with pytest.raises(InputError, match="'subset_size' parameter of kid"):
        kid(x, x, subset_size=1)
    with pytest.raises(InputError, match="'n_subsets' parameter of kid"):
        kid(x, x, n_subsets=0)
    with pytest.raises(InputError, match="'random_state'"):
        kid(x, x, random_state="seed")


# ---------------------------------------------------------------------------------------- CMMD
def _cmmd_brute_force(x, y, sigma=10.0, scale=1000.0, unbiased=False):
    def k(a, b):
        return math.exp(-sum((ai - bi) ** 2 for ai, bi in zip(a, b)) / (2 * sigma**2))

    def mean(a, b, skip_diag):
        pairs = [(i, j) for i in range(len(a)) for j in range(len(b)) if not (skip_diag and i == j)]
        return sum(k(a[i], b[j]) for i, j in pairs) / len(pairs)

    return scale * (mean(x, x, unbiased) + mean(y, y, unbiased) - 2 * mean(x, y, False))


def test_cmmd_pinned_toy_case():
    # One point each, 10 apart: 1000 * (1 + 1 - 2 exp(-100 / 200)).
    assert cmmd([[0.0, 0.0]], [[0.0, 10.0]]) == pytest.approx(786.9386805747331, rel=1e-12)


@pytest.mark.parametrize("unbiased", [False, True])
def test_cmmd_matches_brute_force(unbiased):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(7, 5)) * 4, rng.normal(size=(6, 5)) * 4 + 2
    ours = cmmd(x, y, unbiased=unbiased)
    assert ours == pytest.approx(_cmmd_brute_force(x, y, unbiased=unbiased), rel=1e-12)
    assert cmmd(x, y, sigma=3.0, scale=1.0, unbiased=unbiased) == pytest.approx(
        _cmmd_brute_force(x, y, sigma=3.0, scale=1.0, unbiased=unbiased), rel=1e-12
    )


def test_cmmd_unbiased_is_near_zero_for_one_distribution_and_reference_is_biased_up():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(300, 8)) * 5, rng.normal(size=(300, 8)) * 5
    unbiased = cmmd(x, y, unbiased=True)
    shifted = cmmd(x, y + 5, unbiased=True)
    assert abs(unbiased) < 0.02 * shifted
    # The reference (V-statistic) estimator adds the diagonals: (2 - mean Kxx_ii...) / n > 0 bias.
    assert cmmd(x, y) > unbiased


def test_cmmd_validation_names_the_parameter():
    with pytest.raises(InputError, match="'x' and 'y'"):
        cmmd(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(InputError, match="'x' parameter contains NaN"):
        cmmd([[np.nan]], [[0.0]])
    with pytest.raises(InputError, match="'sigma' parameter of cmmd"):
        cmmd([[0.0]], [[0.0]], sigma=0)
    with pytest.raises(InputError, match="'x' parameter must have at least 2 rows"):
        cmmd([[0.0]], [[0.0], [1.0]], unbiased=True)
