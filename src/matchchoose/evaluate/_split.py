"""Leave-one-dataset-out cross-validation (paper 5.2).

Each fold holds out one dataset: its model results leave the training data, everything else stays
(its features, distances to other datasets and prescores are known before any fine-tuning). Two
views of the same split:

* :class:`LeaveOneDatasetOut`, a scikit-learn splitter over the rows of the long results table
  (``model, dataset, value``), like :class:`sklearn.model_selection.LeaveOneGroupOut`;
* :meth:`LeaveOneDatasetOut.folds` (and :func:`iter_folds`, which checks the names first), the same
  split as ready-made training :class:`~matchchoose.ZooRecords` and the held-out truth, what
  selectors consume and the evaluation runner iterates over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._errors import InputError
from ..records import ZooRecords

__all__ = ["Fold", "LeaveOneDatasetOut", "iter_folds"]


def _as_names(name: str, datasets) -> list | None:
    if datasets is None:
        return None
    if isinstance(datasets, str):
        datasets = [datasets]
    try:
        names = list(dict.fromkeys(map(str, datasets)))
    except TypeError:
        raise InputError(f"The '{name}' parameter must be a list of dataset names. Got {datasets!r} instead.") from None
    if not names:
        raise InputError(f"The '{name}' parameter must name at least one dataset. Got an empty list.")
    return names


class LeaveOneDatasetOut:
    """Hold out all results of one dataset at a time.

    Parameters
    ----------
    datasets : list of str, optional
        Datasets to hold out, one fold each (in sorted order). Others are only ever trained on.
        Default: every dataset present in ``groups``.

    Examples
    --------
    >>> results = pd.DataFrame({"model": ["a", "b", "a", "b", "a"],
    ...                         "dataset": ["x", "x", "y", "y", "z"], "value": [1.0, 2, 3, 4, 5]})
    >>> for train, test in LeaveOneDatasetOut(datasets=["x", "z"]).split(results):
    ...     print(train, test)
    [2 3 4] [0 1]
    [0 1 2 3] [4]
    """

    def __init__(self, datasets=None):
        self.datasets = datasets

    def __repr__(self):
        return f"LeaveOneDatasetOut(datasets={self.datasets!r})"

    @staticmethod
    def _groups(X, groups) -> np.ndarray:
        if groups is None:
            if isinstance(X, ZooRecords):
                groups = X.results["dataset"]
            elif isinstance(X, pd.DataFrame) and "dataset" in X.columns:
                groups = X["dataset"]
            else:
                raise InputError(
                    "LeaveOneDatasetOut.split needs 'groups' (the dataset of each row), "
                    "or X as a DataFrame with a 'dataset' column, or X as ZooRecords."
                )
        groups = pd.Series(np.asarray(groups, dtype=object).ravel())
        if groups.isna().any():
            raise InputError(f"The 'groups' parameter has a missing dataset name at row {int(groups.isna().idxmax())}.")
        groups = groups.astype(str).to_numpy()
        if X is not None and not isinstance(X, ZooRecords):
            n = len(X)
            if n != len(groups):
                raise InputError(f"The 'groups' parameter has {len(groups)} entries but X has {n} rows.")
        return groups

    def _held_out(self, groups: np.ndarray) -> list:
        present = sorted(set(groups))
        if len(present) < 2:
            raise InputError(
                f"LeaveOneDatasetOut needs at least 2 datasets to train on one while holding out another. "
                f"Got {present}."
            )
        chosen = _as_names("datasets", self.datasets)
        if chosen is None:
            return present
        unknown = sorted(set(chosen) - set(present))
        if unknown:
            raise InputError(f"The 'datasets' parameter of LeaveOneDatasetOut names dataset(s) {unknown} with no rows.")
        return sorted(chosen)

    def split(self, X=None, y=None, groups=None):
        """Yield ``(train_idx, test_idx)`` integer arrays, one pair per held-out dataset.

        Parameters
        ----------
        X : DataFrame, array-like or ZooRecords, optional
            The rows to split (only its length, or its ``dataset`` column, is used).
        y : ignored
        groups : array-like of str, shape (n_rows,), optional
            Dataset name of each row; default ``X["dataset"]`` (or ``X.results["dataset"]``).
        """
        groups = self._groups(X, groups)
        for dataset in self._held_out(groups):
            test = groups == dataset
            yield np.flatnonzero(~test), np.flatnonzero(test)

    def folds(self, records: ZooRecords, train_records: ZooRecords | None = None):
        """Yield a :class:`Fold` per held-out dataset of ``records``: the split as training records.

        Parameters
        ----------
        records : ZooRecords
            Full records: the held-out datasets and their truth.
        train_records : ZooRecords, optional
            The records training views are cut from (default ``records``), e.g. ``records`` with a
            fraction of results dropped (paper Fig. 6). Each fold keeps the rows of the split's
            training indices over ``train_records.results``: every row but the held-out dataset's.

        Examples
        --------
        >>> from matchchoose import Metric
        >>> res = pd.DataFrame({"model": ["a", "b", "a"], "dataset": ["x", "x", "y"], "value": [1.0, 2, 3]})
        >>> records = ZooRecords(res, Metric("acc", True))
        >>> [(f.dataset, len(f.train.results), len(f.truth)) for f in LeaveOneDatasetOut().folds(records)]
        [('x', 1, 2), ('y', 2, 1)]
        """
        for name, value in (("records", records), ("train_records", train_records)):
            if value is not None and not isinstance(value, ZooRecords):
                raise InputError(f"The '{name}' parameter of LeaveOneDatasetOut.folds must be ZooRecords. "
                                 f"Got {type(value).__name__} instead.")
        source = records if train_records is None else train_records
        groups = self._groups(source, None)
        for dataset in self._held_out(self._groups(records, None)):
            train_idx = np.flatnonzero(groups != dataset)
            train = source.with_results(source.results.iloc[train_idx].reset_index(drop=True))
            yield Fold(dataset=dataset, train=train, truth=records.truth(dataset))

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Number of folds: the number of held-out datasets."""
        if self.datasets is not None and groups is None and X is None:
            return len(_as_names("datasets", self.datasets))
        return len(self._held_out(self._groups(X, groups)))


