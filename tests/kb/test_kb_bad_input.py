"""Bad input to the knowledge base: one clear line naming the file, line, column or name; nothing stored
changes; a file about to be refused is never written to; a failed first import leaves no file behind."""

from __future__ import annotations

import hashlib
import os
import sqlite3

import pandas as pd
import pytest

from matchchoose import InputError, KnowledgeBaseError
from matchchoose.kb import KnowledgeBase, export_frame, import_frame, import_table

RESULTS = "model,dataset,metric,value\na,x,fid,3.5\nb,x,fid,4.0\na,y,fid,2.0\n"


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def stored(tmp_path):
    """A knowledge base file with three results and its digest before the test."""
    (tmp_path / "ok.csv").write_text(RESULTS)
    path = tmp_path / "kb.sqlite"
    with KnowledgeBase(path) as kb:
        import_table(kb, tmp_path / "ok.csv", "results")
    return path


# ----------------------------------------------------------------- accepted garbage, now refused
@pytest.mark.parametrize(("text", "where", "what"), [
    ("model,dataset,metric,value\na,x,fid,-3\n", "line 2, column 'value'", "-3.0 is negative, but 'fid' is a distance"),
    ("model,dataset,metric,value\na,x,fd_dinov2,1\nb,x,fd_dinov2,-0.5\n", "line 3, column 'value'", "negative"),
    ('model,dataset,metric,value\n"a\x00b",x,fid,3\n', "line 2, column 'model'", "control character '\\x00'"),
    ('model,dataset,metric,value\na,"x\ny",fid,3\n', "line 2, column 'dataset'", "control character '\\n'"),
])
def test_bad_results_rows_are_refused_and_store_nothing(stored, tmp_path, text, where, what):
    (tmp_path / "bad.csv").write_text(text)
    before = export_frame(KnowledgeBase(stored), "results")
    with KnowledgeBase(stored) as kb, pytest.raises(InputError) as info:
        import_table(kb, tmp_path / "bad.csv", "results")
    message = str(info.value)
    assert f"bad.csv, {where}: " in message and what in message and "\n" not in message
    pd.testing.assert_frame_equal(export_frame(KnowledgeBase(stored), "results"), before)


def test_negative_kid_is_kept_it_is_an_unbiased_estimate(kb):
    frame = pd.DataFrame({"model": ["a"], "dataset": ["x"], "metric": ["kid"], "value": [-0.001]})
    assert import_frame(kb, frame, "results").inserted == 1


def test_names_with_control_characters_are_refused_from_frames_too(kb):
    frame = pd.DataFrame({"model": ["ok", "tab\there"], "f": [1.0, 2.0]})
    with pytest.raises(InputError, match=r"<DataFrame>, row 2, column 'model': name 'tab\\there' contains"):
        import_frame(kb, frame, "models")


@pytest.mark.parametrize(("text", "options", "where", "what"), [
    ("dataset_a,dataset_b,metric,value\nx,y,fd,-1\n", {}, "line 2, column 'value'", "distance -1.0 is negative"),
    ("dataset_a,dataset_b,metric,value\nx,y,fd,1\nx,x,fd,0.5\n", {}, "line 3, column 'value'",
     "the distance of 'x' to itself is 0.5: it must be 0"),
    (",x,y\nx,0,2\ny,2,1e-3\n", {"metric": "fd"}, "line 3, column 'y'", "the distance of 'y' to itself is 0.001"),
])
def test_bad_distances_are_refused(stored, tmp_path, text, options, where, what):
    (tmp_path / "bad.csv").write_text(text)
    before = _digest(stored)
    with KnowledgeBase(stored) as kb, pytest.raises(InputError) as info:
        import_table(kb, tmp_path / "bad.csv", "distances", **options)
    assert f"bad.csv, {where}: {what}" in str(info.value)
    assert _digest(stored) == before


def test_zero_or_empty_diagonal_is_fine(stored, tmp_path):
    (tmp_path / "d.csv").write_text(",x,y\nx,0,2\ny,2,\n")
    with KnowledgeBase(stored) as kb:
        summary = import_table(kb, tmp_path / "d.csv", "distances", metric="fd")
        assert (summary.inserted, summary.skipped) == (1, 2)


@pytest.mark.parametrize("cell", ["inf", "-inf", "Infinity"])
def test_infinite_feature_is_refused(stored, tmp_path, cell):
    (tmp_path / "m.csv").write_text(f"model,width\na,3\nb,{cell}\n")
    with KnowledgeBase(stored) as kb, pytest.raises(InputError, match=r"m\.csv, line 3, column 'width': .* not a "
                                                                       "finite number: leave the cell empty"):
        import_table(kb, tmp_path / "m.csv", "models")
    assert export_frame(KnowledgeBase(stored), "models").shape[1] == 1  # no feature column stored


# ----------------------------------------------------------------- vague messages, now precise
def test_non_utf8_csv_names_the_line(kb, tmp_path):
    (tmp_path / "latin.csv").write_bytes(b"model,dataset,metric,value\na,x,fid,1\nb,caf\xe9,fid,2\n")
    with pytest.raises(InputError, match=r"latin\.csv, line 3: byte 0xe9 is not UTF-8: save the file as UTF-8"):
        import_table(kb, tmp_path / "latin.csv", "results")


