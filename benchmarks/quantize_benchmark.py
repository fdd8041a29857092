"""Quantised sampling: full precision vs uniform W8A8 / W4A8 vs MPQ-Diff at the same average bits.

For every model (a diffusers folder) and domain (an image folder with captions), and every seed:

1. MPQ-Diff profiles the model on ``--calib`` training captions of the domain (orthogonality over
   ``--timesteps`` uniformly spaced steps) and allocates bits; ``mpq-random`` is the control: the
   same integer programme on the *shuffled* importances (same budget, same size), which tells
   whether orthogonality, rather than mixed precision as such, is what helps.
2. Each scheme samples ``--n`` images for the held-out captions (image ``i`` seeded ``seed*1000+i``,
   the same for every scheme) and is scored against the held-out real images: FD and KID with the
   DINOv2 probe (``fd_dinov2``, ``kid_dinov2``), and against the full-precision images of the same
   seeds: ``mse_fp`` (mean squared pixel error in [0, 1], what quantisation changed).
3. Cost: seconds per image, the weight bits of the denoiser's quantised layers (``avg w bits``,
   the size the paper compares at) and the bytes its weights take as stored (``stored MB``: torchao
   keeps sub-8-bit weights unpacked in int8 bytes, fake-quantised layers stay float32).

A second table times one Linear layer (``--kernel-shape``) under each backend, where the speed-up
is or is not real on this machine.

Without ``--models-dir``, tiny random-weight pipelines are built from the zoo's configs
(``matchchoose.finetune.tiny``, ``--families``, ``--width``); without ``--data-dir``, small real
images are drawn under a temporary folder (coloured shapes and stripes with captions). Random
weights make FD against real images meaningless as quality; ``mse_fp`` is the informative column
there.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/quantize_benchmark.py [--models-dir DIR] [--data-dir DIR] [--domains A,B]
        [--families sd,pixart,flux] [--width 4] [--resolution 32] [--steps 10] [--n 16] [--seeds 0,1,2]
        [--schemes fp32,w8a8,w4a8,mpq:4,mpq-random:4] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


# ------------------------------------------------------------------------------------------ data
def make_domains(root: Path, n: int = 24, size: int = 48) -> list[Path]:
    """Two small real image domains drawn with PIL: shapes and stripes, with captions."""
    import numpy as np
    from PIL import Image, ImageDraw

    colors = {"red": (210, 40, 40), "green": (40, 180, 60), "blue": (40, 70, 210), "yellow": (230, 210, 50),
              "purple": (140, 50, 170), "orange": (240, 140, 30)}
    names = list(colors)
    out = []
    for domain in ("shapes", "stripes"):
        folder = root / domain
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0 if domain == "shapes" else 1)
        rows = []
        for i in range(n):
            fg, bg = rng.choice(len(names), 2, replace=False)
            img = Image.new("RGB", (size, size), colors[names[bg]])
            draw = ImageDraw.Draw(img)
            if domain == "shapes":
                shape = ["circle", "square"][i % 2]
                r = int(rng.integers(size // 6, size // 3))
                cx, cy = rng.integers(r, size - r, 2)
                box = (cx - r, cy - r, cx + r, cy + r)
                (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=colors[names[fg]])
                text = f"a {names[fg]} {shape} on a {names[bg]} background"
            else:
                width = int(rng.integers(3, 9))
                for x in range(0, size, 2 * width):
                    draw.rectangle((x, 0, x + width - 1, size), fill=colors[names[fg]])
                text = f"{names[fg]} and {names[bg]} stripes"
            img.save(folder / f"{i:03d}.png")
            rows.append({"file_name": f"{i:03d}.png", "text": text})
        (folder / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        out.append(folder)
    return out


# ------------------------------------------------------------------------------------------ measuring
def stored_mb(denoiser) -> float:
    """Bytes of the denoiser's parameters as stored (torchao tensor subclasses: their inner tensors)."""
    total = 0
    for p in denoiser.parameters():
        t = p.data if hasattr(p, "data") else p
        if hasattr(t, "__tensor_flatten__") and type(t).__name__ not in ("Tensor", "Parameter"):
            names, _ = t.__tensor_flatten__()
            total += sum(getattr(t, n).numel() * getattr(t, n).element_size() for n in names)
        else:
            total += t.numel() * t.element_size()
    return total / 2 ** 20


