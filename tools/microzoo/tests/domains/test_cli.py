"""``mnc-microzoo datasets list|build``: tables, one-line errors, exit codes, help texts."""

from __future__ import annotations

import json

import pytest

from matchchoose_microzoo import DOMAINS
from matchchoose_microzoo.domains import _fetch


def test_list_shows_every_domain_with_source_version_licence_availability(mnc_mz, installed):
    installed("mnist_digits")
    code, out, err = mnc_mz("datasets", "list", "--json")
    assert code == 0, err
    rows = {r["domain"]: r for r in json.loads(out)}
    assert set(rows) == set(DOMAINS)
    assert rows["mnist_digits"]["available"] == "cached"
    assert rows["noto_emoji"]["source"] == "deb:fonts-noto-color-emoji"
    assert rows["noto_emoji"]["also"] == ["pip:emoji==2.16.0"]
    assert rows["wesnoth_units"]["version"] == "1:1.16.9-1" and rows["wesnoth_units"]["licence"]
    code, out, _ = mnc_mz("datasets", "list")
    assert code == 0 and "kgeography_maps" in out and "available" in out


def test_build_writes_and_reports(mnc_mz, installed, tmp_path):
    installed("kgeography_maps", "mnist_digits")
    out_dir = tmp_path / "zoo"
    code, out, err = mnc_mz("datasets", "build", "--domains", "kgeography_maps,mnist_digits",
                            "--out", out_dir, "--n", 4, "--size", 16, "--seed", 2, "--quiet")
    assert code == 0, err
    assert "mnist_digits" in out and "built" in out
    assert len(list((out_dir / "mnist_digits" / "images").glob("*.png"))) == 4
    code, out, _ = mnc_mz("datasets", "build", "--domains", "mnist_digits", "--out", out_dir,
                          "--n", 4, "--size", 16, "--seed", 2, "--quiet")
    assert code == 0 and "up to date" in out


def test_unknown_domain_is_a_one_line_error(mnc_mz, tmp_path):
    code, out, err = mnc_mz("datasets", "build", "--domains", "noto_emoji,nope", "--out", tmp_path)
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "Unknown micro-zoo domain 'nope'; known domains: noto_emoji, fluent_emoji_3d" in err


def test_missing_tool_is_a_one_line_error_and_keep_going_exits_1(mnc_mz, installed, tmp_path, monkeypatch):
    installed("mnist_digits")
    monkeypatch.setattr(_fetch, "which", lambda tool: None)
    code, _, err = mnc_mz("datasets", "build", "--domains", "kgeography_flags", "--out", tmp_path,
                          "--quiet")
    assert code == 2 and err.strip().count("\n") == 0
    assert "Domain 'kgeography_flags' needs the Debian package kgeography-data=4:22.12.3-1" in err
    assert "apt-get is not installed" in err
    code, out, err = mnc_mz("datasets", "build", "--domains", "mnist_digits,kgeography_flags",
                            "--out", tmp_path, "--n", 2, "--quiet", "--keep-going")
    assert code == 1 and "1 of 2 domains failed" in err
    assert (tmp_path / "mnist_digits" / "metadata.jsonl").is_file()


@pytest.mark.parametrize("args", [(), ("datasets",), ("datasets", "list"), ("datasets", "build"), ("models",),
                                  ("models", "list"), ("models", "all"), ("build",), ("build", "all"),
                                  ("build", "pack")])
def test_every_command_has_help_with_an_example(mnc_mz, args):
    code, out, _ = mnc_mz(*args, "--help")
    assert code == 0 and "Example: mnc-microzoo" in out
