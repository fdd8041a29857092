"""``mnc kb``: build and inspect the knowledge base.

A thin wrapper over :mod:`matchchoose.kb`: bad input raises the library's errors, which
:func:`matchchoose.cli.main` prints as one line with exit code 2.
"""

from __future__ import annotations

import json

import click

from ..kb import KINDS, KnowledgeBase, export_table, import_table
from ._common import console, kb_option, resolve_kb_path
from ._table import Col, print_table

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
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the counts, and every metric) instead of tables.")
def info(kb_path, as_json):
    """Show what the knowledge base holds: counts, metrics and their direction, schema version.

    Example: mnc kb info --kb zoo.sqlite
    """
    with _open(kb_path) as store:
        summary = store.summary()
        metrics = store.metrics()
    if as_json:
        click.echo(json.dumps({**summary, "metrics": _records(metrics)}, indent=1, sort_keys=True, default=str))
        return
    console.print(f"Knowledge base {summary['path']} (schema version {summary['schema_version']})",
                  highlight=False, soft_wrap=True)
    rows = [["models", "", summary["models"]], ["datasets", "", summary["datasets"]],
            ["model features", "", summary["model_features"]], ["dataset features", "", summary["dataset_features"]]]
    for table in ("results", "prescores", "distances", "profiles", "grid_cells"):
        label = {"profiles": "profiles (probe)", "grid_cells": "grid cells (state)"}.get(table, table)
        rows += [[label, name, n] for name, n in summary[table].items()]
    print_table(console, "Contents", [Col("table"), Col("metric"), Col("rows", "right")], rows,
                hint="mnc kb info --json")
    for name, fidelities in summary.get("fidelities", {}).items():
        console.print(f"fidelities of {name} results (largest per pair = target): "
                      f"{', '.join(f'{f:g}' for f in fidelities)}", highlight=False, soft_wrap=True)
    used = metrics[(metrics["results"] > 0) | (metrics["prescores"] > 0)]
    if len(used):
        _print_metrics(used, title="Metrics in use", hint="mnc kb info --json")


def _print_metrics(metrics, title: str, hint: str):
    columns = [Col("metric"), Col("direction"), Col("results", "right"), Col("prescores", "right"),
               Col("description", exact=False, drop=1)]
    rows = [[row.name, _direction(row.higher_is_better), row.results, row.prescores, row.description]
            for row in metrics.itertuples(index=False)]
    print_table(console, title, columns, rows, hint=hint)


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
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per metric) instead of a table.")
def metric_list(kb_path, as_json):
    """List the declared and built-in metrics with their direction and row counts.

    Example: mnc kb metric list --kb zoo.sqlite
    """
    with _open(kb_path) as store:
        metrics = store.metrics()
    if as_json:
        click.echo(json.dumps(_records(metrics), indent=1, sort_keys=True))
        return
    _print_metrics(metrics, title="Metrics", hint="mnc kb metric list --json")


def _records(frame) -> list:
    """A table as JSON-ready rows (numpy numbers become Python ones)."""
    return json.loads(frame.to_json(orient="records"))


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
