"""Dataset profiles in the knowledge base: embedding statistics per dataset, probe and preprocessing.

A profile holds what distances and dataset features need from a dataset's embeddings: their count,
mean and covariance (float64, exact), and optionally the embeddings themselves (float16, zlib) for
KID and CMMD. It is stored per ``(dataset, probe, preprocess)`` and found again by the dataset's
content hash, so profiling the same images twice never re-runs the probe.

When the covariance is the one of the float32 embeddings and they take less room than it
(fewer than ``4 * dim`` images: a 384-dim covariance is 1.2 MB), the embeddings are kept in float32
instead and the covariance is left out: reading the profile recomputes it with the same function
from the same numbers, so it comes back bit for bit (``_compact``).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._errors import KnowledgeBaseError

__all__ = ["Profile", "ProfileStore", "distance_metric_name"]

_F8 = np.dtype("<f8")
_F2 = np.dtype("<f2")
_F4 = np.dtype("<f4")


def distance_metric_name(probe: str, preprocess: str | None = None) -> str:
    """Name of the Fréchet-distance metric between profiles of ``probe`` (its key), as stored in
    the ``distances`` table: ``frechet:<probe>``."""
    return f"frechet:{probe}"


@dataclass
class Profile:
    """Embedding statistics of one dataset under one probe.

    Attributes
    ----------
    dataset, probe, preprocess, content_hash : str
        Dataset name, probe key, preprocessing mode, and content hash of the images (and captions).
    n : int
        Number of embedded items.
    mean : ndarray (dim,), cov : ndarray (dim, dim)
        float64 mean and unbiased covariance of the embeddings.
    embeddings : ndarray (n, dim) or None
        The embeddings (float32, from float16 storage) when stored.
    probe_info, report : dict
        What the probe was (``Probe.describe()``) and what the folder held (found/used/skipped).
    reused : bool
        Set by the profiler: the profile came from the knowledge base, the probe did not run.
    """

    dataset: str
    probe: str
    preprocess: str
    content_hash: str
    n: int
    mean: np.ndarray
    cov: np.ndarray
    embeddings: np.ndarray | None = None
    probe_info: dict = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    created_at: str | None = None
    reused: bool = False

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def __repr__(self) -> str:
        return (f"Profile(dataset={self.dataset!r}, probe={self.probe!r}, preprocess={self.preprocess!r}, "
                f"n={self.n}, dim={self.dim})")


def _encode(profile: Profile) -> dict:
    mean = np.ascontiguousarray(profile.mean, dtype=_F8)
    cov = np.ascontiguousarray(profile.cov, dtype=_F8)
    dim = mean.shape[0]
    if mean.ndim != 1 or cov.shape != (dim, dim):
        raise KnowledgeBaseError(f"Profile of {profile.dataset!r}: mean {mean.shape} and covariance {cov.shape} "
                                 "do not match.")
    if not (np.isfinite(mean).all() and np.isfinite(cov).all()):
        raise KnowledgeBaseError(f"Profile of {profile.dataset!r} has non-finite statistics.")
    emb = None
    if profile.embeddings is not None:
        arr = np.asarray(profile.embeddings)
        if arr.shape != (profile.n, dim):
            raise KnowledgeBaseError(f"Profile of {profile.dataset!r}: embeddings {arr.shape}, expected "
                                     f"{(profile.n, dim)}.")
        if _compact(arr, mean, cov):
            emb = zlib.compress(np.ascontiguousarray(arr, dtype=_F4).tobytes(), 6)
            return {"mean": mean.tobytes(), "cov": b"", "embeddings": emb, "dim": dim}
        emb = zlib.compress(np.ascontiguousarray(arr, dtype=_F2).tobytes(), 6)
    return {"mean": mean.tobytes(), "cov": cov.tobytes(), "embeddings": emb, "dim": dim}


def _stats(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance in float64, as :func:`matchchoose.profile.gaussian_stats` computes
    them (the same two numpy calls, so a recomputed covariance is bit for bit the stored one); kept
    here so that the knowledge base never imports the profiling stage."""
    arr = np.asarray(embeddings, dtype=np.float64)
    return arr.mean(axis=0), np.atleast_2d(np.cov(arr, rowvar=False))


