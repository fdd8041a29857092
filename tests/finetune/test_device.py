"""The accelerator-facing parts of training and sampling, checked on the CPU: attention backend choice,
precision per family, resuming with another number of GPUs, deferred loss checks, deterministic mode."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from torch.nn.attention import SDPBackend

from matchchoose.finetune import Recipe, finetune
from matchchoose.finetune import _device, _train
from matchchoose.finetune._device import (attention_backends, deterministic_algorithms, keep_safe_in_fp16,
                                          native_precision)
from matchchoose.finetune._train import TrainingError


def _weights(result):
    return load_file(str(result.adapter_dir / "adapter_model.safetensors"))


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- attention backends
@pytest.mark.parametrize(("device", "family", "training", "expected"), [
    ("cuda", "flux", True, ["FLASH_ATTENTION", "EFFICIENT_ATTENTION", "MATH"]),
    ("cuda", "sana", True, ["FLASH_ATTENTION", "EFFICIENT_ATTENTION", "MATH"]),
    ("cuda", "sd", True, None),  # the UNets train fine with cuDNN attention, 7-13 % faster
    ("cuda", "flux", False, None),  # the crash was in the backward pass
    ("cpu", "flux", True, None),
])
def test_attention_backends_exclude_cudnn_only_where_needed(device, family, training, expected):
    backends = attention_backends(device, family, training=training)
    assert (None if backends is None else [b.name for b in backends]) == expected


def test_trainer_runs_its_steps_under_the_chosen_backends(tiny, images, recipe, tmp_path, monkeypatch):
    # cuDNN attention does not exist on the CPU: if the trainer applies the choice, the step must fail.
    monkeypatch.setattr(_train, "attention_backends", lambda *a, **k: [SDPBackend.CUDNN_ATTENTION])
    with pytest.raises(RuntimeError, match="No viable backend for scaled_dot_product_attention"):
        finetune(tiny("flux"), images, tmp_path / "run", recipe("flux"), progress=False, device="cpu")


def test_run_json_records_precision_and_backends(tiny, images, recipe, tmp_path):
    run = finetune(tiny("sd"), images, tmp_path / "run", recipe("sd"), progress=False, device="cpu").run
    assert (run["precision"], run["attention_backends"]) == ("float32", "pytorch default")


# ----------------------------------------------------------------------------- precision
@pytest.mark.parametrize(("family", "device", "low_memory", "expected"), [
    ("flux", "cuda", False, "bf16"), ("sd3", "cuda", False, "bf16"), ("pixart", "cuda", False, "bf16"),
    ("sana", "cuda", False, "bf16"), ("sd", "cuda", False, "fp16"), ("sdxl", "cuda", False, "fp16"),
    ("sd", "cuda", True, "bf16"), ("flux", "cpu", False, "no"),
])
def test_auto_precision_is_the_family_native_one_on_cuda(family, device, low_memory, expected):
    r = Recipe(mixed_precision="auto", low_memory=low_memory)
    assert _train._precision(r, family, torch.device(device)) == expected
    assert _train._precision(Recipe(mixed_precision="fp16"), family, torch.device(device)) == "fp16"


def test_auto_precision_on_cpu_is_float32_bit_for_bit(tiny, images, recipe, tmp_path):
    a = finetune(tiny("sd"), images, tmp_path / "a", recipe("sd"), progress=False, device="cpu")
    b = finetune(tiny("sd"), images, tmp_path / "b", recipe("sd", mixed_precision="auto"), progress=False,
                 device="cpu")
    assert _same(_weights(a), _weights(b)) and a.losses == b.losses


@pytest.mark.parametrize(("family", "component"), [("pixart", "text_encoder"), ("sana", "text_encoder"),
                                                   ("sd3", "text_encoder_3"), ("flux", "text_encoder_2")])
def test_fp16_keeps_t5_and_gemma_encoders_out_of_float16(tiny, family, component):
    from matchchoose.finetune.families import family_class

    fam = family_class(family).load(tiny(family), device="cpu", dtype=torch.float16)
    assert getattr(fam.pipe, component).dtype == torch.bfloat16
    assert fam.denoiser.dtype == torch.float16
    assert native_precision(family) == "bf16"


def test_keep_safe_moves_nothing_in_a_clip_only_pipeline(tiny):
    from matchchoose.finetune.families import family_class

    fam = family_class("sd").load(tiny("sd"), device="cpu", dtype=torch.float16)
    assert keep_safe_in_fp16(fam.pipe, "cpu") == []
    assert fam.pipe.text_encoder.dtype == torch.float16


# ----------------------------------------------------------------------------- resume and RNG
def test_rng_state_holds_only_the_training_device():
    assert _train._rng_states(torch.device("cpu"))["cuda"] is None


@pytest.mark.parametrize(("saved", "device", "expected"), [
    (8, "cuda:0", 0), (8, "cuda:3", 3), (1, "cuda:0", 0), (1, "cuda:2", None), (0, "cpu", None),
])
def test_old_checkpoints_with_every_gpu_restore_the_training_one(saved, device, expected, monkeypatch):
    """Older checkpoints saved all visible GPUs: resuming with fewer must not raise IndexError."""
    calls = []
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, dev: calls.append((int(state[0]), dev)))
    states = _train._rng_states(torch.device("cpu"))
    states["cuda"] = [torch.full((4,), i, dtype=torch.uint8) for i in range(saved)]
    _train._set_rng_states(states, torch.device(device))
    assert calls == ([] if expected is None else [(expected, torch.device(device))])


def test_resume_from_a_checkpoint_saved_with_several_gpus(tiny, images, recipe, tmp_path):
    straight = finetune(tiny("sd"), images, tmp_path / "a", recipe("sd", steps=4), progress=False, device="cpu")
    finetune(tiny("sd"), images, tmp_path / "b", recipe("sd", steps=2), progress=False, device="cpu")
    rng = tmp_path / "b" / "checkpoints" / "step-2" / "rng.pt"
    states = torch.load(rng, weights_only=True)
    states["cuda"] = [torch.zeros(16, dtype=torch.uint8)] * 4  # the old format, four GPUs visible
    torch.save(states, rng)
    resumed = finetune(tiny("sd"), images, tmp_path / "b", recipe("sd", steps=4), progress=False, device="cpu")
    assert resumed.resumed_from == 2 and _same(_weights(straight), _weights(resumed))


# ----------------------------------------------------------------------------- deferred loss checks
def test_losses_copied_every_few_steps_are_the_same(tiny, images, recipe, tmp_path, monkeypatch):
    every = finetune(tiny("sd"), images, tmp_path / "a", recipe("sd", steps=5), progress=False, device="cpu")
    monkeypatch.setattr(_train, "_sync_every", lambda device: 3)
    deferred = finetune(tiny("sd"), images, tmp_path / "b", recipe("sd", steps=5), progress=False, device="cpu")
    assert deferred.losses == every.losses and len(deferred.losses) == 5
    assert _same(_weights(every), _weights(deferred))


def test_a_non_finite_loss_is_caught_at_the_next_copy_with_its_step(tiny, images, recipe, tmp_path, monkeypatch):
    from matchchoose.finetune.families import family_class

    cls = family_class("sd")
    real_loss = cls.loss
    calls = []

    def loss(self, *args):
        calls.append(1)
        value = real_loss(self, *args)
        return value * float("nan") if len(calls) == 2 else value

    monkeypatch.setattr(cls, "loss", loss)
    monkeypatch.setattr(_train, "_sync_every", lambda device: 3)
    with pytest.raises(TrainingError, match=r"the loss is nan at step 2; lower the learning rate"):
        finetune(tiny("sd"), images, tmp_path / "run", recipe("sd", steps=4, checkpoint_every=1), progress=False,
                 device="cpu")
    # The checkpoint of step 1 was written; none after the divergence.
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step-1"]


# ----------------------------------------------------------------------------- deterministic
def test_deterministic_recipe_field_keeps_old_recipe_hashes():
    assert "deterministic" not in Recipe().to_dict()
    assert Recipe(deterministic=True).to_dict()["deterministic"] is True
    assert Recipe.from_dict(Recipe(deterministic=True).to_dict()).deterministic
    with pytest.raises(Exception, match="deterministic"):
        Recipe(deterministic="yes")


def test_deterministic_mode_sets_and_restores_the_switches(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    with deterministic_algorithms(True):
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.deterministic
        import os

        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert not torch.are_deterministic_algorithms_enabled()
    assert "CUBLAS_WORKSPACE_CONFIG" not in __import__("os").environ


def test_deterministic_training_on_cpu_is_today_bit_for_bit(tiny, images, recipe, tmp_path):
    plain = finetune(tiny("flux"), images, tmp_path / "a", recipe("flux", steps=2), progress=False, device="cpu")
    det = finetune(tiny("flux"), images, tmp_path / "b", recipe("flux", steps=2, deterministic=True), progress=False,
                   device="cpu")
    assert _same(_weights(plain), _weights(det)) and plain.losses == det.losses
    assert not torch.are_deterministic_algorithms_enabled()


def test_module_docstring_states_the_cost():
    assert "+21 % training" in _device.__doc__ and "+32 % sampling" in _device.__doc__


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("family", ["sd", "flux"])
def test_deterministic_resume_is_exact_on_cuda(family, tiny, images, recipe, tmp_path):
    """On CUDA, 4 steps straight == 2 + resumed 2, bit for bit, with deterministic algorithms."""
    r = recipe(family, steps=4, deterministic=True, mixed_precision="auto", checkpoint_every=2)
    straight = finetune(tiny(family), images, tmp_path / "a", r, progress=False, device="cuda")
    finetune(tiny(family), images, tmp_path / "b", r.replace(steps=2), progress=False, device="cuda")
    resumed = finetune(tiny(family), images, tmp_path / "b", r, progress=False, device="cuda")
    assert _same(_weights(straight), _weights(resumed)) and straight.losses == resumed.losses
