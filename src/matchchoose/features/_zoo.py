"""The default zoo shipped with matchchoose: the paper's 10 models and 9 extra diffusers pipelines.

``zoo/`` is a verbatim copy of the T2I config snapshot (``zoo/README.md``): per model the JSON
configs laid out like the Hugging Face repo, ``zoo.csv`` (the paper's Table 2 with Hub ids) and
``provenance.csv`` (where every file comes from; ``reconstructed*`` kinds mark files written from
public facts rather than copied). ``zoo_sizes.csv`` holds each model's denoiser parameter count and
FLOPs per image computed from these configs by :mod:`matchchoose.features._size` (regenerate with
``python benchmarks/zoo_table2.py --write-sizes``), so the zoo's features need no torch.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

from .._errors import InputError
from ._config import PipelineConfig, read_pipeline_dir
from ._flatten import family_of, flatten_pipeline

__all__ = ["ZooEntry", "PAPER_MODELS", "default_zoo", "default_zoo_dir", "zoo_hyperparameters", "SIZE_FEATURES"]

#: The 10 models of the paper's Table 2, by zoo id.
PAPER_MODELS = ("flux1-dev", "juggernaut-x-v10", "kolors", "pixart-sigma-512", "sana-1.6b-512px", "sd15",
                "sd35-medium", "sdxl-base", "segmind-vega", "sana1.5-4.8b")
_EXTRA_HF_IDS = {
    "flux1-schnell": "black-forest-labs/FLUX.1-schnell",
    "hunyuandit": "Tencent-Hunyuan/HunyuanDiT-Diffusers",
    "playground-v2.5": "playgroundai/playground-v2.5-1024px-aesthetic",
    "sana-1.6b-1024px": "Efficient-Large-Model/Sana_1600M_1024px_diffusers",
    "sd21": "stabilityai/stable-diffusion-2-1",
    "sd3-medium": "stabilityai/stable-diffusion-3-medium-diffusers",
    "sd35-large": "stabilityai/stable-diffusion-3.5-large",
    "stable-cascade": "stabilityai/stable-cascade",
    "stable-cascade-prior": "stabilityai/stable-cascade-prior",
}
#: Features added to the configs' hyperparameters (paper 4.2: "the number of parameters and the
#: throughput (in FLOPS)"): denoiser parameters in billions and TFLOP per generated image.
SIZE_FEATURES = ("num_params", "tflop")


@dataclass(frozen=True)
class ZooEntry:
    """One model of the zoo: its parsed configs, provenance and size.

    Parameters
    ----------
    name : str
        Zoo id (``"sdxl-base"``).
    config : PipelineConfig
    hf_id : str, optional
        Hugging Face repo id.
    paper_name : str, optional
        Name in the paper's Table 2 (paper models only).
    reconstructed : bool
        Some config file was reconstructed from public facts instead of copied (``provenance.csv``).
    num_params : float, optional
        Denoiser parameters (state dict with buffers), a count.
    tflop : float, optional
        TFLOP per generated image (see ``tflop_source``).
    tflop_source : str, optional
        ``"table2"`` (the paper's value overrides), ``"measured"`` (FLOP counter, paper
        convention) or ``None`` (unknown).
    origin : str
        ``"package"`` (the default zoo) or ``"kb"`` (added to a knowledge base).
    sources : tuple of dict
        ``provenance.csv`` rows of the model's files (file, sha1, kind, confidence, origin).
    table2 : dict, optional
        The paper's Table 2 row: ``tflop``, ``params_billion``, ``sampling_seconds``, ``year``.
    """

    name: str
    config: PipelineConfig
    hf_id: str | None = None
    paper_name: str | None = None
    reconstructed: bool = False
    num_params: float | None = None
    tflop: float | None = None
    tflop_source: str | None = None
    origin: str = "package"
    sources: tuple = field(default=(), repr=False)
    table2: dict | None = field(default=None, repr=False)

    @property
    def family(self) -> str:
        """See :func:`~matchchoose.features.family_of`."""
        return family_of(self.config)

    @property
    def in_paper(self) -> bool:
        """Whether the model is one of the paper's 10."""
        return self.name in PAPER_MODELS

    def hyperparameters(self) -> dict:
        """Flattened config hyperparameters plus ``num_params`` (billions) and ``tflop``."""
        out = flatten_pipeline(self.config)
        out["num_params"] = None if self.num_params is None else self.num_params / 1e9
        out["tflop"] = self.tflop
        return out


