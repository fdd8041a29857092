"""Optimizers: standard AdamW, and the low-memory AdamW fused into back-propagation (arXiv 2309.12381).

Standard mode keeps float32 trainable weights (the master copy) and steps once per batch with
:class:`torch.optim.AdamW` after clipping the global gradient norm.

Low-memory mode (:class:`FusedAdamW`) follows 2309.12381: the trainable weights live in bfloat16
with **no float32 master copy**, and the optimizer step runs **during the backward pass**, one
parameter at a time, from a ``register_post_accumulate_grad_hook``: as soon as a parameter's
gradient is complete, AdamW updates it and the gradient is freed, so the gradients of the whole
model never exist at once. The step itself is torch-optimi's ``AdamW(kahan_sum=True,
gradient_release=True)`` (one parameter per call): moments in bfloat16 and **compensated (Kahan)
summation** of the updates, a bfloat16 buffer per parameter that keeps what rounding the new weight
to bfloat16 lost and adds it back at the next step, so updates far below bfloat16's resolution
(1e-5 on weights of order 1, where bfloat16's spacing is 2**-7) accumulate until they move the
weight instead of being rounded away. No random numbers: runs are deterministic and resume exactly.

torch-optimi replaced two implementations of our own (``benchmarks/full_finetune_benchmark.py``,
docs/benchmarks.md section 13): stochastic rounding from a generator per parameter and step (9x
slower per optimizer step, and its weights ended three times further from the float32 run's), and
a Kahan step with float32 temporaries (3.1x slower per optimizer step than optimi's in-place
bfloat16 arithmetic, 13 MB higher peak, the same loss). What this module adds around it: hooks armed only on the last
micro-batch (exact gradient accumulation), the recipe's warm-up, per-parameter clipping, and
checkpoints keyed by parameter name.

Global-norm clipping needs every gradient at once, which fusing avoids; in low-memory mode
``max_grad_norm`` clips each parameter's gradient norm instead.
"""

from __future__ import annotations

import torch

from .._errors import require

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
        ``{name: parameter}``; parameters should be bfloat16 (float32 ones step without Kahan
        summation, as torch's AdamW).
    recipe : Recipe
        Learning rate (and warm-up), betas, epsilon, weight decay, ``max_grad_norm``.

    Notes
    -----
    Call :meth:`begin_step` before the backward passes of an optimizer step with ``last`` set on the
    final micro-batch: the hooks step the parameters only then (earlier micro-batches just
    accumulate gradients into ``.grad``).
    """

    def __init__(self, named_params: dict, recipe):
        optimi = require("optimi", "The low-memory mode", "finetune")
        self.params = dict(named_params)
        self.recipe = recipe
        self.optimizer = optimi.AdamW(list(self.params.values()), lr=recipe.learning_rate,
                                      betas=(recipe.adam_beta1, recipe.adam_beta2), eps=recipe.adam_epsilon,
                                      weight_decay=recipe.weight_decay, kahan_sum=True, foreach=False, triton=False,
                                      gradient_release=True)
        self.steps_done = 0
        self._armed = False
        self.stepped = 0
        self.handles = [p.register_post_accumulate_grad_hook(self._hook) for p in self.params.values()]

    @property
    def state(self) -> dict:
        """``{name: {"exp_avg", "exp_avg_sq", "kahan_comp", "step"}}`` of the parameters stepped so far."""
        return {name: self.optimizer.state[p] for name, p in self.params.items() if "exp_avg" in self.optimizer.state[p]}

    def begin_step(self, step: int, *, last: bool):
        """Arm (``last=True``) or disarm the hooks for the coming backward pass of step ``step``."""
        self._armed = last
        self.stepped = 0
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(self.recipe, step)

    @torch.no_grad()
    def _hook(self, p: torch.Tensor):
        if not self._armed or p.grad is None:
            return
        if self.recipe.max_grad_norm:
            norm = torch.linalg.vector_norm(p.grad, dtype=torch.float32)
            p.grad.mul_(torch.clamp(self.recipe.max_grad_norm / (norm + 1e-6), max=1.0).to(p.grad.dtype))
        self.optimizer.step(param=p)
        self.optimizer.zero_grad(param=p)  # the gradient is freed as soon as it is used
        self.stepped += 1

    def finish_step(self):
        """Count the step; parameters whose gradient never arrived (unused) are left as they are."""
        self.steps_done += 1

    def state_dict(self) -> dict:
        """Moments, Kahan compensations and step counts by parameter name (for checkpoints)."""
        keys = ("exp_avg", "exp_avg_sq", "kahan_comp", "step")
        return {"steps_done": self.steps_done,
                "state": {name: {k: s[k].detach().cpu() for k in keys if s.get(k) is not None}
                          for name, s in self.state.items()}}

    def load_state_dict(self, data: dict):
        """Restore :meth:`state_dict`; checkpoints of the earlier optimizers (moments only) load too."""
        self.steps_done = int(data["steps_done"])
        for name, saved in data["state"].items():
            p = self.params[name]
            state = self.optimizer.state[p]
            state["exp_avg"] = saved["exp_avg"].to(device=p.device, dtype=p.dtype).clone()
            state["exp_avg_sq"] = saved["exp_avg_sq"].to(device=p.device, dtype=p.dtype).clone()
            kahan = saved.get("kahan_comp", saved.get("kahan"))
            if p.dtype in (torch.float16, torch.bfloat16):
                state["kahan_comp"] = (torch.zeros_like(p) if kahan is None else
                                       kahan.to(device=p.device, dtype=p.dtype).clone())
            else:
                state["kahan_comp"] = None
            state["step"] = (saved["step"].clone() if "step" in saved
                             else torch.tensor(self.steps_done, dtype=torch.int32))

    def remove(self):
        for h in self.handles:
            h.remove()
        self.handles = []
