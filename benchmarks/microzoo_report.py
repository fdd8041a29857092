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

6. Micro zoo v2, only for a knowledge base whose results have fidelities (learning curves) and/or
   target rows repeated under two or more sampling seeds (a v1 knowledge base, repeated runs without
   a seed included, gets none of this). The final score of a cell is then the mean over its sampling
   seeds at the target fidelity (per dataset the largest); with sampling seeds the default
   ``--aggregate`` (heatmap, matrix, steps 2-4) is ``mean`` too. Added:

   - ``curves.png``: per model the metric relative to its prescore (score / prescore) against the
     fidelity (0 = the prescore), median over domains with the interquartile band, and a few single
     domains (lowest to highest median final ratio);
   - ``noise.png``: per domain the winner's margin over the runner-up against the seed-to-seed noise
     (median over models, and the larger of the top two's seed differences), with the diagonal;
   - tables: per domain the winner under each of the first two seeds, whether they agree, the
     margin, the noise and whether the top two are within noise; per domain Kendall's tau between
     the zero-shot ranking (prescores) and the final ranking; per model the median score / prescore
     at each fidelity; the summary numbers, also in ``summary.json``.

   The sampling seed of a row is its provenance's ``sample_seed`` (what ``mnc grid`` records with
   ``sample_seeds``), else ``seed``.

It does not run ``mnc evaluate`` (leave-one-dataset-out selection); run that separately.

Usage::

    python benchmarks/microzoo_report.py --kb KB.sqlite --grid-out RUNS_DIR --metric fd_dinov2
        --out benchmarks/out/microzoo-report [--exclude-datasets a,b] [--aggregate best|mean]
        [--color rank|normalized]

Writes under ``--out``: heatmap.png, before_after.png, tables.md, matrix.csv (models x domains),
cells.csv (one row per cell: score, prescore, ratio, rank, timings), best_per_domain.csv,
per_model.csv, timings.csv; with fidelities or sampling seeds also summary.json, seed_cells.csv (per
cell the score under each seed, their mean, the noise), curves.csv (per model, domain and fidelity
the value and score / prescore) and curves.png when there are fidelities and prescores,
seeds_per_domain.csv and noise.png when there are two seeds, kendall_tau.csv when there are
prescores.
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
    by_dir, attempts = {}, {}
    for row in grid_cells.itertuples(index=False):
        if row.state == "done" and row.run_dir:
            by_dir[str(Path(row.run_dir).resolve())] = row.result or {}
            attempts[str(Path(row.run_dir).resolve())] = getattr(row, "attempts", None)
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
            # a learning curve's run resumes from its previous stage by design: resumed = a second attempt
            # (the KB's count), else a resume from a step that is not a stage
            tries = attempts.get(str(run.resolve()))
            row["resumed"] = (tries > 1 if isinstance(tries, (int, np.integer)) else
                              ft.get("resumed_from") not in (None, 0, *(ft.get("stages") or ())))
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


# ------------------------------------------------------------ micro zoo v2
SEED_KEYS = ("sample_seed", "seed")  # provenance keys that tell a row's sampling seed


def load_rows(kb_path: Path, metric: str) -> pd.DataFrame | None:
    """Every stored row of ``metric``: results at every fidelity and prescores (at fidelity 0), with
    their provenance (:meth:`~matchchoose.kb.KnowledgeBase.curves`, ``per_row=True``) and a ``seed``
    column (the sampling seed, ``None`` if the provenance names none); ``None`` when the knowledge
    base has no results of ``metric`` (:func:`load` says so)."""
    if not kb_path.exists():
        raise ReportError(f"no knowledge base at {kb_path}")
    with KnowledgeBase(kb_path) as kb:
        if not kb.summary()["results"].get(metric):
            return None
        rows = kb.curves(metric, per_row=True, prescores=True)
    rows["seed"] = [next((str(p[k]) for k in SEED_KEYS if k in p), None) for p in rows["provenance"]]
    return rows


