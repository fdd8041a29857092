"""The result of an evaluation: the documented ``mnc evaluate --json`` layout, from Python too."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .._cache import atomic_write
from ..records import Metric

__all__ = ["EvaluationResult"]


@dataclass(frozen=True, eq=False)
class EvaluationResult(Mapping):
    """What :func:`~matchchoose.evaluate.run_evaluation` returns: one run per sparsity level.

    It reads as the mapping :meth:`to_dict` returns (``result["methods"]["mnc"]["tau_w"]``), the
    layout ``mnc evaluate --json`` writes::

        {"metric", "higher_is_better", "aggregate", "fidelity", "distance_metric", "n_models", "n_datasets",
         "sparsity", "reference_model", "seeds", "timings",
         "methods": {NAME: {"osr", "tau_w", "o2b", "o2o", "rel_at_1", "rel_at_3", ..., "<metric>_std",
                            "n_datasets", "params",
                            "per_dataset": {DATASET: {..., "predicted_scores": {MODEL: score}}}}},
         "sparsity_sweep": {LEVEL: {NAME: ...}}}     # only with several sparsity levels

    The top level describes the first (lowest) sparsity level.

    Attributes
    ----------
    metric : Metric
        The result metric ranked by.
    n_models : int
        Models of the zoo.
    distance_metric : str or None
        The dataset distance used.
    aggregate : str or None
        How repeated runs of a pair were combined when the records were read (``"best"``, ``"mean"``).
    fidelity : float or None
        The fidelity the records were read at (``None``: each pair's target fidelity).
    runs : dict
        ``{sparsity level: {"methods": ..., "reference_model": ..., "seeds": ..., "timings": ...}}``.
    """

    metric: Metric
    n_models: int
    distance_metric: str | None
    aggregate: str | None
    runs: dict
    fidelity: float | None = None
    _cache: dict = field(default_factory=dict, init=False, repr=False)

    @property
    def levels(self) -> list:
        """The sparsity levels, ascending."""
        return sorted(self.runs)

    @property
    def methods(self) -> dict:
        """``{method: summary}`` at the lowest sparsity level."""
        return self.runs[self.levels[0]]["methods"]

    def to_dict(self) -> dict:
        """The ``mnc evaluate --json`` layout (a new dict each call; JSON-ready, no NaN)."""
        first = self.runs[self.levels[0]]
        out = {
            "metric": self.metric.name,
            "higher_is_better": self.metric.higher_is_better,
            "aggregate": self.aggregate,
            "fidelity": self.fidelity,
            "distance_metric": self.distance_metric,
            "n_models": self.n_models,
            "n_datasets": len(first["methods"]["mnc"]["per_dataset"]) if "mnc" in first["methods"] else None,
            "sparsity": self.levels[0],
            **first,
        }
        if len(self.levels) > 1:
            out["sparsity_sweep"] = {f"{level:g}": self.runs[level]["methods"] for level in self.levels}
        return json.loads(json.dumps(out))  # a deep copy: callers may edit it freely

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text, keys sorted, indented by 2."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, allow_nan=False)

    def save(self, path) -> Path:
        """Write :meth:`to_json` to ``path`` (parent folders created; replaced atomically); return the path."""
        text = self.to_json().encode("utf-8")
        return atomic_write(path, lambda handle: handle.write(text))

    def __repr__(self) -> str:
        return (f"EvaluationResult(metric={self.metric.name!r}, sparsity={self.levels}, "
                f"methods={list(self.methods)})")

    # Mapping over to_dict(), built once: result["methods"] reads as the JSON does.
    def _dict(self) -> dict:
        if "dict" not in self._cache:
            self._cache["dict"] = self.to_dict()
        return self._cache["dict"]

    def __getitem__(self, key):
        return self._dict()[key]

    def __iter__(self):
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())
