"""Exact Fréchet distance: the eigendecomposition route of matchchoose against ``scipy.linalg.sqrtm``.

For each dimension, draws two samples (``--samples`` rows, default 2000, plus a rank-deficient case
with fewer rows than dimensions), computes their Gaussian statistics and times

- ``eigh``: :func:`matchchoose.profile.frechet_distance` (``S1^{1/2}`` by ``eigh``, then the
  eigenvalues of ``S1^{1/2} S2 S1^{1/2}``), the default;
- ``svd``: the same with ``method="svd"`` (singular values of ``S1^{1/2} S2^{1/2}``);
- ``sqrtm``: the FID reference formula with ``scipy.linalg.sqrtm(S1 @ S2)``;

best of ``--repeats`` runs each, and prints a Markdown table with the speed-ups and the relative
difference to the sqrtm value. The numbers in ``docs/profile-benchmark.md`` come from this script.

Usage::

    python benchmarks/frechet.py [--dims 512 768] [--samples 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import scipy
import scipy.linalg

from matchchoose.profile import frechet_distance, gaussian_stats


def _best_time(fn, repeats):
    best, value = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, value


def _sqrtm_reference(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[512, 768])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    print(f"numpy {np.__version__}, scipy {scipy.__version__}, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print()
    print("| dims | samples | eigh (s) | svd (s) | sqrtm (s) | speed-up eigh | speed-up svd "
          "| rel. diff eigh | rel. diff svd |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rng = np.random.default_rng(args.seed)
    for dim in args.dims:
        for n in (args.samples, dim // 2):  # full rank, then rank-deficient (n < dim)
            x = rng.normal(size=(n, dim))
            y = rng.normal(size=(n, dim)) @ rng.normal(size=(dim, dim)) / np.sqrt(dim) + 0.1
            (mu1, s1), (mu2, s2) = gaussian_stats(x), gaussian_stats(y)
            t_eig, v_eig = _best_time(lambda: frechet_distance(mu1, s1, mu2, s2), args.repeats)
            t_svd, v_svd = _best_time(lambda: frechet_distance(mu1, s1, mu2, s2, method="svd"), args.repeats)
            t_ref, v_ref = _best_time(lambda: _sqrtm_reference(mu1, s1, mu2, s2), args.repeats)
            print(f"| {dim} | {n} | {t_eig:.3f} | {t_svd:.3f} | {t_ref:.3f} | {t_ref / t_eig:.1f}x "
                  f"| {t_ref / t_svd:.1f}x | {abs(v_eig - v_ref) / abs(v_ref):.1e} "
                  f"| {abs(v_svd - v_ref) / abs(v_ref):.1e} |", flush=True)


if __name__ == "__main__":
    main()
