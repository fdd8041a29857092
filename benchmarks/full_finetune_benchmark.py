"""Full fine-tuning (``--method full``): standard vs low-memory mode vs torch-optimi, side by side.

Every configuration trains the whole denoiser of the same pipeline on the same images with the same
seed (same batches, noise and timesteps), in its own subprocess (``matchchoose.finetune``'s trainer,
so the numbers are those of ``mnc finetune``), and reports:

* ``peak MB``: peak resident memory of the process during the steps (the peak is reset once the
  pipeline is loaded and the optimizer built, see ``finetune_memory.py``; torch's libraries and a
  float32 copy of the start weights, the same in every mode, included). ``train MB``: that peak
  minus the memory before the first step; it hides optimizer state allocated up front (our own
  optimizers) and shows state allocated lazily (torch, optimi), so compare modes on ``peak MB``.
  CUDA: allocated-memory statistics instead.
* ``s/step``: mean wall time of the steps after the first; ``min s/step``: the fastest step (less
  sensitive to other processes on a shared machine).
* ``loss``: mean training loss of the last 5 steps (the same batches in every mode).
* ``update err``: ``||dW - dW_fp32|| / ||dW_fp32||`` over the denoiser, where ``dW`` is the change of
  the weights the run ends with (as saved) and ``dW_fp32`` that of the float32 run: how much of the
  true update a bfloat16 mode realises (1.0 = nothing). ``frozen``: tensors the run never changed.

Modes: ``fp32`` (float32 weights, torch AdamW), ``bf16`` (bfloat16 autocast, float32 master weights,
torch AdamW), ``low`` (matchchoose's low-memory mode: bfloat16 weights, no master copy, AdamW fused
into back-propagation: torch-optimi's Kahan-summed step behind matchchoose's hooks), ``low-own``
(our own Kahan step with float32 temporaries, commit 0e02b43, measured and dropped for optimi),
``low-sr`` (the earlier low-memory optimizer, commit 4b4f99d: stochastic rounding from a
generator per parameter and step), ``optimi`` (torch-optimi 0.3.3 on its own:
``AdamW(kahan_sum=True, gradient_release=True)`` with ``prepare_for_gradient_release``). Gradient
clipping is off in every mode (optimi's own gradient release cannot clip).

A second table times the optimizer step alone, interleaved in one process (fastest of
``--step-reps``), where a shared machine's noise does not drown the difference.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/full_finetune_benchmark.py [--width 8] [--resolution 64]
        [--batch-size 2] [--steps 10] [--lr 1e-4] [--seeds 0,1,2] [--modes fp32,bf16,low,low-own,low-sr,optimi]
        [--device cpu] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from finetune_memory import _dataset, _malloc_trim, _peak_rss_mb, _reset_peak_rss, _status_kb  # noqa: E402

MODES = {"fp32": {"mixed_precision": "no"}, "bf16": {"mixed_precision": "bf16"}, "low": {"low_memory": True},
         "low-own": {"low_memory": True}, "low-sr": {"low_memory": True}, "optimi": {"low_memory": True}}


# ------------------------------------------------------------------------------------------ other optimizers
class _StochasticRoundingAdamW:
    """The low-memory optimizer as of commit 4b4f99d (stochastic rounding), for the timing comparison."""

    def __init__(self, named_params, recipe):
        import torch

        self.params, self.recipe = dict(named_params), recipe
        self.state = {n: {"exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
                      for n, p in self.params.items()}
        self._index = {id(p): (i, n) for i, (n, p) in enumerate(self.params.items())}
        self._armed, self._step = False, 0
        self.handles = [p.register_post_accumulate_grad_hook(self._hook) for p in self.params.values()]

    def begin_step(self, step, *, last):
        self._armed, self._step = last, step

    @staticmethod
    def _round(target, value, gen):
        import torch

        bits = value.contiguous().view(torch.int32)
        noise = torch.randint(0, 1 << 16, bits.shape, generator=gen, dtype=torch.int32)
        rounded = (bits + noise) & -65536
        target.copy_(torch.where(torch.isfinite(value), rounded.view(torch.float32), value).to(target.dtype))

    def _hook(self, p):
        import torch

        if not self._armed or p.grad is None:
            return
        with torch.no_grad():
            i, name = self._index[id(p)]
            r, t = self.recipe, self._step + 1
            grad = p.grad.float()
            p.grad = None
            s = self.state[name]
            m = s["exp_avg"].float().mul_(r.adam_beta1).add_(grad, alpha=1 - r.adam_beta1)
            v = s["exp_avg_sq"].float().mul_(r.adam_beta2).addcmul_(grad, grad, value=1 - r.adam_beta2)
            gen = torch.Generator().manual_seed((r.seed * 1_000_003 + t * 7919 + i) % (2 ** 63))
            self._round(s["exp_avg"], m, gen)
            s["exp_avg_sq"].copy_(v.to(s["exp_avg_sq"].dtype))
            denom = v.sqrt().div_(math.sqrt(1 - r.adam_beta2 ** t)).add_(r.adam_epsilon)
            new = p.float().mul_(1 - r.learning_rate * r.weight_decay)
            new.addcdiv_(m, denom, value=-r.learning_rate / (1 - r.adam_beta1 ** t))
            self._round(p, new, gen)

    def finish_step(self):
        pass

    def remove(self):
        for h in self.handles:
            h.remove()


class _OwnKahanAdamW:
    """matchchoose's own Kahan-compensated fused AdamW of commit 0e02b43 (update math in float32
    temporaries), measured against torch-optimi and dropped for it: kept here so the comparison reruns."""

    def __init__(self, named_params, recipe):
        import torch

        self.params, self.recipe = dict(named_params), recipe
        self.state = {n: {"exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p),
                          "kahan": torch.zeros_like(p)} for n, p in self.params.items()}
        self._index = {id(p): n for n, p in self.params.items()}
        self._armed = False
        self.handles = [p.register_post_accumulate_grad_hook(self._hook) for p in self.params.values()]

    def begin_step(self, step, *, last):
        r, t = self.recipe, step + 1
        self._armed, self._lr = last, r.learning_rate
        self._bias1, self._sqrt_bias2 = 1 - r.adam_beta1 ** t, math.sqrt(1 - r.adam_beta2 ** t)

    def _hook(self, p):
        import torch

        if not self._armed or p.grad is None:
            return
        with torch.no_grad():
            r, state = self.recipe, self.state[self._index[id(p)]]
            grad = p.grad.float()
            p.grad = None
            m = state["exp_avg"].to(torch.float32, copy=True).lerp_(grad, 1 - r.adam_beta1)
            state["exp_avg"].copy_(m)
            v = state["exp_avg_sq"].to(torch.float32, copy=True).lerp_(grad.square_(), 1 - r.adam_beta2)
            state["exp_avg_sq"].copy_(v)
            del grad
            denom = v.sqrt_().add_(r.adam_epsilon * self._sqrt_bias2)
            kahan = state["kahan"]
            new = p.float()
            wanted = kahan.float().add_(new, alpha=-self._lr * r.weight_decay).addcdiv_(
                m, denom, value=-self._lr * self._sqrt_bias2 / self._bias1)
            new.add_(wanted)
            p.copy_(new)
            kahan.copy_(new.sub_(p))

    def finish_step(self):
        pass

    def remove(self):
        for h in self.handles:
            h.remove()


class _Optimi:
    """torch-optimi's AdamW with Kahan summation and gradient release, behind the trainer's hooks API."""

    def __init__(self, denoiser, named_params, recipe):
        import optimi

        self.opt = optimi.AdamW(list(named_params.values()), lr=recipe.learning_rate,
                                betas=(recipe.adam_beta1, recipe.adam_beta2), eps=recipe.adam_epsilon,
                                weight_decay=recipe.weight_decay, kahan_sum=True, gradient_release=True)
        optimi.prepare_for_gradient_release(denoiser, self.opt)
        self.denoiser = denoiser

    def begin_step(self, step, *, last):
        pass

    def finish_step(self):
        self.opt.step()
        self.opt.zero_grad()

    def remove(self):
        import optimi

        optimi.remove_gradient_release(self.denoiser)


# ------------------------------------------------------------------------------------------ worker
def worker(args) -> dict:
    import torch
    from safetensors.torch import save_file

    from matchchoose.finetune import Recipe
    from matchchoose.finetune._train import _Trainer

    torch.set_num_threads(args.threads)
    recipe = Recipe(method="full", steps=args.steps, batch_size=args.batch_size, resolution=args.resolution,
                    checkpoint_every=0, learning_rate=args.lr, max_grad_norm=0.0, seed=args.seed, **MODES[args.mode])
    cuda = args.device.startswith("cuda")
    with tempfile.TemporaryDirectory() as out:
        trainer = _Trainer(args.model, args.data, out, recipe, args.device, False)
        trainer.build()
        if args.mode in ("low-sr", "low-own", "optimi"):
            trainer.optimizer.remove()
            trainer.optimizer = {"low-sr": lambda: _StochasticRoundingAdamW(trainer.params, recipe),
                                 "low-own": lambda: _OwnKahanAdamW(trainer.params, recipe),
                                 "optimi": lambda: _Optimi(trainer.family.denoiser, trainer.params, recipe)}[args.mode]()
        start = {n: p.detach().float().clone() for n, p in trainer.params.items()}
        if cuda:
            torch.cuda.synchronize()
            loaded = torch.cuda.memory_allocated() / 2 ** 20
            torch.cuda.reset_peak_memory_stats()
        else:
            _malloc_trim()
            loaded = (_status_kb("VmRSS") or 0) / 1024
            _reset_peak_rss()
        # the float32 copy of the start weights is held through training in every mode alike
        times, losses = [], []
        for step in range(args.steps):
            t0 = time.perf_counter()
            losses.append(float(trainer.train_step(step)))
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        peak = torch.cuda.max_memory_allocated() / 2 ** 20 if cuda else _peak_rss_mb()
        delta = {n: (p.detach().float() - start[n]).contiguous() for n, p in trainer.params.items()}
        save_file(delta, args.delta_out)
        trainable = sum(p.numel() for p in trainer.params.values())
        trainer.optimizer.remove() if hasattr(trainer.optimizer, "remove") else None
    return {"mode": args.mode, "seed": args.seed, "trainable_params": trainable, "loaded_mb": round(loaded, 1),
            "train_mb": round(peak - loaded, 1), "s_per_step": sum(times[1:]) / max(1, len(times) - 1),
            "min_s_per_step": min(times[1:] or times), "times": times,
            "losses": losses}


# ------------------------------------------------------------------------------------------ optimizer step alone
def step_table(model: str, reps: int, threads: int, lr: float) -> list[dict]:
    """Seconds of one optimizer step over every denoiser parameter, the optimizers interleaved in one
    process (each rep runs each optimizer once; the fastest rep counts), with the same gradients."""
    import optimi
    import torch
    from diffusers import UNet2DConditionModel
    from optimi.gradientrelease import _gradient_release_hook

    from matchchoose.finetune import Recipe
    from matchchoose.finetune._optim import FusedAdamW

    torch.set_num_threads(threads)
    unet = UNet2DConditionModel.from_pretrained(str(Path(model) / "unet"))
    recipe = Recipe(learning_rate=lr, max_grad_norm=0.0)
    gen = torch.Generator().manual_seed(0)
    shapes = [p.shape for p in unet.parameters()]
    grads = [torch.randn(s, generator=gen) * 1e-3 for s in shapes]

    def params(dtype):
        return [torch.nn.Parameter(p.detach().to(dtype).clone()) for p in unet.parameters()]

    setups = {}
    ps = params(torch.float32)
    adamw = torch.optim.AdamW(ps, lr=lr, weight_decay=recipe.weight_decay)

    def run_adamw(ps=ps, opt=adamw):
        for p, g in zip(ps, grads):
            p.grad = g.clone()
        opt.step()
        opt.zero_grad(set_to_none=True)
    setups["torch AdamW, float32 weights (standard)"] = run_adamw
    for label, cls in (("low (matchchoose: optimi behind its hooks)", FusedAdamW),
                       ("low-own (own Kahan, float32 temporaries, dropped)", _OwnKahanAdamW),
                       ("low-sr (stochastic rounding, the earlier low-memory step)", _StochasticRoundingAdamW)):
        ps = params(torch.bfloat16)
        opt = cls(dict(enumerate(ps)), recipe)
        for h in opt.handles:
            h.remove()

        def run(ps=ps, opt=opt):
            opt.begin_step(0, last=True)
            for p, g in zip(ps, grads):
                p.grad = g.to(torch.bfloat16)
                opt._hook(p)
        setups[label] = run
    ps = params(torch.bfloat16)
    oopt = optimi.AdamW(ps, lr=lr, betas=(recipe.adam_beta1, recipe.adam_beta2), eps=recipe.adam_epsilon,
                        weight_decay=recipe.weight_decay, kahan_sum=True, gradient_release=True)

    def run_optimi(ps=ps, opt=oopt):
        for p, g in zip(ps, grads):
            p.grad = g.to(torch.bfloat16)
            _gradient_release_hook(p, opt)
    setups["optimi (on its own)"] = run_optimi
    best = {k: float("inf") for k in setups}
    for _ in range(reps):
        for label, run in setups.items():
            t0 = time.perf_counter()
            run()
            best[label] = min(best[label], time.perf_counter() - t0)
    # the cost of making the gradients (the same clone / cast in every setup) is included
    return [{"optimizer": k, "min_s": v, "tensors": len(shapes)} for k, v in best.items()]


# ------------------------------------------------------------------------------------------ driver
def _update_error(delta_file, reference_file):
    import torch
    from safetensors.torch import load_file

    d, ref = load_file(delta_file), load_file(reference_file)
    num = math.sqrt(sum(float((d[k] - ref[k]).pow(2).sum()) for k in ref))
    den = math.sqrt(sum(float(ref[k].pow(2).sum()) for k in ref))
    frozen = sum(bool(torch.count_nonzero(d[k]) == 0) for k in ref)
    return num / den, frozen, len(ref)


def _mean_sd(values, fmt):
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.mean(values), fmt)} ± {format(statistics.stdev(values), fmt)}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="sd")
    parser.add_argument("--width", type=int, default=8, help="Denoiser width multiplier of the tiny pipeline.")
    parser.add_argument("--model", default=None, help="A local diffusers folder instead of a tiny pipeline.")
    parser.add_argument("--modes", default="fp32,bf16,low,low-own,low-sr,optimi")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--step-reps", type=int, default=20, help="Reps of the optimizer-step table (0: skip).")
    parser.add_argument("--json", default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--delta-out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(args)), flush=True)
        return
    modes = args.modes.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.model is None:
            from matchchoose.finetune.tiny import build_tiny_pipeline

            args.model = str(build_tiny_pipeline(args.family, tmp / "model", width=args.width))
        data = _dataset(tmp / "data", 8, args.resolution + args.resolution // 4)
        for seed in seeds:
            for mode in modes:
                delta = tmp / f"delta-{mode}-{seed}.safetensors"
                cmd = [sys.executable, __file__, "--worker", "--model", args.model, "--data", str(data), "--mode", mode,
                       "--seed", str(seed), "--resolution", str(args.resolution), "--batch-size", str(args.batch_size),
                       "--steps", str(args.steps), "--lr", str(args.lr), "--threads", str(args.threads), "--device",
                       args.device, "--delta-out", str(delta)]
                proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
                line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
                if proc.returncode or line is None:
                    sys.exit(f"worker {mode} seed {seed} failed:\n{proc.stderr[-3000:]}")
                row = json.loads(line[7:])
                row["delta"] = str(delta)
                rows.append(row)
                print(f"seed {seed} {mode:>7}: train {row['train_mb']:8.1f} MB  {row['s_per_step']:.3f} s/step  "
                      f"loss {statistics.mean(row['losses'][-5:]):.4f}", flush=True)
        for row in rows:
            ref = next((r for r in rows if r["mode"] == "fp32" and r["seed"] == row["seed"]), None)
            if ref is not None:
                row["update_err"], row["frozen"], row["tensors"] = _update_error(row["delta"], ref["delta"])
        for row in rows:
            del row["delta"]
        steps = step_table(args.model, args.step_reps, args.threads, args.lr) if args.step_reps else []
    print()
    print(f"full fine-tuning of a tiny {args.family} pipeline (width {args.width}, "
          f"{rows[0]['trainable_params']:,} trainable parameters), {args.resolution} px, batch {args.batch_size}, "
          f"{args.steps} steps, lr {args.lr:g}, seeds {args.seeds}, device {args.device}; "
          f"{time.perf_counter() - t_all:.0f} s in all")
    print()
    print("| mode | peak MB | train MB | s/step | min s/step | loss (last 5 steps) | update err vs fp32 | "
          "tensors never changed |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for mode in modes:
        mine = [r for r in rows if r["mode"] == mode]
        loss = [statistics.mean(r["losses"][-5:]) for r in mine]
        err = [r.get("update_err", float("nan")) for r in mine]
        frozen = f"{mine[0].get('frozen', 0)} / {mine[0].get('tensors', 0)}"
        print(f"| {mode} | {_mean_sd([r['loaded_mb'] + r['train_mb'] for r in mine], '.1f')} | "
              f"{_mean_sd([r['train_mb'] for r in mine], '.1f')} | "
              f"{_mean_sd([r['s_per_step'] for r in mine], '.3f')} | "
              f"{_mean_sd([r['min_s_per_step'] for r in mine], '.3f')} | {_mean_sd(loss, '.4f')} | "
              f"{_mean_sd(err, '.3f')} | {frozen} |")
    if steps:
        print()
        print(f"the optimizer step alone over the denoiser's {steps[0]['tensors']} tensors, interleaved in one "
              f"process, fastest of {args.step_reps}:")
        print()
        print("| optimizer | s / step |")
        print("|---|---:|")
        for row in steps:
            print(f"| {row['optimizer']} | {row['min_s']:.4f} |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"args": {k: v for k, v in vars(args).items() if k != "worker"},
                                               "rows": rows, "optimizer_steps": steps}, indent=1) + "\n")


if __name__ == "__main__":
    main()
