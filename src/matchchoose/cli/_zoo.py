"""``mnc zoo``: the model zoo, its features and their importance.

A thin wrapper over :mod:`matchchoose.features`. The zoo is the default zoo shipped with the
package (the paper's 10 models and 9 more) plus the models added to the knowledge base with
``mnc zoo add``. Everything but ``add`` of a new pipeline runs offline without torch.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import click
from rich.table import Table

from ._common import console, console_err, kb_option, resolve_kb_path

__all__ = ["zoo"]

_MODELS = click.option("--models", default=None,
                       help="Comma-separated zoo ids, or 'paper' for the paper's 10 (default: the whole zoo).")


def _kb(kb_path, *, create: bool = False):
    from ..kb import KnowledgeBase

    path = resolve_kb_path(kb_path)
    store = KnowledgeBase(path)
    return store if create or store._exists() else None


def _billions(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value / 1e9:.3f}"


def _number(value, digits=2) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


@click.group()
def zoo():
    """The model zoo: list, show and add models; compute their features and importance.

    Example: mnc zoo features --models paper
    """


@zoo.command("list")
@kb_option
def list_(kb_path):
    """List the zoo's models: family, denoiser, parameters, TFLOP per image, provenance.

    Example: mnc zoo list --kb zoo.sqlite
    """
    from ..features import zoo_entries

    entries = zoo_entries(_kb(kb_path))
    table = Table(title=f"Model zoo ({len(entries)} models)")
    for column in ("id", "family", "denoiser", "params (B)", "TFLOP", "TFLOP from", "Hugging Face id", "origin",
                   "notes"):
        table.add_column(column, justify="right" if column in ("params (B)", "TFLOP") else "left")
    for e in entries:
        notes = [n for n, flag in (("paper", e.in_paper), ("recon.", e.reconstructed)) if flag]
        denoiser = e.config.component_class(e.config.denoiser) if e.config.denoiser else ""
        table.add_row(e.name, e.family, denoiser or "", _billions(e.num_params), _number(e.tflop),
                      e.tflop_source or "", e.hf_id or "", e.origin, ", ".join(notes))
    console.print(table)


@zoo.command()
@click.argument("model_id")
@click.option("--raw", is_flag=True, help="Print the stored configs (JSON) instead of the hyperparameters.")
@kb_option
def show(model_id, raw, kb_path):
    """Show one model: provenance, size and its flattened hyperparameters.

    Example: mnc zoo show sdxl-base
    """
    from ..features import hyperparameter_table, zoo_entries

    (entry,) = zoo_entries(_kb(kb_path), [model_id])
    if raw:
        click.echo(json.dumps(entry.config.to_json(), indent=2, sort_keys=True))
        return
    console.print(f"[bold]{entry.name}[/] ({entry.family}; {entry.config.pipeline_class}; from {entry.origin}: "
                  f"{entry.config.source})", highlight=False, soft_wrap=True)
    facts = [("Hugging Face id", entry.hf_id), ("paper name", entry.paper_name),
             ("denoiser parameters (B)", _billions(entry.num_params)),
             ("TFLOP per image", f"{_number(entry.tflop)} ({entry.tflop_source})" if entry.tflop else ""),
             ("reconstructed configs", "yes" if entry.reconstructed else "no")]
    if entry.table2:
        facts.append(("Table 2", f"{entry.table2['tflop']} TFLOP, {entry.table2['params_billion']} B params, "
                                 f"{entry.table2['sampling_seconds']} s/image ({entry.table2['year']})"))
    for label, value in facts:
        if value:
            console.print(f"  {label}: {value}", highlight=False, soft_wrap=True)
    if entry.sources:
        files = Table(title="Config files and their sources")
        for column in ("file", "kind", "confidence", "from"):
            files.add_column(column)
        for s in entry.sources:
            files.add_row(s["file"], s["kind"], s.get("confidence", ""), s.get("origin", ""))
        console.print(files)
    frame = hyperparameter_table(entry)
    table = Table(title=f"{len(frame)} hyperparameters")
    table.add_column("hyperparameter")
    table.add_column("value")
    for key, value in zip(frame["hyperparameter"], frame["value"]):
        table.add_row(key, "null" if value is None else str(value))
    console.print(table)


@zoo.command()
@click.argument("source")
@click.option("--name", default=None, help="Zoo id (default: the folder name, or owner--name for a Hub id).")
@click.option("--no-size", is_flag=True, help="Do not count parameters and FLOPs (they need torch).")
@kb_option
def add(source, name, no_size, kb_path):
    """Add a pipeline (a local diffusers folder or a Hugging Face id) to the zoo of a knowledge base.

    Only JSON configs are read (for a Hub id: downloaded with huggingface_hub, nothing else). The
    raw configs are stored in the knowledge base, parameters and FLOPs are counted on the meta
    device when torch is installed, and the whole zoo's features are recomputed and stored.

    Example: mnc zoo add ./my-sdxl-finetune --kb zoo.sqlite
    """
    from ..features import add_model, default_zoo, store_features

    store = _kb(kb_path, create=True)
    with store, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        entry = add_model(store, source, name=name, size=not no_size, recompute=False)
        summary = store_features(store)
    for warning in caught:
        console_err.print(f"[yellow]warning:[/] {warning.message}", highlight=False, soft_wrap=True)
    size = f"{_billions(entry.num_params)} B params, {_number(entry.tflop)} TFLOP" if entry.num_params else \
        "size not counted"
    console.print(f"Added {entry.name} ({entry.family}, {size}) to {store.path}.", highlight=False, soft_wrap=True)
    if entry.name in {e.name for e in default_zoo()}:
        console.print(f"It replaces the default zoo's {entry.name} in this knowledge base's zoo.", highlight=False)
    console.print(_summary_line(summary) + f"; stored in {store.path}.", highlight=False, soft_wrap=True)


def _summary_line(summary: dict) -> str:
    return (f"{summary['models']} models: {summary['hyperparameters_seen']} hyperparameters, "
            f"{summary['hyperparameters_kept']} differ ({summary['numeric']} numeric, {summary['categorical']} "
            f"categorical) -> {summary['dimensions']} dimensions")


@zoo.command()
@_MODELS
@click.option("--json", "json_out", is_flag=True, help="Print the features as JSON (summary, columns, values).")
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False), default=None,
              help="Also write the model x dimension matrix as CSV.")
@click.option("--store", is_flag=True, help="Store the features in the knowledge base (model_features), "
              "replacing the previous zoo features, for the engine.")
@kb_option
def features(models, json_out, csv_out, store, kb_path):
    """Compute the zoo's model features (paper 4.2): differing hyperparameters, encoded.

    Keeps the hyperparameters that differ across the zoo, one-hots the categorical ones, min-max
    scales the numeric ones (absent: -1 plus a KEY__missing column); adds denoiser parameters
    and TFLOP. Runs offline, without torch.

    Example: mnc zoo features --models paper --json
    """
    from ..features import zoo_entries, zoo_features, zoo_hyperparameters

    store_kb = _kb(kb_path, create=store)
    entries = zoo_entries(store_kb, models)
    frame, rule = zoo_features(entries)
    summary = rule.summary()
    if store:
        with store_kb:
            written = store_kb.replace_zoo_features(frame, rule.describe(), source="mnc zoo features --store")
        console_err.print(f"Stored {written['values']} values ({written['features']} features x "
                          f"{written['models']} models) in {store_kb.path}.", highlight=False, soft_wrap=True)
    if csv_out:
        Path(csv_out).parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(csv_out, index_label="model")
        console_err.print(f"wrote {csv_out}", highlight=False)
    if json_out:
        payload = {"summary": summary, "models": list(frame.index), "columns": list(frame.columns),
                   "hyperparameters": {c: rule.groups_[c] for c in frame.columns},
                   "features": {m: [float(v) for v in row] for m, row in zip(frame.index, frame.to_numpy())}}
        click.echo(json.dumps(payload, indent=1, sort_keys=True))
        return
    console.print(_summary_line(summary) + ".", highlight=False, soft_wrap=True)
    table = Table(title="Hyperparameters that differ across the zoo")
    for column in ("hyperparameter", "type", "values", "models with it", "dims"):
        table.add_column(column, justify="right" if column in ("models with it", "dims") else "left")
    counts = frame.columns.map(rule.groups_).value_counts()
    hp = zoo_hyperparameters(entries)
    for key in rule.kept_:
        present = sum(not (isinstance(v, float) and math.isnan(v)) for v in hp[key])
        if rule.kinds_[key] == "numeric":
            lo, hi = rule.ranges_[key]
            values = f"{lo:g} .. {hi:g}"
        else:
            values = ", ".join(rule.levels_[key])
        table.add_row(key, rule.kinds_[key], values, f"{present}/{len(entries)}", str(counts[key]))
    console.print(table)


@zoo.command()
@kb_option
@click.option("--metric", required=True, help="Result metric the predictor learns (e.g. clip_fid).")
@click.option("--predictor", default="random_forest", show_default=True,
              help="M&C predictor to fit (paper Table 1 uses a random forest).")
@click.option("--top", default=10, show_default=True, type=click.IntRange(1), help="Rows before 'Remaining'.")
@click.option("--scope", type=click.Choice(["model", "all"]), default="model", show_default=True,
              help="Shares over the model features (as Table 1), or over every input (dataset features, "
              "edge embedding...).")
@click.option("--no-group", is_flag=True, help="Do not sum the one-hot columns of one hyperparameter.")
@click.option("--png", "png_out", type=click.Path(dir_okay=False), default=None, help="Save a bar chart (PNG).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0), help="random_state of M&C.")
def importance(kb_path, metric, predictor, top, scope, no_group, png_out, seed):
    """Fit M&C on every result of METRIC and report its feature importance (paper Table 1).

    Example: mnc zoo importance --kb zoo.sqlite --metric clip_fid --top 10 --png importance.png
    """
    from ..features import feature_importance, plot_importance
    from ..kb import KnowledgeBase
    from ..rank import MatchChoose

    with KnowledgeBase(resolve_kb_path(kb_path)) as store:
        records = store.records(metric)
    mc = MatchChoose(predictor=predictor, random_state=seed).fit(records)
    frame = feature_importance(mc, group=not no_group, scope=scope, top=top)
    table = Table(title=f"Feature importance: {predictor} on {metric} ({len(records.models)} models, "
                        f"{len(records.evaluated_datasets)} datasets)")
    for column in ("feature", "importance", "block", "input columns"):
        table.add_column(column, justify="right" if column in ("importance", "input columns") else "left")
    for row in frame.itertuples(index=False):
        table.add_row(row.feature, f"{100 * row.importance:.1f} %", row.block, str(row.columns))
    console.print(table)
    if png_out:
        Path(png_out).parent.mkdir(parents=True, exist_ok=True)
        plot_importance(frame, png_out, title=f"Feature importance ({predictor}, {metric})")
        console.print(f"wrote {png_out}", highlight=False)
