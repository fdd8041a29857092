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

from .._errors import InputError, KnowledgeBaseError
from ..records import Metric

__all__ = ["BUILTIN_METRICS", "check_metric_name", "check_name", "declare_metric", "is_nonnegative_metric",
           "lookup_metric", "undeclared_metric_hint"]

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
