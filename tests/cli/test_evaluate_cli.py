"""``mnc evaluate``: the JSON contract relied on from outside, the table, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

DATASETS = ["d0", "d1", "d2", "d3", "d4"]
MODELS = ["m0", "m1", "m2", "m3", "m4", "m5"]


@pytest.fixture
def toy_kb(tmp_path, mnc, monkeypatch):
    """A 6-model × 5-dataset FID-like KB (lower is better) with features, distances and prescores."""
    monkeypatch.setenv("MNC_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    lat_m, lat_d = rng.normal(size=(6, 2)), rng.normal(size=(5, 2))
    rows = ["model,dataset,metric,value,seed"]
    for i, m in enumerate(MODELS):
        for j, d in enumerate(DATASETS):
            fid = 20 - 3 * lat_m[i] @ lat_d[j] + rng.normal()
            rows.append(f"{m},{d},clip_fid,{fid:.4f},0")
    (tmp_path / "results.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "models.csv").write_text(
        "model,arch,size\n" + "\n".join(f"{m},{'unet' if i % 2 else 'dit'},{lat_m[i, 0]:.3f}"
                                        for i, m in enumerate(MODELS)) + "\n")
    (tmp_path / "datasets.csv").write_text(
        "dataset,f0,f1\n" + "\n".join(f"{d},{lat_d[j, 0]:.3f},{lat_d[j, 1]:.3f}" for j, d in enumerate(DATASETS)) + "\n")
    dist = ["dataset_a,dataset_b,metric,value"]
    for a in range(5):
        for b in range(a + 1, 5):
            dist.append(f"d{a},d{b},fd_clip,{np.linalg.norm(lat_d[a] - lat_d[b]):.4f}")
    (tmp_path / "distances.csv").write_text("\n".join(dist) + "\n")
    (tmp_path / "pre.csv").write_text(
        "model,dataset,metric,value\n" + "\n".join(f"{m},{d},zero_shot_fid,{30 + i + j}" for i, m in enumerate(MODELS)
                                                   for j, d in enumerate(DATASETS)) + "\n")
    kb = tmp_path / "kb.sqlite"
    for name, kind in [("results", "results"), ("models", "models"), ("datasets", "datasets"),
                       ("distances", "distances"), ("pre", "prescores")]:
        extra = ["--lower-is-better"] if name == "pre" else []
        code, _, err = mnc("kb", "import", tmp_path / f"{name}.csv", "--kind", kind, "--kb", kb, *extra)
        assert code == 0, err
    return kb


FAST = ["--predictor", "random_forest"]


def test_evaluate_writes_the_json_contract(toy_kb, tmp_path, mnc):
    out = tmp_path / "eval.json"
    code, stdout, err = mnc("evaluate", "--kb", toy_kb, "--metric", "clip_fid", "--json", out, *FAST)
    assert code == 0, err
    result = json.loads(out.read_text())
    methods = result["methods"]
    assert {"mnc", "random", "initial", "overall", "direct", "nearest", "oracle"} <= set(methods)
    for name, entry in methods.items():
        for key in ("osr", "tau_w", "o2b", "o2o", "rel_at_1", "rel_at_3"):
            assert key in entry, (name, key)
        assert set(entry["per_dataset"]) == set(DATASETS)
        for per in entry["per_dataset"].values():
            assert set(per["predicted_scores"]) == set(MODELS)
            assert "tau_w" in per and "osr" in per
    # Higher predicted score = better: the oracle's top score is the lowest FID.
    assert methods["oracle"]["osr"] == 1.0 and methods["oracle"]["tau_w"] == pytest.approx(1.0)
    assert "weighted τ" in stdout and "oracle" in stdout


def test_evaluate_restricts_datasets_and_runs_seeds(toy_kb, tmp_path, mnc):
    out = tmp_path / "eval.json"
    code, _, err = mnc("evaluate", "--kb", toy_kb, "--metric", "clip_fid", "--datasets", "d1,d3",
                       "--seeds", "2", "--baselines", "overall", "--json", out, *FAST)
    assert code == 0, err
    result = json.loads(out.read_text())
    assert set(result["methods"]) == {"mnc", "overall"}
    assert set(result["methods"]["mnc"]["per_dataset"]) == {"d1", "d3"}
    assert result["seeds"] == [0, 1]
    assert result["methods"]["mnc"]["tau_w_std"] is not None


def test_evaluate_ablation_predictors_and_sparsity(toy_kb, tmp_path, mnc):
    out, png, csv = tmp_path / "e.json", tmp_path / "e.png", tmp_path / "e.csv"
    code, _, err = mnc("evaluate", "--kb", toy_kb, "--metric", "clip_fid", "--ablation",
                       "--predictors", "rf_regressor", "--sparsity", "0,0.3", "--baselines", "overall",
                       "--json", out, "--plot", png, "--csv", csv, *FAST)
    assert code == 0, err
    result = json.loads(out.read_text())
    assert {"mnc", "mnc[features]", "mnc[graph]", "mnc[rf_regressor]", "overall"} == set(result["methods"])
    assert set(result["sparsity_sweep"]) == {"0", "0.3"}
    assert png.stat().st_size > 1000 and csv.read_text().startswith("method,")


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--metric", "nope"], "nope"),
        (["--metric", "clip_fid", "--datasets", "zz"], "zz"),
        (["--metric", "clip_fid", "--predictor", "magic"], "magic"),
        (["--metric", "clip_fid", "--sparsity", "1.5"], "sparsity"),
        (["--metric", "clip_fid", "--graph-learner", "sage"], "sage"),
    ],
)
def test_evaluate_bad_input_is_one_line(toy_kb, mnc, args, needle):
    code, _, err = mnc("evaluate", "--kb", toy_kb, *args)
    assert code == 2
    assert "Traceback" not in err and needle in err
    assert len(err.strip().splitlines()) <= 2  # rich may wrap a long line once


def test_evaluate_graph_learner_embeds_with_it(toy_kb, tmp_path, mnc):
    pytest.importorskip("torch")
    out = tmp_path / "eval.json"
    code, _, err = mnc("evaluate", "--kb", toy_kb, "--metric", "clip_fid", "--datasets", "d1", "--ablation",
                       "--baselines", "overall", "--graph-learner", "gat", "--json", out, *FAST)
    assert code == 0, err
    assert set(json.loads(out.read_text())["methods"]) == {"mnc", "mnc[features]", "mnc[graph]", "overall"}
    # Embeddings went to the GNN cache (toy_kb's MNC_CACHE_DIR), none through Node2Vec+.
    cache = tmp_path / "cache"
    assert list((cache / "gnn").glob("*.npy")) and not (cache / "node2vec").exists()


def test_evaluate_missing_kb_is_an_error(tmp_path, mnc):
    code, _, err = mnc("evaluate", "--kb", tmp_path / "absent.sqlite", "--metric", "accuracy")
    assert code == 2 and "absent.sqlite" in err and "Traceback" not in err


def test_evaluate_uses_profile_means_as_dataset_features(color_zoo, mnc, tmp_path):
    import json

    _, folders, results = color_zoo
    kb = tmp_path / "kb.sqlite"
    mnc("kb", "import", results, "--kind", "results", "--kb", kb)
    for name in ["red", "green", "blue", "yellow", "cyan", "magenta"]:
        assert mnc("profile", folders[name], "--probe", "pixels", "--kb", kb)[0] == 0
    code, _, err = mnc("evaluate", "--kb", kb, "--metric", "clip_fid", "--json", tmp_path / "e.json")
    assert code == 0, err
    assert "direct" in json.loads((tmp_path / "e.json").read_text())["methods"]  # needs dataset features
    code, _, err = mnc("evaluate", "--kb", kb, "--metric", "clip_fid", "--profile-probe", "none",
                       "--json", tmp_path / "n.json")
    assert code == 0, err
    assert "direct" not in json.loads((tmp_path / "n.json").read_text())["methods"]
    code, _, err = mnc("evaluate", "--kb", kb, "--metric", "clip_fid", "--profile-probe", "clip")
    assert code == 2 and "--profile-probe 'clip'" in err


def test_run_evaluation_to_dict_equals_the_cli_json(toy_kb, tmp_path, mnc):
    """The library's result and ``mnc evaluate --json`` are the same document (timings aside: wall clock)."""
    from matchchoose.evaluate import default_methods, run_evaluation
    from matchchoose.kb import KnowledgeBase

    out = tmp_path / "eval.json"
    code, _, err = mnc("evaluate", "--kb", toy_kb, "--metric", "clip_fid", "--baselines", "overall,nearest,oracle",
                       "--sparsity", "0,0.3", "--json", out, *FAST)
    assert code == 0, err
    cli = json.loads(out.read_text())
    with KnowledgeBase(toy_kb) as kb:
        records = kb.records("clip_fid", aggregate="best")
    methods = default_methods(records, mnc_params={"predictor": "random_forest"},
                              baselines=["overall", "nearest", "oracle"])
    result = run_evaluation(records, methods, seeds=[0], sparsity=[0.0, 0.3], aggregate="best")
    lib = result.to_dict()
    assert set(lib["timings"]) == set(cli["timings"])
    lib.pop("timings"), cli.pop("timings")
    assert lib == cli
    assert set(cli["sparsity_sweep"]) == {"0", "0.3"} and cli["n_models"] == len(MODELS)
    # save() writes the document the CLI writes.
    saved = json.loads(result.save(tmp_path / "lib" / "eval.json").read_text())
    saved.pop("timings")
    assert saved == lib


