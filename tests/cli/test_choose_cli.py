"""mnc profile and mnc choose: tables, JSON, reuse, and one-line errors."""

from __future__ import annotations

import json


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
