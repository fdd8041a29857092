"""``mnc evaluate --budgeted``: budgeted selection replayed on the knowledge base's learning curves."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from .._errors import InputError

DEFAULT_BUDGETS = "0.0625,0.125,0.25,0.5"


def parse_budgets(text: str) -> list:
    """``"0.0625,0.125"`` -> [0.0625, 0.125]; each a fraction in (0, 1]."""
    budgets = []
    for part in (p.strip() for p in str(text).split(",")):
        try:
            value = float(part)
        except ValueError:
            value = float("nan")
        if not 0 < value <= 1:
            raise InputError(f"--budgets: {part!r} is not a fraction of the exhaustive grid in (0, 1] "
                             f"(e.g. {DEFAULT_BUDGETS}).")
        budgets.append(value)
    return sorted(set(budgets))


def check_budgeted(kb, records, budgets: str, fidelity) -> list:
    """Refuse ``--budgeted`` before the evaluation runs when it cannot work; return the budgets."""
    fractions = parse_budgets(budgets)
    if fidelity is not None:
        raise InputError("--budgeted replays whole learning curves: drop --fidelity.")
    if not kb.summary()["fidelities"].get(records.metric.name):
        raise InputError(f"{kb.path} has no learning curves for {records.metric.name!r}: --budgeted needs results "
                         "with a fidelity column (see 'mnc kb import').")
    return fractions


def run_budgeted(kb, records, result, *, budgets, aggregate: str, fidelity, prior_method: str = "blend") -> dict:
    """The budgeted blocks of ``mnc evaluate --json`` (see :func:`matchchoose.budget.simulate_budgeted`),
    the prior being ``prior_method``'s leave-one-dataset-out predicted scores in ``result``."""
    import pandas as pd

    from ..budget import simulate_budgeted

    if fidelity is not None:
        raise InputError("--budgeted replays whole learning curves: drop --fidelity.")
    methods = result["methods"]
    if prior_method not in methods:
        raise InputError(f"--budgeted needs the {prior_method!r} method's predictions, which this evaluation lacks: "
                         f"keep it in --baselines or choose another --budgeted-prior.")
    curves = kb.curves(records.metric.name, aggregate="mean" if aggregate == "mean" else "best")
    if curves["fidelity"].notna().sum() == 0:
        raise InputError(f"{kb.path} has no learning curves for {records.metric.name!r}: --budgeted needs results "
                         "with a fidelity column (see 'mnc kb import').")
    priors = {d: pd.Series(v["predicted_scores"], dtype=float)
              for d, v in methods[prior_method]["per_dataset"].items()}
    zero_shot = None
    if records.prescores is not None and len(records.prescores):
        pre = records.prescores
        # In the result metric's direction, whatever the prescore metric's.
        flip = records.prescore_metric.higher_is_better != records.metric.higher_is_better
        zero_shot = pre.assign(value=-pre["value"] if flip else pre["value"])[["model", "dataset", "value"]]
    out = simulate_budgeted(curves, priors=priors, higher_is_better=records.metric.higher_is_better,
                            budgets=budgets, zero_shot=zero_shot)
    out["budgeted_prior"] = prior_method
    _judge_within_noise(out, kb.curves(records.metric.name, per_row=True), records.metric.higher_is_better)
    return out


