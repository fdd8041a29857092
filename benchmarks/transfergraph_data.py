"""TransferGraph's recorded image-classification zoo as matchchoose tidy tables.

Provenance. The CSVs under ``<shared>/data/transfergraph/image/`` come from TransferGraph
(github.com/TransferGraph/transfergraph @ 0458aff, ``resources/experiments/image_classification``;
see that folder's README). They carry **no licence**: this module reads them where they lie and
writes derived tables only to the ``--out`` directory you give it; never copy them into the repo.

Choices (each checked against the raw files; the numbers are those of the stored copy):

* ``results.csv``: one row per fine-tuning run of ``records.csv``, metric ``accuracy`` =
  ``eval_accuracy`` (30 epochs, SGD, lr 0.01). Every (model, dataset) pair has exactly one run, so
  aggregation ("best" or "mean") makes no difference here; rows are still kept per run. food101 is
  dropped (111 of its 112 runs are at chance). Nothing is NaN. Kept but flagged ``at_chance``: runs
  no better than the two random-weight test models (``lysandre/tiny-vit-random``,
  ``nateraw/test_model_a``) on that dataset, i.e. those two models everywhere plus
  ``microsoft/beit-base-patch16-224`` on svhn (0.1896 = majority class, a diverged run).
  ``train_loss``/``eval_loss`` (all NaN) and ``input_shape`` (a model property) are left out.
* ``models.csv``: metadata of ``model_config_dataset.csv`` for the 180 models with results. Dropped:
  ``memory_consumption`` (one value for all), ``task``/``finetuning_task``/``task_specific_params``
  (all NaN), ``problem_type`` (one value or NaN), ``labels`` (free text; it names the 67 "hfpics"
  source datasets). ``model_type`` is filled from the architecture where missing (one model).
* ``datasets.csv``: ``target_dataset_features.csv`` (its names match ``records.csv`` exactly).
  flowers is listed with 10 classes but is Oxford Flowers-102 (1020 = its train split; the random
  models score 1/306 and 3/306 on its 306 test images), so it is corrected to 102.
  smallnorb_label_elevation's 9 classes is right (9 elevations, 30-70 degrees; azimuth has 18),
  though its random-model accuracy (0.32) is well above 1/9.
* ``distances.csv``: ``corr_domain_similarity_google_vit_base_patch16_224_imagenet.csv`` is the
  Euclidean distance between mean google/vit-base-patch16-224 features of each dataset (TG
  ``GraphAttributes.get_dataset_edge_index``): zero diagonal, exactly symmetric, lower = more similar
  (caltech101-cifar100 5.6, cifar100-svhn 9.2, diabetic retinopathy ~11-12 from everything). All 12
  target names appear verbatim. Written in both directions, without the diagonal. Beware: 98% of
  the variance is a per-dataset offset (d_ij ~ a_i + a_j, R^2 0.98), so caltech101 is the nearest
  target of all 11 others; only after removing the offsets are the two smallnorb tasks (same
  images) mutual nearest neighbours.
* ``prescores.csv``: LogME (higher is better) from ``transferability_score_records.csv``. 60
  (model, dtd) pairs were scored twice with slightly different values: they are averaged. Two
  corrupt (truncated) lines are Reg-H rows and drop out with the metric filter. Models without
  results (4) are dropped.
* ``load_tg_predictions``: TG's own leave-one-dataset-out scores; they cover every model with a
  result except ``michaelbenayoun/vit-base-beans`` (whose config row lacks model_type and
  parameter count, presumably why TG left it out).

Reproduced with these tables (8 EVAL8 datasets, leave-one-dataset-out, mean weighted tau): Overall
(mean min-max accuracy on the 11 other datasets) 0.666, OSR 3/8 (0.633 with the 7 other EVAL8
datasets only); TG xgb+node2vec 0.644, OSR 1/8, equal per dataset to TG's ``w-kendall`` table;
LogME 0.321 (TG's 0.322 counts the 60 repeated dtd scores twice).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

EVAL8 = ["caltech101", "cifar100", "dtd", "flowers", "pets", "smallnorb_label_elevation", "stanfordcars", "svhn"]
ALL12 = sorted(EVAL8 + ["diabetic_retinopathy_detection", "eurosat", "kitti", "smallnorb_label_azimuth"])
BROKEN_DATASETS = ["food101"]
RANDOM_WEIGHT_MODELS = ["lysandre/tiny-vit-random", "nateraw/test_model_a"]
CLASS_COUNT_FIXES = {"flowers": 102}
TG_FILE = "results_1.0_128_0.csv"
_PROVENANCE = ["epochs", "batch_size", "lr", "train_slice", "val_slice", "test_slice", "train_runtime", "elapsed_time"]
_LOGME = "TransferabilityMethod.LOG_ME"


def image_dir(shared: Path) -> Path:
    """Folder of the TransferGraph image-classification CSVs under ``shared``."""
    path = Path(shared) / "data" / "transfergraph" / "image"
    if not (path / "records.csv").is_file():
        raise FileNotFoundError(f"No TransferGraph data at {path}: pass --shared <dir holding data/transfergraph>.")
    return path


def load_results(shared: Path) -> pd.DataFrame:
    """Fine-tuning runs as ``model, dataset, metric, value, at_chance, record_id`` + provenance."""
    raw = pd.read_csv(image_dir(shared) / "records.csv", index_col=0)
    raw = raw[~raw["finetuned_dataset"].isin(BROKEN_DATASETS)].dropna(subset=["eval_accuracy"])
    res = pd.DataFrame({"model": raw["model"], "dataset": raw["finetuned_dataset"], "metric": "accuracy",
                        "value": raw["eval_accuracy"].astype(float)})
    floor = res[res["model"].isin(RANDOM_WEIGHT_MODELS)].groupby("dataset")["value"].max()
    res["at_chance"] = res["value"] <= res["dataset"].map(floor).fillna(-np.inf) + 1e-9
    res["record_id"] = raw.index
    res = pd.concat([res, raw[_PROVENANCE]], axis=1)
    return res.sort_values(["dataset", "model"], kind="mergesort").reset_index(drop=True)


def load_model_features(shared: Path, models) -> pd.DataFrame:
    """Model metadata (``model`` column + features), restricted to ``models``."""
    cfg = pd.read_csv(image_dir(shared) / "model_config_dataset.csv")
    arch = cfg["architectures"].str.extract(r"'(\w+?)ForImageClassification(\w*)'")
    feats = pd.DataFrame({
        "model": cfg["model"],
        "architecture": arch[0] + arch[1],  # DeiT "WithTeacher" = distilled
        "model_type": cfg["model_type"].fillna(arch[0].str.lower()),
        "source_dataset": cfg["dataset"],
        "source_num_labels": cfg["#labels"],
        "source_accuracy": cfg["accuracy"],
        "input_size": cfg["input_shape"],
        "embedding_dim": cfg["output_shape"],
        "num_parameters": cfg["number_of_parameters"],
    })
    feats = feats[feats["model"].isin(set(models))]
    return feats.sort_values("model").reset_index(drop=True)


def load_dataset_features(shared: Path, datasets) -> pd.DataFrame:
    """``dataset, size, number_of_classes`` for ``datasets`` (class counts fixed, see module doc)."""
    df = pd.read_csv(image_dir(shared) / "target_dataset_features.csv").rename(columns={"finetune_dataset": "dataset"})
    df["number_of_classes"] = df["dataset"].map(CLASS_COUNT_FIXES).fillna(df["number_of_classes"]).astype(int)
    return df[df["dataset"].isin(set(datasets))].sort_values("dataset").reset_index(drop=True)


def load_distance_matrix(shared: Path) -> pd.DataFrame:
    """The full 69 x 69 ViT domain-similarity distance matrix (lower = more similar)."""
    path = image_dir(shared) / "corr_domain_similarity_google_vit_base_patch16_224_imagenet.csv"
    return pd.read_csv(path, index_col=0)


def load_distances(shared: Path, datasets) -> pd.DataFrame:
    """Long ``dataset_a, dataset_b, metric, value`` among ``datasets`` (both directions, no diagonal)."""
    mat = load_distance_matrix(shared)
    missing = sorted(set(datasets) - set(mat.index))
    if missing:
        raise KeyError(f"Datasets {missing} are not in the domain-similarity matrix.")
    ds = sorted(datasets)
    long = mat.loc[ds, ds].rename_axis(index="dataset_a", columns="dataset_b").stack().rename("value").reset_index()
    long = long[long["dataset_a"] != long["dataset_b"]]
    long.insert(2, "metric", "vit_domain_similarity")
    return long.reset_index(drop=True)


def load_prescores(shared: Path, models=None) -> tuple[pd.DataFrame, int]:
    """LogME prescores ``model, dataset, metric, value`` and the number of repeated scores averaged."""
    raw = pd.read_csv(image_dir(shared) / "transferability_score_records.csv", index_col=0)
    raw = raw[raw["metric"] == _LOGME].dropna(subset=["score"])
    pre = raw.groupby(["model", "target_dataset"], as_index=False)["score"].mean()
    n_repeats = len(raw) - len(pre)
    pre = pre.rename(columns={"target_dataset": "dataset", "score": "value"})
    pre.insert(2, "metric", "logme")
    if models is not None:
        pre = pre[pre["model"].isin(set(models))]
    return pre.reset_index(drop=True), n_repeats


def write_tidy_tables(shared: Path, out_dir: Path) -> dict[str, Path]:
    """Write results, models, datasets, distances and prescores CSVs to ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    repo = Path(__file__).resolve().parents[1]
    if out_dir.resolve().is_relative_to(repo):
        raise ValueError(f"Refusing to write unlicensed TransferGraph data inside the repository ({out_dir}).")
    out_dir.mkdir(parents=True, exist_ok=True)
    results = load_results(shared)
    models = sorted(results["model"].unique())
    datasets = sorted(results["dataset"].unique())
    tables = {
        "results": results,
        "models": load_model_features(shared, models),
        "datasets": load_dataset_features(shared, datasets),
        "distances": load_distances(shared, datasets),
        "prescores": load_prescores(shared, models)[0],
    }
    paths = {}
    for name, table in tables.items():
        paths[name] = out_dir / f"{name}.csv"
        table.to_csv(paths[name], index=False)
    return paths


