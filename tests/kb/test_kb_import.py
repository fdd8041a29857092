"""Importing results, prescores, features and distances: what is stored, and every bad-input error."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from matchchoose import InputError
from matchchoose.kb import KnowledgeBase, export_frame, export_table, import_frame, import_table

RESULTS = """
    model,dataset,metric,value,seed,lr
    a,x,accuracy,0.90,0,1e-4
    a,x,accuracy,0.80,1,1e-4
    b,x,accuracy,0.70,0,
    a,y,accuracy,0.50,0,1e-4
    b,y,accuracy,0.60,0,1e-4
"""


def _results(kb):
    return export_frame(kb, "results")


# ------------------------------------------------------------------ results
def test_results_are_stored_with_provenance(kb, write_csv):
    summary = import_table(kb, write_csv("r.csv", RESULTS), "results")
    assert (summary.rows_read, summary.inserted, summary.skipped) == (5, 5, 0)
    assert (summary.new_models, summary.new_datasets) == (2, 2)
    assert kb.models() == ["a", "b"] and kb.datasets() == ["x", "y"]
    stored = kb._conn.execute("SELECT provenance, source FROM results ORDER BY id").fetchall()
    assert json.loads(stored[0][0]) == {"seed": "0", "lr": "1e-4"}
    assert json.loads(stored[2][0]) == {"seed": "0"}  # empty cells are left out
    assert stored[0][1].endswith("r.csv")


def test_reimport_is_idempotent_but_repeated_runs_are_kept(kb, write_csv):
    path = write_csv("r.csv", RESULTS)
    import_table(kb, path, "results")
    again = import_table(kb, path, "results")
    assert (again.inserted, again.skipped, again.new_models) == (0, 5, 0)
    assert len(_results(kb)) == 5  # both runs of (a, x) are there
    # Same content from another file is a duplicate too; a changed value is a new run.
    other = write_csv("other.csv", "model,dataset,metric,value,seed,lr\na,x,accuracy,0.9,0,1e-4\na,x,accuracy,0.95,2,")
    summary = import_table(kb, other, "results")
    assert (summary.inserted, summary.skipped) == (1, 1)


def test_identical_rows_in_one_file_are_stored_once(kb, write_csv):
    summary = import_table(kb, write_csv("r.csv", "model,dataset,metric,value\na,x,fid,3\na,x,fid,3.0"), "results")
    assert (summary.inserted, summary.skipped) == (1, 1)


def test_prescores_are_a_separate_kind(kb, write_csv):
    import_table(kb, write_csv("r.csv", RESULTS), "results")
    path = write_csv("p.csv", "model,dataset,metric,value\na,x,logme,1.5\nc,z,logme,2.0")
    summary = import_table(kb, path, "prescores")
    assert (summary.inserted, summary.new_models, summary.new_datasets) == (2, 1, 1)
    assert kb.summary()["prescores"] == {"logme": 2}
    assert len(export_frame(kb, "prescores")) == 2 and len(_results(kb)) == 5


def test_csv_gz_and_parquet_and_frame(kb, tmp_path):
    frame = pd.DataFrame({"model": ["a", "b"], "dataset": ["x", "x"], "metric": "fid", "value": [3.0, 4.0],
                          "seed": [0, 1]})
    with gzip.open(tmp_path / "r.csv.gz", "wt") as handle:
        frame.to_csv(handle, index=False)
    frame.to_parquet(tmp_path / "r.parquet", index=False)
    assert import_table(kb, tmp_path / "r.csv.gz", "results").inserted == 2
    # Parquet ints become the same provenance text as CSV cells: nothing new.
    assert import_table(kb, tmp_path / "r.parquet", "results").inserted == 0
    assert import_frame(kb, frame, "results").skipped == 2


def test_declaring_direction_on_import(kb, write_csv):
    path = write_csv("r.csv", "model,dataset,metric,value\na,x,bleu,30\nb,x,bleu,20")
    with pytest.raises(InputError):
        import_table(kb, path, "results")
    import_table(kb, path, "results", higher_is_better=True)
    assert kb.metric("bleu").higher_is_better


def test_declaring_a_conflicting_direction_rolls_back_everything(kb, write_csv):
    path = write_csv("r.csv", "model,dataset,metric,value\na,x,bleu,30\nb,x,fid,20")
    with pytest.raises(InputError, match=r"r.csv, line 3, column 'metric': .*'fid' is already declared lower"):
        import_table(kb, path, "results", higher_is_better=True)
    assert "bleu" not in set(kb.metrics()["name"])  # declared in the same, rolled-back transaction


# ------------------------------------------------------------------ features
def test_model_features_numeric_categorical_missing_and_upsert(kb, write_csv):
    summary = import_table(kb, write_csv("m.csv", "model,params,family\na,10,vit\nb,,cnn\nc,3.5,NA"), "models")
    assert (summary.inserted, summary.new_models) == (6, 3)
    first = export_frame(kb, "models").set_index("model")
    assert first["params"].dtype == float and first["family"].dtype == object
    assert np.isnan(first.loc["b", "params"]) and pd.isna(first.loc["c", "family"])
    summary = import_table(kb, write_csv("m2.csv", "model,params\na,12\nb,\nd,1"), "models")
    assert (summary.inserted, summary.updated, summary.skipped, summary.new_models) == (1, 1, 1, 1)
    again = export_frame(kb, "models").set_index("model")
    assert again.loc["a", "params"] == 12.0 and again.loc["a", "family"] == "vit"  # other columns untouched
    assert pd.isna(again.loc["d", "family"])


def test_dataset_features(kb, write_csv):
    import_table(kb, write_csv("d.csv", "dataset,n_images,domain\nx,100,faces\ny,50,art"), "datasets")
    frame = export_frame(kb, "datasets").set_index("dataset")
    assert frame.loc["y", "n_images"] == 50.0 and frame.loc["x", "domain"] == "faces"


# ------------------------------------------------------------------ distances
LONG = """
    dataset_a,dataset_b,metric,value
    x,y,fd,1.5
    y,x,fd,1.5
    y,z,fd,2
    z,z,fd,0
