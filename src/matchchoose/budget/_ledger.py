"""The compute ledger of a budgeted selection: who was trained how far, what it cost, what it scored.

Fine-tuning resumes from the last checkpoint, so taking model ``m`` from fidelity ``f0`` to ``f1``
costs ``f1 - f0`` (the increment), and scoring it again at a fidelity it already reached costs
nothing. The ledger enforces the budget before anything runs: a step that would overspend raises
and spends nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .._errors import InputError

__all__ = ["BudgetExceeded", "Ledger"]


class BudgetExceeded(InputError):
    """A run would spend more compute than the budget has left."""


class Ledger:
    """Runs fine-tunes through ``run`` within ``budget`` and keeps the trace.

    Parameters
    ----------
    run : callable
        ``run(model, fidelity) -> score``: fine-tune ``model`` on the target up to ``fidelity``
        (resuming from its last checkpoint) and return the metric's raw value there.
    budget : float
        Compute available, in fidelity units (e.g. training steps), ``>= 0``.

    Attributes
    ----------
    spent : float
        Compute spent so far.
    trace : list of [model, fidelity, score]
        Every run, in order.
    reached : dict
        model -> largest fidelity trained so far.

    Examples
    --------
    >>> curve = {("a", 10): 5.0, ("a", 40): 3.0}
    >>> ledger = Ledger(lambda m, f: curve[(m, f)], budget=40)
    >>> ledger.observe("a", 10), ledger.observe("a", 40), ledger.spent
    (5.0, 3.0, 40.0)
    """

    def __init__(self, run: Callable, budget: float):
        if not callable(run):
            raise InputError(f"The 'run' parameter of Ledger must be callable (model, fidelity) -> score. "
                             f"Got {run!r} instead.")
        if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not math.isfinite(budget) \
                or budget < 0:
            raise InputError(f"The 'budget' parameter of Ledger must be a finite number >= 0. Got {budget!r} instead.")
        self.run = run
        self.budget = float(budget)
        self.spent = 0.0
        self.trace: list = []
        self.reached: dict = {}
        self._scores: dict = {}

    @property
    def remaining(self) -> float:
        """Compute left."""
        return self.budget - self.spent

    def cost(self, model, fidelity: float) -> float:
        """What observing ``model`` at ``fidelity`` would cost now (the increment; 0 if seen)."""
        if (model, float(fidelity)) in self._scores:
            return 0.0
        return max(0.0, float(fidelity) - self.reached.get(model, 0.0))

    def affordable(self, model, fidelity: float) -> bool:
        """Whether observing ``model`` at ``fidelity`` fits what is left (1e-9 slack for rounding)."""
        return self.cost(model, fidelity) <= self.remaining + 1e-9 * max(1.0, self.budget)

    def observe(self, model, fidelity: float) -> float:
        """Score of ``model`` at ``fidelity``, running (and paying for) it unless already seen.

        Raises
        ------
        BudgetExceeded
            The increment does not fit the budget left; nothing is spent.
        InputError
            ``fidelity`` is below what ``model`` already reached (its earlier checkpoints are not
            kept for re-scoring) or not positive.
        """
        fidelity = float(fidelity)
        key = (model, fidelity)
        if key in self._scores:
            return self._scores[key]
        if not fidelity > 0:
            raise InputError(f"Cannot run {model!r} at fidelity {fidelity:g}: fidelities to run are > 0 "
                             "(zero-shot scores are given, not run).")
        if fidelity < self.reached.get(model, 0.0):
            raise InputError(f"Cannot score {model!r} at fidelity {fidelity:g}: it was already trained to "
                             f"{self.reached[model]:g}.")
        if not self.affordable(model, fidelity):
            raise BudgetExceeded(f"Running {model!r} to fidelity {fidelity:g} costs {self.cost(model, fidelity):g}, "
                                 f"but only {self.remaining:g} of the budget {self.budget:g} is left.")
        cost = self.cost(model, fidelity)
        score = float(self.run(model, fidelity))
        self.spent += cost
        self.reached[model] = fidelity
        self._scores[key] = score
        self.trace.append([model, fidelity, score])
        return score
