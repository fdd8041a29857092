"""ZooRecords views and transforms on a toy zoo checked by hand.

Toy: lower-is-better FID, models a, b, c (+ "z", in the zoo but never evaluated), datasets x, y, t.

    FID   a   b   c          utility (-FID)     normalised         rank (1 = best)
    x    10  20  30           -10 -20 -30       1  0.5  0           1  2  3
    y    40  10  10           -40 -10 -10       0   1   1           3  1  1    (b, c tie)
    t     5   5   -           flat              0.5 0.5 NaN         1  1  NaN

Dataset "u" has features and distances but no results: a selection target.
"""

import numpy as np
import pandas as pd
import pytest

from matchchoose import InputError, Metric, ZooRecords

FID = Metric("clip_fid", higher_is_better=False)


def toy(**kw) -> ZooRecords:
    rows = [("a", "x", 10), ("b", "x", 20), ("c", "x", 30),
            ("a", "y", 40), ("b", "y", 10), ("c", "y", 10),
            ("a", "t", 5), ("b", "t", 5)]
    results = pd.DataFrame(rows, columns=["model", "dataset", "value"])
    dist = pd.DataFrame([[0, 1, 2, np.nan], [1, 0, 3, 4], [2, 3, 0, 5], [np.nan, 4, 5, 0]],
                        index=list("txyu"), columns=list("txyu"))
    defaults = dict(
        models=list("abcz"),
        distances=dist,
        dataset_features=pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0]}, index=list("txyu")),
        model_features=pd.DataFrame({"arch": ["unet", "dit", "unet", "dit"]}, index=list("abcz")),
        prescores=pd.DataFrame({"model": ["a", "b"], "dataset": "u", "value": [50.0, 60.0]}),
        prescore_metric=Metric("zero_shot_fid", False),
    )
    defaults.update(kw)
    return ZooRecords(results, FID, **defaults)


def test_metric_orientation():
    assert FID.orient([3.0, 5.0]).tolist() == [-3.0, -5.0]
    assert FID.unorient(FID.orient([3.0, 5.0])).tolist() == [3.0, 5.0]
    acc = Metric("accuracy", True)
    assert acc.orient([0.1, 0.9]).tolist() == [0.1, 0.9]


def test_universe_and_sorting():
    r = toy()
    assert r.models == ["a", "b", "c", "z"]
    assert r.datasets == ["t", "u", "x", "y"]
    assert r.evaluated_datasets == ["t", "x", "y"]
    assert list(r.results.columns) == ["model", "dataset", "value"]
    assert r.results[["dataset", "model"]].values.tolist() == [
        ["t", "a"], ["t", "b"], ["x", "a"], ["x", "b"], ["x", "c"], ["y", "a"], ["y", "b"], ["y", "c"]]
    # Distances are reindexed over every dataset and symmetrised (t-u is NaN in both directions here).
    assert r.distances.index.tolist() == ["t", "u", "x", "y"]
    assert np.isnan(r.distances.loc["t", "u"]) and np.isnan(r.distances.loc["u", "t"])


def test_default_universe_from_every_table():
    results = pd.DataFrame({"model": ["a"], "dataset": ["x"], "value": [1.0]})
    r = ZooRecords(results, FID, model_features=pd.DataFrame({"f": [1, 2]}, index=["a", "m"]),
                   dataset_features=pd.DataFrame({"f": [1]}, index=["f"]),
                   distances=pd.DataFrame([[0.0, 2.0], [2.0, 0.0]], index=["x", "d"], columns=["x", "d"]),
                   prescores=pd.DataFrame({"model": ["p"], "dataset": ["x"], "value": [1.0]}),
                   prescore_metric=FID)
    assert r.models == ["a", "m", "p"]
    assert r.datasets == ["d", "f", "x"]


def test_distances_symmetrised_from_one_direction():
    results = pd.DataFrame({"model": ["a"], "dataset": ["x"], "value": [1.0]})
    dist = pd.DataFrame([[np.nan, 3.0], [np.nan, np.nan]], index=["x", "y"], columns=["x", "y"])
    r = ZooRecords(results, FID, distances=dist)
    assert r.distances.to_numpy().tolist() == [[0.0, 3.0], [3.0, 0.0]]


def test_score_and_utility_matrices_lower_is_better():
    r = toy()
    raw = r.score_matrix()
    assert raw.index.tolist() == ["t", "x", "y"] and raw.columns.tolist() == ["a", "b", "c", "z"]
    assert raw.loc["x", ["a", "b", "c"]].tolist() == [10.0, 20.0, 30.0] and raw["z"].isna().all()
    util = r.utility_matrix()
    assert util.loc["x", ["a", "b", "c"]].tolist() == [-10.0, -20.0, -30.0]
    assert util.loc["y", ["a", "b", "c"]].tolist() == [-40.0, -10.0, -10.0]
    assert np.isnan(util.loc["t", "c"])


def test_utility_matrix_higher_is_better_keeps_sign():
    r = ZooRecords(pd.DataFrame({"model": ["a", "b"], "dataset": "x", "value": [0.9, 0.8]}), Metric("acc", True))
    assert r.utility_matrix().loc["x"].tolist() == [0.9, 0.8]
    assert r.normalized_matrix().loc["x"].tolist() == [1.0, 0.0]


def test_normalized_matrix_incl_flat_dataset():
    norm = toy().normalized_matrix()
    assert norm.loc["x", ["a", "b", "c"]].tolist() == [1.0, 0.5, 0.0]
    assert norm.loc["y", ["a", "b", "c"]].tolist() == [0.0, 1.0, 1.0]
    # Every model of t scores the same: 0.5, and NaN stays NaN where there is no result.
    assert norm.loc["t", ["a", "b"]].tolist() == [0.5, 0.5]
    assert np.isnan(norm.loc["t", "c"]) and norm["z"].isna().all()


