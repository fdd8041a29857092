"""Budgeted selection: find the best model for a fraction of the exhaustive grid's compute.

Start from a selector's prior ranking (and the pretrained models' zero-shot scores), fine-tune the
shortlist briefly, drop the losers, continue the survivors (resuming, so continuing costs only the
increment) and stop within the budget. :func:`race` is the procedure; :func:`subtune`
and :func:`prior_topk` are baselines; :func:`simulate_budgeted` replays all of them on a knowledge
base's recorded learning curves (``mnc evaluate --budgeted``); :func:`race_folder` runs them for
real on an image folder, fine-tuning, sampling and scoring (``mnc race``; :class:`FinetuneRuns` is
its ``run``).

Examples
--------
>>> import pandas as pd
>>> from matchchoose.budget import race
>>> curve = {("a", 1.0): 0.3, ("b", 1.0): 0.5, ("c", 1.0): 0.1, ("b", 4.0): 0.8, ("a", 4.0): 0.6}
>>> sel = race(["a", "b", "c"], prior=pd.Series({"a": 2.0, "b": 1.0, "c": 0.0}),
...            run=lambda m, f: curve[(m, f)], budget=6, fidelities=[1, 4], higher_is_better=True)
>>> sel.pick, sel.spent, sel.trace[-1]
('b', 6.0, ['b', 4.0, 0.8])
"""

from ._evidence import CurveBank, Evidence, rank_z
from ._ledger import BudgetExceeded, Ledger
from ._live import FinetuneRuns, RaceRun, default_fidelities, race_folder, read_prior
from ._procedure import PROCEDURES, Selection, plan_schedules, prior_topk, race, subtune
from ._simulate import RecordedRuns, simulate_budgeted

__all__ = [
    "PROCEDURES",
    "BudgetExceeded",
    "CurveBank",
    "Evidence",
    "FinetuneRuns",
    "Ledger",
    "RaceRun",
    "RecordedRuns",
    "Selection",
    "default_fidelities",
    "plan_schedules",
    "prior_topk",
    "race",
    "race_folder",
    "rank_z",
    "read_prior",
    "simulate_budgeted",
    "subtune",
]
