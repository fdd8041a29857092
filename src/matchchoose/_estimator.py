"""The estimator contract shared by every selector and rank predictor.

Selectors (:class:`~matchchoose.rank.MatchChoose` and the baselines of :mod:`matchchoose.evaluate`)
and rank predictors (:mod:`matchchoose.rank`) follow scikit-learn's estimator contract: ``__init__``
only stores its keyword arguments unchanged, ``get_params(deep=True)`` / ``set_params(**params)``
read and write them (nested as ``param__sub``), and :func:`sklearn.base.clone` rebuilds an unfitted
copy. :class:`Estimator` is that contract, the part of :class:`sklearn.base.BaseEstimator` we use,
without importing scikit-learn: importing it costs about 0.4 s, a quarter of a warm ``mnc choose``,
whose cached CatBoost predictor never needs it.

:class:`Selector` adds the selector protocol: ``fit(records)`` on a training view
:class:`~matchchoose.ZooRecords` and ``predict(dataset)``, a float Series over every model, higher =
better.
"""

from __future__ import annotations

import inspect

from ._errors import InputError, NotFittedError

__all__ = ["Estimator", "Selector"]

_UNSET = object()


class Estimator:
    """Parameters in the scikit-learn style: ``get_params``, ``set_params``, ``repr``, ``clone``.

    Examples
    --------
    >>> class Scale(Estimator):
    ...     def __init__(self, factor=1.0, offset=0.0):
    ...         self.factor = factor
    ...         self.offset = offset
    >>> Scale(factor=2.0)
    Scale(factor=2.0)
    >>> Scale().set_params(offset=1.0).get_params()
    {'factor': 1.0, 'offset': 1.0}
    """

    @classmethod
    def _get_param_names(cls) -> list:
        """The keyword arguments of ``__init__``, sorted (as scikit-learn lists them)."""
        init = cls.__init__
        if init is object.__init__:
            return []
        params = [p for p in inspect.signature(init).parameters.values() if p.name != "self"]
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ must take explicit keyword arguments, not *{p.name}.")
        return sorted(p.name for p in params)

    def get_params(self, deep: bool = True) -> dict:
        """Parameters of this estimator; with ``deep``, also ``name__sub`` of parameters that are estimators."""
        out = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update({f"{name}__{k}": v for k, v in value.get_params(deep=True).items()})
            out[name] = value
        return out

    def set_params(self, **params) -> "Estimator":
        """Set parameters (``name`` or ``name__sub`` for a parameter that is an estimator); return ``self``."""
        valid = self._get_param_names()
        nested = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise InputError(f"Invalid parameter {name!r} for {type(self).__name__}: valid parameters are "
                                 f"{valid}.")
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        # As scikit-learn prints estimators: only the parameters that differ from their default.
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        shown = []
        for name in (p for p in inspect.signature(type(self).__init__).parameters if p != "self"):
            value = getattr(self, name, _UNSET)
            default = defaults.get(name, inspect.Parameter.empty)
            if value is _UNSET or _same(value, default):
                continue
            shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def _check_fitted(self, attribute: str):
        if not hasattr(self, attribute):
            raise NotFittedError(self)


def _same(value, default) -> bool:
    try:
        return bool(value is default or (type(value) is type(default) and value == default))
    except (TypeError, ValueError):  # arrays and frames have no single truth value
        return False


class Selector(Estimator):
    """Base of every selector: ``fit(records)`` → ``self``, ``predict(dataset)`` → Series over models.

    Class-level hooks the evaluation runner reads (no selector is special-cased by name):

    * :meth:`applies_to`: whether the selector can run on these records at all (the Initial
      baseline needs prescores, Direct needs dataset features);
    * :meth:`available`: whether it can predict a given held-out dataset from a training view;
    * ``expected_value``: ``True`` when the runner reports the exact expected metrics of the
      selector's ranking distribution instead of scoring one draw (the Random baseline).
    """

    expected_value = False

    @classmethod
    def applies_to(cls, records) -> bool:
        """Whether ``records`` hold what this selector needs (default: anything with results)."""
        return True

    @classmethod
    def available(cls, records, dataset: str) -> bool:
        """Whether this selector can score the models of ``dataset`` given the training view ``records``."""
        return True
