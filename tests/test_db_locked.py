"""A database whose write lock another process holds: a write waits and goes through when the lock is freed in
time, else fails with one line (from the library and from the CLI); reads never wait (WAL mode)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest

from selflengthen.cli import main
from selflengthen.config import preset_config
from storage import Store, StoreError

SEEDS = [{"text": "Write about the sea.", "language": "en"}]
# A second process: takes the write lock, writes a run it has not committed, says so, then holds the lock
# for argv[2] seconds (or until killed) before committing.
HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE runs SET name = 'renamed by the other writer'")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def new_run(store: Store, name: str) -> dict:
    config = preset_config("demo")
    return store.create_run(name, "m", "m", "transformers", "demo", config.to_dict(), SEEDS)


@pytest.fixture
def db(tmp_path):
    """A database holding run 'r', closed again: each test opens the Store it needs."""
    path = tmp_path / "studio.db"
    store = Store(path)
    new_run(store, "r")
    store.close()
    return path


@contextmanager
def write_lock_held(path, seconds: float):
    """Another process holding the database's write lock for `seconds` (killed on exit if still holding it)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait(timeout=10)
        holder.stdout.close()


def test_a_write_waits_for_a_lock_released_within_the_timeout(db):
    store = Store(db, timeout=10)
    with write_lock_held(db, 0.6) as holder:
        start = time.monotonic()
        new_run(store, "second")
        waited = time.monotonic() - start
        assert holder.wait(timeout=10) == 0
    assert 0.3 < waited < 10  # it waited for the other writer, then went through
    assert sorted(r["name"] for r in store.list_runs()) == ["renamed by the other writer", "second"]


def test_a_lock_held_past_the_timeout_is_a_one_line_store_error(db):
    store = Store(db, timeout=0.5)
    with write_lock_held(db, 60):
        start = time.monotonic()
        with pytest.raises(StoreError) as refused:
            new_run(store, "second")
        assert 0.4 < time.monotonic() - start < 5
        with pytest.raises(StoreError, match="is busy"):
            store.log_job(1, "a job's log line is a write too")
    assert str(refused.value) == (f"the database {db} is busy: another process has held its write lock for 0.5 s; "
                                  "try again when it finishes")
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    new_run(store, "second")  # the failed write left no transaction open: the next one goes through
    assert sorted(r["name"] for r in store.list_runs()) == ["r", "second"]


def test_reads_do_not_wait_for_a_writer(db):
    store = Store(db, timeout=10)
    with write_lock_held(db, 60):
        start = time.monotonic()
        names = [r["name"] for r in store.list_runs()]
        run = store.require_run("r")
        instructions = store.iteration_instructions(store.latest_iteration(run["id"])["id"])
        assert time.monotonic() - start < 1
    assert names == ["r"]  # the committed state: the other writer's rename is not visible before its commit
    assert [i["text"] for i in instructions] == ["Write about the sea."]


def test_opening_a_store_while_another_process_writes_does_not_wait(db):
    with write_lock_held(db, 60):
        start = time.monotonic()
        store = Store(db, timeout=10)
        assert store.get_run("r") is not None and time.monotonic() - start < 1


def test_the_cli_says_the_database_is_busy_in_one_line(db, capsys, monkeypatch):
    monkeypatch.setattr("storage.base.BUSY_TIMEOUT", 0.5)  # the CLI opens Store(path) with the default timeout
    with write_lock_held(db, 60):
        code = main(["iterate", "--db", str(db), "--name", "r", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert re.fullmatch(r"error: the database \S+studio\.db is busy: another process has held its write lock for "
                        r"0\.5 s; try again when it finishes\n", err)
    assert Store(db).live_jobs() == []  # the refused iterate started no job
