"""The connection: WAL mode, a busy timeout, migrations applied on open, JSON helpers."""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlite_utils import Database

from selflengthen.errors import SelfLengthenError
from storage.migrations import migrations

# Seconds a write waits for another process's write lock (a job writing its progress holds it for
# milliseconds; a long wait means a stuck or paused writer, worth a clear message).
BUSY_TIMEOUT = 30.0


class StoreError(SelfLengthenError):
    """A one-line error about stored data (unknown run, duplicate name, ...)."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# One encoder for every stored JSON value: json.dumps with options builds a new encoder per call, which
# counts when 100,000 samples are recorded at once.
_encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


def dumps(value) -> str:
    """A value as stored JSON: sorted keys, non-ASCII kept.

    >>> dumps({"b": 1, "a": "é"}), dumps({})
    ('{"a": "é", "b": 1}', '{}')
    """
    return "{}" if value == {} else _encode(value)


def loads(text: str | None, default=None):
    return default if text in (None, "") else json.loads(text)


def is_busy(error: sqlite3.OperationalError) -> bool:
    """True for SQLite's "another connection holds the lock" errors (SQLITE_BUSY / SQLITE_LOCKED).

    >>> is_busy(sqlite3.OperationalError("database is locked"))
    True
    >>> is_busy(sqlite3.OperationalError("no such table: runs"))
    False
    """
    message = str(error).lower()
    return "locked" in message or "busy" in message


class Connection:
    """One SQLite connection, usable from several threads behind a lock.

    A write waits up to `timeout` seconds for another process's write lock (SQLite's busy timeout), then
    fails with a one-line StoreError saying so; reads never wait for writers (WAL mode).
    """

    def __init__(self, path: str | Path, timeout: float | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout = BUSY_TIMEOUT if timeout is None else timeout
        conn = sqlite3.connect(str(self.path), timeout=self.timeout, check_same_thread=False)
        self.db = Database(conn)
        self._lock = threading.RLock()
        with self._lock, self.busy_as_store_error():  # a first open writes: WAL mode, the migrations
            # Larger pages for a new file (only an empty database takes it, so set before anything is
            # written): samples hold long texts, and 16 KiB pages record 100,000 of them ~20 % faster.
            self.db.execute("PRAGMA page_size=16384")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            migrations.apply(self.db)

    @contextmanager
    def busy_as_store_error(self):
        """Turn SQLite's "database is locked", raised once the busy timeout has passed, into a StoreError."""
        try:
            yield
        except sqlite3.OperationalError as e:
            if not is_busy(e):
                raise
            raise StoreError(f"the database {self.path} is busy: another process has held its write lock for "
                             f"{self.timeout:g} s; try again when it finishes") from None

    @contextmanager
    def transaction(self):
        """All writes inside are committed together or not at all.

        The outermost transaction starts with BEGIN IMMEDIATE: it takes the write lock up front, waiting
        up to the busy timeout for another process's writer. A deferred BEGIN that reads first would fail
        at once with "database is locked" when another process wrote in between. Nested ones are savepoints.
        """
        with self._lock:
            conn = self.db.conn
            if conn.in_transaction:
                with self.db.atomic():
                    yield self.db
                return
            with self.busy_as_store_error():
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self.db
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:  # a failed COMMIT too: never leave it open for the next caller
                        conn.execute("ROLLBACK")
                    raise

    def query(self, sql: str, params=()) -> list[dict]:
        with self._lock, self.busy_as_store_error():
            return list(self.db.query(sql, params))

    def one(self, sql: str, params=()) -> dict | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        with self._lock:
            self.db.close()
