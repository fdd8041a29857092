"""M&C where it knows nothing but the results: SFDA's dense accuracy matrices (no features, no distances).

SFDA (Shao et al., ECCV 2022) recorded the top-1 accuracy of 11 supervised and 12 self-supervised ImageNet CNNs
fully fine-tuned on 11 datasets. The files carry no licence: they are read where they lie
(``../shared/data/sfda_finetune_acc``) and imported into a temporary knowledge base with the public importer.
Neither models nor datasets have features or distances, so the held-out dataset is an isolated node of the
matching graph: this is the case where M&C can do no better than the results themselves.

Usage::

    python benchmarks/sfda.py [--shared PATH] [--seeds 3] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import warnings
from pathlib import Path

import pandas as pd
from rich.console import Console

from matchchoose.cli._report import print_summary
from matchchoose.evaluate import MethodSpec, default_methods, run_evaluation
from matchchoose.kb import KnowledgeBase, import_table

REPO = Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args(argv)
    console = Console(width=150)
    # Every fold's target is isolated here (the point of this benchmark): silence that warning, workers included.
    os.environ["PYTHONWARNINGS"] = "ignore:Dataset:UserWarning"
    warnings.filterwarnings("ignore", message="Dataset .* has no edge in the matching graph")
    for group in ("group1", "group2"):
        source = args.shared / "data" / "sfda_finetune_acc" / f"sfda_{group}_finetune_acc.csv"
        with tempfile.TemporaryDirectory(prefix="mnc-sfda-") as tmp:
            tidy = Path(tmp) / "results.csv"
            frame = pd.read_csv(source).rename(columns={"finetune_top1_acc": "value"}).assign(metric="top1")
            frame.to_csv(tidy, index=False)
            with KnowledgeBase(Path(tmp) / "kb.sqlite") as kb:
                import_table(kb, tidy, "results")
                records = kb.records("top1")
        methods = [MethodSpec("mnc", "mnc", {}), MethodSpec("mnc[paper]", "mnc", {"priors": False}),
                   MethodSpec("mnc[random_forest]", "mnc", {"predictor": "random_forest"})]
        methods += [m for m in default_methods(records) if m.kind != "mnc"]
        run = run_evaluation(records, methods, seeds=range(args.seeds), n_jobs=args.n_jobs)
        print_summary(console, run, title=f"SFDA {group}: {len(records.models)} models x "
                      f"{len(records.evaluated_datasets)} datasets, top-1 accuracy, {args.seeds} seeds",
                      seeds=args.seeds)


if __name__ == "__main__":
    main()
