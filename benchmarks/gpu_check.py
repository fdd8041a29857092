"""One-command check of a CUDA machine: fine-tuning, sampling, probe, distances and determinism.

Builds random-weight pipelines of every family from the configs shipped in
``src/matchchoose/features/zoo`` (full width; Flux with 2 double + 4 single blocks, T5 and Gemma
text encoders with 2 layers, so that building and saving stay within seconds; tokenizers are the
offline ones of :mod:`matchchoose.finetune.tiny`), then measures with the project's own trainer,
sampler, probe and distances what the project's first GPU run reported (docs/finetune.md):

* LoRA fine-tuning per family and, for SD 1.5, per mode (bf16, low-memory, adapter, gradient
  checkpointing, fp16): seconds per step, images per second, seconds per step spent preparing data
  (decode, augment, copy) on the host, peak GPU memory, the attention backends and the precision;
* sampling (SD 1.5, 30 steps, CFG 7.5), images per second;
* the CLIP ViT-B/32 probe (random weights, float16): end to end (with the project's preprocessing)
  against the model alone;
* KID and CMMD on 10,000 x 768 features;
* determinism: the same fine-tune twice, and 4 steps against 2 + resumed 2, with and without
  ``deterministic=True`` (max absolute weight difference).

Usage::

    python benchmarks/gpu_check.py                    # on a CUDA machine; about 4 minutes on one H200
    python benchmarks/gpu_check.py --tiny             # tiny pipelines on the CPU (what CI runs)
    python benchmarks/gpu_check.py --families sd,flux --json out.json --budget 240

A check that would start after ``--budget`` seconds is reported as skipped, so the script ends in
time on a slower GPU. Exit code 0 when every check ran (or was skipped for the budget), 1 when one
failed (its error is in the table).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

FAMILIES = ("sd", "sdxl", "sd3", "flux", "pixart", "sana")
#: Full size: (resolution, batch size) per family, as in the first GPU run's table where it has them.
FULL_SHAPES = {"sd": (512, 8), "sdxl": (1024, 4), "sd3": (512, 4), "flux": (512, 4), "pixart": (512, 8),
               "sana": (512, 8)}
TINY_RESOLUTION = {"sana": 32}
#: SD 1.5 modes (recipe changes); the other families train LoRA in bf16 (their native precision).
SD_MODES = {"bf16": {"mixed_precision": "bf16"}, "low-memory": {"low_memory": True},
            "adapter": {"method": "adapter", "mixed_precision": "bf16"},
            "grad-ckpt": {"gradient_checkpointing": True, "mixed_precision": "bf16"},
            "fp16": {"mixed_precision": "fp16"}}


# ------------------------------------------------------------------------------------------ pipelines
def full_pipeline(family: str, device):
    """A full-width random-weight pipeline of ``family`` from the shipped config, built on ``device``
    (``"meta"`` builds the structure without memory: what the tests check)."""
    import diffusers
    import torch
    import transformers

    from matchchoose.finetune import tiny as tiny_module

    config = tiny_module._source(family)
    index, comps = config.model_index, config.components
    parts = {}
    torch.manual_seed(0)
    with torch.device(device):
        for key in sorted(k for k in index if k.startswith("text_encoder")):
            cls = tiny_module._declared(config, key)
            tok_key = key.replace("text_encoder", "tokenizer")
            if cls is None:
                parts[key] = parts[tok_key] = None
                continue
            src = tiny_module._strip(comps[key])
            if cls.startswith("CLIPTextModel"):
                tok = tiny_module.tiny_tokenizer("clip")
                eos, bos = tok.convert_tokens_to_ids(["<|endoftext|>", "<|startoftext|>"])
                cfg = transformers.CLIPTextConfig(**dict(src, vocab_size=len(tok), max_position_embeddings=77,
                                                         eos_token_id=eos, bos_token_id=bos, pad_token_id=eos))
                model = getattr(transformers, cls)(cfg)
            elif cls == "T5EncoderModel":
                tok = tiny_module.tiny_tokenizer("t5")
                model = transformers.T5EncoderModel(transformers.T5Config(**dict(
                    src, vocab_size=len(tok), num_layers=2, num_decoder_layers=2, dropout_rate=0.0)))
            else:  # Gemma2
                tok = tiny_module.tiny_tokenizer("gemma")
                src.pop("cache_implementation", None)
                model = getattr(transformers, cls)(transformers.Gemma2Config(**dict(
                    src, vocab_size=len(tok), num_hidden_layers=2, pad_token_id=0, eos_token_id=1, bos_token_id=2)))
            parts[key], parts[tok_key] = model.eval(), tok
        parts["vae"] = getattr(diffusers, tiny_module._declared(config, "vae")).from_config(
            tiny_module._strip(comps["vae"]))
        key = "unet" if "unet" in comps else "transformer"
        den_cfg = tiny_module._strip(comps[key])
        if family == "flux":
            den_cfg.update(num_layers=2, num_single_layers=4)
        parts[key] = getattr(diffusers, config.component_class(key)).from_config(den_cfg)
    parts["scheduler"] = getattr(diffusers, tiny_module._declared(config, "scheduler")).from_config(
        tiny_module._strip(comps["scheduler"]))
    return tiny_module.assemble_pipeline(index["_class_name"], parts)


def build_full_pipeline(family: str, path: Path, device) -> Path:
    """:func:`full_pipeline` saved at ``path`` in bfloat16 (reused when already there)."""
    import torch

    if (path / "model_index.json").is_file():
        return path
    pipe = full_pipeline(family, device).to(torch.bfloat16)
    pipe.save_pretrained(path, safe_serialization=True)
    del pipe
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return path


def build_pipeline(family: str, root: Path, tiny: bool, device) -> Path:
    from matchchoose.finetune.tiny import build_tiny_pipeline

    path = root / f"{family}-{'tiny' if tiny else 'full'}"
    return build_tiny_pipeline(family, path) if tiny else build_full_pipeline(family, path, device)


def make_images(root: Path, n: int, size: int) -> Path:
    """``n`` noisy JPEGs (a little larger than ``size``, so resizing and cropping run) with captions."""
    import numpy as np
    from PIL import Image

    folder = root / f"images-{size}"
    if folder.is_dir():
        return folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    with open(folder / "metadata.jsonl", "w", encoding="utf-8") as fh:
        for i in range(n):
            pixels = rng.integers(0, 256, (size + size // 4, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=90)
            fh.write(json.dumps({"file_name": f"{i}.jpg", "text": f"a photo of a red cat number {i}"}) + "\n")
    return folder


# ------------------------------------------------------------------------------------------ checks
def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_check(model: Path, images: Path, recipe, device, steps: int) -> dict:
    """Seconds per step (median after the first), seconds per step the step waited for its data (on a
    GPU the trainer prefetches batches in worker threads, so this is the wait, not the work), peak memory."""
    import torch

    from matchchoose.finetune import _train

    recipe = recipe.replace(steps=steps)
    trainer = _train._Trainer(model, images, Path(tempfile.mkdtemp()), recipe, device, progress=False)
    trainer.build()
    trainer.start_prefetch(0)
    data_seconds = []
    batches = trainer.batch

    def timed(step, micro):
        t0 = time.perf_counter()
        out = batches(step, micro)
        data_seconds.append(time.perf_counter() - t0)
        return out

    trainer.batch = timed
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times, losses = [], []
    for step in range(steps):
        _sync(device)
        t0 = time.perf_counter()
        losses.append(trainer.train_step(step))
        _sync(device)
        times.append(time.perf_counter() - t0)
    trainer.cleanup()
    timed_steps = times[1:] or times
    per_step = statistics.median(timed_steps)
    data = statistics.mean(data_seconds[len(data_seconds) // steps:] or data_seconds) * recipe.gradient_accumulation
    loss = float(torch.stack(losses).mean())
    return {"s_per_step": per_step, "img_per_s": recipe.batch_size / per_step, "data_s_per_step": data,
            "data_share": data / per_step, "peak_gb": _peak_gb(device), "loss": loss,
            "data_workers": _train._data_workers(device),
            "precision": "bf16 (low-memory)" if recipe.low_memory else {"no": "fp32"}.get(trainer.precision,
                                                                                          trainer.precision),
            "attention": _train.describe_backends(trainer.backends)}


def _peak_gb(device) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def sample_check(model: Path, device, *, resolution: int, batch: int, steps: int) -> dict:
    from matchchoose.sample import load_pipeline, sample_images

    pipe = load_pipeline(model, device=str(device))
    out = Path(tempfile.mkdtemp())
    captions = [f"a photo of a cat number {i}" for i in range(batch)]
    sample_images(pipe, captions[:1], out / "warmup", steps=2, guidance_scale=7.5, resolution=resolution,
                  batch_size=1)
    result = sample_images(pipe, captions, out / "run", steps=steps, guidance_scale=7.5, resolution=resolution,
                           batch_size=batch)
    return {"img_per_s": result.images_per_second, "dtype": str(pipe.dtype).replace("torch.", "")}


def probe_check(root: Path, device, *, tiny: bool, n: int) -> dict:
    """CLIP ViT-B/32 with random weights: model-only images/s against end-to-end (with preprocessing)."""
    import numpy as np
    import torch
    import transformers
    from PIL import Image

    from matchchoose.profile._clip import ClipProbe

    folder = root / ("clip-tiny" if tiny else "clip-b32")
    if not (folder / "config.json").is_file():
        size = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                    projection_dim=8, image_size=32, patch_size=16) if tiny else {}
        config = transformers.CLIPVisionConfig(**dict(dict(hidden_size=768, intermediate_size=3072,
                                                           num_hidden_layers=12, num_attention_heads=12,
                                                           projection_dim=512, image_size=224, patch_size=32),
                                                      **size))
        torch.manual_seed(0)
        transformers.CLIPVisionModelWithProjection(config).save_pretrained(folder)
    dtype = "float16" if device.type == "cuda" else "float32"
    batch = 8 if tiny else 256
    probe = ClipProbe(str(folder), device=str(device), dtype=dtype, batch_size=batch)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)) for _ in range(min(n, 64))]
    images = (images * (n // len(images) + 1))[:n]
    probe.embed(images[:batch])  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    embeddings = probe.embed(images)
    _sync(device)
    end_to_end = n / (time.perf_counter() - t0)
    side = probe.model.config.image_size
    pixels = torch.randn(batch, 3, side, side, device=device, dtype=getattr(torch, dtype))
    with torch.inference_mode():
        probe.model(pixel_values=pixels)
        _sync(device)
        t0 = time.perf_counter()
        rounds = max(1, n // batch)
        for _ in range(rounds):
            probe.model(pixel_values=pixels)
        _sync(device)
    model_only = rounds * batch / (time.perf_counter() - t0)
    return {"end_to_end_img_per_s": end_to_end, "model_img_per_s": model_only, "share": end_to_end / model_only,
            "dim": int(embeddings.shape[1])}


def distance_check(n: int, dim: int, device) -> dict:
    """KID and CMMD with NumPy on the CPU and, beside a GPU, with torch on it (``device=``)."""
    import numpy as np

    from matchchoose.profile import cmmd, kid

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(n, dim)), rng.normal(size=(n, dim)) + 0.1
    out = {}
    for where in ([None, str(device)] if device.type == "cuda" else [None]):
        suffix = "" if where is None else "_gpu"
        kid(x[:8], y[:8], n_subsets=1, subset_size=4, device=where)  # warm-up (CUDA context, kernels)
        t0 = time.perf_counter()
        out["kid" + suffix], _ = kid(x, y, n_subsets=100, subset_size=min(1000, n), device=where)
        t1 = time.perf_counter()
        out["cmmd" + suffix] = cmmd(x, y, device=where)
        t2 = time.perf_counter()
        out["kid" + suffix + "_s"], out["cmmd" + suffix + "_s"] = t1 - t0, t2 - t1
    return out


def determinism_check(model: Path, images: Path, recipe, device) -> dict:
    """Max |difference| of the trained weights: two identical runs, and 4 steps against 2 + resumed 2."""
    from safetensors.torch import load_file

    from matchchoose.finetune import finetune

    out = {}
    for deterministic in (False, True):
        r = recipe.replace(steps=4, checkpoint_every=2, deterministic=deterministic)
        root = Path(tempfile.mkdtemp())

        def weights(run):
            return load_file(str(run.adapter_dir / "adapter_model.safetensors"))

        a = weights(finetune(model, images, root / "a", r, progress=False, device=str(device)))
        b = weights(finetune(model, images, root / "b", r, progress=False, device=str(device)))
        finetune(model, images, root / "c", r.replace(steps=2), progress=False, device=str(device))
        c = weights(finetune(model, images, root / "c", r, progress=False, device=str(device)))
        out["deterministic" if deterministic else "default"] = {
            "rerun": max(float((a[k].float() - b[k].float()).abs().max()) for k in a),
            "resume": max(float((a[k].float() - c[k].float()).abs().max()) for k in a)}
    return out


# ------------------------------------------------------------------------------------------ driver
def run(args) -> tuple[list, bool]:
    import torch

    from matchchoose.finetune import Recipe

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and args.tiny:
        print("note: --tiny on CUDA measures tiny models: fine for a smoke test, not for the table", file=sys.stderr)
    root = Path(args.workdir or tempfile.mkdtemp(prefix="mnc-gpu-check-"))
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise SystemExit(f"--families: unknown {', '.join(unknown)}; choose from {', '.join(FAMILIES)}")
    started = time.perf_counter()
    rows, failed = [], False

    def check(what, fn):
        nonlocal failed
        if time.perf_counter() - started > args.budget:
            rows.append({"check": what, "status": "skipped (budget)"})
            return None
        t0 = time.perf_counter()
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - a check's failure is a row of the table
            failed = True
            rows.append({"check": what, "status": f"FAILED: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"})
            if args.verbose:
                traceback.print_exc()
            return None
        rows.append({"check": what, "status": "ok", "seconds": round(time.perf_counter() - t0, 2), **result})
        print(_format_row(rows[-1]), file=sys.stderr, flush=True)
        return result

    steps = 2 if args.tiny else args.steps
    for family in families:
        resolution, batch = (TINY_RESOLUTION.get(family, 16), 2) if args.tiny else FULL_SHAPES[family]
        model = check(f"{family}: build", lambda f=family: {"path": str(build_pipeline(f, root, args.tiny, device))})
        if model is None:
            continue
        model = Path(model["path"])
        images = make_images(root, max(2 * batch, 4), resolution)
        base = Recipe(steps=steps, batch_size=batch, resolution=resolution, learning_rate=1e-5, checkpoint_every=0,
                      lora_rank=4)
        modes = SD_MODES if family == "sd" else {"bf16": {"mixed_precision": "bf16"}}
        if family == "sdxl":
            modes = {**modes, "low-memory": {"low_memory": True}}
        for mode, changes in modes.items():
            if changes.get("mixed_precision") == "fp16" and device.type != "cuda":
                rows.append({"check": f"{family}: LoRA {mode}", "status": "n/a (fp16 needs CUDA)"})
                continue
            label = f"{family}: {mode}" if "method" in changes else f"{family}: LoRA {mode}"
            check(label, lambda m=model, i=images, r=base.replace(**changes):
                  train_check(m, i, r, device, steps + 1))
        if family == "sd":
            check("sd: sampling", lambda m=model, r=resolution: sample_check(
                m, device, resolution=r, batch=2 if args.tiny else 8, steps=2 if args.tiny else 30))
            det_recipe = base.replace(mixed_precision="bf16" if device.type == "cuda" else "no",
                                      **({} if args.tiny else {"resolution": 256, "batch_size": 4}))
            det_images = images if args.tiny else make_images(root, 8, 256)
            check("sd: determinism", lambda m=model, i=det_images: determinism_check(m, i, det_recipe, device))
    check("clip probe", lambda: probe_check(root, device, tiny=args.tiny, n=32 if args.tiny else 4096))
    n, dim = (300, 16) if args.tiny else (10_000, 768)
    check(f"kid/cmmd {n}x{dim}", lambda: distance_check(n, dim, device))
    return rows, failed


def _format_row(row: dict) -> str:
    skip = {"check", "status", "path"}
    cells = []
    for key, value in row.items():
        if key in skip:
            continue
        if isinstance(value, float):
            value = f"{value:.3g}"
        elif isinstance(value, dict):
            value = json.dumps(value, sort_keys=True, default=lambda v: f"{v:.2g}")
        cells.append(f"{key}={value}")
    return f"| {row['check']} | {row['status']} | {', '.join(cells)} |"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny pipelines and sizes (the CPU mode CI runs)")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--families", default=",".join(FAMILIES), help=f"comma-separated, from {', '.join(FAMILIES)}")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per mode (after one warm-up)")
    parser.add_argument("--budget", type=float, default=270.0, help="seconds after which checks are skipped")
    parser.add_argument("--workdir", default=None, help="where pipelines and images go (default: a temp folder)")
    parser.add_argument("--json", default=None, help="also write the rows as JSON")
    parser.add_argument("--verbose", action="store_true", help="print tracebacks of failed checks")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rows, failed = run(args)
    print("| check | status | measured |\n|---|---|---|")
    for row in rows:
        print(_format_row(row))
    print(f"\n{len(rows)} checks in {time.perf_counter() - t0:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, sort_keys=True, default=float) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
