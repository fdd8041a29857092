"""``mnc zoo``: list, show, add, features, importance; offline; errors are one line with exit code 2."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import click
import numpy as np
import pandas as pd
import pytest

from matchchoose.cli import main
from matchchoose.cli._zoo import zoo as zoo_group
from matchchoose.features import default_zoo_dir
from matchchoose.kb import KnowledgeBase, import_frame


def test_list_and_show(mnc):
    code, out, _ = mnc("zoo", "list")
    assert code == 0 and "Model zoo (19 models)" in out
    assert "sana1.5-4.8b" in out and "360.60" in out and "table2" in out
    code, out, _ = mnc("zoo", "show", "pixart-sigma-512")
    assert code == 0
    assert "PixArt-alpha/PixArt-Sigma-XL-2-512-MS" in out and "reconstructed" in out
    assert "transformer_class_name" in out and "PixArtTransformer2DModel" in out
    code, out, _ = mnc("zoo", "show", "sd15", "--raw")
    assert code == 0 and json.loads(out)["model_index"]["_class_name"] == "StableDiffusionPipeline"


def test_features_json_offline_without_torch():
    """A fresh process with torch, diffusers and the network unavailable still computes the features."""
    script = (
        "import sys; sys.modules.update(torch=None, diffusers=None, transformers=None, huggingface_hub=None)\n"
        "from matchchoose.cli import main\n"
        "main(['zoo', 'features', '--models', 'paper', '--json'])\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MNC_KB": os.devnull + ".missing"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["summary"]["hyperparameters_kept"] == 78 and payload["summary"]["dimensions"] == 167
    assert payload["models"][0] == "flux1-dev" and len(payload["features"]["sd15"]) == 167
    assert payload["hyperparameters"]["unet_mid_block_type=UNetMidBlock2DCrossAttn"] == "unet_mid_block_type"


def test_features_table_csv_and_store(mnc, tmp_path):
    kb = tmp_path / "kb.sqlite"
    code, out, err = mnc("zoo", "features", "--models", "paper", "--store", "--csv", tmp_path / "f.csv",
                         "--kb", kb)
    assert code == 0
    assert "10 models: 383 hyperparameters, 78 differ (57 numeric, 21 categorical) -> 167 dimensions" in out
    assert "unet_mid_block_type" in out and "Stored 1670 values" in err
    assert pd.read_csv(tmp_path / "f.csv", index_col="model").shape == (10, 167)
    assert len(KnowledgeBase(kb).zoo_feature_columns()) == 167


def test_add_folder_then_list(mnc, tmp_path):
    folder = tmp_path / "my-sd"
    shutil.copytree(default_zoo_dir() / "sd15", folder)
    kb = tmp_path / "kb.sqlite"
    code, out, _ = mnc("zoo", "add", folder, "--no-size", "--kb", kb)
    assert code == 0, out
    assert "Added my-sd (unet, size not counted)" in out and "20 models" in out
    code, out, _ = mnc("zoo", "list", "--kb", kb)
    assert code == 0 and "my-sd" in out and "Model zoo (20 models)" in out
    code, out, _ = mnc("zoo", "show", "my-sd", "--kb", kb)
    assert code == 0 and "from kb" in out


def test_add_errors_are_one_line(mnc, tmp_path, monkeypatch, one_line_error):
    kb = tmp_path / "kb.sqlite"
    code, _, err = mnc("zoo", "add", tmp_path / "nowhere", "--kb", kb)
    one_line_error(code, err, "nowhere", "not a folder")
    bad = tmp_path / "bad"
    (bad / "unet").mkdir(parents=True)
    (bad / "model_index.json").write_text('{"_class_name": "P", "unet": ["diffusers", "UNet2DConditionModel"]}')
    (bad / "unet" / "config.json").write_text("{not json")
    code, _, err = mnc("zoo", "add", bad, "--kb", kb)
    one_line_error(code, err, "bad/unet/config.json: malformed JSON")
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = mnc("zoo", "add", "someone/some-pipeline", "--kb", kb)
    one_line_error(code, err, "hf://someone/some-pipeline", "offline", "pass a local diffusers folder")
    code, _, err = mnc("zoo", "show", "nope")
    one_line_error(code, err, "Model 'nope' is not in the zoo")
    assert not kb.exists()  # the failed adds created nothing


def test_importance_table_and_png(mnc, tmp_path, one_line_error):
    kb_path = tmp_path / "kb.sqlite"
    rng = np.random.default_rng(0)
    models = ["sd15", "sdxl-base", "segmind-vega", "pixart-sigma-512", "flux1-dev"]
    rows = [(m, f"d{d}", "clip_fid", float(10 + i + rng.normal(scale=0.3))) for d in range(4)
            for i, m in enumerate(models)]
    with KnowledgeBase(kb_path) as kb:
        import_frame(kb, pd.DataFrame(rows, columns=["model", "dataset", "metric", "value"]), "results")
    code, _, _ = mnc("zoo", "features", "--models", "paper", "--store", "--kb", kb_path)
    assert code == 0
    png = tmp_path / "imp.png"
    code, out, err = mnc("zoo", "importance", "--kb", kb_path, "--metric", "clip_fid", "--top", "5",
                         "--png", png)
    assert code == 0, err
    assert "Feature importance: random_forest on clip_fid" in out and "Remaining" in out
    assert png.stat().st_size > 10_000
    code, _, err = mnc("zoo", "importance", "--kb", kb_path, "--metric", "clip_fid", "--predictor", "mlp")
    one_line_error(code, err, "has no feature importances")


def test_every_command_has_an_example(mnc):
    for name, command in zoo_group.commands.items():
        code, out, _ = mnc("zoo", name, "--help")
        assert code == 0 and "Example: mnc zoo" in out, name
    assert isinstance(zoo_group, click.Group)
