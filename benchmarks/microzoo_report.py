"""Micro-zoo report: a finished ``mnc grid`` turned into the figures and tables of docs/microzoo.md.

What it does (paper "Match & Choose", Fig. 3a and 3b, on the micro zoo):

1. Reads the grid's results and prescores of ``--metric`` from the knowledge base
   (:meth:`matchchoose.kb.KnowledgeBase.records`: one value per (model, dataset), repeated runs
   combined with ``--aggregate``; prescores averaged).
2. ``heatmap.png`` (Fig. 3b): the model x domain matrix of the metric after fine-tuning. FD scales
   differ a lot between domains, so each column is coloured by the model's rank within that domain
   (``--color rank``, default) or by its value min-max normalised per domain (``--color normalized``);
   every cell is annotated with its value and the best model per domain is boxed and bold.
3. ``before_after.png`` (Fig. 3a): per cell, the prescore (pretrained model) against the score after
   fine-tuning, with the diagonal (left), and per model the ratio score / prescore of every domain
   (right); cells where fine-tuning did not help are named.
4. Tables, printed (rich) and written to ``tables.md`` and CSV files: the matrix; per domain the best
   model and its margin over the second; how often the overall-best model (best mean rank) wins;
   how many distinct models win somewhere; per model the mean rank, wins, mean and geometric-mean
   ratio score / prescore and the fraction of cells fine-tuning improved.
5. Compute: the seconds per stage recorded in each cell's ``GRID_OUT/<model>/<dataset>/cell.json``
   (``finetune``, ``sample``, ``score``, ``prescore``; the driver's whole-cell ``seconds`` from the
   knowledge base's grid cells when it knows the run folder): per-model mean and total, grand total.
   A resumed cell's timings cover only the run that finished it.

It does not run ``mnc evaluate`` (leave-one-dataset-out selection); run that separately.

Usage::

    python benchmarks/microzoo_report.py --kb KB.sqlite --grid-out RUNS_DIR --metric fd_dinov2
        --out benchmarks/out/microzoo-report [--exclude-datasets a,b] [--aggregate best|mean]
        [--color rank|normalized]

Writes under ``--out``: heatmap.png, before_after.png, tables.md, matrix.csv (models x domains),
cells.csv (one row per cell: score, prescore, ratio, rank, timings), best_per_domain.csv,
per_model.csv, timings.csv.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from matchchoose._errors import MatchChooseError
from matchchoose.grid._grid import _safe
from matchchoose.kb import KnowledgeBase

REPO = Path(__file__).resolve().parents[1]
STAGES = ("finetune", "sample", "score", "prescore")


class ReportError(Exception):
    """A problem with the inputs: printed as one line, no traceback."""


# ------------------------------------------------------------------ formatting
def markdown(frame: pd.DataFrame, index: bool = False) -> str:
    """A pipe table (no tabulate dependency)."""
    frame = frame.reset_index() if index else frame
    head = [str(c) for c in frame.columns]
    body = [["" if (isinstance(v, float) and math.isnan(v)) else str(v) for v in row]
            for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])


def compact(x) -> str:
    """Short value for a heatmap cell or a table: 3 significant digits, k for thousands."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    a = abs(x)
    if a >= 10_000:
        return f"{x / 1000:.0f}k"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def seconds(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if x >= 3600:
        return f"{x / 3600:.2f} h"
    if x >= 60:
        return f"{x / 60:.1f} min"
    return f"{x:.1f} s"


def print_table(frame: pd.DataFrame, title: str, index: bool = False) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    frame = frame.reset_index() if index else frame
    t = Table(title=escape(title), title_justify="left")
    for i, col in enumerate(frame.columns):
        t.add_column(escape(str(col)), justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row in frame.itertuples(index=False):
        t.add_row(*[escape("" if (isinstance(v, float) and math.isnan(v)) else str(v)) for v in row])
    Console(width=200).print(t)


# ---------------------------------------------------------------------- data
def load(kb_path: Path, metric: str, aggregate: str, exclude: list[str]):
    """``(matrix, prescore_matrix or None, Metric)``: models x datasets, NaN where unknown."""
    if not kb_path.exists():
        raise ReportError(f"no knowledge base at {kb_path}")
    kb = KnowledgeBase(kb_path)
    summary = kb.summary()
    if not summary["results"].get(metric):
        have = ", ".join(f"{m} ({n})" for m, n in summary["results"].items()) or "none"
        raise ReportError(f"{kb_path} has no results for metric {metric!r}; metrics with results: {have}")
    has_prescores = bool(summary["prescores"].get(metric))
    # records() refuses to guess among several distance metrics; distances play no part here
    distance = next(iter(summary["distances"]), None)
    records = kb.records(metric, aggregate=aggregate, distance_metric=distance,
                         prescore_metric=metric if has_prescores else None)
    grid_cells = kb.grid_cells()
    kb.close()

    def wide(long: pd.DataFrame) -> pd.DataFrame:
        return long.pivot(index="model", columns="dataset", values="value")

    matrix = wide(records.results)
    unknown = sorted(set(exclude) - set(matrix.columns))
    if unknown:
        print(f"note: --exclude-datasets names datasets without results: {', '.join(unknown)}", file=sys.stderr)
    matrix = matrix.drop(columns=[d for d in exclude if d in matrix.columns])
    matrix = matrix.dropna(how="all", axis=0).dropna(how="all", axis=1)
    if matrix.empty:
        raise ReportError(f"no results for metric {metric!r} left after --exclude-datasets")
    pre = None
    if records.prescores is not None:
        pre = wide(records.prescores).reindex(index=matrix.index, columns=matrix.columns)
    return matrix, pre, records.metric, grid_cells


def ranks(matrix: pd.DataFrame, higher_is_better: bool) -> pd.DataFrame:
    """Rank of each model within each domain (1 = best, ties share the lowest rank)."""
    return matrix.rank(axis=0, ascending=not higher_is_better, method="min")


def normalized(matrix: pd.DataFrame, higher_is_better: bool) -> pd.DataFrame:
    """Per domain: 0 = best, 1 = worst (min-max)."""
    lo, hi = matrix.min(axis=0), matrix.max(axis=0)
    span = (hi - lo).replace(0, np.nan)
    x = (matrix - lo) / span
    return (1 - x if higher_is_better else x).fillna(0.0).where(matrix.notna())


def read_timings(grid_out: Path, models, datasets, grid_cells: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """One row per (model, dataset) of the matrix: stage seconds from cell.json (else from the grid
    cell's result in the KB), the driver's whole-cell seconds, fine-tune steps, resumed."""
    notes = []
    by_dir = {}
    for row in grid_cells.itertuples(index=False):
        if row.state == "done" and row.run_dir:
            by_dir[str(Path(row.run_dir).resolve())] = row.result or {}
    rows, missing_json, no_timings, from_kb = [], 0, 0, 0
    for model in models:
        for dataset in datasets:
            run = grid_out / _safe(model) / _safe(dataset)
            path = run / "cell.json"
            driver = by_dir.get(str(run.resolve()))
            cell = None
            if path.is_file():
                try:
                    cell = json.loads(path.read_text())
                except (OSError, json.JSONDecodeError) as exc:
                    notes.append(f"unreadable {path}: {exc}")
            else:
                missing_json += 1
            timings = (cell or {}).get("timings") or {}
            if not timings and driver and driver.get("timings"):
                timings, from_kb = driver["timings"], from_kb + 1
            if cell is None and driver is None:
                continue
            if not timings:
                no_timings += 1
            ft = (cell or driver or {}).get("finetune") or {}
            row = {"model": model, "dataset": dataset}
            row.update({f"{s}_s": timings.get(s, np.nan) for s in STAGES})
            row.update({f"{k}_s": v for k, v in timings.items() if k not in STAGES})  # other recorded stages
            row["stages_s"] = sum(v for v in timings.values() if isinstance(v, (int, float))) if timings else np.nan
            row["driver_s"] = (driver or {}).get("seconds", np.nan)
            row["finetune_steps"] = ft.get("steps", np.nan)
            row["resumed"] = ft.get("resumed_from") not in (None, 0)
            rows.append(row)
    n = len(models) * len(datasets)
    if missing_json:
        notes.append(f"{missing_json} of {n} cells have no cell.json under {grid_out}")
    if from_kb:
        notes.append(f"{from_kb} cells' timings taken from the knowledge base's grid cells (no cell.json timings)")
    if no_timings:
        notes.append(f"{no_timings} cells record no timings at all")
    frame = pd.DataFrame(rows)
    if not frame.empty and frame["resumed"].any():
        notes.append(f"{int(frame['resumed'].sum())} cells were resumed: their fine-tune seconds cover only the "
                     "last run")
    return frame, notes


def other_cells(grid_out: Path, models, datasets) -> tuple[int, float]:
    """cell.json files under ``grid_out`` outside the report (excluded datasets, unknown names)."""
    inside = {(_safe(m), _safe(d)) for m in models for d in datasets}
    count, total = 0, 0.0
    for path in grid_out.glob("*/*/cell.json"):
        if (path.parent.parent.name, path.parent.name) in inside:
            continue
        try:
            timings = json.loads(path.read_text()).get("timings") or {}
        except (OSError, json.JSONDecodeError):
            timings = {}
        count += 1
        total += sum(v for v in timings.values() if isinstance(v, (int, float)))
    return count, total


# --------------------------------------------------------------------- plots
def plot_heatmap(matrix, rank, norm, mean_rank, metric, color, path: Path, title_extra: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    n_models, n_domains = matrix.shape
    shade = rank if color == "rank" else norm
    fig_w = max(9.0, 1.6 + 0.62 * n_domains + 0.09 * max(len(str(m)) for m in matrix.index))
    fig_h = max(3.0, 1.3 + 0.42 * n_models + 0.075 * max(len(str(d)) for d in matrix.columns))
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    cmap = matplotlib.colormaps["RdYlGn_r"].copy()
    cmap.set_bad("#dddddd")
    vmax = n_models if color == "rank" else 1.0
    vmin = 1 if color == "rank" else 0.0
    image = ax.imshow(np.ma.masked_invalid(shade.to_numpy(float)), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    best = rank == 1
    for i in range(n_models):
        for j in range(n_domains):
            value = matrix.iat[i, j]
            is_best = bool(best.iat[i, j])
            ax.text(j, i, compact(value), ha="center", va="center", fontsize=7.5,
                    fontweight="bold" if is_best else "normal", color="black")
            if is_best:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", lw=2.5))
    ax.set_xticks(range(n_domains), [str(d) for d in matrix.columns], rotation=45, ha="right",
                  rotation_mode="anchor", fontsize=8.5)
    ax.set_yticks(range(n_models), [f"{m}  ({mean_rank[m]:.1f})" for m in matrix.index], fontsize=8.5)
    ax.set_xticks(np.arange(-0.5, n_domains), minor=True)
    ax.set_yticks(np.arange(-0.5, n_models), minor=True)
    ax.grid(which="minor", color="white", lw=1)
    ax.tick_params(which="minor", length=0)
    ax.set_ylabel("model  (mean rank over domains)", fontsize=9)
    ax.set_title(f"{metric.name} after fine-tuning ({'higher' if metric.higher_is_better else 'lower'} is better)"
                 f"{title_extra}\ncolour: "
                 f"{'rank within the domain' if color == 'rank' else 'value normalised per domain'}"
                 "; boxed and bold: best model of the domain", fontsize=9.5, loc="left")
    bar = fig.colorbar(image, ax=ax, fraction=0.025, pad=0.01)
    if color == "rank":
        bar.set_label("rank within domain (1 = best)", fontsize=8)
        bar.set_ticks(range(1, n_models + 1))
    else:
        bar.set_label("value normalised per domain (0 = best, 1 = worst)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def plot_before_after(cells: pd.DataFrame, metric, path: Path, title_extra: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = cells.dropna(subset=["score", "prescore"])
    models = list(dict.fromkeys(cells["model"]))
    colors = matplotlib.colormaps["tab10" if len(models) <= 10 else "tab20"]
    markers = "osD^vP*Xhp<>"
    style = {m: (colors(i % colors.N), markers[i % len(markers)]) for i, m in enumerate(models)}
    positive = bool(len(data)) and (data[["score", "prescore"]] > 0).all().all()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.4), gridspec_kw={"width_ratios": [1, 1.25]})

    for m in models:
        d = data[data["model"] == m]
        c, mk = style[m]
        ax1.scatter(d["prescore"], d["score"], color=c, marker=mk, s=30, alpha=0.85, label=m,
                    edgecolor="black", linewidths=0.3)
    if len(data):
        lo = min(data["score"].min(), data["prescore"].min())
        hi = max(data["score"].max(), data["prescore"].max())
        pad = (hi / lo) ** 0.05 if positive else 1.0
        lims = (lo / pad, hi * pad) if positive else (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
        ax1.plot(lims, lims, color="grey", lw=1, ls="--", zorder=0)
        ax1.set_xlim(lims)
        ax1.set_ylim(lims)
        if positive and hi / lo > 20:
            ax1.set_xscale("log")
            ax1.set_yscale("log")
        better = "below" if not metric.higher_is_better else "above"
        ax1.text(0.03, 0.97, f"{better} the diagonal: fine-tuning helped", transform=ax1.transAxes, fontsize=8,
                 va="top", color="#333333")
    ax1.set_xlabel(f"prescore: {metric.name} of the pretrained model")
    ax1.set_ylabel(f"{metric.name} after fine-tuning")
    ax1.set_title(f"(a) before vs after fine-tuning{title_extra}", fontsize=10, loc="left")
    ax1.grid(alpha=0.3, which="both")
    ax1.legend(fontsize=7.5, loc="lower right", framealpha=0.9)

    rng = np.random.default_rng(0)
    for i, m in enumerate(models):
        d = data[data["model"] == m]
        if d.empty:
            continue
        c, mk = style[m]
        x = i + rng.uniform(-0.18, 0.18, len(d))
        ax2.scatter(x, d["ratio"], color=c, marker=mk, s=26, alpha=0.85, edgecolor="black", linewidths=0.3)
        gmean = float(np.exp(np.log(d["ratio"]).mean())) if (d["ratio"] > 0).all() else float(d["ratio"].mean())
        ax2.hlines(gmean, i - 0.3, i + 0.3, color="black", lw=2)
        for xi, r in zip(x, d.itertuples(index=False)):
            if not r.improved:
                ax2.annotate(r.dataset, (xi, r.ratio), fontsize=6.5, xytext=(4, 2), textcoords="offset points",
                             color="#aa0000")
    ax2.axhline(1.0, color="grey", lw=1, ls="--")
    if len(data) and (data["ratio"] > 0).all():
        from matplotlib.ticker import FuncFormatter

        ax2.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        ax2.yaxis.set_major_formatter(plain)
        ax2.yaxis.set_minor_formatter(plain)
        ax2.tick_params(axis="y", which="minor", labelsize=7)
    ax2.set_xticks(range(len(models)), models, rotation=30, ha="right", rotation_mode="anchor", fontsize=8)
    ax2.set_xlim(-0.6, len(models) - 0.4)
    ax2.set_ylabel("score / prescore")
    ax2.set_title(f"(b) score / prescore per domain (bar: geometric mean; {'<' if not metric.higher_is_better else '>'}"
                  " 1 = helped; red = did not help)", fontsize=9, loc="left")
    ax2.grid(alpha=0.3, axis="y", which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


# ---------------------------------------------------------------------- main
def plot_samples(grid_out: Path, data: Path, models, domains, path: Path, per_cell: int = 2) -> None:
    """Contact sheet: per domain (columns) held-out real images (first row), then per model (rows)
    the pretrained model's samples (left) and the fine-tuned model's (right) for the same captions."""
    import matplotlib
    from PIL import Image

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from matchchoose.sample import held_out_captions

    size, gap = 64, 6
    width = len(domains) * (2 * per_cell * size + gap)
    height = (1 + len(models)) * (size + gap)
    sheet = Image.new("RGB", (width, height), "white")

    def load(file):
        return Image.open(file).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)

    for j, domain in enumerate(domains):
        x0 = j * (2 * per_cell * size + gap)
        _, folder = held_out_captions(data / domain)
        for k, file in enumerate(folder.paths[: 2 * per_cell]):
            sheet.paste(load(file), (x0 + k * size, 0))
        for i, model in enumerate(models):
            run = grid_out / _safe(model) / _safe(domain)
            for k in range(per_cell):
                for side, sub in enumerate(("pretrained", "samples")):
                    file = run / sub / f"{k:05d}.png"
                    if file.is_file():
                        sheet.paste(load(file), (x0 + (side * per_cell + k) * size, (i + 1) * (size + gap)))
    fig = plt.figure(figsize=(width / 100 + 1.6, height / 100 + 1.0), dpi=100)
    ax = fig.add_axes([1.5 / (width / 100 + 1.6), 0.02, width / 100 / (width / 100 + 1.6),
                       height / 100 / (height / 100 + 1.0)])
    ax.imshow(np.asarray(sheet))
    ax.set_xticks([j * (2 * per_cell * size + gap) + per_cell * size for j in range(len(domains))])
    ax.set_xticklabels(domains, rotation=35, ha="left", fontsize=8)
    ax.xaxis.tick_top()
    ax.set_yticks([size / 2 + i * (size + gap) for i in range(1 + len(models))])
    ax.set_yticklabels(["real (held out)"] + [f"{m}\npretrained | fine-tuned" for m in models], fontsize=8)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.savefig(path)
    plt.close(fig)


def report(args) -> None:
    exclude = [d.strip() for d in (args.exclude_datasets or "").split(",") if d.strip()]
    try:
        matrix, pre, metric, grid_cells = load(args.kb, args.metric, args.aggregate, exclude)
    except MatchChooseError as exc:
        raise ReportError(str(exc)) from None
    hib = metric.higher_is_better
    rank = ranks(matrix, hib)
    mean_rank = rank.mean(axis=1)
    # order: best mean rank first (ties: mean normalised value); domains alphabetical
    norm = normalized(matrix, hib)
    order = pd.DataFrame({"r": mean_rank, "n": norm.mean(axis=1)}).sort_values(["r", "n"]).index
    matrix, rank, norm, mean_rank = matrix.loc[order], rank.loc[order], norm.loc[order], mean_rank.loc[order]
    columns = sorted(matrix.columns)
    matrix, rank, norm = matrix[columns], rank[columns], norm[columns]
    if pre is not None:
        pre = pre.loc[order, columns]
    models, domains = list(matrix.index), list(matrix.columns)
    n_cells = int(matrix.notna().sum().sum())
    args.out.mkdir(parents=True, exist_ok=True)
    title_extra = f", {len(models)} models x {len(domains)} domains"

    # ---- cells (long)
    cells = matrix.stack().rename("score").reset_index()
    cells.columns = ["model", "dataset", "score"]
    cells["rank"] = [rank.at[m, d] for m, d in zip(cells["model"], cells["dataset"])]
    cells["prescore"] = [np.nan if pre is None else pre.at[m, d] for m, d in zip(cells["model"], cells["dataset"])]
    cells["ratio"] = cells["score"] / cells["prescore"]
    cells["improved"] = np.where(cells["prescore"].isna(), np.nan,
                                 (cells["score"] > cells["prescore"]) if hib else (cells["score"] < cells["prescore"]))

    # ---- per domain
    best_rows = []
    for d in domains:
        col = matrix[d].dropna().sort_values(ascending=not hib, kind="mergesort")
        first, second = col.index[0], (col.index[1] if len(col) > 1 else None)
        v1, v2 = col.iloc[0], (col.iloc[1] if len(col) > 1 else np.nan)
        margin = abs(v2 - v1)
        best_rows.append({"domain": d, "best": first, "value": v1, "second": second, "second value": v2,
                          "margin": margin, "margin %": 100 * margin / abs(v1) if v1 else np.nan,
                          "ties": int((rank[d] == 1).sum()), "models": len(col)})
    best = pd.DataFrame(best_rows)
    wins = (rank == 1).sum(axis=1)  # per model: domains where it is (co-)best
    overall = models[0]
    n_domains = len(domains)
    winners = wins[wins > 0].sort_values(ascending=False)

    # ---- per model
    per_model = pd.DataFrame(index=pd.Index(models, name="model"))
    per_model["mean rank"] = mean_rank
    per_model["wins"] = wins
    per_model["domains"] = matrix.notna().sum(axis=1)
    per_model["mean norm."] = norm.mean(axis=1)
    if pre is not None and cells["prescore"].notna().any():
        g = cells.dropna(subset=["prescore"]).groupby("model")
        per_model["mean score/prescore"] = g["ratio"].mean()
        per_model["geo-mean score/prescore"] = g["ratio"].apply(
            lambda r: float(np.exp(np.log(r).mean())) if (r > 0).all() else np.nan)
        per_model["improved"] = g["improved"].mean()
        per_model["n with prescore"] = g.size()

    # ---- timings
    timings, notes = read_timings(args.grid_out, models, domains, grid_cells)
    if not args.grid_out.is_dir():
        notes.insert(0, f"--grid-out {args.grid_out} is not a folder")
    n_other, other_s = other_cells(args.grid_out, models, domains) if args.grid_out.is_dir() else (0, 0.0)
    if n_other:
        notes.append(f"{n_other} other cell.json files under {args.grid_out} (excluded datasets or names not in "
                     f"the report) recorded {seconds(other_s)} more, not in the totals")
    time_cols = [c for c in timings.columns if c.endswith("_s") and timings[c].notna().any()] if len(timings) else []
    if time_cols:
        by_model = timings.groupby("model")[time_cols]
        tmodel = pd.concat({"mean": by_model.mean(), "total": by_model.sum(min_count=1)}, axis=1)
        tmodel["cells"] = timings.groupby("model").size()
        grand = timings[time_cols].sum(min_count=1)
    else:
        tmodel, grand = pd.DataFrame(), pd.Series(dtype=float)
        notes.append("no timings recorded in any cell.json nor in the knowledge base's grid cells")

    # ---- files: CSV
    matrix.to_csv(args.out / "matrix.csv", float_format="%.6g")
    if len(timings):
        cells = cells.merge(timings, on=["model", "dataset"], how="left")
    cells.to_csv(args.out / "cells.csv", index=False, float_format="%.6g")
    best.to_csv(args.out / "best_per_domain.csv", index=False, float_format="%.6g")
    per_model.to_csv(args.out / "per_model.csv", float_format="%.6g")
    if len(tmodel):
        flat = tmodel.copy()
        flat.columns = [c if isinstance(c, str) else f"{c[1]}_{c[0]}" if c[1] else c[0] for c in flat.columns]
        flat.loc["ALL"] = {**{f"{c}_total": grand[c] for c in time_cols},
                           **{f"{c}_mean": timings[c].mean() for c in time_cols}, "cells": len(timings)}
        flat.to_csv(args.out / "timings.csv", float_format="%.6g")

    # ---- figures
    plot_heatmap(matrix, rank, norm, mean_rank, metric, args.color, args.out / "heatmap.png", title_extra)
    if pre is not None and cells["prescore"].notna().any():
        plot_before_after(cells, metric, args.out / "before_after.png", title_extra)
    else:
        notes.append(f"no prescores of {metric.name} in the knowledge base: before_after.png not drawn")

    # ---- text
    direction = "higher" if hib else "lower"
    show_matrix = matrix.T.map(compact)
    for m in models:  # mark the best of each domain
        show_matrix[m] = [f"**{v}**" if rank.at[m, d] == 1 else v for v, d in zip(show_matrix[m], domains)]
    show_matrix.loc["mean rank"] = [f"{mean_rank[m]:.2f}" for m in models]
    show_matrix.loc["wins"] = [f"{wins[m]}" for m in models]
    show_matrix.index.name = "domain"
    show_best = best.assign(value=best["value"].map(compact), **{"second value": best["second value"].map(compact)},
                            margin=best["margin"].map(compact),
                            **{"margin %": best["margin %"].map(lambda x: "" if pd.isna(x) else f"{x:.1f}")})
    show_best["second"] = show_best["second"].fillna("")
    show_model = per_model.copy()
    for c in show_model.columns:
        if c in ("wins", "domains", "n with prescore"):
            show_model[c] = show_model[c].map(lambda x: "" if pd.isna(x) else f"{int(x)}")
        elif c == "improved":
            show_model[c] = show_model[c].map(lambda x: "" if pd.isna(x) else f"{100 * x:.0f} %")
        else:
            show_model[c] = show_model[c].map(lambda x: "" if pd.isna(x) else f"{x:.3f}")

    improved = cells["improved"].dropna()
    lines_stats = [
        f"- Cells: {n_cells} of {len(models) * n_domains} ({len(models)} models x {n_domains} domains)"
        + (f"; excluded datasets: {', '.join(exclude)}" if exclude else "") + ".",
        f"- Overall-best model (best mean rank, {mean_rank[overall]:.2f}): `{overall}`, best on "
        f"**{wins[overall]} of {n_domains}** domains.",
        f"- Distinct models best somewhere: **{len(winners)} of {len(models)}** ("
        + ", ".join(f"`{m}` {w}" for m, w in winners.items()) + ").",
    ]
    if (best["ties"] > 1).any():
        n_tied = int((best["ties"] > 1).sum())
        lines_stats.append(f"- Ties for best in {n_tied} domain(s) (each tied model counts a win).")
    if len(improved):
        lines_stats.append(f"- Fine-tuning improved {metric.name} in **{int(improved.sum())} of {len(improved)}** "
                           "cells "
                           f"({100 * improved.mean():.0f} %); median score/prescore "
                           f"{cells['ratio'].median():.3f}.")
        worse = cells[cells["improved"] == 0]
        if len(worse):
            lines_stats.append("- Not improved: " + ", ".join(f"`{r.model}` x `{r.dataset}` ({r.ratio:.2f})"
                                                               for r in worse.itertuples(index=False)) + ".")
    else:
        lines_stats.append("- No prescores: the before/after comparison is not possible.")

    if len(tmodel):
        show_t = pd.DataFrame(index=tmodel.index)
        for c in time_cols:
            label = c[:-2]
            show_t[f"{label} mean"] = tmodel[("mean", c)].map(seconds)
            show_t[f"{label} total"] = tmodel[("total", c)].map(seconds)
        show_t["cells"] = tmodel["cells"].astype(int)
        show_t.loc["ALL"] = [seconds(timings[c].mean()) if k == 0 else seconds(grand[c])
                             for c in time_cols for k in (0, 1)] + [len(timings)]
        show_t = show_t.reindex([m for m in models if m in show_t.index] + ["ALL"])
        show_t.index.name = "model"
        total_key = "stages_s" if "stages_s" in time_cols else time_cols[0]
        time_lines = [f"Grand total: **{seconds(grand[total_key])}** of recorded stage time over {len(timings)} "
                      "cells" + (f" (driver wall time {seconds(grand['driver_s'])})" if "driver_s" in time_cols
                                 else "") + "."]
    else:
        show_t, time_lines = None, []

    md = [
        f"# Micro-zoo report: {metric.name}",
        "",
        f"Command: `python benchmarks/microzoo_report.py --kb {args.kb} --grid-out {args.grid_out} --metric "
        f"{metric.name} --out {args.out}" + (f" --exclude-datasets {','.join(exclude)}" if exclude else "")
        + (f" --aggregate {args.aggregate}" if args.aggregate != "best" else "") + "`",
        "",
        f"{metric.name}: {direction} is better; repeated runs of a cell combined with `{args.aggregate}`, "
        "prescores (the pretrained model) averaged.",
        "",
        "## Summary",
        "",
        *lines_stats,
        "",
        f"## {metric.name} after fine-tuning (bold: best model of the domain; models ordered by mean rank)",
        "",
        markdown(show_matrix, index=True),
        "",
        "## Best model per domain and its margin over the second",
        "",
        markdown(show_best),
        "",
        "## Per model",
        "",
        "`mean norm.`: value min-max normalised per domain (0 = best, 1 = worst), averaged. "
        "`score/prescore`: " + ("below 1 = fine-tuning helped." if not hib else "above 1 = fine-tuning helped."),
        "",
        markdown(show_model, index=True),
        "",
        "## Compute (seconds recorded in cell.json)",
        "",
        "Stages: `finetune` (fine-tuning, resumed cells: the last run only), `sample` (fine-tuned model's images), "
        "`score` (probe embedding and distance), `prescore` (pretrained model's images and score), `stages` "
        "(their sum), `driver` (the grid driver's whole-cell wall time, from the knowledge base).",
        "",
        *(["- " + n for n in notes] + [""] if notes else []),
        *([markdown(show_t, index=True), "", *time_lines, ""] if show_t is not None else []),
    ]
    text = "\n".join(md)
    (args.out / "tables.md").write_text(text, encoding="utf-8")

    # ---- console
    from rich.console import Console
    from rich.markup import escape

    if args.data is not None:
        plot_samples(args.grid_out, args.data, models, domains, args.out / "samples.png")
    console = Console(width=200)
    console.print(f"[bold]{escape(metric.name)}[/bold] ({direction} is better), {len(models)} models x "
                  f"{n_domains} domains, {n_cells} cells", highlight=False)
    print_table(show_matrix.map(lambda v: v.replace("**", "*") if isinstance(v, str) else v),
                f"{metric.name} after fine-tuning (*best*)", index=True)
    print_table(show_best, "best model per domain")
    print_table(show_model, "per model", index=True)
    for line in lines_stats:
        console.print(escape(line.replace("**", "").replace("`", "")), highlight=False)
    if show_t is not None:
        print_table(show_t, "compute per model (cell.json)", index=True)
        for line in time_lines:
            console.print(escape(line.replace("**", "")), highlight=False)
    for n in notes:
        console.print(f"note: {escape(n)}", highlight=False)
    console.print(f"wrote {escape(str(args.out))}/: heatmap.png"
                  + (", before_after.png" if (args.out / "before_after.png").exists() else "")
                  + ", tables.md, matrix.csv, cells.csv, best_per_domain.csv, per_model.csv"
                  + (", timings.csv" if len(tmodel) else ""), highlight=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb", type=Path, required=True, help="The grid's knowledge base (SQLite).")
    parser.add_argument("--grid-out", type=Path, required=True, help="The grid's run folder (mnc grid --out).")
    parser.add_argument("--metric", default="fd_dinov2", help="Result metric (default %(default)s).")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "microzoo-report")
    parser.add_argument("--exclude-datasets", default="", help="Comma-separated datasets left out of the report.")
    parser.add_argument("--aggregate", choices=("best", "mean"), default="best",
                        help="Repeated runs of a cell: best (as mnc evaluate's default) or mean.")
    parser.add_argument("--data", type=Path, default=None,
                        help="Domains root: also draw samples.png (real, pretrained and fine-tuned samples).")
    parser.add_argument("--color", choices=("rank", "normalized"), default="rank",
                        help="Heatmap colour: rank within the domain, or value min-max normalised per domain.")
    args = parser.parse_args(argv)
    try:
        report(args)
    except ReportError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
