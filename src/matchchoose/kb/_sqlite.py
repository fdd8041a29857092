"""The SQLite file under a :class:`~matchchoose.kb.KnowledgeBase`: opening it, snapshots, cleaning up.

A writable file is switched to the WAL journal with a ``busy_timeout``, so concurrent processes
queue on the write lock instead of failing, and is migrated to the latest schema on opening; a
file nobody may write is read without writing to it or its folder. Reads run in one snapshot
transaction (:meth:`SQLiteFile._snapshot`); writes go through
:meth:`KnowledgeBase._transaction <matchchoose.kb.KnowledgeBase._transaction>`.
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

from .._errors import KnowledgeBaseError
from ._schema import check_not_newer, latest_version, migrate, read_version

__all__ = ["SQLiteFile"]

_MEMORY = ":memory:"


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


class SQLiteFile:
    """Connection methods of :class:`~matchchoose.kb.KnowledgeBase` (mixed in).

    The constructor sets ``path`` (a :class:`~pathlib.Path` or ``":memory:"``), ``timeout``, and
    ``_conn = None``.
    """

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
