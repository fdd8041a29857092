"""Budgeted selection on synthetic learning curves: a sanity check until real ones exist.

No knowledge base with recorded learning curves exists yet (the micro zoo v2 grid records them).
This script draws FD-like curves (lower is better) for 8 models x 24 datasets at 4 rungs in two
regimes and replays ``race``, ``subtune`` and ``prior_topk`` on them with
:func:`matchchoose.budget.simulate_budgeted`, the prior being "best on average" over the other
datasets (the role M&C's prediction plays in ``mnc evaluate --budgeted``):

* ``informative``: the pretrained score and every rung rank the models much as the target does;
* ``crossing``: models learn at different speeds and the pretrained score is unrelated to the final
  one, so early rungs mislead and only late evidence (or a good prior) helps.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/budgeted_synthetic.py [--json out.json] [--png out.png]``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from matchchoose.budget import simulate_budgeted

RUNGS = (125.0, 250.0, 500.0, 1000.0)
BUDGETS = (0.0625, 0.125, 0.25, 0.5)
REGIMES = {
    # zero-shot noise (FD units), learning-speed exponent range, per-dataset affinity scale
    "informative": dict(zs_noise=2.0, speed=(0.9, 1.0), affinity=2.0),
    "crossing": dict(zs_noise=10.0, speed=(0.3, 1.0), affinity=2.0),
}


def curves(zs_noise, speed, affinity, n_models=8, n_datasets=24, noise=0.05, seed=0):
    """Curves ``value(f) = zs + (final - zs) * (f / T) ** speed_m`` plus relative noise, and prescores."""
    rng = np.random.default_rng(seed)
    skill = rng.normal(size=n_models)
    speeds = rng.uniform(*speed, size=n_models)
    rows, pre = [], []
    for d in range(n_datasets):
        final = 40 - 4 * skill - 4 * affinity * rng.normal(size=n_models) / 2 + rng.normal(size=n_models)
        zs = final + 20 + zs_noise * rng.normal(size=n_models)
        for m in range(n_models):
            pre.append((f"m{m}", f"d{d:02d}", zs[m]))
            for f in RUNGS:
                value = zs[m] + (final[m] - zs[m]) * (f / RUNGS[-1]) ** speeds[m]
                rows.append((f"m{m}", f"d{d:02d}", f, value * (1 + noise * rng.normal())))
    return (pd.DataFrame(rows, columns=["model", "dataset", "fidelity", "value"]),
            pd.DataFrame(pre, columns=["model", "dataset", "value"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None)
    parser.add_argument("--png", default=None, help="Save found-best and O2O against budget, one panel per regime.")
    args = parser.parse_args()
    report = {}
    for regime, params in REGIMES.items():
        table, pre = curves(**params)
        target = table[table["fidelity"] == RUNGS[-1]]
        priors = {d: -target[target["dataset"] != d].groupby("model")["value"].mean()
                  for d in sorted(table["dataset"].unique())}
        t0 = time.perf_counter()
        out = simulate_budgeted(table, priors=priors, higher_is_better=False, budgets=BUDGETS, zero_shot=pre)
        seconds = time.perf_counter() - t0
        report[regime] = {**out, "seconds": seconds}
        print(f"\n{regime} ({seconds:.0f} s)")
        print(f"{'budget':>7} {'procedure':<11} {'found':>6} {'rel@1':>6} {'O2O':>6} {'compute':>8}")
        for name, block in out["budgeted_references"].items():
            print(f"{0:>7g} {name:<11} {block['found_best']:6.3f} {block['rel_at_1']:6.3f} {block['o2o']:6.2f} "
                  f"{block['compute_fraction']:8.3f}")
        for b in map(lambda x: f"{x:g}", BUDGETS):
            blocks = [("race", out["budgeted"][b])] + [(n, v[b]) for n, v in out["budgeted_baselines"].items()]
            for name, block in blocks:
                print(f"{b:>7} {name:<11} {block['found_best']:6.3f} {block['rel_at_1']:6.3f} {block['o2o']:6.2f} "
                      f"{block['compute_fraction']:8.3f}")
    if args.png:
        from matchchoose.cli._budgeted import save_budgeted_plot

        save_budgeted_plot({f"synthetic, {regime}": out for regime, out in report.items()}, args.png)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