def _pixels(folder: Path, n: int):
    import numpy as np
    from PIL import Image

    return np.stack([np.asarray(Image.open(folder / f"{i:05d}.png"), dtype=np.float64) / 255 for i in range(n)])


def kernel_table(shape, threads: int) -> list[dict]:
    """Seconds per call of one Linear layer (tokens x in -> out) under each backend."""
    import torch

    from matchchoose.quantize import BitMap
    from matchchoose.quantize._apply import apply_bitmap

    torch.set_num_threads(threads)
    tokens, d_in, d_out = shape
    x = torch.randn(tokens, d_in, generator=torch.Generator().manual_seed(0))
    rows = []
    for label, w, a, backend in [("fp32", None, None, None), ("w8a8 torchao", 8, 8, "torchao"),
                                 ("w4a8 torchao", 4, 8, "torchao"), ("w8a8 fake", 8, 8, "fake"),
                                 ("w4a8 fake", 4, 8, "fake")]:
        torch.manual_seed(0)
        layer = torch.nn.Sequential(torch.nn.Linear(d_in, d_out))
        if w is not None:
            apply_bitmap(layer, BitMap(layers={"0": {"w": w, "a": a}}), backend=backend)
        with torch.inference_mode():
            for _ in range(3):
                layer(x)
            reps, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < 1.0:
                layer(x)
                reps += 1
        rows.append({"backend": label, "ms_per_call": 1000 * (time.perf_counter() - t0) / reps,
                     "stored_mb": stored_mb(layer)})
    return rows


