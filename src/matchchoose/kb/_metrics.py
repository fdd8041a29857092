"""Metric directions: which way is better for each quality metric and prescore.

A result is only meaningful with its direction (accuracy: higher is better; FID: lower is better),
so the knowledge base refuses results whose metric it does not know. The built-in registry below
covers the metrics of the paper and of the transferability literature; any other metric must be
declared first (:meth:`KnowledgeBase.declare_metric`, ``mnc kb metric add``).

The ``metrics`` table of a knowledge base is seeded with :data:`BUILTIN_METRICS` when it is created;
a built-in added in a later release is written to the table the first time it is used.
"""

from __future__ import annotations

import sqlite3

import pandas as pd

from .._errors import InputError, KnowledgeBaseError
from ..records import Metric

__all__ = ["BUILTIN_METRICS", "MetricStore", "check_metric_name", "check_name", "declare_metric",
           "is_nonnegative_metric", "lookup_metric", "undeclared_metric_hint"]

#: name -> (higher_is_better, description)
BUILTIN_METRICS: dict[str, tuple[bool, str]] = {
    # Fine-tuning quality, higher is better.
    "accuracy": (True, "Classification accuracy after fine-tuning."),
    "top1": (True, "Top-1 accuracy after fine-tuning."),
    "top5": (True, "Top-5 accuracy after fine-tuning."),
    "eval_accuracy": (True, "Accuracy on the evaluation split (Hugging Face Trainer name)."),
    "f1": (True, "F1 score after fine-tuning."),
    "map": (True, "Mean average precision after fine-tuning."),
    "auc": (True, "Area under the ROC curve after fine-tuning."),
    # Generative quality and losses, lower is better.
    "fid": (False, "Frechet Inception Distance to the target images."),
    "clip_fid": (False, "Frechet distance in CLIP feature space (clean-fid 'clip_vit_b_32')."),
    "fd_dinov2": (False, "Frechet distance in DINOv2 feature space."),
    "kid": (False, "Kernel Inception Distance to the target images."),
    "cmmd": (False, "CLIP maximum mean discrepancy to the target images."),
    "loss": (False, "Training loss."),
    "eval_loss": (False, "Loss on the evaluation split (Hugging Face Trainer name)."),
    # Transferability prescores, computed before fine-tuning; higher is better.
    "logme": (True, "LogME transferability score."),
    "leep": (True, "LEEP transferability score."),
    "nleep": (True, "N-LEEP transferability score."),
    "hscore": (True, "H-score transferability score."),
    "reg_h_score": (True, "Regularised H-score transferability score."),
    "sfda": (True, "SFDA transferability score."),
}