def test_rank_matrix_best_is_one_ties_share_lowest():
    ranks = toy().rank_matrix()
    assert ranks.loc["x", ["a", "b", "c"]].tolist() == [1.0, 2.0, 3.0]
    assert ranks.loc["y", ["a", "b", "c"]].tolist() == [3.0, 1.0, 1.0]
    assert ranks.loc["t", ["a", "b"]].tolist() == [1.0, 1.0]
    assert np.isnan(ranks.loc["t", "c"])


def test_truth_and_prescore_utility():
    r = toy()
    assert r.truth("y").to_dict() == {"a": 40.0, "b": 10.0, "c": 10.0}
    with pytest.raises(InputError, match="Dataset 'u' has no results for metric 'clip_fid'"):
        r.truth("u")
    assert r.prescore_utility("u").to_dict() == {"a": -50.0, "b": -60.0}
    assert r.prescore_utility("x") is None
    assert toy(prescores=None, prescore_metric=None).prescore_utility("u") is None


def test_without_results_keeps_everything_but_the_results():
    r = toy()
    train = r.without_results("x")
    assert "x" not in set(train.results["dataset"])
    assert len(train.results) == len(r.results) - 3
    assert train.models == r.models and train.datasets == r.datasets
    pd.testing.assert_frame_equal(train.distances, r.distances)
    pd.testing.assert_frame_equal(train.dataset_features, r.dataset_features)
    pd.testing.assert_frame_equal(train.model_features, r.model_features)
    pd.testing.assert_frame_equal(train.prescores, r.prescores)
    assert train.evaluated_datasets == ["t", "y"]
    assert r.without_results(["x", "y"]).evaluated_datasets == ["t"]
    assert len(r.results) == 8  # the original is untouched


def test_with_results_and_subset():
    r = toy()
    new = r.with_results(pd.DataFrame({"model": ["c"], "dataset": ["u"], "value": [7.0]}))
    assert new.evaluated_datasets == ["u"] and new.models == r.models
    sub = r.subset(models=["b", "a"], datasets=["y", "x"])
    assert sub.models == ["a", "b"] and sub.datasets == ["x", "y"]
    assert sub.results[["model", "dataset"]].values.tolist() == [["a", "x"], ["b", "x"], ["a", "y"], ["b", "y"]]
    assert sub.distances.to_numpy().tolist() == [[0.0, 3.0], [3.0, 0.0]]
    assert sub.prescores.empty


def test_drop_random_results_is_deterministic_and_protects():
    r = toy()
    a = r.drop_random_results(0.5, random_state=3)
    b = r.drop_random_results(0.5, random_state=3)
    pd.testing.assert_frame_equal(a.results, b.results)
    assert len(a.results) == 4  # round(0.5 * 8)
    seeds = {tuple(map(tuple, r.drop_random_results(0.5, s).results.values.tolist())) for s in range(6)}
    assert len(seeds) > 1  # the seed matters
    # Protected datasets keep every result; round(0.5 * 5) = 2 of the other five go.
    kept = r.drop_random_results(0.5, random_state=3, protect=["x"])
    assert kept.truth("x").to_dict() == {"a": 10.0, "b": 20.0, "c": 30.0}
    assert len(kept.results) == 6
    # A lone name protects that dataset, not its characters.
    two = ZooRecords(pd.DataFrame({"model": ["a", "a"], "dataset": ["d0", "d1"], "value": [1.0, 2.0]}), FID)
    for seed in range(4):
        assert two.drop_random_results(0.9, random_state=seed, protect="d0").evaluated_datasets == ["d0"]
    assert r.drop_random_results(0.0, random_state=0).results.equals(r.results)
    assert a.distances.equals(r.distances) and a.models == r.models


@pytest.mark.parametrize("fraction", [1.0, -0.1, 1.5])
def test_drop_random_results_bad_fraction(fraction):
    with pytest.raises(InputError, match=r"'fraction' parameter must be a float in \[0, 1\)"):
        toy().drop_random_results(fraction, random_state=0)


def test_duplicate_result_is_an_error():
    results = pd.DataFrame({"model": ["a", "a"], "dataset": ["x", "x"], "value": [1.0, 2.0]})
    with pytest.raises(InputError, match="several values for model 'a' on dataset 'x'"):
        ZooRecords(results, FID)


def test_nan_result_is_an_error():
    results = pd.DataFrame({"model": ["a", "b"], "dataset": ["x", "x"], "value": [1.0, np.nan]})
    with pytest.raises(InputError, match="NaN value for model 'b' on dataset 'x'"):
        ZooRecords(results, FID)


def test_missing_columns_and_unknown_names():
    with pytest.raises(InputError, match=r"lacks column\(s\) \['value'\]"):
        ZooRecords(pd.DataFrame({"model": ["a"], "dataset": ["x"]}), FID)
    results = pd.DataFrame({"model": ["a"], "dataset": ["x"], "value": [1.0]})
    with pytest.raises(InputError, match="names model 'a', which is not in 'models'"):
        ZooRecords(results, FID, models=["b"])
    with pytest.raises(InputError, match="names dataset 'x', which is not in 'datasets'"):
        ZooRecords(results, FID, datasets=["y"])
    with pytest.raises(InputError, match="needs 'prescore_metric'"):
        ZooRecords(results, FID, prescores=results)
