"""The low-memory optimizer: AdamW math, stochastic rounding, fused stepping during backward."""

from __future__ import annotations

import pytest
import torch

from matchchoose.finetune import Recipe
from matchchoose.finetune._optim import FusedAdamW, lr_at, stochastic_round_


def test_stochastic_rounding_is_unbiased():
    value = torch.full((20000,), 1.0 + 1e-3)  # bfloat16 spacing at 1 is 2**-7: nearest rounding gives 1.0
    target = torch.empty(20000, dtype=torch.bfloat16)
    stochastic_round_(target, value, torch.Generator().manual_seed(0))
    assert set(target.float().unique().tolist()) == {1.0, 1.0078125}
    assert abs(target.float().mean().item() - (1.0 + 1e-3)) < 2e-4
    assert value.to(torch.bfloat16).float().mean().item() == 1.0
    exact = torch.tensor([0.5, -2.0, float("inf")])
    out = torch.empty(3, dtype=torch.bfloat16)
    stochastic_round_(out, exact, torch.Generator().manual_seed(0))
    assert out.float().tolist() == [0.5, -2.0, float("inf")]


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
