"""benchmarks/gpu_check.py: its CPU mode (--tiny) runs every check end to end; its full-size pipelines
are the shipped configs' structures with matching conditioning widths (built on the meta device)."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")



@pytest.fixture(scope="module")
def gpu_check(load_script):
    return load_script("gpu_check")


def test_tiny_mode_runs_every_check_on_cpu(gpu_check, tmp_path, capsys):
    out = tmp_path / "rows.json"
    code = gpu_check.main(["--tiny", "--device", "cpu", "--families", "sd", "--workdir", str(tmp_path / "w"),
                           "--json", str(out)])
    assert code == 0
    rows = {row["check"]: row for row in json.loads(out.read_text())}
    assert list(rows) == ["sd: build", "sd: LoRA bf16", "sd: LoRA low-memory", "sd: adapter", "sd: LoRA grad-ckpt",
                          "sd: LoRA fp16", "sd: sampling", "sd: determinism", "clip probe", "kid/cmmd 300x16"]
    assert rows["sd: LoRA fp16"]["status"] == "n/a (fp16 needs CUDA)"
    for name, row in rows.items():
        if name != "sd: LoRA fp16":
            assert row["status"] == "ok", row
    assert rows["sd: LoRA bf16"]["precision"] == "bf16" and rows["sd: LoRA bf16"]["attention"] == "pytorch default"
    assert 0 < rows["sd: LoRA bf16"]["data_s_per_step"] < rows["sd: LoRA bf16"]["s_per_step"]
    # On the CPU training is bit-identical with and without deterministic algorithms.
    assert rows["sd: determinism"]["default"] == {"rerun": 0.0, "resume": 0.0}
    assert rows["sd: determinism"]["deterministic"] == {"rerun": 0.0, "resume": 0.0}
    assert rows["clip probe"]["dim"] == 8 and rows["kid/cmmd 300x16"]["cmmd"] > 0
    table = capsys.readouterr().out
    assert table.startswith("| check | status | measured |") and "| sd: sampling | ok |" in table


def test_budget_skips_checks_instead_of_running_late(gpu_check, tmp_path, capsys):
    assert gpu_check.main(["--tiny", "--device", "cpu", "--families", "flux", "--budget", "0",
                           "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| flux: build | skipped (budget) |" in out and "| clip probe | skipped (budget) |" in out


def test_unknown_family_is_refused(gpu_check):
    with pytest.raises(SystemExit, match="unknown sd4"):
        gpu_check.main(["--tiny", "--families", "sd,sd4"])


@pytest.mark.parametrize("family", ["sd", "sdxl", "sd3", "flux", "pixart", "sana"])
def test_full_size_structures_match_the_shipped_configs(gpu_check, family):
    from matchchoose.features import default_zoo_dir, read_pipeline_dir
    from matchchoose.finetune.tiny import TINY_SOURCES

    pipe = gpu_check.full_pipeline(family, "meta")
    shipped = read_pipeline_dir(default_zoo_dir() / TINY_SOURCES[family]).components
    key = "unet" if "unet" in shipped else "transformer"
    denoiser = getattr(pipe, key).config
    for name in ("in_channels", "attention_head_dim", "num_attention_heads", "block_out_channels"):
        if name in shipped[key]:
            expected = shipped[key][name]
            assert list(denoiser[name]) == list(expected) if isinstance(expected, list) else denoiser[name] == expected
    text = [getattr(pipe, k) for k in ("text_encoder", "text_encoder_2", "text_encoder_3") if getattr(pipe, k, None)]
    width = lambda m: getattr(m.config, "d_model", None) or m.config.hidden_size  # noqa: E731
    if family == "sd":
        assert denoiser.cross_attention_dim == width(text[0]) == 768
    elif family == "sdxl":
        assert denoiser.cross_attention_dim == sum(map(width, text)) == 2048
    elif family in ("sd3", "flux"):
        assert denoiser.joint_attention_dim == width(text[-1]) == 4096
        if family == "flux":
            assert (denoiser.num_layers, denoiser.num_single_layers) == (2, 4)
    else:
        assert denoiser.caption_channels == width(text[0])
