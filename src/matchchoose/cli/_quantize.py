"""``mnc quantize``: profile a pipeline's denoiser (MPQ-Diff orthogonality) and save its bit map."""

from __future__ import annotations

import click

from ._common import console

__all__ = ["quantize"]


@click.command()
@click.option("--model", required=True, type=click.Path(exists=True, file_okay=False),
              help="Local diffusers pipeline folder (sd, sdxl, sd3, flux, pixart, sana).")
@click.option("--dataset", required=True, type=click.Path(exists=True, file_okay=False),
              help="Image folder whose training-split captions are the calibration prompts.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for bitmap.json.")
@click.option("--bits", "scheme", default="mpq:4.5", show_default=True,
              help="Budget: mpq:W (average weight bits, activations 8) or mpq:W/A; w8a8/w4a8 save a uniform map.")
@click.option("--captions", "n_captions", type=click.IntRange(min=1), default=8, show_default=True,
              help="Calibration captions (one batch).")
@click.option("--steps", type=click.IntRange(min=1), default=10, show_default=True,
              help="Denoising steps of the calibration run.")
@click.option("--timesteps", type=click.IntRange(min=1), default=5, show_default=True,
              help="Steps profiled, spaced uniformly over the run.")
@click.option("--resolution", type=click.IntRange(min=8), default=None, help="Pixels (default: the model's own).")
@click.option("--guidance", type=float, default=5.0, show_default=True, help="Guidance scale.")
@click.option("--seed", type=int, default=0, show_default=True, help="Split and calibration-noise seed.")
@click.option("--device", default=None, help="Default: cuda when available, else cpu.")
def quantize(model, dataset, out, scheme, n_captions, steps, timesteps, resolution, guidance, seed, device):
    """Profile a denoiser's layers on a dataset's captions and allocate bits (MPQ-Diff); write OUT/bitmap.json.

    Sample with it: mnc sample ... --quantize mpq:4.5 --bit-map OUT (any mpq:BITS re-allocates from
    the same profile without profiling again).

    Example: mnc quantize --model ./sd15 --dataset ./pets --out runs/sd15-q --bits mpq:4.5
    """
    from ..quantize import calibration_captions, parse_scheme, profile_bitmap
    from ..sample import load_pipeline

    parsed = parse_scheme(scheme)
    captions = calibration_captions(dataset, n_captions, random_state=seed)
    pipe = load_pipeline(model, device=device, dtype="float32")
    bitmap = profile_bitmap(pipe, captions, parsed, num_steps=steps, n_timesteps=timesteps, resolution=resolution,
                            guidance_scale=guidance, seed=seed, model=model)
    bitmap.meta["dataset"] = str(dataset)
    path = bitmap.save(out)
    counts = {}
    for bits in bitmap.layers.values():
        counts[bits["w"]] = counts.get(bits["w"], 0) + 1
    spread = ", ".join(f"{n} layers at {b} bits" for b, n in sorted(counts.items()))
    console.print(f"{path}: {len(bitmap.layers)} layers of {model}, {parsed.name}: average "
                  f"{bitmap.average_bits('w'):.3f} weight bits, {bitmap.average_bits('a'):.3f} activation bits "
                  f"({spread}); profiled in {bitmap.meta['profile_seconds']:.1f} s.", highlight=False, soft_wrap=True)


def quantize_loaded(pipe, scheme, bit_map, backend, *, dataset, out, seed):
    """``mnc sample --quantize``: quantise a loaded pipeline; an ``mpq`` scheme without ``--bit-map``
    profiles the dataset's training captions first. The bit map applied is saved as
    ``OUT/quantize.json`` beside the samples (folder metadata stays an ImageFolder)."""
    from pathlib import Path

    from ..quantize import calibration_captions, parse_scheme, profile_bitmap, quantize_pipeline

    parsed = parse_scheme(scheme)
    profile = bit_map
    if parsed.kind == "mpq" and bit_map is None:
        profile = profile_bitmap(pipe, calibration_captions(dataset, 8, random_state=seed), parsed, seed=seed)
    applied = quantize_pipeline(pipe, parsed, bitmap=profile, backend=backend)
    Path(out).mkdir(parents=True, exist_ok=True)
    applied.save(Path(out) / "quantize.json")
    console.print(f"quantized the denoiser: {parsed.name}, average {applied.average_bits('w'):.3f} weight bits, "
                  f"{applied.meta['applied']['torchao']} layers on torchao kernels, "
                  f"{applied.meta['applied']['fake']} fake-quantised.", highlight=False, soft_wrap=True)
