"""One registry of selectors: Match & Choose and the baselines, by name.

The evaluation runner builds every method from it, ``mnc evaluate`` takes its ``--baselines`` choices
from it, and the docs list what it names (a test checks that they do). A selector is registered by
adding its class here; the runner needs nothing else, since what makes selectors differ is read from
the class: its parameters (``random_state``, ``full_records``), :meth:`~matchchoose._estimator.Selector.applies_to`,
:meth:`~matchchoose._estimator.Selector.available` and ``expected_value``.
"""

from __future__ import annotations

from .._validation import check_in
from ..rank import MatchChoose
from ._baselines import BASELINES
from ._blend import BlendSelector

__all__ = ["SELECTORS", "describe_selectors", "make_selector"]

#: Selector name -> class: ``mnc`` (Match & Choose), ``blend`` (the prior-residual blend) and every baseline of
#: :data:`BASELINES`.
SELECTORS = {"mnc": MatchChoose, "blend": BlendSelector, **BASELINES}


def make_selector(name: str, *, random_state=None, full_records=None, **params):
    """A fresh selector registered as ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`SELECTORS`.
    random_state : int, optional
        Given to selectors that take one (it overrides ``params``); ignored by the others.
    full_records : ZooRecords, optional
        Given to selectors that read the truth (the oracle); ignored by the others.
    **params
        Parameters of the selector's class.

    Examples
    --------
    >>> make_selector("nearest", k=2, random_state=5)
    NearestSelector(k=2, random_state=5)
    >>> make_selector("overall", random_state=5)
    OverallSelector()
    """
    check_in("name", name, SELECTORS)
    selector = SELECTORS[name](**params)
    context = {"random_state": random_state, "full_records": full_records}
    accepted = selector.get_params(deep=False)
    return selector.set_params(**{k: v for k, v in context.items() if v is not None and k in accepted})


def describe_selectors() -> dict:
    """``{name: first line of the class docstring}`` for every registered selector.

    Examples
    --------
    >>> describe_selectors()["overall"]
    'The same ranking for every dataset (paper\\'s "Overall"): mean normalised score over training datasets.'
    """
    return {name: (cls.__doc__ or "").strip().splitlines()[0] for name, cls in SELECTORS.items()}
