"""What one micro zoo v2 grid cell costs on this machine, measured by its parts (docs/microzoo.md).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/microzoo_cell_cost.py --data DOMAINS/game_icons \
        --models unet-s-minilm,pixart-m

For each model (full size, random weights: pretraining does not change the cost): seconds per training step
of the v2 recipe (``V2_GRID`` of matchchoose_microzoo.build: its method, batch size and encoding cache; the
difference between a 12-step and a 2-step run over 10, so loading and the first step are left out), per
sampled image (8 images, the protocol's sampler steps and guidance, 64 px, float32); then seconds per DINOv2
embedding (32 images), and the cell's estimate: the recipe's steps, one set of ``n_samples`` per fidelity
below the target and two sets (one per sampling seed) each for the target and the prescore, as ``mnc grid``
draws them, and as many embeddings plus 40 for the held-out images.
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
            took = []
            for steps in (2, 12):
                recipe = Recipe(**{**V2_GRID["recipe"], "steps": steps})
                t = time.perf_counter()
                run = finetune(path, train, Path(tmp) / f"run-{name}-{steps}", recipe, progress=False, device="cpu")
                took.append(time.perf_counter() - t)
            step = (took[1] - took[0]) / 10
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
    n, steps = V2_GRID["n_samples"], V2_GRID["recipe"]["steps"]
    sets = len(V2_GRID["fidelities"]) + 2 * len(V2_GRID["sample_seeds"])
    print(f"threads {args.threads}; DINOv2 {embed:.3f} s per image")
    r = V2_GRID["recipe"]
    print(f"| model | s per {r['method']} step (batch {r['batch_size']}) | s per sampled image | v2 cell estimate (s) |")
    print("|---|---|---|---|")
    for name, (step, image) in rows.items():
        cell = steps * step + sets * n * image + (sets * n + 40) * embed
        print(f"| {name} | {step:.2f} | {image:.3f} | {cell:.0f} |")


if __name__ == "__main__":
    main()
