"""The ground-truth grid: fine-tune, sample and score every (model, dataset) cell, locally or on Ray,
with its state in the knowledge base (resumable; failures kept, never blocking)."""

from ._grid import BACKENDS, CellTask, GridReport, GridSpec, run_grid

__all__ = ["BACKENDS", "CellTask", "GridReport", "GridSpec", "run_grid"]
