"""Score generated images against real ones with a probe, and record the score in the knowledge base.

The default is CLIP-FID (paper 5.1): the Fréchet distance between the probe embeddings of the
generated images and of the held-out real images. KID (unbiased, over subsets) and CMMD (RBF,
sigma 10, x1000) are options. Reference embeddings are cached on disk by the images' content hash,
probe and preprocessing, so scoring every model of a zoo on one dataset embeds its real images once.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from .._cache import atomic_write, cache_dir, cache_key
from .._errors import InputError
from ..profile import ImageFolder, Probe, cmmd, frechet_distance, gaussian_stats, get_probe, kid

__all__ = ["SCORE_KINDS", "Score", "metric_name", "record_score", "score_images"]

#: The distances a score can use.
SCORE_KINDS = ("fd", "kid", "cmmd")

_NAMED = {("fd", "clip"): "clip_fid", ("fd", "dinov2"): "fd_dinov2", ("cmmd", "clip"): "cmmd"}


def metric_name(kind: str, probe_key: str) -> str:
    """Knowledge-base metric of a score: ``clip_fid``, ``fd_dinov2`` and ``cmmd`` (CLIP) keep their
    usual names; otherwise ``<kind>_<probe key>`` (``kid_clip``, ``fd_pixels``). All lower-is-better."""
    if kind not in SCORE_KINDS:
        raise InputError(f"Unknown score {kind!r}; choose from {', '.join(SCORE_KINDS)}.")
    return _NAMED.get((kind, probe_key), f"{kind}_{probe_key}".replace("@", "-"))


@dataclass
class Score:
    """One score: ``metric`` (knowledge-base name), ``value``, ``std`` (KID over subsets, else
    ``None``), and the protocol it was measured under."""

    metric: str
    kind: str
    value: float
    std: float | None
    n_generated: int
    n_reference: int
    probe: str
    preprocess: str
    details: dict = field(default_factory=dict)

    def provenance(self) -> dict:
        """Flat provenance columns for the knowledge base (text values)."""
        out = {"score_kind": self.kind, "probe": self.probe, "preprocess": self.preprocess,
               "n_generated": str(self.n_generated), "n_reference": str(self.n_reference),
               "matchchoose": __version__, "python": platform.python_version()}
        if self.std is not None:
            out["std"] = repr(self.std)
        out.update({k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in self.details.items()})
        return out


def _folder(images, what: str) -> ImageFolder:
    folder = images if isinstance(images, ImageFolder) else ImageFolder(images)
    if len(folder) < 2:
        raise InputError(f"The {what} images ({folder.root}) must hold at least 2 usable images; found {len(folder)}.")
    return folder


def _cache_path(cache, folder: ImageFolder, probe: Probe) -> Path | None:
    if cache is False or cache is None:
        return None
    key = cache_key({"images": folder.content_hash(), "probe": probe.key, "preprocess": probe.preprocess})
    return cache_dir("reference-embeddings", None if cache is True else cache) / f"{key}.npy"


def _embed(folder: ImageFolder, probe: Probe, batch_size, progress, cache=None) -> np.ndarray:
    path = _cache_path(cache, folder, probe)
    if path is not None and path.exists():
        try:
            return np.load(path)
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
    bs = batch_size or probe.batch_size
    images = (img for _, batch in folder.iter_rgb(bs, workers=probe.preprocess_workers()) for img in batch)
    emb = probe.embed(images, batch_size=bs, progress=progress, total=len(folder))
    if path is not None:
        atomic_write(path, lambda fh: np.save(fh, emb))
    return emb


def score_images(generated, reference, *, probe: str | Probe = "clip", probe_options: dict | None = None,
                 kinds=("fd",), batch_size: int | None = None, kid_subsets: int = 100,
                 kid_subset_size: int = 1000, random_state: int = 0, cache=True,
                 progress: bool = False) -> list[Score]:
    """Score the ``generated`` images against the ``reference`` (real, held-out) images.

    Parameters
    ----------
    generated, reference : path or ImageFolder
    probe : str or Probe
        The embedding model (default CLIP: ``fd`` is then CLIP-FID).
    kinds : sequence of {"fd", "kid", "cmmd"}
    kid_subsets, kid_subset_size, random_state :
        KID's subsets (the subset size is capped by the smaller image set).
    cache : bool or path
        Cache the reference embeddings (``$MNC_CACHE_DIR/reference-embeddings``).

    Returns
    -------
    list of Score, in the order of ``kinds``.
    """
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    for kind in kinds:
        metric_name(kind, "x")  # validates
    if not kinds:
        raise InputError("--kind (kinds) must name at least one score kind: fd, kid or cmmd.")
    probe = probe if isinstance(probe, Probe) else get_probe(probe, **(probe_options or {}))
    if probe.modality != "image":
        raise InputError(f"Probe {probe.key!r} embeds {probe.modality}, not images: score with an image probe.")
    gen_folder, ref_folder = _folder(generated, "generated"), _folder(reference, "reference")
    gen = _embed(gen_folder, probe, batch_size, progress).astype(np.float64)
    ref = _embed(ref_folder, probe, batch_size, progress, cache=cache).astype(np.float64)
    # KID and CMMD run on the probe's GPU when it has one (equal to the CPU's to rounding).
    device = getattr(probe, "device", None)
    device = device if device is not None and str(device).startswith("cuda") else None
    scores = []
    for kind in kinds:
        std, details = None, {}
        if kind == "fd":
            value = frechet_distance(*gaussian_stats(gen), *gaussian_stats(ref))
        elif kind == "kid":
            size = min(kid_subset_size, len(gen), len(ref))
            value, std = kid(gen, ref, n_subsets=kid_subsets, subset_size=size, random_state=random_state,
                             device=device)
            details = {"kid_subsets": kid_subsets, "kid_subset_size": size, "seed": random_state}
        else:
            value = cmmd(gen, ref, device=device)
        scores.append(Score(metric=metric_name(kind, probe.key), kind=kind, value=float(value),
                            std=None if std is None else float(std), n_generated=len(gen), n_reference=len(ref),
                            probe=probe.key, preprocess=probe.preprocess, details=details))
    return scores


def record_score(kb, score: Score, *, model: str, dataset: str, prescore: bool = False,
                 protocol: dict | None = None, fidelity: float | None = None) -> bool:
    """Store ``score`` as a result (or, ``prescore=True``, a prescore: the model before fine-tuning)
    of ``model`` on ``dataset``, with its protocol as provenance; ``False`` if already stored.

    ``fidelity`` is the compute at which it was measured (training steps, larger = more compute),
    a finite number >= 0 stored in the results' ``fidelity`` column; ``None`` (default) = unknown,
    read as the target. The same score at two fidelities is two rows (a learning curve)."""
    import pandas as pd

    from ..kb import import_frame

    provenance = score.provenance()
    for key, value in (protocol or {}).items():
        provenance[str(key)] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    row = {"model": model, "dataset": dataset, "metric": score.metric, "value": score.value, **provenance}
    if fidelity is not None:
        row["fidelity"] = fidelity
    from .._errors import KnowledgeBaseError

    try:
        kb.metric(score.metric)
    except KnowledgeBaseError:
        kb.declare_metric(score.metric, False, f"{score.kind} to the reference images in {score.probe} space.")
    kind = "prescores" if prescore else "results"
    summary = import_frame(kb, pd.DataFrame([row]), kind, name="mnc score")
    return summary.inserted > 0