def test_unterminated_quote_is_named_at_its_line(kb, tmp_path):
    (tmp_path / "q.csv").write_text('model,dataset,metric,value\na,x,fid,1\nb,"y,fid,2\nc,z,fid,3\n')
    with pytest.raises(InputError, match=r'q\.csv, line 3: a quote \(\"\) opens a cell that is never closed'):
        import_table(kb, tmp_path / "q.csv", "results")


# ----------------------------------------------------------------- the file itself
def test_kb_whose_parent_is_a_file(tmp_path, mnc, one_line_error):
    (tmp_path / "ok.csv").write_text(RESULTS)
    (tmp_path / "plain").write_text("not a folder")
    with pytest.raises(KnowledgeBaseError, match=r"plain is a file, not a folder; choose another --kb path"):
        import_table(KnowledgeBase(tmp_path / "plain" / "kb.sqlite"), tmp_path / "ok.csv", "results")
    code, _, err = mnc("kb", "import", tmp_path / "ok.csv", "--kind", "results", "--kb", tmp_path / "plain" / "k")
    one_line_error(code, err, "is a file, not a folder")
    assert (tmp_path / "plain").read_text() == "not a folder"


@pytest.mark.parametrize("version", ["abc", "-1", "0", "1.5"])
def test_damaged_schema_version(stored, version, mnc, one_line_error):
    with sqlite3.connect(stored) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
    conn.close()
    before = _digest(stored)
    with pytest.raises(KnowledgeBaseError, match=rf"schema version '{version}', not a positive integer: the file "
                                                 "is damaged"):
        KnowledgeBase(stored).summary()
    code, _, err = mnc("kb", "info", "--kb", stored)
    one_line_error(code, err, "not a positive integer")
    code, _, err = mnc("kb", "import", stored.parent / "ok.csv", "--kind", "results", "--kb", stored)
    one_line_error(code, err, "not a positive integer")
    assert _digest(stored) == before


def test_foreign_sqlite_file_is_refused_without_being_written(tmp_path, mnc, one_line_error):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.close()
    before = _digest(path)
    (tmp_path / "ok.csv").write_text(RESULTS)
    code, _, err = mnc("kb", "import", tmp_path / "ok.csv", "--kind", "results", "--kb", path)
    one_line_error(code, err, "not a matchchoose knowledge base")
    code, _, err = mnc("kb", "info", "--kb", path)
    one_line_error(code, err, "not a matchchoose knowledge base")
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.csv", "other.db"]  # no -wal, no -shm
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


def test_read_only_kb_can_be_read_and_refuses_writes(stored, tmp_path, monkeypatch, mnc, one_line_error):
    # Tests may run as root, for whom chmod does not bite: make the store see the file as read-only.
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode == os.W_OK and str(p).startswith(
        str(tmp_path)) else real_access(p, mode, **kw))
    before = _digest(stored)
    code, out, err = mnc("kb", "info", "--kb", stored)
    assert code == 0, err
    assert "results" in out
    assert KnowledgeBase(stored).records("fid").utility_matrix().shape == (2, 2)
    code, _, err = mnc("kb", "import", tmp_path / "ok.csv", "--kind", "results", "--kb", stored)
    one_line_error(code, err, "is read-only: make it (and its folder) writable")
    with pytest.raises(KnowledgeBaseError, match="is read-only"):
        KnowledgeBase(stored).declare_metric("bleu", higher_is_better=True)
    assert _digest(stored) == before
    assert not (tmp_path / "kb.sqlite-journal").exists()


def test_failed_first_import_leaves_no_file_or_folder(tmp_path, mnc, one_line_error):
    (tmp_path / "bad.csv").write_text("model,dataset,metric,value\na,x,fid,1\nb,x,fid,oops\n")
    target = tmp_path / "new" / "sub" / "kb.sqlite"
    code, _, err = mnc("kb", "import", tmp_path / "bad.csv", "--kind", "results", "--kb", target)
    one_line_error(code, err, "line 3, column 'value'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]
    code, _, err = mnc("kb", "import", tmp_path / "bad.csv", "--kind", "results", "--kb", tmp_path / "kb.sqlite")
    assert code == 2 and not (tmp_path / "kb.sqlite").exists()


def test_failed_import_into_existing_empty_kb_keeps_it(tmp_path):
    path = tmp_path / "kb.sqlite"
    KnowledgeBase(path).declare_metric("bleu", higher_is_better=True)
    with pytest.raises(InputError):
        import_frame(KnowledgeBase(path), pd.DataFrame({"model": ["a"], "dataset": ["x"], "metric": ["bleu"],
                                                        "value": ["x"]}), "results")
    assert path.exists() and KnowledgeBase(path).metric("bleu").higher_is_better


def test_export_under_a_file_is_one_line(stored, tmp_path, mnc, one_line_error):
    (tmp_path / "plain").write_text("x")
    code, _, err = mnc("kb", "export", "--kind", "results", "--out", tmp_path / "plain" / "r.csv", "--kb", stored)
    one_line_error(code, err, "plain is a file, not a folder: choose another output path")


def test_cli_turns_any_os_error_into_one_line(tmp_path, mnc, monkeypatch, one_line_error):
    import matchchoose.cli._kb as kb_cli

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "r.csv"))

    monkeypatch.setattr(kb_cli, "export_table", full_disk)
    code, _, err = mnc("kb", "export", "--out", tmp_path / "r.csv", "--kb", tmp_path / "missing.sqlite")
    one_line_error(code, err, "No space left on device", "r.csv")
