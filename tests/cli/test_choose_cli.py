"""mnc profile and mnc choose: tables, JSON, reuse, and one-line errors."""

from __future__ import annotations

import json
import sqlite3


def test_profile_then_choose(color_zoo, mnc, tmp_path):
    root, folders, results = color_zoo
    kb = tmp_path / "kb.sqlite"
    assert mnc("kb", "import", results, "--kind", "results", "--kb", kb)[0] == 0
    for name in ["red", "green", "blue", "yellow"]:
        code, out, err = mnc("profile", folders[name], "--probe", "pixels", "--kb", kb)
        assert code == 0, err
    assert "10 items" in out and "3 distance(s) (frechet:pixels)" in out
    code, out, _ = mnc("profile", folders["red"], "--probe", "pixels", "--kb", kb, "--json", tmp_path / "p.json")
    assert "reused" in out and json.loads((tmp_path / "p.json").read_text())["reused"] is True

    code, out, err = mnc("choose", folders["orange"], "--kb", kb, "--top", "2", "--json", tmp_path / "c.json")
    assert code == 0, err
    assert "Shortlist:" in out and "Nearest known datasets" in out
    payload = json.loads((tmp_path / "c.json").read_text())
    assert len(payload["ranking"]) == 4 and len(payload["shortlist"]) == 2
    code, out, err = mnc("choose", "--dataset", "blue", "--kb", kb)
    assert code == 0, err
    assert "true rank" in out and "left out of training" in out


def test_choose_errors_are_one_line(mnc, tmp_path, color_zoo):
    _, folders, _ = color_zoo
    code, _, err = mnc("choose", folders["red"], "--kb", tmp_path / "none.sqlite")
    assert code == 2 and "No knowledge base at" in err and "Traceback" not in err
    code, _, err = mnc("choose", "--kb", tmp_path / "none.sqlite")
    assert code == 2 and "FOLDER" in err
    code, _, err = mnc("profile", folders["red"], "--probe", "nope", "--kb", tmp_path / "kb.sqlite")
    assert code == 2 and "Unknown probe 'nope'" in err


def test_kb_info_counts_profiles(color_zoo, mnc, tmp_path):
    _, folders, results = color_zoo
    kb = tmp_path / "kb.sqlite"
    mnc("kb", "import", results, "--kind", "results", "--kb", kb)
    mnc("profile", folders["red"], "--probe", "pixels", "--kb", kb)
    code, out, _ = mnc("kb", "info", "--kb", kb)
    assert code == 0 and "profiles (probe)" in out and "pixels" in out


def _ranked_kb(color_zoo, mnc, kb):
    _, folders, results = color_zoo
    assert mnc("kb", "import", results, "--kind", "results", "--kb", kb)[0] == 0
    for name in ["red", "green", "blue", "yellow"]:
        assert mnc("profile", folders[name], "--probe", "pixels", "--kb", kb)[0] == 0
    return folders


def test_choose_without_kb_uses_the_embedded_one(color_zoo, mnc, tmp_path, monkeypatch):
    from matchchoose.kb import _embedded

    shipped = tmp_path / "shipped.sqlite"
    folders = _ranked_kb(color_zoo, mnc, shipped)
    with sqlite3.connect(shipped) as conn:  # a shipped file is one self-contained file (no -wal beside it)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    monkeypatch.setattr(_embedded, "embedded_kb_file", lambda: shipped)
    monkeypatch.delenv("MNC_KB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "empty-data-home"))
    before = shipped.read_bytes()
    code, out, err = mnc("choose", folders["orange"])
    assert code == 0, err
    assert "embedded micro-zoo knowledge base" in err and "Shortlist:" in out
    assert shipped.read_bytes() == before  # the new folder's profile went to the working copy
    monkeypatch.setenv("MNC_KB", str(tmp_path / "mine.sqlite"))  # an explicit choice is never replaced
    code, _, err = mnc("choose", folders["orange"])
    assert code == 2 and "No knowledge base at" in err


def test_choose_shows_given_truth_beside_the_ranking(color_zoo, mnc, tmp_path):
    kb = tmp_path / "kb.sqlite"
    folders = _ranked_kb(color_zoo, mnc, kb)
    truth = tmp_path / "truth.csv"
    truth.write_text("model,clip_fid\nm0,5.0\nm1,2.0\nm2,9.0\nm3,3.0\n")
    code, out, err = mnc("choose", folders["orange"], "--kb", kb, "--truth", truth, "--json", tmp_path / "c.json")
    assert code == 0, err
    assert "given by --truth" in out and "the best is m1" in out
    ranking = json.loads((tmp_path / "c.json").read_text())["ranking"]
    assert {r["model"]: r["true_rank"] for r in ranking} == {"m0": 3, "m1": 1, "m2": 4, "m3": 2}
    bad = tmp_path / "bad.csv"
    bad.write_text("model,clip_fid\nm0,5.0\nzz,1.0\n")
    code, _, err = mnc("choose", folders["orange"], "--kb", kb, "--truth", bad)
    assert code == 2 and "zz" in err and "Traceback" not in err
    bad.write_text("name,clip_fid\nm0,5.0\n")
    code, _, err = mnc("choose", folders["orange"], "--kb", kb, "--truth", bad)
    assert code == 2 and "no 'model' column" in err


def test_kb_embedded_names_the_embedded_kb_explicitly(color_zoo, mnc, tmp_path, monkeypatch):
    from matchchoose.kb import _embedded

    shipped = tmp_path / "shipped.sqlite"
    _ranked_kb(color_zoo, mnc, shipped)
    with sqlite3.connect(shipped) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    monkeypatch.setattr(_embedded, "embedded_kb_file", lambda: shipped)
    monkeypatch.setenv("MNC_KB", str(tmp_path / "mine.sqlite"))  # ignored: the flag says which
    code, out, err = mnc("kb", "info", "--kb", ":embedded:")
    assert code == 0, err
    assert "profiles" in out and str(tmp_path / "mine.sqlite") not in out
