"""The :class:`KnowledgeBase`: an SQLite file of a model zoo's recorded fine-tuning results.

Writes go through :meth:`KnowledgeBase._transaction`, one ``BEGIN IMMEDIATE`` transaction each, as
a :class:`_Writer`, so a failed import leaves the file exactly as before and concurrent writers
(several processes) queue on the lock instead of failing (WAL journal, ``busy_timeout``). Reads run
in one snapshot transaction.

The class is put together from one mixin per kind of content, each in its own module: the SQLite
file (``_sqlite``), metrics (``_metrics``), records and curves (``_records``: what the selection
engine needs, as a :class:`~matchchoose.ZooRecords`), model configs (``_configs``), profiles and
distances (``_profiles``) and grid cells (``_grid``); this module keeps the constructor, the
writer and what spans every table (:meth:`KnowledgeBase.summary`,
:meth:`KnowledgeBase.remove_datasets`).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path

from .._errors import InputError, KnowledgeBaseError
from ..records import Metric
from . import _metrics
from ._configs import ConfigStore
from ._grid import GridStore
from ._metrics import MetricStore
from ._profiles import ProfileStore
from ._records import RecordsReader
from ._schema import read_version, utcnow
from ._sqlite import _MEMORY, SQLiteFile, _is_packaged

__all__ = ["KnowledgeBase", "default_kb_path"]

_ENTITY_TABLES = ("models", "datasets")


def default_kb_path(env: bool = True) -> Path:
    """Where the knowledge base lives when no path is given.

    ``$MNC_KB`` when set (and ``env`` is true), else ``$XDG_DATA_HOME/matchchoose/kb.sqlite``, with
    ``$XDG_DATA_HOME`` defaulting to ``~/.local/share``. Nothing is created here: the parent
    directory is made on the first write.

    Examples
    --------
    >>> default_kb_path(env=False).name
    'kb.sqlite'
    """
    if env and os.environ.get("MNC_KB"):
        return Path(os.environ["MNC_KB"]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME", "")
    # The XDG spec says to ignore a relative $XDG_DATA_HOME.
    base = Path(data_home) if os.path.isabs(data_home) else Path.home() / ".local" / "share"
    return base / "matchchoose" / "kb.sqlite"


def _result_hash(kind: str, model: str, dataset: str, metric: str, value: float, provenance: dict,
                 fidelity: float | None = None) -> str:
    """Content hash of one result row: the key that makes re-imports idempotent.

    The fidelity joins the hashed fields only when it is given, so a row without one hashes as it
    did before schema version 5 (re-importing an old file into a migrated knowledge base stores
    nothing twice), and one value at two fidelities is two rows.
    """
    fields = [kind, model, dataset, metric, repr(float(value)), provenance]
    if fidelity is not None:
        fields.append(repr(float(fidelity)))
    payload = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class _Writer:
    """Write access to a knowledge base for the length of one transaction.

    Counts what it changes (``new_models``, ``new_datasets``) so importers can report it.
    """

    def __init__(self, conn: sqlite3.Connection, source: str | None):
        self.conn = conn
        self.source = source
        self.now = utcnow()
        self.new_models = 0
        self.new_datasets = 0
        self._seen = {table: set() for table in _ENTITY_TABLES}
        self._metrics: dict[str, Metric | None] = {}

    def ensure(self, table: str, name: str) -> None:
        """Create model or dataset ``name`` unless it exists (``table`` is 'models' or 'datasets')."""
        if name in self._seen[table]:
            return
        bad = _metrics.check_name(name)
        if bad:
            raise InputError(f"{table[:-1].capitalize()} {bad}.")
        cur = self.conn.execute(f"INSERT OR IGNORE INTO {table} (name, created_at) VALUES (?, ?)", (name, self.now))
        if cur.rowcount:
            setattr(self, f"new_{table}", getattr(self, f"new_{table}") + 1)
        self._seen[table].add(name)

    def has_dataset(self, name: str) -> bool:
        """Whether dataset ``name`` is already known (from results, prescores, features or distances)."""
        if name in self._seen["datasets"]:
            return True
        return self.conn.execute("SELECT 1 FROM datasets WHERE name = ?", (name,)).fetchone() is not None

    def metric(self, name: str) -> Metric | None:
        """The metric ``name`` with its direction, or ``None`` when undeclared."""
        if name not in self._metrics:
            self._metrics[name] = _metrics.lookup_metric(self.conn, name)
        return self._metrics[name]

    def declare_metric(self, name: str, higher_is_better: bool, description: str = "") -> bool:
        """See :func:`matchchoose.kb._metrics.declare_metric`."""
        self._metrics.pop(name, None)
        return _metrics.declare_metric(self.conn, name, higher_is_better, description)

    def add_score(self, kind, model, dataset, metric, value, provenance, fidelity=None) -> bool:
        """Store one result or prescore (``fidelity``: its compute, ``None`` = unknown/target);
        ``False`` when an identical row is already stored."""
        self.ensure("models", model)
        self.ensure("datasets", dataset)
        fidelity = None if fidelity is None else float(fidelity)
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO results (kind, model, dataset, metric, value, provenance, source,"
            " created_at, content_hash, fidelity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (kind, model, dataset, metric, value, json.dumps(provenance, sort_keys=True), self.source,
             self.now, _result_hash(kind, model, dataset, metric, value, provenance, fidelity), fidelity),
        )
        return bool(cur.rowcount)

    def set_feature(self, entity: str, name: str, feature: str, value) -> str:
        """Upsert one feature value (float, str or ``None``); return 'inserted', 'updated' or 'skipped'."""
        table = f"{entity}_features"
        self.ensure(f"{entity}s", name)
        num = float(value) if isinstance(value, float) else None
        text = value if isinstance(value, str) else None
        old = self.conn.execute(
            f"SELECT value_num, value_text FROM {table} WHERE {entity} = ? AND feature = ?", (name, feature)
        ).fetchone()
        if old is not None and old[0] == num and old[1] == text:
            return "skipped"
        self.conn.execute(
            f"INSERT INTO {table} ({entity}, feature, value_num, value_text, updated_at) VALUES (?, ?, ?, ?, ?)"
            f" ON CONFLICT ({entity}, feature) DO UPDATE SET value_num = excluded.value_num,"
            " value_text = excluded.value_text, updated_at = excluded.updated_at",
            (name, feature, num, text, self.now),
        )
        return "inserted" if old is None else "updated"

    def set_distance(self, a: str, b: str, metric: str, value: float) -> str:
        """Upsert the distance between datasets ``a != b``; return 'inserted', 'updated' or 'skipped'."""
        a, b = sorted((a, b))
        self.ensure("datasets", a)
        self.ensure("datasets", b)
        old = self.conn.execute(
            "SELECT value FROM distances WHERE dataset_a = ? AND dataset_b = ? AND metric = ?", (a, b, metric)
        ).fetchone()
        if old is not None and old[0] == value:
            return "skipped"
        self.conn.execute(
            "INSERT INTO distances (dataset_a, dataset_b, metric, value, source, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (dataset_a, dataset_b, metric) DO UPDATE SET"
            " value = excluded.value, source = excluded.source, created_at = excluded.created_at",
            (a, b, metric, value, self.source, self.now),
        )
        return "inserted" if old is None else "updated"


class KnowledgeBase(SQLiteFile, MetricStore, RecordsReader, ConfigStore, ProfileStore, GridStore):
    """Recorded fine-tuning results of a model zoo, in one SQLite file.

    Parameters
    ----------
    path : str or Path, optional
        The SQLite file; ``":memory:"`` for a throw-away in-memory knowledge base. Default:
        :func:`default_kb_path`. A missing file is created (with its parent directory) on the first
        write; reading from a missing file raises :class:`KnowledgeBaseError`.
    timeout : float, default=30.0
        Seconds a writer waits for another process's write lock before giving up.

    Examples
    --------
    >>> import pandas as pd
    >>> from matchchoose.kb import KnowledgeBase, import_frame
    >>> kb = KnowledgeBase(":memory:")
    >>> frame = pd.DataFrame({"model": ["a", "b"], "dataset": ["x", "x"], "metric": "accuracy",
    ...                       "value": [0.9, 0.8]})
    >>> import_frame(kb, frame, "results").inserted
    2
    >>> kb.records("accuracy").utility_matrix().loc["x", "a"]
    0.9
    """

    def __init__(self, path=None, *, timeout: float = 30.0):
        path = default_kb_path() if path is None else path
        self.path = _MEMORY if os.fspath(path) == _MEMORY else Path(path)
        if self.path != _MEMORY and _is_packaged(self.path):
            # the shipped file is never written (opening it would migrate it and switch it to WAL):
            # its working copy answers instead, as with --kb :embedded:
            from ._embedded import embedded_kb

            self.path = embedded_kb()
        self.timeout = timeout
        self._conn: sqlite3.Connection | None = None
        self._pid = None

    def __repr__(self) -> str:
        return f"KnowledgeBase({str(self.path)!r})"

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (an in-memory knowledge base is then gone)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextmanager
    def _transaction(self, source: str | None = None):
        """One write transaction, as a :class:`_Writer`: all of it is stored, or none of it.

        When this is the first write to a file that did not exist, a failed transaction removes
        the file again (and the folders made for it): a refused import leaves no empty knowledge
        base behind.
        """
        new_file = self.path != _MEMORY and self._conn is None and not self.path.exists()
        conn = self._connect(create=True)
        if getattr(self, "_read_only", False):
            raise KnowledgeBaseError(f"Knowledge base {self.path} is read-only: make it (and its folder) writable, "
                                     "or work on a copy, to change it.")
        try:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                yield _Writer(conn, source)
        except sqlite3.Error as exc:
            if new_file:
                self._remove_if_empty()
            raise KnowledgeBaseError(f"Knowledge base {self.path}: {exc}.") from exc
        except BaseException:
            if new_file:
                self._remove_if_empty()
            raise

    # --------------------------------------------------------------- content
    def models(self) -> list[str]:
        """Every model stored, sorted."""
        with self._snapshot() as conn:
            return [row[0] for row in conn.execute("SELECT name FROM models ORDER BY name")]

    def datasets(self) -> list[str]:
        """Every dataset stored, sorted."""
        with self._snapshot() as conn:
            return [row[0] for row in conn.execute("SELECT name FROM datasets ORDER BY name")]

    def datasets_with_results(self, metric: str) -> list[str]:
        """The datasets with at least one recorded result of ``metric`` (prescores aside), sorted."""
        if not self._exists():
            return []
        with self._snapshot() as conn:
            return [row[0] for row in conn.execute(
                "SELECT DISTINCT dataset FROM results WHERE kind = 'result' AND metric = ? ORDER BY dataset",
                (metric,))]

    def remove_datasets(self, names, *, source: str | None = None) -> dict:
        """Delete datasets and everything recorded about them (results, prescores, features,
        distances, profiles, grid cells), in one transaction; return the rows deleted per table.

        Used to hold a dataset out of a knowledge base that is shipped or shared (e.g. the
        embedded default keeps its example domain out). Unknown names raise
        :class:`KnowledgeBaseError` and delete nothing.
        """
        names = [names] if isinstance(names, str) else list(names)
        with self._transaction(source) as writer:
            conn = writer.conn
            self._check_names(conn, "datasets", names)
            deleted = {}
            marks = ", ".join("?" * len(names))
            for table, where in (("results", f"dataset IN ({marks})"),
                                 ("dataset_features", f"dataset IN ({marks})"),
                                 ("distances", f"dataset_a IN ({marks}) OR dataset_b IN ({marks})"),
                                 ("profiles", f"dataset IN ({marks})"),
                                 ("grid_cells", f"dataset IN ({marks})"),
                                 ("datasets", f"name IN ({marks})")):
                args = names * where.count("IN (")
                deleted[table] = conn.execute(f"DELETE FROM {table} WHERE {where}", args).rowcount
        return deleted

    def summary(self) -> dict:
        """Counts per table and metric.

        Returns
        -------
        dict
            ``path``, ``schema_version``, ``models``, ``datasets`` (counts), ``results``,
            ``prescores``, ``distances`` (dicts metric -> row count), ``model_features``,
            ``dataset_features`` (number of distinct features), ``profiles`` (probe -> datasets
            profiled), ``grid_cells`` (state -> count), ``fidelities`` (metric -> sorted distinct
            fidelities of its results, for metrics with any).
        """
        with self._snapshot() as conn:
            count = lambda sql, *args: conn.execute(sql, args).fetchone()[0]  # noqa: E731
            per_metric = lambda sql, *args: dict(conn.execute(sql, args).fetchall())  # noqa: E731
            scores = "SELECT metric, count(*) FROM results WHERE kind = ? GROUP BY metric ORDER BY metric"
            return {
                "path": str(self.path),
                "schema_version": read_version(conn, str(self.path)),
                "models": count("SELECT count(*) FROM models"),
                "datasets": count("SELECT count(*) FROM datasets"),
                "results": per_metric(scores, "result"),
                "prescores": per_metric(scores, "prescore"),
                "distances": per_metric("SELECT metric, count(*) FROM distances GROUP BY metric ORDER BY metric"),
                "model_features": count("SELECT count(DISTINCT feature) FROM model_features"),
                "dataset_features": count("SELECT count(DISTINCT feature) FROM dataset_features"),
                "profiles": per_metric("SELECT probe, count(*) FROM profiles GROUP BY probe ORDER BY probe"),
                "grid_cells": per_metric("SELECT state, count(*) FROM grid_cells GROUP BY state ORDER BY state"),
                "fidelities": _fidelities(conn),
            }


def _fidelities(conn) -> dict:
    """metric -> sorted distinct fidelities of its results, for metrics that have any."""
    found: dict = {}
    for metric, fidelity in conn.execute(
        "SELECT DISTINCT metric, fidelity FROM results WHERE kind = 'result' AND fidelity IS NOT NULL"
        " ORDER BY metric, fidelity"
    ):
        found.setdefault(metric, []).append(float(fidelity))
    return found
