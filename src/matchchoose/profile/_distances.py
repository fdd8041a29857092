"""Distances between image-set profiles: Fréchet (FID-style), KID and CMMD; numpy/scipy only.

A *profile* of a dataset is either its embedding matrix ``X`` of shape ``(n_samples, dim)`` or, for the
Fréchet distance, the Gaussian statistics ``(mu, cov)`` of it (:func:`gaussian_stats`). The Fréchet
distance needs only the statistics, so the distance matrix of ``N`` datasets costs ``N`` embedding
passes and ``N`` eigendecompositions, not ``N**2`` of either (:func:`frechet_distance_matrix`).
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

from .._errors import InputError
from .._validation import check_in, check_int, check_real

__all__ = [
    "gaussian_stats",
    "frechet_distance",
    "frechet_distance_matrix",
    "frechet_distances_to",
    "kid",
    "cmmd",
]

# CMMD constants of the reference implementation (google-research/cmmd, ``distance.py``).
CMMD_SIGMA = 10.0
CMMD_SCALE = 1000.0


# ----------------------------------------------------------------------------------- validation
def _check_embeddings(name: str, x, *, min_rows: int = 1) -> np.ndarray:
    """Return ``x`` as a finite float64 array of shape ``(n, d)`` with ``n >= min_rows``, or raise."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"The '{name}' parameter must be a numeric array of shape (n_samples, dim): {exc}") from None
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise InputError(f"The '{name}' parameter must have shape (n_samples, dim). Got shape {arr.shape} instead.")
    if arr.shape[0] < min_rows:
        raise InputError(
            f"The '{name}' parameter must have at least {min_rows} rows (samples). Got {arr.shape[0]} instead."
        )
    if not np.isfinite(arr).all():
        raise InputError(f"The '{name}' parameter contains NaN or infinite values; remove or fix those rows.")
    return arr


def _check_same_dim(name_x: str, x: np.ndarray, name_y: str, y: np.ndarray) -> None:
    if x.shape[-1] != y.shape[-1]:
        raise InputError(
            f"The '{name_x}' and '{name_y}' parameters must have the same dimension. "
            f"Got {x.shape[-1]} and {y.shape[-1]} instead."
        )


def _check_stats(name: str, mu, cov) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(mu, cov)`` as finite float64 arrays of shapes ``(d,)`` and ``(d, d)``, or raise."""
    mu = np.asarray(mu, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    if mu.ndim != 1 or mu.shape[0] == 0:
        raise InputError(f"The mean of '{name}' must have shape (dim,). Got shape {mu.shape} instead.")
    d = mu.shape[0]
    if cov.shape != (d, d):
        raise InputError(f"The covariance of '{name}' must have shape ({d}, {d}). Got shape {cov.shape} instead.")
    if not (np.isfinite(mu).all() and np.isfinite(cov).all()):
        raise InputError(f"The statistics of '{name}' contain NaN or infinite values.")
    # np.cov is symmetric up to rounding; a clearly asymmetric matrix is not a covariance.
    scale = max(float(np.abs(cov).max()), 1e-300)
    if float(np.abs(cov - cov.T).max()) > 1e-8 * scale:
        raise InputError(f"The covariance of '{name}' must be symmetric.")
    return mu, cov


# ------------------------------------------------------------------------------------- Fréchet
def gaussian_stats(x) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of an embedding matrix, in float64.

    Parameters
    ----------
    x : array-like of shape (n_samples, dim)
        Embeddings, one row per image; at least two rows.

    Returns
    -------
    mu : ndarray of shape (dim,)
    cov : ndarray of shape (dim, dim)
        Unbiased sample covariance (``np.cov(x, rowvar=False)``, divisor ``n_samples - 1``), as in
        the FID reference code.

    Examples
    --------
    >>> mu, cov = gaussian_stats([[0.0, 1.0], [2.0, 1.0]])
    >>> mu.tolist(), cov.tolist()
    ([1.0, 1.0], [[2.0, 0.0], [0.0, 0.0]])
    """
    arr = _check_embeddings("x", x, min_rows=2)
    return arr.mean(axis=0), np.atleast_2d(np.cov(arr, rowvar=False))


