"""benchmarks/microzoo_report.py on a hand-made knowledge base: the micro zoo v2 additions (learning
curves, two sampling seeds) give the numbers the synthetic scores imply, and a v1 knowledge base gets
none of them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matchchoose.kb import KnowledgeBase
from matchchoose.score import Score, record_score

METRIC = "fd_test"  # lower is better (record_score declares an unknown FD metric so)
SEEDS = (0, 1000)
FIDELITIES = (10, 20, 40)  # 40 = the target

# (model, dataset) -> prescore (mean of its two seeds), final score under seed 0 and seed 1000.
CELLS = {
    # d1: m1 wins under both seeds, by 9 (seed differences 2 and 0): not within noise
    ("m1", "d1"): (100, 50, 52), ("m2", "d1"): (110, 60, 60), ("m3", "d1"): (120, 70, 74),
    # d2: the winner flips (seed 0: m1 40 < m2 48; seed 1000: m2 44 < m1 50); means 45 vs 46,
    # margin 1 <= max(10, 4): within noise. m3 is the zero-shot best and does not improve.
    ("m1", "d2"): (90, 40, 50), ("m2", "d2"): (95, 48, 44), ("m3", "d2"): (70, 80, 80),
    # d3: m3 wins under both seeds (20, 21), margin 25 - 20.5 = 4.5 > max(1, 0)
    ("m1", "d3"): (50, 30, 30), ("m2", "d3"): (40, 25, 25), ("m3", "d3"): (60, 20, 21),
    # d4: m2 wins (40.5); m1 does not improve (56 > 50); margin 15.5 > max(1, 2)
    ("m1", "d4"): (50, 55, 57), ("m2", "d4"): (80, 40, 41), ("m3", "d4"): (90, 60, 60),
}


@pytest.fixture(scope="module")
def report_module(load_script):
    return load_script("microzoo_report")


def score(value: float) -> Score:
    return Score(metric=METRIC, kind="fd", value=float(value), std=None, n_generated=4, n_reference=4,
                 probe="pixels", preprocess="none")


def build_v2(path: Path) -> None:
    """As ``mnc grid`` with fidelities and sample_seeds records them: intermediate fidelities under the
    first seed, the target and the prescore under both (the seed in the provenance)."""
    kb = KnowledgeBase(path)
    for (model, dataset), (pre, a, b) in CELLS.items():
        where = {"model": model, "dataset": dataset}
        for seed, value in zip(SEEDS, (pre - 1, pre + 1)):
            assert record_score(kb, score(value), prescore=True, protocol={"sample_seed": seed}, **where)
        for fidelity in FIDELITIES[:-1]:
            value = pre + (a - pre) * fidelity / FIDELITIES[-1]
            assert record_score(kb, score(value), protocol={"sample_seed": SEEDS[0]}, fidelity=fidelity, **where)
        for seed, value in zip(SEEDS, (a, b)):
            assert record_score(kb, score(value), protocol={"sample_seed": seed}, fidelity=FIDELITIES[-1], **where)
    kb.close()


def run(module, kb: Path, out: Path, *extra) -> None:
    module.main(["--kb", str(kb), "--grid-out", str(out.parent / "no-runs"), "--metric", METRIC,
                 "--out", str(out), *extra])


def test_v2_summary_tables_and_figures(report_module, tmp_path):
    kb, out = tmp_path / "kb.sqlite", tmp_path / "report"
    build_v2(kb)
    run(report_module, kb, out)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["metric"] == METRIC and summary["metric_higher_is_better"] is False
    assert summary["cells"] == 12 and summary["models"] == 3 and summary["domains"] == 4
    assert summary["fidelities"] == [10.0, 20.0, 40.0] and summary["target_fidelities"] == [40.0]
    assert summary["sample_seeds"] == ["0", "1000"]
    # not improved: m3 x d2 (80 vs 70) and m1 x d4 (56 vs 50)
    assert summary["cells_with_prescore"] == 12 and summary["improved"] == 10
    assert summary["improved_share"] == pytest.approx(10 / 12)
    ratios = [51 / 100, 60 / 110, 72 / 120, 45 / 90, 46 / 95, 80 / 70, 30 / 50, 25 / 40, 20.5 / 60,
              56 / 50, 40.5 / 80, 60 / 90]
    assert summary["median_ratio"] == pytest.approx(np.median(ratios))
    assert summary["median_ratio"] == pytest.approx((60 / 110 + 0.6) / 2)
    # the winner flips on d2 only; the top two are within noise on d2 only
    assert summary["domains_compared_across_seeds"] == 4 and summary["winner_same_share"] == pytest.approx(0.75)
    assert summary["domains_with_top_two_noise"] == 4 and summary["top_two_within_noise_share"] == pytest.approx(0.25)
    noise = [2 / 51, 0, 4 / 72, 10 / 45, 4 / 46, 0, 0, 0, 1 / 20.5, 2 / 56, 1 / 40.5, 0]
    assert summary["median_noise"] == pytest.approx(np.median(noise))
    assert summary["median_prescore_noise"] == pytest.approx(np.median(
        [2 / p for p, _, _ in CELLS.values()]))
    # Kendall tau, prescore order vs final order: d1 1, d2 -1/3, d3 -1/3, d4 1/3
    tau = pd.read_csv(out / "kendall_tau.csv").set_index("domain")
    assert tau["tau"].to_dict() == pytest.approx({"d1": 1.0, "d2": -1 / 3, "d3": -1 / 3, "d4": 1 / 3})
    assert summary["median_kendall_tau"] == pytest.approx(0.0)
    assert tau["same best"].tolist() == [True, False, False, False]
    assert summary["zero_shot_best_is_final_best_share"] == pytest.approx(0.25)

    seeds = pd.read_csv(out / "seeds_per_domain.csv").set_index("domain")
    assert seeds.loc["d2", ["winner seed 0", "winner seed 1000", "winner", "runner-up"]].tolist() == \
        ["m1", "m2", "m1", "m2"]
    assert seeds["winner"].tolist() == ["m1", "m1", "m3", "m2"]
    assert seeds["same winner"].tolist() == [True, False, True, True]
    assert seeds["within noise"].tolist() == [False, True, False, False]
    assert seeds.loc["d2", "margin rel"] == pytest.approx(1 / 45)
    assert seeds.loc["d2", "top-two seed diff"] == pytest.approx(10)

    # the matrix is the seed mean by default (the best of the two would be 40 on m1 x d2)
    matrix = pd.read_csv(out / "matrix.csv", index_col="model")
    assert matrix.loc["m1", "d2"] == pytest.approx(45)
    assert matrix.loc["m3", "d3"] == pytest.approx(20.5)

    # curves: fidelity 0 is the prescore (ratio 1); the target point is the seed mean over the prescore
    curves = pd.read_csv(out / "curves.csv")
    m1d2 = curves[(curves["model"] == "m1") & (curves["dataset"] == "d2")].set_index("fidelity")
    assert m1d2["ratio"].to_dict() == pytest.approx({0.0: 1.0, 10.0: (90 - 50 / 4) / 90, 20.0: (90 - 25) / 90,
                                                     40.0: 45 / 90})
    assert m1d2["n_repeats"].tolist() == [2, 1, 1, 2]

    text = (out / "tables.md").read_text()
    assert "Learning curves and sampling seeds" in text and "within noise" in text
    for name in ("curves.png", "noise.png", "heatmap.png", "before_after.png"):
        assert (out / name).stat().st_size > 10_000, name


def test_best_of_the_seeds_on_request(report_module, tmp_path):
    kb, out = tmp_path / "kb.sqlite", tmp_path / "report"
    build_v2(kb)
    run(report_module, kb, out, "--aggregate", "best", "--exclude-datasets", "d4")
    matrix = pd.read_csv(out / "matrix.csv", index_col="model")
    assert matrix.loc["m1", "d2"] == pytest.approx(40) and "d4" not in matrix.columns
    summary = json.loads((out / "summary.json").read_text())
    # the v2 numbers stay seed means, over the three domains left
    assert summary["domains"] == 3 and summary["cells"] == 9 and summary["winner_same_share"] == pytest.approx(2 / 3)
    assert summary["excluded_datasets"] == ["d4"]
    assert "--aggregate best" in (out / "tables.md").read_text()


def test_a_v1_knowledge_base_gets_no_v2_outputs(report_module, tmp_path):
    """No fidelities; m1 repeated (two runs without a sampling seed): v1 output, best run by default."""
    kb_path, out = tmp_path / "kb.sqlite", tmp_path / "report"
    kb = KnowledgeBase(kb_path)
    for (model, dataset), (pre, a, b) in CELLS.items():
        record_score(kb, score(pre), model=model, dataset=dataset, prescore=True)
        record_score(kb, score(a), model=model, dataset=dataset, protocol={"run": "1"})
        if model == "m1":
            record_score(kb, score(b), model=model, dataset=dataset, protocol={"run": "2"})
    kb.close()
    run(report_module, kb_path, out)
    for name in ("summary.json", "curves.png", "noise.png", "curves.csv", "seed_cells.csv", "kendall_tau.csv"):
        assert not (out / name).exists(), name
    text = (out / "tables.md").read_text()
    assert (out / "heatmap.png").exists() and "micro zoo v2" not in text and "--aggregate" not in text
    matrix = pd.read_csv(out / "matrix.csv", index_col="model")
    assert matrix.loc["m1", "d2"] == pytest.approx(40) and matrix.loc["m1", "d4"] == pytest.approx(55)


def test_a_learning_curve_run_is_not_counted_as_resumed(report_module, tmp_path):
    """A staged run resumes from its previous stage by design; only a second attempt (or a resume from a step
    that is no stage) means the timings cover part of the work."""
    cells = {("m1", "d1"): 80, ("m2", "d1"): 60, ("m3", "d1"): None}
    for (model, dataset), resumed_from in cells.items():
        run = tmp_path / model / dataset
        run.mkdir(parents=True)
        (run / "cell.json").write_text(json.dumps({
            "timings": {"finetune": 10.0}, "finetune": {"steps": 160, "resumed_from": resumed_from,
                                                        "stages": [40, 80, 160]}}))
    no_cells = pd.DataFrame(columns=["model", "dataset", "recipe", "state", "attempts", "run_dir", "result"])
    frame, _ = report_module.read_timings(tmp_path, ["m1", "m2", "m3"], ["d1"], no_cells)
    assert frame.set_index("model")["resumed"].to_dict() == {"m1": False, "m2": True, "m3": False}
    second = pd.DataFrame([{"model": "m1", "dataset": "d1", "recipe": "r", "state": "done", "attempts": 2,
                            "run_dir": str(tmp_path / "m1" / "d1"), "result": {}}])
    frame, _ = report_module.read_timings(tmp_path, ["m1"], ["d1"], second)
    assert frame["resumed"].tolist() == [True]
