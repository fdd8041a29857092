"""Planted structure the default selector must recover: a test that a selector learning nothing would fail.

World (hand-built, no noise): 4 models a, b, c, d; 9 datasets in two clusters. In cluster X (x0..x5) the order is
a > b > c > d; in cluster Y (y0..y2) it is reversed, d > c > b > a. Distances are 1 within a cluster, 10 across.
Overall (mean normalised score: a 6/9, d 3/9) says a for every dataset, which is wrong for Y.

Hand-derived expectation: holding out a Y dataset, its nearest datasets are the two other Y datasets (distance 1;
X ones at 10 get weight exp(-10 / h) ~ 0 for k <= 3, and at most 1/e relative for k = 5), whose residuals from
the prior are +(1 - p_d) for d and -p_a for a; with the neighbour weight the inner folds choose (they see the
same reversal on every Y dataset, so any a > 0 helps there and none hurts on X), d ranks first and the order is
exactly d, c, b, a. Holding out an X dataset, prior and neighbours agree: a, b, c, d.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matchchoose import Metric, ZooRecords
from matchchoose.choose import DEFAULT_SELECTOR
from matchchoose.evaluate import make_selector, run_evaluation
from matchchoose.evaluate._runner import MethodSpec

MODELS = ["a", "b", "c", "d"]
X = [f"x{i}" for i in range(6)]
Y = [f"y{i}" for i in range(3)]


def planted(prescores: bool = False) -> ZooRecords:
    rows = []
    for d in X + Y:
        order = MODELS if d in X else MODELS[::-1]
        for rank, m in enumerate(order):
            rows.append({"model": m, "dataset": d, "value": 0.9 - 0.1 * rank})
    names = X + Y
    dist = pd.DataFrame([[0.0 if p == q else (1.0 if (p in X) == (q in X) else 10.0) for q in names] for p in names],
                        index=names, columns=names)
    if prescores:  # zero-shot scores that rank every dataset's models as fine-tuning does
        return ZooRecords(pd.DataFrame(rows), Metric("acc", True), prescores=pd.DataFrame(rows),
                          prescore_metric=Metric("zero_shot", True))
    return ZooRecords(pd.DataFrame(rows), Metric("acc", True), distances=dist)


def default():
    return make_selector(DEFAULT_SELECTOR)


@pytest.mark.parametrize("target", Y)
def test_default_recovers_the_cluster_where_the_prior_is_wrong(target):
    records = planted()
    scores = default().fit(records.without_results(target)).predict(target)
    assert scores.sort_values(ascending=False).index.tolist() == ["d", "c", "b", "a"]
    # Overall, a selector that learns nothing about the target, gets this cluster exactly wrong.
    overall = make_selector("overall").fit(records.without_results(target)).predict(target)
    assert overall.idxmax() == "a"


@pytest.mark.parametrize("target", ["x0", "x5"])
def test_default_keeps_the_prior_where_it_is_right(target):
    scores = default().fit(planted().without_results(target)).predict(target)
    assert scores.sort_values(ascending=False).index.tolist() == ["a", "b", "c", "d"]


def test_leave_one_dataset_out_is_perfect_on_the_planted_world():
    result = run_evaluation(planted(), [MethodSpec("default", DEFAULT_SELECTOR), MethodSpec("overall", "overall")])
    assert result["methods"]["default"]["osr"] == 1.0
    assert result["methods"]["default"]["tau_w"] == pytest.approx(1.0)
    # Overall misses all three Y datasets: OSR 6/9.
    assert result["methods"]["overall"]["osr"] == pytest.approx(6 / 9)


def test_prescores_are_used_when_they_predict_and_no_distance_helps():
    """No distances; prescores equal the truth on every dataset. The inner folds see prescores that rank Y
    datasets right where the prior is wrong, so the prescore weight b > 0 is chosen, and the Y target's pick is
    its best prescore, d."""
    records = planted(prescores=True)
    sel = default().fit(records.without_results("y1"))
    assert sel.params_["b"] > 0
    assert sel.predict("y1").idxmax() == "d"


def test_certainty_follows_the_evidence():
    """On the planted world every inner fold is predicted exactly, so the pick is the best in every outcome and
    the shortlist is one model; on pure noise the pick is far from sure and the shortlist is longer."""
    sure = default().fit(planted().without_results("y0")).explain("y0")
    assert sure["p_best"]["d"] == 1.0 and sure["shortlist"] == ["d"]
    rng = np.random.default_rng(0)
    noise = pd.DataFrame([{"model": m, "dataset": f"n{j}", "value": rng.random()} for j in range(10)
                          for m in MODELS])
    records = ZooRecords(noise, Metric("acc", True))
    unsure = default().fit(records.without_results("n0")).explain("n0")
    assert unsure["p_best"].max() < 0.9 and len(unsure["shortlist"]) >= 2
    assert unsure["p_best"].sum() == pytest.approx(1.0)


def average():
    return make_selector("blend", rule="average")


@pytest.mark.parametrize("target,order", [("y1", ["d", "c", "b", "a"]), ("x2", ["a", "b", "c", "d"])])
def test_average_rule_recovers_the_planted_world(target, order):
    """Every candidate within one standard error of the best predicts the planted order (the best inner tau is
    1.0 with no spread, so the band is the candidates with tau 1.0): their average does too."""
    sel = average().fit(planted().without_results(target))
    assert sel.predict(target).sort_values(ascending=False).index.tolist() == order
    assert sel.params_["members"] == len(sel.members_) >= 1
    assert sel.params_["inner_tau_w"] == pytest.approx(1.0)


def test_average_rule_explains_in_z_units():
    """The parts add up to the score, the score is standardised over the models, and the planted pick is sure."""
    sel = average().fit(planted().without_results("y0"))
    out = sel.explain("y0")
    assert np.allclose(out["parts"].sum(axis=1).to_numpy(), out["scores"].to_numpy())
    assert out["scores"].mean() == pytest.approx(0.0, abs=1e-12)
    assert out["scores"].std(ddof=0) == pytest.approx(1.0)
    assert out["p_best"]["d"] == 1.0 and out["shortlist"] == ["d"]
    # Neighbour weights averaged over the members, largest first: the two other Y datasets lead.
    assert list(out["neighbours"])[:2] == ["y1", "y2"] and sum(out["neighbours"].values()) == pytest.approx(1.0)


def test_average_rule_is_the_standardised_mean_of_its_members():
    """Hand-made components: member 1 ranks a > b > c (prior only), member 2 ranks c > b > a (prior plus a
    neighbour residual of weight 1). Their z-scores are (1.2247, 0, -1.2247) and its negation; an unequal
    spacing in member 2 (prior 0, 0.1, 0.4 plus residual 0, 0, 0.5, i.e. 0, 0.1, 0.9) gives z2 = (-0.9258,
    -0.4629, 1.3887). The mean of z1 and z2, standardised again, is the score; the parts add up to it."""
    from matchchoose.evaluate._blend import BlendSelector

    comp = {"mean": np.array([0.9, 0.5, 0.1]), "rank": np.array([0.0, 0.1, 0.4]),
            ("rank", "raw", 2): np.array([0.0, 0.0, 0.5])}
    members = [{"aggregation": "mean", "distance": None, "k": None, "a": 0.0, "b": 0.0},
               {"aggregation": "rank", "distance": "raw", "k": 2, "a": 1.0, "b": 0.0}]
    prior, shift, pre = BlendSelector._average_parts(comp, None, members)
    z1 = np.array([1.0, 0.0, -1.0]) * np.sqrt(1.5)
    z2 = (np.array([0.0, 0.1, 0.9]) - 1 / 3) / np.std([0.0, 0.1, 0.9])
    mean = (z1 + z2) / 2
    expected = (mean - mean.mean()) / mean.std()
    assert np.allclose(prior + shift + pre, expected)
    assert np.allclose(shift, 0.5 * np.array([0.0, 0.0, 0.5]) / np.std([0.0, 0.1, 0.9]) / mean.std())
    assert not pre.any()
    # A constant member ranks nothing and leaves the average of the others unchanged.
    flat = {"aggregation": "top", "distance": None, "k": None, "a": 0.0, "b": 0.0}
    comp["top"] = np.full(3, 0.3)
    with_flat = BlendSelector._average_parts(comp, None, [*members, flat])
    assert np.allclose(sum(with_flat), expected)
