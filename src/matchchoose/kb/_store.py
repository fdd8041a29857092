"""The :class:`KnowledgeBase`: an SQLite file of a model zoo's recorded fine-tuning results.

Writes go through :meth:`KnowledgeBase._transaction`, one ``BEGIN IMMEDIATE`` transaction each, so
a failed import leaves the file exactly as before and concurrent writers (several processes) queue
on the lock instead of failing (WAL journal, ``busy_timeout``). Reads run in one snapshot
transaction. What the selection engine needs comes out as a :class:`~matchchoose.ZooRecords`
(:meth:`KnowledgeBase.records`).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import InputError, KnowledgeBaseError
from .._validation import check_in
from ..records import Metric, ZooRecords
from . import _metrics
from ._grid import GridStore
from ._profiles import ProfileStore
from ._schema import check_not_newer, latest_version, migrate, read_version, utcnow

__all__ = ["KnowledgeBase", "default_kb_path"]

_MEMORY = ":memory:"
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


def _is_packaged(path: Path) -> bool:
    """Whether ``path`` is the embedded knowledge base shipped inside the package."""
    from ._embedded import embedded_kb_file

    shipped = embedded_kb_file()
    try:
        return shipped is not None and path.exists() and path.resolve() == shipped.resolve()
    except OSError:
        return False


def _enable_wal(conn: sqlite3.Connection) -> None:
    if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")


def _writable(path: Path) -> bool:
    """Whether SQLite can write ``path``: the file, and its folder (for the WAL and lock files)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _connect_read_only(path: Path, timeout: float) -> sqlite3.Connection:
    """A read-only connection that never writes to ``path`` or its folder.

    ``mode=ro`` reads a rollback-journal file, and a WAL file whose ``-shm`` SQLite may create; in
    a folder we cannot write, only ``immutable=1`` (no locking: fine for a file nobody can write).
    """
    uri = path.resolve().as_uri()
    for flags in ("mode=ro", "mode=ro&immutable=1"):
        conn = sqlite3.connect(f"{uri}?{flags}", uri=True, timeout=timeout, isolation_level=None)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:
            conn.close()
            if "immutable" in flags:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _retry_while_locked(step, timeout: float):
    """Run ``step()``; on "database is locked/busy" retry with a short back-off for ``timeout`` s."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            message = str(exc).lower()
            if ("locked" not in message and "busy" not in message) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


class KnowledgeBase(ProfileStore, GridStore):
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

    # ------------------------------------------------------------ connection
    def exists(self) -> bool:
        """Whether the knowledge base exists (its file; an in-memory one always does)."""
        return self._exists()

    def _exists(self) -> bool:
        return self.path == _MEMORY or self.path.exists()

    def _connect(self, *, create: bool) -> sqlite3.Connection:
        # A connection must not cross a fork: a child process opens its own.
        if self._conn is not None and (self._pid == os.getpid() or self.path == _MEMORY):
            return self._conn
        where = str(self.path)
        if not self._exists():
            if not create:
                raise KnowledgeBaseError(
                    f"No knowledge base at {where}: create one with 'mnc kb import FILE --kind results --kb {where}'."
                )
            self._make_parent()
        elif self.path != _MEMORY and self.path.is_dir():
            raise KnowledgeBaseError(f"Knowledge base {where} is a directory: give the path of a file (--kb).")
        read_only = self.path != _MEMORY and self.path.exists() and not _writable(self.path)
        conn = None
        try:
            if read_only:
                conn = _connect_read_only(self.path, self.timeout)
            else:
                conn = sqlite3.connect(where, timeout=self.timeout, isolation_level=None)
                conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            # Refuse a file that is not a knowledge base (or is one of a newer release) before
            # anything writes to it: switching to WAL would already change a foreign file.
            version = read_version(conn, where)
            check_not_newer(version, where)
            if read_only:
                if version != latest_version():
                    raise KnowledgeBaseError(
                        f"Knowledge base {where} is read-only and has schema version {version}, older than "
                        f"this matchchoose's {latest_version()}: make it writable once so it can be upgraded.")
            elif self.path != _MEMORY:
                # Switching to WAL needs a moment of exclusive access and, while other processes
                # create the same file, SQLite can answer "database is locked" at once without
                # calling the busy handler: retry until the timeout instead.
                _retry_while_locked(lambda: _enable_wal(conn), self.timeout)
            if not read_only:
                _retry_while_locked(lambda: migrate(conn, where), self.timeout)
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, sqlite3.Error):
                raise KnowledgeBaseError(f"Cannot open knowledge base {where}: {exc}.") from exc
            raise
        self._conn, self._pid, self._read_only = conn, os.getpid(), read_only
        return conn

    def _make_parent(self) -> None:
        """Create the missing folders above a new knowledge base file, remembering which."""
        missing = [parent for parent in self.path.parents if not parent.exists()]
        blocking = next((parent for parent in self.path.parents if parent.exists() and not parent.is_dir()), None)
        if blocking is not None:
            raise KnowledgeBaseError(f"Cannot create knowledge base {self.path}: {blocking} is a file, not a folder; "
                                     "choose another --kb path.")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise KnowledgeBaseError(f"Cannot create knowledge base {self.path}: {exc.strerror or exc} "
                                     f"({exc.filename or self.path.parent}); choose another --kb path.") from None
        self._created_dirs = sorted(missing, key=lambda p: len(p.parts), reverse=True)

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

    def _remove_if_empty(self) -> None:
        """Delete this (new) file when it holds nothing but the schema: no other process wrote to it."""
        conn = self._conn
        try:
            tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            holds = [t for t in tables if t not in ("meta", "metrics")]
            if any(conn.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone() for t in holds):
                return
        except sqlite3.Error:
            return
        self.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        for folder in getattr(self, "_created_dirs", ()):
            try:
                folder.rmdir()
            except OSError:
                break

    @contextmanager
    def _snapshot(self):
        """One read transaction: every query inside sees the same state of the file."""
        conn = self._connect(create=False)
        try:
            with conn:
                conn.execute("BEGIN")
                yield conn
        except sqlite3.Error as exc:
            raise KnowledgeBaseError(f"Knowledge base {self.path}: {exc}.") from exc

    # --------------------------------------------------------------- metrics
    @property
    def schema_version(self) -> int:
        """Schema version of the file (see :mod:`matchchoose.kb._schema`)."""
        with self._snapshot() as conn:
            return read_version(conn, str(self.path))

    def declare_metric(self, name: str, higher_is_better: bool, description: str = "") -> bool:
        """Declare a metric and its direction; return ``True`` when it is new.

        Results and prescores can only be stored for declared (or built-in) metrics. Re-declaring
        with the same direction is a no-op; with the other direction it raises
        :class:`KnowledgeBaseError`.

        Examples
        --------
        >>> KnowledgeBase(":memory:").declare_metric("bleu", higher_is_better=True)
        True
        """
        with self._transaction() as writer:
            return writer.declare_metric(name, higher_is_better, description)

    def metric(self, name: str) -> Metric:
        """The declared or built-in metric ``name``; :class:`KnowledgeBaseError` when unknown."""
        if not self._exists():
            known = _metrics.BUILTIN_METRICS.get(name)
        else:
            with self._snapshot() as conn:
                row = conn.execute("SELECT higher_is_better FROM metrics WHERE name = ?", (name,)).fetchone()
            known = (bool(row[0]),) if row else _metrics.BUILTIN_METRICS.get(name)
        if known is None:
            hint = _metrics.undeclared_metric_hint(name)
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

    # --------------------------------------------------------- model configs
    def add_model_config(self, model: str, config: dict, *, source: str, size: dict | None = None) -> bool:
        """Store (or replace) a model's raw pipeline config; ``True`` when the model had none.

        ``config`` is :meth:`PipelineConfig.to_json() <matchchoose.features.PipelineConfig.to_json>`;
        ``size`` holds ``num_params``, ``tflop``, ``tflop_source`` when known. The model is created
        if needed. See :mod:`matchchoose.kb._configs`.

        Examples
        --------
        >>> kb = KnowledgeBase(":memory:")
        >>> kb.add_model_config("toy", {"model_index": {"_class_name": "P"}}, source="here")
        True
        >>> kb.model_config("toy")["config"]["model_index"]
        {'_class_name': 'P'}
        """
        from ._configs import add_model_config

        return add_model_config(self, model, config, source=source, size=size)

    def model_config(self, model: str) -> dict:
        """``{"model", "source", "config", "size", "parsed_at"}`` of a stored model config.

        Raises :class:`KnowledgeBaseError` (listing the models with configs) when there is none.
        """
        from ._configs import model_config

        return model_config(self, model)

    def model_configs(self) -> pd.DataFrame:
        """Stored model configs: columns ``model, source, parsed_at``, sorted by model."""
        from ._configs import model_configs

        return model_configs(self)

    def zoo_feature_columns(self) -> pd.DataFrame:
        """The ``model_features`` columns the zoo's feature rule last wrote, with their encoding."""
        from ._configs import zoo_feature_columns

        return zoo_feature_columns(self)

    def replace_zoo_features(self, features: pd.DataFrame, description: pd.DataFrame, *,
                             source: str = "matchchoose.features") -> dict:
        """Replace the zoo's feature columns in ``model_features`` in one transaction.

        Values of the columns written last time (``zoo_features``) are removed first, so a
        recomputation after the zoo changed leaves no stale column; features imported by hand are
        kept. See :func:`matchchoose.kb._configs.replace_zoo_features`.
        """
        from ._configs import replace_zoo_features

        return replace_zoo_features(self, features, description, source=source)

    # --------------------------------------------------------------- records
    def records(self, metric: str, *, aggregate: str = "best", distance_metric: str | None = None,
                prescore_metric: str | None = None, models=None, datasets=None,
                profile_probe: str | None = None, fidelity: float | None = None) -> ZooRecords:
        """The tidy tables of one metric, for the selection engine.

        Parameters
        ----------
        metric : str
            Quality metric of the results (``"accuracy"``, ``"clip_fid"``).
        aggregate : {"best", "mean"}, default="best"
            How repeated runs of one (model, dataset) pair become one value: ``"best"`` keeps the
            best run in the metric's direction (max if higher is better, else min), ``"mean"``
            averages them.
        distance_metric : str, optional
            Dataset distance to include. ``None``: the only one stored, no distances if there are
            none, :class:`KnowledgeBaseError` if there are several.
        prescore_metric : str, optional
            Prescore to include (repeated runs averaged). ``None`` picks like ``distance_metric``.
        models, datasets : list of str, optional
            Restrict to these (each must be stored). Default models: those with a result for
            ``metric`` or a prescore; default datasets: those with a result, a prescore, a distance
            or features, so a target dataset known only by its features or distances is included.
        profile_probe : str, optional
            Probe key whose profiles' mean embeddings join the dataset features (paper 4.2), one
            column ``<probe>.<i>`` per dimension, NaN for datasets without such a profile. Profiled
            datasets count as having features.
        fidelity : float, optional
            Which results of a learning curve: ``None`` (default) the target, i.e. per dataset the
            rows at the largest fidelity any model reached on it (a pair whose curve stops short of
            it, such as a model a budgeted race dropped early, has no target result; rows without a
            fidelity are the target of a pair that has no numeric one); a number: the rows at
            exactly that fidelity (pairs without one are absent). Repeated rows at the chosen fidelity are combined by
            ``aggregate``. Prescores (zero-shot, compute 0) are always their pairs' target rows.

        Returns
        -------
        ZooRecords
            ``results`` has one row per (model, dataset) pair; features are float columns for
            numeric features and object columns for categorical ones; ``distances`` is square
            (n_datasets, n_datasets) with NaN where unknown.

        Raises
        ------
        KnowledgeBaseError
            Unknown metric (the message lists those available), unknown model or dataset, or
            several distance/prescore metrics and none chosen (among several prescore metrics,
            that of ``metric`` itself is chosen when stored), or no result at ``fidelity`` (the
            message lists the fidelities stored).
        """
        check_in("aggregate", aggregate, ("best", "mean"), owner="KnowledgeBase.records")
        fidelity = _check_fidelity(fidelity, "KnowledgeBase.records")
        with self._snapshot() as conn:
            quality = self._scored_metric(conn, "result", metric)
            distance = self._choose(conn, "distance", distance_metric)
            prescore = self._choose(conn, "prescore", prescore_metric, prefer=metric)
            if prescore is not None:
                prescore = self._scored_metric(conn, "prescore", prescore)
            models = self._check_names(conn, "models", models)
            datasets = self._check_names(conn, "datasets", datasets)
            results = self._scores(conn, "result", quality.name, models, datasets)
            results = self._at_fidelity(results, fidelity, quality.name)
            prescores = None if prescore is None else self._scores(conn, "prescore", prescore.name, models, datasets)
            prescores = None if prescores is None else self._at_fidelity(prescores, None, prescore.name)
            pairs = None
            if distance is not None:
                pairs = conn.execute(
                    "SELECT dataset_a, dataset_b, value FROM distances WHERE metric = ?", (distance,)).fetchall()
            if models is None:
                models = sorted(set(results["model"]) | set(() if prescores is None else prescores["model"]))
            if datasets is None:
                named = set(results["dataset"]) | set(() if prescores is None else prescores["dataset"])
                named |= {name for pair in pairs or () for name in pair[:2]}
                named |= {row[0] for row in conn.execute("SELECT DISTINCT dataset FROM dataset_features")}
                if profile_probe is not None:
                    named |= {row[0] for row in conn.execute(
                        "SELECT DISTINCT dataset FROM profiles WHERE probe = ?", (profile_probe,))}
                datasets = sorted(named)
            model_features = _feature_frame(conn, "model", models)
            dataset_features = _feature_frame(conn, "dataset", datasets)
        if profile_probe is not None:
            means = self.profile_means(profile_probe).reindex(dataset_features.index)
            dataset_features = pd.concat([dataset_features, means], axis=1)

        how = "mean" if aggregate == "mean" else ("max" if quality.higher_is_better else "min")
        results = _aggregate(results, how)
        if prescores is not None:
            prescores = _aggregate(prescores, "mean")
        return ZooRecords(
            results=results, metric=quality, models=models, datasets=datasets,
            model_features=model_features, dataset_features=dataset_features,
            distances=None if pairs is None else _square(pairs, datasets), distance_metric=distance,
            prescores=prescores, prescore_metric=prescore,
        )

    def content_hash(self, metric: str, *, aggregate: str = "best", distance_metric: str | None = None,
                     prescore_metric: str | None = None, models=None, datasets=None,
                     profile_probe: str | None = None, fidelity: float | None = None) -> str:
        """SHA-256 (hex) of everything :meth:`records` returns for these arguments.

        It does not depend on import order, file names or timestamps: use it to key caches of
        anything computed from the records.
        """
        records = self.records(metric, aggregate=aggregate, distance_metric=distance_metric,
                               prescore_metric=prescore_metric, models=models, datasets=datasets,
                               profile_probe=profile_probe, fidelity=fidelity)
        return _fingerprint(records)

    def curves(self, metric: str, *, aggregate: str = "mean", models=None, datasets=None,
               prescores: bool = False, per_row: bool = False) -> pd.DataFrame:
        """The learning curves of ``metric``: its results at every fidelity, as a tidy table.

        Parameters
        ----------
        metric : str
            Quality metric of the results.
        aggregate : {"mean", "best"}, default="mean"
            How repeated rows at one (model, dataset, fidelity) (e.g. several sampling seeds)
            become one value: their mean, or the best in the metric's direction.
        models, datasets : list of str, optional
            Restrict to these (each must be stored).
        prescores : bool, default=False
            Also include the prescores of ``metric`` (the pretrained model's score, compute 0) as
            rows at fidelity 0.
        per_row : bool, default=False
            Return every stored row instead of one per (model, dataset, fidelity).

        Returns
        -------
        pandas.DataFrame
            Sorted by model, dataset, fidelity (NaN, i.e. unknown, last). Default: columns
            ``model, dataset, fidelity, value, n_repeats``; with ``per_row``: ``model, dataset,
            fidelity, value, kind ('result' | 'prescore'), provenance (dict), source``.

        Examples
        --------
        >>> from matchchoose.kb import import_frame
        >>> kb = KnowledgeBase(":memory:")
        >>> runs = pd.DataFrame({"model": "a", "dataset": "x", "metric": "accuracy",
        ...                      "value": [0.5, 0.7, 0.9], "fidelity": [100, 200, 200], "seed": [0, 0, 1]})
        >>> _ = import_frame(kb, runs, "results")
        >>> kb.curves("accuracy")[["fidelity", "value", "n_repeats"]].values.tolist()
        [[100.0, 0.5, 1.0], [200.0, 0.8, 2.0]]
        """
        check_in("aggregate", aggregate, ("best", "mean"), owner="KnowledgeBase.curves")
        check_in("per_row", per_row, (True, False), owner="KnowledgeBase.curves")
        with self._snapshot() as conn:
            quality = self._scored_metric(conn, "result", metric)
            models = self._check_names(conn, "models", models)
            datasets = self._check_names(conn, "datasets", datasets)
            kinds = ("result", "prescore") if prescores else ("result",)
            rows = conn.execute(
                "SELECT model, dataset, CASE kind WHEN 'prescore' THEN 0.0 ELSE fidelity END, value, kind,"
                f" provenance, source FROM results WHERE metric = ? AND kind IN ({', '.join('?' * len(kinds))})"
                " ORDER BY id", (quality.name, *kinds)).fetchall()
        frame = pd.DataFrame(rows, columns=["model", "dataset", "fidelity", "value", "kind", "provenance", "source"])
        frame = frame.astype({"model": object, "dataset": object, "fidelity": float, "value": float})
        if models is not None:
            frame = frame[frame["model"].isin(models)]
        if datasets is not None:
            frame = frame[frame["dataset"].isin(datasets)]
        # Sorted by value too, so a mean does not depend on import order.
        frame = frame.sort_values(["model", "dataset", "fidelity", "value"], kind="mergesort", na_position="last")
        if per_row:
            frame = frame.assign(provenance=[json.loads(p) for p in frame["provenance"]])
            return frame.reset_index(drop=True)
        how = "mean" if aggregate == "mean" else ("max" if quality.higher_is_better else "min")
        grouped = frame.groupby(["model", "dataset", "fidelity"], sort=True, dropna=False)["value"]
        curves = grouped.agg([how, "count"]).reset_index().rename(columns={how: "value", "count": "n_repeats"})
        curves = curves.sort_values(["model", "dataset", "fidelity"], kind="mergesort", na_position="last")
        return curves.astype({"n_repeats": int}).reset_index(drop=True)

    # --------------------------------------------------------------- helpers
    def _scored_metric(self, conn, kind: str, name: str) -> Metric:
        """The metric ``name`` of stored rows of ``kind``; raises listing those available."""
        available = [row[0] for row in conn.execute(
            "SELECT DISTINCT metric FROM results WHERE kind = ? ORDER BY metric", (kind,))]
        if name not in available:
            listing = ", ".join(available) or f"none (import some with 'mnc kb import FILE --kind {kind}s')"
            raise KnowledgeBaseError(f"No {kind}s for metric {name!r} in {self.path}; metrics with {kind}s: {listing}.")
        row = conn.execute("SELECT higher_is_better FROM metrics WHERE name = ?", (name,)).fetchone()
        return Metric(name, bool(row[0]))

    def _choose(self, conn, what: str, name: str | None, prefer: str | None = None) -> str | None:
        """The distance or prescore metric to use: ``name``, or the only one stored, or (among
        several) ``prefer``: prescores of the result metric itself."""
        if what == "distance":
            sql = "SELECT DISTINCT metric FROM distances ORDER BY metric"
        else:
            sql = "SELECT DISTINCT metric FROM results WHERE kind = 'prescore' ORDER BY metric"
        available = [row[0] for row in conn.execute(sql)]
        if name is not None or len(available) <= 1:
            if name is not None and name not in available:
                raise KnowledgeBaseError(
                    f"No {what}s for metric {name!r} in {self.path}; {what} metrics stored: "
                    f"{', '.join(available) or 'none'}."
                )
            return name if name is not None else (available[0] if available else None)
        if prefer is not None and prefer in available:
            return prefer
        raise KnowledgeBaseError(
            f"{self.path} has several {what} metrics ({', '.join(available)}): choose one with "
            f"{what}_metric=... (--{what}-metric on the command line)."
        )

    def _check_names(self, conn, table: str, names):
        if names is None:
            return None
        names = sorted({str(name) for name in ([names] if isinstance(names, str) else names)})
        known = {row[0] for row in conn.execute(f"SELECT name FROM {table}")}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise KnowledgeBaseError(f"{table[:-1].capitalize()} {unknown[0]!r} is not in {self.path}.")
        return names

    @staticmethod
    def _scores(conn, kind: str, metric: str, models, datasets) -> pd.DataFrame:
        frame = pd.DataFrame(conn.execute(
            "SELECT model, dataset, value, fidelity FROM results WHERE kind = ? AND metric = ?", (kind, metric)
        ).fetchall(), columns=["model", "dataset", "value", "fidelity"])
        if models is not None:
            frame = frame[frame["model"].isin(models)]
        if datasets is not None:
            frame = frame[frame["dataset"].isin(datasets)]
        return frame.astype({"model": object, "dataset": object, "value": float, "fidelity": float})

    def _at_fidelity(self, scores: pd.DataFrame, fidelity: float | None, metric: str) -> pd.DataFrame:
        """``scores`` at ``fidelity``, or (``None``) at each dataset's target (see :meth:`records`)."""
        if fidelity is not None:
            chosen = scores[scores["fidelity"] == fidelity]
            if chosen.empty and not scores.empty:
                stored = sorted(set(scores["fidelity"].dropna()))
                listing = ", ".join(f"{f:g}" for f in stored) or "none (every row is at the target)"
                raise KnowledgeBaseError(f"No results for metric {metric!r} at fidelity {fidelity:g} in {self.path}; "
                                         f"fidelities stored: {listing}.")
        else:
            # The target of a dataset is the largest fidelity any model reached on it: a curve that stops
            # short of it (a model a budgeted race dropped early) has no target result there, rather
            # than an early score passed off as a final one. A pair's rows without a fidelity are its
            # target only when it has no numeric one.
            pair_top = scores.groupby(["model", "dataset"])["fidelity"].transform("max")
            dataset_top = scores.groupby("dataset")["fidelity"].transform("max")
            chosen = scores[(scores["fidelity"] == dataset_top) | pair_top.isna()]
        return chosen.drop(columns="fidelity")


