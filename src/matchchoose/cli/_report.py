"""Tables and plots of evaluation results, for the terminal and for files."""

from __future__ import annotations

import pandas as pd

COLUMNS = [("tau_w", "weighted τ"), ("osr", "OSR"), ("rel_at_1", "rel@1"), ("rel_at_3", "rel@3"),
           ("o2o", "O2O"), ("o2b", "O2B"), ("pearson", "Pearson"), ("spearman", "Spearman"),
           ("coverage", "scored")]


def summary_frame(run: dict) -> pd.DataFrame:
    """One row per method: the mean metrics and their std over seeds."""
    rows = {}
    for name, entry in run["methods"].items():
        row = {}
        for key, _ in COLUMNS:
            row[key] = entry.get(key)
            row[f"{key}_std"] = entry.get(f"{key}_std")
        row["n_datasets"] = entry.get("n_datasets")
        rows[name] = row
    return pd.DataFrame(rows).T


def _fmt(value, std=None, seeds=1):
    if value is None:
        return "–"
    text = f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    if seeds > 1 and std is not None:
        text += f" ± {std:.3f}"
    return text


# Leave-out order when the terminal is narrow (higher first): what --json and --csv always hold.
_DROP = {"pearson": 6, "spearman": 5, "coverage": 7, "o2b": 3, "rel_at_3": 4, "rel_at_1": 2, "o2o": 1}


def print_summary(console, run, *, title: str, seeds: int = 1):
    """Print one table of a run (methods × metrics), with the ratio of weighted τ to Overall's.

    No number is cut: on a narrow terminal the least used metrics leave the table, with a note."""
    from ._table import Col, print_table

    columns = [Col("method", style="bold")]
    columns += [Col(label, "right", drop=_DROP.get(key, 0)) for key, label in COLUMNS]
    columns.append(Col("τ / overall", "right", drop=8))
    overall = run["methods"].get("overall", {}).get("tau_w")
    rows = []
    for name, entry in run["methods"].items():
        cells = [_fmt(entry.get(k), entry.get(f"{k}_std"), seeds) for k, _ in COLUMNS]
        tau = entry.get("tau_w")
        ratio = f"{tau / overall:.2f}" if overall and tau is not None else "–"
        rows.append([name, *cells, ratio])
    print_table(console, title, columns, rows, hint="--json or --csv")
    console.print(f"O2B is measured against {run['reference_model']!r}, the best model on average.",
                  highlight=False, soft_wrap=True)


def save_plot(runs: dict, path: str, *, metric: str):
    """Sparsity curves (OSR and weighted τ vs sparsity) or, for one level, bars per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = sorted(runs)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, (key, label) in zip(axes, [("osr", "OSR"), ("tau_w", "weighted Kendall τ")]):
        if len(levels) > 1:
            names = list(runs[levels[0]]["methods"])
            for name in names:
                ys = [runs[lv]["methods"].get(name, {}).get(key) for lv in levels]
                errs = [runs[lv]["methods"].get(name, {}).get(f"{key}_std") or 0.0 for lv in levels]
                ys = [float("nan") if y is None else y for y in ys]
                ax.errorbar([100 * lv for lv in levels], ys, yerr=errs, marker="o", capsize=3, label=name)
            ax.set_xlabel("model–dataset results removed (%)")
            ax.legend(fontsize=8)
        else:
            methods = runs[levels[0]]["methods"]
            names = list(methods)
            ys = [methods[n].get(key) or 0.0 for n in names]
            errs = [methods[n].get(f"{key}_std") or 0.0 for n in names]
            ax.bar(range(len(names)), ys, yerr=errs, capsize=3, color="#4c72b0")
            ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel(label)
        ax.set_title(f"{label} ({metric}, leave-one-dataset-out)", fontsize=10)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
