"""Fine-tuning methods: LoRA (peft), bottleneck adapters after cross-attention, and full fine-tuning.

Both freeze the base model and add a few trainable parameters to the denoiser, initialised so that
step 0 is the base model (LoRA's up-projection ``B`` and the adapters' up-projection are zero).

* ``lora``: :class:`peft.LoraConfig` on the attention projections of the denoiser (the family's
  :attr:`~.families._base.Family.lora_targets` unless the recipe names others), through diffusers'
  ``add_adapter``; saved in peft's key format (``...to_q.lora_A.weight``).
* ``adapter``: a bottleneck ``x + up(gelu(down(x)))`` on the output of each cross-attention block
  (arXiv 2303.18181 finds this input position best), attached as a submodule ``mnc_adapter`` of the
  attention module and applied by a forward hook, so the denoiser's code is untouched. For joint
  attention (SD3, Flux) it applies to the image stream (the first output).
* ``full``: every weight of the denoiser trains; text encoders and VAE stay frozen.
"""

from __future__ import annotations

import torch
from torch import nn

from .._errors import InputError

__all__ = ["BottleneckAdapter", "Method", "LoraMethod", "AdapterMethod", "FullMethod", "make_method", "ADAPTER_NAME"]

#: peft adapter name used for training and loading.
ADAPTER_NAME = "default"


class BottleneckAdapter(nn.Module):
    """``x -> up(gelu(down(x)))`` with ``up`` zero-initialised (the residual is added by the hook).

    Parameters
    ----------
    dim : int
        Width of the attention output.
    hidden : int
        Bottleneck width.
    """

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.down = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.up = nn.Linear(hidden, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x):
        return self.up(self.act(self.down(x)))


def _adapter_hook(module, args, output):
    adapter = module.mnc_adapter
    if isinstance(output, tuple):
        first = output[0]
        return (first + adapter(first.to(adapter.down.weight.dtype)).to(first.dtype),) + tuple(output[1:])
    return output + adapter(output.to(adapter.down.weight.dtype)).to(output.dtype)


class Method:
    """A method attached to a denoiser: its trainable parameters and their (de)serialisation."""

    name = ""

    def __init__(self, denoiser: nn.Module):
        self.denoiser = denoiser

    def trainable(self) -> dict:
        """``{name: parameter}`` of the trainable parameters, in module order."""
        return {n: p for n, p in self.denoiser.named_parameters() if p.requires_grad}

    def state_dict(self) -> dict:
        """Trainable weights to save (detached, contiguous, on the CPU)."""
        raise NotImplementedError

    def load_state_dict(self, state: dict, *, source: str = "adapter"):
        """Load weights saved by :meth:`state_dict`; every key must match."""
        raise NotImplementedError

    def config(self) -> dict:
        """JSON description written to ``adapter_config.json``."""
        raise NotImplementedError


class LoraMethod(Method):
    """LoRA via peft on the modules whose names end with one of ``targets``."""

    name = "lora"

    def __init__(self, denoiser, *, rank: int, alpha: float, dropout: float, targets):
        super().__init__(denoiser)
        from peft import LoraConfig, inject_adapter_in_model

        self.rank, self.alpha, self.dropout, self.targets = int(rank), float(alpha), float(dropout), list(targets)
        names = [n for n, _ in denoiser.named_modules()]
        if not any(n == t or n.endswith("." + t) for n in names for t in self.targets):
            raise InputError(f"LoRA targets {self.targets} match no module of the {type(denoiser).__name__}; name "
                             "attention projections such as to_q, to_k, to_v, to_out.0.")
        config = LoraConfig(r=self.rank, lora_alpha=self.alpha, lora_dropout=self.dropout, init_lora_weights="gaussian",
                            target_modules=self.targets)
        # peft directly (not diffusers' add_adapter): PixArt's transformer has no PeftAdapterMixin.
        inject_adapter_in_model(config, denoiser, adapter_name=ADAPTER_NAME)
        self.peft_config = config

    def trainable(self):
        return {n: p for n, p in self.denoiser.named_parameters() if "lora_" in n and p.requires_grad}

    def state_dict(self):
        from peft.utils import get_peft_model_state_dict

        state = get_peft_model_state_dict(self.denoiser, adapter_name=ADAPTER_NAME)
        return {k: v.detach().to("cpu").contiguous() for k, v in state.items()}

    def load_state_dict(self, state, *, source="adapter"):
        from peft.utils import set_peft_model_state_dict

        expected = set(self.state_dict())
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        if missing or unexpected:
            what = f"missing {missing[0]!r}" if missing else f"unexpected {unexpected[0]!r}"
            raise InputError(f"{source}: LoRA weights do not fit this {type(self.denoiser).__name__} ({what}; "
                             f"{len(missing)} missing, {len(unexpected)} unexpected keys).")
        set_peft_model_state_dict(self.denoiser, state, adapter_name=ADAPTER_NAME)

    def diffusers_metadata(self, prefix: str) -> str:
        """The ``lora_adapter_metadata`` header diffusers' ``load_lora_weights`` reads (rank, alpha...)."""
        import json

        def plain(value):
            if isinstance(value, (set, frozenset, tuple)):
                return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
            return value.value if hasattr(value, "value") and not isinstance(value, (int, float, str)) else value

        data = {f"{prefix}.{k}": plain(v) for k, v in self.peft_config.to_dict().items()}
        return json.dumps(data, indent=2, sort_keys=True, default=str)

    def config(self):
        return {"method": "lora", "rank": self.rank, "alpha": self.alpha, "dropout": self.dropout,
                "target_modules": self.targets}