def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    """Symmetric square root ``V diag(sqrt(max(w, 0))) V^T`` of a symmetric PSD matrix.

    Rounding makes the zero eigenvalues of a rank-deficient covariance (``n_samples <= dim``)
    slightly negative; clipping them to 0 is exact for a true PSD matrix.
    """
    w, v = np.linalg.eigh(cov)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


FRECHET_METHODS = ("eigh", "svd")


def _trace_sqrt_product(sqrt1: np.ndarray, cov2: np.ndarray, sqrt2: np.ndarray, method: str) -> float:
    """``tr((S1 S2)^{1/2})`` without forming a matrix square root of the non-symmetric ``S1 S2``.

    ``S1 S2`` is similar to ``M = A1 S2 A1 = (A1 A2)(A1 A2)^T`` (``Ai = Si^{1/2}``, symmetric), a
    PSD matrix, so the eigenvalues of ``(S1 S2)^{1/2}`` are the square roots of those of ``M``
    (``method="eigh"``, the fastest) or, equivalently, the singular values of ``A1 A2``
    (``method="svd"``). The zero eigenvalues of rank-deficient covariances (``n_samples <= dim``)
    come out as rounding noise ``O(eps ||M||)``; ``eigh`` takes their square root, an ``O(sqrt(eps))``
    relative error (about 2e-8, the same size as ``scipy.linalg.sqrtm``'s), while ``svd`` computes
    the singular values directly and stays within ``O(eps)`` at about 2.5 times the cost.
    """
    if method == "svd":
        return float(np.linalg.svd(sqrt1 @ sqrt2, compute_uv=False).sum())
    m = sqrt1 @ cov2 @ sqrt1
    w = np.linalg.eigvalsh((m + m.T) * 0.5)
    return float(np.sqrt(np.clip(w, 0.0, None)).sum())


def _frechet_from_parts(p1, p2, method: str) -> float:
    (mu1, cov1, tr1, sqrt1), (mu2, cov2, tr2, sqrt2) = p1, p2
    diff = mu1 - mu2
    value = float(diff @ diff) + tr1 + tr2 - 2.0 * _trace_sqrt_product(sqrt1, cov2, sqrt2, method)
    # The exact value is >= 0 (it is a squared Wasserstein-2 distance); rounding can cross zero.
    return max(value, 0.0)


def frechet_distance(mu1, cov1, mu2, cov2, *, method: str = "eigh") -> float:
    """Fréchet distance between two Gaussians, exact, in float64 (the FID formula).

    ``d^2 = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2})``. The matrix square root is not
    formed: ``tr((S1 S2)^{1/2})`` is the sum of the square roots of the eigenvalues of the symmetric
    PSD matrix ``S1^{1/2} S2 S1^{1/2}``, with ``S1^{1/2}`` from ``eigh`` (see
    ``docs/profile-benchmark.md``: 2.7-4 times faster than ``scipy.linalg.sqrtm`` at 512-768
    dimensions and within 1e-7 relative of it, rank-deficient covariances included).

    Parameters
    ----------
    mu1, mu2 : array-like of shape (dim,)
        Means.
    cov1, cov2 : array-like of shape (dim, dim)
        Symmetric positive semi-definite covariances (e.g. from :func:`gaussian_stats`).
    method : {"eigh", "svd"}, default="eigh"
        ``"eigh"``: eigenvalues of ``S1^{1/2} S2 S1^{1/2}`` (fastest). ``"svd"``: singular values of
        ``S1^{1/2} S2^{1/2}``, about 2.5 times slower but exact to rounding when a covariance is
        rank-deficient (``eigh`` is then off by about 2e-8 relative, like ``sqrtm``).

    Returns
    -------
    float
        The squared Fréchet distance (what FID reports), ``>= 0``.

    Examples
    --------
    >>> import numpy as np
    >>> round(frechet_distance([0.0, 0.0], np.eye(2), [3.0, 4.0], 4 * np.eye(2)), 12)
    27.0
    """
    check_in("method", method, FRECHET_METHODS, owner="frechet_distance")
    mu1, cov1 = _check_stats("mu1/cov1", mu1, cov1)
    mu2, cov2 = _check_stats("mu2/cov2", mu2, cov2)
    _check_same_dim("mu1", mu1, "mu2", mu2)
    sqrt2 = _psd_sqrt(cov2) if method == "svd" else None
    return _frechet_from_parts(
        (mu1, cov1, float(np.trace(cov1)), _psd_sqrt(cov1)), (mu2, cov2, float(np.trace(cov2)), sqrt2), method
    )