def test_evaluate_falls_back_to_the_default_metric(toy_kb, tmp_path, mnc):
    """Without --metric, the only metric with results is ranked by, as mnc choose does."""
    out = tmp_path / "eval.json"
    code, _, err = mnc("evaluate", "--kb", toy_kb, "--baselines", "overall", "--json", out, *FAST)
    assert code == 0, err
    assert json.loads(out.read_text())["metric"] == "clip_fid"


@pytest.mark.parametrize("width", [80, 300])
def test_evaluate_table_never_cuts_numbers(toy_kb, tmp_path, mnc, monkeypatch, width):
    monkeypatch.setenv("COLUMNS", str(width))
    out = tmp_path / "eval.json"
    code, stdout, err = mnc("evaluate", "--kb", toy_kb, "--metric", "clip_fid", "--seeds", "2",
                            "--baselines", "overall,oracle", "--json", out, *FAST)
    assert code == 0, err
    assert "…" not in stdout
    oracle = json.loads(out.read_text())["methods"]["oracle"]
    assert f"{oracle['tau_w']:.3f} ± {oracle['tau_w_std']:.3f}" in stdout
    if width == 300:
        assert "Spearman" in stdout and "left out" not in stdout
    else:
        assert "left out at 80 columns" in " ".join(stdout.split())


