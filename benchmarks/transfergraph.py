"""Match & Choose on TransferGraph's image-classification zoo, against the baselines and TG itself.

What it does (see ``docs/benchmarks.md`` for the recorded numbers):

1. Writes the tidy tables of :mod:`transfergraph_data` to a temporary directory (the TG data carry no
   licence: they are read where they lie, ``<repo>/../shared`` by default, and nothing lands in the
   repository), imports them into an in-memory knowledge base with ``import_table`` and reads
   ``kb.records("accuracy", aggregate="best", distance_metric="vit_domain_similarity",
   prescore_metric="logme")``.
2. Times one full default M&C evaluation on EVAL8 (8 folds, seed 0, cold embedding cache) and splits
   the embedding time of one fold into graph building, walks and Word2Vec.
3. Runs :func:`~matchchoose.evaluate.run_evaluation` (leave-one-dataset-out) with M&C's default, its
   predictor variants and the feature/graph ablation, and every baseline, on EVAL8 and/or ALL12, one
   call per seed so that each seed's scores are kept: rows are mean ± std over seeds (std with
   ddof=0, as the runner reports it), and with several seeds ``mnc ensemble of N seeds`` rows score
   the seed-averaged predictions of ``mnc`` and ``mnc[random_forest]`` (one ensemble, no std).
4. Adds TransferGraph's own leave-one-dataset-out predictions (12 methods, EVAL8 only) as extra rows,
   scored with :func:`~matchchoose.evaluate.selection_metrics` over the models that have both a
   result and a prediction (179 of 180: TG left ``michaelbenayoun/vit-base-beans`` out). The runner
   judges ``initial`` (LogME) on the models LogME scored (TG's protocol, ``coverage`` 0.77-0.81);
   ``initial[all models, unscored last]`` shows the same ranking judged on every model, the 35-43
   unscored ones (all convnext/deit/van, several of them the best) ranked last.
5. Prints one table per dataset set and, for EVAL8, the same metrics restricted to the LogME-scored
   models (the only like-for-like comparison with LogME); saves JSON and CSV under ``--out``.

Usage::

    python benchmarks/transfergraph.py [--shared PATH] [--datasets eval8|all12|both] [--seeds N]
                                       [--quick] [--out DIR] [--n-jobs 2] [--no-timing | --timing-only]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from transfergraph_data import ALL12, EVAL8, list_tg_methods, load_tg_predictions, write_tidy_tables  # noqa: E402

from matchchoose.evaluate import MethodSpec, default_methods, run_evaluation, selection_metrics  # noqa: E402
from matchchoose.kb import KnowledgeBase, import_table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# sklearn 1.9 deprecates SVC(probability=True) (the 'svc' predictor); the loky workers inherit this.
os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning:sklearn.svm._base")
PREDICTORS = ("random_forest", "xgboost", "svc", "mlp", "catboost_yetirank", "catboost_regressor", "rf_regressor")
COLUMNS = ("tau_w", "osr", "rel_at_1", "rel_at_3", "o2o", "pearson", "spearman")
TG_BEST = "xgb_node2vec_all_normalize_without_transfer"


# ------------------------------------------------------------------------------------------ data
def load_records(shared: Path, workdir: Path):
    """The TG zoo as ZooRecords, through the knowledge base (tidy CSVs -> import_table -> records)."""
    paths = write_tidy_tables(shared, workdir)
    kb = KnowledgeBase(workdir / "tg.sqlite")
    for kind in ("results", "prescores", "models", "datasets", "distances"):
        import_table(kb, paths[kind], kind)
    records = kb.records("accuracy", aggregate="best", distance_metric="vit_domain_similarity",
                         prescore_metric="logme")
    kb.close()
    return records


# ------------------------------------------------------------------------------------------ scoring
def _metrics_row(per_dataset: dict) -> dict:
    frame = pd.DataFrame(per_dataset).T.reindex(columns=list(COLUMNS)).astype(float)
    row = {k: float(frame[k].mean(skipna=True)) for k in COLUMNS}
    row["n_datasets"] = len(frame)
    return row


def score_fixed(records, predictions: dict, reference: str, restrict=None) -> tuple[dict, dict]:
    """Metrics of fixed per-dataset predictions over the models with a truth and a prediction.

    ``restrict``: optional {dataset: index of models} to further restrict the evaluated models.
    Returns (summary row, per-dataset metrics).
    """
    hib = records.metric.higher_is_better
    per = {}
    for ds, pred in predictions.items():
        truth = records.truth(ds)
        common = truth.index.intersection(pred.dropna().index)
        if restrict is not None:
            common = common.intersection(restrict[ds])
        ref = reference if reference in common else None
        per[ds] = selection_metrics(truth.loc[common], pred.loc[common], hib, ref, ks=(1, 3))
        per[ds]["n_models"] = len(common)
    return _metrics_row(per), per


def logme_predictions(records, datasets) -> dict:
    out = {}
    for ds in datasets:
        pre = records.prescore_utility(ds)
        if pre is not None:
            out[ds] = pre
    return out


# ------------------------------------------------------------------------------------------ runs
def time_default(records, n_jobs: int) -> dict:
    """Wall time of one full default M&C evaluation on EVAL8 (seed 0) with a cold embedding cache."""
    with tempfile.TemporaryDirectory(prefix="mnc-cold-cache-") as cache:
        spec = MethodSpec("mnc", "mnc", {"cache": cache})
        t0 = time.perf_counter()
        out = run_evaluation(records, [spec], datasets=EVAL8, seeds=[0], n_jobs=n_jobs)
        wall = time.perf_counter() - t0
    t = out["timings"]["mnc"]
    return {"wall_s": wall, "n_folds": len(EVAL8), "n_jobs": n_jobs, "tau_w": out["methods"]["mnc"]["tau_w"],
            "sum_over_folds_s": {k: float(v) for k, v in t.items()}}


def embedding_breakdown(records, dataset: str = "dtd") -> dict:
    """One fold's embedding, step by step, in this process (default parameters, no cache)."""
    from gensim.models import Word2Vec

    from matchchoose.graph import MatchingGraph, Node2VecPlus
    from matchchoose.graph._walker import simulate_walks

    n2v = Node2VecPlus(random_state=0, cache=False)
    train = records.without_results(dataset)
    out = {}
    t0 = time.perf_counter()
    graph = MatchingGraph.from_records(train)
    out["graph_build_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    g = graph.to_pecanpy(p=n2v.p, q=n2v.q, extend=n2v.extend, gamma=n2v.gamma, random_state=0)
    out["pecanpy_graph_s"] = time.perf_counter() - t0
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t0 = time.perf_counter()
        walks = simulate_walks(g, n2v.num_walks, n2v.walk_length, 0)
        out["walks_first_call_s"] = time.perf_counter() - t0  # includes loading numba's cached kernel
        t0 = time.perf_counter()
        walks = simulate_walks(g, n2v.num_walks, n2v.walk_length, 0)
        out["walks_warm_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    Word2Vec(walks, vector_size=n2v.dim, window=n2v.window, sg=1, min_count=0, workers=1, epochs=n2v.epochs, seed=0)
    out["word2vec_s"] = time.perf_counter() - t0
    out.update(dataset=dataset, n_nodes=graph.n_nodes, n_edges=graph.n_edges, n_walks=len(walks))
    return out


def methods_for(records, quick: bool) -> list:
    """Default M&C, the paper-faithful M&C (no priors), the ablation and every baseline; without
    ``quick`` also every other predictor (paper Table 7)."""
    methods = default_methods(records, predictors=() if quick else PREDICTORS, ablation=True)
    methods.insert(1, MethodSpec("mnc[paper]", "mnc", {"priors": False}))
    return methods


def combine_seeds(outs: list) -> dict:
    """Per-seed runner outputs -> {method: {metric: mean over seeds, metric_std (ddof=0, as the runner),
    n_datasets, per_dataset: {dataset: {metric: mean over seeds}}, scores: [{dataset: Series} per seed]}}."""
    combined = {}
    for method in outs[0]["methods"]:
        entries = [o["methods"][method] for o in outs if method in o["methods"]]
        item = {}
        for k in COLUMNS + ("o2b",):
            vals = np.array([np.nan if e[k] is None else e[k] for e in entries], dtype=float)
            item[k] = float(np.nanmean(vals)) if np.isfinite(vals).any() else None
            item[f"{k}_std"] = float(np.nanstd(vals)) if np.isfinite(vals).any() else None
        cov = [e.get("coverage") for e in entries]
        item["coverage"] = None if any(c is None for c in cov) else float(np.mean(cov))
        item["n_datasets"] = entries[0]["n_datasets"]
        datasets = sorted(entries[0]["per_dataset"])
        item["per_dataset"] = {d: {k: float(np.nanmean([np.nan if e["per_dataset"][d][k] is None
                                                         else e["per_dataset"][d][k] for e in entries]))
                                   for k in COLUMNS} for d in datasets}
        item["scores"] = [{d: pd.Series(e["per_dataset"][d]["predicted_scores"]) for d in datasets} for e in entries]
        combined[method] = item
    return combined


ENSEMBLED = ("mnc", "mnc[random_forest]")


def evaluate_set(records, name: str, datasets: list, seeds: list, quick: bool, n_jobs: int, shared: Path) -> dict:
    """One runner call per seed (so per-seed scores stay available), then the TG and LogME rows."""
    methods = methods_for(records, quick)
    t0 = time.perf_counter()
    outs = []
    for seed in seeds:
        outs.append(run_evaluation(records, methods, datasets=datasets, seeds=[seed], n_jobs=n_jobs).to_dict())
        print(f"  {name}: seed {seed} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    wall = time.perf_counter() - t0
    ref = outs[0]["reference_model"]
    combined = combine_seeds(outs)
    rows = []
    for method, entry in combined.items():
        row = {k: entry[k] for k in COLUMNS}
        row.update(method=method, source="matchchoose", tau_w_std=entry["tau_w_std"], coverage=entry["coverage"],
                   n_datasets=entry["n_datasets"], seeds=len(seeds))
        rows.append(row)
    extra = {}
    if len(seeds) > 1:
        # The same method with its scores averaged over the seeds: an ensemble of len(seeds) M&C models.
        for method in ENSEMBLED:
            if method in combined:
                preds = {d: pd.concat([s[d] for s in combined[method]["scores"]], axis=1).mean(axis=1)
                         for d in datasets}
                summ, per = score_fixed(records, preds, ref)
                label = f"{method} ensemble of {len(seeds)} seeds"
                rows.append({**summ, "method": label, "source": "derived", "tau_w_std": 0.0, "seeds": 1})
                extra[label] = per
    # The runner judges ``initial`` on the models LogME scored (TG's protocol). For the record, the
    # same ranking judged on every model, the unscored ones (convnext, deit, van) ranked last.
    logme = logme_predictions(records, datasets)
    if logme:
        filled = {}
        for d, pre in logme.items():
            truth = records.truth(d)
            floor = pre.min() - 1.0
            filled[d] = pre.reindex(truth.index).fillna(floor)
        summ, per = score_fixed(records, filled, ref)
        label = "initial[all models, unscored last]"
        rows.append({**summ, "method": label, "source": "derived", "tau_w_std": 0.0, "seeds": 1})
        extra[label] = per
    if name == "EVAL8":
        for tg in list_tg_methods(shared):
            preds = load_tg_predictions(shared, tg)
            summ, per = score_fixed(records, {d: preds[d] for d in datasets}, ref)
            label = "TG " + tg.replace("_all_normalize_without_transfer", "")
            rows.append({**summ, "method": label, "source": "transfergraph", "tau_w_std": 0.0, "seeds": 1})
            extra[label] = per
    table = pd.DataFrame(rows)
    overall = table.loc[table["method"] == "overall", "tau_w"].iloc[0]
    table["ratio_to_overall"] = table["tau_w"] / overall
    table.insert(0, "dataset_set", name)
    return {"table": table, "combined": combined, "per_seed": outs, "reference_model": ref,
            "extra_per_dataset": extra, "wall_s": wall}


def scored_subset_table(records, result: dict, shared: Path) -> pd.DataFrame:
    """Every method re-scored on the LogME-scored models only (EVAL8), per seed, then averaged."""
    ref = result["reference_model"]
    datasets = EVAL8
    scored = {d: records.prescore_utility(d).index for d in datasets}
    rows = []
    for method, entry in result["combined"].items():
        if method in ("random", "oracle") or any(d not in entry["per_dataset"] for d in datasets):
            continue
        per_seed = [score_fixed(records, preds, ref, restrict=scored)[0] for preds in entry["scores"]]
        row = {k: float(np.nanmean([r[k] for r in per_seed])) for k in COLUMNS}
        row.update(method=method, n_datasets=len(datasets), tau_w_std=float(np.std([r["tau_w"] for r in per_seed])),
                   seeds=len(per_seed))
        rows.append(row)
        if method in ENSEMBLED and len(entry["scores"]) > 1:
            preds = {d: pd.concat([s[d] for s in entry["scores"]], axis=1).mean(axis=1) for d in datasets}
            summ, _ = score_fixed(records, preds, ref, restrict=scored)
            rows.append({**summ, "method": f"{method} ensemble of {len(entry['scores'])} seeds",
                         "tau_w_std": 0.0, "seeds": 1})
    summ, _ = score_fixed(records, logme_predictions(records, datasets), ref)
    rows.append({**summ, "method": "LogME (recomputed)", "tau_w_std": 0.0, "seeds": 1})
    preds = load_tg_predictions(shared, TG_BEST)
    summ, _ = score_fixed(records, preds, ref, restrict=scored)
    rows.append({**summ, "method": "TG xgb_node2vec", "tau_w_std": 0.0, "seeds": 1})
    table = pd.DataFrame(rows)
    overall = table.loc[table["method"] == "overall", "tau_w"].iloc[0]
    table["ratio_to_overall"] = table["tau_w"] / overall
    return table


# ------------------------------------------------------------------------------------------ output
def _fmt(x, nd=3):
    return "—" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{nd}f}"


def print_table(table: pd.DataFrame, title: str) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=escape(title), show_lines=False)
    for col in ("method", "tau_w ± std", "÷overall", "OSR", "rel@1", "rel@3", "O2O", "pearson", "spearman", "n"):
        t.add_column(col, justify="left" if col == "method" else "right")
    for r in table.sort_values("tau_w", ascending=False).itertuples(index=False):
        n = int(r.n_datasets)
        std = f" ± {r.tau_w_std:.3f}" if r.seeds > 1 else ""
        t.add_row(escape(r.method), _fmt(r.tau_w) + std, _fmt(r.ratio_to_overall, 2), f"{r.osr * n:.1f}/{n}" if r.seeds > 1
                  else f"{round(r.osr * n)}/{n}", _fmt(r.rel_at_1, 4), _fmt(r.rel_at_3, 4), _fmt(r.o2o, 4),
                  _fmt(r.pearson), _fmt(r.spearman), str(n))
    Console(width=160).print(t)


def print_timing(timing: dict, breakdown: dict) -> None:
    s = timing["sum_over_folds_s"]
    n = timing["n_folds"]
    print(f"\nWHERE THE TIME GOES - default M&C on EVAL8, seed 0, cold embedding cache, n_jobs={timing['n_jobs']}")
    print(f"  wall time of the full evaluation ({n} folds): {timing['wall_s']:.1f} s  (target < 120 s)")
    for key in ("embedding", "training", "prediction", "total"):
        if key in s:
            share = f"{100 * s[key] / s['total']:5.1f}%" if key != "total" else "      "
            print(f"  {key:10s} {s[key]:7.1f} s summed over folds  {s[key] / n:6.2f} s/fold  {share}")
    b = breakdown
    print(f"  one fold's embedding ({b['dataset']} held out; {b['n_nodes']} nodes, {b['n_edges']} edges, "
          f"{b['n_walks']} walks): graph {b['graph_build_s']:.2f} s, pecanpy graph {b['pecanpy_graph_s']:.2f} s, "
          f"walks {b['walks_first_call_s']:.2f} s first call (numba kernel load) / {b['walks_warm_s']:.2f} s warm, "
          f"word2vec {b['word2vec_s']:.2f} s")


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if np.isnan(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _mnc_defaults() -> dict:
    """The library's MatchChoose defaults at run time: what ``mnc`` means in this run's tables."""
    import inspect

    from matchchoose.rank import MatchChoose

    return {k: v.default for k, v in inspect.signature(MatchChoose).parameters.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared",
                        help="folder holding data/transfergraph (default: %(default)s)")
    parser.add_argument("--datasets", choices=("eval8", "all12", "both"), default="both")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 3, --quick 1)")
    parser.add_argument("--quick", action="store_true",
                        help="no predictor variants (M&C default, paper-faithful, ablation, baselines)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--no-timing", action="store_true", help="skip the cold-cache timing run")
    parser.add_argument("--timing-only", action="store_true",
                        help="only the cold-cache timing run of the default M&C on EVAL8 (writes timing.json)")
    args = parser.parse_args(argv)
    if args.timing_only and args.no_timing:
        parser.error("--timing-only and --no-timing contradict each other")
    seeds = list(range(args.seeds if args.seeds is not None else (1 if args.quick else 3)))
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    meta = {"date": _dt.datetime.now().isoformat(timespec="seconds"), "argv": sys.argv[1:],
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
            "seeds": seeds, "n_jobs": args.n_jobs, "mnc_defaults": _mnc_defaults()}

    with tempfile.TemporaryDirectory(prefix="mnc-tg-") as tmp:
        records = load_records(args.shared, Path(tmp))
    print("M&C defaults: " + ", ".join(f"{k}={v}" for k, v in meta["mnc_defaults"].items()))
    print(f"records: {len(records.models)} models, {len(records.datasets)} datasets, {len(records.results)} results, "
          f"{len(records.prescores)} LogME prescores")

    report = {"meta": meta}
    if not args.no_timing:
        report["timing"] = time_default(records, args.n_jobs)
        report["embedding_breakdown"] = embedding_breakdown(records)
        print_timing(report["timing"], report["embedding_breakdown"])
    if args.timing_only:
        (args.out / "timing.json").write_text(json.dumps(_jsonable(report), indent=1, sort_keys=True))
        print(f"wrote {args.out / 'timing.json'}")
        return

    sets = {"eval8": [("EVAL8", EVAL8)], "all12": [("ALL12", ALL12)],
            "both": [("EVAL8", EVAL8), ("ALL12", ALL12)]}[args.datasets]
    tables = []
    for name, datasets in sets:
        res = evaluate_set(records, name, datasets, seeds, args.quick, args.n_jobs, args.shared)
        tables.append(res["table"])
        print_table(res["table"], f"{name}: leave-one-dataset-out, {len(seeds)} seed(s), wall {res['wall_s']:.0f} s")
        combined = {m: {k: v for k, v in e.items() if k != "scores"} for m, e in res["combined"].items()}
        report[name] = {"summary": res["table"].to_dict(orient="records"), "combined": combined,
                        "per_seed": res["per_seed"], "reference_model": res["reference_model"],
                        "extra_per_dataset": res["extra_per_dataset"], "wall_s": res["wall_s"]}
        if name == "EVAL8":
            sub = scored_subset_table(records, res, args.shared)
            print_table(sub, "EVAL8 on the LogME-scored models only (137-145 of 176-180 per dataset)")
            report["EVAL8_scored_subset"] = sub.to_dict(orient="records")
            sub.insert(0, "dataset_set", "EVAL8[scored]")
            tables.append(sub)
    meta["total_wall_s"] = time.perf_counter() - started
    print(f"\ntotal wall time {meta['total_wall_s']:.0f} s")

    stem = f"transfergraph_{args.datasets}" + ("_quick" if args.quick else "")
    (args.out / f"{stem}.json").write_text(json.dumps(_jsonable(report), indent=1, sort_keys=True))
    pd.concat(tables, ignore_index=True).to_csv(args.out / f"{stem}.csv", index=False)
    per_rows = []
    for name, _ in sets:
        for method, entry in report[name]["combined"].items():
            for ds, m in entry["per_dataset"].items():
                per_rows.append({"dataset_set": name, "method": method, "dataset": ds,
                                 **{k: m.get(k) for k in COLUMNS}})
        for method, per in report[name]["extra_per_dataset"].items():
            for ds, m in per.items():
                per_rows.append({"dataset_set": name, "method": method, "dataset": ds,
                                 **{k: m.get(k) for k in COLUMNS}})
    pd.DataFrame(per_rows).to_csv(args.out / f"{stem}_per_dataset.csv", index=False)
    print(f"wrote {args.out / stem}.json, .csv, _per_dataset.csv")


if __name__ == "__main__":
    main()
