"""Profile a dataset folder into the knowledge base: embed once, store statistics, add distances.

:func:`profile_dataset` is what ``mnc profile`` and ``mnc choose`` run:

1. read the folder (:class:`ImageFolder`) and hash its content;
2. reuse a stored profile of the same content, probe and preprocessing, or embed the images (or,
   for a text probe, the captions) and store count, mean, covariance and the embeddings;
3. store the Fréchet distance to every other dataset profiled with the same probe
   (metric ``frechet:<probe key>``): N datasets need N embedding passes, never N².
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._errors import InputError, KnowledgeBaseError
from ..kb import Profile, distance_metric_name
from ._distances import frechet_distances_to, gaussian_stats
from ._images import ImageFolder
from ._probes import Probe, get_probe

__all__ = ["ProfileResult", "profile_dataset", "update_distances"]


@dataclass
class ProfileResult:
    """What :func:`profile_dataset` did: the ``profile``, whether it was ``reused`` (no probe run),
    under which ``dataset`` name it is stored, the distance ``metric`` and how many distances were
    stored (``n_distances``), and the folder's load report."""

    profile: Profile
    dataset: str
    reused: bool
    metric: str
    n_distances: int
    report: dict


def _report(folder: ImageFolder) -> dict:
    rep = folder.report
    return {"n_found": int(rep.n_found), "n_ok": int(rep.n_ok),
            "skipped": [{"path": s.path, "reason": s.reason} for s in rep.skipped]}


def _texts(folder: ImageFolder, where: str) -> list[str]:
    texts = [c for c in folder.captions if c]
    if len(texts) < 2:
        raise InputError(f"The caption probe needs captions, and {where} has {len(texts)} captioned image(s): add a "
                         "metadata.jsonl, captions.jsonl or .txt sidecar files, or use an image probe.")
    return texts


def profile_dataset(kb, path, *, name: str | None = None, probe: str | Probe = "dinov2",
                    probe_options: dict | None = None, batch_size: int | None = None,
                    store_embeddings: bool = True, distances: bool = True, replace: bool = False,
                    max_pixels: int | None = None, progress: bool = False) -> ProfileResult:
    """Profile the image folder ``path`` with ``probe`` and store it in ``kb``.

    Parameters
    ----------
    kb : KnowledgeBase
    path : str or Path
        Image folder (see :class:`ImageFolder`).
    name : str, optional
        Dataset name in the knowledge base. Default: the name the same images already have there
        (same content hash, probe and preprocessing), else the folder's name.
    probe : str or Probe
        Registry name (:func:`get_probe`) or a built probe.
    probe_options : dict, optional
        Keyword arguments of the probe (``model=...``, ``device=...``).
    store_embeddings : bool
        Keep the embeddings (float16) for KID/CMMD, beside mean and covariance.
    distances : bool
        Store the Fréchet distances to the other datasets profiled with this probe.
    replace : bool
        Allow ``name`` to be re-profiled from different images (the old profile is replaced).

    Returns
    -------
    ProfileResult

    Raises
    ------
    InputError
        Empty or unreadable folder, fewer than two usable images, or ``name`` already profiled from
        other images (without ``replace``).
    """
    root = Path(path)
    folder = ImageFolder(root, max_pixels=max_pixels)
    content = folder.content_hash()
    if isinstance(probe, str) and not probe_options:
        # Fast path: the probe's default weights have key == name; a stored profile of these
        # images answers without loading the probe (and torch) at all.
        fast = _stored_default(kb, content, probe, name)
        if fast is not None:
            return _finish(kb, fast, fast.dataset, True, distances)
    probe = probe if isinstance(probe, Probe) else get_probe(probe, **(probe_options or {}))
    existing = kb.find_profile(content, probe.key, probe.preprocess)
    if name is None:
        name = existing.dataset if existing is not None else (root.resolve().name or "dataset")
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"Dataset name {name!r} must be a non-empty string.")

    current = _current_profile(kb, name, probe, content, root, replace)
    reused = current is not None and current.content_hash == content
    if reused:
        profile = current
    elif existing is not None:
        # Same images under another name: copy the statistics, the probe does not run again.
        stored = kb.profile(existing.dataset, probe.key, probe.preprocess, embeddings=True)
        profile = Profile(dataset=name, probe=probe.key, preprocess=probe.preprocess, content_hash=content,
                          n=stored.n, mean=stored.mean, cov=stored.cov, embeddings=stored.embeddings,
                          probe_info=stored.probe_info, report=stored.report)
        kb.store_profile(profile, source=str(root))
        reused = True
    else:
        emb = _embed(probe, folder, root, batch_size=batch_size, progress=progress)
        mean, cov = gaussian_stats(emb.astype(np.float64))
        profile = Profile(dataset=name, probe=probe.key, preprocess=probe.preprocess, content_hash=content,
                          n=len(emb), mean=mean, cov=cov, embeddings=emb if store_embeddings else None,
                          probe_info=probe.describe(), report=_report(folder))
        kb.store_profile(profile, source=str(root))
    return _finish(kb, profile, name, reused, distances)


