"""The low-memory optimizer: AdamW math, compensated (Kahan) summation, fused stepping during backward."""

from __future__ import annotations

import pytest
import torch

from matchchoose.finetune import Recipe
from matchchoose.finetune._optim import FusedAdamW, lr_at


def _constant_gradient_steps(w, n, lr):
    """``n`` fused steps of a loss whose gradient is 1 everywhere (Adam's step is then ``-lr`` each)."""
    fopt = FusedAdamW({"w": w}, Recipe(learning_rate=lr, weight_decay=0.0, max_grad_norm=0.0))
    for step in range(n):
        fopt.begin_step(step, last=True)
        w.sum().backward()
        fopt.finish_step()
    return fopt


def test_kahan_summation_keeps_updates_below_bfloat16_resolution():
    """100 updates of -1e-4 on weights of 1 (bfloat16 spacing below 1 is 2**-8, ~4e-3): plain rounding
    to nearest loses every one of them; compensated summation lands within one bfloat16 step of 0.99,
    and weight + compensation (itself bfloat16) is 0.99 to within one update."""
    w = torch.ones(64, dtype=torch.bfloat16, requires_grad=True)
    fopt = _constant_gradient_steps(w, 100, 1e-4)
    assert set(w.detach().float().unique().tolist()) <= {0.98828125, 0.9921875}  # the bfloat16 neighbours of 0.99
    true = w.detach().float() + fopt.state["w"]["kahan_comp"].float()  # weight + compensation = the exact sum
    assert torch.allclose(true, torch.full((64,), 0.99), atol=1e-4)
    naive = torch.ones(64, dtype=torch.bfloat16)
    for _ in range(100):
        naive = (naive.float() - 1e-4).to(torch.bfloat16)
    assert torch.equal(naive, torch.ones(64, dtype=torch.bfloat16))


def test_kahan_state_survives_a_checkpoint():
    """Stopping after 30 steps and resuming from the state dict gives the weights of 60 straight steps."""
    straight = torch.ones(8, dtype=torch.bfloat16, requires_grad=True)
    _constant_gradient_steps(straight, 60, 3e-4)
    first = torch.ones(8, dtype=torch.bfloat16, requires_grad=True)
    saved = _constant_gradient_steps(first, 30, 3e-4).state_dict()
    resumed = first.detach().clone().requires_grad_(True)
    fopt = FusedAdamW({"w": resumed}, Recipe(learning_rate=3e-4, weight_decay=0.0, max_grad_norm=0.0))
    fopt.load_state_dict(saved)
    for step in range(30, 60):
        fopt.begin_step(step, last=True)
        resumed.sum().backward()
        fopt.finish_step()
    assert torch.equal(resumed, straight) and fopt.steps_done == 60


def _loss(w, x):
    return ((x @ w.t()).tanh() ** 2).mean()


@pytest.mark.parametrize("clip", [0.0, 0.05])
def test_fused_adamw_matches_torch_adamw_in_float32(clip):
    """On float32 weights (no rounding), the fused per-parameter step is torch's AdamW."""
    torch.manual_seed(0)
    w0 = torch.randn(6, 5)
    x = torch.randn(16, 5)
    r = Recipe(learning_rate=1e-2, weight_decay=0.1, max_grad_norm=clip, lr_warmup_steps=2)
    ref = w0.clone().requires_grad_(True)
    opt = torch.optim.AdamW([ref], lr=r.learning_rate, betas=(r.adam_beta1, r.adam_beta2), eps=r.adam_epsilon,
                            weight_decay=r.weight_decay)
    fused = w0.clone().requires_grad_(True)
    fopt = FusedAdamW({"w": fused}, r)
    for step in range(5):
        for group in opt.param_groups:
            group["lr"] = lr_at(r, step)
        _loss(ref, x).backward()
        if clip:
            torch.nn.utils.clip_grad_norm_([ref], clip)
        opt.step()
        opt.zero_grad()
        fopt.begin_step(step, last=True)
        _loss(fused, x).backward()
        assert fused.grad is None and fopt.stepped == 1  # stepped during backward, gradient freed
        fopt.finish_step()
    assert torch.allclose(ref, fused, atol=1e-6)


def test_fused_adamw_accumulates_until_the_last_micro_batch():
    w = torch.zeros(3, 2, dtype=torch.bfloat16, requires_grad=True)
    x = torch.ones(4, 2, dtype=torch.bfloat16)
    fopt = FusedAdamW({"w": w}, Recipe(learning_rate=1e-3))
    fopt.begin_step(0, last=False)
    (x @ w.t() + 1).pow(2).mean().backward()
    assert w.grad is not None and fopt.stepped == 0 and torch.equal(w.detach(), torch.zeros_like(w))
    fopt.begin_step(0, last=True)
    (x @ w.t() + 1).pow(2).mean().backward()
    assert w.grad is None and fopt.stepped == 1 and (w.detach() != 0).all()
    assert fopt.state["w"]["exp_avg"].dtype == torch.bfloat16


def test_checkpoints_of_the_earlier_optimizer_still_load():
    """A low-memory checkpoint written by the earlier optimizer (moments by name, no Kahan buffer, no step count)
    resumes: the moments are restored, the step count follows ``steps_done``, the buffer starts at zero."""
    w = torch.ones(5, dtype=torch.bfloat16, requires_grad=True)
    legacy = {"steps_done": 3, "state": {"w": {"exp_avg": torch.full((5,), 0.5, dtype=torch.bfloat16),
                                               "exp_avg_sq": torch.full((5,), 0.25, dtype=torch.bfloat16)}}}
    fopt = FusedAdamW({"w": w}, Recipe(learning_rate=1e-2, weight_decay=0.0, max_grad_norm=0.0))
    fopt.load_state_dict(legacy)
    state = fopt.state["w"]
    assert int(state["step"]) == 3 and torch.equal(state["kahan_comp"], torch.zeros_like(w))
    assert torch.equal(state["exp_avg"], legacy["state"]["w"]["exp_avg"])
    fopt.begin_step(3, last=True)
    w.sum().backward()
    fopt.finish_step()
    assert int(fopt.state["w"]["step"]) == 4 and fopt.steps_done == 4 and (w.detach() < 1).all()
    again = FusedAdamW({"w": w.detach().clone().requires_grad_(True)}, Recipe())
    again.load_state_dict(fopt.state_dict())
    assert all(torch.equal(again.state["w"][k], fopt.state["w"][k]) for k in ("exp_avg", "exp_avg_sq", "kahan_comp",
                                                                             "step"))
