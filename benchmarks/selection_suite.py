"""The selection suite: every selector and baseline on every recorded-results benchmark.

Benchmarks (read in place, never copied into the repository; the data carry no licence):

* ``tg_eval8``, ``tg_all12``, ``tg_extra4``: TransferGraph image (180 classifiers, accuracy), leave-one-dataset-out
  over TG's 8 evaluation datasets, all 12, or the 4 outside EVAL8 (a *tuning* benchmark, docs/benchmarks.md 11);
  the three share their folds, which are computed once;
* ``sfda1`` (tuning), ``sfda2``: SFDA's dense accuracy tables (results only);
* ``quicktune``: Quick-Tune's partial W&B export, finished 50-epoch non-test runs, best ``eval_top1`` over the
  random hyper-parameter configurations of each (model, dataset) pair, datasets with at least 9 models
  (sparse, and noisy: 1 to 6 random configurations per pair);
* ``microzoo``: the embedded micro zoo KB (``fd_dinov2``), or ``--microzoo-kb PATH`` (v2: learning curves and two
  sampling seeds per target; adds the noise-aware OSR: a pick within the measured noise of the best is a hit,
  the noise of a (model, dataset) being the spread of its sampling seeds' rows at the target fidelity, and the
  pick a hit when ``u_best - u_pick <= max(noise_best, noise_pick)``).

Per benchmark and method: mean weighted tau, OSR, rel@1, rel@3, O2O over held-out datasets with 95 % bootstrap
intervals over datasets, and the paired difference to each baseline (same resampled datasets) with its interval.
Every (benchmark, method, seed, dataset) result is cached as JSON under ``$MNC_BENCH_CACHE`` (default
``~/.cache/matchchoose/selection-suite``), so an interrupted run resumes; ``--quick`` is a smoke run (one seed,
3 folds per benchmark, the cheap methods). Where the time goes is printed per method.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/selection_suite.py [--benchmarks tg,sfda1,...] [--seeds 1] [--quick]
        [--methods blend,overall,...] [--microzoo-kb PATH] [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from matchchoose.evaluate import SELECTORS, MethodSpec, final_noise, run_evaluation, within_noise  # noqa: E402
from matchchoose.kb import KnowledgeBase, embedded_kb_file, import_table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CACHE = Path(os.environ.get("MNC_BENCH_CACHE", Path.home() / ".cache" / "matchchoose" / "selection-suite"))
KEYS = ("tau_w", "osr", "rel_at_1", "rel_at_3", "o2o")
BASELINES = ("overall", "nearest", "initial")
TUNING = ("tg_extra4", "sfda1")


def methods(quick: bool) -> list:
    out = [
        MethodSpec("blend", "blend", {}),
        MethodSpec("blend[one_se]", "blend", {"rule": "one_se"}),
        MethodSpec("blend[average]", "blend", {"rule": "average"}),
        MethodSpec("blend[no-prescores]", "blend", {"prescore_weights": (0.0,)}),
        MethodSpec("blend[wide]", "blend", {"neighbour_weights": (0.0, 0.25, 0.5, 1.0, 1.5, 2.0),
                                            "ks": (2, 3, 5, 8)}),
        MethodSpec("blend[mean-only]", "blend", {"aggregations": ("mean",)}),
        MethodSpec("overall", "overall"),
        MethodSpec("nearest", "nearest"),
        MethodSpec("initial", "initial"),
        MethodSpec("random", "random"),
        MethodSpec("oracle", "oracle"),
    ]
    if not quick:
        out += [
            MethodSpec("mnc[catboost+priors]", "mnc", {}),
            MethodSpec("mnc[paper]", "mnc", {"priors": False}),
            MethodSpec("mnc[linear]", "mnc", {"predictor": "linear"}),
            # TransferGraph's other graph learners in place of Node2Vec+ (CatBoost and priors as above).
            MethodSpec("mnc[graphsage]", "mnc", {"graph_learner": "graphsage"}),
            MethodSpec("mnc[gat]", "mnc", {"graph_learner": "gat"}),
            MethodSpec("direct", "direct"),
        ]
    return out


# ------------------------------------------------------------------------------------ benchmarks
def _kb_records(tables: dict, metric: str, **kw):
    with tempfile.TemporaryDirectory(prefix="mnc-suite-") as tmp:
        with KnowledgeBase(Path(tmp) / "kb.sqlite") as kb:
            for kind, frame in tables.items():
                path = Path(tmp) / f"{kind}.csv"
                frame.to_csv(path, index=False)
                import_table(kb, path, kind)
            return kb.records(metric, **kw)


def load_tg(shared: Path):
    from transfergraph import load_records

    with tempfile.TemporaryDirectory(prefix="mnc-suite-tg-") as tmp:
        return load_records(shared, Path(tmp))


def load_sfda(shared: Path, group: int):
    source = shared / "data" / "sfda_finetune_acc" / f"sfda_group{group}_finetune_acc.csv"
    frame = pd.read_csv(source).rename(columns={"finetune_top1_acc": "value"}).assign(metric="top1")
    return _kb_records({"results": frame}, "top1")


def load_quicktune(shared: Path, min_models: int = 9):
    folder = shared / "data" / "quicktune_metadataset_partial"
    df = pd.concat([pd.read_csv(folder / f"AFT-MC-0{i}.csv", low_memory=False) for i in (0, 1)])
    ok = df[(df["State"] == "finished") & (df["test_mode"].astype(str).str.lower() == "false")
            & (pd.to_numeric(df["epoch"], errors="coerce") == 49)]
    best = ok.groupby(["model", "dataset"], as_index=False)["eval_top1"].max()
    counts = best.groupby("dataset")["model"].nunique()
    best = best[best["dataset"].isin(counts[counts >= min_models].index)]
    frame = best.rename(columns={"eval_top1": "value"}).assign(metric="top1")
    frame["dataset"] = frame["dataset"].str.replace("mtlbm/micro/", "", regex=False).str.replace("/", "_")
    return _kb_records({"results": frame}, "top1")


def load_microzoo(path: Path | None):
    from matchchoose.choose import resolve_metric

    path = Path(path) if path else embedded_kb_file()
    with KnowledgeBase(path) as kb:
        metric = resolve_metric(kb, None)  # the KB's default (the micro zoo build sets its FD)
        records = kb.records(metric)
        noise = None
        try:
            rows = kb.curves(metric, per_row=True)
        except Exception:  # noqa: BLE001 - a KB without curves has no noise to measure
            rows = None
    if rows is not None:
        noise = final_noise(rows)
    return records, noise


def benchmarks(args) -> dict:
    """{name: (records, held-out datasets, noise or None)} for the requested benchmarks."""
    from transfergraph_data import ALL12, EVAL8

    want = args.benchmarks
    out = {}
    if any(b.startswith("tg") for b in want):
        tg = load_tg(args.shared)
        extra4 = sorted(set(ALL12) - set(EVAL8))
        for name, ds in (("tg_eval8", EVAL8), ("tg_all12", ALL12), ("tg_extra4", extra4)):
            if name in want:
                out[name] = (tg, sorted(ds), None)
    if "sfda1" in want:
        r = load_sfda(args.shared, 1)
        out["sfda1"] = (r, r.evaluated_datasets, None)
    if "sfda2" in want:
        r = load_sfda(args.shared, 2)
        out["sfda2"] = (r, r.evaluated_datasets, None)
    if "quicktune" in want:
        r = load_quicktune(args.shared)
        out["quicktune"] = (r, r.evaluated_datasets, None)
    if "microzoo" in want:
        r, noise = load_microzoo(args.microzoo_kb)
        name = "microzoo" if args.microzoo_kb is None else f"microzoo[{Path(args.microzoo_kb).stem}]"
        out[name] = (r, r.evaluated_datasets, noise)
    if args.quick:
        out = {k: (r, ds[:3], n) for k, (r, ds, n) in out.items()}
    return out


# ------------------------------------------------------------------------------------ running, cached
#: Source files whose content keys a method's cached cells (a change recomputes them), by kind or by name.
SOURCES = {"blend": ["evaluate/_blend.py"], "mnc[graphsage]": ["graph/_gnn.py"], "mnc[gat]": ["graph/_gnn.py"]}


def _key(records, spec: MethodSpec, seed: int, dataset: str) -> str:
    parts = [records.content_hash(), spec.name, spec.kind, spec.params, seed, dataset]
    for rel in SOURCES.get(spec.kind, []) + SOURCES.get(spec.name, []):
        parts.append(hashlib.sha256((REPO / "src" / "matchchoose" / rel).read_bytes()).hexdigest())
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def run_cell(records, spec, seed, dataset) -> dict:
    path = CACHE / f"{_key(records, spec, seed, dataset)}.json"
    if path.is_file():
        return json.loads(path.read_text())
    t0 = time.perf_counter()
    result = run_evaluation(records, [spec], datasets=[dataset], seeds=[seed])
    wall = time.perf_counter() - t0
    entry = result["methods"].get(spec.name)
    out = {"wall_s": wall, "timings": result["timings"].get(spec.name, {}), "available": entry is not None}
    if entry is not None:
        item = entry["per_dataset"][dataset]
        out["metrics"] = {k: item.get(k) for k in (*KEYS, "coverage")}
        out["scores"] = item["predicted_scores"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, sort_keys=True))
    tmp.replace(path)
    return out


def noise_osr(records, dataset, scores: dict, noise: pd.Series, expected: bool = False) -> float:
    """1.0 when the pick is within the measured noise of the best (``expected``: the share of models that are,
    a uniformly random pick's expected value)."""
    truth = records.truth(dataset)
    u = pd.Series(records.metric.orient(truth.to_numpy()), index=truth.index)

    def hit(model):
        return float(within_noise(u, dataset, model, noise))

    if expected:
        return float(np.mean([hit(m) for m in u.index]))
    s = pd.Series(scores).reindex(u.index)
    return hit(sorted(s.index[s == s.max()])[0])


# ------------------------------------------------------------------------------------ statistics
def bootstrap(values: pd.DataFrame, n: int = 2000, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` bootstrap resamples of the rows (datasets) of ``values``."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, len(values), size=(n, len(values)))


def ci(x: np.ndarray, draws: np.ndarray) -> tuple:
    x = np.asarray(x, float)
    means = np.nanmean(x[draws], axis=1)
    return float(np.nanmean(x)), float(np.nanpercentile(means, 2.5)), float(np.nanpercentile(means, 97.5))


def summarise(per: dict, datasets: list, keys) -> dict:
    """per[method][dataset] = metrics (seed means) -> table with CIs and paired differences."""
    draws = bootstrap(pd.DataFrame(index=datasets))
    table = {}
    for name, rows in per.items():
        frame = pd.DataFrame(rows).T.reindex(datasets)
        entry = {"n": int(frame["tau_w"].notna().sum())}
        for k in keys:
            if k in frame:
                entry[k] = ci(frame[k].to_numpy(float), draws)
        for base in (*BASELINES, DEFAULT):
            if base in per and base != name:
                other = pd.DataFrame(per[base]).T.reindex(datasets)
                for k in ("tau_w", "rel_at_1", "osr", "o2o", "osr_noise"):
                    if k in frame and k in other:
                        entry[f"d_{k}_vs_{base}"] = ci((frame[k] - other[k]).to_numpy(float), draws)
        table[name] = entry
    return table


def fmt(c, nd=3):
    if c is None or (isinstance(c, tuple) and np.isnan(c[0])):
        return "—"
    return f"{c[0]:.{nd}f} [{c[1]:.{nd}f}, {c[2]:.{nd}f}]"


def print_markdown(name, table, keys, n_datasets):
    print(f"\n**{name}** ({n_datasets} held-out datasets; mean [95 % bootstrap CI over datasets])\n")
    cols = list(keys) + ["Δτ vs overall", "Δτ vs nearest", "Δτ vs initial", f"Δτ vs {DEFAULT}"]
    print("| method | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    order = sorted(table, key=lambda m: -(table[m]["tau_w"][0] if not np.isnan(table[m]["tau_w"][0]) else -9))
    for m in order:
        e = table[m]
        cells = [fmt(e.get(k), 4 if k.startswith("rel") or k == "o2o" else 3) for k in keys]
        cells += [fmt(e.get(f"d_tau_w_vs_{b}")) for b in BASELINES]
        cells += [fmt(e.get(f"d_tau_w_vs_{DEFAULT}"))]
        print(f"| {m} | " + " | ".join(cells) + " |")


DEFAULT = "blend"  # the default selector of `mnc choose`, chosen by the declared rule (docs/benchmarks.md 11)


def print_overview(report: dict) -> None:
    """One row per benchmark: the default against Overall, Nearest, Initial and M&C."""
    print(f"\n**Overview**: the default (`{DEFAULT}`) against the baselines; mean [95 % CI over datasets]\n")
    others = ("overall", "nearest", "initial", "mnc[catboost+priors]")
    cols = ["benchmark", f"{DEFAULT} τ", *(f"{o} τ" for o in others), "Δτ vs overall", "OSR default / overall",
            "rel@1 default / overall", "O2O default / overall"]
    print("| " + " | ".join(cols) + " |")
    print("|---" * len(cols) + "|")
    for bname, entry in report.items():
        t = entry["table"]
        if DEFAULT not in t:
            continue
        d, o = t[DEFAULT], t.get("overall", {})

        def pair(k, nd):
            a, b = d.get(k), o.get(k)
            return f"{a[0]:.{nd}f} / {b[0]:.{nd}f}" if a and b else "—"

        cells = [bname + (" (tuning)" if entry["tuning"] else ""), fmt(d.get("tau_w"))]
        cells += [fmt(t[x]["tau_w"]) if x in t else "—" for x in others]
        cells += [fmt(d.get("d_tau_w_vs_overall")), pair("osr", 2), pair("rel_at_1", 4), pair("o2o", 4)]
        print("| " + " | ".join(cells) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--benchmarks", default="tg_extra4,sfda1,tg_eval8,tg_all12,sfda2,quicktune,microzoo")
    parser.add_argument("--methods", default=None, help="Comma-separated method names (default: all).")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--microzoo-kb", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    # SFDA and Quick-Tune targets are isolated graph nodes (M&C warns on every fold): keep the tables readable.
    os.environ["PYTHONWARNINGS"] = "ignore"
    warnings.filterwarnings("ignore")
    args.benchmarks = args.benchmarks.split(",")
    if args.microzoo_kb and "microzoo" not in args.benchmarks:
        args.benchmarks.append("microzoo")
    specs = methods(args.quick)
    if args.methods:
        wanted = args.methods.split(",")
        specs = [s for s in specs if s.name in wanted]
    seeds = [0] if args.quick else list(range(args.seeds))
    t_load = time.perf_counter()
    benches = benchmarks(args)
    print(f"loaded {len(benches)} benchmark(s) in {time.perf_counter() - t_load:.1f} s", flush=True)
    report = {}
    for bname, (records, datasets, noise) in benches.items():
        keys = KEYS + (("osr_noise",) if noise is not None else ())
        per, times = {}, {}
        for spec in specs:
            if not SELECTORS[spec.kind].applies_to(records):
                continue
            t0 = time.perf_counter()
            rows = {}
            for d in datasets:
                cells = [run_cell(records, spec, s, d) for s in seeds]
                cells = [c for c in cells if c["available"]]
                if not cells:
                    continue
                m = pd.DataFrame([c["metrics"] for c in cells]).mean(axis=0).to_dict()
                if noise is not None:
                    expected = getattr(SELECTORS[spec.kind], "expected_value", False)
                    m["osr_noise"] = float(np.mean([noise_osr(records, d, c["scores"], noise, expected)
                                                    for c in cells]))
                rows[d] = m
                for c in cells:
                    for k, v in c["timings"].items():
                        times.setdefault(spec.name, {}).setdefault(k, 0.0)
                        times[spec.name][k] += v
            if rows:
                per[spec.name] = rows
            print(f"  {bname} {spec.name}: {time.perf_counter() - t0:.1f} s", flush=True)
        table = summarise(per, datasets, keys)
        report[bname] = {"table": table, "datasets": datasets, "timings": times,
                         "tuning": bname in TUNING, "n_models": len(records.models)}
        print_markdown(f"{bname}{' (tuning)' if bname in TUNING else ''}, {len(records.models)} models", table,
                       keys, len(datasets))
        print("\nwhere the time goes (s, summed over folds and seeds; cached cells cost nothing now): "
              + "; ".join(f"{m} " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()) for m, t in times.items()))
    print_overview(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
