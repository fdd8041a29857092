"""Learning curves in the knowledge base: results at several fidelities (schema version 5)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from matchchoose._errors import InputError, KnowledgeBaseError
from matchchoose.kb import KnowledgeBase, _schema, export_table, import_frame, import_table, latest_version
from matchchoose.kb._store import _result_hash

CURVES = """model,dataset,metric,value,fidelity,seed
a,x,accuracy,0.50,100,0
a,x,accuracy,0.70,400,0
a,x,accuracy,0.90,400,1
b,x,accuracy,0.60,100,0
b,x,accuracy,0.65,400,0
b,y,accuracy,0.40,,0
c,y,accuracy,0.30,50,0
c,y,accuracy,0.20,,0
"""


@pytest.fixture
def kb(tmp_path):
    path = tmp_path / "curves.csv"
    path.write_text(CURVES)
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    assert import_table(kb, path, "results").inserted == 8
    return kb


def test_a_row_without_fidelity_hashes_as_before_version_5():
    # sha256 of json.dumps(["result", "a", "x", "accuracy", "0.9", {"seed": "0"}], sort_keys=True): the
    # key every knowledge base written before fidelities has; changing it would re-import old files twice.
    old = "2c99fca30ecbf79e7a9648c8bcfb6a75841b8c740731e76c4f208e3671357483"
    assert _result_hash("result", "a", "x", "accuracy", 0.9, {"seed": "0"}) == old
    assert _result_hash("result", "a", "x", "accuracy", 0.9, {"seed": "0"}, None) == old
    at_100 = _result_hash("result", "a", "x", "accuracy", 0.9, {"seed": "0"}, 100)
    assert at_100 != old and at_100 == _result_hash("result", "a", "x", "accuracy", 0.9, {"seed": "0"}, 100.0)
    assert at_100 != _result_hash("result", "a", "x", "accuracy", 0.9, {"seed": "0"}, 200)


def test_version_4_knowledge_base_migrates_and_keeps_its_rows(tmp_path, monkeypatch):
    path = tmp_path / "kb.sqlite"
    old_rows = pd.DataFrame({"model": ["a", "b"], "dataset": "x", "metric": "accuracy", "value": [0.9, 0.8],
                             "seed": "0"})
    monkeypatch.setattr(_schema, "MIGRATIONS", _schema.MIGRATIONS[:4])
    with KnowledgeBase(path) as v4:
        assert v4.declare_metric("bleu", True) and v4.schema_version == 4
    # The rows as release 4 wrote them: its import's hash (pinned above), no fidelity column.
    hashes = ["2c99fca30ecbf79e7a9648c8bcfb6a75841b8c740731e76c4f208e3671357483",
              _result_hash("result", "b", "x", "accuracy", 0.8, {"seed": "0"})]
    with sqlite3.connect(path) as conn:
        assert "fidelity" not in [row[1] for row in conn.execute("PRAGMA table_info(results)")]
        conn.executemany("INSERT INTO models (name, created_at) VALUES (?, 'then')", [("a",), ("b",)])
        conn.execute("INSERT INTO datasets (name, created_at) VALUES ('x', 'then')")
        conn.executemany(
            "INSERT INTO results (kind, model, dataset, metric, value, provenance, created_at, content_hash)"
            " VALUES ('result', ?, 'x', 'accuracy', ?, '{\"seed\": \"0\"}', 'then', ?)",
            [("a", 0.9, hashes[0]), ("b", 0.8, hashes[1])])
    monkeypatch.undo()
    kb = KnowledgeBase(path)
    assert kb.schema_version == latest_version() == 5
    with sqlite3.connect(path) as conn:
        assert [row[0] for row in conn.execute("SELECT fidelity FROM results")] == [None, None]
        assert [row[0] for row in conn.execute("SELECT content_hash FROM results")] == hashes
    assert import_frame(kb, old_rows, "results").inserted == 0  # same rows: nothing stored twice
    assert kb.records("accuracy").results["value"].tolist() == [0.9, 0.8]
    assert kb.summary()["fidelities"] == {}
    assert import_frame(kb, old_rows.assign(fidelity=10), "results").inserted == 2


def test_import_keeps_fidelity_out_of_provenance_and_round_trips(kb, tmp_path):
    rows = kb.curves("accuracy", per_row=True)
    assert len(rows) == 8 and all("fidelity" not in p for p in rows["provenance"])
    assert rows["fidelity"].isna().sum() == 2
    assert kb.summary()["fidelities"] == {"accuracy": [50.0, 100.0, 400.0]}
    export_table(kb, tmp_path / "out.csv", "results")
    assert "fidelity" in pd.read_csv(tmp_path / "out.csv").columns
    assert import_table(kb, tmp_path / "out.csv", "results").inserted == 0
    # One value at two fidelities is two rows.
    same = pd.DataFrame({"model": "d", "dataset": "x", "metric": "accuracy", "value": 0.5, "fidelity": [1, 2]})
    assert import_frame(kb, same, "results").inserted == 2


@pytest.mark.parametrize("cell", ["-1", "abc", "inf", "nan"])
def test_a_bad_fidelity_names_file_line_and_column_and_stores_nothing(tmp_path, cell):
    path = tmp_path / "r.csv"
    path.write_text(f"model,dataset,metric,value,fidelity\na,x,accuracy,0.5,10\na,x,accuracy,0.6,{cell}\n")
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    if cell == "nan":  # a missing cell: the target, not an error
        assert import_table(kb, path, "results").inserted == 2
        return
    with pytest.raises(InputError) as info:
        import_table(kb, path, "results")
    message = str(info.value)
    assert f"{path}, line 3, column 'fidelity'" in message and "finite number >= 0" in message
    assert len(message.splitlines()) == 1
    assert not (tmp_path / "kb.sqlite").exists() or kb.summary()["results"] == {}


def test_records_read_each_datasets_target_by_default(kb):
    best = kb.records("accuracy").results.set_index(["model", "dataset"])["value"]
    # (a, x): the two seeds at 400; (b, x): 400; (b, y): no number, its NULL row; (c, y): 50 beats NULL.
    assert best.to_dict() == {("a", "x"): 0.9, ("b", "x"): 0.65, ("b", "y"): 0.4, ("c", "y"): 0.3}
    mean = kb.records("accuracy", aggregate="mean").results.set_index(["model", "dataset"])["value"]
    assert mean[("a", "x")] == pytest.approx(0.8)


def test_records_at_a_fidelity_and_an_unknown_one(kb):
    at_100 = kb.records("accuracy", fidelity=100).results
    assert at_100[["model", "dataset", "value"]].values.tolist() == [["a", "x", 0.5], ["b", "x", 0.6]]
    assert kb.content_hash("accuracy", fidelity=100) != kb.content_hash("accuracy")
    with pytest.raises(KnowledgeBaseError, match=r"at fidelity 7 .*fidelities stored: 50, 100, 400\."):
        kb.records("accuracy", fidelity=7)
    with pytest.raises(KnowledgeBaseError, match="'fidelity' parameter of KnowledgeBase.records"):
        kb.records("accuracy", fidelity=-1)


def test_curves_aggregate_repeats_and_add_prescores_at_zero(kb):
    import_frame(kb, pd.DataFrame({"model": ["a", "a"], "dataset": "x", "metric": "accuracy",
                                   "value": [0.1, 0.2], "seed": [0, 1]}), "prescores")
    curves = kb.curves("accuracy")
    assert list(curves.columns) == ["model", "dataset", "fidelity", "value", "n_repeats"]
    a = curves[curves["model"] == "a"]
    assert a["fidelity"].tolist() == [100.0, 400.0] and a["value"].tolist() == pytest.approx([0.5, 0.8])
    assert a["n_repeats"].tolist() == [1, 2]
    c = curves[curves["model"] == "c"]
    assert c["fidelity"].tolist()[0] == 50.0 and np.isnan(c["fidelity"].tolist()[1])  # unknown last
    best = kb.curves("accuracy", aggregate="best")
    assert best.loc[(best["model"] == "a") & (best["fidelity"] == 400), "value"].item() == 0.9
    with_zero = kb.curves("accuracy", prescores=True, models=["a"])
    assert with_zero[["fidelity", "value", "n_repeats"]].values.tolist()[0] == pytest.approx([0.0, 0.15, 2])
    rows = kb.curves("accuracy", per_row=True, datasets=["y"])
    assert list(rows.columns) == ["model", "dataset", "fidelity", "value", "kind", "provenance", "source"]
    assert set(rows["model"]) == {"b", "c"} and rows["provenance"].iloc[0] == {"seed": "0"}


def test_record_score_stores_its_fidelity(tmp_path):
    from matchchoose.score import Score, record_score

    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    score = Score(metric="fd_pixels", kind="fd", value=3.0, std=None, n_generated=4, n_reference=4,
                  probe="pixels", preprocess="none", details={})
    assert record_score(kb, score, model="m", dataset="d", fidelity=10)
    assert record_score(kb, score, model="m", dataset="d", fidelity=20)
    assert not record_score(kb, score, model="m", dataset="d", fidelity=20)
    assert record_score(kb, score, model="m", dataset="d")
    assert kb.curves("fd_pixels")["fidelity"].tolist()[:2] == [10.0, 20.0]
    assert kb.records("fd_pixels", fidelity=10).results["value"].tolist() == [3.0]


def test_mnc_kb_info_lists_fidelities(mnc, tmp_path):
    path = tmp_path / "curves.csv"
    path.write_text(CURVES)
    code, out, _ = mnc("kb", "import", path, "--kind", "results", "--kb", tmp_path / "kb.sqlite")
    assert code == 0 and "8 inserted" in out
    code, out, _ = mnc("kb", "info", "--kb", tmp_path / "kb.sqlite")
    assert code == 0 and "fidelities of accuracy results (largest per pair = target): 50, 100, 400" in out


def test_a_curve_that_stops_short_of_its_datasets_target_has_no_target_result(tmp_path):
    """A model a budgeted race dropped after 100 steps on z: its early score is not taken for a final one."""
    path = tmp_path / "race.csv"
    path.write_text("model,dataset,metric,value,fidelity\n"
                    "a,z,accuracy,0.50,100\na,z,accuracy,0.80,400\n"
                    "b,z,accuracy,0.70,100\n"
                    "c,z,accuracy,0.60,400\n"
                    "b,w,accuracy,0.40,100\n")
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    import_table(kb, path, "results")
    target = kb.records("accuracy").results.set_index(["model", "dataset"])["value"].to_dict()
    # z's target is 400 (a and c reached it); b stopped at 100 there. On w, 100 is the most anyone did.
    assert target == {("a", "z"): 0.8, ("c", "z"): 0.6, ("b", "w"): 0.4}
    at_100 = kb.records("accuracy", fidelity=100).results.set_index(["model", "dataset"])["value"].to_dict()
    assert at_100 == {("a", "z"): 0.5, ("b", "z"): 0.7, ("b", "w"): 0.4}


def test_auto_aggregate_averages_sampling_seeds_and_keeps_the_best_of_other_repeats(tmp_path):
    """Repeated samplings of one fine-tuned model (provenance ``sample_seed``) are averaged by default; repeated
    runs without one (other fine-tunings) keep the best, as before."""
    sampled = pd.DataFrame({"model": ["a", "a", "b", "b"], "dataset": "x", "metric": "clip_fid",
                            "value": [10.0, 30.0, 18.0, 22.0], "sample_seed": [0, 1, 0, 1]})
    kb = KnowledgeBase(tmp_path / "sampled.sqlite")
    import_frame(kb, sampled, "results")
    assert kb.resolve_aggregate("clip_fid") == "mean" and kb.resolve_aggregate("clip_fid", "best") == "best"
    values = kb.records("clip_fid").results.set_index("model")["value"]
    assert values.to_dict() == {"a": 20.0, "b": 20.0}  # the best draw would have made a look better: 10 < 18
    best = kb.records("clip_fid", aggregate="best").results.set_index("model")["value"]
    assert best.to_dict() == {"a": 10.0, "b": 18.0}

    runs = sampled.drop(columns="sample_seed").assign(seed=[0, 1, 0, 1])
    other = KnowledgeBase(tmp_path / "runs.sqlite")
    import_frame(other, runs, "results")
    assert other.resolve_aggregate("clip_fid") == "best"
    assert other.records("clip_fid").results.set_index("model")["value"].to_dict() == {"a": 10.0, "b": 18.0}
    with pytest.raises(InputError, match="aggregate"):
        other.records("clip_fid", aggregate="median")
