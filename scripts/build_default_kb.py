"""Build the embedded knowledge base and the README's example from a finished micro-zoo grid.

    .venv/bin/python scripts/build_default_kb.py --grid-kb runs/microzoo/kb.sqlite \
        --data data/microzoo --example openmoji,tabler_icons --n-example 48

1. ``src/matchchoose/kb/default/microzoo.sqlite``: a consistent copy of the grid's knowledge base
   (SQLite backup API) without the example domains (``KnowledgeBase.remove_datasets``: their results,
   prescores, profile and distances go) and without the grid's run bookkeeping (``grid_cells``:
   local paths and process ids), in rollback-journal mode and vacuumed, so that it is one
   self-contained file; its default metric (``mnc choose`` without ``--metric``) is ``--metric``.
2. ``examples/<example>/``: ``--n-example`` images of the held-out domain (a seeded sample) with
   their ``metadata.jsonl`` rows, the domain's licence and attribution (``README.md``,
   ``domain.json``), and ``results.csv``: the domain's true results in the grid (model, metric
   value), which ``mnc choose --truth`` shows beside the ranking.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from matchchoose.kb import KnowledgeBase  # noqa: E402


def _copy_without(grid_kb: Path, out: Path, examples: list, metric: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / out.name
        src, dst = sqlite3.connect(grid_kb), sqlite3.connect(staged)
        src.backup(dst)  # a consistent copy, WAL content included
        src.close()
        dst.close()
        kb = KnowledgeBase(staged)
        held = [e for e in examples if e in kb.datasets()]
        deleted = kb.remove_datasets(held, source="build_default_kb") if held else {}
        kb.set_default_metric(metric)  # mnc choose without --metric (the grid also recorded KID)
        kb.close()
        conn = sqlite3.connect(staged, isolation_level=None)
        conn.execute("DELETE FROM grid_cells")
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("VACUUM")
        conn.close()
        out.parent.mkdir(parents=True, exist_ok=True)
        for stale in (out.with_name(out.name + "-wal"), out.with_name(out.name + "-shm")):
            stale.unlink(missing_ok=True)
        shutil.copyfile(staged, out)
    return deleted


def _example(grid_kb: Path, data: Path, example: str, metric: str, n: int, seed: int, out: Path) -> pd.DataFrame:
    import pandas as pd

    src = data / example
    rows = [json.loads(line) for line in (src / "metadata.jsonl").read_text().splitlines() if line.strip()]
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(rows), size=min(n, len(rows)), replace=False).tolist())
    if out.exists():
        shutil.rmtree(out)
    (out / "images").mkdir(parents=True)
    with open(out / "metadata.jsonl", "w", encoding="utf-8") as fh:
        for i in chosen:
            shutil.copyfile(src / rows[i]["file_name"], out / rows[i]["file_name"])
            fh.write(json.dumps(rows[i], ensure_ascii=False) + "\n")
    domain = json.loads((src / "domain.json").read_text())
    shutil.copyfile(src / "domain.json", out / "domain.json")

    kb = KnowledgeBase(grid_kb)
    # the target fidelity; repeated sampling seeds averaged
    truth = kb.records(metric, aggregate="mean").truth(example).rename(metric).rename_axis("model").reset_index()
    truth = truth.sort_values(metric).reset_index(drop=True)
    truth.to_csv(out / "results.csv", index=False, float_format="%.6g")
    lines = [
        f"# Example: `{example}` ({len(chosen)} of its {domain['n']} images)",
        "",
        f"{domain.get('attribution', '')}",
        f"Licence: {domain['licence']}. Packages: "
        + ", ".join(f"{p['registry']}:{p['name']}@{p['version']}" for p in domain["packages"]) + ".",
        "Each image's source file and author are in `metadata.jsonl` (`key`, `meta`). Changes: the micro-zoo",
        f"domain builder rendered the originals as {domain.get('size', 128)} x {domain.get('size', 128)} px RGB PNGs "
        "(`domain.json`: `image_policy`); they are shared under the same licence.",
        "",
        f"This domain was fine-tuned on by every micro-zoo model in the grid, then **left out of the embedded",
        f"knowledge base**, so that `mnc choose` ranks the zoo for it as for a new dataset. `results.csv` holds its",
        f"true results ({metric}, lower is better), which `mnc choose --truth` shows beside the ranking:",
        "",
        "```",
        f"mnc choose examples/{example} --truth examples/{example}/results.csv",
        "```",
        "",
        "Made by `scripts/build_default_kb.py` (see docs/microzoo.md).",
    ]
    (out / "README.md").write_text("\n".join(lines) + "\n")
    return truth


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid-kb", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="Micro-zoo domains root.")
    parser.add_argument("--example", default="openmoji",
                        help="Comma-separated domains held out of the embedded KB as examples with known results.")
    parser.add_argument("--metric", default="fd_dinov2")
    parser.add_argument("--n-example", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "matchchoose" / "kb" / "default" / "microzoo.sqlite")
    parser.add_argument("--examples-dir", type=Path, default=ROOT / "examples")
    args = parser.parse_args(argv)
    if not args.grid_kb.is_file():
        print(f"error: no knowledge base at {args.grid_kb}", file=sys.stderr)
        return 1
    examples = [e.strip() for e in args.example.split(",") if e.strip()]
    stored = KnowledgeBase(args.grid_kb).datasets()
    missing = [e for e in examples if e not in stored]
    if missing:
        print(f"error: the example domain(s) {', '.join(missing)} are not in {args.grid_kb}", file=sys.stderr)
        return 1
    truths = {e: _example(args.grid_kb, args.data, e, args.metric, args.n_example, args.seed, args.examples_dir / e)
              for e in examples}
    deleted = _copy_without(args.grid_kb, args.out, examples, args.metric)
    # Read a copy: opening the shipped file with KnowledgeBase would switch it to WAL mode.
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copyfile(args.out, Path(tmp) / "kb.sqlite")
        summary = KnowledgeBase(Path(tmp) / "kb.sqlite").summary()
    print(f"{args.out}: {args.out.stat().st_size / 1e6:.2f} MB; removed {', '.join(examples)}: {deleted}")
    print(json.dumps(summary, indent=1, default=str)[:2000])
    for example, truth in truths.items():
        print(f"examples/{example}: {args.n_example} images; true results:\n{truth.to_string(index=False)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
