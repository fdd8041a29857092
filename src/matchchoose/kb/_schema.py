"""Versioned schema of the knowledge base and the migrations that build it.

The schema version is the number of migrations applied, stored in ``meta`` under
``schema_version`` (0 for a brand-new file). :data:`MIGRATIONS` lists them in order: version ``n``
is reached by running ``MIGRATIONS[n - 1]``. To change the schema, append a function; never edit
one that has shipped. Pending migrations run in one ``BEGIN IMMEDIATE`` transaction, so a
knowledge base is either fully migrated or left as it was, even with several processes opening it
at once.

Tables (version 1)
------------------
meta              key, value (``schema_version``, ``created_at``)
metrics           name, higher_is_better (0/1), description
models            name, created_at
datasets          name, created_at
results           id, kind ('result' | 'prescore'), model, dataset, metric, value, provenance (JSON
                  object of the extra columns, text values), source (file), created_at, content_hash
                  (unique: re-importing the same rows inserts nothing)
distances         dataset_a < dataset_b (symmetric, stored once, no diagonal), metric, value,
                  source, created_at
model_features    model, feature, value_num | value_text (long format; both NULL = missing), updated_at
dataset_features  dataset, feature, value_num | value_text, updated_at

Tables (version 2)
------------------
model_configs     model, source (folder or ``hf://id``), config (JSON as Python writes it, so
                  ``-Infinity`` survives: ``model_index``, ``components``, ``missing``), size
                  (JSON: ``num_params``, ``tflop``, ``tflop_source``, ``hf_id``), parsed_at: the raw
                  pipeline configs of models added with ``mnc zoo add``
zoo_features      feature, hyperparameter, encoding ('min-max' | 'missing' | 'one-hot'), level, min, max,
                  updated_at: which ``model_features`` columns the zoo's feature rule wrote, so a
                  recomputation replaces exactly those (:mod:`matchchoose.features`)

Tables (version 3)
------------------
profiles          dataset, probe (probe key: name and weights), preprocess (named mode), content_hash
                  (of the dataset's images and captions), n, dim, mean (float64 bytes), cov (float64
                  bytes, dim x dim), embeddings (zlib-compressed float16 bytes, n x dim, or NULL),
                  probe_info (JSON), report (JSON: images found, used, skipped), source, created_at;
                  one profile per (dataset, probe, preprocess), found again by content hash
                  (:mod:`matchchoose.profile`)

Tables (version 4)
------------------
grid_cells        model, dataset, recipe (hash of the cell's recipe), state ('pending' | 'running' |
                  'done' | 'failed'), run_dir, error, attempts, owner (host:pid of the grid driver
                  that claimed it), result (JSON), updated_at: the cells of ``mnc grid``
                  (:mod:`matchchoose.grid`)

Tables (version 5)
------------------
results           gains ``fidelity`` (REAL, NULL allowed): the compute at which the score was
                  measured (training steps, or any measure where larger = more compute); NULL =
                  unknown, read as the target. Per (model, dataset) the largest fidelity is the
                  target; a row's content hash includes its fidelity only when it is not NULL, so
                  rows written before version 5 keep their hash. Rows at several fidelities form
                  a learning curve (:meth:`matchchoose.kb.KnowledgeBase.curves`).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from .._errors import KnowledgeBaseError
from ._metrics import BUILTIN_METRICS

__all__ = ["MIGRATIONS", "check_not_newer", "latest_version", "migrate", "read_version", "utcnow"]


def utcnow() -> str:
    """Current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


_FEATURES_TABLE = """CREATE TABLE {entity}_features (
    {entity} TEXT NOT NULL REFERENCES {entity}s (name),
    feature TEXT NOT NULL CHECK (length(feature) > 0),
    value_num REAL,
    value_text TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY ({entity}, feature),
    CHECK (value_num IS NULL OR value_text IS NULL)
)"""

_V1 = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE metrics (
        name TEXT PRIMARY KEY CHECK (length(name) > 0),
        higher_is_better INTEGER NOT NULL CHECK (higher_is_better IN (0, 1)),
        description TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE TABLE models (name TEXT PRIMARY KEY CHECK (length(name) > 0), created_at TEXT NOT NULL)",
    "CREATE TABLE datasets (name TEXT PRIMARY KEY CHECK (length(name) > 0), created_at TEXT NOT NULL)",
    """CREATE TABLE results (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('result', 'prescore')),
        model TEXT NOT NULL REFERENCES models (name),
        dataset TEXT NOT NULL REFERENCES datasets (name),
        metric TEXT NOT NULL REFERENCES metrics (name),
        value REAL NOT NULL,
        provenance TEXT NOT NULL DEFAULT '{}',
        source TEXT,
        created_at TEXT NOT NULL,
        content_hash TEXT NOT NULL UNIQUE
    )""",
    "CREATE INDEX results_by_metric ON results (kind, metric)",
    """CREATE TABLE distances (
        dataset_a TEXT NOT NULL REFERENCES datasets (name),
        dataset_b TEXT NOT NULL REFERENCES datasets (name),
        metric TEXT NOT NULL CHECK (length(metric) > 0),
        value REAL NOT NULL,
        source TEXT,
        created_at TEXT NOT NULL,
        PRIMARY KEY (dataset_a, dataset_b, metric),
        CHECK (dataset_a < dataset_b)
    )""",
    "CREATE INDEX distances_by_metric ON distances (metric)",
    _FEATURES_TABLE.format(entity="model"),
    _FEATURES_TABLE.format(entity="dataset"),
)


