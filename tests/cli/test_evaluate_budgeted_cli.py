"""``mnc evaluate --budgeted``: budgeted selection replayed on a KB's learning curves, in the JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

DATASETS = ["d0", "d1", "d2", "d3", "d4"]
MODELS = ["m0", "m1", "m2", "m3"]
STEPS = [10, 20, 40]


@pytest.fixture
def curves_kb(tmp_path, mnc, monkeypatch):
    """4 models x 5 datasets, FID-like curves at 10, 20 and 40 steps, dataset features, prescores."""
    monkeypatch.setenv("MNC_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    rows = ["model,dataset,metric,value,fidelity"]
    pre = ["model,dataset,metric,value"]
    for m in MODELS:
        for d in DATASETS:
            final = 20 + 5 * rng.normal()
            for step in STEPS:
                rows.append(f"{m},{d},clip_fid,{final + 40 / step + rng.normal() * 0.1:.4f},{step}")
            pre.append(f"{m},{d},clip_fid,{final + 30 + rng.normal():.4f}")
    (tmp_path / "results.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "pre.csv").write_text("\n".join(pre) + "\n")
    features = "\n".join(f"{d},{i}" for i, d in enumerate(DATASETS))
    (tmp_path / "datasets.csv").write_text(f"dataset,f0\n{features}\n")
    kb = tmp_path / "kb.sqlite"
    for name, kind in [("results", "results"), ("pre", "prescores"), ("datasets", "datasets")]:
        code, _, err = mnc("kb", "import", tmp_path / f"{name}.csv", "--kind", kind, "--kb", kb)
        assert code == 0, err
    return kb


def test_budgeted_blocks_join_the_json(curves_kb, tmp_path, mnc):
    out = tmp_path / "eval.json"
    code, stdout, err = mnc("evaluate", "--kb", curves_kb, "--metric", "clip_fid", "--predictor", "random_forest",
                            "--baselines", "overall,blend", "--budgeted", "--budgets", "0.25,0.5", "--json", out,
                            "--plot", tmp_path / "eval.png")
    assert code == 0, err
    assert (tmp_path / "eval-budgeted.png").stat().st_size > 10_000
    result = json.loads(out.read_text())
    assert "mnc" in result["methods"]  # the usual evaluation is still there
    assert set(result["budgeted"]) == {"0.25", "0.5"}
    for block in [result["budgeted"]["0.5"], result["budgeted_baselines"]["subtune"]["0.25"],
                  result["budgeted_baselines"]["prior_topk"]["0.5"]]:
        assert block["n_datasets"] == 5 and set(block["per_dataset"]) == set(DATASETS)
        for key in ("found_best", "rel_at_1", "o2o", "compute_fraction"):
            assert block[key] is not None
    # prior_topk at 0.5 of 4 x 40 steps: the prior's top 2 models to 40 steps, on every dataset.
    assert result["budgeted_baselines"]["prior_topk"]["0.5"]["compute_fraction"] == pytest.approx(0.5)
    picks = result["budgeted"]["0.5"]["per_dataset"]
    for dataset, entry in picks.items():
        assert entry["pick"] in MODELS and entry["compute_fraction"] <= 0.5
        assert all(m in MODELS and f in STEPS for m, f, _ in entry["trace"])
    # the prior is the default selector's (blend), as in `mnc race`
    assert result["budgeted_prior"] == "blend"
    for dataset in DATASETS:
        scores = result["methods"]["blend"]["per_dataset"][dataset]["predicted_scores"]
        top = max(scores, key=scores.get)
        assert result["budgeted_references"]["prediction"]["per_dataset"][dataset]["pick"] == top
    assert "zero_shot" in result["budgeted_references"]
    assert "Budgeted selection" in stdout and "prior_topk" in stdout


def test_budgeted_prior_can_be_match_and_choose_and_must_be_evaluated(curves_kb, tmp_path, mnc):
    out = tmp_path / "eval.json"
    args = ("evaluate", "--kb", curves_kb, "--metric", "clip_fid", "--predictor", "random_forest", "--budgeted",
            "--budgets", "0.5", "--json", out)
    code, _, err = mnc(*args, "--baselines", "overall", "--budgeted-prior", "mnc")
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["budgeted_prior"] == "mnc"
    for dataset in DATASETS:
        scores = result["methods"]["mnc"]["per_dataset"][dataset]["predicted_scores"]
        assert result["budgeted_references"]["prediction"]["per_dataset"][dataset]["pick"] == max(scores,
                                                                                                  key=scores.get)
    code, stdout, err = mnc(*args, "--baselines", "overall")  # the default prior, blend, left out: refused first
    assert code == 2 and "'blend' method's predictions" in err and "--budgeted-prior" in err
    assert "Traceback" not in err and "Leave-one-dataset-out" not in stdout


def test_budgeted_needs_curves_and_sane_budgets(curves_kb, tmp_path, mnc):
    code, _, err = mnc("evaluate", "--kb", curves_kb, "--metric", "clip_fid", "--budgeted", "--budgets", "0.5,2")
    assert code == 2 and "'2' is not a fraction of the exhaustive grid" in err and "Traceback" not in err
    code, _, err = mnc("evaluate", "--kb", curves_kb, "--metric", "clip_fid", "--budgeted", "--fidelity", "10")
    assert code == 2 and "drop --fidelity" in err


def test_budgeted_on_a_kb_without_curves_fails_before_evaluating(tmp_path, mnc):
    (tmp_path / "r.csv").write_text("model,dataset,metric,value\na,x,accuracy,0.5\nb,x,accuracy,0.6\n")
    code, _, err = mnc("kb", "import", tmp_path / "r.csv", "--kind", "results", "--kb", tmp_path / "kb.sqlite")
    assert code == 0, err
    code, out, err = mnc("evaluate", "--kb", tmp_path / "kb.sqlite", "--metric", "accuracy", "--budgeted")
    assert code == 2 and "has no learning curves for 'accuracy'" in err and "Leave-one-dataset-out" not in out


def test_evaluate_reads_the_target_fidelity_unless_told(curves_kb, tmp_path, mnc):
    out = tmp_path / "eval.json"
    args = ("evaluate", "--kb", curves_kb, "--metric", "clip_fid", "--predictor", "random_forest",
            "--baselines", "oracle", "--json", out)
    code, _, err = mnc(*args)
    assert code == 0, err
    target = json.loads(out.read_text())
    code, _, err = mnc(*args, "--fidelity", "10")
    assert code == 0, err
    early = json.loads(out.read_text())
    assert target["fidelity"] is None and early["fidelity"] == 10.0
    truth = lambda r: r["methods"]["oracle"]["per_dataset"]["d0"]["predicted_scores"]  # noqa: E731
    # The oracle scores with the truth: at 10 steps every FID is 40 / 10 - 40 / 40 = 3 higher than at 40 (± noise).
    assert all(abs(-truth(early)[m] + truth(target)[m] - 3) < 1 for m in MODELS)


def test_found_best_within_the_measured_noise_by_hand():
    """d: at the target (40) a = 10, 12 (mean 11, noise 2), b = 12.5 twice (noise 0), c = 20, 30 (mean 25, noise 10);
    the early rung's spread is ignored. Lower is better: b trails the best, a, by 1.5 <= max(0, 2), a hit;
    c trails by 14 > max(10, 2), a miss. e has one row per model (no noise): only its best, x, is a hit."""
    import pandas as pd

    from matchchoose.cli._budgeted import _judge_within_noise

    rows = pd.DataFrame([("a", "d", 40, 10.0), ("a", "d", 40, 12.0), ("b", "d", 40, 12.5), ("b", "d", 40, 12.5),
                         ("c", "d", 40, 20.0), ("c", "d", 40, 30.0), ("b", "d", 10, 0.0), ("b", "d", 10, 99.0),
                         ("x", "e", 40, 5.0), ("y", "e", 40, 5.5)], columns=["model", "dataset", "fidelity", "value"])
    out = {"budgeted": {"0.5": {"per_dataset": {"d": {"pick": "b"}, "e": {"pick": "y"}}}},
           "budgeted_baselines": {"subtune": {"0.5": {"per_dataset": {"d": {"pick": "c"}, "e": {"pick": "x"}}}}},
           "budgeted_references": {"prediction": {"per_dataset": {"d": {"pick": "a"}}}}}
    _judge_within_noise(out, rows, higher_is_better=False)
    race = out["budgeted"]["0.5"]
    assert race["per_dataset"]["d"]["found_best_noise"] is True and race["per_dataset"]["e"]["found_best_noise"] is False
    assert race["found_best_noise"] == pytest.approx(0.5)
    assert out["budgeted_baselines"]["subtune"]["0.5"]["found_best_noise"] == pytest.approx(0.5)
    assert out["budgeted_references"]["prediction"]["found_best_noise"] == 1.0
    # a KB without repeated measurements gets no noise-aware share at all
    plain = {"budgeted": {"0.5": {"per_dataset": {"e": {"pick": "y"}}}}}
    _judge_within_noise(plain, rows[rows["dataset"] == "e"], higher_is_better=False)
    assert "found_best_noise" not in plain["budgeted"]["0.5"]
