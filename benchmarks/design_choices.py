"""M&C design choices on TransferGraph's zoo, measured one factor at a time from the default.

Factors (each level differs from the default in that factor only):

=================  ==================================================================  ==========
factor             levels                                                              default
=================  ==================================================================  ==========
score_affinity     normalized, rank, softmax, raw                                      normalized
distance_affinity  gaussian, inverse, knn, raw, offset_gaussian, offset_knn            gaussian
edge_operator      hadamard, average, l1, l2, concat                                   hadamard
train_embedding    full, holdout                                                       full
dim                16, 32, 64, 128                                                     32
predictor          catboost, random_forest, xgboost, svc, mlp, catboost_yetirank,      catboost
                   catboost_regressor, rf_regressor
priors             True, False (Overall / nearest-dataset prior inputs)                True
=================  ==================================================================  ==========

``--priors off`` moves the whole sweep to a base without priors (the library default before they
were turned on); every stored config names all these parameters, so both sweeps live in one file.

The graph factors (all but ``predictor``) are measured around each *base* predictor given with
``--bases`` (default ``catboost``, the library default; ``random_forest`` is the cheap contender):
a choice that only helps one predictor is worth knowing. Every (factor, base, seed) batch is one
:func:`~matchchoose.evaluate.run_evaluation` call (leave-one-dataset-out, folds in parallel), so
the levels of a factor share each fold's training view; its results are appended to
``<out>/design_choices_<set>.json`` and a rerun skips what is already there (``--fresh`` to redo).

Reported per level: mean weighted tau over the held-out datasets, its mean ± sample standard
deviation (ddof=1) over seeds, the paired difference with the default level (same seeds; mean ± sd),
how many datasets improve (seed-averaged tau), OSR (count of optimal picks, seed-averaged), rel@1,
rel@3, Spearman and the CPU seconds per fold (embedding + training + prediction; embeddings are
cached on disk by graph content, so a repeated graph costs nothing).

Usage::

    python benchmarks/design_choices.py [--datasets eval8|all12] [--seeds 3] [--bases catboost,random_forest]
                                        [--factors score_affinity,distance_affinity,...] [--priors on|off]
                                        [--out DIR] [--report-only]
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
from transfergraph import load_records  # noqa: E402
from transfergraph_data import ALL12, EVAL8  # noqa: E402

from matchchoose.evaluate import MethodSpec, run_evaluation  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# sklearn 1.9 deprecates SVC(probability=True) (the 'svc' predictor); the loky workers inherit this.
os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning:sklearn.svm._base")
# Every parameter a level may change is pinned here, so a later change of the library's defaults
# cannot slip into stored results. ``priors`` (Overall/nearest prior inputs) became the library
# default after the first sweep; --priors off reproduces that sweep's base.
DEFAULT = {"predictor": "catboost", "score_affinity": "normalized", "distance_affinity": "gaussian",
           "edge_operator": "hadamard", "train_embedding": "full", "dim": 32, "priors": True}
FACTORS = {
    "score_affinity": ["normalized", "rank", "softmax", "raw"],
    "distance_affinity": ["gaussian", "inverse", "knn", "raw", "offset_gaussian", "offset_knn"],
    "edge_operator": ["hadamard", "average", "l1", "l2", "concat"],
    "train_embedding": ["full", "holdout"],
    "dim": [16, 32, 64, 128],
    "predictor": ["catboost", "random_forest", "xgboost", "svc", "mlp", "catboost_yetirank",
                  "catboost_regressor", "rf_regressor"],
    "priors": [True, False],
}
METRICS = ("tau_w", "osr", "rel_at_1", "rel_at_3", "spearman")


def mnc_params(config: dict) -> dict:
    """MatchChoose keyword arguments of a flat config (``dim`` goes into ``embedding``)."""
    params = {k: v for k, v in config.items() if k != "dim"}
    params["embedding"] = {"dim": int(config["dim"])}
    return params


def config_id(config: dict) -> str:
    return "|".join(f"{k}={config[k]}" for k in sorted(config))


def batches(factors, bases, priors=True) -> list:
    """(factor, base, [configs]) to run; the predictor factor has no base."""
    out = []
    for factor in factors:
        for base in (["catboost"] if factor == "predictor" else bases):
            default = {**DEFAULT, "predictor": base, "priors": priors}
            out.append((factor, base, [{**default, factor: level} for level in FACTORS[factor]]))
    return out


def run_batch(records, datasets, configs, seed, n_jobs) -> dict:
    """One leave-one-dataset-out evaluation of several configs for one seed: {config_id: result}."""
    specs = [MethodSpec(config_id(c), "mnc", mnc_params(c)) for c in configs]
    t0 = time.perf_counter()
    out = run_evaluation(records, specs, datasets=datasets, seeds=[seed], n_jobs=n_jobs)
    wall = time.perf_counter() - t0
    res = {}
    for spec, config in zip(specs, configs):
        entry = out["methods"][spec.name]
        per = {d: {k: m[k] for k in METRICS} for d, m in entry["per_dataset"].items()}
        res[spec.name] = {"config": config, "seed": seed, "per_dataset": per,
                          "timings": out["timings"].get(spec.name, {}), "batch_wall_s": wall}
    return res


# ------------------------------------------------------------------------------------------ summary
def seed_means(runs: list) -> pd.DataFrame:
    """Per seed, the mean of each metric over datasets (index = seed)."""
    rows = {}
    for r in runs:
        frame = pd.DataFrame(r["per_dataset"]).T.astype(float)
        rows[r["seed"]] = frame.mean(axis=0, skipna=True)
    return pd.DataFrame(rows).T.sort_index()


def summarize_factor(store: dict, factor: str, base: str, seeds: list, n_datasets: int,
                     priors: bool = True) -> pd.DataFrame:
    default = {**DEFAULT, "predictor": base, "priors": priors}
    default_id = config_id(default)
    by_config = {}
    for key, r in store.items():
        by_config.setdefault(key.rsplit("@", 1)[0], []).append(r)
    base_runs = [r for r in by_config.get(default_id, []) if r["seed"] in seeds]
    base_means = seed_means(base_runs) if base_runs else None
    base_ds = (pd.DataFrame({r["seed"]: {d: m["tau_w"] for d, m in r["per_dataset"].items()} for r in base_runs})
               .mean(axis=1) if base_runs else None)
    rows = []
    for level in FACTORS[factor]:
        cid = config_id({**default, factor: level})
        runs = [r for r in by_config.get(cid, []) if r["seed"] in seeds]
        if not runs:
            continue
        means = seed_means(runs)
        n = len(means)
        row = {"factor": factor, "base": base, "priors": priors, "level": str(level), "default": cid == default_id,
               "n_seeds": n}
        for k in METRICS:
            row[k] = float(means[k].mean())
            row[f"{k}_sd"] = float(means[k].std(ddof=1)) if n > 1 else float("nan")
        row["osr_count"] = row["osr"] * n_datasets
        if base_means is not None:
            common = means.index.intersection(base_means.index)
            diff = means.loc[common, "tau_w"] - base_means.loc[common, "tau_w"]
            row["delta_tau_w"] = float(diff.mean())
            row["delta_tau_w_sd"] = float(diff.std(ddof=1)) if len(diff) > 1 else float("nan")
            ds_tau = pd.DataFrame({r["seed"]: {d: m["tau_w"] for d, m in r["per_dataset"].items()}
                                   for r in runs}).mean(axis=1)
            row["datasets_better"] = int((ds_tau > base_ds.reindex(ds_tau.index) + 1e-12).sum())
        cpu = [sum(r["timings"].get(k, 0.0) for k in ("embedding", "training", "prediction")) for r in runs]
        row["cpu_s_per_fold"] = float(np.mean(cpu)) / n_datasets
        row["embedding_s_per_fold"] = float(np.mean([r["timings"].get("embedding", 0.0) for r in runs])) / n_datasets
        rows.append(row)
    return pd.DataFrame(rows)


def _pm(m, s, nd=3):
    if m is None or np.isnan(m):
        return "—"
    return f"{m:.{nd}f}" + ("" if s is None or np.isnan(s) else f" ± {s:.{nd}f}")


def print_factor(table: pd.DataFrame, title: str, n_datasets: int) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=escape(title))
    for col in ("level", "tau_w ± sd", "Δ vs default ± sd", "ds better", "OSR", "rel@1", "rel@3", "spearman",
                "CPU s/fold"):
        t.add_column(col, justify="left" if col == "level" else "right")
    for r in table.itertuples(index=False):
        level = f"{r.level} (default)" if r.default else r.level
        delta = "—" if r.default else _pm(r.delta_tau_w, r.delta_tau_w_sd)
        better = "—" if r.default else f"{r.datasets_better}/{n_datasets}"
        t.add_row(escape(level), _pm(r.tau_w, r.tau_w_sd), delta, better, f"{r.osr_count:.2f}/{n_datasets}",
                  f"{r.rel_at_1:.4f}", f"{r.rel_at_3:.4f}", f"{r.spearman:.3f}", f"{r.cpu_s_per_fold:.1f}")
    Console(width=150).print(t)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared",
                        help="folder holding data/transfergraph (default: %(default)s)")
    parser.add_argument("--datasets", choices=("eval8", "all12"), default="eval8")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default %(default)s)")
    parser.add_argument("--bases", default="catboost",
                        help="comma-separated base predictors for the graph factors (default %(default)s)")
    parser.add_argument("--factors", default=",".join(FACTORS), help="comma-separated factors (default: all)")
    parser.add_argument("--priors", choices=("on", "off"), default="on",
                        help="priors of the base configuration (default %(default)s, the library default)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--fresh", action="store_true", help="ignore results already stored under --out")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: summarize the results stored under --out (every seed < --seeds)")
    args = parser.parse_args(argv)
    factors = [f.strip() for f in args.factors.split(",") if f.strip()]
    unknown = sorted(set(factors) - set(FACTORS))
    if unknown:
        raise SystemExit(f"error: unknown factor(s) {unknown}; choose from {list(FACTORS)}")
    bases = [b.strip() for b in args.bases.split(",") if b.strip()]
    seeds = list(range(args.seeds))
    name, datasets = ("EVAL8", EVAL8) if args.datasets == "eval8" else ("ALL12", ALL12)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"design_choices_{name.lower()}.json"
    saved = {} if args.fresh or not path.exists() else json.loads(path.read_text())
    store = saved.get("runs", {})
    history = saved.get("history", [saved["meta"]] if "meta" in saved else [])
    meta = {"date": _dt.datetime.now().isoformat(timespec="seconds"), "argv": sys.argv[1:],
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
            "datasets": datasets, "n_jobs": args.n_jobs}
    history.append(meta)

    with tempfile.TemporaryDirectory(prefix="mnc-tg-") as tmp:
        records = load_records(args.shared, Path(tmp))
    started = time.perf_counter()
    priors = args.priors == "on"
    todo = batches(factors, bases, priors)
    for i, (factor, base, configs) in enumerate([] if args.report_only else todo, 1):
        for seed in seeds:
            missing = [c for c in configs if f"{config_id(c)}@{seed}" not in store]
            if not missing:
                continue
            t0 = time.perf_counter()
            res = run_batch(records, datasets, missing, seed, args.n_jobs)
            store.update({f"{cid}@{seed}": r for cid, r in res.items()})
            path.write_text(json.dumps({"history": history, "runs": store}, indent=1, sort_keys=True))
            print(f"[{i}/{len(todo)}] {factor} (base {base}) seed {seed}: {len(missing)} configs, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    meta["wall_s_this_run"] = time.perf_counter() - started

    tables = []
    for factor, base, _ in todo:
        table = summarize_factor(store, factor, base, seeds, len(datasets), priors)
        if table.empty:
            continue
        tables.append(table)
        title = f"{name} · {factor}" + ("" if factor == "predictor" else f" (base predictor {base})") + \
                f" · priors {args.priors} · {int(table['n_seeds'].max())} seeds"
        print_factor(table, title, len(datasets))
    if tables:
        csv = args.out / f"design_choices_{name.lower()}_priors_{args.priors}.csv"
        pd.concat(tables, ignore_index=True).to_csv(csv, index=False)
    path.write_text(json.dumps({"history": history, "runs": store}, indent=1, sort_keys=True))
    print(f"wall time this run {meta['wall_s_this_run']:.0f} s; wrote {path} and the _priors_{args.priors}.csv summary")


if __name__ == "__main__":
    main()
