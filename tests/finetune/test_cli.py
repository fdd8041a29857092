"""``mnc finetune``: flags, recipe files, resume by default, one-line errors."""

from __future__ import annotations

import json

import pytest

from matchchoose.cli import cli
from matchchoose.cli._finetune import finetune as finetune_command
from matchchoose.features import default_zoo_dir
from matchchoose.finetune import Recipe


def test_finetune_is_registered():
    assert cli.commands["finetune"] is finetune_command


def test_train_then_resume_with_the_checkpoints_recipe(mnc, tiny, images, tmp_path, one_line_error):
    out = tmp_path / "run"
    code, stdout, err = mnc("finetune", "--model", tiny("sd"), "--dataset", images, "--out", out,
                            "--steps", 2, "--batch-size", 2, "--lr", 1e-3, "--resolution", 16, "--rank", 2,
                            "--checkpoint-every", 1, "--quiet", "--random-flip")
    assert code == 0, err
    assert "for 2 steps" in stdout and "adapter:" in stdout
    run = json.loads((out / "adapter" / "run.json").read_text())
    assert run["recipe"]["lora_rank"] == 2 and run["recipe"]["random_flip"] is True
    code, stdout, err = mnc("finetune", "--model", tiny("sd"), "--dataset", images, "--out", out,
                            "--steps", 3, "--quiet")
    assert code == 0, err
    assert "resumed from step 2" in stdout and "recipe: checkpoint" in stdout
    assert json.loads((out / "adapter" / "run.json").read_text())["recipe"]["lora_rank"] == 2
    code, _, err = mnc("finetune", "--model", tiny("sd"), "--dataset", images, "--out", out, "--no-resume",
                       "--steps", 4, "--quiet")
    one_line_error(code, err, "already has checkpoints")


def test_recipe_file_and_save_recipe(mnc, tiny, images, tmp_path):
    path = tmp_path / "r.toml"
    Recipe(steps=9, learning_rate=3e-4, method="adapter").save(path)
    code, _, err = mnc("finetune", "--model", tiny("sd"), "--dataset", images, "--out", tmp_path / "o",
                       "--recipe", path, "--steps", 5, "--lora-targets", "to_q,to_v", "--save-recipe",
                       tmp_path / "eff.json")
    assert code == 0, err
    saved = Recipe.load(tmp_path / "eff.json")
    assert (saved.steps, saved.learning_rate, saved.method, saved.lora_targets) == (5, 3e-4, "adapter",
                                                                                    ("to_q", "to_v"))


@pytest.mark.parametrize("text,fragments", [
    ("steps = 3\nlearning_rat = 1e-4\n", ["bad.toml", "unknown recipe key 'learning_rat'"]),
    ("steps = 0\n", ["bad.toml", "'steps' must be an integer >= 1"]),
])
def test_recipe_file_errors_are_one_line(mnc, tiny, images, tmp_path, text, fragments, one_line_error):
    (tmp_path / "bad.toml").write_text(text)
    code, _, err = mnc("finetune", "--model", tiny("sd"), "--dataset", images, "--out", tmp_path / "o",
                       "--recipe", tmp_path / "bad.toml")
    one_line_error(code, err, *fragments)


def test_unknown_family_and_bad_flag_values(mnc, images, tmp_path, tiny, one_line_error):
    code, _, err = mnc("finetune", "--model", default_zoo_dir() / "kolors", "--dataset", images, "--out",
                       tmp_path / "o")
    one_line_error(code, err, "'KolorsPipeline' is not supported", "sd (StableDiffusionPipeline)", "sana")
    code, _, err = mnc("finetune", "--model", tiny("sd"), "--dataset", images, "--out", tmp_path / "o",
                       "--gradient-accumulation", 3)
    one_line_error(code, err, "'gradient_accumulation' must be a divisor of batch_size (8)")