def default_zoo_dir() -> Path:
    """Folder of the shipped zoo configs (``<package>/features/zoo``)."""
    return Path(str(resources.files(__package__).joinpath("zoo")))


def _read_sizes() -> dict:
    path = resources.files(__package__).joinpath("zoo_sizes.csv")
    if not path.is_file():  # pragma: no cover - shipped with the package
        return {}
    rows = csv.DictReader(path.read_text(encoding="utf-8").splitlines())
    return {row["model"]: row for row in rows}


def _float(text):
    return None if text in (None, "") else float(text)


@lru_cache(maxsize=1)
def _default_entries() -> tuple:
    root = default_zoo_dir()
    table = {row["slug"]: row for row in csv.DictReader((root / "zoo.csv").read_text(encoding="utf-8").splitlines())}
    sources = list(csv.DictReader((root / "provenance.csv").read_text(encoding="utf-8").splitlines()))
    sizes = _read_sizes()
    entries = []
    for folder in sorted(p for p in root.iterdir() if (p / "model_index.json").is_file()):
        name = folder.name
        rows = tuple(s for s in sources if s["model"] == name)
        paper = table.get(name)
        size = sizes.get(name, {})
        table2 = None
        tflop, tflop_source = _float(size.get("tflop_measured")), "measured"
        if paper is not None:
            table2 = {"tflop": float(paper["tflop"]), "params_billion": float(paper["params_billion"]),
                      "sampling_seconds": float(paper["sampling_seconds"]), "year": int(paper["year"])}
            tflop, tflop_source = table2["tflop"], "table2"
        if tflop is None:
            tflop_source = None
        entries.append(ZooEntry(
            name=name, config=read_pipeline_dir(folder), hf_id=paper["hf_id"] if paper else _EXTRA_HF_IDS.get(name),
            paper_name=paper["paper_name"] if paper else None,
            reconstructed=any(s["kind"].startswith("reconstructed") for s in rows),
            num_params=_float(size.get("num_params")), tflop=tflop, tflop_source=tflop_source,
            sources=rows, table2=table2))
    return tuple(entries)


def default_zoo(models=None) -> list:
    """The shipped zoo as :class:`ZooEntry` objects (all 19, or the ids in ``models``).

    ``models="paper"`` selects the paper's 10 (:data:`PAPER_MODELS`).

    Examples
    --------
    >>> len(default_zoo()), len(default_zoo("paper"))
    (19, 10)
    """
    entries = list(_default_entries())
    if models is None:
        return entries
    if isinstance(models, str):
        models = PAPER_MODELS if models == "paper" else [models]
    by_name = {entry.name: entry for entry in entries}
    unknown = [m for m in models if m not in by_name]
    if unknown:
        raise InputError(f"Model {unknown[0]!r} is not in the default zoo; known: {', '.join(sorted(by_name))}.")
    return [by_name[m] for m in models]


def zoo_hyperparameters(entries) -> pd.DataFrame:
    """Every entry's hyperparameters as a frame: index = model, object columns in first-seen order.

    A key a model does not have is ``NaN``; JSON ``null`` stays ``None`` (see
    :class:`~matchchoose.features.FeatureRule`).
    """
    rows = {}
    for entry in entries:
        if entry.name in rows:
            raise InputError(f"Model {entry.name!r} appears twice in the zoo.")
        rows[entry.name] = entry.hyperparameters()
    keys = list(dict.fromkeys(key for row in rows.values() for key in row))
    data = {key: pd.Series([row.get(key, math.nan) for row in rows.values()], index=list(rows), dtype=object)
            for key in keys}
    frame = pd.DataFrame(data, index=pd.Index(list(rows), name="model", dtype=object))
    return frame
