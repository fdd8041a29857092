"""Reading the knowledge base back: ZooRecords, aggregation, metrics, summary and content hash."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matchchoose import InputError, KnowledgeBaseError, Metric
from matchchoose.kb import BUILTIN_METRICS, KnowledgeBase, import_frame, latest_version


def _scores(metric, rows, **extra):
    frame = pd.DataFrame(rows, columns=["model", "dataset", "value"]).assign(metric=metric)
    for key, values in extra.items():
        frame[key] = values
    return frame


# Two runs of (a, x) and (b, x): best and mean differ, and which run is "best" depends on direction.
RUNS = [("a", "x", 0.9), ("a", "x", 0.7), ("b", "x", 0.6), ("b", "x", 0.8), ("a", "y", 0.5)]


@pytest.fixture
def zoo(kb):
    import_frame(kb, _scores("accuracy", RUNS, seed=[0, 1, 0, 1, 0]), "results")
    import_frame(kb, _scores("clip_fid", [(m, d, 10 * v) for m, d, v in RUNS], seed=[0, 1, 0, 1, 0]), "results")
    return kb


def _values(records):
    return {(m, d): v for m, d, v in records.results.itertuples(index=False)}


@pytest.mark.parametrize(("metric", "aggregate", "expected"), [
    ("accuracy", "best", {("a", "x"): 0.9, ("b", "x"): 0.8, ("a", "y"): 0.5}),
    ("clip_fid", "best", {("a", "x"): 7.0, ("b", "x"): 6.0, ("a", "y"): 5.0}),
    ("accuracy", "mean", {("a", "x"): 0.8, ("b", "x"): 0.7, ("a", "y"): 0.5}),
    ("clip_fid", "mean", {("a", "x"): 8.0, ("b", "x"): 7.0, ("a", "y"): 5.0}),
])
def test_aggregation_of_repeated_runs(zoo, metric, aggregate, expected):
    records = zoo.records(metric, aggregate=aggregate)
    assert records.metric == Metric(metric, metric == "accuracy")
    assert _values(records) == pytest.approx(expected)
    assert records.models == ["a", "b"] and records.datasets == ["x", "y"]


def test_bad_aggregate(zoo):
    with pytest.raises(InputError, match="'aggregate' parameter of KnowledgeBase.records must be one of"):
        zoo.records("accuracy", aggregate="max")


def test_unknown_metric_lists_available(zoo):
    with pytest.raises(KnowledgeBaseError, match="No results for metric 'top1'.*with results: accuracy, clip_fid"):
        zoo.records("top1")
    with pytest.raises(KnowledgeBaseError, match="none"):
        KnowledgeBase(":memory:").records("accuracy")


def test_features_and_targets(zoo):
    import_frame(zoo, pd.DataFrame({"model": ["a", "b", "other"], "params": [1.0, None, 3.0],
                                    "family": ["vit", "cnn", None]}), "models")
    import_frame(zoo, pd.DataFrame({"dataset": ["x", "target"], "size": [10, 20]}), "datasets")
    records = zoo.records("accuracy")
    assert records.models == ["a", "b"]  # 'other' has no result for this metric
    assert records.datasets == ["target", "x", "y"]  # 'target' is known by its features
    assert records.model_features["params"].dtype == np.float64
    assert records.model_features["family"].dtype == object
    assert records.model_features.loc["b", "family"] == "cnn" and np.isnan(records.model_features.loc["b", "params"])
    assert records.dataset_features.loc["target", "size"] == 20.0
    assert np.isnan(records.dataset_features.loc["y", "size"])


def test_feature_turning_categorical_shows_numbers_as_text(zoo):
    import_frame(zoo, pd.DataFrame({"model": ["a"], "size": [10]}), "models")
    import_frame(zoo, pd.DataFrame({"model": ["b"], "size": ["large"]}), "models")
    column = zoo.records("accuracy").model_features["size"]
    assert column.dtype == object and column.tolist() == ["10", "large"]


def test_distances_square_and_choice(zoo):
    import_frame(zoo, pd.DataFrame({"dataset_a": ["x", "t"], "dataset_b": ["y", "x"], "metric": "fd",
                                    "value": [1.0, 2.0]}), "distances", add_datasets=True)
    records = zoo.records("accuracy")
    assert records.distance_metric == "fd"
    assert records.datasets == ["t", "x", "y"]
    expected = pd.DataFrame([[0, 2, np.nan], [2, 0, 1], [np.nan, 1, 0]], index=records.datasets,
                            columns=records.datasets, dtype=float)
    pd.testing.assert_frame_equal(records.distances, expected)
    import_frame(zoo, pd.DataFrame({"dataset_a": ["x"], "dataset_b": ["y"], "value": [5.0]}), "distances",
                 metric="vit")
    with pytest.raises(KnowledgeBaseError, match=r"several distance metrics \(fd, vit\).*distance_metric="):
        zoo.records("accuracy")
    assert zoo.records("accuracy", distance_metric="vit").distances.loc["x", "y"] == 5.0
    with pytest.raises(KnowledgeBaseError, match="No distances for metric 'nope'.*fd, vit"):
        zoo.records("accuracy", distance_metric="nope")


def test_no_distances_no_prescores(zoo):
    records = zoo.records("accuracy")
    assert records.distances is None and records.prescores is None and records.prescore_metric is None


def test_prescores_averaged(zoo):
    import_frame(zoo, _scores("logme", [("a", "x", 1.0), ("a", "x", 2.0), ("b", "t", 4.0)], seed=[0, 1, 0]),
                 "prescores")
    records = zoo.records("accuracy")
    assert records.prescore_metric == Metric("logme", True)
    assert sorted(records.prescores.itertuples(index=False, name=None)) == [("a", "x", 1.5), ("b", "t", 4.0)]
    assert "t" in records.datasets
    import_frame(zoo, _scores("leep", [("a", "x", -1.0)]), "prescores")
    with pytest.raises(KnowledgeBaseError, match="several prescore metrics"):
        zoo.records("accuracy")
    assert zoo.records("accuracy", prescore_metric="leep").prescores["value"].tolist() == [-1.0]
    import_frame(zoo, _scores("accuracy", [("a", "x", 0.5)]), "prescores")  # the result metric's own prescore
    assert zoo.records("accuracy").prescore_metric.name == "accuracy"


def test_filters(zoo):
    records = zoo.records("accuracy", models=["a"], datasets=["x"])
    assert records.models == ["a"] and records.datasets == ["x"] and _values(records) == {("a", "x"): 0.9}
    with pytest.raises(KnowledgeBaseError, match="Model 'zz' is not in"):
        zoo.records("accuracy", models=["a", "zz"])


def test_metrics_registry(kb):
    assert kb.metric("accuracy") == Metric("accuracy", True)
    assert kb.metric("fid") == Metric("fid", False)
    for name in ("logme", "leep", "nleep", "hscore", "reg_h_score", "sfda", "top5", "map", "auc", "f1"):
        assert BUILTIN_METRICS[name][0] is True
    for name in ("fid", "clip_fid", "fd_dinov2", "kid", "cmmd", "loss", "eval_loss"):
        assert BUILTIN_METRICS[name][0] is False
    with pytest.raises(KnowledgeBaseError, match="Unknown metric 'bleu'.*mnc kb metric add bleu"):
        kb.metric("bleu")
    assert kb.declare_metric("bleu", True, "BLEU score") is True
    assert kb.declare_metric("bleu", True) is False
    with pytest.raises(KnowledgeBaseError, match="'bleu' is already declared higher-is-better"):
        kb.declare_metric("bleu", False)
    with pytest.raises(KnowledgeBaseError, match="'fid' is already declared lower-is-better"):
        kb.declare_metric("fid", True)
    row = kb.metrics().set_index("name").loc["bleu"]
    assert row["higher_is_better"] and row["description"] == "BLEU score"
    with pytest.raises(InputError, match="non-empty string"):
        kb.declare_metric("  ", True)


def test_summary(zoo):
    summary = zoo.summary()
    assert summary["results"] == {"accuracy": 5, "clip_fid": 5}
    assert (summary["models"], summary["datasets"], summary["schema_version"]) == (2, 2, latest_version())
    assert summary["path"] == ":memory:"
    assert summary["profiles"] == {} and summary["grid_cells"] == {}
    zoo.grid_add([("a", "x")], "r")
    assert zoo.summary()["grid_cells"] == {"pending": 1}


def test_content_hash_is_stable_and_sensitive(tmp_path):
    first, second = KnowledgeBase(":memory:"), KnowledgeBase(tmp_path / "kb.sqlite")
    frame = _scores("accuracy", RUNS, seed=[0, 1, 0, 1, 0])
    import_frame(first, frame, "results")
    import_frame(second, frame.iloc[::-1], "results", name="reversed")  # other order, other source
    assert first.content_hash("accuracy") == second.content_hash("accuracy")
    assert first.content_hash("accuracy", aggregate="mean") == second.content_hash("accuracy", aggregate="mean")
    assert first.content_hash("accuracy") != first.content_hash("accuracy", aggregate="mean")
    before = first.content_hash("accuracy")
    import_frame(first, pd.DataFrame({"model": ["a"], "params": [1.0]}), "models")
    assert first.content_hash("accuracy") != before
    assert len(before) == 64
