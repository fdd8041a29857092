"""Pretraining cost of the micro-zoo base models, and the proof that pretraining learns.

Speed (default): for every zoo model, in a fresh subprocess each (so that peak memory is the
model's own), pretrain ``--steps`` steps at the zoo resolution and batch size and print the median
seconds per step, the one-time encoding cache time and the peak resident memory::

    .venv/bin/python benchmarks/microzoo_pretrain.py --data data/microzoo --vae zoo/vae

``--synthetic`` makes stand-in domains (random captioned images under the mixture's domain names)
so that the timing runs without the real data; step time depends on shapes only.

Proof (``--proof MODEL``): sample the held-out captions of some domains with the model at random
weights (the seed's initial weights) and after ``--steps`` pretraining steps on those domains;
score each sample set against each domain's held-out real images (Fréchet distance with the
``pixels`` probe, and ``dinov2`` when installed), including control domains the model never saw,
with the domains' own training images as the floor (``real`` rows); save a contact sheet (rows:
domains; real, random-weight and pretrained samples)::

    .venv/bin/python benchmarks/microzoo_pretrain.py --proof unet-s-minilm --steps 1200 \\
        --domains noto_emoji,kgeography_flags,typeface_glyphs --controls astrophotos,mnist_digits \\
        --data data/microzoo --vae zoo/vae --out benchmarks/out/microzoo-proof
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _synthetic(root: Path, domains, n: int = 24):
    import numpy as np
    from PIL import Image

    for k, domain in enumerate(domains):
        folder = root / domain
        (folder / "images").mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(k)
        rows = []
        for i in range(n):
            rel = f"images/{i:05d}.png"
            Image.fromarray(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)).save(folder / rel)
            rows.append(json.dumps({"file_name": rel, "text": f"a {domain.replace('_', ' ')} picture number {i}"}))
        (folder / "metadata.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")


def _one(name: str, data: str | None, vae: str | None, steps: int, batch_size: int, synthetic: bool) -> dict:
    """Pretrain ``name`` for ``steps`` steps in a temporary folder; timings and peak memory."""
    import torch

    from matchchoose_microzoo.models import ZOO, pretrain

    with tempfile.TemporaryDirectory() as tmp:
        if synthetic:
            data = str(Path(tmp) / "data")
            _synthetic(Path(data), ZOO[name].mixture)
        t0 = time.perf_counter()
        result = pretrain(name, data, Path(tmp) / name, vae=vae, steps=steps, batch_size=batch_size,
                          checkpoint_every=0, keep_checkpoints=1, progress=False)
        total = time.perf_counter() - t0
    record = result.record
    return {"model": name, "family": ZOO[name].family, "params_M": round(record["denoiser_parameters"] / 1e6, 2),
            "s_per_step": record["seconds_per_step"], "s_per_step_median": record["seconds_per_step_median"],
            "cache_s": record["cache_seconds"], "total_s": round(total, 1), "loss_first": round(result.losses[0], 4),
            "loss_last": round(result.losses[-1], 4), "threads": torch.get_num_threads(),
            "peak_rss_MiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def speed(args) -> list:
    from matchchoose_microzoo.models import ZOO

    names = args.models.split(",") if args.models else list(ZOO)
    rows = []
    print(f"{'model':14s} {'family':6s} {'params':>7s} {'s/step':>7s} {'median':>7s} {'cache s':>7s} "
          f"{'peak MiB':>8s}  (batch {args.batch_size}, {args.steps} steps)", flush=True)
    for name in names:
        cmd = [sys.executable, __file__, "--one", name, "--steps", str(args.steps), "--batch-size",
               str(args.batch_size)]
        cmd += ["--synthetic"] if args.synthetic else ["--data", args.data]
        cmd += ["--vae", args.vae] if args.vae else []
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            print(f"{name}: failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{name:14s} {row['family']:6s} {row['params_M']:6.2f}M {row['s_per_step']:7.3f} "
              f"{row['s_per_step_median']:7.3f} {row['cache_s']:7.1f} {row['peak_rss_MiB']:8.0f}", flush=True)
    return rows


# ------------------------------------------------------------------------------------------- proof
def _sample_domains(model_dir, domains, data, out: Path, n: int, steps: int, guidance: float):
    from matchchoose.sample import held_out_captions, load_pipeline, sample_images

    pipe = load_pipeline(model_dir, device="cpu")
    for domain in domains:
        captions, _ = held_out_captions(Path(data) / domain)
        sample_images(pipe, captions, out / domain, n=min(n, len(captions)), steps=steps, guidance_scale=guidance,
                      seed=0, batch_size=8)


def _embeddings(folder, probe):
    from matchchoose.profile import ImageFolder

    folder = folder if isinstance(folder, ImageFolder) else ImageFolder(folder)
    images = (img for _, batch in folder.iter_rgb(32) for img in batch)
    return probe.embed(images, batch_size=32, total=len(folder)).astype("float64")


def _score(out: Path, domains, data, probe_name) -> dict:
    """Fréchet distance (as ``score_images`` computes it) of every sample set to every domain's
    held-out images; each folder is embedded once. ``real`` rows: the domain's training images."""
    from matchchoose.profile import ImageFolder, get_probe, split
    from matchchoose.profile._distances import frechet_distance, gaussian_stats

    probe = get_probe(probe_name)
    refs, trains = {}, {}
    for d in domains:
        train, val = split(ImageFolder(Path(data) / d), val_fraction=0.2, random_state=0)
        refs[d] = gaussian_stats(_embeddings(val, probe))
        trains[d] = gaussian_stats(_embeddings(train, probe))
    table = {"real": {f"{g}|{r}": round(frechet_distance(*trains[g], *refs[r]), 4) for g in domains for r in domains}}
    for which in ("random", "pretrained"):
        stats = {g: gaussian_stats(_embeddings(out / which / g, probe)) for g in domains}
        table[which] = {f"{g}|{r}": round(frechet_distance(*stats[g], *refs[r]), 4) for g in domains for r in domains}
    return table