def _current_profile(kb, name: str, probe: Probe, content: str, root: Path, replace: bool) -> Profile | None:
    """The profile stored under ``name`` with this probe, if any; refused when it was made from other
    images, unless ``replace``."""
    try:
        current = kb.profile(name, probe.key, probe.preprocess)
    except KnowledgeBaseError:
        return None
    if current.content_hash != content and not replace:
        raise InputError(
            f"Dataset {name!r} is already profiled with probe {probe.key!r} from other images than {str(root)!r}; "
            "choose another --name, or pass --replace to re-profile it.")
    return current


def _embed(probe: Probe, folder: ImageFolder, root: Path, *, batch_size, progress) -> np.ndarray:
    """The probe's embeddings of the folder's images (or captions, for a text probe): ``(n, dim)``, n >= 2."""
    if probe.modality == "text":
        texts = _texts(folder, str(root))
        emb = probe.embed(texts, batch_size=batch_size, progress=progress, total=len(texts))
    else:
        bs = batch_size or probe.batch_size
        images = (img for _, batch in folder.iter_rgb(bs, workers=probe.preprocess_workers()) for img in batch)
        emb = probe.embed(images, batch_size=bs, progress=progress, total=len(folder))
    if len(emb) < 2:
        raise InputError(f"{str(root)!r} has {len(emb)} usable item(s): a profile needs at least 2 "
                         f"({folder.report}).")
    return emb


def _stored_default(kb, content: str, probe: str, name: str | None) -> Profile | None:
    """The stored profile of these images under probe ``probe``'s default weights (key == name),
    under ``name`` (or any name when ``name`` is None), if there is exactly one such."""
    found = [p for p in kb.find_profiles(probe, content_hash=content)
             if name is None or p.dataset == name]
    if len({p.preprocess for p in found}) != 1:
        return None
    return found[0]


def _finish(kb, profile: Profile, name: str, reused: bool, distances: bool) -> ProfileResult:
    profile.reused = reused
    metric = distance_metric_name(profile.probe)
    n_distances = (update_distances(kb, name, profile.probe, profile.preprocess, recompute=not reused)
                   if distances else 0)
    return ProfileResult(profile=profile, dataset=name, reused=reused, metric=metric, n_distances=n_distances,
                         report=profile.report)


def update_distances(kb, dataset: str, probe: str, preprocess: str, *, recompute: bool = False) -> int:
    """Store the Fréchet distances from ``dataset``'s profile to every other dataset profiled with
    ``probe`` and ``preprocess``; return how many rows changed (0 when all were already stored).

    Only missing distances are computed unless ``recompute`` (the profile itself is new)."""
    own = kb.profile(dataset, probe, preprocess)
    others = {p.dataset: (p.mean, p.cov) for p in kb.find_profiles(probe, preprocess=preprocess)
              if p.dataset != dataset}
    metric = distance_metric_name(probe)
    if not others:
        return 0
    stored = {} if recompute else kb.distances_of(dataset, metric)
    missing = {k: v for k, v in others.items() if k not in stored}
    if not missing:
        return 0
    values = frechet_distances_to(own.mean, own.cov, missing)
    return kb.store_distances(((dataset, other, value) for other, value in values.items()), metric,
                              source=f"profile:{probe}")
