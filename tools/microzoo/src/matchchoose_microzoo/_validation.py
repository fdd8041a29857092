"""Parameter checks of the micro zoo tooling (the messages matchchoose's own checks give)."""

from __future__ import annotations

from numbers import Integral

from matchchoose import InputError

__all__ = ["check_int"]


def check_int(name: str, value, *, low=None, high=None, owner=None) -> int:
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
