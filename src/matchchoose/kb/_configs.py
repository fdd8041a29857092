"""Model configs and zoo features in the knowledge base (schema version 2).

``model_configs`` keeps the raw pipeline config of every model added with ``mnc zoo add`` (so the
zoo's features can be recomputed when the zoo changes, without the original files); ``zoo_features``
lists the ``model_features`` columns that the zoo's feature rule wrote, so a recomputation replaces
exactly those and leaves features imported by hand (``mnc kb import --kind models``) alone. The
:class:`~matchchoose.kb.KnowledgeBase` methods of the same names call these functions.
"""

from __future__ import annotations

import json
import math

import pandas as pd

from .._errors import InputError, KnowledgeBaseError

__all__ = ["ConfigStore", "add_model_config", "model_config", "model_configs", "replace_zoo_features",
           "zoo_feature_columns"]


def _dumps(value) -> str:
    # Python's JSON, not strict JSON: the real scheduler configs hold -Infinity.
    return json.dumps(value, sort_keys=True)


def add_model_config(kb, model: str, config: dict, *, source: str, size: dict | None = None) -> bool:
    """Store (or replace) ``model``'s raw pipeline config; ``True`` when the model had none."""
    if not isinstance(model, str) or not model.strip():
        raise InputError(f"A model config needs a non-empty model name. Got {model!r} instead.")
    if not isinstance(config, dict) or "model_index" not in config:
        raise InputError(f"The config of model {model!r} must be a dict with a 'model_index' entry "
                         "(PipelineConfig.to_json()).")
    with kb._transaction(source) as writer:
        writer.ensure("models", model)
        old = writer.conn.execute("SELECT 1 FROM model_configs WHERE model = ?", (model,)).fetchone()
        writer.conn.execute(
            "INSERT INTO model_configs (model, source, config, size, parsed_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (model) DO UPDATE SET source = excluded.source, config = excluded.config,"
            " size = excluded.size, parsed_at = excluded.parsed_at",
            (model, str(source), _dumps(config), _dumps(size or {}), writer.now),
        )
    return old is None


def model_config(kb, model: str) -> dict:
    """``{"model", "source", "config", "size", "parsed_at"}`` of one stored model config."""
    with kb._snapshot() as conn:
        row = conn.execute("SELECT model, source, config, size, parsed_at FROM model_configs WHERE model = ?",
                           (model,)).fetchone()
        known = [r[0] for r in conn.execute("SELECT model FROM model_configs ORDER BY model")]
    if row is None:
        listing = ", ".join(known) or "none (add one with 'mnc zoo add PATH')"
        raise KnowledgeBaseError(f"No config for model {model!r} in {kb.path}; models with configs: {listing}.")
    return {"model": row[0], "source": row[1], "config": json.loads(row[2]), "size": json.loads(row[3]),
            "parsed_at": row[4]}


def model_configs(kb) -> pd.DataFrame:
    """Stored model configs: columns ``model, source, parsed_at`` (sorted by model)."""
    with kb._snapshot() as conn:
        rows = conn.execute("SELECT model, source, parsed_at FROM model_configs ORDER BY model").fetchall()
    return pd.DataFrame(rows, columns=["model", "source", "parsed_at"])


def zoo_feature_columns(kb) -> pd.DataFrame:
    """The zoo feature columns last written: ``feature, hyperparameter, encoding, level, min, max``."""
    with kb._snapshot() as conn:
        rows = conn.execute("SELECT feature, hyperparameter, encoding, level, min, max FROM zoo_features"
                            " ORDER BY rowid").fetchall()
    return pd.DataFrame(rows, columns=["feature", "hyperparameter", "encoding", "level", "min", "max"])


