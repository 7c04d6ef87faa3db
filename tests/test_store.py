"""The store: migrations, WAL, idempotent upserts, one-transaction batches, decisions, jobs."""

import os
import subprocess
import sys

import pytest

from paths import ROOT
from storage import Store, StoreError

SEEDS = [{"text": "Write about the sea.", "language": "en"}, {"text": "写一篇关于春天的文章。", "language": "zh"}]


@pytest.fixture
def run(store):
    return store.create_run("r", "gen", "ext", "transformers", "demo", {"seed": 1}, SEEDS)


def sample_row(run, iteration, instruction_id, slot=0, **extra):
    return {"run_id": run["id"], "iteration_id": iteration["id"], "instruction_id": instruction_id, "slot": slot,
            "language": "en", "status": "generated", "initial_response": "Hi there.", "initial_words": 2,
            "initial_attempts": 1, **extra}


def test_wal_mode_and_migrations_recorded(store):
    assert store.one("PRAGMA journal_mode")["journal_mode"] == "wal"
    applied = store.query("SELECT name FROM _sqlite_migrations")
    assert [r["name"] for r in applied] == ["001_initial", "002_training", "003_dashboard", "004_evaluation",
                                            "005_expansions_of_one_response", "006_final_rows",
                                            "007_lifebench_score", "008_status_indexes", "009_holds",
                                            "010_preference_metrics"]


def test_reopening_applies_nothing_twice(tmp_path):
    Store(tmp_path / "a.db").close()
    again = Store(tmp_path / "a.db")
    assert len(again.query("SELECT * FROM _sqlite_migrations")) == 10


def test_create_run_makes_iteration_zero_and_seed_instructions(store, run):
    iteration = store.latest_iteration(run["id"])
    assert iteration["idx"] == 0 and iteration["generator_checkpoint"] == "gen"
    assert iteration["extender_checkpoint"] == "ext" and iteration["config"] == {"seed": 1}
    texts = [(i["text"], i["language"], i["source"]) for i in store.iteration_instructions(iteration["id"])]
    assert texts == [(s["text"], s["language"], "seed") for s in SEEDS]


def test_duplicate_run_name_is_refused_and_nothing_changes(store, run):
    before = store.query("SELECT count(*) AS n FROM instructions")[0]["n"]
    with pytest.raises(StoreError, match="already exists"):
        store.create_run("r", "g", "g", "transformers", "demo", {}, SEEDS)
    assert store.query("SELECT count(*) AS n FROM instructions")[0]["n"] == before
    assert len(store.list_iterations(run["id"])) == 1


def test_instruction_upsert_by_key_never_duplicates(store, run):
    iteration = store.latest_iteration(run["id"])
    row = {"key": "aug:0:0", "iteration_id": iteration["id"], "text": "Write a long story about bees.",
           "language": "en", "source": "augmented", "parents": [1, 2], "status": "accepted"}
    store.save_instructions(run["id"], [row])
    store.save_instructions(run["id"], [{**row, "status": "rejected", "reject_reason": "judge_no"}])
    counts = store.instruction_counts(iteration["id"])
    assert counts == {"accepted": 2, "rejected": 1, "candidates": 1, "reasons": {"judge_no": 1}}
    stored = store.iteration_instructions(iteration["id"], status="rejected")[0]
    assert stored["parents"] == [1, 2]


def test_sample_upsert_updates_in_place(store, run):
    iteration = store.latest_iteration(run["id"])
    ins = store.iteration_instructions(iteration["id"])[0]
    store.save_samples([sample_row(run, iteration, ins["id"])])
    store.save_samples([sample_row(run, iteration, ins["id"], status="expanded", final_words=9, rounds=1)])
    samples = store.iteration_samples(iteration["id"])
    assert len(samples) == 1 and samples[0]["status"] == "expanded" and samples[0]["final_words"] == 9


def test_a_failing_batch_writes_nothing(store, run):
    iteration = store.latest_iteration(run["id"])
    ins = store.iteration_instructions(iteration["id"])[0]
    good = sample_row(run, iteration, ins["id"], slot=0)
    bad = sample_row(run, iteration, 999_999, slot=1)  # no such instruction: foreign key fails
    with pytest.raises(Exception):
        store.save_samples([good, bad])
    assert store.iteration_samples(iteration["id"]) == []


