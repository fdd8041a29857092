"""Recipe: the paper's protocol as defaults, JSON/TOML files, unknown keys and bad values rejected."""

from __future__ import annotations

import json
import sys

import pytest

from matchchoose import InputError
from matchchoose.finetune import Recipe


def test_defaults_are_the_papers_protocol():
    r = Recipe()
    assert (r.method, r.steps, r.batch_size, r.learning_rate, r.resolution) == ("lora", 10000, 8, 1e-5, 512)
    assert (r.adam_beta1, r.adam_beta2, r.weight_decay, r.lora_rank) == (0.9, 0.999, 1e-2, 4)
    assert r.effective_lora_alpha == 4.0 and r.micro_batch_size == 8 and not r.low_memory


def test_import_is_light():
    """Importing the package and reading recipes does not import torch."""
    import subprocess

    code = ("import sys; import matchchoose.finetune as f; f.Recipe().replace(steps=3); "
            "print('torch' in sys.modules, 'diffusers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_save_load_round_trip(tmp_path, suffix):
    r = Recipe(steps=7, lora_targets=("to_q", "to_v"), max_grad_norm=0.0, mixed_precision="bf16", random_flip=True,
               lora_alpha=8)
    path = r.save(tmp_path / f"r{suffix}")
    assert Recipe.load(path) == r
    assert Recipe.load(Recipe().save(tmp_path / f"d{suffix}")) == Recipe()


def test_partial_files_and_toml_table(tmp_path):
    (tmp_path / "a.toml").write_text("[recipe]\nsteps = 20\nlearning_rate = 1e-4\n")
    assert Recipe.load(tmp_path / "a.toml") == Recipe(steps=20, learning_rate=1e-4)
    (tmp_path / "b.json").write_text(json.dumps({"method": "adapter", "lora_targets": ["to_k"], "lora_alpha": 2}))
    r = Recipe.load(tmp_path / "b.json")
    assert r.method == "adapter" and r.lora_targets == ("to_k",) and r.lora_alpha == 2.0


@pytest.mark.parametrize("suffix,text", [(".toml", "steps = 5\nlerning_rate = 0.1\n"),
                                         (".json", '{"steps": 5, "lerning_rate": 0.1}')])
def test_unknown_key_names_file_and_key(tmp_path, suffix, text):
    path = tmp_path / f"recipe{suffix}"
    path.write_text(text)
    with pytest.raises(InputError, match=r"recipe\.(toml|json): unknown recipe key 'lerning_rate'"):
        Recipe.load(path)


@pytest.mark.parametrize("text,match", [
    ('{"steps": 0}', r"'steps' must be an integer >= 1"),
    ('{"method": "dora"}', r"'method' must be one of 'lora', 'adapter'"),
    ('{"batch_size": 8, "gradient_accumulation": 3}', r"'gradient_accumulation' must be a divisor of batch_size"),
    ('{"low_memory": true, "mixed_precision": "fp16"}', r"'mixed_precision'"),
    ('{"center_crop": "yes"}', r"'center_crop' must be true or false"),
    ('{"steps": 5,', r"malformed JSON at line 1"),
    ('[1, 2]', r"expected a table/object"),
])
def test_bad_values_name_the_file(tmp_path, text, match):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(InputError, match=match) as info:
        Recipe.load(path)
    assert "bad.json" in str(info.value) and "\n" not in str(info.value)


def test_file_errors(tmp_path):
    with pytest.raises(InputError, match="no such recipe file"):
        Recipe.load(tmp_path / "missing.toml")
    (tmp_path / "r.yaml").write_text("steps: 3")
    with pytest.raises(InputError, match="use a .json or .toml file"):
        Recipe.load(tmp_path / "r.yaml")
    (tmp_path / "r.toml").write_text("steps = = 3")
    with pytest.raises(InputError, match="malformed TOML"):
        Recipe.load(tmp_path / "r.toml")


def test_replace_validates_and_ignores_none():
    r = Recipe().replace(steps=3, lora_rank=None, lora_targets="to_q, to_k")
    assert r.steps == 3 and r.lora_rank == 4 and r.lora_targets == ("to_q", "to_k")
    with pytest.raises(InputError, match="unknown field 'stepz'"):
        Recipe().replace(stepz=3)
    with pytest.raises(InputError, match="'learning_rate'"):
        Recipe().replace(learning_rate=-1.0)