def replace_zoo_features(kb, features: pd.DataFrame, description: pd.DataFrame, *, source: str) -> dict:
    """Replace the zoo's feature columns in ``model_features``, in one transaction.

    Every value of a column listed in ``zoo_features`` (the previous recomputation) or in
    ``features`` is deleted, then ``features`` (index = model, float columns) is stored through the
    same writer as ``import_table(kind="models")``, and ``description`` (rows of
    :meth:`FeatureRule.describe <matchchoose.features.FeatureRule.describe>`) becomes the new
    ``zoo_features``. Returns ``{"models", "features", "values", "removed"}``.
    """
    columns = [str(c) for c in features.columns]
    described = list(description["column"]) if len(description) else []
    if sorted(described) != sorted(columns):
        raise InputError("replace_zoo_features: 'description' must describe exactly the columns of 'features'.")
    values = features.to_numpy(dtype=float)
    if not all(math.isfinite(v) for v in values.ravel()):
        raise InputError("replace_zoo_features: zoo features must be finite numbers (the feature rule never "
                         "leaves NaN).")
    with kb._transaction(source) as writer:
        conn = writer.conn
        old = [row[0] for row in conn.execute("SELECT feature FROM zoo_features")]
        doomed = sorted(set(old) | set(columns))
        removed = 0
        for start in range(0, len(doomed), 500):
            chunk = doomed[start:start + 500]
            marks = ",".join("?" * len(chunk))
            removed += conn.execute(f"DELETE FROM model_features WHERE feature IN ({marks})", chunk).rowcount
        conn.execute("DELETE FROM zoo_features")
        for i, model in enumerate(features.index):
            writer.ensure("models", str(model))
            for j, column in enumerate(columns):
                writer.set_feature("model", str(model), column, float(values[i, j]))
        for row in description.itertuples(index=False):
            conn.execute(
                "INSERT INTO zoo_features (feature, hyperparameter, encoding, level, min, max, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row.column, row.hyperparameter, row.encoding, row.level,
                 None if pd.isna(row.min) else float(row.min), None if pd.isna(row.max) else float(row.max),
                 writer.now),
            )
    return {"models": len(features), "features": len(columns), "values": values.size, "removed": removed}


class ConfigStore:
    """Model-config methods of :class:`~matchchoose.kb.KnowledgeBase` (mixed in)."""

    def add_model_config(self, model: str, config: dict, *, source: str, size: dict | None = None) -> bool:
        """Store (or replace) a model's raw pipeline config; ``True`` when the model had none.

        ``config`` is :meth:`PipelineConfig.to_json() <matchchoose.features.PipelineConfig.to_json>`;
        ``size`` holds ``num_params``, ``tflop``, ``tflop_source`` when known. The model is created
        if needed. See :mod:`matchchoose.kb._configs`.

        Examples
        --------
        >>> from matchchoose.kb import KnowledgeBase
        >>> kb = KnowledgeBase(":memory:")
        >>> kb.add_model_config("toy", {"model_index": {"_class_name": "P"}}, source="here")
        True
        >>> kb.model_config("toy")["config"]["model_index"]
        {'_class_name': 'P'}
        """
        return add_model_config(self, model, config, source=source, size=size)

    def model_config(self, model: str) -> dict:
        """``{"model", "source", "config", "size", "parsed_at"}`` of a stored model config.

        Raises :class:`KnowledgeBaseError` (listing the models with configs) when there is none.
        """
        return model_config(self, model)

    def model_configs(self) -> pd.DataFrame:
        """Stored model configs: columns ``model, source, parsed_at``, sorted by model."""
        return model_configs(self)

    def zoo_feature_columns(self) -> pd.DataFrame:
        """The ``model_features`` columns the zoo's feature rule last wrote, with their encoding."""
        return zoo_feature_columns(self)

    def replace_zoo_features(self, features: pd.DataFrame, description: pd.DataFrame, *,
                             source: str = "matchchoose.features") -> dict:
        """Replace the zoo's feature columns in ``model_features`` in one transaction.

        Values of the columns written last time (``zoo_features``) are removed first, so a
        recomputation after the zoo changed leaves no stale column; features imported by hand are
        kept. See :func:`matchchoose.kb._configs.replace_zoo_features`.
        """
        return replace_zoo_features(self, features, description, source=source)
