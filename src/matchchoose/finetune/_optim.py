"""Optimizers: standard AdamW, and the low-memory AdamW fused into back-propagation (arXiv 2309.12381).

Standard mode keeps float32 trainable weights (the master copy) and steps once per batch with
:class:`torch.optim.AdamW` after clipping the global gradient norm.

Low-memory mode (:class:`FusedAdamW`) follows 2309.12381: the trainable weights live in bfloat16
with **no float32 master copy**, and the optimizer step runs **during the backward pass**, one
parameter at a time, from a ``register_post_accumulate_grad_hook``: as soon as a parameter's
gradient is complete, AdamW updates it and the gradient is freed, so the gradients of the whole
model never exist at once. The moments are kept in bfloat16 too; the update of one parameter is
computed in float32 (a temporary the size of that parameter) and written back with **stochastic
rounding**, so that updates far below bfloat16's resolution (1e-5 on weights of order 1) still
move the weights in expectation rather than being rounded away. Rounding noise is drawn from a
generator seeded by (seed, step, parameter), so a run is reproducible and resumable exactly.

Global-norm clipping needs every gradient at once, which fusing avoids; in low-memory mode
``max_grad_norm`` clips each parameter's gradient norm instead.
"""

from __future__ import annotations

import math

import torch

__all__ = ["FusedAdamW", "stochastic_round_", "lr_at"]


def lr_at(recipe, step: int) -> float:
    """Learning rate at optimizer step ``step`` (0-based): linear warm-up, then constant."""
    if recipe.lr_warmup_steps and step < recipe.lr_warmup_steps:
        return recipe.learning_rate * (step + 1) / recipe.lr_warmup_steps
    return recipe.learning_rate


def stochastic_round_(target: torch.Tensor, value: torch.Tensor, generator: torch.Generator):
    """Write float32 ``value`` into bfloat16 ``target``, rounding stochastically (unbiased).

    A random 16-bit integer is added to the float32 bit pattern and the low 16 bits are cut: the
    result rounds up with probability equal to the discarded fraction.
    """
    bits = value.contiguous().view(torch.int32)
    noise = torch.randint(0, 1 << 16, bits.shape, generator=generator, device=bits.device, dtype=torch.int32)
    rounded = (bits + noise) & -65536  # 0xFFFF0000 as a signed int32
    finite = torch.isfinite(value)
    result = torch.where(finite, rounded.view(torch.float32), value)
    target.copy_(result.to(target.dtype))


class FusedAdamW:
    """AdamW fused into back-propagation for half-precision weights without a master copy.

    Parameters
    ----------
    named_params : dict
        ``{name: parameter}``; parameters should be bfloat16 (any float dtype works).
    recipe : Recipe
        Learning rate (and warm-up), betas, epsilon, weight decay, ``max_grad_norm``, seed.

    Notes
    -----
    Call :meth:`begin_step` before the backward passes of an optimizer step with ``last`` set on the
    final micro-batch: the hooks step the parameters only then (earlier micro-batches just
    accumulate gradients into ``.grad``).
    """

    def __init__(self, named_params: dict, recipe):
        self.params = dict(named_params)
        self.recipe = recipe
        self.state = {name: {"exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
                      for name, p in self.params.items()}
        self.steps_done = 0
        self._index = {id(p): (i, name) for i, (name, p) in enumerate(self.params.items())}
        self._armed = False
        self._step = 0
        self.handles = [p.register_post_accumulate_grad_hook(self._hook) for p in self.params.values()]

    def begin_step(self, step: int, *, last: bool):
        """Arm (``last=True``) or disarm the hooks for the coming backward pass of step ``step``."""
        self._armed = last
        self._step = step
        self.stepped = 0

    @torch.no_grad()
    def _hook(self, p: torch.Tensor):
        if not self._armed or p.grad is None:
            return
        i, name = self._index[id(p)]
        r = self.recipe
        t = self._step + 1
        lr = lr_at(r, self._step)
        grad = p.grad.float()
        p.grad = None  # the gradient is freed as soon as it is used
        if r.max_grad_norm:
            norm = torch.linalg.vector_norm(grad)
            grad.mul_(torch.clamp(r.max_grad_norm / (norm + 1e-6), max=1.0))
        state = self.state[name]
        m = state["exp_avg"].float().mul_(r.adam_beta1).add_(grad, alpha=1 - r.adam_beta1)
        v = state["exp_avg_sq"].float().mul_(r.adam_beta2).addcmul_(grad, grad, value=1 - r.adam_beta2)
        del grad
        gen = torch.Generator(device=p.device)
        gen.manual_seed((r.seed * 1_000_003 + t * 7919 + i) % (2 ** 63))
        stochastic_round_(state["exp_avg"], m, gen) if state["exp_avg"].dtype == torch.bfloat16 else \
            state["exp_avg"].copy_(m)
        state["exp_avg_sq"].copy_(v.to(state["exp_avg_sq"].dtype))
        bias1 = 1 - r.adam_beta1 ** t
        bias2 = 1 - r.adam_beta2 ** t
        denom = v.sqrt().div_(math.sqrt(bias2)).add_(r.adam_epsilon)  # v may be the state itself (float32)
        new = p.float()
        new.mul_(1 - lr * r.weight_decay).addcdiv_(m, denom, value=-lr / bias1)
        if p.dtype == torch.bfloat16:
            stochastic_round_(p, new, gen)
        else:
            p.copy_(new)
        self.stepped += 1

    def finish_step(self):
        """Count the step; parameters whose gradient never arrived (unused) are left as they are."""
        self.steps_done += 1

    def state_dict(self) -> dict:
        """Moments by parameter name and the number of steps done (for checkpoints)."""
        return {"steps_done": self.steps_done,
                "state": {name: {k: v.detach().cpu() for k, v in s.items()} for name, s in self.state.items()}}

    def load_state_dict(self, data: dict):
        self.steps_done = int(data["steps_done"])
        for name, s in data["state"].items():
            for k, v in s.items():
                self.state[name][k].copy_(v)

    def remove(self):
        for h in self.handles:
            h.remove()
        self.handles = []