def frechet_distance_matrix(stats, *, method: str = "eigh") -> tuple[list[str], np.ndarray]:
    """Pairwise Fréchet distances of ``N`` profiles, reusing each ``S_i^{1/2}`` across pairs.

    Parameters
    ----------
    stats : mapping of str to (mu, cov)
        Profile name to Gaussian statistics (:func:`gaussian_stats`), all of the same dimension.
    method : {"eigh", "svd"}, default="eigh"
        As in :func:`frechet_distance`.

    Returns
    -------
    names : list of str
        The profile names, sorted; row and column order of ``matrix``.
    matrix : ndarray of shape (N, N)
        Symmetric, zero diagonal; ``N (N - 1) / 2`` distances computed from ``N`` square roots.

    Examples
    --------
    >>> import numpy as np
    >>> names, d = frechet_distance_matrix({"b": ([1.0], np.eye(1)), "a": ([0.0], np.eye(1))})
    >>> names, d.round(12).tolist()
    (['a', 'b'], [[0.0, 1.0], [1.0, 0.0]])
    """
    check_in("method", method, FRECHET_METHODS, owner="frechet_distance_matrix")
    if not hasattr(stats, "items") or len(stats) == 0:
        raise InputError("The 'stats' parameter must be a non-empty mapping of profile name to (mu, cov).")
    names = sorted(stats)
    parts = []
    for name in names:
        entry = stats[name]
        if not isinstance(entry, (tuple, list)) or len(entry) != 2:
            raise InputError(f"The 'stats' entry {name!r} must be a pair (mu, cov). Got {type(entry).__name__}.")
        mu, cov = _check_stats(str(name), *entry)
        if parts and mu.shape != parts[0][0].shape:
            raise InputError(
                f"The 'stats' entries must share one dimension: {names[0]!r} has {parts[0][0].shape[0]}, "
                f"{name!r} has {mu.shape[0]}."
            )
        parts.append((mu, cov, float(np.trace(cov)), _psd_sqrt(cov)))
    n = len(names)
    matrix = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            matrix[i, j] = matrix[j, i] = _frechet_from_parts(parts[i], parts[j], method)
    return names, matrix


def frechet_distances_to(mu, cov, others, *, method: str = "eigh") -> dict[str, float]:
    """Fréchet distances from one profile ``(mu, cov)`` to each of ``others`` (name -> (mu, cov)).

    With ``method="eigh"`` only ``cov``'s square root is needed: adding a dataset to ``N`` profiled
    ones costs one matrix square root and ``N`` symmetric eigenvalue problems, and no new
    embedding pass over the others.

    Examples
    --------
    >>> import numpy as np
    >>> frechet_distances_to([0.0], np.eye(1), {"a": ([2.0], np.eye(1))})
    {'a': 4.0}
    """
    check_in("method", method, FRECHET_METHODS, owner="frechet_distances_to")
    mu, cov = _check_stats("the profile", mu, cov)
    own = (mu, cov, float(np.trace(cov)), _psd_sqrt(cov))
    out = {}
    for name, entry in others.items():
        if not isinstance(entry, (tuple, list)) or len(entry) != 2:
            raise InputError(f"The 'others' entry {name!r} must be a pair (mu, cov). Got {type(entry).__name__}.")
        mu2, cov2 = _check_stats(str(name), *entry)
        if mu2.shape != mu.shape:
            raise InputError(f"Profile {name!r} has dimension {mu2.shape[0]}, the new one {mu.shape[0]}: they come "
                             "from different probes.")
        sqrt2 = _psd_sqrt(cov2) if method == "svd" else None
        out[name] = _frechet_from_parts(own, (mu2, cov2, float(np.trace(cov2)), sqrt2), method)
    return out


