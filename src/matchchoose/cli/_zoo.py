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

from ._common import console, console_err, kb_option, resolve_kb_path
from ._table import Col, print_table

__all__ = ["zoo"]

_MODELS = click.option("--models", default=None,
                       help="Comma-separated zoo ids, or 'paper' for the paper's 10 (default: the whole zoo).")


def _kb(kb_path, *, create: bool = False):
    from ..kb import KnowledgeBase

    path = resolve_kb_path(kb_path)
    store = KnowledgeBase(path)
    return store if create or store.exists() else None


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
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per model) instead of a table.")
def list_(kb_path, as_json):
    """List the zoo's models: family, denoiser, parameters, TFLOP per image, provenance.

    Example: mnc zoo list --kb zoo.sqlite
    """
    from ..features import zoo_entries

    entries = zoo_entries(_kb(kb_path))
    if as_json:
        click.echo(json.dumps([_entry_dict(e) for e in entries], indent=1, sort_keys=True))
        return
    columns = [Col("id", style="bold"), Col("family"), Col("denoiser", drop=3), Col("params (B)", "right"),
               Col("TFLOP", "right"), Col("TFLOP from", drop=2), Col("Hugging Face id", drop=1),
               Col("origin", drop=4), Col("notes", exact=False, drop=5)]
    rows = []
    for e in entries:
        d = _entry_dict(e)
        notes = [n for n, flag in (("paper", e.in_paper), ("recon.", e.reconstructed)) if flag]
        rows.append([e.name, e.family, d["denoiser"] or "", _billions(e.num_params), _number(e.tflop),
                     e.tflop_source or "", e.hf_id or "", e.origin, ", ".join(notes)])
    print_table(console, f"Model zoo ({len(entries)} models)", columns, rows, hint="mnc zoo list --json")


def _entry_dict(e) -> dict:
    """One zoo entry as JSON: full ids and unrounded numbers."""
    def num(value):
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else value

    return {"id": e.name, "family": e.family,
            "denoiser": (e.config.component_class(e.config.denoiser) if e.config.denoiser else None) or None,
            "num_params": num(e.num_params), "tflop": num(e.tflop), "tflop_source": e.tflop_source,
            "hf_id": e.hf_id, "origin": e.origin, "in_paper": bool(e.in_paper), "reconstructed": bool(e.reconstructed)}


@zoo.command()
@click.argument("model_id")
@click.option("--raw", is_flag=True, help="Print the stored configs (JSON) instead of the hyperparameters.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON (the model's facts, config sources and hyperparameters) instead of tables.")
@kb_option
def show(model_id, raw, as_json, kb_path):
    """Show one model: provenance, size and its flattened hyperparameters.

    Example: mnc zoo show sdxl-base
    """
    from ..features import hyperparameter_table, zoo_entries

    (entry,) = zoo_entries(_kb(kb_path), [model_id])
    if raw:
        click.echo(json.dumps(entry.config.to_json(), indent=2, sort_keys=True))
        return
    frame = hyperparameter_table(entry)
    if as_json:
        payload = {**_entry_dict(entry), "paper_name": entry.paper_name,
                   "pipeline_class": entry.config.pipeline_class, "source": entry.config.source,
                   "table2": entry.table2, "sources": entry.sources,
                   "hyperparameters": dict(zip(frame["hyperparameter"], frame["value"]))}
        click.echo(json.dumps(payload, indent=1, sort_keys=True, default=str))
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
    hint = f"mnc zoo show {entry.name} --json"
    if entry.sources:
        rows = [[s["file"], s["kind"], s.get("confidence", ""), s.get("origin", "")] for s in entry.sources]
        print_table(console, "Config files and their sources",
                    [Col("file"), Col("kind"), Col("confidence", drop=1), Col("from", exact=False, drop=2)], rows,
                    hint=hint)
    rows = [[key, "null" if value is None else str(value)]
            for key, value in zip(frame["hyperparameter"], frame["value"])]
    print_table(console, f"{len(frame)} hyperparameters", [Col("hyperparameter"), Col("value", exact=False)], rows,
                hint=hint)


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
    rows = []
    counts = frame.columns.map(rule.groups_).value_counts()
    hp = zoo_hyperparameters(entries)
    for key in rule.kept_:
        present = sum(not (isinstance(v, float) and math.isnan(v)) for v in hp[key])
        if rule.kinds_[key] == "numeric":
            lo, hi = rule.ranges_[key]
            values = f"{lo:g} .. {hi:g}"
        else:
            values = ", ".join(rule.levels_[key])
        rows.append([key, rule.kinds_[key], values, f"{present}/{len(entries)}", counts[key]])
    print_table(console, "Hyperparameters that differ across the zoo",
                [Col("hyperparameter"), Col("type", drop=2), Col("values", exact=False),
                 Col("models with it", "right", drop=1), Col("dims", "right", drop=3)], rows, hint="mnc zoo features --json")


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
    rows = [[row.feature, f"{100 * row.importance:.1f} %", row.block, row.columns]
            for row in frame.itertuples(index=False)]
    print_table(console, f"Feature importance: {predictor} on {metric} ({len(records.models)} models, "
                         f"{len(records.evaluated_datasets)} datasets)",
                [Col("feature"), Col("importance", "right"), Col("block", drop=1), Col("input columns", "right")],
                rows, hint="--png")
    if png_out:
        Path(png_out).parent.mkdir(parents=True, exist_ok=True)
        plot_importance(frame, png_out, title=f"Feature importance ({predictor}, {metric})")
        console.print(f"wrote {png_out}", highlight=False)
