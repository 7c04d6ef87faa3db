"""`kill -9` during filter, eval and export, then the same command again: nothing lost, nothing duplicated,
and the end state equals an uninterrupted run's (augment, generate and expand: test_demo_loop.py; train:
test_train.py). Each test drives the real CLI in a subprocess over a real SQLite file and kills it at a moment
read from the store or the file system, never after a guessed delay."""

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing

import pytest

from commands import cli
from curated import siblings, snapshot, snapshot_names
from paths import ROOT, SEEDS_EN
from seeded import accepted_run, expanded_run
from selflengthen.evaluation.job import run_eval_job
from servers import kill_when
from storage import Store

pytestmark = pytest.mark.slow  # real servers, subprocesses or models

FILTER_SAMPLES = 50_000
EVAL_ITEMS, EVAL_TOKENS = 32, 128  # answers of the demo model, a few seconds of generation at batch size 1
EXPORT_SAMPLES, EXPORT_WORDS = 40_000, 300  # building the Parquet file takes ~0.5 s: time to catch it at it


def start(*args) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "selflengthen", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def rows(db, sql: str, params=()) -> list[tuple]:
    with closing(sqlite3.connect(db, timeout=30)) as conn:
        return conn.execute(sql, params).fetchall()


def copy_db(source, *targets) -> None:
    """Copy a database through SQLite's backup API (whatever its WAL still holds comes along)."""
    with closing(sqlite3.connect(source)) as conn:
        for target in targets:
            with closing(sqlite3.connect(target)) as copy:
                conn.backup(copy)


def write_locked(db) -> bool:
    """True while another connection holds the database's write lock (a write transaction is open)."""
    with closing(sqlite3.connect(db, timeout=0, isolation_level=None)) as conn:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            if "locked" in str(e):
                return True
            raise
        conn.execute("ROLLBACK")
        return False


def wal_bytes(db) -> int:
    """Size of the database's write-ahead log (0 when there is none: the last connection removes it)."""
    try:
        return db.with_name(db.name + "-wal").stat().st_size
    except FileNotFoundError:
        return 0


def job_statuses(db) -> list[str]:
    return [status for (status,) in rows(db, "SELECT status FROM jobs ORDER BY id")]


# --- filter ------------------------------------------------------------------------------------------

def filter_result(db) -> list[tuple]:
    return rows(db, "SELECT id, instruction_id, slot, status, reject_reason, gates FROM samples ORDER BY id")


def test_kill_9_halfway_through_filter_leaves_all_or_nothing_and_the_rerun_matches(tmp_path):
    seeded = tmp_path / "seeded.db"
    store = Store(seeded)
    expanded_run(store, "big", FILTER_SAMPLES)
    store.close()
    uninterrupted, crashy = tmp_path / "a.db", tmp_path / "b.db"
    copy_db(seeded, uninterrupted, crashy)
    before = filter_result(crashy)

    reference = start("iterate", "--db", uninterrupted, "--name", "big", "--steps", "filter", "--quiet")
    # Halfway through writing the verdicts: the write lock is held and the WAL holds half the database. Writing
    # a verdict rewrites its sample's page, so the filter's one transaction grows the WAL to about the size of
    # the database; one that committed in parts would be checkpointed after each (~4 MB) and not get there.
    half = crashy.stat().st_size // 2

    def halfway() -> bool:
        return (rows(crashy, "SELECT stage FROM jobs") == [("filter",)] and wal_bytes(crashy) > half
                and write_locked(crashy))

    assert kill_when(start("iterate", "--db", crashy, "--name", "big", "--steps", "filter", "--quiet"), halfway), \
        "the filter ended before it was caught halfway through writing its verdicts"
    assert reference.wait(timeout=120) == 0
    want = filter_result(uninterrupted)
    # The kill left all or nothing, never part of the verdicts (nothing, unless it struck just after the commit).
    assert filter_result(crashy) in (before, want)
    assert job_statuses(crashy) == ["running"]

    cli("iterate", "--db", crashy, "--name", "big", "--steps", "filter", "--quiet", check=True)
    got = filter_result(crashy)
    assert got == want and len({(instruction, slot) for _, instruction, slot, *_ in got}) == FILTER_SAMPLES
    assert all(json.loads(gates)["filter"]["kept"] == (status == "kept") for *_, status, _, gates in got)
    statuses = dict(rows(crashy, "SELECT status, count(*) FROM samples GROUP BY status"))
    assert statuses == dict(rows(uninterrupted, "SELECT status, count(*) FROM samples GROUP BY status"))
    assert set(statuses) == {"kept", "dropped_short"} and statuses["kept"] > FILTER_SAMPLES // 2
    iteration = "SELECT status, steps_done, stats FROM iterations"
    assert rows(crashy, iteration) == rows(uninterrupted, iteration)
    assert rows(crashy, iteration)[0][0] == "review"
    assert job_statuses(crashy) == ["interrupted", "done"] and job_statuses(uninterrupted) == ["done"]


