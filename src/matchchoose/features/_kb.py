"""The zoo in a knowledge base: add models, recompute the features, store them for the engine.

The zoo a knowledge base sees is the default zoo (package data) plus every model added to it with
:func:`add_model` (stored in ``model_configs``; an added model with a default-zoo id replaces it).
:func:`store_features` fits the :class:`~matchchoose.features.FeatureRule` on that zoo and writes
the result into ``model_features`` (replacing the previous zoo columns), where
:meth:`KnowledgeBase.records <matchchoose.kb.KnowledgeBase.records>` gives them to the engine.
"""

from __future__ import annotations

import warnings

import pandas as pd

from .._errors import InputError, MissingDependencyError
from ._config import PipelineConfig, read_pipeline
from ._rule import FeatureRule
from ._zoo import PAPER_MODELS, ZooEntry, default_zoo, zoo_hyperparameters

__all__ = ["zoo_entries", "add_model", "compute_size", "zoo_features", "store_features"]


def _kb_entries(kb) -> list:
    if kb is None or not kb.exists():
        return []
    entries = []
    for name in kb.model_configs()["model"]:
        row = kb.model_config(name)
        size = row["size"] or {}
        config = PipelineConfig.from_json(name, row["source"], row["config"])
        entries.append(ZooEntry(name=name, config=config, hf_id=size.get("hf_id"), num_params=size.get("num_params"),
                                tflop=size.get("tflop"), tflop_source=size.get("tflop_source"), origin="kb",
                                reconstructed=False))
    return entries


def zoo_entries(kb=None, models=None) -> list:
    """The zoo: default entries, then the knowledge base's (same id: the knowledge base's wins).

    Parameters
    ----------
    kb : KnowledgeBase, optional
        Its added models join the zoo (a missing file adds none).
    models : list of str or "paper", optional
        Keep only these ids (``"paper"``: the paper's 10), in this order.
    """
    merged = {entry.name: entry for entry in default_zoo()}
    for entry in _kb_entries(kb):
        merged[entry.name] = entry
    if models is None:
        return list(merged.values())
    if isinstance(models, str):
        models = list(PAPER_MODELS) if models == "paper" else [m.strip() for m in models.split(",") if m.strip()]
    unknown = [m for m in models if m not in merged]
    if unknown:
        raise InputError(f"Model {unknown[0]!r} is not in the zoo; known: {', '.join(sorted(merged))} "
                         "(add one with 'mnc zoo add PATH|HF_ID').")
    return [merged[m] for m in models]


def compute_size(config: PipelineConfig) -> dict:
    """``{"num_params", "tflop", "tflop_source"}`` of a pipeline, counted on the meta device.

    A part that cannot be counted (unknown denoiser family for FLOPs) is ``None``; missing torch or
    diffusers raises :class:`~matchchoose.MissingDependencyError`.
    """
    from ._size import denoiser_params, pipeline_flops

    size = {"num_params": float(denoiser_params(config)), "tflop": None, "tflop_source": None}
    try:
        size["tflop"] = pipeline_flops(config).tflop
        size["tflop_source"] = "measured"
    except InputError as exc:
        warnings.warn(f"FLOPs of {config.name} not counted: {exc}", stacklevel=2)
    return size


def add_model(kb, source, *, name: str | None = None, size: bool = True, recompute: bool = True) -> ZooEntry:
    """Parse a pipeline (folder or Hugging Face id), store its config in ``kb``, refresh the features.

    Parameters
    ----------
    kb : KnowledgeBase
    source : str or Path
        A local diffusers folder, or a Hugging Face repo id (JSON configs only are downloaded).
    name : str, optional
        Zoo id; default: the folder name or ``owner--name``.
    size : bool, default=True
        Count parameters and FLOPs (needs ``matchchoose[models]``; without it a warning says so and
        the two features stay missing for this model).
    recompute : bool, default=True
        Recompute and store the whole zoo's features (:func:`store_features`).

    Returns
    -------
    ZooEntry
    """
    config = read_pipeline(source, name)
    if config.denoiser is None:
        warnings.warn(f"{config.source}: no unet/transformer/prior/decoder component; the model gets generic "
                      "features only.", stacklevel=2)
    measured = {"num_params": None, "tflop": None, "tflop_source": None}
    if size and config.denoiser is not None:
        try:
            measured = compute_size(config)
        except MissingDependencyError as exc:
            warnings.warn(f"Parameters and FLOPs of {config.name} not counted: {exc}", stacklevel=2)
        except InputError as exc:
            warnings.warn(f"Parameters and FLOPs of {config.name} not counted: {exc}", stacklevel=2)
    hf_id = config.source[len("hf://"):] if config.source.startswith("hf://") else None
    kb.add_model_config(config.name, config.to_json(), source=config.source, size={**measured, "hf_id": hf_id})
    if recompute:
        store_features(kb)
    return ZooEntry(name=config.name, config=config, hf_id=hf_id, num_params=measured["num_params"],
                    tflop=measured["tflop"], tflop_source=measured["tflop_source"], origin="kb")


def zoo_features(entries=None, rule: FeatureRule | None = None) -> tuple:
    """Fit the feature rule on a zoo and encode it: ``(features, rule)``.

    Parameters
    ----------
    entries : list of ZooEntry, optional
        Default: the default zoo (19 models).
    rule : FeatureRule, optional
        Unfitted rule to use (default ``FeatureRule()``).

    Returns
    -------
    features : DataFrame
        Index = model, one float column per encoded dimension.
    rule : FeatureRule
        Fitted; ``rule.summary()`` gives the hyperparameter and dimension counts.

    Examples
    --------
    >>> features, rule = zoo_features(default_zoo("paper"))
    >>> rule.summary()["hyperparameters_kept"], features.shape[0]
    (78, 10)
    """
    entries = default_zoo() if entries is None else list(entries)
    if not entries:
        raise InputError("zoo_features needs at least one model.")
    rule = FeatureRule() if rule is None else rule
    features = rule.fit_transform(zoo_hyperparameters(entries))
    return features, rule


def store_features(kb, models=None) -> dict:
    """Recompute the zoo's features (default zoo + ``kb``'s models, or ``models``) and store them.

    Returns the rule's summary plus what the write did (``values``, ``removed``).
    """
    entries = zoo_entries(kb, models)
    features, rule = zoo_features(entries)
    written = kb.replace_zoo_features(features, rule.describe(), source="matchchoose.features (mnc zoo)")
    return {**rule.summary(), "values": written["values"], "removed": written["removed"]}


def hyperparameter_table(entry: ZooEntry) -> pd.DataFrame:
    """One model's hyperparameters as a two-column frame (``hyperparameter, value``)."""
    items = entry.hyperparameters()
    return pd.DataFrame({"hyperparameter": list(items), "value": [items[k] for k in items]})
