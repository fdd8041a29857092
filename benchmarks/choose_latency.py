"""How long ``mnc choose`` takes on an already profiled dataset: cold (fit) vs warm (cached predictor).

The knowledge base is synthetic but sized like a real one: ``--models`` models, ``--datasets``
datasets with results (a low-rank model x dataset structure plus noise, so that rankings differ
across datasets), and a profile of ``--dim`` dimensions per dataset (DINOv2-S: 384, CLIP B/32:
512) made from ``--per-dataset`` Gaussian embeddings around dataset-specific centres. Probe
inference is excluded by construction (profiles are stored directly, as ``mnc profile`` would).

It measures, side by side in one run:

- ``cold``: the first ``choose`` (Fréchet distances of the target, Node2Vec+ embedding, CatBoost fit);
- ``warm, in process``: the same call again (predictor and embeddings from the cache);
- ``warm, mnc choose``: the whole command in a fresh process (``mnc choose --dataset T``), as a
  user runs it, including Python start-up and imports;

and prints the ratios. Usage::

    python benchmarks/choose_latency.py [--models 19] [--datasets 24] [--dim 384] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]


def build_kb(path: Path, n_models: int, n_datasets: int, dim: int, per_dataset: int, seed: int = 0):
    from matchchoose.kb import KnowledgeBase, Profile, import_frame

    rng = np.random.default_rng(seed)
    kb = KnowledgeBase(path)
    centres = rng.normal(size=(n_datasets + 1, dim))
    model_factors = rng.normal(size=(n_models, 3))
    dataset_factors = centres[:, :3]
    rows = []
    for d in range(n_datasets):
        quality = model_factors @ dataset_factors[d] + rng.normal(0, 0.3, n_models)
        rows += [{"model": f"model-{m:02d}", "dataset": f"ds-{d:02d}", "metric": "clip_fid",
                  "value": float(30 - 3 * quality[m])} for m in range(n_models)]
    import_frame(kb, pd.DataFrame(rows), "results")
    for d in range(n_datasets + 1):
        emb = centres[d] + rng.normal(size=(per_dataset, dim))
        name = f"ds-{d:02d}" if d < n_datasets else "target"
        kb.store_profile(Profile(dataset=name, probe="synthetic", preprocess="none", content_hash=f"h{d}",
                                 n=per_dataset, mean=emb.mean(0), cov=np.cov(emb, rowvar=False)))
    # Distances among the known datasets (mnc profile stores them as it goes); the target's come in choose.
    from matchchoose.profile import update_distances

    for d in range(n_datasets):
        update_distances(kb, f"ds-{d:02d}", "synthetic", "none")
    return kb


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=19)
    parser.add_argument("--datasets", type=int, default=24)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--per-dataset", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    console = Console()

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MNC_CACHE_DIR"] = str(Path(tmp) / "cache")
        from matchchoose.choose import choose

        kb_path = Path(tmp) / "kb.sqlite"
        t0 = time.perf_counter()
        kb = build_kb(kb_path, args.models, args.datasets, args.dim, args.per_dataset)
        console.print(f"built KB: {args.models} models x {args.datasets} datasets, {args.dim}-d profiles "
                      f"({time.perf_counter() - t0:.1f} s)")
        # The first run also pays numba's one-time compilation of the walker (cached on disk after).
        t0 = time.perf_counter()
        cold = choose(kb, dataset="target", probe="synthetic")
        cold_s = time.perf_counter() - t0
        warm = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            again = choose(kb, dataset="target", probe="synthetic")
            warm.append(time.perf_counter() - t0)
            assert again.cache_hit and again.ranking.equals(cold.ranking)
        command = [str(Path(sys.executable).with_name("mnc")), "choose", "--dataset", "target", "--probe", "synthetic",
                   "--kb", str(kb_path)]
        cli = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, env=os.environ.copy())
            cli.append(time.perf_counter() - t0)

    table = Table(title="mnc choose on a profiled dataset (probe inference excluded)")
    for col in ("run", "seconds", "vs cold"):
        table.add_column(col, justify="right" if col != "run" else "left")
    rows = [("cold (fit + embed)", cold_s), (f"warm, in process (median of {args.repeats})", statistics.median(warm)),
            (f"warm, `mnc choose` subprocess (median of {args.repeats})", statistics.median(cli))]
    for name, value in rows:
        table.add_row(name, f"{value:.3f}", f"{cold_s / value:.1f}x faster" if value != cold_s else "1.0x")
    console.print(table)
    console.print(f"cold breakdown: {', '.join(f'{k} {v:.2f} s' for k, v in cold.timings.items())}")
    console.print(f"warm breakdown: {', '.join(f'{k} {v:.3f} s' for k, v in again.timings.items())}")
    verdict = "meets" if statistics.median(cli) < 2.0 else "MISSES"
    console.print(f"warm `mnc choose` {statistics.median(cli):.2f} s: {verdict} the 2 s target")


if __name__ == "__main__":
    main()