"""
SQUARE = """
    ,x,y,z
    x,0,1.5,
    y,1.5,0,2
    z,,2,0
"""


def test_square_matrix_equals_long_import(write_csv):
    stores = []
    for text, metric in ((LONG, None), (SQUARE, "fd")):
        kb = KnowledgeBase(":memory:")
        summary = import_table(kb, write_csv("d.csv", text), "distances", metric=metric, add_datasets=True)
        assert summary.inserted == 2 and summary.new_datasets == 3
        stores.append(kb)
    long, square = (export_frame(kb, "distances") for kb in stores)
    pd.testing.assert_frame_equal(long, square)
    assert long.values.tolist() == [["x", "y", "fd", 1.5], ["y", "z", "fd", 2.0]]


def test_long_distances_with_metric_option(kb, write_csv):
    import_table(kb, write_csv("d.csv", "dataset_a,dataset_b,value\nx,y,1"), "distances", metric="fd",
                 add_datasets=True)
    assert kb.summary()["distances"] == {"fd": 1}


def test_distances_need_known_datasets(kb, write_csv):
    import_table(kb, write_csv("r.csv", RESULTS), "results")
    import_table(kb, write_csv("f.csv", "dataset,domain\nz,art"), "datasets")
    assert import_table(kb, write_csv("d.csv", LONG), "distances").inserted == 2  # x, y, z all known


def test_distance_reimport_updates(kb, write_csv):
    import_table(kb, write_csv("d.csv", LONG), "distances", add_datasets=True)
    summary = import_table(kb, write_csv("d2.csv", "dataset_a,dataset_b,metric,value\ny,x,fd,3"), "distances")
    assert (summary.updated, summary.inserted) == (1, 0)
    assert export_frame(kb, "distances")["value"].tolist() == [3.0, 2.0]


# ------------------------------------------------------------------ bad input
BAD_RESULTS = [
    ("model,dataset,metric\na,x,accuracy", r"r\.csv, line 1: missing column 'value'.*model, dataset, metric, value"),
    ("model,dataset,metric,value\na,x,accuracy,0.5\nb,x,accuracy,", r"r\.csv, line 3, column 'value': missing value"),
    ("model,dataset,metric,value\na,x,accuracy,NaN", r"r\.csv, line 2, column 'value': missing value"),
    ("model,dataset,metric,value\n\na,x,accuracy,abc", r"r\.csv, line 3, column 'value': 'abc' is not a finite number"),
    ("model,dataset,metric,value\na,x,accuracy,inf", r"r\.csv, line 2, column 'value': 'inf' is not a finite number"),
    ("model,dataset,metric,value\na,x,accuracy,1\na,x,bleu,1",
     r"r\.csv, line 3, column 'metric': unknown metric 'bleu'.*mnc kb metric add bleu --higher-is-better"),
    ("model,dataset,metric,value\n,x,accuracy,1", r"r\.csv, line 2, column 'model': empty name"),
    ("model,dataset,metric,value\na,x,accuracy,1,2", r"r\.csv, line 2: 5 cells where the header has 4"),
    ("model,dataset,metric,value,value\na,x,accuracy,1,2", r"r\.csv, line 1, column 'value': duplicate column"),
    ("model,,metric,value\na,x,accuracy,1", r"r\.csv, line 1: column 2 has no name"),
    ("model,dataset,metric,value", r"r\.csv, line 2: no data rows"),
]


@pytest.mark.parametrize(("text", "message"), BAD_RESULTS)
def test_bad_results_files(kb, tmp_path, text, message):
    path = tmp_path / "r.csv"
    path.write_text(text + "\n")
    with pytest.raises(InputError, match=message) as info:
        import_table(kb, path, "results")
    assert "\n" not in str(info.value)
    assert kb.summary()["results"] == {} and kb.models() == []


@pytest.mark.parametrize(("kind", "text", "message", "options"), [
    ("models", "name,params\na,1", r"m\.csv, line 1: missing column 'model'.*model, then one column per feature", {}),
    ("models", "model,params\na,1\nb,2\na,3", r"m\.csv, line 4, column 'model': model 'a' is listed twice "
     r"\(first on line 2\)", {}),
    ("datasets", "dataset,n\n,1", r"m\.csv, line 2, column 'dataset': empty name", {}),
    ("distances", "dataset_a,dataset_b,metric,value,note\nx,y,fd,1,hi",
     r"m\.csv, line 1, column 'note': unexpected", {}),
    ("distances", "a,b\nx,1", r"m\.csv, line 1: missing column 'dataset_a'.*square matrix imported with --metric", {}),
    ("distances", "dataset_a,dataset_b,metric,value\nx,y,fd,1\nx,w,fd,2",
     r"m\.csv, line 3, column 'dataset_b': unknown dataset 'w'.*--add-datasets", {}),
    ("distances", "dataset_a,dataset_b,metric,value\nx,y,fd,1\ny,x,fd,2",
     r"m\.csv, line 3, column 'value': distance 'fd' between 'y' and 'x' is 2.0 here but 1.0 on line 2", {}),
    ("distances", ",x,y\nx,0,1\ny,2,0", r"m\.csv, line 3, column 'x': .* is 2.0 here but 1.0 on line 2, column 'y'",
     {"metric": "fd"}),
    ("distances", ",x,y\nx,0,1\nz,1,0", r"m\.csv, line 3, column 1: row label 'z' is not a column label",
     {"metric": "fd"}),
    ("distances", ",x,y\nx,0,1", r"m\.csv, line 1, column 'y': column label 'y' has no row", {"metric": "fd"}),
    ("distances", ",x,y\nx,0,far\ny,1,0", r"m\.csv, line 2, column 'y': 'far' is not a finite number",
     {"metric": "fd"}),
    ("distances", "dataset_a,dataset_b,metric,value\nx,y,fd,-inf", r"m\.csv, line 2, column 'value': '-inf'", {}),
])
def test_bad_feature_and_distance_files(kb, tmp_path, write_csv, kind, text, message, options):
    import_table(kb, write_csv("r.csv", RESULTS), "results")
    path = tmp_path / "m.csv"
    path.write_text(text + "\n")
    before = kb.summary()
    with pytest.raises(InputError, match=message):
        import_table(kb, path, kind, **options)
    assert kb.summary() == before


def test_file_level_errors(kb, tmp_path):
    with pytest.raises(InputError, match=r"missing\.csv: no such file"):
        import_table(kb, tmp_path / "missing.csv", "results")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match=r"empty\.csv, line 1: empty file"):
        import_table(kb, tmp_path / "empty.csv", "results")
    (tmp_path / "r.xlsx").write_text("x")
    with pytest.raises(InputError, match=r"r\.xlsx: unsupported file type"):
        import_table(kb, tmp_path / "r.xlsx", "results")
    (tmp_path / "bad.csv").write_bytes(b"model,dataset\n\xff\xfe,x\n")
    with pytest.raises(InputError, match=r"bad\.csv, line 2: byte 0xff is not UTF-8"):
        import_table(kb, tmp_path / "bad.csv", "results")


def test_option_errors(kb, tmp_path):
    path = tmp_path / "r.csv"
    with pytest.raises(InputError, match="'kind' parameter of import_table must be one of"):
        import_table(kb, path, "result")
    with pytest.raises(InputError, match="applies to results and prescores only"):
        import_table(kb, path, "models", higher_is_better=True)
    with pytest.raises(InputError, match="--metric .* applies to distances only"):
        import_table(kb, path, "results", metric="fd")


def test_parquet_errors_name_the_row(kb, tmp_path):
    frame = pd.DataFrame({"model": ["a", "b"], "dataset": "x", "metric": "fid", "value": [1.0, np.nan]})
    frame.to_parquet(tmp_path / "r.parquet")
    with pytest.raises(InputError, match=r"r\.parquet, row 2, column 'value': missing value"):
        import_table(kb, tmp_path / "r.parquet", "results")


# ------------------------------------------------------------------ transactions
def test_bad_50th_row_stores_nothing(kb, tmp_path):
    lines = ["model,dataset,metric,value"] + [f"m{i},d{i % 3},accuracy,0.{i:02d}" for i in range(60)]
    lines[50] = "m49,d1,accuracy,oops"  # the 50th data row: line 51 of the file
    path = tmp_path / "r.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"r\.csv, line 51, column 'value': 'oops'"):
        import_table(kb, path, "results")
    assert kb.summary()["results"] == {} and kb.models() == [] and kb.datasets() == []


def test_bad_50th_distance_stores_nothing(kb, tmp_path):
    lines = ["dataset_a,dataset_b,metric,value"] + [f"d{i},d{i + 1},fd,{i}" for i in range(60)]
    lines[50] = "d49,unknown,fd,1"
    path = tmp_path / "d.csv"
    path.write_text("\n".join(lines) + "\n")
    known = pd.DataFrame({"dataset": [f"d{i}" for i in range(61)], "n": 1})
    import_frame(kb, known, "datasets")
    with pytest.raises(InputError, match=r"d\.csv, line 51, column 'dataset_b': unknown dataset 'unknown'"):
        import_table(kb, path, "distances")
    assert kb.summary()["distances"] == {} and len(kb.datasets()) == 61


def test_failure_mid_write_rolls_back(kb, write_csv, monkeypatch):
    from matchchoose.kb import _store

    calls = []
    original = _store._result_hash

    def flaky(*args):
        calls.append(args)
        if len(calls) == 4:
            raise RuntimeError("disk on fire")
        return original(*args)

    monkeypatch.setattr(_store, "_result_hash", flaky)
    with pytest.raises(RuntimeError, match="disk on fire"):
        import_table(kb, write_csv("r.csv", RESULTS), "results")
    assert kb.summary()["results"] == {} and kb.models() == []


# ------------------------------------------------------------------ export
@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_export_round_trips(kb, write_csv, tmp_path, suffix):
    import_table(kb, write_csv("r.csv", RESULTS), "results")
    import_table(kb, write_csv("m.csv", "model,params,family\na,10,vit\nb,,cnn"), "models")
    import_table(kb, write_csv("d.csv", LONG), "distances", add_datasets=True)
    for kind in ("results", "models", "distances"):
        out = tmp_path / f"out-{kind}{suffix}"
        assert export_table(kb, out, kind) > 0
        summary = import_table(kb, out, kind)
        assert (summary.inserted, summary.updated) == (0, 0), kind
        fresh = KnowledgeBase(":memory:")
        if kind == "distances":
            import_table(fresh, out, kind, add_datasets=True)
        else:
            import_table(fresh, out, kind)
        pd.testing.assert_frame_equal(export_frame(fresh, kind), export_frame(kb, kind), check_dtype=False)