def _check_fidelity(fidelity, owner: str) -> float | None:
    """``fidelity`` as a finite float >= 0, or ``None``; raises naming the parameter."""
    if fidelity is None:
        return None
    try:
        value = float(fidelity)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(fidelity, bool) or not np.isfinite(value) or value < 0:
        raise KnowledgeBaseError(f"The 'fidelity' parameter of {owner} must be a finite number >= 0 or None. "
                                 f"Got {fidelity!r} instead.")
    return value


def _fidelities(conn) -> dict:
    """metric -> sorted distinct fidelities of its results, for metrics that have any."""
    found: dict = {}
    for metric, fidelity in conn.execute(
        "SELECT DISTINCT metric, fidelity FROM results WHERE kind = 'result' AND fidelity IS NOT NULL"
        " ORDER BY metric, fidelity"
    ):
        found.setdefault(metric, []).append(float(fidelity))
    return found


def _aggregate(scores: pd.DataFrame, how: str) -> pd.DataFrame:
    """One value per (model, dataset); sorted first so a mean does not depend on import order."""
    scores = scores.sort_values(["model", "dataset", "value"], kind="mergesort")
    return scores.groupby(["model", "dataset"], as_index=False, sort=True)["value"].agg(how)


def _square(pairs, datasets) -> pd.DataFrame:
    """Square (n_datasets, n_datasets) distance matrix from canonical (a, b, value) pairs; NaN if unknown."""
    position = {name: i for i, name in enumerate(datasets)}
    values = np.full((len(datasets), len(datasets)), np.nan)
    for a, b, value in pairs:
        if a in position and b in position:
            values[position[a], position[b]] = values[position[b], position[a]] = value
    return pd.DataFrame(values, index=list(datasets), columns=list(datasets))