# ----------------------------------------------------------------------------------------- KID
def _check_random_state(random_state) -> np.random.Generator:
    if random_state is None or isinstance(random_state, (Integral, np.random.SeedSequence)):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    raise InputError(f"The 'random_state' parameter must be None, an int or a numpy Generator. Got {random_state!r}.")


def _mmd2_unbiased(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    """Unbiased MMD^2 (Gretton et al. 2012, eq. 3): diagonals of ``kxx``, ``kyy`` left out."""
    m, n = kxx.shape[0], kyy.shape[0]
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2.0 * kxy.mean())


def _torch_on(device):
    """torch and the device to compute on, for the ``device=`` option of :func:`kid` and :func:`cmmd`."""
    from .._device import resolve_device
    from .._errors import require

    torch = require("torch", "KID/CMMD on a device", "models")
    return torch, resolve_device(device, owner="KID/CMMD")


def _kid_torch(x, y, picks, d, device) -> np.ndarray:
    torch, device = _torch_on(device)
    tx = torch.as_tensor(x, dtype=torch.float64, device=device)
    ty = torch.as_tensor(y, dtype=torch.float64, device=device)
    values = torch.empty(len(picks), dtype=torch.float64, device=device)
    for s, (ix, iy) in enumerate(picks):
        xs, ys = tx[torch.as_tensor(ix, device=device)], ty[torch.as_tensor(iy, device=device)]
        kxx = (xs @ xs.T / d + 1.0) ** 3
        kyy = (ys @ ys.T / d + 1.0) ** 3
        kxy = (xs @ ys.T / d + 1.0) ** 3
        m = xs.shape[0]
        values[s] = ((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1)) + (kyy.sum() - kyy.diagonal().sum())
                     / (m * (m - 1)) - 2.0 * kxy.mean())
    return values.cpu().numpy()  # one copy to the host for all subsets


