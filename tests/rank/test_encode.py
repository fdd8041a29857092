"""encode_features: node feature tables as float columns, checked by hand."""

import numpy as np
import pandas as pd
import pytest

from matchchoose.rank import encode_features


def test_one_hot_missing_indicator_and_median():
    f = pd.DataFrame({"arch": ["unet", "dit", None, "unet"], "size": [1.0, np.nan, 3.0, 10.0]}, index=list("abcd"))
    out = encode_features(f, "m.")
    assert out.columns.tolist() == ["m.arch=dit", "m.arch=unet", "m.size", "m.size__missing"]
    assert out.index.tolist() == list("abcd")
    assert (out.dtypes == float).all()
    assert out["m.arch=dit"].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert out["m.arch=unet"].tolist() == [1.0, 0.0, 0.0, 1.0]  # missing category: all zeros
    assert out["m.size"].tolist() == [1.0, 3.0, 3.0, 10.0]  # NaN -> median of 1, 3, 10
    assert out["m.size__missing"].tolist() == [0.0, 1.0, 0.0, 0.0]


def test_no_indicator_without_missing_values():
    out = encode_features(pd.DataFrame({"n": [2, 1]}, index=["a", "b"]), "d.")
    assert out.columns.tolist() == ["d.n"] and out["d.n"].tolist() == [2.0, 1.0]


def test_constant_columns_dropped():
    f = pd.DataFrame({"same": [7, 7, 7], "label": ["x", "x", "x"], "keep": [1, 2, 3]}, index=list("abc"))
    assert encode_features(f, "").columns.tolist() == ["keep"]
    # A constant column with gaps still says which rows are missing.
    gaps = encode_features(pd.DataFrame({"c": ["x", None, "x"]}, index=list("abc")), "")
    assert gaps.columns.tolist() == ["c=x"] and gaps["c=x"].tolist() == [1.0, 0.0, 1.0]


def test_numbers_as_text_are_numeric_and_mixed_text_is_categorical():
    f = pd.DataFrame({"n": ["1", "2", None], "mix": ["1", "two", "3"]}, index=list("abc"))
    out = encode_features(f, "")
    assert out.columns.tolist() == ["mix=1", "mix=3", "mix=two", "n", "n__missing"]
    assert out["n"].tolist() == [1.0, 2.0, 1.5]


def test_max_levels_groups_the_rest_as_other():
    f = pd.DataFrame({"c": ["a", "a", "a", "b", "b", "c", "d", None]}, index=range(8))
    out = encode_features(f, "x.", max_levels=2)
    assert out.columns.tolist() == ["x.c=__other__", "x.c=a", "x.c=b"]
    assert out["x.c=a"].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    assert out["x.c=b"].tolist() == [0, 0, 0, 1, 1, 0, 0, 0]
    assert out["x.c=__other__"].tolist() == [0, 0, 0, 0, 0, 1, 1, 0]  # missing is not "other"
    # Enough levels: no __other__ column.
    assert "x.c=__other__" not in encode_features(f, "x.", max_levels=4).columns


def test_empty_and_all_missing():
    empty = encode_features(pd.DataFrame(index=["a", "b"]), "m.")
    assert empty.shape == (2, 0) and empty.index.tolist() == ["a", "b"]
    nothing = encode_features(pd.DataFrame({"f": [np.nan, np.nan]}, index=["a", "b"]), "m.")
    assert nothing.shape == (2, 0)


@pytest.mark.parametrize("prefix", ["model.", "dataset."])
def test_prefix_and_sorted_columns(prefix):
    f = pd.DataFrame({"z": [1.0, 2.0], "a": ["p", "q"]}, index=["r", "s"])
    assert encode_features(f, prefix).columns.tolist() == [f"{prefix}a=p", f"{prefix}a=q", f"{prefix}z"]