def list_tg_methods(shared: Path) -> list[str]:
    """TransferGraph methods with a full-zoo leave-one-out prediction for every dataset of EVAL8."""
    root = image_dir(shared) / "rank_final"
    per_ds = [{p.parent.name for p in (root / ds).glob(f"*/{TG_FILE}")} for ds in EVAL8]
    return sorted(set.intersection(*per_ds))


def load_tg_predictions(
    shared: Path, method: str = "xgb_node2vec_all_normalize_without_transfer"
) -> dict[str, pd.Series]:
    """TransferGraph's predicted score of each model on each held-out dataset (index = model, higher = better)."""
    root = image_dir(shared) / "rank_final"
    if method not in list_tg_methods(shared):
        raise KeyError(f"Unknown TransferGraph method {method!r}; known: {list_tg_methods(shared)}.")
    preds = {}
    for ds in EVAL8:
        df = pd.read_csv(root / ds / method / TG_FILE, index_col=0)
        preds[ds] = df.set_index("model")["score"].astype(float).rename(ds).sort_index()
    return preds


def _summary(shared: Path, paths: dict[str, Path]) -> str:
    res = pd.read_csv(paths["results"])
    pairs = res.groupby(["model", "dataset"]).size()
    lines = [f"{name:9s} {len(pd.read_csv(p)):5d} rows -> {p}" for name, p in paths.items()]
    lines.append(f"results: {res['model'].nunique()} models x {res['dataset'].nunique()} datasets, "
                 f"{int((pairs > 1).sum())} pairs with repeated runs; dropped {BROKEN_DATASETS}")
    per_ds = res.groupby("dataset")["model"].nunique()
    lines.append("models per dataset: " + ", ".join(f"{d}={n}" for d, n in per_ds.items()))
    chance = res[res["at_chance"]]
    lines.append(f"at_chance runs (kept, flagged): {len(chance)}; not random-weight models: "
                 + ", ".join(f"{m}@{d}={v:.4f}" for m, d, v in
                             chance.loc[~chance["model"].isin(RANDOM_WEIGHT_MODELS), ["model", "dataset", "value"]]
                             .itertuples(index=False)))
    n_rep = load_prescores(shared)[1]
    lines.append(f"prescores: LogME, {n_rep} repeated scores averaged; class-count fixes {CLASS_COUNT_FIXES}")
    lines.append(f"TransferGraph methods: {len(list_tg_methods(shared))}")
    return "\n".join(lines)


def main(argv=None) -> None:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for the tidy CSVs (outside the repo)")
    parser.add_argument("--shared", type=Path, default=repo.parent / "shared",
                        help="folder holding data/transfergraph (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        paths = write_tidy_tables(args.shared, args.out)
    except (OSError, ValueError, KeyError) as err:
        raise SystemExit(f"error: {err}") from None
    print(_summary(args.shared, paths))


if __name__ == "__main__":
    main()