@dataclass(frozen=True, eq=False)
class Fold:
    """One leave-one-dataset-out fold.

    Attributes
    ----------
    dataset : str
        The held-out (target) dataset.
    train : ZooRecords
        ``records.without_results(dataset)``: the target keeps its features, distances and
        prescores; only its model results are gone.
    truth : Series
        Raw metric values of the target (index = model), to score a prediction against.
    """

    dataset: str
    train: ZooRecords
    truth: pd.Series


def iter_folds(records: ZooRecords, datasets=None, *, train_records: ZooRecords | None = None):
    """Yield a :class:`Fold` per held-out dataset, in sorted order (:meth:`LeaveOneDatasetOut.folds`).

    Parameters
    ----------
    records : ZooRecords
        Full records.
    datasets : list of str, optional
        Datasets to hold out; default every evaluated dataset (those with results).
    train_records : ZooRecords, optional
        What training views are cut from (default ``records``), e.g. a sparser copy of them.

    Raises
    ------
    InputError
        When a name is not a dataset of ``records`` or has no results to hold out.

    Examples
    --------
    >>> from matchchoose import Metric
    >>> res = pd.DataFrame({"model": ["a", "b", "a"], "dataset": ["x", "x", "y"], "value": [1.0, 2, 3]})
    >>> [(f.dataset, len(f.train.results), len(f.truth)) for f in iter_folds(ZooRecords(res, Metric("acc", True)))]
    [('x', 1, 2), ('y', 2, 1)]
    """
    if not isinstance(records, ZooRecords):
        raise InputError(f"iter_folds expects ZooRecords. Got {type(records).__name__}.")
    evaluated = records.evaluated_datasets
    if len(evaluated) < 2:
        have = f"only {evaluated[0]!r}" if evaluated else "none"
        raise InputError(
            f"Leave-one-dataset-out needs {records.metric.name!r} results on at least 2 datasets (one to hold out, "
            f"one to learn from); they cover {have}: record results on more datasets, or use another --metric."
        )
    chosen = _as_names("datasets", datasets)
    if chosen is None:
        chosen = evaluated
    unknown = sorted(set(chosen) - set(records.datasets))
    if unknown:
        raise InputError(f"--datasets (datasets) names unknown dataset(s) {unknown}; datasets with results: "
                         f"{', '.join(map(str, evaluated))}.")
    empty = sorted(set(chosen) - set(evaluated))
    if empty:
        raise InputError(
            f"--datasets (datasets) names dataset(s) {empty} with no results to hold out (metric "
            f"{records.metric.name!r}); datasets with results: {', '.join(map(str, evaluated))}."
        )
    yield from LeaveOneDatasetOut(datasets=chosen).folds(records, train_records)