def _v1(conn: sqlite3.Connection) -> None:
    """Version 1: every table, and the built-in metrics."""
    # One statement at a time: executescript() would COMMIT the migration transaction.
    for statement in _V1:
        conn.execute(statement)
    conn.execute("INSERT INTO meta (key, value) VALUES ('created_at', ?)", (utcnow(),))
    conn.executemany(
        "INSERT INTO metrics (name, higher_is_better, description) VALUES (?, ?, ?)",
        [(name, int(higher), text) for name, (higher, text) in BUILTIN_METRICS.items()],
    )


_V2 = (
    """CREATE TABLE model_configs (
        model TEXT PRIMARY KEY REFERENCES models (name),
        source TEXT NOT NULL,
        config TEXT NOT NULL,
        size TEXT NOT NULL DEFAULT '{}',
        parsed_at TEXT NOT NULL
    )""",
    """CREATE TABLE zoo_features (
        feature TEXT PRIMARY KEY CHECK (length(feature) > 0),
        hyperparameter TEXT NOT NULL,
        encoding TEXT NOT NULL CHECK (encoding IN ('min-max', 'missing', 'one-hot')),
        level TEXT,
        min REAL,
        max REAL,
        updated_at TEXT NOT NULL
    )""",
)


def _v2(conn: sqlite3.Connection) -> None:
    """Version 2: raw pipeline configs of added models, and the zoo feature columns' description."""
    for statement in _V2:
        conn.execute(statement)


_V3 = (
    """CREATE TABLE profiles (
        dataset TEXT NOT NULL REFERENCES datasets (name),
        probe TEXT NOT NULL CHECK (length(probe) > 0),
        preprocess TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        n INTEGER NOT NULL CHECK (n > 0),
        dim INTEGER NOT NULL CHECK (dim > 0),
        mean BLOB NOT NULL,
        cov BLOB NOT NULL,
        embeddings BLOB,
        probe_info TEXT NOT NULL DEFAULT '{}',
        report TEXT NOT NULL DEFAULT '{}',
        source TEXT,
        created_at TEXT NOT NULL,
        PRIMARY KEY (dataset, probe, preprocess)
    )""",
    "CREATE INDEX profiles_by_content ON profiles (content_hash, probe, preprocess)",
)


def _v3(conn: sqlite3.Connection) -> None:
    """Version 3: dataset profiles (embedding statistics per dataset, probe and preprocessing)."""
    for statement in _V3:
        conn.execute(statement)


_V4 = (
    """CREATE TABLE grid_cells (
        model TEXT NOT NULL,
        dataset TEXT NOT NULL,
        recipe TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
        run_dir TEXT,
        error TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        owner TEXT,
        result TEXT NOT NULL DEFAULT '{}',
        updated_at TEXT NOT NULL,
        PRIMARY KEY (model, dataset, recipe)
    )""",
)


def _v4(conn: sqlite3.Connection) -> None:
    """Version 4: the cells of fine-tuning grids and their state."""
    for statement in _V4:
        conn.execute(statement)


def _v5(conn: sqlite3.Connection) -> None:
    """Version 5: the fidelity (compute) of each result, so results can hold learning curves."""
    conn.execute("ALTER TABLE results ADD COLUMN fidelity REAL CHECK (fidelity IS NULL OR fidelity >= 0)")


#: Migrations in order; ``MIGRATIONS[n - 1]`` brings a knowledge base from version ``n - 1`` to ``n``.
MIGRATIONS: list = [_v1, _v2, _v3, _v4, _v5]


def latest_version() -> int:
    """The schema version this release writes."""
    return len(MIGRATIONS)


def read_version(conn: sqlite3.Connection, where: str) -> int:
    """Schema version of the database behind ``conn`` (0 for an empty file).

    Raises
    ------
    KnowledgeBaseError
        If the file is an SQLite database of something else.
    """
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "meta" not in tables:
        if tables:
            raise KnowledgeBaseError(
                f"{where} is an SQLite database but not a matchchoose knowledge base (no 'meta' table)."
            )
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        raise KnowledgeBaseError(
            f"{where} has a 'meta' table without 'schema_version': not a matchchoose knowledge base."
        )
    try:
        version = int(row[0])
    except (TypeError, ValueError):
        version = -1
    if version < 1:  # 'meta' is made by the first migration: a stored version is at least 1
        raise KnowledgeBaseError(
            f"{where} has schema version {row[0]!r}, not a positive integer: the file is damaged; "
            "restore it from a backup or rebuild it with 'mnc kb import'."
        )
    return version


def check_not_newer(version: int, where: str) -> None:
    """Raise :class:`KnowledgeBaseError` when ``version`` is newer than this release writes."""
    if version > latest_version():
        raise KnowledgeBaseError(
            f"{where} has schema version {version}, newer than this matchchoose knows "
            f"(up to {latest_version()}): upgrade matchchoose to read it."
        )


def migrate(conn: sqlite3.Connection, where: str) -> int:
    """Bring the database behind ``conn`` to :func:`latest_version`; return the version reached.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Pending migrations and the
    version bump run in a single ``BEGIN IMMEDIATE`` transaction; any error rolls all of them back.

    Raises
    ------
    KnowledgeBaseError
        If the database was written by a newer release, or is not a knowledge base.
    """
    version = read_version(conn, where)
    check_not_newer(version, where)
    if version == latest_version():
        return version
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        # Another process may have migrated between our read and our lock.
        version = read_version(conn, where)
        check_not_newer(version, where)
        for migration in MIGRATIONS[version:]:
            migration(conn)
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(latest_version()),)
        )
    return latest_version()