def _sheet(out: Path, domains, data, columns: int = 6):
    from PIL import Image, ImageDraw

    from matchchoose.profile import ImageFolder, split

    size, label = 64, 150
    sets = ["real", "random", "pretrained"]
    sheet = Image.new("RGB", (label + len(sets) * columns * size + 2 * 8, len(domains) * size), "white")
    draw = ImageDraw.Draw(sheet)
    for r, domain in enumerate(domains):
        draw.text((4, r * size + 26), domain[:22], fill="black")
        _, val = split(ImageFolder(Path(data) / domain), val_fraction=0.2, random_state=0)
        for s, which in enumerate(sets):
            for c in range(columns):
                if which == "real":
                    img = val.load(c) if c < len(val) else None
                else:
                    path = out / which / domain / f"{c:05d}.png"
                    img = Image.open(path).convert("RGB") if path.is_file() else None
                if img is not None:
                    x = label + s * (columns * size + 8) + c * size
                    sheet.paste(img.resize((size, size)), (x, r * size))
    sheet.save(out / "contact_sheet.png")
    return out / "contact_sheet.png"


def proof(args) -> dict:
    from matchchoose_microzoo.models import ZOO, build_pipeline, pretrain

    spec = ZOO[args.proof]
    domains = args.domains.split(",")
    controls = args.controls.split(",") if args.controls else []
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mixture = {d: spec.mixture.get(d, 1.0) for d in domains}
    init = build_pipeline(spec, out / "model-init", vae=args.vae, seed=args.seed, overwrite=True)
    t0 = time.perf_counter()
    result = pretrain(spec, args.data, out / "model", vae=args.vae, steps=args.steps, batch_size=args.batch_size,
                      mixture=mixture, seed=args.seed, progress=not args.quiet)
    train_s = time.perf_counter() - t0
    everything = domains + controls
    for which, folder in (("random", init), ("pretrained", out / "model")):
        _sample_domains(folder, everything, args.data, out / which, args.n, args.sample_steps, args.guidance)
    probes = ["pixels"]
    try:
        from matchchoose.profile import get_probe

        get_probe("dinov2")
        probes.append("dinov2")
    except Exception as exc:  # noqa: BLE001 - a missing optional probe only drops a column
        print(f"(dinov2 probe unavailable: {exc})")
    scores = {p: _score(out, everything, args.data, p) for p in probes}
    sheet = _sheet(out, everything, args.data)
    record = {"model": spec.name, "domains": domains, "controls": controls, "steps": args.steps,
              "batch_size": args.batch_size, "train_seconds": round(train_s, 1),
              "seconds_per_step": result.record["seconds_per_step"],
              "loss_first_100": result.record["loss_first_100"], "loss_last_100": result.record["loss_last_100"],
              "n_samples_per_domain": args.n, "sample_steps": args.sample_steps, "guidance": args.guidance,
              "scores": scores, "contact_sheet": str(sheet)}
    (out / "proof.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    for probe in probes:
        print(f"\nFréchet distance ({probe}) of samples (rows) to held-out real images (columns):")
        print(f"{'':34s}" + "".join(f"{d[:14]:>15s}" for d in everything))
        for which in ("real", "random", "pretrained"):
            for gen in everything:
                tag = "" if gen in domains else " (control)"
                cells = "".join(f"{scores[probe][which][f'{gen}|{ref}']:15.3f}" for ref in everything)
                print(f"{which + ' ' + gen + tag:34s}{cells}")
    print(f"\nloss {record['loss_first_100']:.4f} -> {record['loss_last_100']:.4f} in {args.steps} steps "
          f"({train_s:.0f} s); contact sheet {sheet}")
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/microzoo")
    parser.add_argument("--vae", default=None, help="Shared VAE folder (default: a random VAE; speed only).")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--models", default=None)
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--proof", default=None, metavar="MODEL")
    parser.add_argument("--domains", default="noto_emoji,kgeography_flags,typeface_glyphs")
    parser.add_argument("--controls", default="astrophotos,mnist_digits")
    parser.add_argument("--out", default="benchmarks/out/microzoo-proof")
    parser.add_argument("--n", type=int, default=40, help="Samples per domain (proof; the held-out split has 40).")
    parser.add_argument("--sample-steps", type=int, default=25)
    parser.add_argument("--guidance", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(_one(args.one, args.data, args.vae, args.steps, args.batch_size, args.synthetic)))
    elif args.proof:
        proof(args)
    else:
        rows = speed(args)
        if rows:
            median = statistics.median(r["s_per_step_median"] for r in rows)
            print(f"\nmedian over models: {median:.3f} s/step")


if __name__ == "__main__":
    main()
