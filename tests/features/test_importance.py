"""Feature importance of a fitted M&C (paper Table 1): shares, grouping of one-hot columns, chart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matchchoose import InputError, Metric, NotFittedError, ZooRecords
from matchchoose.features import feature_importance, importance_group, plot_importance, store_features
from matchchoose.kb import import_frame
from matchchoose.rank import MatchChoose

FAST = {"embedding": {"dim": 4, "walk_length": 8, "num_walks": 4}, "cache": False, "random_state": 0}
MODELS = [f"m{i}" for i in range(6)]


@pytest.fixture(scope="module")
def records():
    rng = np.random.default_rng(0)
    size = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    rows = [(m, f"d{d}", float(size[i] + rng.normal(scale=0.1))) for d in range(5) for i, m in enumerate(MODELS)]
    features = pd.DataFrame({"tflop": size, "arch=unet": [1.0, 0, 1, 0, 1, 0], "arch=dit": [0.0, 1, 0, 1, 0, 1],
                             "depth": [0.0, 0.5, 1.0, -1.0, 0.0, 0.5], "depth__missing": [0.0, 0, 0, 1, 0, 0]},
                            index=MODELS)
    w = rng.normal(size=(5, 2))
    names = [f"d{d}" for d in range(5)]
    return ZooRecords(pd.DataFrame(rows, columns=["model", "dataset", "value"]), Metric("accuracy", True),
                      model_features=features,
                      dataset_features=pd.DataFrame({"f": w[:, 0]}, index=names),
                      distances=pd.DataFrame(np.linalg.norm(w[:, None] - w[None], axis=2), index=names, columns=names))


@pytest.fixture(scope="module")
def forest(records):
    return MatchChoose(predictor="random_forest", predictor_params={"params": {"n_estimators": 30}}, **FAST).fit(
        records)


def test_shares_and_grouping(forest):
    every = feature_importance(forest, group=False, scope="all")
    assert every["importance"].sum() == pytest.approx(1.0)
    assert {"model", "dataset", "edge"} <= set(every["block"]) <= {"model", "dataset", "edge", "prior"}
    raw = dict(zip(every["feature"], every["importance"]))
    grouped = feature_importance(forest, scope="all")
    shares = dict(zip(grouped["feature"], grouped["importance"]))
    assert shares["arch"] == pytest.approx(raw["arch=unet"] + raw["arch=dit"])
    assert shares["depth"] == pytest.approx(raw["depth"] + raw["depth__missing"])
    assert grouped.set_index("feature").loc["arch", "columns"] == 2
    assert list(grouped["importance"]) == sorted(grouped["importance"], reverse=True)


def test_model_scope_and_top(forest):
    table = feature_importance(forest, top=2)  # default: shares over the model features
    assert table["feature"].tolist()[-1] == "Remaining" and len(table) == 3
    assert table["importance"].sum() == pytest.approx(1.0)
    assert set(table["block"]) <= {"model", "remaining"}
    assert table.loc[0, "feature"] == "tflop"  # the only informative model feature in this toy


def test_catboost_importances(records):
    mc = MatchChoose(predictor="catboost", predictor_params={"params": {"iterations": 20}}, **FAST).fit(records)
    table = feature_importance(mc, scope="all")
    assert table["importance"].sum() == pytest.approx(1.0)


def test_errors(records, forest):
    with pytest.raises(NotFittedError):
        feature_importance(MatchChoose())
    mc = MatchChoose(predictor="svc", **FAST).fit(records)
    with pytest.raises(InputError, match="has no feature importances; use predictor='random_forest'"):
        feature_importance(mc)
    with pytest.raises(InputError, match="'scope' parameter"):
        feature_importance(forest, scope="models")
    graph_only = MatchChoose(predictor="random_forest", inputs="graph", **FAST).fit(records)
    with pytest.raises(InputError, match="no model-feature inputs"):
        feature_importance(graph_only)


def test_importance_group():
    assert importance_group("model.scheduler_class_name=PNDMScheduler") == "model.scheduler_class_name"
    assert importance_group("model.transformer_num_layers__missing") == "model.transformer_num_layers"
    assert importance_group("edge.hadamard_3") == "edge.hadamard_3"


def test_table1_analogue_on_the_paper_zoo_and_png(kb, tmp_path):
    """Zoo features from the KB through the engine: names read like Table 1's; the chart is written."""
    rng = np.random.default_rng(1)
    models = ["sd15", "sdxl-base", "segmind-vega", "pixart-sigma-512", "sana-1.6b-512px", "flux1-dev"]
    rows = [(m, f"d{d}", "clip_fid", float(10 + i + rng.normal(scale=0.3))) for d in range(4)
            for i, m in enumerate(models)]
    import_frame(kb, pd.DataFrame(rows, columns=["model", "dataset", "metric", "value"]), "results")
    store_features(kb, models="paper")
    mc = MatchChoose(predictor="random_forest", predictor_params={"params": {"n_estimators": 30}},
                     inputs="features", **FAST).fit(kb.records("clip_fid"))
    table = feature_importance(mc, top=10)
    assert len(table) == 11 and table["importance"].sum() == pytest.approx(1.0)
    assert not table["feature"].str.contains("=").any()  # one-hot columns grouped
    assert set(table["feature"][:-1]) <= set(mc.records_.model_features.columns.map(importance_group)) | {"Remaining"}
    png = tmp_path / "importance.png"
    plot_importance(table, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
