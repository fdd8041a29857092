"""What one micro zoo v2 grid cell costs on this machine, measured by its parts (docs/microzoo.md).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/microzoo_cell_cost.py --data DOMAINS/game_icons \
        --models unet-s-minilm,pixart-m

For each model (full size, random weights: pretraining does not change the cost): seconds per LoRA step at
batch 32 (4 steps), per sampled image (8 images, 12 steps, guidance 5, 64 px, float32); then seconds per
DINOv2 embedding (32 images), and the cell's estimate: 200 steps, 6 sets of 48 samples, 6 x 48 + 40
embeddings (the v2 protocol of matchchoose_microzoo.build).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="One micro-zoo domain folder.")
    parser.add_argument("--models", default="unet-s-minilm,pixart-m")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch
    from PIL import Image

    from matchchoose.finetune import Recipe, finetune
    from matchchoose.profile import Dinov2Probe, ImageFolder, split
    from matchchoose.sample import load_pipeline, sample_images
    from matchchoose_microzoo.build import V2_GRID
    from matchchoose_microzoo.models import build_pipeline

    torch.set_num_threads(args.threads)
    folder = ImageFolder(args.data)
    train, val = split(folder, val_fraction=0.2, random_state=0)
    captions = [c or "" for c in val.captions]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            path = build_pipeline(name, Path(tmp) / name, seed=0)
            recipe = Recipe(**{**V2_GRID["recipe"], "steps": 4})
            t = time.perf_counter()
            run = finetune(path, train, Path(tmp) / f"run-{name}", recipe, progress=False, device="cpu")
            step = (time.perf_counter() - t) / 4
            pipe = load_pipeline(path, adapter_dir=run.adapter_dir, dtype="float32", device="cpu")
            t = time.perf_counter()
            sample_images(pipe, captions, Path(tmp) / f"s-{name}", n=8, steps=V2_GRID["sample_steps"],
                          guidance_scale=V2_GRID["guidance"], resolution=64, batch_size=8)
            rows[name] = (step, (time.perf_counter() - t) / 8)
    probe = Dinov2Probe(device="cpu")
    images = [Image.open(p).convert("RGB") for p in folder.paths[:32]]
    t = time.perf_counter()
    probe.embed(images)
    embed = (time.perf_counter() - t) / len(images)
    n, sets, steps = V2_GRID["n_samples"], 6, V2_GRID["recipe"]["steps"]
    print(f"threads {args.threads}; DINOv2 {embed:.3f} s per image")
    print("| model | s per LoRA step (batch 32) | s per sampled image | v2 cell estimate (s) |")
    print("|---|---|---|---|")
    for name, (step, image) in rows.items():
        cell = steps * step + sets * n * image + (sets * n + 40) * embed
        print(f"| {name} | {step:.2f} | {image:.3f} | {cell:.0f} |")


if __name__ == "__main__":
    main()
