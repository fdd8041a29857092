"""Parameter checks in the scikit-learn style: one function per concern, errors name the parameter.

Public as ``matchchoose.check_in``, ``matchchoose.check_int`` and ``matchchoose.check_real``, for components
and tools written outside the library that want the same messages.
"""

from __future__ import annotations

from numbers import Integral, Real

from ._errors import InputError


def check_in(name: str, value, allowed, owner: str | None = None):
    """Raise unless ``value`` is one of ``allowed``; return it."""
    if value not in allowed:
        where = f" of {owner}" if owner else ""
        raise InputError(
            f"The '{name}' parameter{where} must be one of {sorted(map(str, allowed))}. Got {value!r} instead."
        )
    return value


def check_real(name: str, value, *, low=None, high=None, low_open=False, high_open=False, owner=None):
    """Raise unless ``value`` is a real number in the interval; return it as float."""
    where = f" of {owner}" if owner else ""
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    interval = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
    ok = isinstance(value, Real) and not isinstance(value, bool)
    if ok:
        v = float(value)
        if low is not None and (v < low or (low_open and v == low)):
            ok = False
        if high is not None and (v > high or (high_open and v == high)):
            ok = False
    if not ok:
        raise InputError(f"The '{name}' parameter{where} must be a float in {interval}. Got {value!r} instead.")
    return float(value)


def check_int(name: str, value, *, low=None, high=None, owner=None):
    """Raise unless ``value`` is an integer in ``[low, high]``; return it as int.

    Examples
    --------
    >>> check_int("n", 3, low=1)
    3
    """
    where = f" of {owner}" if owner else ""
    ok = isinstance(value, Integral) and not isinstance(value, bool)
    if ok and ((low is not None and value < low) or (high is not None and value > high)):
        ok = False
    if not ok:
        interval = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise InputError(f"The '{name}' parameter{where} must be an int in {interval}. Got {value!r} instead.")
    return int(value)
