"""``mnc sample``: images from a (fine-tuned) pipeline for a dataset's held-out captions."""

from __future__ import annotations

import click

from ._common import console

__all__ = ["sample"]


@click.command()
@click.option("--model", required=True, help="Diffusers pipeline folder (or hub id when reachable).")
@click.option("--adapter", type=click.Path(exists=True), default=None,
              help="Run folder (or its adapter/) of 'mnc finetune' to apply; default: the pretrained model.")
@click.option("--dataset", type=click.Path(exists=True, file_okay=False), required=True,
              help="Image folder whose held-out captions are the prompts.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder (an ImageFolder).")
@click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2,
              show_default=True, help="Held-out fraction (the split of 'mnc grid' with the same seed).")
@click.option("--n", "n", type=click.IntRange(min=1), default=None, help="Images (default: one per held-out caption).")
@click.option("--steps", type=click.IntRange(min=1), default=25, show_default=True, help="Inference steps.")
@click.option("--guidance", type=float, default=5.0, show_default=True, help="Guidance scale.")
@click.option("--resolution", type=click.IntRange(min=8), default=None, help="Pixels (default: the model's own).")
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Split seed; image i uses seed + i.")
@click.option("--device", default=None, help="Default: cuda when available, else cpu.")
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16"]), default=None,
              help="Default on CUDA: the precision the model family was made in (bfloat16 for Flux, SD3, PixArt, "
                   "Sana; float16 for SD 1.5, SDXL); float32 on CPU.")
@click.option("--deterministic", is_flag=True, help="Deterministic algorithms on CUDA: bit-identical images on a "
              "rerun, about +32 % sampling time (no effect on the CPU, which is deterministic already).")
@click.option("--quantize", "quantize", default=None,
              help="Quantise the denoiser: w8a8, w4a8 (any wNaM) or mpq:BITS[/ABITS] (MPQ-Diff; see mnc quantize).")
@click.option("--bit-map", "bit_map", type=click.Path(exists=True), default=None,
              help="bitmap.json (or its folder) of 'mnc quantize' for mpq:BITS; default: profile the dataset's "
                   "training captions now.")
@click.option("--quantize-backend", type=click.Choice(["auto", "torchao", "fake"]), default="auto", show_default=True,
              help="torchao kernels where they exist (Linear, 8-bit activations), fake quantisation elsewhere.")
def sample(model, adapter, dataset, out, val_fraction, n, steps, guidance, resolution, batch_size, seed, device, dtype,
           quantize, bit_map, quantize_backend, deterministic):
    """Generate images for a dataset's held-out captions, one fixed seed per image (resumable).

    Example: mnc sample --model ./sd15 --adapter runs/sd15-pets --dataset ./pets --out runs/sd15-pets/samples
    --quantize mpq:4.5 --bit-map runs/sd15-q
    """
    from ..sample import held_out_captions, load_pipeline, sample_images

    captions, _ = held_out_captions(dataset, val_fraction=val_fraction, random_state=seed)
    pipe = load_pipeline(model, adapter_dir=adapter, device=device, dtype=dtype)
    if quantize:
        from ._quantize import quantize_loaded

        quantize_loaded(pipe, quantize, bit_map, quantize_backend, dataset=dataset, out=out, seed=seed)
    result = sample_images(pipe, captions, out, n=n, steps=steps, guidance_scale=guidance, resolution=resolution,
                           seed=seed, batch_size=batch_size, progress=True, deterministic=deterministic)
    rate = f", {result.images_per_second:.2f} images/s" if result.generated else ""
    console.print(f"{result.out_dir}: {result.n} images ({result.generated} generated now, "
                  f"{result.n - result.generated} already there{rate})")