def test_warnings_reach_the_user_as_one_line(toy_kb, tmp_path, mnc):
    """Direct leaves out training datasets without features, and says so: one line, no source code."""
    extra = tmp_path / "d5.csv"  # a dataset with results and no features
    extra.write_text("model,dataset,metric,value,seed\n" + "".join(f"{m},d5,clip_fid,{20 + i},0\n"
                                                                   for i, m in enumerate(MODELS)))
    assert mnc("kb", "import", extra, "--kind", "results", "--kb", toy_kb)[0] == 0
    code, _, err = mnc("evaluate", "--kb", toy_kb, "--metric", "clip_fid", "--baselines", "direct",
                       "--datasets", "d0,d1", *FAST)
    assert code == 0, err
    lines = [line for line in err.splitlines() if "have no features" in line]
    assert lines == ["warning: DirectSelector: training dataset(s) ['d5'] have no features and are left out."]
    assert "warnings.warn" not in err and "UserWarning" not in err


def test_cli_choices_come_from_the_registries(mnc, monkeypatch):
    from matchchoose.evaluate import BASELINES
    from matchchoose.graph import EMBEDDERS
    from matchchoose.rank import PREDICTORS

    monkeypatch.setenv("COLUMNS", "300")
    for command in (["evaluate"], ["choose"]):
        code, out, err = mnc(*command, "--help")
        assert code == 0, err
        text = " ".join(out.split())
        assert all(name in text for name in PREDICTORS)
        assert "Names: " + ", ".join(EMBEDDERS) + "." in text
    code, out, _ = mnc("evaluate", "--help")
    assert "Names: " + ", ".join(["blend", *BASELINES]) + "." in " ".join(out.split())
