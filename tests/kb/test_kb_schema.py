"""Schema versioning, migrations, connection settings and the default path."""

from __future__ import annotations

import sqlite3

import pytest

from matchchoose import KnowledgeBaseError
from matchchoose.kb import KnowledgeBase, _schema, default_kb_path, latest_version


def _tables(path) -> set:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _version(path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]


def test_new_file_gets_latest_schema_on_first_write(tmp_path):
    path = tmp_path / "deep" / "dir" / "kb.sqlite"
    kb = KnowledgeBase(path)
    assert not path.exists()
    kb.declare_metric("bleu", higher_is_better=True)
    kb.close()
    assert path.exists()
    assert {"meta", "metrics", "models", "datasets", "results", "distances", "model_features",
            "dataset_features"} <= _tables(path)
    assert _version(path) == str(latest_version())
    assert KnowledgeBase(path).schema_version == latest_version()


def test_connection_settings(tmp_path):
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    kb.declare_metric("bleu", True)
    conn = kb._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30000


def test_builtin_metrics_seeded(kb):
    metrics = kb.metrics().set_index("name")["higher_is_better"]
    assert metrics["accuracy"] and metrics["logme"] and not metrics["clip_fid"] and not metrics["eval_loss"]


def test_reading_a_missing_file_raises_and_creates_nothing(tmp_path):
    path = tmp_path / "nope" / "kb.sqlite"
    with pytest.raises(KnowledgeBaseError, match="No knowledge base at .*kb.sqlite.*mnc kb import"):
        KnowledgeBase(path).summary()
    assert not path.parent.exists()


def test_pending_migrations_run_in_order(tmp_path, monkeypatch):
    path = tmp_path / "kb.sqlite"
    KnowledgeBase(path).declare_metric("bleu", True)
    base = latest_version()
    assert _version(path) == str(base)

    def v2(conn):
        conn.execute("ALTER TABLE models ADD COLUMN family TEXT")

    monkeypatch.setattr(_schema, "MIGRATIONS", [*_schema.MIGRATIONS, v2])
    kb = KnowledgeBase(path)
    assert kb.schema_version == base + 1
    assert _version(path) == str(base + 1)
    with sqlite3.connect(path) as conn:
        assert "family" in [row[1] for row in conn.execute("PRAGMA table_info(models)")]
    assert kb.metric("bleu").higher_is_better  # data survived


def test_failing_migration_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "kb.sqlite"
    KnowledgeBase(path).declare_metric("bleu", True)
    base = latest_version()

    def v2(conn):
        conn.execute("ALTER TABLE models ADD COLUMN family TEXT")

    def v3(conn):
        raise sqlite3.OperationalError("boom")

    monkeypatch.setattr(_schema, "MIGRATIONS", [*_schema.MIGRATIONS, v2, v3])
    with pytest.raises(KnowledgeBaseError, match="boom"):
        KnowledgeBase(path).summary()
    assert _version(path) == str(base)
    with sqlite3.connect(path) as conn:
        assert "family" not in [row[1] for row in conn.execute("PRAGMA table_info(models)")]


def test_newer_schema_raises(tmp_path):
    path = tmp_path / "kb.sqlite"
    KnowledgeBase(path).declare_metric("bleu", True)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    expected = rf"schema version 99, newer .*\(up to {latest_version()}\): upgrade matchchoose"
    with pytest.raises(KnowledgeBaseError, match=expected):
        KnowledgeBase(path).summary()


def test_other_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(KnowledgeBaseError, match="not a matchchoose knowledge base"):
        KnowledgeBase(path).summary()


def test_non_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "kb.sqlite"
    path.write_text("hello, I am not a database" * 100)
    with pytest.raises(KnowledgeBaseError, match="Cannot open knowledge base .*kb.sqlite"):
        KnowledgeBase(path).summary()


def test_default_kb_path(monkeypatch, tmp_path):
    monkeypatch.setenv("MNC_KB", str(tmp_path / "env.sqlite"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_kb_path() == tmp_path / "env.sqlite"
    assert default_kb_path(env=False) == tmp_path / "xdg" / "matchchoose" / "kb.sqlite"
    monkeypatch.delenv("MNC_KB")
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_kb_path() == tmp_path / "home" / ".local" / "share" / "matchchoose" / "kb.sqlite"


def test_default_path_used_when_none_given(monkeypatch, tmp_path):
    monkeypatch.setenv("MNC_KB", str(tmp_path / "env.sqlite"))
    assert KnowledgeBase().path == tmp_path / "env.sqlite"