def check_name(name: str) -> str | None:
    """Why ``name`` cannot name a model, dataset or metric (``None`` when it can).

    Control characters (a NUL byte, a newline, a tab...) are refused: they are invisible in
    listings, break the CLI's one-line output and are almost always a parsing accident.
    """
    bad = next((c for c in name if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        return (f"name {name!r} contains the control character {bad!r}: names must be printable text "
                "(check the file's quoting and line endings)")
    if name != name.strip():
        return f"name {name!r} starts or ends with white space"
    return None


#: Metrics that are distances (Fréchet): never negative. KID and CMMD are unbiased estimates that
#: can dip slightly below 0, so they are not listed.
_NONNEGATIVE_PREFIXES = ("fid_", "clip_fid", "fd_", "frechet")


def is_nonnegative_metric(name: str) -> bool:
    """Whether metric ``name`` is a Fréchet distance, whose values are never negative.

    Examples
    --------
    >>> is_nonnegative_metric("fd_dinov2"), is_nonnegative_metric("kid")
    (True, False)
    """
    name = name.lower()
    return name == "fid" or name.startswith(_NONNEGATIVE_PREFIXES)


def check_metric_name(name) -> str:
    """Return ``name`` stripped, or raise unless it is a non-empty string."""
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"A metric name must be a non-empty string. Got {name!r} instead.")
    return name.strip()


def undeclared_metric_hint(name: str) -> str:
    """The sentence that tells the user how to declare metric ``name``."""
    return (
        f"unknown metric {name!r}: its direction is not known. Declare it first with "
        f"'mnc kb metric add {name} --higher-is-better' (or --lower-is-better), "
        "or pass --higher-is-better/--lower-is-better to 'mnc kb import'"
    )


def lookup_metric(conn: sqlite3.Connection, name: str) -> Metric | None:
    """The metric ``name`` as declared in the knowledge base or built in; ``None`` when unknown.

    A built-in metric missing from the table (added in a later release) is written to it, so this
    must run inside a write transaction when it may meet one.
    """
    row = conn.execute("SELECT higher_is_better FROM metrics WHERE name = ?", (name,)).fetchone()
    if row is not None:
        return Metric(name, bool(row[0]))
    if name in BUILTIN_METRICS:
        higher, description = BUILTIN_METRICS[name]
        conn.execute(
            "INSERT INTO metrics (name, higher_is_better, description) VALUES (?, ?, ?)",
            (name, int(higher), description),
        )
        return Metric(name, higher)
    return None


def declare_metric(conn: sqlite3.Connection, name: str, higher_is_better: bool, description: str = "") -> bool:
    """Declare metric ``name`` with its direction; return ``True`` when it was new.

    Declaring a known metric again with the same direction is a no-op (a non-empty ``description``
    replaces the stored one). The direction of a known metric never changes: flipping it would
    silently invert every stored comparison, so that raises :class:`KnowledgeBaseError`.
    """
    name = check_metric_name(name)
    if not isinstance(higher_is_better, bool):
        raise InputError(f"The 'higher_is_better' parameter must be a bool. Got {higher_is_better!r} instead.")
    known = lookup_metric(conn, name)
    if known is None:
        conn.execute(
            "INSERT INTO metrics (name, higher_is_better, description) VALUES (?, ?, ?)",
            (name, int(higher_is_better), description or ""),
        )
        return True
    if known.higher_is_better != higher_is_better:
        stored = "higher-is-better" if known.higher_is_better else "lower-is-better"
        raise KnowledgeBaseError(
            f"Metric {name!r} is already declared {stored}; its direction cannot change "
            "(use a new metric name for the other orientation)."
        )
    if description:
        conn.execute("UPDATE metrics SET description = ? WHERE name = ?", (description, name))
    return False


class MetricStore:
    """Metric methods of :class:`~matchchoose.kb.KnowledgeBase` (mixed in)."""

    def declare_metric(self, name: str, higher_is_better: bool, description: str = "") -> bool:
        """Declare a metric and its direction; return ``True`` when it is new.

        Results and prescores can only be stored for declared (or built-in) metrics. Re-declaring
        with the same direction is a no-op; with the other direction it raises
        :class:`KnowledgeBaseError`.

        Examples
        --------
        >>> from matchchoose.kb import KnowledgeBase
        >>> KnowledgeBase(":memory:").declare_metric("bleu", higher_is_better=True)
        True
        """
        with self._transaction() as writer:
            return writer.declare_metric(name, higher_is_better, description)

    def metric(self, name: str) -> Metric:
        """The declared or built-in metric ``name``; :class:`KnowledgeBaseError` when unknown."""
        if not self._exists():
            known = BUILTIN_METRICS.get(name)
        else:
            with self._snapshot() as conn:
                row = conn.execute("SELECT higher_is_better FROM metrics WHERE name = ?", (name,)).fetchone()
            known = (bool(row[0]),) if row else BUILTIN_METRICS.get(name)
        if known is None:
            hint = undeclared_metric_hint(name)
            raise KnowledgeBaseError(f"{hint[0].upper()}{hint[1:]}.")
        return Metric(name, known[0])

    @property
    def default_metric(self) -> str | None:
        """The metric commands use when the knowledge base has results for several and none is named
        (``mnc choose`` without ``--metric``); ``None`` when unset."""
        if not self._exists():
            return None
        with self._snapshot() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'default_metric'").fetchone()
        return row[0] if row else None

    def set_default_metric(self, name: str) -> None:
        """Make ``name`` (a declared or built-in metric) the :attr:`default_metric`."""
        self.metric(name)  # raises when unknown
        with self._transaction() as writer:
            writer.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('default_metric', ?)", (name,))

    def metrics(self) -> pd.DataFrame:
        """Every declared metric: columns ``name, higher_is_better, description, results, prescores``.

        ``results`` and ``prescores`` count the stored rows of each kind.
        """
        with self._snapshot() as conn:
            rows = conn.execute(
                "SELECT m.name, m.higher_is_better, m.description,"
                " (SELECT count(*) FROM results r WHERE r.metric = m.name AND r.kind = 'result'),"
                " (SELECT count(*) FROM results r WHERE r.metric = m.name AND r.kind = 'prescore')"
                " FROM metrics m ORDER BY m.name"
            ).fetchall()
        frame = pd.DataFrame(rows, columns=["name", "higher_is_better", "description", "results", "prescores"])
        return frame.astype({"higher_is_better": bool, "results": int, "prescores": int})
