"""Quantised sampling: uniform W8A8 / W4A8 and MPQ-Diff mixed precision (arXiv 2412.00144).

Scoring a grid cell means drawing hundreds to thousands of images; quantising the denoiser cuts
that cost. MPQ-Diff gives each layer of the denoiser its own weight (and activation) bit width,
allocated by the layer's importance, measured as the *network orthogonality* of its output to the
other layers' outputs on a small calibration set, at timesteps sampled uniformly over the
trajectory rather than at all of them.

    profile_bitmap()     calibrate on captions, measure orthogonality, allocate bits -> BitMap
    BitMap               per-layer bits + importance, save/load as JSON
    uniform_bitmap()     the same layers at fixed bits (w8a8, w4a8)
    reallocate()         a BitMap's importances under another budget (no new profiling)
    quantize_pipeline()  apply a scheme or a BitMap to a pipeline's denoiser, in place
    allocate_bits()      the integer programme (scipy.optimize.milp)

Only the denoiser is quantised (text encoders and VAE stay as loaded), for every family
``mnc sample`` supports (sd, sdxl, sd3, flux, pixart, sana). ``nn.Linear`` layers with 8-bit
activations go through torchao's integer kernels; convolutions, and activations below 8 bits, are
fake-quantised (accuracy simulated, no speed-up): see :mod:`._apply`.

torch (and torchao when installed) are imported only when a pipeline is quantised.

Examples
--------
>>> from matchchoose.quantize import parse_scheme
>>> parse_scheme("mpq:4.5/6")
Scheme(kind='mpq', weight_bits=4.5, act_bits=6.0)
"""

from __future__ import annotations

from ._allocate import allocate_bits
from ._bitmap import ACT_BITS, BITMAP_FORMAT, WEIGHT_BITS, BitMap, Scheme, parse_scheme

__all__ = ["ACT_BITS", "BITMAP_FORMAT", "BitMap", "Scheme", "WEIGHT_BITS", "allocate_bits", "calibration_captions",
           "parse_scheme", "profile_bitmap", "quantize_pipeline", "reallocate", "uniform_bitmap"]


def calibration_captions(dataset, n: int = 8, *, val_fraction: float = 0.2, random_state: int = 0) -> list:
    """``n`` captions of the *training* split of ``dataset`` (the held-out captions stay unseen), chosen
    with a seeded generator; missing captions become ``""``."""
    import numpy as np

    from ..profile import ImageFolder, split

    folder = dataset if isinstance(dataset, ImageFolder) else ImageFolder(dataset)
    train, _ = split(folder, val_fraction=val_fraction, random_state=random_state)
    captions = [c or "" for c in train.captions]
    if not captions:
        captions = [""]
    rng = np.random.default_rng(random_state)
    idx = rng.permutation(len(captions))[:n] if len(captions) >= n else np.arange(n) % len(captions)
    return [captions[i] for i in idx]


def reallocate(bitmap: BitMap, scheme) -> BitMap:
    """The layers of a profiled ``bitmap`` allocated anew under ``scheme``'s budgets (``mpq:W[/A]``)."""
    from .._errors import InputError

    scheme = parse_scheme(scheme) if isinstance(scheme, str) else scheme
    if scheme.kind == "uniform":
        return uniform_bitmap(list(bitmap.layers), scheme, weight_sizes=bitmap.weight_sizes,
                              act_sizes=bitmap.act_sizes, meta=dict(bitmap.meta))
    if not bitmap.importance:
        raise InputError("reallocate: the bit map has no layer importances (a uniform map); profile the model with "
                         "'mnc quantize' first.")
    names = [n for n in bitmap.layers if n in bitmap.importance]
    theta = [bitmap.importance[n] for n in names]
    w = allocate_bits(theta, [bitmap.weight_sizes[n] for n in names], scheme.weight_bits, WEIGHT_BITS)
    if scheme.act_bits >= 8:
        a = [8] * len(names)
    else:
        a = allocate_bits(theta, [bitmap.act_sizes[n] for n in names], scheme.act_bits, ACT_BITS)
    out = BitMap(layers={n: {"w": int(wi), "a": int(ai)} for n, wi, ai in zip(names, w, a)},
                 importance={n: bitmap.importance[n] for n in names},
                 weight_sizes={n: bitmap.weight_sizes[n] for n in names},
                 act_sizes={n: bitmap.act_sizes[n] for n in names}, meta=dict(bitmap.meta))
    out.meta.update(scheme=scheme.name, weight_bits_budget=scheme.weight_bits, act_bits_budget=scheme.act_bits,
                    weight_bits_average=round(out.average_bits("w"), 6), act_bits_average=round(out.average_bits("a"), 6))
    return out


