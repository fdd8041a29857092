"""MPQ-Diff profiling: each layer's network orthogonality from its outputs on a calibration set.

The pipeline samples a few of the dataset's captions; at a handful of its denoising steps, spaced
uniformly over the trajectory (MPQ-Diff profiles sampled timesteps instead of all of them), every
quantisable layer's output ``X_i`` (one row per image in the batch, classifier-free guidance rows
included) is reduced at once to its Gram matrix ``K_i = X_i X_i^T`` (``B x B``), so no activation is
kept. The orthogonality metric between two layers is OMPQ's normalised inner product
``<K_i, K_j>_F / (||K_i||_F ||K_j||_F)`` (linear CKA without centring); a layer's importance at a
step is its orthogonality to the others, ``1 - mean_j corr(i, j)``, averaged over the sampled steps.
"""

from __future__ import annotations

import numpy as np

from .._errors import InputError

__all__ = ["denoiser_of", "quantizable_layers", "profile_orthogonality", "sampled_steps"]


def denoiser_of(pipe):
    """The denoising network of a supported pipeline (``unet`` or ``transformer``); refuses others."""
    from ..finetune.families import supported_pipelines

    cls = type(pipe).__name__
    if cls not in supported_pipelines():
        families = ", ".join(sorted(set(supported_pipelines().values())))
        raise InputError(f"Quantisation: pipeline class {cls} is not supported (families: {families}).")
    denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
    if denoiser is None:
        raise InputError(f"Quantisation: the {cls} has no unet or transformer to quantise.")
    return denoiser


def quantizable_layers(denoiser) -> dict:
    """``{name: module}`` of the denoiser's ``nn.Linear`` and ``nn.Conv2d`` layers, in module order."""
    import torch

    return {name: m for name, m in denoiser.named_modules()
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)) and m.weight is not None}


def sampled_steps(num_steps: int, n: int) -> list:
    """``n`` step indices spread uniformly over ``0 .. num_steps - 1`` (first and last included).

    Examples
    --------
    >>> sampled_steps(10, 4)
    [0, 3, 6, 9]
    """
    n = max(1, min(int(n), int(num_steps)))
    return sorted({int(round(x)) for x in np.linspace(0, num_steps - 1, n)})


def profile_orthogonality(pipe, captions, *, num_steps: int = 10, n_timesteps: int = 5, resolution=None,
                          guidance_scale: float = 5.0, seed: int = 0) -> dict:
    """Run the pipeline on ``captions`` and measure every quantisable layer's importance.

    Parameters
    ----------
    pipe : diffusers.DiffusionPipeline
        A pipeline of a supported family (float weights, not yet quantised).
    captions : list of str
        Calibration prompts (one batch).
    num_steps : int, default=10
        Denoising steps of the calibration run.
    n_timesteps : int, default=5
        Steps profiled, spaced uniformly over the run (:func:`sampled_steps`).
    resolution : int, optional
        Image size; default the pipeline's own.
    guidance_scale : float, default=5.0
    seed : int, default=0
        Image ``i`` of the batch uses a generator seeded ``seed + i``.

    Returns
    -------
    dict
        ``importance`` ``{name: float}``, ``weight_sizes`` and ``act_sizes`` ``{name: int}``,
        ``per_step`` ``{step: {name: float}}``, ``steps`` (the profiled indices).
    """
    import inspect

    import torch

    from ..sample._sample import _default_resolution

    captions = [c or "" for c in captions]
    if not captions:
        raise InputError("profile_orthogonality needs at least one calibration caption.")
    denoiser = denoiser_of(pipe)
    layers = quantizable_layers(denoiser)
    names = list(layers)
    steps = sampled_steps(num_steps, n_timesteps)
    state = {"call": -1}
    grams = {s: {} for s in steps}
    act_sizes = {}

    def on_denoiser(module, args, kwargs):
        state["call"] += 1

    def make_hook(name):
        def hook(module, args, output):
            out = output[0] if isinstance(output, tuple) else output
            x = args[0] if args else None
            if name not in act_sizes and x is not None:
                act_sizes[name] = int(x[0].numel())
            if state["call"] in grams:
                flat = out.detach().reshape(out.shape[0], -1).double()
                grams[state["call"]][name] = (flat @ flat.T).cpu().numpy()
        return hook

    handles = [denoiser.register_forward_pre_hook(on_denoiser, with_kwargs=True)]
    handles += [m.register_forward_hook(make_hook(n)) for n, m in layers.items()]
    size = resolution or _default_resolution(pipe)
    kwargs = {"height": size, "width": size}
    params = inspect.signature(pipe.__call__).parameters
    if "use_resolution_binning" in params:
        kwargs["use_resolution_binning"] = False
    if "clean_caption" in params:
        kwargs["clean_caption"] = False
    generators = [torch.Generator(device="cpu").manual_seed(seed + i) for i in range(len(captions))]
    try:
        with torch.inference_mode():
            pipe(prompt=captions, num_inference_steps=num_steps, guidance_scale=guidance_scale, generator=generators,
                 output_type="latent", **kwargs)
    finally:
        for h in handles:
            h.remove()
    if state["call"] + 1 < num_steps:
        raise InputError(f"profile_orthogonality: the {type(pipe).__name__} called its denoiser {state['call'] + 1} "
                         f"times for {num_steps} steps; cannot tell the steps apart.")
    per_step = {}
    for s in steps:
        missing = [n for n in names if n not in grams[s]]
        if missing:  # a layer the pipeline never runs (e.g. an unused embedding) keeps no importance
            names = [n for n in names if n not in missing]
    for s in steps:
        g = np.stack([grams[s][n].ravel() for n in names])
        norms = np.linalg.norm(g, axis=1)
        norms[norms == 0] = 1.0
        g = g / norms[:, None]
        corr = np.abs(g @ g.T)
        np.fill_diagonal(corr, 0.0)
        ortho = 1.0 - corr.sum(axis=1) / max(len(names) - 1, 1)
        per_step[s] = dict(zip(names, ortho.tolist()))
    importance = {n: float(np.mean([per_step[s][n] for s in steps])) for n in names}
    return {"importance": importance, "weight_sizes": {n: int(layers[n].weight.numel()) for n in names},
            "act_sizes": {n: act_sizes.get(n, 1) for n in names}, "per_step": per_step, "steps": steps}
