"""The zoo in a knowledge base: migration v2, stored configs, features recomputed when the zoo changes."""

from __future__ import annotations

import shutil
import sqlite3
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from matchchoose import InputError, KnowledgeBaseError
from matchchoose.features import (
    FeatureRule,
    PipelineConfig,
    add_model,
    default_zoo,
    default_zoo_dir,
    read_pipeline,
    store_features,
    zoo_entries,
    zoo_features,
)
from matchchoose.kb import KnowledgeBase, import_frame


def test_migration_v2_upgrades_a_v1_file(tmp_path, monkeypatch):
    from matchchoose.kb import _schema, latest_version

    path = tmp_path / "kb.sqlite"
    monkeypatch.setattr(_schema, "MIGRATIONS", _schema.MIGRATIONS[:1])
    KnowledgeBase(path).declare_metric("bleu", True)
    monkeypatch.undo()
    kb = KnowledgeBase(path)
    assert kb.schema_version == latest_version() >= 2
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"model_configs", "zoo_features"} <= tables
    assert kb.metric("bleu").higher_is_better  # data survived


def test_model_config_round_trip(kb):
    config = read_pipeline(default_zoo_dir() / "pixart-sigma-512")
    assert kb.add_model_config("pixart", config.to_json(), source=config.source, size={"num_params": 6.1e8})
    assert not kb.add_model_config("pixart", config.to_json(), source="again")  # replaced, not new
    stored = kb.model_config("pixart")
    assert stored["source"] == "again" and stored["size"] == {}
    back = PipelineConfig.from_json("pixart", stored["source"], stored["config"])
    assert back.components == config.components  # -Infinity survives the round trip
    assert kb.model_configs()["model"].tolist() == ["pixart"]
    assert kb.models() == ["pixart"]
    with pytest.raises(KnowledgeBaseError, match="No config for model 'nope'.*models with configs: pixart"):
        kb.model_config("nope")
    with pytest.raises(InputError, match="must be a dict with a 'model_index'"):
        kb.add_model_config("x", {"a": 1}, source="s")


def test_replace_zoo_features_keeps_hand_imported_features(kb):
    import_frame(kb, pd.DataFrame({"model": ["a", "b"], "license": ["mit", "apache"]}), "models")
    first = pd.DataFrame({"x": [0.0, 1.0], "k=u": [1.0, 0.0]}, index=["a", "b"])
    describe = pd.DataFrame({"column": ["x", "k=u"], "hyperparameter": ["x", "k"], "encoding": ["min-max", "one-hot"],
                             "level": [None, "u"], "min": [1.0, None], "max": [2.0, None]})
    kb.replace_zoo_features(first, describe)
    second = pd.DataFrame({"x": [0.5, 0.0, 1.0]}, index=["a", "b", "c"])
    written = kb.replace_zoo_features(second, describe.iloc[:1])
    assert written == {"models": 3, "features": 1, "values": 3, "removed": 4}
    with kb._snapshot() as conn:
        stored = dict(((m, f), n if t is None else t) for m, f, n, t in conn.execute(
            "SELECT model, feature, value_num, value_text FROM model_features"))
    assert stored == {("a", "license"): "mit", ("b", "license"): "apache", ("a", "x"): 0.5, ("b", "x"): 0.0,
                      ("c", "x"): 1.0}  # the stale 'k=u' column is gone, the hand-imported one stays
    assert kb.zoo_feature_columns()["feature"].tolist() == ["x"]
    with pytest.raises(InputError, match="describe exactly the columns"):
        kb.replace_zoo_features(second, describe)
    with pytest.raises(InputError, match="finite"):
        kb.replace_zoo_features(pd.DataFrame({"x": [np.nan]}, index=["a"]), describe.iloc[:1])


def _results(models, datasets=("d1", "d2", "d3")):
    rng = np.random.default_rng(0)
    rows = [(m, d, "clip_fid", float(rng.uniform(10, 30))) for d in datasets for m in models]
    return pd.DataFrame(rows, columns=["model", "dataset", "metric", "value"])


def test_store_features_reach_the_engine(kb):
    import_frame(kb, _results(["sd15", "sdxl-base", "flux1-dev"]), "results")
    summary = store_features(kb, models="paper")
    assert (summary["hyperparameters_kept"], summary["dimensions"], summary["values"]) == (78, 167, 1670)
    records = kb.records("clip_fid")
    features = records.model_features
    assert list(features.index) == ["flux1-dev", "sd15", "sdxl-base"]  # the models with results
    assert features.shape[1] == 167 and features.dtypes.eq(float).all()
    expected, _ = zoo_features(default_zoo("paper"))
    pd.testing.assert_frame_equal(features, expected.loc[features.index, features.columns], check_names=False,
                                  check_index_type=False)


def test_add_model_recomputes_the_zoo_features(kb, tmp_path):
    before, _ = zoo_features(default_zoo())
    folder = tmp_path / "my-vega"
    shutil.copytree(default_zoo_dir() / "segmind-vega", folder)
    entry = add_model(kb, folder, size=False)
    assert entry.name == "my-vega" and entry.origin == "kb" and entry.num_params is None
    names = [e.name for e in zoo_entries(kb)]
    assert len(names) == 20 and names[-1] == "my-vega"
    after = kb.zoo_feature_columns()
    assert len(after) != before.shape[1] or set(after["feature"]) != set(before.columns)  # the rule was refitted
    stored = kb.model_config("my-vega")
    assert stored["config"]["model_index"]["_class_name"] == "StableDiffusionXLPipeline"
    assert zoo_entries(kb, ["my-vega"])[0].config.components == entry.config.components
    with pytest.raises(InputError, match="Model 'nope' is not in the zoo"):
        zoo_entries(kb, ["nope"])


def test_add_model_without_torch_warns_and_leaves_size_missing(kb, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    folder = tmp_path / "sd"
    shutil.copytree(default_zoo_dir() / "sd15", folder)
    with pytest.warns(UserWarning, match=r"Parameters and FLOPs of sd not counted: .*matchchoose\[models\]"):
        entry = add_model(kb, folder, recompute=False)
    assert entry.num_params is None and entry.tflop is None


def test_add_model_counts_size_with_torch(kb, tmp_path):
    pytest.importorskip("diffusers")
    folder = tmp_path / "vega"
    shutil.copytree(default_zoo_dir() / "segmind-vega", folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        entry = add_model(kb, folder, recompute=False)
    assert round(entry.num_params / 1e9, 3) == 0.745
    assert entry.tflop_source == "measured" and abs(entry.tflop - 67.01) < 0.1
    assert kb.model_config("vega")["size"]["tflop_source"] == "measured"


def test_feature_rule_on_kb_zoo_uses_stored_sizes(kb, tmp_path):
    kb.add_model_config("tiny", read_pipeline(default_zoo_dir() / "sd15").to_json(), source="x",
                        size={"num_params": 2e9, "tflop": 10.0, "tflop_source": "measured"})
    hp_rule = FeatureRule()
    features, rule = zoo_features(zoo_entries(kb, ["sd15", "tiny"]), hp_rule)
    assert rule is hp_rule
    assert rule.ranges_["num_params"] == (0.859520964, 2.0) and rule.ranges_["tflop"] == (10.0, 71.59)
    assert features.loc["tiny", "tflop"] == 0.0 and features.loc["sd15", "tflop"] == 1.0
