"""Peak memory of LoRA fine-tuning: standard (float32 or bf16 autocast) vs low-memory mode (arXiv 2309.12381).

Each configuration trains a few steps in its own subprocess (``matchchoose.finetune``'s trainer),
so that peaks do not leak from one to the next. Memory is measured once the pipeline is loaded and
the method attached (``loaded``) and at its peak during the training steps (``peak``); ``train``
is the difference: activations, gradients, optimizer moments, master copies.

* CPU: resident set size from ``/proc/self/status``; the peak (``VmHWM``) is reset after loading
  by writing 5 to ``/proc/self/clear_refs`` (Linux >= 4.0), so loading transients do not count.
  Without it, ``resource.getrusage`` gives the peak of the whole process. ``malloc_trim`` runs
  before the ``loaded`` reading so freed loading buffers do not count. RSS includes torch's own
  libraries (about 0.5 GB), hence the ``train`` column.
* CUDA: ``torch.cuda.memory_allocated`` after loading and ``torch.cuda.max_memory_allocated``
  during training (peak statistics reset after loading).

Modes: ``fp32`` (everything float32), ``bf16`` (frozen weights bfloat16, autocast, float32 LoRA
master weights, torch AdamW), ``low`` (``Recipe(low_memory=True)``: bfloat16 everything, no master
copy, AdamW fused into back-propagation with per-parameter steps, gradients freed at once).

By default the model is a small random SD-style pipeline (``matchchoose.finetune.tiny`` with
``--width 16``: a 2-level UNet with 256/512 channels); ``--model`` takes any local diffusers folder.

Usage::

    python benchmarks/finetune_memory.py [--family sd] [--width 16] [--ranks 4,256] [--resolution 128]
        [--batch-size 4] [--steps 4] [--device cpu|cuda] [--model PATH] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = {"fp32": {"mixed_precision": "no"}, "bf16": {"mixed_precision": "bf16"}, "low": {"low_memory": True}}


# ------------------------------------------------------------------------------------------ measuring
def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _malloc_trim():
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _peak_rss_mb() -> float:
    hwm = _status_kb("VmHWM")
    if hwm is not None:
        return hwm / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(args) -> dict:
    """Train ``args.steps`` steps in this process; return the measurements."""
    import torch

    from matchchoose.finetune import Recipe
    from matchchoose.finetune._train import _Trainer

    torch.set_num_threads(args.threads)
    recipe = Recipe(steps=args.steps, batch_size=args.batch_size, resolution=args.resolution, lora_rank=args.rank,
                    checkpoint_every=0, learning_rate=1e-4, gradient_checkpointing=args.gradient_checkpointing,
                    **MODES[args.mode])
    cuda = args.device.startswith("cuda")
    with tempfile.TemporaryDirectory() as out:
        trainer = _Trainer(args.model, args.data, out, recipe, args.device, False)
        trainer.build()
        trainable = sum(p.numel() for p in trainer.params.values())
        frozen = sum(p.numel() for m in trainer.family.modules().values() for p in m.parameters()) - trainable
        if cuda:
            torch.cuda.synchronize()
            loaded = torch.cuda.memory_allocated() / 2 ** 20
            torch.cuda.reset_peak_memory_stats()
            reset = True
        else:
            _malloc_trim()  # give the loading transients (float32 copies cast to bf16) back to the OS
            loaded = (_status_kb("VmRSS") or 0) / 1024
            reset = _reset_peak_rss()
        times, losses = [], []
        for step in range(args.steps):
            t0 = time.perf_counter()
            losses.append(trainer.train_step(step))
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        peak = torch.cuda.max_memory_allocated() / 2 ** 20 if cuda else _peak_rss_mb()
        trainer.cleanup()
    return {"mode": args.mode, "rank": args.rank, "trainable_params": trainable, "frozen_params": frozen,
            "loaded_mb": round(loaded, 1), "peak_mb": round(peak, 1), "train_mb": round(peak - loaded, 1),
            "peak_reset_after_loading": reset, "s_per_step": round(sum(times[1:]) / max(1, len(times) - 1), 4),
            "losses": losses}


# ------------------------------------------------------------------------------------------ driver
def _dataset(root: Path, n: int, size: int):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / f"{i}.png")
        (root / f"{i}.txt").write_text(f"a photo of a red cat number {i}")
    return root


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="sd", help="Tiny pipeline to build (sd, sdxl, sd3, flux, pixart, sana).")
    parser.add_argument("--width", type=int, default=16, help="Denoiser width multiplier of the tiny pipeline.")
    parser.add_argument("--model", default=None, help="A local diffusers folder instead of a tiny pipeline.")
    parser.add_argument("--ranks", default="4,256", help="LoRA ranks, comma-separated.")
    parser.add_argument("--modes", default="fp32,bf16,low")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default=None, help="Write the measurements here.")
    # worker mode (internal)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--rank", type=int, default=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(args)), flush=True)
        return

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.model is None:
            from matchchoose.finetune.tiny import build_tiny_pipeline

            args.model = str(build_tiny_pipeline(args.family, tmp / "model", width=args.width))
        data = _dataset(tmp / "data", 8, args.resolution + args.resolution // 4)
        rows = []
        for rank in [int(r) for r in args.ranks.split(",")]:
            for mode in args.modes.split(","):
                cmd = [sys.executable, __file__, "--worker", "--model", args.model, "--data", str(data), "--mode",
                       mode, "--rank", str(rank), "--resolution", str(args.resolution), "--batch-size",
                       str(args.batch_size), "--steps", str(args.steps), "--threads", str(args.threads), "--device",
                       args.device] + (["--gradient-checkpointing"] if args.gradient_checkpointing else [])
                proc = subprocess.run(cmd, capture_output=True, text=True,
                                      env={**os.environ, "PYTHONWARNINGS": "ignore"})
                line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
                if proc.returncode or line is None:
                    sys.exit(f"worker {mode} rank {rank} failed:\n{proc.stderr[-3000:]}")
                rows.append(json.loads(line[7:]))
                r = rows[-1]
                print(f"rank {rank:>4} {mode:>5}: trainable {r['trainable_params']:>10,}  "
                      f"loaded {r['loaded_mb']:>8.1f} MB  peak {r['peak_mb']:>8.1f} MB  "
                      f"train {r['train_mb']:>7.1f} MB  {r['s_per_step']:.3f} s/step",
                      flush=True)
    print()
    print(f"model: {args.model if args.model and not args.model.startswith(tempfile.gettempdir()) else args.family}"
          f" (width {args.width}), {rows[0]['frozen_params']:,} frozen parameters; device {args.device}; "
          f"{args.resolution} px, batch {args.batch_size}, {args.steps} steps")
    print(f"{'rank':>5} {'ratio':>22} {'peak':>7} {'train':>7}")
    for rank in sorted({r["rank"] for r in rows}):
        by = {r["mode"]: r for r in rows if r["rank"] == rank}
        if "low" not in by:
            continue
        for mode in ("fp32", "bf16"):
            if mode in by:
                peak = by[mode]["peak_mb"] / by["low"]["peak_mb"]
                train = by[mode]["train_mb"] / by["low"]["train_mb"] if by["low"]["train_mb"] > 0 else float("nan")
                print(f"{rank:>5} {mode + ' / low-memory':>22} {peak:>7.2f} {train:>7.2f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"args": {k: v for k, v in vars(args).items() if k != "worker"},
                                               "rows": rows}, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
