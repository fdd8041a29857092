"""Optimizers: standard AdamW, and the low-memory AdamW fused into back-propagation (arXiv 2309.12381).

Standard mode keeps float32 trainable weights (the master copy) and steps once per batch with
:class:`torch.optim.AdamW` after clipping the global gradient norm.

Low-memory mode (:class:`FusedAdamW`) follows 2309.12381: the trainable weights live in bfloat16
with **no float32 master copy**, and the optimizer step runs **during the backward pass**, one
parameter at a time, from a ``register_post_accumulate_grad_hook``: as soon as a parameter's
gradient is complete, AdamW updates it and the gradient is freed, so the gradients of the whole
model never exist at once. The moments are kept in bfloat16 too; the update of one parameter is
computed in float32 (temporaries the size of that parameter) and added with **compensated (Kahan)
summation**: a bfloat16 buffer per parameter keeps what rounding the new weight to bfloat16 lost,
and adds it back at the next step, so updates far below bfloat16's resolution (1e-5 on weights of
order 1, where bfloat16's spacing is 2**-7) accumulate until they move the weight instead of being
rounded away. Unlike the stochastic rounding this replaces, it needs no random numbers (no
generator per parameter and step) and is deterministic, and it takes fewer kernels per step.

Global-norm clipping needs every gradient at once, which fusing avoids; in low-memory mode
``max_grad_norm`` clips each parameter's gradient norm instead.
"""

from __future__ import annotations

import math

import torch

__all__ = ["FusedAdamW", "lr_at"]


def lr_at(recipe, step: int) -> float:
    """Learning rate at optimizer step ``step`` (0-based): linear warm-up, then constant."""
    if recipe.lr_warmup_steps and step < recipe.lr_warmup_steps:
        return recipe.learning_rate * (step + 1) / recipe.lr_warmup_steps
    return recipe.learning_rate


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
        self.state = {}
        for name, p in self.params.items():
            state = {"exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
            if p.dtype in (torch.bfloat16, torch.float16):
                state["kahan"] = torch.zeros_like(p)
            self.state[name] = state
        self.steps_done = 0
        self._index = {id(p): name for name, p in self.params.items()}
        self._armed = False
        self._step = 0
        self.stepped = 0
        self.handles = [p.register_post_accumulate_grad_hook(self._hook) for p in self.params.values()]

    def begin_step(self, step: int, *, last: bool):
        """Arm (``last=True``) or disarm the hooks for the coming backward pass of step ``step``."""
        self._armed = last
        self._step = step
        self.stepped = 0
        r = self.recipe
        t = step + 1
        self._lr = lr_at(r, step)
        self._bias1 = 1 - r.adam_beta1 ** t
        self._sqrt_bias2 = math.sqrt(1 - r.adam_beta2 ** t)

    @torch.no_grad()
    def _hook(self, p: torch.Tensor):
        if not self._armed or p.grad is None:
            return
        r = self.recipe
        state = self.state[self._index[id(p)]]
        grad = p.grad.float()
        p.grad = None  # the gradient is freed as soon as it is used
        if r.max_grad_norm:
            norm = torch.linalg.vector_norm(grad)
            grad.mul_(torch.clamp(r.max_grad_norm / (norm + 1e-6), max=1.0))
        # copy=True: float32 states must not be overwritten by the in-place update below
        m = state["exp_avg"].to(torch.float32, copy=True).lerp_(grad, 1 - r.adam_beta1)
        state["exp_avg"].copy_(m)
        v = state["exp_avg_sq"].to(torch.float32, copy=True).lerp_(grad.square_(), 1 - r.adam_beta2)
        state["exp_avg_sq"].copy_(v)
        del grad
        # m / bias1 / (sqrt(v / bias2) + eps) = m * (sqrt(bias2) / bias1) / (sqrt(v) + eps * sqrt(bias2))
        denom = v.sqrt_().add_(r.adam_epsilon * self._sqrt_bias2)
        step_size = self._lr * self._sqrt_bias2 / self._bias1
        kahan = state.get("kahan")
        if kahan is None:  # float32 weights: plain AdamW
            p.mul_(1 - self._lr * r.weight_decay).addcdiv_(m, denom, value=-step_size)
        else:
            new = p.float()
            wanted = kahan.float().add_(new, alpha=-self._lr * r.weight_decay).addcdiv_(m, denom, value=-step_size)
            new.add_(wanted)  # the weight plus everything owed to it
            p.copy_(new)  # rounds to bfloat16 (nearest)
            kahan.copy_(new.sub_(p))  # what the rounding lost, added back at the next step
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
