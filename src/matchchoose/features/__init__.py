"""Model features from pipeline configs (paper 4.2): parse, flatten, select and encode; size and cost.

Data flow::

    read_pipeline(folder | hf id) -> PipelineConfig        (_config: JSON files only, no torch)
    flatten_pipeline(config)       -> {hyperparameter: value} (_flatten: Table 1 style names)
    FeatureRule().fit_transform()  -> model x dimension floats (_rule: keep differing keys, one-hot, min-max)
    denoiser_params / pipeline_flops                         (_size: meta device, needs matchchoose[models])
    store_features(kb)             -> KnowledgeBase.model_features, read by kb.records(...)
    feature_importance(mc)         -> paper Table 1 analogue  (_importance)

The default zoo (the paper's 10 models and 9 more) ships with the package (:func:`default_zoo`).
torch and diffusers are imported only by the size and cost functions.

Examples
--------
>>> from matchchoose.features import default_zoo, zoo_features
>>> features, rule = zoo_features(default_zoo("paper"))
>>> rule.summary()["hyperparameters_kept"], features.shape
(78, (10, 167))
"""

from ._config import PipelineConfig, download_pipeline, read_json, read_pipeline, read_pipeline_dir
from ._flatten import FAMILIES, canonical_class, family_of, flatten_config, flatten_pipeline
from ._importance import feature_importance, importance_group, plot_importance
from ._kb import add_model, compute_size, hyperparameter_table, store_features, zoo_entries, zoo_features
from ._rule import FeatureRule
from ._zoo import PAPER_MODELS, SIZE_FEATURES, ZooEntry, default_zoo, default_zoo_dir, zoo_hyperparameters


def denoiser_params(config):
    """Denoiser parameters (state dict with buffers) on the meta device; see :mod:`._size`."""
    from ._size import denoiser_params as count

    return count(config)


def pipeline_flops(config, *, resolution="paper", steps=None):
    """FLOPs per generated image on the meta device (:class:`~._size.PipelineCost`); see :mod:`._size`."""
    from ._size import pipeline_flops as count

    return count(config, resolution=resolution, steps=steps)


__all__ = [
    "FAMILIES",
    "FeatureRule",
    "PAPER_MODELS",
    "PipelineConfig",
    "SIZE_FEATURES",
    "ZooEntry",
    "add_model",
    "canonical_class",
    "compute_size",
    "default_zoo",
    "default_zoo_dir",
    "denoiser_params",
    "download_pipeline",
    "family_of",
    "feature_importance",
    "flatten_config",
    "flatten_pipeline",
    "hyperparameter_table",
    "importance_group",
    "pipeline_flops",
    "plot_importance",
    "read_json",
    "read_pipeline",
    "read_pipeline_dir",
    "store_features",
    "zoo_entries",
    "zoo_features",
    "zoo_hyperparameters",
]
