"""Quantisation schemes (``w8a8``, ``w4a8``, ``mpq:BITS``) and the per-layer bit map (JSON).

A :class:`BitMap` says, for every quantised layer of a denoiser (its module name), the bit width of
its weights (``w``) and of its input activations (``a``), with what MPQ-Diff measured to choose them:
the layer's importance (network orthogonality) and its weight and activation sizes. It is saved as
JSON with sorted keys, so two profiles of the same model compare with ``diff``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from .._cache import atomic_write
from .._errors import InputError

__all__ = ["BitMap", "Scheme", "parse_scheme", "BITMAP_FORMAT", "WEIGHT_BITS", "ACT_BITS"]

BITMAP_FORMAT = "matchchoose-bitmap-1"
#: Weight bit widths the allocation chooses from (torchao has CPU kernels for int1..int8 weights).
WEIGHT_BITS = (2, 3, 4, 5, 6, 8)
#: Activation bit widths the allocation chooses from (below 8: fake quantisation only).
ACT_BITS = (4, 6, 8)

_MPQ = re.compile(r"^mpq:(?P<w>\d+(\.\d+)?)(/(?P<a>\d+(\.\d+)?))?$")
_UNIFORM = re.compile(r"^w(?P<w>\d+)a(?P<a>\d+)$")


@dataclass(frozen=True)
class Scheme:
    """A parsed ``--quantize`` value.

    Attributes
    ----------
    kind : {"uniform", "mpq"}
    weight_bits, act_bits : float
        Bits of every layer (uniform) or the average-bit budgets (mpq; weights averaged over
        weight elements, activations over input-activation elements).
    """

    kind: str
    weight_bits: float
    act_bits: float

    @property
    def name(self) -> str:
        if self.kind == "uniform":
            return f"w{int(self.weight_bits)}a{int(self.act_bits)}"
        a = "" if self.act_bits == 8 else f"/{self.act_bits:g}"
        return f"mpq:{self.weight_bits:g}{a}"


def parse_scheme(text: str) -> Scheme:
    """Parse ``w8a8``, ``w4a8`` (any ``wNaM``, N in 2..8, M in 4..8) or ``mpq:W[/A]``.

    ``mpq:4.5`` allocates weights to an average of 4.5 bits with activations at 8 bits;
    ``mpq:4.5/6`` also allocates activation bits to an average of 6.

    Examples
    --------
    >>> parse_scheme("w4a8")
    Scheme(kind='uniform', weight_bits=4.0, act_bits=8.0)
    >>> parse_scheme("mpq:4.5").name
    'mpq:4.5'
    """
    value = str(text).strip().lower()
    m = _UNIFORM.match(value)
    if m:
        w, a = int(m["w"]), int(m["a"])
        if not 2 <= w <= 8 or not 4 <= a <= 8:
            raise InputError(f"quantize scheme {text!r}: weight bits must be in 2..8 and activation bits in 4..8.")
        return Scheme("uniform", float(w), float(a))
    m = _MPQ.match(value)
    if m:
        w = float(m["w"])
        a = float(m["a"]) if m["a"] else 8.0
        if not min(WEIGHT_BITS) <= w <= max(WEIGHT_BITS):
            raise InputError(f"quantize scheme {text!r}: the average weight bits must be in "
                             f"[{min(WEIGHT_BITS)}, {max(WEIGHT_BITS)}].")
        if not min(ACT_BITS) <= a <= max(ACT_BITS):
            raise InputError(f"quantize scheme {text!r}: the average activation bits must be in "
                             f"[{min(ACT_BITS)}, {max(ACT_BITS)}].")
        return Scheme("mpq", w, a)
    raise InputError(f"Unknown quantize scheme {text!r}; use w8a8, w4a8 (any wNaM) or mpq:BITS (e.g. mpq:4.5, "
                     "mpq:4.5/6 for activations too).")


@dataclass
class BitMap:
    """Per-layer bit widths of a denoiser, and the measurements they were allocated from.

    Attributes
    ----------
    layers : dict
        ``{module name: {"w": int, "a": int}}``.
    importance : dict
        ``{module name: float}``: network orthogonality (MPQ-Diff), higher = more important;
        empty for uniform schemes.
    weight_sizes, act_sizes : dict
        ``{module name: int}``: weight elements, input-activation elements per sample.
    meta : dict
        Scheme, model, calibration settings, budgets achieved.
    """

    layers: dict
    importance: dict = field(default_factory=dict)
    weight_sizes: dict = field(default_factory=dict)
    act_sizes: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def average_bits(self, which: str = "w") -> float:
        """Average weight (``"w"``) or activation (``"a"``) bits, weighted by element counts."""
        sizes = self.weight_sizes if which == "w" else self.act_sizes
        if not sizes:
            return float(sum(v[which] for v in self.layers.values()) / max(len(self.layers), 1))
        total = sum(sizes[n] for n in self.layers)
        return float(sum(self.layers[n][which] * sizes[n] for n in self.layers) / total)

    def to_dict(self) -> dict:
        return {"format": BITMAP_FORMAT, "layers": self.layers, "importance": self.importance,
                "weight_sizes": self.weight_sizes, "act_sizes": self.act_sizes, "meta": self.meta}

    def save(self, path) -> Path:
        """Write the bit map as JSON (sorted keys); ``path`` may be a folder (``bitmap.json`` in it)."""
        path = Path(path)
        if path.suffix.lower() != ".json":
            path = path / "bitmap.json"
        text = json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n"
        return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))

    @classmethod
    def load(cls, path) -> "BitMap":
        """Read a bit map written by :meth:`save` (a ``.json`` file or a folder holding ``bitmap.json``)."""
        path = Path(path)
        if path.is_dir():
            path = path / "bitmap.json"
        if not path.is_file():
            raise InputError(f"{path}: no such bit map; write one with 'mnc quantize --model DIR --dataset DIR "
                             "--out DIR'.")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: malformed JSON at line {exc.lineno} ({exc.msg}).") from None
        if not isinstance(data, dict) or data.get("format") != BITMAP_FORMAT:
            raise InputError(f"{path}: not a matchchoose bit map (format {data.get('format') if isinstance(data, dict) else None!r}, "
                             f"expected {BITMAP_FORMAT!r}).")
        layers = {}
        for name, bits in data["layers"].items():
            w, a = bits.get("w"), bits.get("a")
            if not (isinstance(w, int) and 1 <= w <= 8 and isinstance(a, int) and 1 <= a <= 16):
                raise InputError(f"{path}: layer {name!r} has bits {bits!r}; expected integers w in 1..8, a in 1..16.")
            layers[name] = {"w": w, "a": a}
        imp = {k: float(v) for k, v in data.get("importance", {}).items()}
        if any(not math.isfinite(v) for v in imp.values()):
            raise InputError(f"{path}: a layer importance is not finite.")
        return cls(layers=layers, importance=imp,
                   weight_sizes={k: int(v) for k, v in data.get("weight_sizes", {}).items()},
                   act_sizes={k: int(v) for k, v in data.get("act_sizes", {}).items()}, meta=dict(data.get("meta", {})))