def _feature_frame(conn, entity: str, names) -> pd.DataFrame:
    """Features of ``names`` (index) as columns: float when every stored value is numeric, else object.

    Columns come in the order features were first stored; a categorical column shows stored
    numbers as text, missing values are NaN.
    """
    wanted = set(names)
    columns: dict[str, dict] = {}
    categorical = set()
    for name, feature, num, text in conn.execute(
        f"SELECT {entity}, feature, value_num, value_text FROM {entity}_features ORDER BY rowid"
    ):
        if name not in wanted:
            continue
        column = columns.setdefault(feature, {})
        if text is not None:
            categorical.add(feature)
            column[name] = text
        elif num is not None:
            column[name] = num
    index = pd.Index(list(names), name=entity, dtype=object)
    data = {}
    for feature, values in columns.items():
        if feature in categorical:
            cells = [_as_text(values[name]) if name in values else np.nan for name in index]
            data[feature] = pd.Series(cells, index=index, dtype=object)
        else:
            data[feature] = pd.Series([values.get(name, np.nan) for name in index], index=index, dtype=float)
    return pd.DataFrame(data, index=index)


def _as_text(value) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def _fingerprint(records: ZooRecords) -> str:
    """See :meth:`ZooRecords.content_hash`."""
    return records.content_hash()
