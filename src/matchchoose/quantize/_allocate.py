"""Bit allocation under an average-bit budget: an integer programme (MPQ-Diff, after OMPQ).

Every layer ``i`` takes exactly one bit width ``b`` from the candidates; the weighted average of the
chosen widths (weights: the layers' element counts) must not exceed the budget. The objective is
the importance-weighted quantisation noise ``sum_i theta_i * 4^(-b_i)``: the noise power of a
uniform quantiser falls fourfold per extra bit, and a layer whose output is more orthogonal to the
other layers' (higher ``theta``, information no other layer carries) is hurt more by it. MPQ-Diff's
abstract does not spell out its objective; this one keeps the paper's ingredients (orthogonality
as importance, an integer programme under the size budget) and has the diminishing returns that
stop the solver from spending the whole budget on one layer. Solved exactly with
:func:`scipy.optimize.milp` (HiGHS branch and bound).
"""

from __future__ import annotations

import numpy as np

from .._errors import InputError

__all__ = ["allocate_bits"]


def allocate_bits(importance, sizes, budget: float, candidates, *, time_limit: float = 60.0) -> np.ndarray:
    """Bits per layer minimising ``sum theta_i 4^-b_i`` subject to ``sum n_i b_i <= budget * sum n_i``.

    Parameters
    ----------
    importance : array-like of shape (L,)
        Non-negative importance of each layer.
    sizes : array-like of shape (L,)
        Positive element counts (the weights of the average).
    budget : float
        Average bits allowed, within ``[min(candidates), max(candidates)]``.
    candidates : sequence of int
        Allowed bit widths.
    time_limit : float, default=60
        Seconds HiGHS may search; the best feasible answer found is returned.

    Returns
    -------
    ndarray of int, shape (L,)

    Examples
    --------
    >>> allocate_bits([1.0, 0.0], [1, 1], 6.0, (4, 8)).tolist()
    [8, 4]
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    theta = np.asarray(importance, dtype=float)
    n = np.asarray(sizes, dtype=float)
    bits = np.asarray(sorted(set(int(b) for b in candidates)), dtype=float)
    if theta.ndim != 1 or theta.shape != n.shape or not len(theta):
        raise InputError(f"allocate_bits: importance and sizes must be 1-d of the same non-zero length; got shapes "
                         f"{theta.shape} and {n.shape}.")
    if np.any(~np.isfinite(theta)) or np.any(theta < 0) or np.any(n <= 0):
        raise InputError("allocate_bits: importance must be finite and >= 0, sizes > 0.")
    if not bits[0] - 1e-9 <= budget <= bits[-1] + 1e-9:
        raise InputError(f"allocate_bits: budget {budget} bits is outside the candidates' range "
                         f"[{bits[0]:g}, {bits[-1]:g}].")
    L, K = len(theta), len(bits)
    # Scale so that the objective is O(1) whatever the importances (HiGHS tolerances are absolute).
    scale = theta.max() if theta.max() > 0 else 1.0
    c = (theta[:, None] / scale * 4.0 ** -(bits[None, :] - bits[0])).ravel()
    one_hot = np.zeros((L, L * K))
    for i in range(L):
        one_hot[i, i * K:(i + 1) * K] = 1.0
    size_row = (n[:, None] * bits[None, :]).ravel() / n.sum()
    constraints = [LinearConstraint(one_hot, 1.0, 1.0), LinearConstraint(size_row[None, :], -np.inf, budget)]
    res = milp(c, constraints=constraints, integrality=np.ones(L * K), bounds=Bounds(0, 1),
               options={"time_limit": time_limit, "mip_rel_gap": 1e-6})
    if res.x is None:
        raise InputError(f"allocate_bits: no allocation fits {budget} bits ({res.message}).")
    choice = np.asarray(res.x).reshape(L, K).argmax(axis=1)
    out = bits[choice].astype(int)
    if float((out * n).sum() / n.sum()) > budget + 1e-6:  # rounding of a relaxed answer: never over budget
        raise InputError(f"allocate_bits: the solver's answer exceeds the {budget}-bit budget ({res.message}).")
    return out
