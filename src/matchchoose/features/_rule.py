"""The feature rule (paper 4.2): from every model's hyperparameters to one numeric vector per model.

"We parse the models' configuration files and retain the hyperparameters that differ globally
across the whole zoo [...] the result is processed through normalization and one-hot encoding."
:class:`FeatureRule` makes each step explicit:

1. **Keep** a hyperparameter when the models whose config *has* the key do not all hold the same
   value (JSON ``null`` counts as a value; a key the file does not have does not). A key present in
   one family only and constant there is dropped: it only repeats the family, which the
   ``*_class_name`` columns already encode.
2. **Type**: numeric when every value present is a finite number or a boolean (booleans are 0/1),
   else categorical (``-Infinity``, strings, mixed types; values compared as text).
3. **Encode**: a numeric key is min-max scaled to [0, 1] over the models that have a number for it;
   a categorical key becomes one 0/1 column per value, named ``key=value``.
4. **Absent keys** (the policy for families without the key, e.g. ``transformer_num_layers`` for a
   UNet, or ``null`` in a numeric key): numeric -> ``missing_value`` (default -1, outside [0, 1], so
   trees split it off and it never ties with the smallest real value) plus, when some model lacks
   the key, a 0/1 column ``key__missing`` (``missing_indicator=True``, the default: with it the
   paper's 10 models give 78 hyperparameters -> 167 dimensions, against the paper's 78 -> 165;
   without it, 116); categorical -> all zeros.

The rule is fitted on the zoo: adding a model can change which keys differ, the levels and the
scaling, so features are recomputed whenever the zoo changes (the knowledge base does it on
``mnc zoo add``). Nothing here needs torch.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .._errors import InputError, NotFittedError
from .._validation import check_real

__all__ = ["FeatureRule"]

_ABSENT = object()


def _is_number(value) -> bool:
    return isinstance(value, (bool, int, float)) and not (isinstance(value, float) and not math.isfinite(value))


def _text(value) -> str:
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    if isinstance(value, float):
        return {math.inf: "inf", -math.inf: "-inf"}.get(value, repr(value))
    return str(value)


class FeatureRule:
    """Select, type and encode hyperparameters into model features.

    Parameters
    ----------
    missing_value : float, default=-1.0
        Encoded value of a numeric hyperparameter a model does not have (or has as ``null``).
    missing_indicator : bool, default=True
        Add a ``key__missing`` column for every numeric hyperparameter that some model lacks.

    Attributes
    ----------
    n_hyperparameters_in_ : int
        Distinct hyperparameter keys seen in ``fit``.
    kept_ : list of str
        Hyperparameters kept (they differ across the zoo), in first-seen order.
    kinds_ : dict
        Kept hyperparameter -> ``"numeric"`` or ``"categorical"``.
    ranges_ : dict
        Numeric hyperparameter -> (min, max) over the zoo.
    levels_ : dict
        Categorical hyperparameter -> its values (sorted text).
    columns_ : list of str
        Output columns: the numeric key (and ``key__missing``), or ``key=value`` per level.
    groups_ : dict
        Output column -> the hyperparameter it encodes.

    Examples
    --------
    >>> hp = pd.DataFrame({"depth": [2, 4, None], "act": ["silu", "gelu", "silu"], "eps": [1e-5, 1e-5, 1e-5]},
    ...                   index=["a", "b", "c"])
    >>> FeatureRule().fit_transform(hp)
       depth  depth__missing  act=gelu  act=silu
    a    0.0             0.0       0.0       1.0
    b    1.0             0.0       1.0       0.0
    c   -1.0             1.0       0.0       1.0
    """

    def __init__(self, missing_value: float = -1.0, missing_indicator: bool = True):
        self.missing_value = missing_value
        self.missing_indicator = missing_indicator

    # ----------------------------------------------------------------- fit
    def fit(self, hyperparameters: pd.DataFrame) -> "FeatureRule":
        """Learn the kept keys, their types, ranges and levels from a zoo.

        Parameters
        ----------
        hyperparameters : DataFrame
            Index = model, one column per hyperparameter; a cell that is ``NaN`` (float) or the
            sentinel ``pd.NA`` is a key the model's config does not have; ``None`` is JSON ``null``.
        """
        check_real("missing_value", self.missing_value, owner=type(self).__name__)
        frame = self._check(hyperparameters)
        self.n_models_ = len(frame)
        self.n_hyperparameters_in_ = frame.shape[1]
        if not isinstance(self.missing_indicator, bool):
            raise InputError(f"The 'missing_indicator' parameter of FeatureRule must be a bool. "
                             f"Got {self.missing_indicator!r} instead.")
        self.kept_, self.kinds_, self.ranges_, self.levels_ = [], {}, {}, {}
        self.dropped_, self.partial_ = {}, set()
        for key in frame.columns:
            present = [v for v in frame[key] if v is not _ABSENT]
            distinct = {(type(v) is bool, _text(v)) if v is not None else (False, None) for v in present}
            if len(distinct) < 2:
                self.dropped_[key] = "constant" if len(present) > 1 else "in one model only"
                continue
            values = [v for v in present if v is not None]
            self.kept_.append(key)
            if values and all(_is_number(v) for v in values):
                numbers = [float(v) for v in values]
                self.kinds_[key] = "numeric"
                self.ranges_[key] = (min(numbers), max(numbers))
                if len(numbers) < len(frame):
                    self.partial_.add(key)
            else:
                self.kinds_[key] = "categorical"
                self.levels_[key] = sorted({_text(v) for v in present})
        self.columns_, self.groups_ = [], {}
        for key in self.kept_:
            if self.kinds_[key] == "numeric":
                names = [key] + ([f"{key}__missing"] if self.missing_indicator and key in self.partial_ else [])
            else:
                names = [f"{key}={level}" for level in self.levels_[key]]
            for name in names:
                self.groups_[name] = key
            self.columns_.extend(names)
        return self

    # ----------------------------------------------------------- transform
    def transform(self, hyperparameters: pd.DataFrame) -> pd.DataFrame:
        """Encode models (rows) with the fitted rule; keys the rule does not know are ignored.

        Returns
        -------
        DataFrame
            Index = model, one float column per :attr:`columns_`.
        """
        if not hasattr(self, "columns_"):
            raise NotFittedError(self)
        frame = self._check(hyperparameters)
        out = np.zeros((len(frame), len(self.columns_)))
        position = {name: j for j, name in enumerate(self.columns_)}
        for key in self.kept_:
            cells = frame[key] if key in frame.columns else [_ABSENT] * len(frame)
            if self.kinds_[key] == "numeric":
                lo, hi = self.ranges_[key]
                span = hi - lo
                j = position[key]
                flag = position.get(f"{key}__missing")
                for i, value in enumerate(cells):
                    if value is _ABSENT or value is None or not _is_number(value):
                        out[i, j] = self.missing_value
                        if flag is not None:
                            out[i, flag] = 1.0
                    else:
                        out[i, j] = (float(value) - lo) / span if span > 0 else 0.0
            else:
                for i, value in enumerate(cells):
                    if value is _ABSENT:
                        continue
                    j = position.get(f"{key}={_text(value)}")
                    if j is not None:
                        out[i, j] = 1.0
        return pd.DataFrame(out, index=frame.index.copy(), columns=list(self.columns_))

    def fit_transform(self, hyperparameters: pd.DataFrame) -> pd.DataFrame:
        """:meth:`fit`, then :meth:`transform` the same models."""
        return self.fit(hyperparameters).transform(hyperparameters)

    def describe(self) -> pd.DataFrame:
        """One row per output column: ``column, hyperparameter, encoding`` (``min-max``, ``missing``
        or ``one-hot``), ``level`` (one-hot), ``min, max`` (min-max)."""
        if not hasattr(self, "columns_"):
            raise NotFittedError(self)
        rows = []
        for column in self.columns_:
            key = self.groups_[column]
            if column.endswith("__missing") and column != key:
                rows.append((column, key, "missing", None, None, None))
            elif self.kinds_[key] == "numeric":
                lo, hi = self.ranges_[key]
                rows.append((column, key, "min-max", None, lo, hi))
            else:
                rows.append((column, key, "one-hot", column[len(key) + 1:], None, None))
        return pd.DataFrame(rows, columns=["column", "hyperparameter", "encoding", "level", "min", "max"])

    def summary(self) -> dict:
        """Counts: models, hyperparameters seen and kept (numeric / categorical), output dimensions."""
        if not hasattr(self, "columns_"):
            raise NotFittedError(self)
        numeric = sum(kind == "numeric" for kind in self.kinds_.values())
        return {
            "models": self.n_models_,
            "hyperparameters_seen": self.n_hyperparameters_in_,
            "hyperparameters_kept": len(self.kept_),
            "numeric": numeric,
            "categorical": len(self.kept_) - numeric,
            "dimensions": len(self.columns_),
        }

    def __repr__(self):
        return f"FeatureRule(missing_value={self.missing_value!r}, missing_indicator={self.missing_indicator!r})"

    # ------------------------------------------------------------- helpers
    @staticmethod
    def _check(frame) -> pd.DataFrame:
        if not isinstance(frame, pd.DataFrame):
            raise InputError(f"FeatureRule expects a DataFrame of hyperparameters (index = model). Got "
                             f"{type(frame).__name__}.")
        if frame.index.has_duplicates:
            dup = frame.index[frame.index.duplicated()][0]
            raise InputError(f"FeatureRule: model {dup!r} appears twice in the hyperparameters.")
        # Absent keys arrive as float NaN or pd.NA (pandas' fill when frames of dicts are built).
        cells = {key: [_ABSENT if _absent(v) else v for v in frame[key].tolist()] for key in frame.columns}
        out = pd.DataFrame(cells, index=frame.index, dtype=object)
        return out


def _absent(value) -> bool:
    if value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)
