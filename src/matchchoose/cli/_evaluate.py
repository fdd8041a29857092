"""``mnc evaluate``: leave-one-dataset-out evaluation of M&C against the baselines."""

from __future__ import annotations

from pathlib import Path

import click

from .._errors import InputError
from .._progress import ProgressBar
from ._common import (NamesOption, baseline_names, console, graph_learner_names, kb_option, predictor_names,
                      resolve_kb_path)


def _split_list(value):
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def _parse_sparsity(value):
    levels = []
    for item in _split_list(value) or ["0"]:
        try:
            level = float(item)
        except ValueError:
            raise InputError(f"--sparsity takes fractions in [0, 1) separated by commas. Got {item!r}.") from None
        if not 0.0 <= level < 1.0:
            raise InputError(f"--sparsity takes fractions in [0, 1). Got {level}.")
        levels.append(level)
    return sorted(set(levels))


def _profile_probe(kb, name):
    """The probe key whose profile means become dataset features: ``name`` ('none': no profile
    features), else the only probe profiled in ``kb`` (none when there are no profiles)."""
    from .._errors import InputError

    if name is not None and name.lower() == "none":
        return None
    keys = sorted(set(kb.profiles()["probe"]))
    if name is not None:
        matches = [k for k in keys if k == name or k.split("@")[0] == name]
        if len(matches) != 1:
            raise InputError(f"--profile-probe {name!r}: the knowledge base's profiles use {', '.join(keys) or 'none'}.")
        return matches[0]
    if len(keys) > 1:
        raise InputError(f"The knowledge base has profiles of several probes ({', '.join(keys)}): pick one with "
                         "--profile-probe (or 'none').")
    return keys[0] if keys else None


@click.command()
@kb_option(embedded=True)
@click.option("--metric", default=None,
              help="Result metric to rank by (e.g. accuracy, clip_fid); default: the only one with results, else "
                   "the knowledge base's default metric (as mnc choose).")
@click.option("--datasets", default=None, help="Comma-separated datasets to hold out (default: all with results).")
@click.option("--predictor", default="catboost", show_default=True, help="M&C rank predictor.", cls=NamesOption,
              names=predictor_names)
@click.option("--graph-learner", default="node2vec+", show_default=True, cls=NamesOption, names=graph_learner_names,
              help="M&C's node embedding of the matching graph (graphsage and gat need matchchoose[gnn]); also "
                   "used by the --predictors and --ablation variants.")
@click.option("--seeds", default=1, show_default=True, type=click.IntRange(1), help="Seeds 0..N-1: mean and std.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Write results as JSON.")
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False), default=None, help="Write the summary as CSV.")
@click.option("--aggregate", type=click.Choice(["auto", "best", "mean"]), default="auto", show_default=True,
              help="How repeated runs of a (model, dataset) pair are combined: auto is mean when the results name "
                   "their sampling seeds (repeated samplings of one fine-tuned model), else best.")
@click.option("--distance-metric", default=None, help="Dataset distance to use (needed when the KB has several).")
@click.option("--prescore-metric", default=None, help="Prescore for the Initial baseline (when the KB has several).")
@click.option("--profile-probe", default=None,
              help="Dataset features from the mean embeddings of this probe's profiles (as mnc choose uses them); "
                   "default: the one probe the KB's profiles use; 'none' for none.")
@click.option("--predictors", default=None, cls=NamesOption, names=predictor_names,
              help="Also evaluate M&C with these predictors (comma-separated, or 'all'): paper Table 7.")
@click.option("--ablation", is_flag=True, help="Also evaluate features-only and graph-only M&C: paper Table 4.")
@click.option("--sparsity", default=None,
              help="Comma-separated fractions of results dropped at random, e.g. 0,0.2,0.4: paper Fig. 6.")
@click.option("--baselines", default=None, help="Comma-separated baselines (default: all that apply).",
              cls=NamesOption, names=baseline_names)
@click.option("--train-embedding", type=click.Choice(["full", "holdout"]), default=None,
              help="Training rows' embeddings: with their own edges (full) or without (holdout).")
@click.option("--n-jobs", default=1, show_default=True, type=click.IntRange(1),
              help="Folds evaluated in parallel processes (results do not depend on it).")
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False), default=None,
              help="Save a PNG: per-method bars, or the sparsity curves when --sparsity has several levels "
                   "(with --budgeted also STEM-budgeted.png: found best and O2O against the budget).")
@click.option("--budgeted", is_flag=True,
              help="Also replay budgeted selection (race, subtune, prior_topk) on the KB's learning curves, with "
                   "a selector's leave-one-dataset-out predictions as the prior (results need a fidelity column).")
@click.option("--budgets", default="0.0625,0.125,0.25,0.5", show_default=True,
              help="With --budgeted: compute budgets as fractions of the exhaustive grid (n_models x target).")
@click.option("--budgeted-prior", type=click.Choice(["blend", "mnc"]), default="blend", show_default=True,
              help="With --budgeted: the method whose predictions are the prior (blend: the default selector, as "
                   "'mnc race' uses; mnc: Match & Choose).")
@click.option("--fidelity", default=None, type=click.FloatRange(0),
              help="Evaluate on the results at this fidelity (e.g. training steps) instead of each pair's target "
                   "(its largest fidelity).")
