"""How low can a micro-zoo score go? The Fréchet distance of real images to the held-out references.

The micro zoo scores a fine-tuned model by the FD between ``n`` sampled images and the domain's held-out
images, in the probe's embedding. With 32 and 40 images in DINOv2's 384 dimensions the estimate is heavily
biased upwards: even a perfect generator, one that draws fresh images of the domain, does not score 0. This
script measures that floor: per domain, ``--draws`` random sets of ``n`` *real* training images (never the
references) scored against the references exactly as the grid scores samples (the grid's split, probe and
``n``). It then puts every grid cell in those units:

* ``ratio`` = final / prescore (what docs/microzoo.md reports; the micro zoo v2 target is a median <= 0.75);
* ``reachable`` = floor / prescore: the ratio a perfect model would get, in expectation;
* ``gap_closed`` = (prescore - final) / (prescore - floor): the share of the gap between the pretrained
  model and a perfect one that fine-tuning closed (1 = as good as real images, 0 = no change, < 0 worse).

Run (about 10 minutes on one core for 26 domains and 5 draws)::

    OMP_NUM_THREADS=1 python benchmarks/microzoo_floor.py --kb BUILD/kb.sqlite --data DATA --out FLOOR

``BUILD`` and ``DATA`` are the micro zoo build's folders (docs/microzoo.md). Writes ``floor.csv`` (per domain and
draw), ``cells.csv`` (per grid cell), ``domains.csv``, ``summary.json`` and ``floor.png``; prints the tables.

Recipes side by side (a recipe pilot's knowledge base beside the grid's, on the pilot's domains, one sampling
seed so that both are measured alike): cells are grouped by their fine-tuning recipe, and ``summary.json`` has one
block per recipe::

    python benchmarks/microzoo_floor.py --kb BUILD/kb.sqlite --kb PILOT/pilot.sqlite --data DATA \
        --domains tuxpaint_vector,kgeography_flags --sample-seed 0 --out FLOOR-PILOT
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _protocol(rows: pd.DataFrame) -> dict:
    """The grid protocol the scores were measured with (from the provenance of the target rows)."""
    prov = rows["provenance"].iloc[0]
    return {"val_fraction": float(prov.get("val_fraction", 0.2)), "seed": int(prov.get("seed", 0)),
            "n_generated": int(prov.get("n_generated", 32)), "probe": str(prov.get("probe", "dinov2"))}


def _recipe_label(prov: dict) -> str:
    """``method lr=... [rank=...]`` of the fine-tuning recipe a row was measured with."""
    try:
        r = json.loads(prov.get("recipe") or "{}")
    except (TypeError, ValueError):
        return "unknown"
    label = f"{r.get('method', '?')} lr={r.get('learning_rate', '?'):g}" if isinstance(r.get("learning_rate"), float) \
        else f"{r.get('method', '?')} lr={r.get('learning_rate', '?')}"
    if r.get("method") == "lora":
        label += f" rank={r.get('lora_rank')}"
    return f"{label} steps={r.get('steps')}"


def cells_table(kb_paths, metric: str, domains=None, sample_seed=None) -> tuple[pd.DataFrame, dict]:
    """Per (recipe, model, dataset): mean prescore and mean final score (target fidelity) over sampling seeds
    (only ``sample_seed``'s rows when given: a row without one was sampled with its grid's ``seed``)."""
    from matchchoose.kb import KnowledgeBase
    from matchchoose.records import target_rows

    frames = []
    for kb_path in [kb_paths] if isinstance(kb_paths, (str, Path)) else kb_paths:
        with KnowledgeBase(kb_path) as kb:
            rows = kb.curves(metric, per_row=True, prescores=True)
        if rows.empty:
            raise SystemExit(f"{kb_path}: no {metric!r} results; give a micro zoo grid's knowledge base (--kb).")
        frames.append(rows)
    rows = pd.concat(frames, ignore_index=True)
    if domains:
        rows = rows[rows["dataset"].isin(domains)]
    seeds = [str(p.get("sample_seed") or p.get("seed")) for p in rows["provenance"]]
    if sample_seed is not None:
        rows = rows[[s == str(sample_seed) for s in seeds]]
    if rows.empty:
        raise SystemExit("no rows left after --domains / --sample-seed")
    rows = rows.assign(recipe=[_recipe_label(p) for p in rows["provenance"]])
    # The zero-shot score does not depend on the recipe: one prescore per (model, dataset).
    pre = rows[rows["kind"] == "prescore"].groupby(["model", "dataset"])["value"].mean().rename("prescore")
    res = rows[rows["kind"] == "result"]
    # final results as the KB reads them (each dataset's largest fidelity), per recipe: a pilot without curves
    # beside a grid with them
    at = pd.concat([target_rows(g) for _, g in res.groupby("recipe")])
    final = at.groupby(["recipe", "model", "dataset"])["value"].mean().rename("final").reset_index()
    cells = final.merge(pre.reset_index(), on=["model", "dataset"]).dropna()
    return cells, _protocol(at)


def floor_table(data: Path, datasets: list, protocol: dict, draws: int, n: int | None) -> pd.DataFrame:
    from matchchoose.profile import ImageFolder, split
    from matchchoose.score import score_images

    n = n or protocol["n_generated"]
    out = []
    for i, name in enumerate(datasets, 1):
        folder = data / name
        if not folder.is_dir():
            print(f"  {name}: no folder {folder}; skipped", flush=True)
            continue
        t0 = time.perf_counter()
        train, val = split(ImageFolder(folder), val_fraction=protocol["val_fraction"], random_state=protocol["seed"])
        for draw in range(draws):
            idx = np.sort(np.random.default_rng(draw).choice(len(train), size=min(n, len(train)), replace=False))
            (score,) = score_images(train.subset(idx), val, probe=protocol["probe"], kinds=("fd",))
            out.append({"dataset": name, "draw": draw, "floor": score.value, "n_generated": score.n_generated,
                        "n_reference": score.n_reference})
        print(f"  [{i}/{len(datasets)}] {name}: floor {np.mean([r['floor'] for r in out[-draws:]]):.1f} "
              f"({time.perf_counter() - t0:.1f} s)", flush=True)
    return pd.DataFrame(out)


def summarise(cells: pd.DataFrame, floor: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The cells of one recipe in floor units: per cell, per domain and a summary."""
    per = floor.groupby("dataset")["floor"].agg(floor="mean", floor_sd="std").reset_index()
    per = per[per["dataset"].isin(cells["dataset"])]
    cells = cells.merge(per, on="dataset")
    cells["ratio"] = cells["final"] / cells["prescore"]
    cells["reachable"] = cells["floor"] / cells["prescore"]
    cells["gap_closed"] = (cells["prescore"] - cells["final"]) / (cells["prescore"] - cells["floor"])
    dom = cells.groupby("dataset").agg(floor=("floor", "first"), floor_sd=("floor_sd", "first"),
                                       prescore=("prescore", "median"), final=("final", "median"),
                                       best_final=("final", "min"), ratio=("ratio", "median"),
                                       reachable=("reachable", "median"), gap_closed=("gap_closed", "median"))
    summary = {
        "cells": int(len(cells)), "domains": int(cells["dataset"].nunique()),
        "median_ratio": float(cells["ratio"].median()),
        "improved_share": float((cells["ratio"] < 1).mean()),
        "median_reachable_ratio": float(cells["reachable"].median()),
        "share_cells_where_0.75_is_reachable": float((cells["reachable"] <= 0.75).mean()),
        "median_gap_closed": float(cells["gap_closed"].median()),
        "share_below_floor": float((cells["final"] < cells["floor"]).mean()),
        "median_floor_over_best_final": float((dom["floor"] / dom["best_final"]).median()),
        "floor_sd_over_floor_median": float((per["floor_sd"] / per["floor"]).median()),
        "per_model_median_gap_closed": {m: float(v) for m, v in cells.groupby("model")["gap_closed"].median().items()},
        "per_model_median_reachable": {m: float(v) for m, v in cells.groupby("model")["reachable"].median().items()},
    }
    if "in_mixture" in cells:  # the zoo's pretraining mixtures given: the same on domains a model pretrained on
        for flag, g in cells.groupby("in_mixture"):
            key = "pretrained_on_domain" if flag else "new_domain"
            summary[key] = {"cells": int(len(g)), "median_prescore_over_floor": float((g["prescore"] / g["floor"]).median()),
                            "median_final_over_floor": float((g["final"] / g["floor"]).median()),
                            "median_ratio": float(g["ratio"].median()),
                            "median_gap_closed": float(g["gap_closed"].median())}
    return cells, dom.reset_index(), summary