# ------------------------------------------------------------------------------------------ main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", default=None, help="Folder of diffusers pipeline folders (default: tiny).")
    parser.add_argument("--data-dir", default=None, help="Folder of captioned image folders (default: drawn).")
    parser.add_argument("--domains", default=None, help="Comma-separated folder names of --data-dir to use (default all).")
    parser.add_argument("--families", default="sd,pixart,flux", help="Tiny pipelines to build without --models-dir.")
    parser.add_argument("--width", type=int, default=4, help="Denoiser width multiplier of the tiny pipelines.")
    parser.add_argument("--schemes", default="fp32,w8a8,w4a8,mpq:4,mpq-random:4")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--n", type=int, default=16, help="Images per (model, domain, scheme, seed).")
    parser.add_argument("--calib", type=int, default=8, help="Calibration captions.")
    parser.add_argument("--timesteps", type=int, default=5, help="Profiled steps.")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--backend", default="auto", choices=["auto", "torchao", "fake"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--kernel-shape", default="1024,1280,1280", help="tokens,in,out of the timed Linear layer.")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from matchchoose.quantize import BitMap, calibration_captions, profile_bitmap, quantize_pipeline, reallocate
    from matchchoose.sample import held_out_captions, load_pipeline, sample_images
    from matchchoose.score import score_images

    torch.set_num_threads(args.threads)
    t_all = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="mnc-quantize-bench-"))
    try:
        if args.models_dir:
            models = sorted(p for p in Path(args.models_dir).iterdir() if (p / "model_index.json").is_file())
        else:
            from matchchoose.finetune.tiny import build_tiny_pipeline

            models = [build_tiny_pipeline(f, tmp / "models" / f, width=args.width) for f in args.families.split(",")]
        if args.data_dir:
            domains = sorted(p for p in Path(args.data_dir).iterdir() if p.is_dir())
            if args.domains:
                wanted = args.domains.split(",")
                domains = [p for p in domains if p.name in wanted]
                if len(domains) != len(wanted):
                    sys.exit(f"--domains: not all of {wanted} are folders of {args.data_dir}")
        else:
            domains = make_domains(tmp / "data")
        schemes = args.schemes.split(",")
        rows = []
        for model in models:
            for domain in domains:
                captions, val = held_out_captions(domain)
                for seed in [int(s) for s in args.seeds.split(",")]:
                    base = load_pipeline(model, device="cpu", dtype="float32")
                    t0 = time.perf_counter()
                    profile = profile_bitmap(base, calibration_captions(domain, args.calib, random_state=seed),
                                             "mpq:8", num_steps=args.steps, n_timesteps=args.timesteps,
                                             resolution=args.resolution, seed=seed)
                    profile_s = time.perf_counter() - t0
                    del base
                    fp_dir = None
                    for scheme in schemes:
                        pipe = load_pipeline(model, device="cpu", dtype="float32")
                        avg_w = 32.0
                        if scheme.startswith("mpq-random:"):
                            shuffled = dict(zip(profile.importance, np.random.default_rng(seed).permutation(
                                list(profile.importance.values())).tolist()))
                            bm = reallocate(BitMap(layers=profile.layers, importance=shuffled,
                                                   weight_sizes=profile.weight_sizes, act_sizes=profile.act_sizes),
                                            "mpq:" + scheme.split(":", 1)[1])
                            avg_w = quantize_pipeline(pipe, bm, backend=args.backend).average_bits("w")
                        elif scheme != "fp32":
                            avg_w = quantize_pipeline(pipe, scheme, bitmap=profile, backend=args.backend).average_bits("w")
                        den = getattr(pipe, "unet", None) or pipe.transformer
                        out = tmp / "samples" / model.name / domain.name / str(seed) / scheme.replace(":", "_")
                        res = sample_images(pipe, captions, out, n=args.n, steps=args.steps,
                                            resolution=args.resolution, seed=seed * 1000, batch_size=args.n)
                        if scheme == "fp32":
                            fp_dir = out
                        fd, kid = score_images(out, val, probe="dinov2", kinds=("fd", "kid"), kid_subsets=50)
                        mse = float(np.mean((_pixels(out, args.n) - _pixels(fp_dir, args.n)) ** 2)) if fp_dir else None
                        rows.append({"model": model.name, "domain": domain.name, "seed": seed, "scheme": scheme,
                                     "fd_dinov2": fd.value, "kid_dinov2": kid.value, "mse_fp": mse,
                                     "s_per_image": res.seconds / args.n, "avg_w_bits": avg_w,
                                     "stored_mb": stored_mb(den), "profile_s": profile_s})
                        r = rows[-1]
                        print(f"{model.name:>8} {domain.name:>8} seed {seed} {scheme:>13}: FD {r['fd_dinov2']:8.2f}  "
                              f"KID {r['kid_dinov2']:.4f}  mse_fp {mse if mse is not None else float('nan'):.5f}  "
                              f"{r['s_per_image']:.3f} s/img  {avg_w:.2f} bits  {r['stored_mb']:.2f} MB", flush=True)
                        shutil.rmtree(out) if scheme != "fp32" else None
                    shutil.rmtree(fp_dir, ignore_errors=True)
        kernels = kernel_table(tuple(int(v) for v in args.kernel_shape.split(",")), args.threads)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def ms(values, fmt):
        values = [v for v in values if v is not None]
        if len(values) < 2:
            return format(values[0], fmt) if values else "-"
        return f"{format(statistics.mean(values), fmt)} ± {format(statistics.stdev(values), fmt)}"

    print()
    print(f"models: {', '.join(m.name for m in models)}{'' if args.models_dir else f' (tiny, random weights, width {args.width})'}; "
          f"domains: {', '.join(d.name for d in domains)}; {args.n} images per cell at {args.resolution} px, "
          f"{args.steps} steps; seeds {args.seeds}; backend {args.backend}; {time.perf_counter() - t_all:.0f} s in all")
    print("mean ± sd over seeds (and domains)")
    print()
    print("| model | scheme | avg w bits | stored MB | FD dinov2 | KID dinov2 | MSE vs fp32 | s / image |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for model in models:
        for scheme in schemes:
            mine = [r for r in rows if r["model"] == model.name and r["scheme"] == scheme]
            print(f"| {model.name} | {scheme} | {mine[0]['avg_w_bits']:.2f} | {mine[0]['stored_mb']:.3f} | "
                  f"{ms([r['fd_dinov2'] for r in mine], '.2f')} | {ms([r['kid_dinov2'] for r in mine], '.4f')} | "
                  f"{ms([r['mse_fp'] for r in mine], '.5f') if scheme != 'fp32' else '0'} | "
                  f"{ms([r['s_per_image'] for r in mine], '.3f')} |")
    print()
    print(f"one Linear layer, {args.kernel_shape} (tokens, in, out), {args.threads} thread(s):")
    print()
    print("| backend | ms / call | stored MB |")
    print("|---|---:|---:|")
    for k in kernels:
        print(f"| {k['backend']} | {k['ms_per_call']:.2f} | {k['stored_mb']:.2f} |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows, "kernels": kernels}, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