def target_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The results at the target fidelity: per dataset the largest any model reached (rows without
    a fidelity are the target of a pair that has no numeric one), as :meth:`KnowledgeBase.records`."""
    pair_top = results.groupby(["model", "dataset"])["fidelity"].transform("max")
    dataset_top = results.groupby("dataset")["fidelity"].transform("max")
    return results[(results["fidelity"] == dataset_top) | pair_top.isna()]


def seed_order(label: str):
    """Sort key of a seed label: numbers by value first, then text."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def seeded(rows: pd.DataFrame | None) -> bool:
    """Whether some cell's target score is stored under two or more sampling seeds."""
    if rows is None:
        return False
    target = target_rows(rows[rows["kind"] == "result"]).dropna(subset=["seed"])
    return bool(len(target)) and bool((target.groupby(["model", "dataset"])["seed"].nunique() > 1).any())


def _best_first(values: pd.Series, higher_is_better: bool) -> pd.Series:
    """``values`` without NaN, best first (ties keep the given order)."""
    return values.dropna().sort_values(ascending=not higher_is_better, kind="mergesort")


def _num(x):
    """A JSON number: ``None`` for NaN, plain int/float otherwise."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    return int(x) if isinstance(x, (int, np.integer)) else float(x)


def analyse_v2(rows: pd.DataFrame, models: list, domains: list, higher_is_better: bool) -> dict | None:
    """What micro zoo v2 adds, for the report's models and domains; ``None`` when the rows have
    neither fidelities nor target rows repeated under several sampling seeds (a v1 knowledge base,
    whose repeated runs, if any, ``--aggregate`` combines).

    Parameters
    ----------
    rows : pandas.DataFrame
        :func:`load_rows`.
    models, domains : list of str
        The report's models (in its order) and domains.
    higher_is_better : bool
        The metric's direction.

    Returns
    -------
    dict
        ``fidelities`` (sorted, of the results), ``seeds`` (sorted; the first two are seeds A and B,
        empty when no target score is repeated under two seeds), ``cells`` (indexed by model and
        dataset: ``score`` the mean over the target rows, ``prescore`` the mean over the prescore
        rows, ``ratio``, ``improved``, ``seed <s>`` per seed, ``seed diff`` (max - min over seeds),
        ``noise`` (seed diff / score), ``prescore diff``), ``per_domain``, ``tau`` (per domain),
        ``curves`` (per model, dataset and fidelity: ``value``, ``n_repeats``, ``prescore``,
        ``ratio``; ``None`` without fidelities or prescores), ``summary`` (JSON-ready) and ``notes``.
    """
    from scipy.stats import kendalltau

    rows = rows[rows["model"].isin(models) & rows["dataset"].isin(domains)]
    results, prescores = rows[rows["kind"] == "result"], rows[rows["kind"] == "prescore"]
    fidelities = sorted(float(f) for f in set(results["fidelity"].dropna()))
    target = target_rows(results)
    if not fidelities and not seeded(rows):
        return None
    notes = []
    seeds = sorted(set(target["seed"].dropna()), key=seed_order) if seeded(rows) else []
    if not seeds and (target.groupby(["model", "dataset"]).size() > 1).any():
        notes.append("repeated target rows name no sampling seed in their provenance (sample_seed or seed): "
                     "no seed-to-seed comparison")
    recipes = {p.get("grid_recipe") for p in rows["provenance"]} - {None}
    if len(recipes) > 1:
        notes.append(f"the rows come from {len(recipes)} grid recipes (provenance grid_recipe), mixed here")

    # ---- cells: final score = mean over the target rows (the seeds), prescore = mean over its rows
    cells = target.groupby(["model", "dataset"])["value"].mean().rename("score").to_frame()
    pre = prescores.groupby(["model", "dataset"])["value"]
    cells["prescore"] = pre.mean().reindex(cells.index)
    cells["ratio"] = cells["score"] / cells["prescore"]
    better = cells["score"] > cells["prescore"] if higher_is_better else cells["score"] < cells["prescore"]
    cells["improved"] = better.where(cells["prescore"].notna())
    if seeds:
        by_seed = target.dropna(subset=["seed"]).pivot_table(index=["model", "dataset"], columns="seed",
                                                              values="value", aggfunc="mean")
        by_seed = by_seed.reindex(index=cells.index, columns=seeds)
        for s in seeds:
            cells[f"seed {s}"] = by_seed[s]
        two = by_seed.notna().sum(axis=1) >= 2
        cells["seed diff"] = (by_seed.max(axis=1) - by_seed.min(axis=1)).where(two)
        cells["noise"] = cells["seed diff"] / cells["score"].abs()
        pre_seed = prescores.dropna(subset=["seed"]).pivot_table(index=["model", "dataset"], columns="seed",
                                                                 values="value", aggfunc="mean")
        pre_two = pre_seed.notna().sum(axis=1) >= 2
        pre_diff = (pre_seed.max(axis=1) - pre_seed.min(axis=1)).where(pre_two)
        cells["prescore diff"] = pre_diff.reindex(cells.index)
    cells = cells.reindex(pd.MultiIndex.from_tuples(
        [(m, d) for m in models for d in domains if (m, d) in cells.index], names=["model", "dataset"]))

    # ---- per domain: winners, margin, noise; Kendall tau zero-shot vs final
    dom_rows, tau_rows = [], []
    a, b = (seeds[0], seeds[1]) if len(seeds) >= 2 else (None, None)
    for d in domains:
        c = cells.xs(d, level="dataset") if d in cells.index.get_level_values("dataset") else cells.iloc[:0]
        ranked = _best_first(c["score"], higher_is_better)
        if ranked.empty:
            continue
        w, v1 = ranked.index[0], ranked.iloc[0]
        r, v2 = (ranked.index[1], ranked.iloc[1]) if len(ranked) > 1 else (None, np.nan)
        margin = abs(v2 - v1)
        row = {"domain": d, "winner": w, "runner-up": r, "margin": margin,
               "margin rel": margin / abs(v1) if v1 else np.nan, "models": len(ranked)}
        if a is not None:
            both = c[[f"seed {a}", f"seed {b}"]].dropna()
            wa = _best_first(both[f"seed {a}"], higher_is_better).index[0] if len(both) >= 2 else None
            wb = _best_first(both[f"seed {b}"], higher_is_better).index[0] if len(both) >= 2 else None
            top = c["seed diff"].reindex([w, r]) if r is not None else pd.Series([np.nan])
            threshold = top.max() if top.notna().all() else np.nan
            row.update({f"winner seed {a}": wa, f"winner seed {b}": wb,
                        "same winner": (wa == wb) if wa is not None else np.nan,
                        "noise": c["noise"].median(), "top-two seed diff": threshold,
                        "top-two seed diff rel": threshold / abs(v1) if v1 else np.nan,
                        "within noise": (margin <= threshold) if not np.isnan(threshold) else np.nan})
        dom_rows.append(row)
        pair = c[["prescore", "score"]].dropna()
        if len(pair) >= 2:
            tau = kendalltau(pair["prescore"], pair["score"]).statistic
            zero = _best_first(pair["prescore"], higher_is_better).index[0]
            final = _best_first(pair["score"], higher_is_better).index[0]
            tau_rows.append({"domain": d, "tau": float(tau), "models": len(pair), "zero-shot best": zero,
                             "final best": final, "same best": zero == final})
    per_domain = pd.DataFrame(dom_rows)
    tau = pd.DataFrame(tau_rows, columns=["domain", "tau", "models", "zero-shot best", "final best", "same best"])

    # ---- curves: mean over the rows at each fidelity, relative to the prescore (fidelity 0)
    curves = None
    if fidelities and len(prescores):
        curves = (results.dropna(subset=["fidelity"]).groupby(["model", "dataset", "fidelity"])["value"]
                  .agg(["mean", "count"]).rename(columns={"mean": "value", "count": "n_repeats"}))
        zero = pre.agg(["mean", "count"]).rename(columns={"mean": "value", "count": "n_repeats"})
        zero.index = pd.MultiIndex.from_tuples([(m, d, 0.0) for m, d in zero.index],
                                               names=["model", "dataset", "fidelity"])
        curves = pd.concat([zero, curves]).reset_index()
        pre_mean = pre.mean()
        curves["prescore"] = [pre_mean.get((m, d), np.nan) for m, d in zip(curves["model"], curves["dataset"])]
        curves["ratio"] = curves["value"] / curves["prescore"]
        curves = curves.dropna(subset=["ratio"]).sort_values(["model", "dataset", "fidelity"], kind="mergesort")
        curves = curves.reset_index(drop=True)
        if curves.empty:
            curves = None

    # ---- summary
    improved = cells["improved"].dropna().astype(float)
    tops = sorted({float(f) for f in target["fidelity"].dropna()})
    summary = {
        "metric_higher_is_better": higher_is_better,
        "final_score": "mean over the sampling seeds of the target fidelity's rows" if seeds
        else "mean over the target fidelity's rows",
        "models": len(models), "domains": len(per_domain),
        "cells": int(cells["score"].notna().sum()),
        "fidelities": fidelities, "target_fidelities": tops,
        "sample_seeds": seeds,
        "cells_with_prescore": len(improved),
        "improved": int(improved.sum()) if len(improved) else None,
        "improved_share": _num(improved.mean()) if len(improved) else None,
        "median_ratio": _num(cells["ratio"].median()) if cells["ratio"].notna().any() else None,
        "median_kendall_tau": _num(tau["tau"].median()) if tau["tau"].notna().any() else None,
        "domains_with_tau": int(tau["tau"].notna().sum()),
        "zero_shot_best_is_final_best_share": _num(tau["same best"].mean()) if len(tau) else None,
    }
    if a is not None:
        same = per_domain["same winner"].dropna()
        within = per_domain["within noise"].dropna()
        summary.update({
            "domains_compared_across_seeds": len(same),
            "winner_same_share": _num(same.astype(float).mean()) if len(same) else None,
            "domains_with_top_two_noise": len(within),
            "top_two_within_noise_share": _num(within.astype(float).mean()) if len(within) else None,
            "median_noise": _num(cells["noise"].median()),
            "median_prescore_noise": _num((cells["prescore diff"] / cells["prescore"].abs()).median()),
        })
    return {"fidelities": fidelities, "seeds": seeds, "cells": cells, "per_domain": per_domain, "tau": tau,
            "curves": curves, "summary": summary, "notes": notes}


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


def _model_style(models):
    import matplotlib

    colors = matplotlib.colormaps["tab10" if len(models) <= 10 else "tab20"]
    markers = "osD^vP*Xhp<>"
    return {m: (colors(i % colors.N), markers[i % len(markers)]) for i, m in enumerate(models)}


def plot_curves(curves: pd.DataFrame, models, metric, path: Path, title_extra: str, n_single: int = 4):
    """Learning curves: per model the median over domains of score / prescore at each fidelity with the
    interquartile band (left), and each model's curve on a few single domains (right): those with the
    lowest to the highest median final ratio."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style = _model_style(models)
    fids = sorted(curves["fidelity"].unique())
    final = curves.loc[curves.groupby(["model", "dataset"])["fidelity"].idxmax()]
    by_domain = final.groupby("dataset")["ratio"].median().sort_values(kind="mergesort")
    picks = list(dict.fromkeys(by_domain.index[int(round(i))]
                               for i in np.linspace(0, len(by_domain) - 1, min(n_single, len(by_domain)))))
    n_cols = 2 if len(picks) > 1 else 1
    fig = plt.figure(figsize=(7.5 + 3.2 * n_cols, 5.6))
    grid = fig.add_gridspec(2, 1 + n_cols, width_ratios=[2.3] + [1] * n_cols)
    ax = fig.add_subplot(grid[:, 0])
    helped = "below" if not metric.higher_is_better else "above"
    n_domains = curves["dataset"].nunique()
    for m in models:
        d = curves[curves["model"] == m]
        if d.empty:
            continue
        c, mk = style[m]
        q = d.groupby("fidelity")["ratio"].quantile([0.25, 0.5, 0.75]).unstack()
        ax.fill_between(q.index, q[0.25], q[0.75], color=c, alpha=0.13, lw=0)
        ax.plot(q.index, q[0.5], color=c, marker=mk, ms=5, lw=1.6, label=m, markeredgecolor="black",
                markeredgewidth=0.3)
    ax.axhline(1.0, color="grey", lw=1, ls="--", zorder=0)
    ax.set_xticks(fids, [f"{f:g}" for f in fids])
    ax.set_xlabel("fidelity: fine-tuning steps (0 = the pretrained model, its prescore)")
    ax.set_ylabel(f"{metric.name} / prescore")
    ax.set_title(f"(a) score / prescore, median over {n_domains} domains (band: interquartile range)"
                 f"{title_extra}\n{helped} 1: better than the pretrained model", fontsize=9.5, loc="left")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, ncol=2 if len(models) > 6 else 1, framealpha=0.9)
    for k, domain in enumerate(picks):
        sub = fig.add_subplot(grid[k // n_cols, 1 + k % n_cols])
        for m in models:
            d = curves[(curves["model"] == m) & (curves["dataset"] == domain)]
            if len(d):
                c, mk = style[m]
                sub.plot(d["fidelity"], d["ratio"], color=c, marker=mk, ms=3.5, lw=1.1)
        sub.axhline(1.0, color="grey", lw=0.8, ls="--", zorder=0)
        sub.set_xticks(fids, [f"{f:g}" for f in fids], fontsize=7)
        sub.tick_params(axis="y", labelsize=7)
        sub.set_title(f"{domain} (median final {by_domain[domain]:.2f})", fontsize=8.5, loc="left")
        sub.grid(alpha=0.3)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    if picks:
        boxes = [a.get_position() for a in fig.axes[1:]]
        fig.text((min(b.x0 for b in boxes) + max(b.x1 for b in boxes)) / 2, max(b.y1 for b in boxes) + 0.075,
                 "(b) single domains: lowest to highest median final score / prescore", ha="center", va="bottom",
                 fontsize=9.5)
    fig.savefig(path, dpi=150)
    plt.close(fig)


def plot_noise(per_domain: pd.DataFrame, seeds, metric, path: Path, title_extra: str):
    """Per domain the winner's relative margin over the runner-up against (a) the median relative
    seed-to-seed difference over models, (b) the larger of the top two's seed differences (relative
    to the winner's score): below the diagonal in (b), the top two are within noise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    data = per_domain.dropna(subset=["margin rel"])
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.6))
    colour = {True: "#1f77b4", False: "#d62728"}
    a, b = seeds[0], seeds[1]
    for ax, x_col, what in ((axes[0], "noise", "(a) noise: median over models of |seed A - seed B| / mean"),
                            (axes[1], "top-two seed diff rel",
                             "(b) the larger seed difference of the top two / winner's score")):
        d = data.dropna(subset=[x_col])
        x, y = 100 * d[x_col], 100 * d["margin rel"]
        cs = [colour.get(s, "grey") if not (isinstance(s, float) and math.isnan(s)) else "grey"
              for s in d["same winner"]]
        ax.scatter(x, y, c=cs, s=34, edgecolor="black", linewidths=0.4, zorder=3)
        for xi, yi, name in zip(x, y, d["domain"]):
            ax.annotate(str(name), (xi, yi), fontsize=7, xytext=(4, 3), textcoords="offset points")
        positive = len(d) and (x > 0).all() and (y > 0).all()
        if len(d):
            lo = min(x.min(), y.min()) if positive else 0.0
            hi = max(x.max(), y.max())
            lims = (lo / 1.5, hi * 1.5) if positive else (0.0, 1.08 * hi if hi > 0 else 1.0)
            ax.plot(lims, lims, color="grey", lw=1, ls="--", zorder=0)
            ax.set_xlim(lims)
            ax.set_ylim(lims)
            if positive:
                from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

                ax.set_xscale("log")
                ax.set_yscale("log")
                for axis in (ax.xaxis, ax.yaxis):
                    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
                    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                    axis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(f"{what} (%)", fontsize=8.5)
        ax.set_ylabel("winner's margin over the runner-up / winner's score (%)", fontsize=8.5)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_title(f"{metric.name}: winner's margin vs seed-to-seed noise{title_extra}\n"
                      f"seeds A = {a}, B = {b}; final scores: mean over the seeds", fontsize=9.5, loc="left")
    axes[1].set_title("below the diagonal: the top two are within noise", fontsize=9.5, loc="left")
    handles = [Line2D([], [], ls="", marker="o", color=colour[True], markeredgecolor="black", label="same winner"),
               Line2D([], [], ls="", marker="o", color=colour[False], markeredgecolor="black",
                      label=f"winner differs between seeds {a} and {b}")]
    axes[0].legend(handles=handles, fontsize=8, loc="best", framealpha=0.9)
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


def _pct(x) -> str:
    return "" if x is None or pd.isna(x) else f"{100 * x:.1f}"


def _yes(x) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else ("yes" if x else "no")


def _share(k, n) -> str:
    return f"**{k} of {n}** ({100 * k / n:.0f} %)" if n else "— (none)"


def v2_text(v2: dict, metric) -> tuple[list, dict]:
    """The micro zoo v2 section of tables.md, and what the console prints of it: ``{"tables": [(frame,
    title, index)], "lines": [...]}``."""
    s, seeds = v2["summary"], v2["seeds"]
    fids = ", ".join(f"{f:g}" for f in s["fidelities"]) or "none"
    tops = ", ".join(f"{f:g}" for f in s["target_fidelities"]) or "unknown"
    lines = [f"- Cells: **{s['cells']}** ({s['models']} models x {s['domains']} domains); final score of a cell: "
             + (f"the mean over sampling seeds {', '.join(seeds)}" if seeds else "the mean over its rows")
             + f" at the target fidelity. Fidelities present: {fids} (target: {tops})."]
    if s["cells_with_prescore"]:
        side = "above" if metric.higher_is_better else "below"
        lines.append(f"- Fine-tuning improved {metric.name} (final score {side} the prescore, both seed means) in"
                     f" {_share(s['improved'], s['cells_with_prescore'])} cells; "
                     f"median final score / prescore **{s['median_ratio']:.3f}**.")
    if seeds:
        pd_ = v2["per_domain"]
        same, within = pd_["same winner"].dropna(), pd_["within noise"].dropna()
        lines.append(f"- Same winner under seeds {seeds[0]} and {seeds[1]}: "
                     f"{_share(int(same.astype(bool).sum()), len(same))} domains.")
        lines.append(f"- Top two within noise: {_share(int(within.astype(bool).sum()), len(within))} domains.")
        lines.append(f"- Median seed-to-seed noise (|seed A - seed B| / mean, over cells): "
                     f"**{_pct(s['median_noise'])} %**"
                     + (f" (prescores: {_pct(s['median_prescore_noise'])} %)"
                        if s.get("median_prescore_noise") is not None else "") + ".")
    if s["domains_with_tau"]:
        tau = v2["tau"]
        lines.append(f"- Kendall tau between the zero-shot ranking and the final ranking: median "
                     f"**{s['median_kendall_tau']:.2f}** over {s['domains_with_tau']} domains; the zero-shot best "
                     f"is the final best in {_share(int(tau['same best'].sum()), len(tau))} domains.")

    md = ["## Learning curves and sampling seeds (micro zoo v2)", "",
          "Definitions. The *final score* of a cell is the mean of its target-fidelity rows (per dataset the "
          "largest fidelity stored), i.e. the mean over its sampling seeds; its *prescore* is the mean over the "
          "prescore's seeds. "
          + (f"Seed A = {seeds[0]}, seed B = {seeds[1]} (the provenance's `sample_seed`). The *winner under a "
             "seed* is the best model by that seed's score alone, among the models scored under both seeds. "
             "The *noise* of a cell is |seed A - seed B| (max - min with more seeds) divided by its final score; "
             "a domain's noise is the median over its models. The *margin* is |final score of the winner - of "
             "the runner-up| divided by the winner's. The *top two are within noise* when that difference "
             "(unscaled) is at most the larger of the two models' seed differences. " if seeds else "")
          + "*Kendall tau* (tau-b) compares, per domain, the models' order by prescore (zero-shot, seed mean) "
          "with their order by final score (seed mean): 1 = the same order.", "",
          *lines, ""]
    tables = []
    if v2["curves"] is not None:
        c = v2["curves"]
        per_fid = c.groupby(["model", "fidelity"])["ratio"].median().unstack()
        per_fid = per_fid.reindex([m for m in dict.fromkeys(v2["cells"].index.get_level_values("model"))
                                   if m in per_fid.index])
        per_fid.loc["ALL"] = c.groupby("fidelity")["ratio"].median()
        per_fid.columns = [f"{f:g}" for f in per_fid.columns]
        per_fid.index.name = "model"
        show = per_fid.map(lambda x: "" if pd.isna(x) else f"{x:.3f}")
        title = "median over domains of score / prescore at each fidelity (0 = prescore)"
        md += [f"### {title[0].upper()}{title[1:]}", "", "(`curves.png`, `curves.csv`; ALL: median over every cell.)",
               "", markdown(show, index=True), ""]
        tables.append((show, title, True))
    if seeds:
        a, b = seeds[0], seeds[1]
        d = v2["per_domain"]
        show = pd.DataFrame({
            "domain": d["domain"], f"winner seed {a}": d[f"winner seed {a}"].fillna(""),
            f"winner seed {b}": d[f"winner seed {b}"].fillna(""), "same": d["same winner"].map(_yes),
            "final winner": d["winner"], "runner-up": d["runner-up"].fillna(""),
            "margin %": d["margin rel"].map(_pct), "noise %": d["noise"].map(_pct),
            "top-two seed diff %": d["top-two seed diff rel"].map(_pct),
            "within noise": d["within noise"].map(_yes), "models": d["models"]})
        title = "winner per domain under each seed, margin and noise"
        md += [f"### {title[0].upper()}{title[1:]}", "",
               "(`noise.png`, `seeds_per_domain.csv`; percentages of the winner's final score, noise: median over "
               "models of the relative seed difference.)", "", markdown(show), ""]
        tables.append((show, title, False))
    if len(v2["tau"]):
        t = v2["tau"]
        show = t.assign(tau=t["tau"].map(lambda x: "" if pd.isna(x) else f"{x:.2f}"),
                        **{"same best": t["same best"].map(_yes)})
        title = "Kendall tau: zero-shot ranking (prescores) vs final ranking, seeds averaged"
        md += [f"### {title}", "", "(`kendall_tau.csv`.)", "", markdown(show), ""]
        tables.append((show, title, False))
    md += ["Summary numbers: `summary.json`.", ""]
    return md, {"tables": tables, "lines": lines}


def report(args) -> None:
    exclude = [d.strip() for d in (args.exclude_datasets or "").split(",") if d.strip()]
    try:
        rows = load_rows(args.kb, args.metric)
        # with sampling seeds the best of two draws would favour noisy cells: their mean by default
        default_aggregate = "mean" if seeded(rows) else "best"
        aggregate = args.aggregate or default_aggregate
        matrix, pre, metric, grid_cells = load(args.kb, args.metric, aggregate, exclude)
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

    # ---- micro zoo v2: learning curves and sampling seeds (None for a v1 knowledge base)
    v2 = analyse_v2(rows, models, domains, hib) if rows is not None else None

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
    v2_files = []
    if v2 is not None:
        notes.extend(v2["notes"])
        v2["cells"].reset_index().to_csv(args.out / "seed_cells.csv", index=False, float_format="%.6g")
        v2_files.append("seed_cells.csv")
        if v2["curves"] is not None:
            v2["curves"].to_csv(args.out / "curves.csv", index=False, float_format="%.6g")
            v2_files.append("curves.csv")
        if v2["seeds"]:
            v2["per_domain"].to_csv(args.out / "seeds_per_domain.csv", index=False, float_format="%.6g")
            v2_files.append("seeds_per_domain.csv")
        if len(v2["tau"]):
            v2["tau"].to_csv(args.out / "kendall_tau.csv", index=False, float_format="%.6g")
            v2_files.append("kendall_tau.csv")
        summary = {"metric": metric.name, "kb": str(args.kb), "excluded_datasets": exclude, **v2["summary"]}
        (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        v2_files.append("summary.json")

    # ---- figures
    plot_heatmap(matrix, rank, norm, mean_rank, metric, args.color, args.out / "heatmap.png", title_extra)
    if pre is not None and cells["prescore"].notna().any():
        plot_before_after(cells, metric, args.out / "before_after.png", title_extra)
    else:
        notes.append(f"no prescores of {metric.name} in the knowledge base: before_after.png not drawn")
    if v2 is not None:
        if v2["curves"] is not None:
            plot_curves(v2["curves"], models, metric, args.out / "curves.png", title_extra)
            v2_files.insert(0, "curves.png")
        elif v2["fidelities"]:
            notes.append(f"no prescores of {metric.name}: curves.png (score / prescore) not drawn")
        if v2["seeds"] and v2["per_domain"]["margin rel"].notna().any():
            plot_noise(v2["per_domain"], v2["seeds"], metric, args.out / "noise.png", title_extra)
            v2_files.insert(0, "noise.png")

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
        + (f" --aggregate {aggregate}" if aggregate != default_aggregate else "") + "`",
        "",
        f"{metric.name}: {direction} is better; repeated runs of a cell combined with `{aggregate}`"
        + (" (the default when target scores are stored under several sampling seeds)"
           if aggregate == default_aggregate == "mean" else "") + ", prescores (the pretrained model) averaged.",
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
    if v2 is not None:
        v2_md, v2_console = v2_text(v2, metric)
        md += v2_md
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
    if v2 is not None:
        for table, title, index in v2_console["tables"]:
            print_table(table, title, index=index)
        for line in v2_console["lines"]:
            console.print(escape(line.replace("**", "").replace("`", "")), highlight=False)
    for n in notes:
        console.print(f"note: {escape(n)}", highlight=False)
    console.print(f"wrote {escape(str(args.out))}/: heatmap.png"
                  + (", before_after.png" if (args.out / "before_after.png").exists() else "")
                  + ", tables.md, matrix.csv, cells.csv, best_per_domain.csv, per_model.csv"
                  + (", timings.csv" if len(tmodel) else "")
                  + "".join(f", {f}" for f in v2_files), highlight=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb", type=Path, required=True, help="The grid's knowledge base (SQLite).")
    parser.add_argument("--grid-out", type=Path, required=True, help="The grid's run folder (mnc grid --out).")
    parser.add_argument("--metric", default="fd_dinov2", help="Result metric (default %(default)s).")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "microzoo-report")
    parser.add_argument("--exclude-datasets", default="", help="Comma-separated datasets left out of the report.")
    parser.add_argument("--aggregate", choices=("best", "mean"), default=None,
                        help="Repeated runs of a cell: best (as mnc evaluate's default) or mean. Default: mean "
                             "when target scores are stored under several sampling seeds, else best.")
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
