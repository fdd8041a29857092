"""Leave-one-dataset-out: invariants of the splitter and of the training views."""

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.model_selection import cross_validate

from matchchoose import InputError, Metric, ZooRecords
from matchchoose.evaluate._split import Fold, LeaveOneDatasetOut, iter_folds


def toy_records() -> ZooRecords:
    rows = [
        ("a", "x", 10.0), ("b", "x", 20.0), ("c", "x", 30.0),
        ("a", "y", 40.0), ("b", "y", 10.0),
        ("a", "z", 20.0), ("b", "z", 30.0), ("c", "z", 10.0),
    ]  # fmt: skip
    results = pd.DataFrame(rows, columns=["model", "dataset", "value"])
    feats = pd.DataFrame({"f": [0.0, 1.0, 2.0, 1.1]}, index=["x", "y", "z", "t"])
    dist = pd.DataFrame(np.arange(16.0).reshape(4, 4), index=list("xyzt"), columns=list("xyzt"))
    pre = pd.DataFrame({"model": ["a", "b"], "dataset": ["x", "t"], "value": [50.0, 60.0]})
    return ZooRecords(
        results, Metric("fid", False), dataset_features=feats, distances=dist,
        prescores=pre, prescore_metric=Metric("zero_shot_fid", False),
    )  # fmt: skip


# ----------------------------------------------------------------------------- splitter
def test_split_invariants():
    r = toy_records()
    groups = r.results["dataset"].to_numpy()
    folds = list(LeaveOneDatasetOut().split(r.results))
    assert len(folds) == 3 == LeaveOneDatasetOut().get_n_splits(r.results)
    held = []
    for train, test in folds:
        assert train.dtype.kind == "i" and test.dtype.kind == "i"
        (dataset,) = set(groups[test])
        held.append(dataset)
        assert dataset not in set(groups[train])  # no held-out result in the training rows
        assert sorted(np.concatenate([train, test])) == list(range(len(groups)))  # union = all rows
        assert np.intersect1d(train, test).size == 0
    assert held == ["x", "y", "z"]  # each evaluated dataset exactly once, sorted


def test_split_pinned_indices_and_group_sources():
    r = toy_records()
    expected = [([3, 4, 5, 6, 7], [0, 1, 2]), ([0, 1, 2, 5, 6, 7], [3, 4]), ([0, 1, 2, 3, 4], [5, 6, 7])]
    for source in (
        dict(X=r.results),
        dict(X=r),
        dict(X=np.zeros((8, 2)), groups=list(r.results["dataset"])),
        dict(groups=r.results["dataset"]),
    ):
        got = [(list(tr), list(te)) for tr, te in LeaveOneDatasetOut().split(**source)]
        assert got == expected


def test_split_restricted_datasets():
    r = toy_records()
    cv = LeaveOneDatasetOut(datasets=["z", "y"])
    folds = list(cv.split(r.results))
    assert [list(te) for _, te in folds] == [[3, 4], [5, 6, 7]]  # y then z; x only trains
    assert cv.get_n_splits() == 2 == cv.get_n_splits(r.results)


def test_split_errors():
    r = toy_records()
    with pytest.raises(InputError, match="'groups'"):
        list(LeaveOneDatasetOut().split(np.zeros((8, 2))))
    with pytest.raises(InputError, match="3 entries but X has 8 rows"):
        list(LeaveOneDatasetOut().split(r.results, groups=["x", "y", "z"]))
    with pytest.raises(InputError, match=r"\['w'\]"):
        list(LeaveOneDatasetOut(datasets=["x", "w"]).split(r.results))
    with pytest.raises(InputError, match="at least 2 datasets"):
        list(LeaveOneDatasetOut().split(groups=["x", "x"]))
    with pytest.raises(InputError, match="missing dataset name"):
        list(LeaveOneDatasetOut().split(groups=["x", None]))


def test_split_works_as_sklearn_cv():
    r = toy_records()
    out = cross_validate(DummyRegressor(), np.zeros((8, 1)), r.results["value"], groups=r.results["dataset"],
                         cv=LeaveOneDatasetOut())  # fmt: skip
    assert len(out["test_score"]) == 3


# ----------------------------------------------------------------------------- folds of records
def test_iter_folds_invariants():
    r = toy_records()
    folds = list(iter_folds(r))
    assert [f.dataset for f in folds] == r.evaluated_datasets == ["x", "y", "z"]
    rows = 0
    for fold in folds:
        assert isinstance(fold, Fold)
        assert fold.dataset not in set(fold.train.results["dataset"])
        assert fold.dataset not in fold.train.utility_matrix().index
        pd.testing.assert_series_equal(fold.truth, r.truth(fold.dataset))
        assert len(fold.train.results) + len(fold.truth) == len(r.results)
        rows += len(fold.truth)
        # The target keeps what is known before fine-tuning.
        assert fold.train.datasets == r.datasets and fold.train.models == r.models
        pd.testing.assert_frame_equal(fold.train.dataset_features, r.dataset_features)
        pd.testing.assert_frame_equal(fold.train.distances, r.distances)
        pd.testing.assert_frame_equal(fold.train.prescores, r.prescores)
    assert rows == len(r.results)


def test_iter_folds_matches_splitter():
    r = toy_records()
    for fold, (train, test) in zip(iter_folds(r), LeaveOneDatasetOut().split(r)):
        pd.testing.assert_frame_equal(fold.train.results, r.results.iloc[train].reset_index(drop=True))
        assert list(r.results.iloc[test]["model"]) == list(fold.truth.index)


def test_iter_folds_selection_and_errors():
    r = toy_records()
    assert [f.dataset for f in iter_folds(r, datasets=["z", "x"])] == ["x", "z"]
    assert [f.dataset for f in iter_folds(r, datasets="y")] == ["y"]
    with pytest.raises(InputError, match=r"unknown dataset\(s\) \['nope'\]"):
        list(iter_folds(r, datasets=["x", "nope"]))
    with pytest.raises(InputError, match=r"\['t'\] with no results"):
        list(iter_folds(r, datasets=["t"]))
    with pytest.raises(InputError, match="ZooRecords"):
        list(iter_folds(r.results))
