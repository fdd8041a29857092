"""Leave-one-dataset-out evaluation (paper 5.2-5.4, 5.7): metrics, splitter, baselines, selector registry,
runner and its result."""

from ._baselines import (
    BASELINES,
    DirectSelector,
    InitialSelector,
    NearestSelector,
    OracleSelector,
    OverallSelector,
    RandomSelector,
    make_baseline,
)
from ._blend import BlendSelector
from ._metrics import (
    METRICS,
    expected_random_metrics,
    overall_best_model,
    pick_model,
    rel_at_k,
    selection_metrics,
    summarize,
)
from ._noise import final_noise, target_rows, within_noise
from ._registry import SELECTORS, describe_selectors, make_selector
from ._result import EvaluationResult
from ._runner import MethodSpec, default_methods, run_evaluation
from ._split import Fold, LeaveOneDatasetOut, iter_folds

__all__ = [
    "BASELINES",
    "BlendSelector",
    "DirectSelector",
    "EvaluationResult",
    "Fold",
    "InitialSelector",
    "LeaveOneDatasetOut",
    "METRICS",
    "MethodSpec",
    "NearestSelector",
    "OracleSelector",
    "OverallSelector",
    "RandomSelector",
    "SELECTORS",
    "default_methods",
    "describe_selectors",
    "expected_random_metrics",
    "final_noise",
    "iter_folds",
    "make_baseline",
    "make_selector",
    "overall_best_model",
    "pick_model",
    "rel_at_k",
    "run_evaluation",
    "selection_metrics",
    "summarize",
    "target_rows",
    "within_noise",
]
