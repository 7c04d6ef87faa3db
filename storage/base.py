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


class StoreError(SelfLengthenError):
    """A one-line error about stored data (unknown run, duplicate name, ...)."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def loads(text: str | None, default=None):
    return default if text in (None, "") else json.loads(text)


class Connection:
    """One SQLite connection, usable from several threads behind a lock."""

    def __init__(self, path: str | Path, timeout: float = 30.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=timeout, check_same_thread=False)
        self.db = Database(conn)
        self._lock = threading.RLock()
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            migrations.apply(self.db)

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
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def query(self, sql: str, params=()) -> list[dict]:
        with self._lock:
            return list(self.db.query(sql, params))

    def one(self, sql: str, params=()) -> dict | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        with self._lock:
            self.db.close()
