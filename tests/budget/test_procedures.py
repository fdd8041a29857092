"""Budgeted selection on small hand-made learning curves whose answers are known."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from matchchoose._errors import InputError
from matchchoose.budget import (BudgetExceeded, CurveBank, Evidence, Ledger, plan_schedules, prior_topk, race,
                                rank_z, subtune)
from matchchoose.budget._procedure import schedule_cost

RUNGS = [1.0, 2.0, 4.0]


def table_run(values: dict):
    """run(model, fidelity) over {model: [score at 1, 2, 4]} (higher is better), counting calls."""
    calls = []

    def run(model, fidelity):
        calls.append((model, fidelity))
        return values[model][RUNGS.index(float(fidelity))]

    run.calls = calls
    return run


def test_ledger_charges_only_the_increment_and_refuses_overspending():
    ledger = Ledger(table_run({"a": [0.1, 0.2, 0.3], "b": [0.5, 0.6, 0.7]}), budget=6)
    assert ledger.observe("a", 1) == 0.1 and ledger.spent == 1
    assert ledger.observe("a", 4) == 0.3 and ledger.spent == 4  # resumed: 3 more, not 4
    assert ledger.observe("a", 4) == 0.3 and ledger.spent == 4  # seen: free, not run again
    assert ledger.cost("b", 4) == 4 and not ledger.affordable("b", 4)
    with pytest.raises(BudgetExceeded, match="costs 4, but only 2 of the budget 6 is left"):
        ledger.observe("b", 4)
    assert ledger.spent == 4 and "b" not in ledger.reached
    with pytest.raises(InputError, match="already trained to 4"):
        ledger.observe("a", 2)
    assert ledger.trace == [["a", 1.0, 0.1], ["a", 4.0, 0.3]]
    assert ledger.run.calls == [("a", 1.0), ("a", 4.0)]
    with pytest.raises(InputError, match="'budget' parameter of Ledger"):
        Ledger(lambda m, f: 0.0, budget=-1)


def test_rank_z_handles_ties_and_single_values():
    assert rank_z([5.0]).tolist() == [0.0]
    assert rank_z([2.0, 2.0]).tolist() == [0.0, 0.0]
    np.testing.assert_allclose(rank_z([1.0, 1.0, 3.0]), [-0.70710678, -0.70710678, 1.41421356])


def test_every_planned_schedule_fits_and_the_empty_one_is_always_there():
    schedules = plan_schedules(4, RUNGS, budget=8)
    assert () in schedules
    assert ((0, 4), (1, 2), (2, 1)) in schedules  # 4*1 + 2*1 + 1*2 = 8
    assert ((0, 4), (2, 1)) in schedules  # screen 4 at 1, one on to 4: 4 + 3
    assert ((0, 4), (1, 4)) not in schedules  # 4*2 = 8 ... is fine, but halving never keeps all
    assert all(schedule_cost(s, RUNGS) <= 8 for s in schedules)
    assert schedule_cost(((0, 4), (1, 2), (2, 1)), RUNGS) == 8
    assert plan_schedules(4, RUNGS, budget=0) == [()]


def test_subtune_screens_all_at_the_largest_rung_that_leaves_room_for_the_winner():
    values = {"a": [0.1, 0.5, 0.9], "b": [0.4, 0.45, 0.6], "c": [0.3, 0.4, 0.5], "d": [0.2, 0.3, 0.4]}
    prior = pd.Series({"a": 0.0, "b": 1.0, "c": 2.0, "d": 3.0})
    # budget 8: rung 1 costs 4 * 1 + (4 - 1) = 7; rung 2 would cost 4 * 2 + 2 = 10.
    sel = subtune(list(values), prior=prior, run=table_run(values), budget=8, fidelities=RUNGS, higher_is_better=True)
    assert (sel.pick, sel.spent, sel.schedule) == ("b", 7.0, [[1.0, 4], [4.0, 1]])
    assert sel.trace[-1] == ["b", 4.0, 0.6]
    # budget 2: no screening fits; the zero-shot scores decide, nothing runs.
    sel = subtune(list(values), prior=prior, run=table_run(values), budget=2, fidelities=RUNGS, higher_is_better=True,
                  zero_shot=pd.Series({"a": 0.9, "b": 0.1, "c": 0.2, "d": 0.3}))
    assert (sel.pick, sel.spent, sel.trace) == ("a", 0.0, [])
    # budget 16: rung 2 fits (4 * 2 + 2 = 10), and a leads there.
    sel = subtune(list(values), prior=prior, run=table_run(values), budget=16, fidelities=RUNGS, higher_is_better=True)
    assert (sel.pick, sel.spent, sel.schedule) == ("a", 10.0, [[2.0, 4], [4.0, 1]])


def test_prior_topk_fine_tunes_as_many_of_the_prior_top_as_the_budget_allows():
    values = {"a": [0.1, 0.5, 0.9], "b": [0.4, 0.5, 0.6], "c": [0.3, 0.4, 0.7], "d": [0.2, 0.3, 0.4]}
    prior = pd.Series({"a": 0.0, "b": 1.0, "c": 2.0, "d": 3.0})
    sel = prior_topk(list(values), prior=prior, run=table_run(values), budget=9, fidelities=RUNGS,
                     higher_is_better=True)
    assert (sel.pick, sel.spent, [t[0] for t in sel.trace]) == ("c", 8.0, ["d", "c"])
    sel = prior_topk(list(values), prior=prior, run=table_run(values), budget=3.9, fidelities=RUNGS,
                     higher_is_better=True)
    assert (sel.pick, sel.spent, sel.trace) == ("d", 0.0, [])


def test_race_without_history_halves_from_the_lowest_rung_against_a_wrong_prior():
    # The prior ranks d last, but d leads at every rung; c beats b at rung 2.
    values = {"a": [0.1, 0.2, 0.3], "b": [0.3, 0.35, 0.5], "c": [0.25, 0.4, 0.6], "d": [0.5, 0.6, 0.9]}
    prior = pd.Series({"a": 3.0, "b": 2.0, "c": 1.0, "d": 0.0})
    run = table_run(values)
    sel = race(list(values), prior=prior, run=run, budget=8, fidelities=RUNGS, higher_is_better=True)
    assert sel.schedule == [[1.0, 4], [2.0, 2], [4.0, 1]]
    assert sel.pick == "d" and sel.spent == 8.0
    assert run.calls == [("a", 1.0), ("b", 1.0), ("c", 1.0), ("d", 1.0), ("d", 2.0), ("b", 2.0), ("d", 4.0)]
    # Lower is better: the same curves negated give the same answer.
    negated = {m: [-v for v in vs] for m, vs in values.items()}
    assert race(list(values), prior=prior, run=table_run(negated), budget=8, fidelities=RUNGS,
                higher_is_better=False).pick == "d"


def _bank(datasets: dict, higher_is_better=True) -> CurveBank:
    rows = [(m, d, f, v) for d, curves in datasets.items() for m, vs in curves.items() for f, v in zip(RUNGS, vs)]
    return CurveBank.from_frames(pd.DataFrame(rows, columns=["model", "dataset", "fidelity", "value"]),
                                 higher_is_better)


def _late_bloomer_world(n_datasets=6, seed=0):
    """``slow`` is last at rungs 1 and 2 everywhere, yet best at the target on every dataset but one;
    the other models keep their order from rung 1 to the target."""
    rng = np.random.default_rng(seed)
    world = {}
    for i in range(n_datasets):
        final = dict(zip(["a", "b", "c"], rng.permutation([0.5, 0.6, 0.7])))
        curves = {m: [v - 0.3, v - 0.2, v] for m, v in final.items()}
        curves["slow"] = [0.05, 0.1, 0.9 if i else 0.4]
        world[f"d{i}"] = curves
    return world


def test_evidence_learns_that_a_late_bloomer_gains_after_the_first_rung():
    world = _late_bloomer_world()
    evidence = Evidence(_bank(world), ["a", "b", "c", "slow"], RUNGS, use_zero_shot=False)
    assert evidence.learned and evidence.training_names == sorted(world)
    gain = dict(zip(evidence.models, evidence.gain_[0]))
    assert gain["slow"] > 1.0 and all(gain[m] < 0 for m in "abc")
    assert np.all(evidence.gain_[-1] == 0)  # at the target there is nothing left to gain


def _world(n_datasets, final_of, seed=0):
    """Curves ``[v - 0.3, v - 0.2, v]`` (every rung ranks as the target does) of 4 models."""
    rng = np.random.default_rng(seed)
    return {f"d{i}": {m: [v - 0.3, v - 0.2, v] for m, v in final_of(i, rng).items()} for i in range(n_datasets)}


def test_race_trusts_a_prior_that_was_right_on_every_other_dataset_and_spends_nothing():
    world = _world(6, lambda i, rng: {"a": 0.4, "b": 0.5 + 0.01 * i, "c": 0.6, "d": 0.9})  # d always best
    target = {"a": [0.1, 0.2, 0.4], "b": [0.2, 0.3, 0.5], "c": [0.3, 0.4, 0.6], "d": [0.6, 0.7, 0.9]}
    prior = pd.Series({"a": 0.0, "b": 1.0, "c": 2.0, "d": 3.0})  # the selector's prior agrees
    run = table_run(target)
    sel = race(list(target), prior=prior, run=run, budget=8, fidelities=RUNGS, higher_is_better=True,
               history=_bank(world))
    assert (sel.pick, sel.spent, sel.schedule, run.calls) == ("d", 0.0, [], [])


def test_race_screens_at_the_cheapest_rung_when_it_ranks_as_the_target_and_the_prior_does_not():
    world = _world(10, lambda i, rng: dict(zip("abcd", rng.permutation([0.4, 0.5, 0.6, 0.9]))))
    target = {"a": [0.6, 0.7, 0.9], "b": [0.2, 0.3, 0.5], "c": [0.3, 0.4, 0.6], "d": [0.1, 0.2, 0.4]}
    prior = pd.Series({"a": 0.0, "b": 1.0, "c": 2.0, "d": 3.0})  # wrong way round
    sel = race(list(target), prior=prior, run=table_run(target), budget=8, fidelities=RUNGS,
               higher_is_better=True, history=_bank(world))
    # Every model once at rung 1 (cost 4) tells the best on every training dataset: no more is spent.
    assert (sel.pick, sel.spent, sel.schedule) == ("a", 4.0, [[1.0, 4]])
    assert prior_topk(list(target), prior=prior, run=table_run(target), budget=8, fidelities=RUNGS,
                      higher_is_better=True).pick == "c"


def test_race_never_overspends_and_is_deterministic():
    rng = np.random.default_rng(1)
    models = [f"m{i}" for i in range(5)]
    world = {f"d{i}": {m: sorted(rng.uniform(size=3)) for m in models} for i in range(4)}
    target = {m: sorted(rng.uniform(size=3)) for m in models}
    prior = pd.Series(rng.normal(size=5), index=models)
    zero_shot = pd.Series(rng.uniform(size=5), index=models)
    for budget, history in itertools.product([0, 1, 3, 5.5, 10, 20, 35], [None, _bank(world)]):
        a = race(models, prior=prior, run=table_run(target), budget=budget, fidelities=RUNGS,
                 higher_is_better=True, history=history, zero_shot=zero_shot)
        b = race(models, prior=prior, run=table_run(target), budget=budget, fidelities=RUNGS,
                 higher_is_better=True, history=history, zero_shot=zero_shot)
        assert a.spent <= budget + 1e-12 and (a.pick, a.trace) == (b.pick, b.trace)
        assert a.spent == sum(f - max([g for m, g, _ in a.trace[:i] if m == t[0]], default=0.0)
                              for i, (t, f) in enumerate((t, t[1]) for t in a.trace))


def test_bad_inputs_name_the_parameter():
    with pytest.raises(InputError, match="'prior' parameter of race has no finite score for model 'b'"):
        race(["a", "b"], prior=pd.Series({"a": 1.0}), run=lambda m, f: 0.0, budget=1, fidelities=RUNGS,
             higher_is_better=True)
    with pytest.raises(InputError, match="'fidelities' parameter of subtune"):
        subtune(["a"], prior=pd.Series({"a": 1.0}), run=lambda m, f: 0.0, budget=1, fidelities=[0, 1],
                higher_is_better=True)


def test_an_uncertain_prior_lets_a_model_enter_first():
    values = {"a": [0.5, 0.6, 0.7], "b": [0.8, 0.85, 0.9]}
    prior = pd.Series({"a": 1.0, "b": 0.5})
    kwargs = dict(prior=prior, budget=1, fidelities=RUNGS, higher_is_better=True)
    assert race(list(values), run=table_run(values), **kwargs).trace == [["a", 1.0, 0.5]]
    sel = race(list(values), run=table_run(values), prior_std=pd.Series({"a": 0.0, "b": 1.0}), **kwargs)
    assert (sel.pick, sel.trace) == ("b", [["b", 1.0, 0.8]])
    sel = race(list(values), run=table_run(values), prior_std=pd.Series({"a": 0.0, "b": 1.0}), kappa=0.0, **kwargs)
    assert sel.pick == "a"
