"""Applying a bit map to a denoiser: torchao kernels where they exist, fake quantisation elsewhere.

Backends, per layer:

* ``torchao`` (``nn.Linear`` with 8-bit activations): :func:`torchao.quantization.quantize_` with a
  per-module configuration: ``Int8DynamicActivationInt8WeightConfig`` for 8-bit weights (int8
  weights per output channel, int8 activations per token, an int8 matmul),
  ``Int8DynamicActivationIntxWeightConfig(weight_dtype=int{b}, PerAxis(0))`` for 2-6 bits (weights
  stored unpacked in int8, activations int8 per token). Real integer kernels on the CPU here;
  the memory saving is real for int8 storage, the sub-8-bit widths are stored in int8 bytes.
* ``fake`` (every ``nn.Conv2d``; a ``nn.Linear`` with activations below 8 bits; or everything with
  ``backend="fake"``): weights quantised and dequantised once, symmetric per output channel;
  input activations quantised and dequantised at every call, asymmetric per tensor from the
  tensor's own min and max. This simulates the *accuracy* of the bit widths exactly but saves no
  memory and no time (it adds two passes over each activation).
"""

from __future__ import annotations

from .._errors import InputError

__all__ = ["apply_bitmap", "fake_quantize_weight", "fake_quantize_activation", "BACKENDS"]

BACKENDS = ("auto", "torchao", "fake")


def fake_quantize_weight(weight, bits: int):
    """Symmetric per-output-channel quantise-dequantise of ``weight`` (``(out, ...)``) to ``bits``.

    Examples
    --------
    >>> import torch
    >>> fake_quantize_weight(torch.tensor([[1.0, 0.4, -0.2]]), 2).tolist()
    [[1.0, 0.0, 0.0]]
    """
    import torch

    w = weight.float()
    qmax = 2 ** (bits - 1) - 1
    amax = w.abs().reshape(w.shape[0], -1).amax(dim=1).clamp_min(1e-12)
    scale = (amax / qmax).reshape(-1, *([1] * (w.ndim - 1)))
    return (torch.clamp(torch.round(w / scale), -qmax, qmax) * scale).to(weight.dtype)


def fake_quantize_activation(x, bits: int):
    """Asymmetric per-tensor quantise-dequantise of ``x`` to ``bits`` (range from its min and max)."""
    import torch

    xf = x.float()
    lo, hi = xf.amin(), xf.amax()
    levels = 2 ** bits - 1
    scale = torch.clamp((hi - lo) / levels, min=1e-12)
    q = torch.clamp(torch.round((xf - lo) / scale), 0, levels)
    return (q * scale + lo).to(x.dtype)


def _act_hook(bits: int):
    def hook(module, args):
        return (fake_quantize_activation(args[0], bits),) + tuple(args[1:])
    return hook


def _torchao_config(w: int):
    import torch
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8DynamicActivationIntxWeightConfig
    from torchao.quantization.granularity import PerAxis

    if w == 8:
        return Int8DynamicActivationInt8WeightConfig()
    return Int8DynamicActivationIntxWeightConfig(weight_dtype=getattr(torch, f"int{w}"), weight_granularity=PerAxis(0))


def _has_torchao() -> bool:
    try:
        import torchao.quantization  # noqa: F401
    except ImportError:
        return False
    return True


def apply_bitmap(denoiser, bitmap, *, backend: str = "auto") -> dict:
    """Quantise ``denoiser``'s layers in place as ``bitmap`` says; return ``{backend: layer count}``.

    Parameters
    ----------
    denoiser : torch.nn.Module
    bitmap : BitMap
        Every layer it names must be an ``nn.Linear`` or ``nn.Conv2d`` of ``denoiser``.
    backend : {"auto", "torchao", "fake"}, default="auto"
        ``auto``: torchao for the layers it has kernels for when it is installed, fake elsewhere;
        ``torchao`` requires it; ``fake``: fake quantisation everywhere (pure torch).

    Raises
    ------
    InputError
        A layer of the bit map is not in the denoiser; ``backend="torchao"`` without torchao.
    """
    import torch

    from ._profile import quantizable_layers

    if backend not in BACKENDS:
        raise InputError(f"apply_bitmap: unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}.")
    layers = quantizable_layers(denoiser)
    unknown = sorted(set(bitmap.layers) - set(layers))
    if unknown:
        raise InputError(f"bit map: layer {unknown[0]!r} is not a Linear or Conv2d of this "
                         f"{type(denoiser).__name__} ({len(unknown)} unknown); profile this model again.")
    if backend == "torchao" and not _has_torchao():
        raise InputError("backend 'torchao' requires torchao: pip install 'matchchoose[quantize]'.")
    use_tao = backend in ("auto", "torchao") and _has_torchao()
    tao = {}
    counts = {"torchao": 0, "fake": 0}
    for name, bits in bitmap.layers.items():
        module = layers[name]
        w, a = int(bits["w"]), int(bits["a"])
        if use_tao and isinstance(module, torch.nn.Linear) and a == 8 and module.weight.dtype == torch.float32:
            tao[name] = _torchao_config(w)
            continue
        with torch.no_grad():
            module.weight.copy_(fake_quantize_weight(module.weight, w))
        if a < 16:
            module.register_forward_pre_hook(_act_hook(a))
        counts["fake"] += 1
    if tao:
        from torchao.quantization import FqnToConfig, quantize_

        quantize_(denoiser, FqnToConfig(fqn_to_config=tao), filter_fn=None)
        counts["torchao"] = len(tao)
    return counts