def kid(x, y, *, n_subsets: int = 100, subset_size: int = 1000, random_state=0,
        device=None) -> tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018), mean and std over random subsets.

    Unbiased MMD^2 with the cubic polynomial kernel ``k(a, b) = (a . b / dim + 1)^3``, computed on
    ``n_subsets`` pairs of subsets of ``min(subset_size, len(x), len(y))`` rows drawn without
    replacement, as in the reference code (and clean-fid / torch-fidelity).

    Parameters
    ----------
    x : array-like of shape (n_x, dim)
    y : array-like of shape (n_y, dim)
        Embeddings of the two image sets; at least two rows each.
    n_subsets : int, default=100
    subset_size : int, default=1000
    random_state : int, numpy Generator or None, default=0
        Seeds the subset draws; the same seed gives the same result bit for bit.
    device : str or torch.device, optional
        Compute the kernels with torch (float64) on this device (``"cuda"``), the same subsets; the
        result equals NumPy's to rounding (about 1e-12 relative), not bit for bit. Default: NumPy.

    Returns
    -------
    mean : float
        KID, the mean of the subset estimates (can be slightly negative: the estimator is unbiased).
    std : float
        Standard deviation of the subset estimates (``ddof=0``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> m, s = kid(rng.normal(size=(50, 4)), rng.normal(size=(60, 4)) + 1, n_subsets=10, subset_size=40)
    >>> bool(m > 0)
    True
    """
    x = _check_embeddings("x", x, min_rows=2)
    y = _check_embeddings("y", y, min_rows=2)
    _check_same_dim("x", x, "y", y)
    n_subsets = check_int("n_subsets", n_subsets, low=1, owner="kid")
    subset_size = check_int("subset_size", subset_size, low=2, owner="kid")
    rng = _check_random_state(random_state)
    m = min(subset_size, x.shape[0], y.shape[0])
    d = x.shape[1]
    if device is not None:
        picks = [(rng.choice(x.shape[0], m, replace=False), rng.choice(y.shape[0], m, replace=False))
                 for _ in range(n_subsets)]
        values = _kid_torch(x, y, picks, d, device)
        return float(values.mean()), float(values.std())
    values = np.empty(n_subsets)
    for s in range(n_subsets):
        xs = x[rng.choice(x.shape[0], m, replace=False)]
        ys = y[rng.choice(y.shape[0], m, replace=False)]
        kxx = (xs @ xs.T / d + 1.0) ** 3
        kyy = (ys @ ys.T / d + 1.0) ** 3
        kxy = (xs @ ys.T / d + 1.0) ** 3
        values[s] = _mmd2_unbiased(kxx, kyy, kxy)
    return float(values.mean()), float(values.std())


# ---------------------------------------------------------------------------------------- CMMD
def _rbf(a: np.ndarray, b: np.ndarray, sigma: float) -> np.ndarray:
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.exp(-np.clip(sq, 0.0, None) / (2.0 * sigma**2))


def cmmd(x, y, *, sigma: float = CMMD_SIGMA, scale: float = CMMD_SCALE, unbiased: bool = False,
         device=None) -> float:
    """CLIP Maximum Mean Discrepancy (Jayasumana et al. 2024), ``scale * MMD^2`` with a Gaussian RBF.

    ``k(a, b) = exp(-||a - b||^2 / (2 sigma^2))`` with ``sigma = 10`` and ``scale = 1000``, the
    constants of the paper's reference code. The paper embeds images with CLIP ViT-L/14@336 and
    L2-normalises the embeddings; this function takes the embeddings as given (normalise them
    first to reproduce published CMMD numbers).

    Parameters
    ----------
    x : array-like of shape (n_x, dim)
    y : array-like of shape (n_y, dim)
        Embeddings of the two image sets (at least two rows each when ``unbiased``).
    sigma : float, default=10
        Kernel bandwidth.
    scale : float, default=1000
        Multiplier of MMD^2.
    unbiased : bool, default=False
        ``False`` reproduces the reference code (``google-research/cmmd``, ``distance.py``), which
        averages each kernel matrix *including* its diagonal (the V-statistic; its bias is
        ``O(1/n)`` and positive). ``True`` leaves the diagonals out (the U-statistic of Gretton et
        al. 2012, unbiased, can be slightly negative).
    device : str or torch.device, optional
        Compute with torch (float64) on this device (``"cuda"``); equal to NumPy's result to
        rounding, not bit for bit. Default: NumPy.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> round(cmmd([[0.0, 0.0]], [[0.0, 0.0]]), 12)
    0.0
    """
    min_rows = 2 if unbiased else 1
    x = _check_embeddings("x", x, min_rows=min_rows)
    y = _check_embeddings("y", y, min_rows=min_rows)
    _check_same_dim("x", x, "y", y)
    sigma = check_real("sigma", sigma, low=0.0, low_open=True, owner="cmmd")
    scale = check_real("scale", scale, low=0.0, low_open=True, owner="cmmd")
    if device is not None:
        return _cmmd_torch(x, y, sigma, scale, unbiased, device)
    kxx, kyy, kxy = _rbf(x, x, sigma), _rbf(y, y, sigma), _rbf(x, y, sigma)
    if unbiased:
        return scale * _mmd2_unbiased(kxx, kyy, kxy)
    return float(scale * (kxx.mean() + kyy.mean() - 2.0 * kxy.mean()))


def _cmmd_torch(x, y, sigma: float, scale: float, unbiased: bool, device) -> float:
    torch, device = _torch_on(device)
    tx = torch.as_tensor(x, dtype=torch.float64, device=device)
    ty = torch.as_tensor(y, dtype=torch.float64, device=device)

    def rbf(a, b):
        sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
        return torch.exp(-sq.clamp(min=0.0) / (2.0 * sigma**2))

    kxx, kyy, kxy = rbf(tx, tx), rbf(ty, ty), rbf(tx, ty)
    if unbiased:
        m, n = kxx.shape[0], kyy.shape[0]
        value = ((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1)) + (kyy.sum() - kyy.diagonal().sum())
                 / (n * (n - 1)) - 2.0 * kxy.mean())
    else:
        value = kxx.mean() + kyy.mean() - 2.0 * kxy.mean()
    return float(scale * value)