# --- eval --------------------------------------------------------------------------------------------

def init_eval_run(db, config, model) -> None:
    cli("init", "--db", db, "--name", "e", "--model", model, "--seeds", SEEDS_EN,
        "--preset", "demo", "--config", config, check=True)


def eval_args(db) -> list:
    return ["eval", "--db", db, "--name", "e", "--iteration", "0", "--limit", EVAL_ITEMS,
            "--max-new-tokens", EVAL_TOKENS, "--quiet"]


def answers(db) -> list[tuple]:
    return rows(db, "SELECT evaluation_id, item_idx, words, response, error FROM eval_items ORDER BY item_idx")


@pytest.mark.slow
def test_kill_9_during_eval_then_rerun_answers_only_the_missing_items(tmp_path, demo_model_dir):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"backend": {"batch_size": 1}}))  # one stored item per generate() call
    uninterrupted, crashy = tmp_path / "a.db", tmp_path / "b.db"
    init_eval_run(crashy, config, demo_model_dir)
    copy_db(crashy, uninterrupted)  # the same run, seed and model on another database

    def stored() -> int:
        return rows(crashy, "SELECT count(*) FROM eval_items")[0][0]

    assert kill_when(start(*eval_args(crashy)), lambda: 0 < stored() < EVAL_ITEMS), \
        "the evaluation ended before it was caught between its first and its last answer"
    killed_at = stored()  # the answers stored before the kill stay; the evaluation is not done
    assert 0 < killed_at < EVAL_ITEMS and job_statuses(crashy) == ["running"]
    assert rows(crashy, "SELECT status FROM evaluations") == [("incomplete",)]

    cli(*eval_args(crashy), check=True)
    reference = Store(uninterrupted)  # the library call the command makes, in this process: one model load fewer
    assert run_eval_job(reference, "e", 0, limit=EVAL_ITEMS, max_new_tokens=EVAL_TOKENS)["status"] == "done"
    reference.close()
    got, want = answers(crashy), answers(uninterrupted)
    assert len(got) == EVAL_ITEMS and [row[1] for row in got] == list(range(EVAL_ITEMS))
    assert rows(crashy, "SELECT evaluation_id, item_idx FROM eval_items GROUP BY 1, 2 HAVING count(*) > 1") == []
    assert all(error is None for *_, error in got)
    # Each item is answered from its own seed: the killed-and-resumed evaluation says word for word the same.
    assert [row[2:] for row in got] == [row[2:] for row in want], f"killed after {killed_at} items"
    assert rows(crashy, "SELECT status, total FROM evaluations") == [("done", EVAL_ITEMS)]
    assert job_statuses(crashy) == ["interrupted", "done"]


# --- export ------------------------------------------------------------------------------------------

def export_args(db, out, name: str = "big", fmt: str = "messages", output: str = "parquet") -> list:
    return ["export", "--db", db, "--name", name, "--format", fmt, "--out", out, "--as", output]


def parquet_table(folder):
    import pyarrow.parquet as pq

    return pq.read_table(folder / "data.parquet")


def writing(target):
    """True once the export's hidden working folder next to `target` exists."""
    return lambda: any(name.startswith(f".{target.name}.tmp-") for name in siblings(target))


def test_kill_9_during_export_leaves_the_target_alone_and_the_rerun_cleans_up(tmp_path):
    db = tmp_path / "big.db"
    store = Store(db)
    accepted_run(store, "big", EXPORT_SAMPLES, EXPORT_WORDS)
    accepted_run(store, "small", 20)
    store.close()
    reference, fresh, replaced = tmp_path / "ref", tmp_path / "fresh", tmp_path / "out"
    cli(*export_args(db, reference), check=True)
    cli(*export_args(db, replaced, "small", "alpaca", "jsonl"), check=True)  # the old export --overwrite replaces
    old = snapshot(replaced)

    # A new folder: killed while writing, there is no export at all, only the dead process's working folder.
    assert kill_when(start(*export_args(db, fresh)), writing(fresh))
    assert not fresh.exists() and len(siblings(fresh)) == 1
    # Replacing an export: killed while writing, the old export is untouched.
    killed = start(*export_args(db, replaced), "--overwrite")
    assert kill_when(killed, writing(replaced))
    assert snapshot(replaced) == old
    assert [name.split("-")[1] for name in siblings(replaced)] == [str(killed.pid)]

    for target, extra in ((fresh, []), (replaced, ["--overwrite"])):
        cli(*export_args(db, target), *extra, check=True)
        assert siblings(target) == []  # the dead process's working folder is cleaned away
        assert snapshot_names(target) == snapshot_names(reference) == ["README.md", "data.parquet"]
    want = parquet_table(reference)
    ids = want.column("provenance").combine_chunks().field("sample_id").to_pylist()
    assert want.num_rows == EXPORT_SAMPLES and len(set(ids)) == EXPORT_SAMPLES  # every accepted sample, once
    assert parquet_table(fresh).equals(want) and parquet_table(replaced).equals(want)
