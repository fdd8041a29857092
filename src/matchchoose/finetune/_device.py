"""What training and sampling do differently on an accelerator: attention backends, precision per
family, deterministic algorithms, and checking the loss without a host-device sync every step.

Findings of the project's first GPU run (one H200, torch 2.11 + CUDA 13) that this module encodes:

* cuDNN's scaled-dot-product attention crashed (illegal memory access) in the backward pass of a
  Flux transformer; excluding it costs SD 1.5 about 7 % and SDXL about 13 % per step, so it is
  excluded only where needed: in training, for the transformer families (Flux, SD3, PixArt, Sana),
  which share the joint/long-sequence attention shapes of the crash. A crash of this kind leaves the
  CUDA context unusable, so retrying in the same process is not an option: the choice is made
  before the first step and logged (and written to ``run.json``).
* Flux, SD3, PixArt and Sana were trained in bfloat16, SD 1.5 and SDXL in float16
  (:func:`native_precision`). In float16, T5 and Gemma text encoders overflow (their feed-forward
  activations exceed 65,504): :func:`keep_safe_in_fp16` keeps them in bfloat16 where the device has
  it, else float32, as a VAE with ``force_upcast`` stays float32.
* ``--deterministic`` (:func:`deterministic_algorithms`) makes CUDA runs bit-identical: the same
  fine-tune twice, and 4 steps straight against 2 + resumed 2, differed by up to 3.8e-4 without it;
  it cost +21 % training and +32 % sampling time on that GPU. On the CPU, results are already
  bit-identical and nothing changes.
"""

from __future__ import annotations

import contextlib
import logging
import os

__all__ = ["NATIVE_PRECISION", "attention_backends", "deterministic_algorithms", "keep_safe_in_fp16",
           "native_precision", "sdpa_context"]

log = logging.getLogger("matchchoose.finetune")

#: The precision each family's published weights were trained in.
NATIVE_PRECISION = {"sd": "fp16", "sdxl": "fp16", "sd3": "bf16", "flux": "bf16", "pixart": "bf16", "sana": "bf16"}
#: Families whose training excludes cuDNN attention on CUDA (see the module docstring).
_NO_CUDNN_ATTENTION_IN_TRAINING = frozenset({"flux", "sd3", "pixart", "sana"})
#: Module classes that overflow in float16 (T5 and Gemma text encoders).
_FP16_UNSAFE_PREFIXES = ("T5", "UMT5", "MT5", "Gemma")
_CUBLAS_WORKSPACE = ":4096:8"


def native_precision(family: str) -> str:
    """``"bf16"`` or ``"fp16"``: the precision ``family``'s weights were made in (``"fp16"`` if unknown).

    Examples
    --------
    >>> native_precision("flux"), native_precision("sd")
    ('bf16', 'fp16')
    """
    return NATIVE_PRECISION.get(family, "fp16")


def family_of_pipeline(pipe) -> str | None:
    """The registered family name of a loaded diffusers pipeline, or ``None``."""
    from .families import supported_pipelines

    return supported_pipelines().get(type(pipe).__name__)


def keep_safe_in_fp16(pipe, device) -> list:
    """Move the components of ``pipe`` that overflow in float16 to bfloat16 (float32 where the device
    has no bfloat16); return their names. Call only when the pipeline is in float16."""
    import torch

    device = torch.device(device)
    safe = torch.bfloat16
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        safe = torch.float32
    moved = []
    for name, module in pipe.components.items():
        if isinstance(module, torch.nn.Module) and type(module).__name__.startswith(_FP16_UNSAFE_PREFIXES):
            module.to(safe)
            moved.append(name)
    if moved:
        log.info("float16: %s kept in %s (T5/Gemma activations overflow in float16)", ", ".join(moved),
                 str(safe).replace("torch.", ""))
    return moved


def attention_backends(device, family: str | None, *, training: bool) -> list | None:
    """The scaled-dot-product attention backends allowed, or ``None`` to leave PyTorch's choice.

    On CUDA every backend but cuDNN's when training a transformer family (see the module docstring);
    elsewhere, and for the UNet families, ``None``.

    Examples
    --------
    >>> attention_backends("cpu", "flux", training=True) is None
    True
    >>> [b.name for b in attention_backends("cuda", "flux", training=True)]
    ['FLASH_ATTENTION', 'EFFICIENT_ATTENTION', 'MATH']
    """
    import torch
    from torch.nn.attention import SDPBackend

    if torch.device(device).type != "cuda" or not training or family not in _NO_CUDNN_ATTENTION_IN_TRAINING:
        return None
    return [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


def describe_backends(backends) -> str:
    """How :func:`attention_backends`' answer is logged and recorded."""
    if backends is None:
        return "pytorch default"
    return "+".join(b.name.lower() for b in backends)


def sdpa_context(backends):
    """A context manager that restricts scaled-dot-product attention to ``backends`` (no-op for ``None``)."""
    if backends is None:
        return contextlib.nullcontext()
    from torch.nn.attention import sdpa_kernel

    return sdpa_kernel(backends)


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool = True):
    """Run the block with deterministic algorithms (and restore the previous settings after).

    Sets ``torch.use_deterministic_algorithms(True)``, ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (cuBLAS
    needs it for deterministic matrix products; set before the first cuBLAS call of the process to
    take effect), ``cudnn.benchmark = False`` (no autotuning, whose choice varies run to run) and
    ``cudnn.deterministic = True``. An operation without a deterministic implementation then raises
    instead of silently varying. Cost on one H200: +21 % training, +32 % sampling time.

    Examples
    --------
    >>> import torch
    >>> with deterministic_algorithms():
    ...     torch.are_deterministic_algorithms_enabled()
    True
    >>> torch.are_deterministic_algorithms_enabled()
    False
    """
    if not enabled:
        yield
        return
    import torch

    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
              os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", _CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before[2], before[3]
        if before[4] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
