"""Offline simulation of budgeted selection on a knowledge base's recorded curves."""

from __future__ import annotations

import pandas as pd
import pytest

from matchchoose._errors import InputError
from matchchoose.budget import RecordedRuns, simulate_budgeted
from matchchoose.kb import KnowledgeBase, import_frame

# FID-like (lower is better) curves at steps 1, 2, 4 of three models on three datasets.
CURVES = {
    "x": {"a": [30, 20, 10], "b": [25, 22, 12], "c": [40, 30, 20]},  # best: a; rung 1 says b
    "y": {"a": [30, 25, 15], "b": [20, 15, 11], "c": [35, 30, 25]},  # best: b; rung 1 says b
    "z": {"a": [28, 24, 14], "b": [26, 20, 16], "c": [22, 18, 13]},  # best: c; rung 1 says c
}
PRIORS = {"x": {"a": 0.0, "b": 1.0, "c": 2.0}, "y": {"a": 2.0, "b": 1.0, "c": 0.0}, "z": {"a": 2.0, "b": 0.0, "c": 1.0}}


@pytest.fixture
def kb():
    kb = KnowledgeBase(":memory:")
    rows = [(m, d, "clip_fid", v, f, seed) for d, curves in CURVES.items() for m, vs in curves.items()
            for f, v in zip([1, 2, 4], vs) for seed in (0, 1)]
    frame = pd.DataFrame(rows, columns=["model", "dataset", "metric", "value", "fidelity", "seed"])
    frame = frame.astype({"value": float})
    frame.loc[frame["seed"] == 1, "value"] += 0.5  # a second sampling seed: repeats, averaged
    import_frame(kb, frame, "results")
    return kb


def test_recorded_runs_read_the_curve_and_name_what_is_missing(kb):
    curves = kb.curves("clip_fid")
    assert curves["n_repeats"].eq(2).all()
    run = RecordedRuns(curves[curves["dataset"] == "x"], "x")
    assert run("a", 4) == 10.25 and run.calls == 1
    with pytest.raises(InputError, match="No recorded score of model 'a' on dataset 'x' at fidelity 3"):
        run("a", 3)


def test_simulation_layout_and_known_answers(kb):
    priors = {d: pd.Series(p) for d, p in PRIORS.items()}
    out = simulate_budgeted(kb.curves("clip_fid"), priors=priors, higher_is_better=False, budgets=[0.5, 0.25])
    assert set(out) == {"budgeted", "budgeted_baselines", "budgeted_references", "budgeted_skipped"}
    assert set(out["budgeted"]) == {"0.25", "0.5"} and set(out["budgeted_baselines"]) == {"subtune", "prior_topk"}
    block = out["budgeted"]["0.5"]
    assert set(block) == {"found_best", "rel_at_1", "o2o", "compute_fraction", "n_datasets", "per_dataset"}
    assert set(block["per_dataset"]["x"]) == {"pick", "found_best", "rel_at_1", "o2o", "compute_fraction", "trace"}
    # Budget 0.5 = 6 steps of 12. prior_topk: k = 1, the prior's top model to step 4.
    topk = out["budgeted_baselines"]["prior_topk"]["0.5"]
    assert {d: v["pick"] for d, v in topk["per_dataset"].items()} == {"x": "c", "y": "a", "z": "a"}
    assert topk["found_best"] == 0.0 and topk["compute_fraction"] == pytest.approx(4 / 12)
    assert topk["o2o"] == pytest.approx(((20 - 10) + (15 - 11) + (14 - 13)) / 3)
    assert topk["rel_at_1"] == pytest.approx((10.25 / 20.25 + 11.25 / 15.25 + 13.25 / 14.25) / 3)
    # subtune: all three at step 1 (3) + the best there on to 4 (3) = 6.
    sub = out["budgeted_baselines"]["subtune"]["0.5"]
    assert {d: v["pick"] for d, v in sub["per_dataset"].items()} == {"x": "b", "y": "b", "z": "c"}
    assert sub["found_best"] == pytest.approx(2 / 3) and sub["compute_fraction"] == pytest.approx(0.5)
    assert sub["per_dataset"]["x"]["trace"] == [["a", 1.0, 30.25], ["b", 1.0, 25.25], ["c", 1.0, 40.25],
                                                ["b", 4.0, 12.25]]
    # Budget 0.25 = 3 steps: subtune screens all at step 1 and stops there; prior_topk runs nothing.
    assert out["budgeted_baselines"]["subtune"]["0.25"]["compute_fraction"] == pytest.approx(0.25)
    assert out["budgeted_baselines"]["prior_topk"]["0.25"]["compute_fraction"] == 0.0
    for budget, block in out["budgeted"].items():
        assert all(v["compute_fraction"] <= float(budget) + 1e-12 for v in block["per_dataset"].values())
    refs = out["budgeted_references"]
    assert set(refs) == {"prediction"} and refs["prediction"]["found_best"] == 0.0


def test_datasets_without_complete_curves_are_skipped(kb):
    import_frame(kb, pd.DataFrame({"model": ["a", "b", "c"], "dataset": "w", "metric": "clip_fid",
                                   "value": [1.0, 2.0, 3.0], "fidelity": [4, 4, 2]}), "results")
    priors = {d: pd.Series(PRIORS["x"]) for d in ("x", "w")}
    out = simulate_budgeted(kb.curves("clip_fid"), priors=priors, higher_is_better=False, budgets=[0.5])
    assert out["budgeted_skipped"] == ["w"] and out["budgeted"]["0.5"]["n_datasets"] == 1
    with pytest.raises(InputError, match=r"fractions of the exhaustive grid in \(0, 1\]"):
        simulate_budgeted(kb.curves("clip_fid"), priors=priors, higher_is_better=False, budgets=[2])
