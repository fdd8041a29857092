"""Terminal output a person can read at any width: no id or number is cut; list/show commands speak JSON;
warnings are one line; the embedded knowledge base says its models are demonstration models."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from matchchoose.cli._table import Col, print_table

HUB = "black-forest-labs/FLUX.1-dev-with-a-long-suffix"
ROWS = [["flux1-dev", HUB, "paper, reconstructed from the hub's configs", "11.901", "563.25"],
        ["stable-cascade-prior", "stabilityai/stable-cascade-prior", "", "3.589", "1039.10"]]
COLUMNS = [Col("id"), Col("Hugging Face id", drop=1), Col("notes", exact=False, drop=2), Col("params", "right"),
           Col("TFLOP", "right")]


def render(width, monkeypatch) -> tuple[str, list]:
    monkeypatch.setenv("COLUMNS", str(width))
    buf = io.StringIO()
    dropped = print_table(Console(file=buf, width=150), "Zoo", COLUMNS, ROWS, hint="--json")
    return buf.getvalue(), dropped


@pytest.mark.parametrize("width", [40, 80, 300])
def test_ids_and_numbers_are_never_cut(width, monkeypatch):
    text, dropped = render(width, monkeypatch)
    assert "…" not in text
    for cell in ["flux1-dev", "stable-cascade-prior", "11.901", "563.25", "3.589", "1039.10"]:
        assert cell in text
    if "Hugging Face id" not in dropped:
        assert HUB in text


def test_narrow_terminals_drop_low_priority_columns_with_a_note(monkeypatch):
    text, dropped = render(80, monkeypatch)
    # The id (20) and hub id (47) columns and the two numbers do not fit in 80 columns with borders.
    assert dropped == ["Hugging Face id"]
    assert "left out at 80 columns: Hugging Face id" in " ".join(text.split()) and "--json" in text
    assert "notes" in text  # a wrapping column that fits once the wide one is gone comes back
    wide, dropped = render(300, monkeypatch)
    assert dropped == [] and HUB in wide and "left out" not in wide


def test_what_cannot_fit_is_printed_wider_rather_than_cut(monkeypatch):
    text, dropped = render(20, monkeypatch)
    assert dropped == ["Hugging Face id", "notes"]
    assert "stable-cascade-prior" in text and "1039.10" in text
    assert max(len(line) for line in text.splitlines()) > 20


@pytest.mark.parametrize("width", [80, 300])
def test_zoo_list_keeps_ids_whole(width, mnc, monkeypatch):
    from matchchoose.features import zoo_entries

    monkeypatch.setenv("COLUMNS", str(width))
    code, out, err = mnc("zoo", "list")
    assert code == 0, err
    assert "…" not in out
    entries = zoo_entries(None)
    assert all(e.name in out for e in entries)
    if width == 300:
        assert all(e.hf_id in out for e in entries if e.hf_id)
    else:
        assert "Hugging Face id" in " ".join(out.split()) and "mnc zoo list --json" in out


def test_zoo_list_json_carries_full_hub_ids(mnc):
    from matchchoose.features import zoo_entries

    code, out, err = mnc("zoo", "list", "--json")
    assert code == 0, err
    listed = {item["id"]: item for item in json.loads(out)}
    entries = zoo_entries(None)
    assert set(listed) == {e.name for e in entries}
    assert all(listed[e.name]["hf_id"] == e.hf_id and listed[e.name]["num_params"] == e.num_params for e in entries)


def test_show_and_list_commands_speak_json(mnc, tmp_path):
    code, out, err = mnc("zoo", "show", "sdxl-base", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["id"] == "sdxl-base" and shown["hf_id"] == "stabilityai/stable-diffusion-xl-base-1.0"
    assert shown["hyperparameters"]["pipeline_class_name"] == "StableDiffusionXLPipeline"
    kb = tmp_path / "kb.sqlite"
    assert mnc("kb", "metric", "add", "bleu", "--higher-is-better", "--kb", kb)[0] == 0
    code, out, err = mnc("kb", "metric", "list", "--kb", kb, "--json")
    assert code == 0, err
    assert {"name": "bleu", "higher_is_better": True} in [{k: m[k] for k in ("name", "higher_is_better")}
                                                          for m in json.loads(out)]
    code, out, err = mnc("kb", "info", "--kb", kb, "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["models"] == 0 and "bleu" in [m["name"] for m in info["metrics"]]


def test_the_embedded_kb_says_its_models_are_demonstration_models(mnc):
    code, out, err = mnc("kb", "info", "--kb", ":embedded:")
    assert code == 0, err
    line = [text for text in err.splitlines() if "demonstration models" in text]
    assert len(line) == 1 and "mnc grid" in line[0] and "mnc kb import" in line[0]


def test_a_kb_of_ones_own_says_nothing_of_demonstration(mnc, tmp_path):
    assert mnc("kb", "metric", "add", "bleu", "--higher-is-better", "--kb", tmp_path / "kb.sqlite")[0] == 0
    code, _, err = mnc("kb", "info", "--kb", tmp_path / "kb.sqlite")
    assert code == 0 and "demonstration" not in err


def test_version_speaks_json(mnc):
    from importlib.metadata import version

    code, out, err = mnc("version", "--json")
    assert code == 0, err
    assert json.loads(out)["packages"]["matchchoose"] == version("matchchoose")
