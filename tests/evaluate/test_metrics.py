"""Selection metrics on hand-checkable toys, and the random expectation against brute force."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from matchchoose import InputError, Metric, ZooRecords
from matchchoose.evaluate._metrics import (
    METRICS,
    expected_random_metrics,
    overall_best_model,
    pick_model,
    rel_at_k,
    selection_metrics,
    summarize,
)

FID = pd.Series({"a": 10.0, "b": 20.0, "c": 40.0})  # lower is better: a > b > c
ACC = pd.Series({"a": 0.9, "b": 0.8, "c": 0.6})  # higher is better: a > b > c


def scores(**kw):
    return pd.Series(kw, dtype=float)


# ----------------------------------------------------------------------------- orientation
def test_tau_w_fid_true_order_is_plus_one_and_reverse_minus_one():
    fid = pd.Series({"a": 10.0, "b": 20.0, "c": 30.0, "d": 40.0})
    true_order = scores(a=4, b=3, c=2, d=1)  # predicted higher = better, a best like the truth
    assert selection_metrics(fid, true_order, higher_is_better=False)["tau_w"] == pytest.approx(1.0)
    assert selection_metrics(fid, -true_order, higher_is_better=False)["tau_w"] == pytest.approx(-1.0)


def test_tau_w_accuracy_true_order_is_plus_one_and_reverse_minus_one():
    acc = pd.Series({"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6})
    assert selection_metrics(acc, scores(a=4, b=3, c=2, d=1), True)["tau_w"] == pytest.approx(1.0)
    assert selection_metrics(acc, scores(a=1, b=2, c=3, d=4), True)["tau_w"] == pytest.approx(-1.0)


def test_tau_w_hand_value():
    # Additive hyperbolic weights 1/(r+1): ranking by u gives -6/11, ranking by p gives -2/11; mean -4/11.
    acc = pd.Series({"a": 3.0, "b": 2.0, "c": 1.0})
    assert selection_metrics(acc, scores(a=1, b=3, c=2), True)["tau_w"] == pytest.approx(-4 / 11)


# ----------------------------------------------------------------------------- pick-based metrics
def test_fid_pick_second_best():
    m = selection_metrics(FID, scores(a=1, b=3, c=2), False, reference_model="c")
    assert m["osr"] == 0.0
    assert m["o2o"] == 10.0  # FID(pick=b) - FID(best=a)
    assert m["o2b"] == -20.0  # FID(b) - FID(c) < 0: the pick beats the reference
    assert m["rel_at_1"] == 0.5  # min FID / FID(b) = 10/20
    assert m["rel_at_3"] == 1.0
    assert m["spearman"] == pytest.approx(-0.5)
    assert m["pearson"] == pytest.approx(-10 / math.sqrt(1400 / 3 * 2))


def test_fid_o2b_positive_when_reference_is_better():
    m = selection_metrics(FID, scores(a=1, b=3, c=2), False, reference_model="a")
    assert m["o2b"] == 10.0  # FID(b) - FID(a)


def test_accuracy_signs():
    m = selection_metrics(ACC, scores(a=1, b=3, c=2), True, reference_model="c")
    assert m["osr"] == 0.0
    assert m["o2o"] == pytest.approx(0.1)  # acc(best) - acc(pick)
    assert m["o2b"] == pytest.approx(-0.2)  # acc(ref) - acc(pick) < 0: the pick beats the reference
    assert m["rel_at_1"] == pytest.approx(0.8 / 0.9)
    perfect = selection_metrics(ACC, scores(a=3, b=2, c=1), True, reference_model="c")
    assert (perfect["osr"], perfect["o2o"], perfect["rel_at_1"]) == (1.0, 0.0, 1.0)
    assert perfect["o2b"] == pytest.approx(-0.3)


def test_rel_at_k_lower_is_better():
    fid = pd.Series({"a": 10.0, "b": 20.0, "c": 40.0, "d": 80.0})
    pred = scores(a=0, b=1, c=3, d=2)  # order c, d, b, a
    assert rel_at_k(fid, pred, False, 1) == 0.25
    assert rel_at_k(fid, pred, False, 2) == 0.25
    assert rel_at_k(fid, pred, False, 3) == 0.5
    assert rel_at_k(fid, pred, False, 10) == 1.0


def test_rel_at_k_needs_positive_values():
    with pytest.raises(InputError, match="positive"):
        rel_at_k(pd.Series({"a": 0.0, "b": 1.0}), scores(a=1, b=0), False, 1)
    with pytest.raises(InputError, match="ks=()"):
        selection_metrics(pd.Series({"a": -1.0, "b": 1.0}), scores(a=1, b=0), True)
    m = selection_metrics(pd.Series({"a": -1.0, "b": 1.0}), scores(a=1, b=0), True, ks=())
    assert "rel_at_1" not in m and m["o2o"] == 2.0


def test_truth_ties_count_as_success():
    acc = pd.Series({"a": 0.9, "b": 0.9, "c": 0.5})
    m = selection_metrics(acc, scores(a=0, b=1, c=0), True)
    assert m["osr"] == 1.0 and m["o2o"] == 0.0


def test_prediction_ties_broken_by_model_name():
    assert pick_model(scores(b=1, a=1, c=0)) == "a"
    acc = pd.Series({"a": 0.5, "b": 0.9})
    assert selection_metrics(acc, scores(a=1, b=1), True)["osr"] == 0.0  # picks "a"
    assert rel_at_k(acc, scores(a=1, b=1), True, 1) == pytest.approx(0.5 / 0.9)


def test_constant_inputs_give_nan_correlations():
    m = selection_metrics(ACC, scores(a=1, b=1, c=1), True)
    assert math.isnan(m["tau_w"]) and math.isnan(m["pearson"]) and math.isnan(m["spearman"])
    assert m["osr"] == 1.0  # the pick ("a") is still scored


def test_keys_and_no_reference():
    m = selection_metrics(FID, scores(a=1, b=2, c=3), False)
    assert list(m) == list(METRICS)
    assert math.isnan(m["o2b"])


def test_alignment_errors_name_the_model():
    with pytest.raises(InputError, match=r"\['c'\]"):
        selection_metrics(FID, scores(a=1, b=2), False)
    with pytest.raises(InputError, match=r"\['b'\]"):
        selection_metrics(FID, scores(a=1, b=np.nan, c=2), False)
    with pytest.raises(InputError, match="'zz'"):
        selection_metrics(FID, scores(a=1, b=2, c=3), False, reference_model="zz")
    # Extra predicted models (not evaluated on the dataset) are ignored.
    assert selection_metrics(FID, scores(a=1, b=2, c=3, z=9), False)["osr"] == 0.0
    with pytest.raises(InputError, match="higher_is_better"):
        selection_metrics(FID, scores(a=1, b=2, c=3), "no")


# ----------------------------------------------------------------------------- random baseline
def test_expected_random_hand_values():
    fid = pd.Series({"a": 10.0, "b": 20.0, "c": 40.0, "d": 80.0})
    m = expected_random_metrics(fid, False, reference_model="b")
    assert m["osr"] == 0.25
    assert m["o2o"] == pytest.approx(37.5 - 10.0)  # mean FID - best FID
    assert m["o2b"] == pytest.approx(37.5 - 20.0)  # mean FID - FID(ref)
    assert m["rel_at_1"] == pytest.approx((1 + 0.5 + 0.25 + 0.125) / 4)
    assert m["rel_at_3"] == pytest.approx((3 * 1.0 + 0.5) / 4)  # 3 of the 4 triples contain "a"
    assert (m["tau_w"], m["pearson"], m["spearman"]) == (0.0, 0.0, 0.0)
    assert list(m) == list(METRICS)


@pytest.mark.parametrize(
    "values, hib",
    [
        ([10.0, 20.0, 40.0, 80.0, 15.0], False),
        ([10.0, 10.0, 40.0, 80.0, 15.0], False),  # tie at best
        ([0.9, 0.9, 0.9, 0.2], True),
        ([0.5, 0.7, 0.7, 0.1, 0.3], True),
        ([3.0, 1.0], True),
    ],
)
def test_expected_random_matches_enumeration(values, hib):
    truth = pd.Series(values, index=[f"m{i}" for i in range(len(values))])
    ref = "m1"
    runs = [
        selection_metrics(truth, pd.Series(perm, index=truth.index, dtype=float), hib, ref)
        for perm in itertools.permutations(range(len(values)))
    ]
    brute = pd.DataFrame(runs).mean()
    exact = expected_random_metrics(truth, hib, ref)
    for name in ["osr", "o2o", "o2b", "rel_at_1", "rel_at_3", "pearson", "spearman"]:
        assert exact[name] == pytest.approx(brute[name], abs=1e-12), name
    if truth.nunique() == len(truth):  # tau_w is exactly 0 in expectation only without ties
        assert brute["tau_w"] == pytest.approx(0.0, abs=1e-12)


def test_expected_random_rel_at_k_matches_simulation_n8():
    rng = np.random.default_rng(0)
    fid = pd.Series(rng.uniform(5, 50, size=8), index=list("abcdefgh"))
    exact = expected_random_metrics(fid, False, ks=(3,))["rel_at_3"]
    rel = fid.min() / fid
    brute = np.mean([rel[list(c)].max() for c in itertools.combinations(fid.index, 3)])
    assert exact == pytest.approx(brute, abs=1e-12)


def test_expected_random_constant_truth():
    m = expected_random_metrics(pd.Series({"a": 1.0, "b": 1.0}), True)
    assert m["osr"] == 1.0 and m["o2o"] == 0.0 and math.isnan(m["tau_w"])


# ----------------------------------------------------------------------------- reference and summary
def _records(rows, hib=False):
    res = pd.DataFrame(rows, columns=["model", "dataset", "value"])
    return ZooRecords(res, Metric("fid", hib))


def test_overall_best_model():
    r = _records(
        [("a", "x", 10), ("b", "x", 12), ("c", "x", 1), ("a", "y", 30), ("b", "y", 20)]  # c lacks y
    )
    assert overall_best_model(r) == "b"  # mean FID a=20, b=16; c is not evaluated everywhere
    assert overall_best_model(r, datasets=["x"]) == "c"
    tie = _records([("b", "x", 1), ("a", "x", 2), ("b", "y", 2), ("a", "y", 1)])
    assert overall_best_model(tie) == "a"
    with pytest.raises(InputError, match="'z'"):
        overall_best_model(r, datasets=["z"])
    with pytest.raises(InputError, match="every evaluated dataset"):
        overall_best_model(_records([("a", "x", 1), ("b", "y", 1)]))


def test_summarize_is_nan_aware():
    per = {
        "x": {"osr": 1.0, "tau_w": 0.5, "pearson": math.nan},
        "y": {"osr": 0.0, "tau_w": -0.1, "pearson": 0.4},
        "z": {"osr": 0.0, "tau_w": 0.2, "pearson": math.nan},
    }
    s = summarize(per)
    assert s["osr"] == pytest.approx(1 / 3)
    assert s["tau_w"] == pytest.approx(0.2)
    assert s["pearson"] == pytest.approx(0.4)
    assert (s["n_datasets"], s["n_nan_osr"], s["n_nan_pearson"]) == (3, 0, 2)


def test_summarize_all_nan_and_errors():
    s = summarize({"x": {"tau_w": math.nan}})
    assert math.isnan(s["tau_w"]) and s["n_nan_tau_w"] == 1
    with pytest.raises(InputError, match="'x'"):
        summarize({"x": {"osr": "high"}})
    assert summarize({}) == {"n_datasets": 0}
