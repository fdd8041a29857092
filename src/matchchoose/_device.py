"""Which torch device a stage runs on: one answer for probes, fine-tuning, sampling and quantising.

Every stage that runs a model takes ``device=None`` and resolves it here, so "no device given" means
the same everywhere (CUDA when available, else the CPU) and a device that cannot be used fails
before any model is loaded, with the same one-line error.
"""

from __future__ import annotations

from ._errors import InputError

__all__ = ["resolve_device"]


def resolve_device(device=None, *, owner: str):
    """The :class:`torch.device` ``owner`` runs on.

    Parameters
    ----------
    device : str, torch.device or None
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...; ``None`` or ``"auto"``: CUDA when available, else
        the CPU.
    owner : str
        What asks, as the error messages name it (``"the clip probe"``, ``"Fine-tuning"``).

    Raises
    ------
    InputError
        ``device`` is not a torch device, or asks for CUDA where CUDA is not available.

    Examples
    --------
    >>> resolve_device("cpu", owner="Sampling")
    device(type='cpu')
    """
    import torch

    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InputError(f"The 'device' parameter of {owner} must be a torch device ('cpu', 'cuda', 'cuda:1') "
                         f"or 'auto'. Got {device!r}.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"{owner[0].upper()}{owner[1:]} was asked for device {str(resolved)!r} but CUDA is not "
                         "available here; pass device='cpu' (--device cpu) or leave it unset.")
    return resolved
