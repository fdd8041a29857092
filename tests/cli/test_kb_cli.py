"""``mnc kb``: import, info, metric add/list, export; errors are one line with exit code 2."""

from __future__ import annotations

import click
import pandas as pd
import pytest

from matchchoose.kb import KnowledgeBase, export_frame, latest_version

from matchchoose.cli._kb import kb as kb_group

RESULTS = "model,dataset,metric,value,seed\na,x,accuracy,0.9,0\na,x,accuracy,0.8,1\nb,x,accuracy,0.7,0\n" \
    "b,y,accuracy,0.6,0\n"


@pytest.fixture
def files(tmp_path):
    (tmp_path / "r.csv").write_text(RESULTS)
    (tmp_path / "d.csv").write_text(",x,y\nx,0,1.5\ny,1.5,0\n")
    return tmp_path


def test_import_info_and_reimport(mnc, files):
    kb = files / "kb.sqlite"
    code, out, _ = mnc("kb", "import", files / "r.csv", "--kind", "results", "--kb", kb)
    assert code == 0 and "4 rows read, 4 inserted" in out
    code, out, _ = mnc("kb", "import", files / "r.csv", "--kind", "results", "--kb", kb)
    assert code == 0 and "0 inserted" in out and "4 skipped" in out
    code, out, _ = mnc("kb", "import", files / "d.csv", "--kind", "distances", "--metric", "fd", "--kb", kb)
    assert code == 0 and "1 inserted" in out
    code, out, _ = mnc("kb", "info", "--kb", kb)
    assert code == 0
    assert f"schema version {latest_version()}" in out and "kb.sqlite" in out
    assert "accuracy" in out and "higher is better" in out and "fd" in out
    assert KnowledgeBase(kb).summary()["results"] == {"accuracy": 4}


def test_bad_value_is_one_line_error(mnc, files, one_line_error):
    (files / "bad.csv").write_text("model,dataset,metric,value\na,x,accuracy,0.5\nb,x,accuracy,high\n")
    code, _, err = mnc("kb", "import", files / "bad.csv", "--kind", "results", "--kb", files / "kb.sqlite")
    one_line_error(code, err, "bad.csv", "line 3", "column 'value'", "'high' is not a finite number")


def test_undeclared_metric_then_declare(mnc, files, one_line_error):
    kb = files / "kb.sqlite"
    (files / "bleu.csv").write_text("model,dataset,metric,value\na,x,bleu,30\n")
    code, _, err = mnc("kb", "import", files / "bleu.csv", "--kind", "results", "--kb", kb)
    one_line_error(code, err, "bleu.csv", "line 2", "column 'metric'", "mnc kb metric add bleu")
    code, out, _ = mnc("kb", "metric", "add", "bleu", "--higher-is-better", "--description", "BLEU",
                       "--kb", kb)
    assert code == 0 and "declared: higher is better" in out
    code, out, _ = mnc("kb", "import", files / "bleu.csv", "--kind", "results", "--kb", kb)
    assert code == 0 and "1 inserted" in out
    code, out, _ = mnc("kb", "metric", "list", "--kb", kb)
    assert code == 0 and "bleu" in out and "clip_fid" in out and "lower is better" in out
    code, _, err = mnc("kb", "metric", "add", "bleu", "--lower-is-better", "--kb", kb)
    one_line_error(code, err, "'bleu' is already declared higher-is-better")


def test_import_declares_direction(mnc, files):
    kb = files / "kb.sqlite"
    (files / "w.csv").write_text("model,dataset,metric,value\na,x,wer,0.3\n")
    code, _, _ = mnc("kb", "import", files / "w.csv", "--kind", "results", "--lower-is-better", "--kb", kb)
    assert code == 0
    assert not KnowledgeBase(kb).metric("wer").higher_is_better


def test_metric_add_needs_a_direction(mnc, files):
    code, _, err = mnc("kb", "metric", "add", "bleu", "--kb", files / "kb.sqlite")
    assert code == 2 and "Traceback" not in err and "higher-is-better" in err


def test_export_round_trips(mnc, files):
    kb, copy = files / "kb.sqlite", files / "copy.sqlite"
    mnc("kb", "import", files / "r.csv", "--kind", "results", "--kb", kb)
    code, out, _ = mnc("kb", "export", "--kind", "results", "--out", files / "out.csv", "--kb", kb)
    assert code == 0 and "Wrote 4 results rows" in out
    code, out, _ = mnc("kb", "import", files / "out.csv", "--kind", "results", "--kb", copy)
    assert code == 0 and "4 inserted" in out
    pd.testing.assert_frame_equal(export_frame(KnowledgeBase(copy), "results"),
                                  export_frame(KnowledgeBase(kb), "results"))
    assert pd.read_csv(files / "out.csv").columns.tolist() == ["model", "dataset", "metric", "value", "seed"]


def test_missing_kb_and_missing_file(mnc, files, one_line_error):
    code, _, err = mnc("kb", "info", "--kb", files / "none.sqlite")
    one_line_error(code, err, "No knowledge base at", "none.sqlite")
    code, _, err = mnc("kb", "import", files / "nope.csv", "--kind", "results", "--kb", files / "kb.sqlite")
    one_line_error(code, err, "nope.csv: no such file")


def test_unknown_distance_dataset_mentions_add_datasets(mnc, files, one_line_error):
    kb = files / "kb.sqlite"
    mnc("kb", "import", files / "r.csv", "--kind", "results", "--kb", kb)
    (files / "d2.csv").write_text("dataset_a,dataset_b,metric,value\nx,z,fd,1\n")
    code, _, err = mnc("kb", "import", files / "d2.csv", "--kind", "distances", "--kb", kb)
    one_line_error(code, err, "d2.csv", "line 2", "column 'dataset_b'", "--add-datasets")
    code, _, _ = mnc("kb", "import", files / "d2.csv", "--kind", "distances", "--add-datasets", "--kb", kb)
    assert code == 0


def test_kb_path_from_environment(mnc, files, monkeypatch):
    monkeypatch.setenv("MNC_KB", str(files / "env.sqlite"))
    code, _, _ = mnc("kb", "import", files / "r.csv", "--kind", "results")
    assert code == 0 and (files / "env.sqlite").exists()


def _commands(group, prefix=("kb",)):
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


@pytest.mark.parametrize("path", [("kb",), *_commands(kb_group)], ids=" ".join)
def test_every_command_is_documented(mnc, path):
    code, out, _ = mnc(*path, "--help")
    assert code == 0 and "Example: mnc kb" in out
    if path[-1] not in ("kb", "metric"):
        assert "--kb" in out