def _judge_within_noise(out: dict, rows, higher_is_better: bool) -> None:
    """Add ``found_best_noise`` (per dataset and per block) where the KB measured the noise of a final score
    (:func:`matchchoose.evaluate.final_noise`): a pick is a hit when it is within that noise of the best
    (:func:`~matchchoose.evaluate.within_noise`). Nothing is added when no pair has two rows at its target."""
    import pandas as pd

    from ..evaluate import final_noise, target_rows, within_noise

    noise = final_noise(rows)
    if noise is None:
        return
    final = target_rows(rows).groupby(["model", "dataset"])["value"].mean()
    utility = final if higher_is_better else -final
    datasets = set(utility.index.get_level_values("dataset"))

    def hit(dataset: str, pick: str):
        if dataset not in datasets:
            return None
        u = utility.xs(dataset, level="dataset")
        return within_noise(u, dataset, pick, noise) if pick in u.index else None

    blocks = list(out.get("budgeted", {}).values()) + list(out.get("budgeted_references", {}).values())
    for per_budget in out.get("budgeted_baselines", {}).values():
        blocks += list(per_budget.values())
    for block in blocks:
        hits = []
        for dataset, entry in block.get("per_dataset", {}).items():
            entry["found_best_noise"] = hit(dataset, entry["pick"])
            if entry["found_best_noise"] is not None:
                hits.append(entry["found_best_noise"])
        block["found_best_noise"] = float(pd.Series(hits, dtype=float).mean()) if hits else None


def print_budgeted(console, out: dict) -> None:
    """One table: per budget and procedure, found-best share, rel@1, O2O and compute fraction."""
    table = Table(title="Budgeted selection on recorded learning curves (mean over held-out datasets)")
    blocks = list(out.get("budgeted", {}).values()) + list(out.get("budgeted_references", {}).values())
    noisy = any("found_best_noise" in block for block in blocks)
    columns = ("budget", "procedure", "found best", *(("within noise",) if noisy else ()), "rel@1", "O2O", "compute")
    for column in columns:
        table.add_column(column, justify="left" if column == "procedure" else "right")
    fmt = lambda v: "" if v is None else f"{v:.3f}"  # noqa: E731
    rows = [(b, "race", block) for b, block in out.get("budgeted", {}).items()]
    for name, blocks in out.get("budgeted_baselines", {}).items():
        rows += [(b, name, block) for b, block in blocks.items()]
    rows.sort(key=lambda r: (float(r[0]), r[1] != "race", r[1]))
    for name, block in out.get("budgeted_references", {}).items():
        rows.insert(0, ("0", name, block))
    for budget, name, block in rows:
        within = (fmt(block.get("found_best_noise")),) if noisy else ()
        table.add_row(budget, name, fmt(block["found_best"]), *within, fmt(block["rel_at_1"]), fmt(block["o2o"]),
                      fmt(block["compute_fraction"]))
    console.print(table)
    if out.get("budgeted_skipped"):
        console.print(f"without complete curves (skipped): {', '.join(out['budgeted_skipped'])}", highlight=False)


def add_to_json(path, out: dict) -> None:
    """Merge the budgeted blocks into the JSON ``mnc evaluate --json`` wrote."""
    path = Path(path)
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(out)
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


def save_budgeted_plot(panels: dict, path) -> Path:
    """Found-best share and O2O against compute fraction, one column per panel.

    ``panels``: title -> the dict :func:`run_budgeted` returns (or ``simulate_budgeted``'s).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(panels), figsize=(4.2 * len(panels), 6.4), squeeze=False, sharex=True)
    styles = {"race": ("C0", "o", "-"), "subtune": ("C1", "s", "--"), "prior_topk": ("C2", "^", "--")}
    for col, (title, out) in enumerate(panels.items()):
        lines = {"race": out.get("budgeted", {}), **out.get("budgeted_baselines", {})}
        for row, key in enumerate(("found_best", "o2o")):
            ax = axes[row, col]
            for name, blocks in lines.items():
                color, marker, style = styles.get(name, ("C3", "x", ":"))
                order = sorted(blocks, key=float)
                ax.plot([float(b) for b in order], [blocks[b][key] for b in order], marker=marker, ls=style,
                        color=color, label=f"{name} (at its budget)")
            for name, block in out.get("budgeted_references", {}).items():
                ax.axhline(block[key], color="grey", ls=":" if name == "prediction" else "-.", lw=1,
                           label=f"{name} (no compute)")
            ax.set_xscale("log", base=2)
            ax.set_ylabel("found best (share)" if key == "found_best" else "O2O (metric units)")
            if row == 0:
                ax.set_title(title)
            else:
                ax.set_xlabel("budget (fraction of the exhaustive grid)")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
