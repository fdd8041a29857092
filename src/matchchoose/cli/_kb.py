"""``mnc kb``: build and inspect the knowledge base.

A thin wrapper over :mod:`matchchoose.kb`: bad input raises the library's errors, which
:func:`matchchoose.cli.main` prints as one line with exit code 2.
"""

from __future__ import annotations

import click
from rich.table import Table

from ..kb import KINDS, KnowledgeBase, export_table, import_table
from ._common import console, kb_option, resolve_kb_path

__all__ = ["kb"]

_DIRECTION = click.option(
    "--higher-is-better/--lower-is-better",
    "higher_is_better",
    default=None,
    help="Direction of the metric(s): accuracy-like (higher) or FID-like (lower).",
)


def _open(kb_path) -> KnowledgeBase:
    return KnowledgeBase(resolve_kb_path(kb_path))


def _direction(higher_is_better: bool) -> str:
    return "higher is better" if higher_is_better else "lower is better"


@click.group()
def kb():
    """Build and inspect the knowledge base of recorded fine-tuning results.

    Example: mnc kb import results.csv --kind results --kb zoo.sqlite
    """


@kb.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--kind", type=click.Choice(KINDS), required=True, help="What the file holds.")
@click.option("--metric", default=None, help="Distances only: the distance's name, for a square-matrix file "
              "(first column = row labels) or a long file without a 'metric' column.")
@_DIRECTION
@click.option("--add-datasets", is_flag=True, help="Distances only: create datasets the knowledge base does "
              "not know yet (by default an unknown dataset is an error, to catch typos).")
@kb_option
def import_(file, kind, metric, higher_is_better, add_datasets, kb_path):
    """Import a CSV, .csv.gz or Parquet FILE, in one transaction.

    \b
    results, prescores: model,dataset,metric,value (+ provenance columns)
    models:             model,<feature columns>
    datasets:           dataset,<feature columns>
    distances:          dataset_a,dataset_b,metric,value, or a square matrix with --metric NAME

    Re-importing a file stores nothing twice. --higher-is-better/--lower-is-better declares the
    file's metrics in the same transaction.

    Example: mnc kb import runs.csv --kind results --kb zoo.sqlite
    """
    with _open(kb_path) as store:
        summary = import_table(store, file, kind, metric=metric, higher_is_better=higher_is_better,
                               add_datasets=add_datasets)
    console.print(str(summary), highlight=False, soft_wrap=True)


@kb.command()
@kb_option
def info(kb_path):
    """Show what the knowledge base holds: counts, metrics and their direction, schema version.

    Example: mnc kb info --kb zoo.sqlite
    """
    with _open(kb_path) as store:
        summary = store.summary()
        metrics = store.metrics()
    console.print(f"Knowledge base {summary['path']} (schema version {summary['schema_version']})",
                  highlight=False, soft_wrap=True)
    counts = Table(title="Contents")
    counts.add_column("table")
    counts.add_column("metric")
    counts.add_column("rows", justify="right")
    counts.add_row("models", "", str(summary["models"]))
    counts.add_row("datasets", "", str(summary["datasets"]))
    counts.add_row("model features", "", str(summary["model_features"]))
    counts.add_row("dataset features", "", str(summary["dataset_features"]))
    for table in ("results", "prescores", "distances", "profiles", "grid_cells"):
        label = {"profiles": "profiles (probe)", "grid_cells": "grid cells (state)"}.get(table, table)
        for name, n in summary[table].items():
            counts.add_row(label, name, str(n))
    console.print(counts)
    for name, fidelities in summary.get("fidelities", {}).items():
        console.print(f"fidelities of {name} results (largest per pair = target): "
                      f"{', '.join(f'{f:g}' for f in fidelities)}", highlight=False, soft_wrap=True)
    used = metrics[(metrics["results"] > 0) | (metrics["prescores"] > 0)]
    if len(used):
        console.print(_metric_table(used, title="Metrics in use"))


def _metric_table(metrics, title: str) -> Table:
    table = Table(title=title)
    for column in ("metric", "direction", "results", "prescores", "description"):
        table.add_column(column, justify="right" if column in ("results", "prescores") else "left")
    for row in metrics.itertuples(index=False):
        table.add_row(row.name, _direction(row.higher_is_better), str(row.results), str(row.prescores),
                      row.description)
    return table


@kb.group()
def metric():
    """Declare and list metrics (every result's metric must have a known direction).

    Example: mnc kb metric add bleu --higher-is-better --kb zoo.sqlite
    """


@metric.command("add")
@click.argument("name")
@click.option("--higher-is-better/--lower-is-better", "higher_is_better", default=None,
              help="Direction of the metric (required): accuracy-like (higher) or FID-like (lower).")
@click.option("--description", default="", help="One line saying what the metric measures.")
@kb_option
def metric_add(name, higher_is_better, description, kb_path):
    """Declare metric NAME and its direction (a no-op if already declared the same way).

    Example: mnc kb metric add bleu --higher-is-better --kb zoo.sqlite
    """
    if higher_is_better is None:
        raise click.UsageError("Missing option '--higher-is-better' or '--lower-is-better': say which way is better.")
    with _open(kb_path) as store:
        new = store.declare_metric(name, higher_is_better, description)
    state = "declared" if new else "already declared"
    console.print(f"Metric {name!r} {state}: {_direction(higher_is_better)}.", highlight=False)


@metric.command("list")
@kb_option
def metric_list(kb_path):
    """List the declared and built-in metrics with their direction and row counts.

    Example: mnc kb metric list --kb zoo.sqlite
    """
    with _open(kb_path) as store:
        metrics = store.metrics()
    console.print(_metric_table(metrics, title="Metrics"))


@kb.command()
@click.option("--kind", type=click.Choice(KINDS), default="results", show_default=True, help="What to export.")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True,
              help="Output file: .csv, .csv.gz or .parquet.")
@kb_option
def export(kind, out, kb_path):
    """Export stored rows in the layout 'mnc kb import' reads (it round-trips).

    Example: mnc kb export --kind results --out results.csv --kb zoo.sqlite
    """
    with _open(kb_path) as store:
        n = export_table(store, out, kind)
    console.print(f"Wrote {n} {kind} rows to {out}.", highlight=False, soft_wrap=True)