def evaluate(kb_path, metric, datasets, predictor, graph_learner, seeds, json_out, csv_out, aggregate, distance_metric,
             prescore_metric, profile_probe, predictors, ablation, sparsity, baselines, train_embedding, n_jobs,
             plot_out, fidelity, budgeted, budgets, budgeted_prior):
    """Leave-one-dataset-out evaluation of M&C and the baselines on a knowledge base.

    For each held-out dataset, its results leave the training set and the matching graph (its
    distance edges stay); every method ranks the zoo on it and is scored against the recorded truth:
    OSR, weighted Kendall tau, O2B, O2O, rel@1, rel@3, Pearson, Spearman.

    Example: mnc evaluate --kb kb.sqlite --metric accuracy --seeds 3 --json eval.json

    Example: mnc evaluate --kb kb.sqlite --graph-learner graphsage
    """
    from ..choose import resolve_metric
    from ..evaluate import default_methods, run_evaluation
    from ..graph import EMBEDDERS
    from ..kb import KnowledgeBase
    from ..rank import PREDICTORS
    from ._report import print_summary, save_plot, summary_frame

    with KnowledgeBase(resolve_kb_path(kb_path, embedded=True)) as kb:
        probe_key = _profile_probe(kb, profile_probe)
        metric = resolve_metric(kb, metric)
        aggregate = kb.resolve_aggregate(metric, aggregate)
        records = kb.records(metric, aggregate=aggregate, distance_metric=distance_metric,
                             prescore_metric=prescore_metric, profile_probe=probe_key, fidelity=fidelity)
    if predictor not in PREDICTORS:
        raise InputError(f"Unknown --predictor {predictor!r}: choose one of {sorted(PREDICTORS)}.")
    extra = _split_list(predictors) or []
    for name in extra:
        if name not in PREDICTORS and extra != ["all"]:
            raise InputError(f"Unknown predictor {name!r} in --predictors: choose from {sorted(PREDICTORS)}.")
    if graph_learner not in EMBEDDERS:
        raise InputError(f"Unknown --graph-learner {graph_learner!r}: choose one of {sorted(EMBEDDERS)}.")
    mnc_params = {"predictor": predictor}
    if graph_learner != "node2vec+":  # the default leaves the methods' parameters (and the JSON) as they were
        mnc_params["graph_learner"] = graph_learner
    if train_embedding:
        mnc_params["train_embedding"] = train_embedding
    methods = default_methods(records, mnc_params=mnc_params, predictors="all" if extra == ["all"] else extra,
                              ablation=ablation, baselines=_split_list(baselines))
    levels = _parse_sparsity(sparsity)
    if budgeted:
        from ._budgeted import check_budgeted

        with KnowledgeBase(resolve_kb_path(kb_path, embedded=True)) as kb:
            budget_fractions = check_budgeted(kb, records, budgets, fidelity)
        if budgeted_prior not in {m.name for m in methods}:
            raise InputError(f"--budgeted needs the {budgeted_prior!r} method's predictions, which this evaluation "
                             "lacks: keep it in --baselines or choose another --budgeted-prior.")

    label = "folds" if len(levels) == 1 else f"folds ({len(levels)} sparsity levels)"
    with ProgressBar(None, label, elapsed=True, transient=True) as bar:
        result = run_evaluation(records, methods, datasets=_split_list(datasets), seeds=range(seeds),
                                sparsity=levels, n_jobs=n_jobs, aggregate=aggregate, fidelity=fidelity,
                                progress=lambda done, total: bar.update(completed=done, total=total))

    for level in result.levels:
        title = f"Leave-one-dataset-out on {records.metric.name}" + (f", sparsity {level:.0%}" if level else "")
        print_summary(console, result.runs[level], title=title, seeds=seeds)
    if json_out:
        result.save(json_out)
        console.print(f"wrote {json_out}", highlight=False)
    if budgeted:
        from ._budgeted import add_to_json, print_budgeted, run_budgeted

        with KnowledgeBase(resolve_kb_path(kb_path, embedded=True)) as kb:
            budgeted_out = run_budgeted(kb, records, result, budgets=budget_fractions, aggregate=aggregate,
                                        fidelity=fidelity, prior_method=budgeted_prior)
        print_budgeted(console, budgeted_out)
        if json_out:
            add_to_json(json_out, budgeted_out)
        if plot_out:
            from ._budgeted import save_budgeted_plot

            where = Path(plot_out).with_name(f"{Path(plot_out).stem}-budgeted.png")
            save_budgeted_plot({f"{records.metric.name}, {len(records.models)} models": budgeted_out}, where)
            console.print(f"wrote {where}", highlight=False)
    if csv_out:
        frames = [summary_frame(result.runs[lv]).assign(sparsity=lv) for lv in result.levels]
        import pandas as pd

        Path(csv_out).parent.mkdir(parents=True, exist_ok=True)
        pd.concat(frames).to_csv(csv_out, index_label="method")
        console.print(f"wrote {csv_out}", highlight=False)
    if plot_out:
        save_plot(result.runs, plot_out, metric=records.metric.name)
        console.print(f"wrote {plot_out}", highlight=False)
