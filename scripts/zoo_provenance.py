#!/usr/bin/env python3
"""Write the default zoo's provenance table from the t2i-zoo bundle's ``sources.json``.

The package ships ``src/matchchoose/features/zoo/provenance.csv`` (one row per config file: model,
file, sha1, kind, confidence, origin); the full notes and evidence stay in the bundle
(``../shared/data/t2i-zoo/sources.json``), which this script reads::

    python scripts/zoo_provenance.py [--sources ../shared/data/t2i-zoo/sources.json]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "src" / "matchchoose" / "features" / "zoo" / "provenance.csv"
COLUMNS = ("model", "file", "sha1", "kind", "confidence", "origin")


def origin(row: dict) -> str:
    """Where a file comes from, in one field: ``github:REPO/PATH@COMMIT``, a URL, or the evidence kind."""
    if row.get("repo"):
        return f"github:{row['repo']}/{row['path']}@{row['commit']}"
    if row.get("url"):
        return row["url"]
    return "reconstructed from public facts (evidence: t2i-zoo sources.json)"


def render(rows: list) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in sorted(rows, key=lambda r: (r["model"], r["file"])):
        writer.writerow([row["model"], row["file"], row["sha1"], row["kind"], row.get("confidence", ""), origin(row)])
    return buf.getvalue()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=Path, default=REPO.parent / "shared" / "data" / "t2i-zoo" / "sources.json")
    args = parser.parse_args(argv)
    OUT.write_text(render(json.loads(args.sources.read_text(encoding="utf-8"))), encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