class AdapterMethod(Method):
    """Bottleneck adapters on the output of the attention modules ``modules`` (name, module)."""

    name = "adapter"

    def __init__(self, denoiser, *, modules, hidden: int):
        super().__init__(denoiser)
        self.hidden = int(hidden)
        self.modules = [name for name, _ in modules]
        self.handles = []
        for name, attn in modules:
            dim = attn.to_out[0].out_features
            ref = attn.to_out[0].weight
            adapter = BottleneckAdapter(dim, self.hidden).to(device=ref.device)
            attn.add_module("mnc_adapter", adapter)
            self.handles.append(attn.register_forward_hook(_adapter_hook))

    def trainable(self):
        return {n: p for n, p in self.denoiser.named_parameters() if ".mnc_adapter." in n and p.requires_grad}

    def state_dict(self):
        return {n: p.detach().to("cpu").contiguous() for n, p in self.denoiser.named_parameters()
                if ".mnc_adapter." in n}

    def load_state_dict(self, state, *, source="adapter"):
        params = {n: p for n, p in self.denoiser.named_parameters() if ".mnc_adapter." in n}
        missing, unexpected = sorted(set(params) - set(state)), sorted(set(state) - set(params))
        if missing or unexpected:
            what = f"missing {missing[0]!r}" if missing else f"unexpected {unexpected[0]!r}"
            raise InputError(f"{source}: adapter weights do not fit this {type(self.denoiser).__name__} ({what}).")
        with torch.no_grad():
            for name, p in params.items():
                if tuple(state[name].shape) != tuple(p.shape):
                    raise InputError(f"{source}: adapter weight {name!r} has shape {tuple(state[name].shape)}, the "
                                     f"model expects {tuple(p.shape)}.")
                p.copy_(state[name].to(p.dtype))

    def remove(self):
        """Detach the hooks (the adapter submodules stay, inert)."""
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def config(self):
        return {"method": "adapter", "adapter_dim": self.hidden, "modules": self.modules}


class FullMethod(Method):
    """Full fine-tuning: every weight of the denoiser trains (text encoders and VAE stay frozen).

    Saved as the denoiser's whole ``named_parameters`` state (safetensors keys = parameter names);
    loading replaces the denoiser's weights.
    """

    name = "full"

    def __init__(self, denoiser):
        super().__init__(denoiser)
        denoiser.requires_grad_(True)

    def trainable(self):
        return dict(self.denoiser.named_parameters())

    def state_dict(self):
        return {n: p.detach().to("cpu").contiguous() for n, p in self.denoiser.named_parameters()}

    def load_state_dict(self, state, *, source="adapter"):
        params = dict(self.denoiser.named_parameters())
        missing, unexpected = sorted(set(params) - set(state)), sorted(set(state) - set(params))
        if missing or unexpected:
            what = f"missing {missing[0]!r}" if missing else f"unexpected {unexpected[0]!r}"
            raise InputError(f"{source}: fully fine-tuned weights do not fit this {type(self.denoiser).__name__} "
                             f"({what}; {len(missing)} missing, {len(unexpected)} unexpected).")
        with torch.no_grad():
            for name, p in params.items():
                if tuple(state[name].shape) != tuple(p.shape):
                    raise InputError(f"{source}: weight {name!r} has shape {tuple(state[name].shape)}, the model "
                                     f"expects {tuple(p.shape)}.")
                p.copy_(state[name].to(p.dtype))

    def config(self):
        return {"method": "full"}


def make_method(family, recipe_or_config: dict) -> Method:
    """Attach the method a recipe (or a saved ``adapter_config.json``) describes to the family's denoiser.

    The denoiser is frozen first; the method's parameters are the only trainable ones. Initial
    weights use torch's global generator (seed it first for reproducibility).
    """
    cfg = recipe_or_config
    denoiser = family.denoiser
    denoiser.requires_grad_(False)
    if cfg["method"] == "lora":
        targets = cfg.get("target_modules") or family.lora_targets
        return LoraMethod(denoiser, rank=cfg["rank"], alpha=cfg["alpha"], dropout=cfg.get("dropout", 0.0),
                          targets=targets)
    if cfg["method"] == "adapter":
        modules = family.cross_attention_modules()
        if cfg.get("modules") is not None:
            wanted = set(cfg["modules"])
            modules = [(n, m) for n, m in modules if n in wanted]
            if len(modules) != len(wanted):
                raise InputError(f"adapter modules {sorted(wanted - {n for n, _ in modules})[:3]} are not "
                                 f"cross-attention blocks of this {type(denoiser).__name__}.")
        return AdapterMethod(denoiser, modules=modules, hidden=cfg["adapter_dim"])
    if cfg["method"] == "full":
        return FullMethod(denoiser)
    raise InputError(f"Unknown fine-tuning method {cfg['method']!r}; expected 'lora', 'adapter' or 'full'.")


def method_config(recipe, family) -> dict:
    """The method description of ``recipe`` for ``family`` (what :func:`make_method` takes)."""
    if recipe.method == "lora":
        return {"method": "lora", "rank": recipe.lora_rank, "alpha": recipe.effective_lora_alpha,
                "dropout": recipe.lora_dropout, "target_modules": list(recipe.lora_targets or family.lora_targets)}
    if recipe.method == "full":
        return {"method": "full"}
    return {"method": "adapter", "adapter_dim": recipe.adapter_dim, "modules": None}