def _compact(arr: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> bool:
    """Store float32 embeddings without the covariance: smaller, and exactly what they give back."""
    n, dim = arr.shape
    if n < 2 or n >= 4 * dim or arr.dtype != np.float32:
        return False
    m, c = _stats(arr)
    return m.tobytes() == mean.tobytes() and c.tobytes() == cov.tobytes()


_COLUMNS = ("dataset, probe, preprocess, content_hash, n, dim, mean, cov, embeddings, probe_info, report, "
            "created_at")


def _decode(row, embeddings: bool) -> Profile:
    dataset, probe, preprocess, content_hash, n, dim, mean, cov, emb, info, report, created = row
    arr = None
    compact = len(cov) == 0
    if (embeddings or compact) and emb is not None:
        raw = zlib.decompress(emb)
        dtype = _F4 if compact else _F2  # compact profiles keep float32 embeddings instead of the covariance
        arr = np.frombuffer(raw, dtype=dtype).reshape(n, dim).astype(np.float32)
    if compact:
        if arr is None:
            raise KnowledgeBaseError(f"Profile of {dataset!r} ({probe}) has neither a covariance nor embeddings: "
                                     "profile the dataset again.")
        cov_arr = _stats(arr)[1]
    else:
        cov_arr = np.frombuffer(cov, dtype=_F8).reshape(dim, dim).copy()
    return Profile(
        dataset=dataset, probe=probe, preprocess=preprocess, content_hash=content_hash, n=int(n),
        mean=np.frombuffer(mean, dtype=_F8).copy(), cov=cov_arr,
        embeddings=arr if embeddings else None, probe_info=json.loads(info), report=json.loads(report),
        created_at=created)


class ProfileStore:
    """Profile methods of :class:`~matchchoose.kb.KnowledgeBase` (mixed in)."""

    def store_profile(self, profile: Profile, *, source: str | None = None) -> None:
        """Store ``profile`` (replacing the one of the same dataset, probe and preprocessing)."""
        blobs = _encode(profile)
        with self._transaction(source) as writer:
            writer.ensure("datasets", profile.dataset)
            writer.conn.execute(
                f"INSERT OR REPLACE INTO profiles ({_COLUMNS}, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (profile.dataset, profile.probe, profile.preprocess, profile.content_hash, int(profile.n),
                 blobs["dim"], blobs["mean"], blobs["cov"], blobs["embeddings"],
                 json.dumps(profile.probe_info, sort_keys=True), json.dumps(profile.report, sort_keys=True),
                 writer.now, source))

    def profile(self, dataset: str, probe: str, preprocess: str | None = None, *,
                embeddings: bool = False) -> Profile:
        """The stored profile of ``dataset`` under ``probe`` (key); :class:`KnowledgeBaseError` if none.

        ``preprocess`` may be left out when the dataset has one profile for this probe.
        """
        found = self._profiles_where("dataset = ? AND probe = ?", (dataset, probe), preprocess, embeddings)
        if not found:
            have = self.profiles(dataset=dataset)
            listing = ", ".join(f"{r.probe} ({r.preprocess})" for r in have.itertuples()) or "none"
            raise KnowledgeBaseError(
                f"Dataset {dataset!r} has no profile for probe {probe!r} in {self.path} (profiles: {listing}); "
                f"make one with 'mnc profile DIR --name {dataset} --probe {probe.split('@')[0]}'.")
        if len(found) > 1:
            modes = ", ".join(p.preprocess for p in found)
            raise KnowledgeBaseError(f"Dataset {dataset!r} has several {probe!r} profiles ({modes}): name the "
                                     "preprocessing mode.")
        return found[0]

    def find_profile(self, content_hash: str, probe: str, preprocess: str, *,
                     embeddings: bool = False) -> Profile | None:
        """A stored profile of the same images with the same probe and preprocessing, or ``None``
        (the first dataset name in sorted order when several names hold the same images)."""
        found = self._profiles_where("content_hash = ? AND probe = ?", (content_hash, probe), preprocess, embeddings)
        return found[0] if found else None

    def find_profiles(self, probe: str, *, content_hash: str | None = None, preprocess: str | None = None,
                      embeddings: bool = False) -> list[Profile]:
        """Stored profiles of ``probe`` (its key), optionally only those of the images ``content_hash``
        and of one ``preprocess`` mode, ordered by dataset; with ``embeddings``, their embeddings too."""
        if content_hash is None:
            return self._profiles_where("probe = ?", (probe,), preprocess, embeddings)
        return self._profiles_where("content_hash = ? AND probe = ?", (content_hash, probe), preprocess, embeddings)

    def profiles(self, probe: str | None = None, *, dataset: str | None = None) -> pd.DataFrame:
        """Stored profiles: ``dataset, probe, preprocess, n, dim, content_hash, embeddings (bool), created_at``."""
        sql = ("SELECT dataset, probe, preprocess, n, dim, content_hash, embeddings IS NOT NULL, created_at "
               "FROM profiles")
        where, args = [], []
        if probe is not None:
            where.append("probe = ?")
            args.append(probe)
        if dataset is not None:
            where.append("dataset = ?")
            args.append(dataset)
        if where:
            sql += " WHERE " + " AND ".join(where)
        columns = ["dataset", "probe", "preprocess", "n", "dim", "content_hash", "embeddings", "created_at"]
        if not self._exists():
            return pd.DataFrame(columns=columns)
        with self._snapshot() as conn:
            rows = conn.execute(sql + " ORDER BY probe, preprocess, dataset", args).fetchall()
        frame = pd.DataFrame(rows, columns=columns)
        return frame.astype({"embeddings": bool})

    def profile_means(self, probe: str, preprocess: str | None = None) -> pd.DataFrame:
        """Mean embeddings of every dataset profiled with ``probe`` (index dataset, one float column per
        dimension, named ``<probe>.<i>``): the datasets' features (paper 4.2)."""
        profiles = self._profiles_where("probe = ?", (probe,), preprocess, False)
        if not profiles:
            return pd.DataFrame(index=pd.Index([], name="dataset", dtype=object))
        self._check_one_mode(profiles, probe)
        width = len(str(profiles[0].dim - 1))
        columns = [f"{probe}.{i:0{width}d}" for i in range(profiles[0].dim)]
        return pd.DataFrame(np.stack([p.mean for p in profiles]), columns=columns,
                            index=pd.Index([p.dataset for p in profiles], name="dataset", dtype=object))

    def store_distances(self, rows, metric: str, *, source: str | None = None) -> int:
        """Upsert dataset distances ``(dataset_a, dataset_b, value)`` of ``metric``; return how many changed."""
        changed = 0
        with self._transaction(source) as writer:
            for a, b, value in rows:
                if a == b:
                    continue
                changed += writer.set_distance(a, b, metric, float(value)) != "skipped"
        return changed

    def distances_of(self, dataset: str, metric: str) -> dict[str, float]:
        """Stored distances of ``metric`` from ``dataset`` to the others: ``{other: value}``."""
        if not self._exists():
            return {}
        with self._snapshot() as conn:
            rows = conn.execute(
                "SELECT dataset_b, value FROM distances WHERE dataset_a = ? AND metric = ? UNION ALL "
                "SELECT dataset_a, value FROM distances WHERE dataset_b = ? AND metric = ?",
                (dataset, metric, dataset, metric)).fetchall()
        return dict(rows)

    # ---------------------------------------------------------------- helpers
    def _profiles_where(self, where: str, args: tuple, preprocess, embeddings: bool) -> list[Profile]:
        if not self._exists():
            return []
        if preprocess is not None:
            where += " AND preprocess = ?"
            args = (*args, preprocess)
        with self._snapshot() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM profiles WHERE {where} ORDER BY dataset, preprocess",
                                args).fetchall()
        return [_decode(row, embeddings) for row in rows]

    @staticmethod
    def _check_one_mode(profiles: list[Profile], probe: str) -> None:
        modes = sorted({p.preprocess for p in profiles})
        if len(modes) > 1:
            raise KnowledgeBaseError(f"Profiles of probe {probe!r} use several preprocessing modes ({', '.join(modes)}):"
                                     " name one.")