def test_decisions_are_append_only_and_latest_wins(store, run):
    iteration = store.latest_iteration(run["id"])
    ins = store.iteration_instructions(iteration["id"])[0]
    store.save_samples([sample_row(run, iteration, ins["id"])])
    sid = store.iteration_samples(iteration["id"])[0]["id"]
    store.record_decision(sid, "reject", reasons=["too_short"], user="ann")
    store.record_decision(sid, "accept", edited_text="Better.", user="bob")
    current = store.current_decisions(iteration["id"])[sid]
    assert (current["verdict"], current["user"], current["edited_text"]) == ("accept", "bob", "Better.")
    store.record_decision(sid, "pending", user="bob")  # bob's undo withdraws only bob's accept
    assert store.verdict_counts(iteration["id"]) == {"reject": 1}
    store.record_decision(sid, "pending", user="ann")
    assert store.verdict_counts(iteration["id"]) == {"pending": 1}
    assert [d["verdict"] for d in store.decision_history(sid)] == ["reject", "accept", "pending", "pending"]
    with pytest.raises(StoreError, match="verdict"):
        store.record_decision(sid, "maybe")
    with pytest.raises(StoreError, match="no sample"):
        store.record_decision(12345, "accept")


def test_second_live_job_is_refused_and_dead_ones_are_marked_interrupted(store, run):
    job = store.start_job("iterate", run_id=run["id"])
    with pytest.raises(StoreError, match="already running"):
        store.start_job("iterate", run_id=run["id"])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    store.update_job(job, pid=int(dead.stdout))
    second = store.start_job("iterate", run_id=run["id"])
    assert store.get_job(job)["status"] == "interrupted"
    assert store.get_job(second)["pid"] == os.getpid()


def test_job_progress_log_and_cancel(store, run):
    job = store.start_job("iterate", run_id=run["id"], command="python -m selflengthen iterate")
    store.update_job(job, stage="generate", done=3, total=10)
    store.log_job(job, "hello")
    store.request_cancel(job)
    row = store.get_job(job)
    assert (row["stage"], row["done"], row["total"], row["log"]) == ("generate", 3, 10, "hello\n")
    assert store.cancel_requested(job)
    store.finish_job(job, "cancelled")
    assert store.get_job(job)["finished_at"] is not None


def test_accepted_samples_prefer_the_curators_edit(store, run):
    iteration = store.latest_iteration(run["id"])
    ins = store.iteration_instructions(iteration["id"])[0]
    store.save_samples([sample_row(run, iteration, ins["id"], slot=s, final_expansion=f"Long {s}.") for s in range(3)])
    a, b, c = [s["id"] for s in store.iteration_samples(iteration["id"])]
    store.record_decision(a, "accept", edited_text="Edited by hand.")
    store.record_decision(a, "accept")  # a later plain accept keeps the edit
    store.record_decision(b, "accept")
    store.record_decision(c, "accept")
    store.record_decision(c, "reject", reasons=["other"])
    rows = store.accepted_samples(iteration["id"])
    assert [(r["sample_id"], r["final_text"], r["edited"]) for r in rows] == \
           [(a, "Edited by hand.", True), (b, "Long 1.", False)]
    assert rows[0]["instruction"] == ins["text"]


def test_checkpoint_registry_upserts_per_iteration_and_role(store, run):
    iteration = store.latest_iteration(run["id"])
    kwargs = dict(run_id=run["id"], iteration_id=iteration["id"], role="generator", base_model="gen",
                  kind="merged", data_size=3)
    store.register_checkpoint(path="/ck/1", **kwargs)
    store.register_checkpoint(path="/ck/2", train_loss=1.5, **kwargs)
    [ck] = store.run_checkpoints(run["id"])
    assert (ck["path"], ck["train_loss"], ck["iteration"]) == ("/ck/2", 1.5, 0)
    assert set(store.iteration_checkpoints(iteration["id"])) == {"generator"}


@pytest.mark.slow
def test_writers_in_two_processes_wait_for_each_other(store, run):
    """Concurrent read-then-write transactions from two processes: none fails with 'database is locked'."""
    db = store.path
    code = ("import sys; from storage import Store\n"
            "s = Store(sys.argv[1]); job = s.create_job('x', run_id=1)\n"
            "for i in range(150):\n"
            "    s.update_job(job, done=i); s.log_job(job, str(i))\n"
            "s.finish_job(job, 'done')\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db)], env=env, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    assert [j["status"] for j in Store(db).list_jobs(run["id"])] == ["done"] * 3
