"""The ground-truth grid: fine-tune, sample and score every (model, dataset) cell, locally or on Ray,
with its state in the knowledge base (resumable; failures kept, never blocking).

The pieces of one cell (:func:`split_target`, :func:`train_to`, :func:`draw_and_score`) and the
scores' :func:`provenance` are public: ``mnc race`` runs the same stages one at a time.
"""

from ._cell import draw_and_score, split_target, train_to
from ._grid import BACKENDS, CellTask, GridReport, GridSpec, provenance, run_grid

__all__ = ["BACKENDS", "CellTask", "GridReport", "GridSpec", "draw_and_score", "provenance", "run_grid",
           "split_target", "train_to"]