def plot(cells: pd.DataFrame, path: Path) -> None:
    """Measured ratio against the reachable one per cell, and the gap closed: per model (one recipe) or per
    recipe (several)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = "recipe" if cells["recipe"].nunique() > 1 else "model"
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    ax = axes[0]
    for name, g in cells.groupby(by):
        ax.scatter(g["reachable"], g["ratio"], s=14, label=name)
    lim = [0, max(1.6, float(cells["ratio"].max()) * 1.02)]
    ax.plot(lim, lim, color="grey", lw=0.8, label="as good as real images")
    ax.axhline(1.0, color="black", lw=0.6, ls=":")
    ax.axhline(0.75, color="red", lw=0.8, ls="--", label="v2 target: median ratio 0.75")
    ax.set_xlim(0, 1.05)
    ax.set_ylim(*lim)
    ax.set_xlabel("floor / prescore (the ratio a perfect model would get)")
    ax.set_ylabel("final / prescore (measured)")
    ax.set_title("Every grid cell: measured ratio vs the reachable one")
    ax.legend(fontsize=7, ncol=2)
    ax = axes[1]
    order = cells.groupby(by)["gap_closed"].median().sort_values().index
    ax.boxplot([cells.loc[cells[by] == m, "gap_closed"].clip(-2, 1.2) for m in order], orientation="horizontal",
               tick_labels=list(order))
    ax.axvline(0, color="black", lw=0.6, ls=":")
    ax.set_xlabel("gap closed = (prescore - final) / (prescore - floor), clipped to [-2, 1.2]")
    ax.set_title(f"Share of the gap to real images closed, per {by}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kb", type=Path, required=True, action="append",
                   help="A micro zoo grid's knowledge base (BUILD/kb.sqlite); again for another (a pilot's).")
    p.add_argument("--domains", default=None, help="Comma-separated domains to keep (default: all).")
    p.add_argument("--sample-seed", type=int, default=None, help="Keep only the rows sampled with this seed.")
    p.add_argument("--models-dir", type=Path, default=None,
                   help="The zoo (BUILD/models): split the cells by whether the model pretrained on the domain.")
    p.add_argument("--data", type=Path, required=True, help="The domains' folders (DATA/<domain>).")
    p.add_argument("--metric", default="fd_dinov2")
    p.add_argument("--draws", type=int, default=5, help="Random sets of real images per domain.")
    p.add_argument("--n", type=int, default=None, help="Real images per set (default: the grid's n_generated).")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    domains = [d.strip() for d in args.domains.split(",")] if args.domains else None
    cells, protocol = cells_table(args.kb, args.metric, domains, args.sample_seed)
    print(f"{len(cells)} cells over {cells['dataset'].nunique()} domains and {cells['recipe'].nunique()} recipe(s); "
          f"protocol {protocol}", flush=True)
    floor_file = args.out / "floor.csv"
    if floor_file.is_file():  # resumable: the floor does not depend on the grid
        floor = pd.read_csv(floor_file)
        todo = sorted(set(cells["dataset"]) - set(floor["dataset"]))
        if todo:
            floor = pd.concat([floor, floor_table(args.data, todo, protocol, args.draws, args.n)])
    else:
        floor = floor_table(args.data, sorted(cells["dataset"].unique()), protocol, args.draws, args.n)
    floor.to_csv(floor_file, index=False)
    if args.models_dir is not None:
        mixtures = {}
        for folder in sorted(Path(args.models_dir).iterdir()):
            card = folder / "MICROZOO.json"
            if card.is_file():
                mixtures[folder.name] = set(json.loads(card.read_text()).get("mixture", {}))
        cells["in_mixture"] = [d in mixtures.get(m, set()) for m, d in zip(cells["model"], cells["dataset"])]
    all_cells, all_dom, summaries = [], [], {}
    for recipe, group in cells.groupby("recipe", sort=True):
        c, dom, summary = summarise(group, floor)
        all_cells.append(c)
        all_dom.append(dom.assign(recipe=recipe))
        summaries[recipe] = summary
    cells, dom = pd.concat(all_cells, ignore_index=True), pd.concat(all_dom, ignore_index=True)
    cells.to_csv(args.out / "cells.csv", index=False)
    dom.to_csv(args.out / "domains.csv", index=False)
    (args.out / "summary.json").write_text(json.dumps(summaries if len(summaries) > 1 else summary, indent=1))
    plot(cells, args.out / "floor.png")
    with pd.option_context("display.width", 200, "display.max_rows", 200, "display.max_columns", 20):
        print(dom.round(3).to_string(index=False))
        print(cells.groupby(["recipe", "model"])[["ratio", "reachable", "gap_closed"]].median().unstack(0)
              .round(3).to_string())
    for recipe, summary in summaries.items():
        print(recipe, json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in summary.items()
                                  if not k.startswith("per_model")}, indent=1))


if __name__ == "__main__":
    main()