def uniform_bitmap(layers, scheme, *, weight_sizes=None, act_sizes=None, meta=None) -> BitMap:
    """Every layer of ``layers`` (names) at the scheme's fixed bits (``w8a8``, ``w4a8``)."""
    scheme = parse_scheme(scheme) if isinstance(scheme, str) else scheme
    w, a = int(round(scheme.weight_bits)), int(round(scheme.act_bits))
    bm = BitMap(layers={n: {"w": w, "a": a} for n in layers}, weight_sizes=dict(weight_sizes or {}),
                act_sizes=dict(act_sizes or {}), meta=dict(meta or {}))
    bm.meta.update(scheme=f"w{w}a{a}")
    return bm


def profile_bitmap(pipe, captions, scheme="mpq:4.5", *, num_steps: int = 10, n_timesteps: int = 5, resolution=None,
                   guidance_scale: float = 5.0, seed: int = 0, model: str = "") -> BitMap:
    """Profile ``pipe``'s denoiser on ``captions`` (MPQ-Diff orthogonality) and allocate ``scheme``'s budget.

    See :func:`._profile.profile_orthogonality` for the calibration parameters.

    Examples
    --------
    >>> from matchchoose.sample import load_pipeline                        # doctest: +SKIP
    >>> bm = profile_bitmap(load_pipeline("models/sd15"), ["a cat"] * 8)    # doctest: +SKIP
    >>> bm.save("runs/sd15-q")                                              # doctest: +SKIP
    """
    import time

    from ._profile import profile_orthogonality

    scheme = parse_scheme(scheme) if isinstance(scheme, str) else scheme
    t0 = time.perf_counter()
    prof = profile_orthogonality(pipe, captions, num_steps=num_steps, n_timesteps=n_timesteps, resolution=resolution,
                                 guidance_scale=guidance_scale, seed=seed)
    meta = {"model": str(model), "pipeline_class": type(pipe).__name__, "calibration_captions": len(captions),
            "calibration_steps": num_steps, "profiled_steps": prof["steps"], "seed": seed,
            "guidance_scale": guidance_scale, "profile_seconds": round(time.perf_counter() - t0, 3)}
    base = BitMap(layers={n: {"w": 8, "a": 8} for n in prof["importance"]}, importance=prof["importance"],
                  weight_sizes=prof["weight_sizes"], act_sizes=prof["act_sizes"], meta=meta)
    return reallocate(base, scheme)


def quantize_pipeline(pipe, quantize, *, bitmap=None, backend: str = "auto") -> BitMap:
    """Quantise ``pipe``'s denoiser in place; return the bit map applied.

    Parameters
    ----------
    pipe : diffusers.DiffusionPipeline
    quantize : str, Scheme or BitMap
        ``"w8a8"``, ``"w4a8"``, ``"mpq:BITS"`` (needs ``bitmap``: a profiled BitMap or its path,
        re-allocated to BITS), or a BitMap to apply as it is.
    bitmap : BitMap or path, optional
        The profile ``mpq`` schemes allocate from.
    backend : {"auto", "torchao", "fake"}
        See :func:`._apply.apply_bitmap`.
    """
    from .._errors import InputError
    from ._apply import apply_bitmap
    from ._profile import denoiser_of, quantizable_layers

    denoiser = denoiser_of(pipe)
    if isinstance(quantize, BitMap):
        chosen = quantize
    else:
        scheme = parse_scheme(quantize) if isinstance(quantize, str) else quantize
        if scheme.kind == "uniform":
            layers = quantizable_layers(denoiser)
            chosen = uniform_bitmap(list(layers), scheme,
                                    weight_sizes={n: int(m.weight.numel()) for n, m in layers.items()})
        else:
            if bitmap is None:
                raise InputError(f"--quantize {scheme.name} needs a profiled bit map: run 'mnc quantize --model DIR "
                                 "--dataset DIR --out DIR' and pass --bit-map OUT (or let mnc sample profile "
                                 "the dataset's captions).")
            profile = bitmap if isinstance(bitmap, BitMap) else BitMap.load(bitmap)
            chosen = reallocate(profile, scheme)
    counts = apply_bitmap(denoiser, chosen, backend=backend)
    chosen.meta["applied"] = counts
    return chosen
