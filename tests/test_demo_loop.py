"""The whole loop on the real demo model through the CLI, and crash/resume with `kill -9`."""

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from commands import cli
from paths import ROOT, SEEDS_EN
from servers import kill_when

pytestmark = pytest.mark.slow
N_INSTRUCTIONS = 14  # 10 seeds + 4 augmented
CONFIG = {"augment": {"n_instructions": N_INSTRUCTIONS}, "backend": {"batch_size": 4}}


def init_run(tmp_path, model, name):
    db, config = tmp_path / f"{name}.db", tmp_path / "config.json"
    config.write_text(json.dumps(CONFIG))
    cli("init", "--db", db, "--name", name, "--model", model, "--seeds", SEEDS_EN,
        "--preset", "demo", "--config", config, check=True)
    return db


def status(db, name):
    return json.loads(cli("status", "--db", db, "--name", name, "--json", check=True).stdout)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, demo_model_dir):
    """An uninterrupted run: init -> iterate -> review --accept-passing -> status --json."""
    tmp = tmp_path_factory.mktemp("reference")
    db = init_run(tmp, demo_model_dir, "ref")
    cli("iterate", "--db", db, "--name", "ref", "--quiet", check=True, timeout=600)
    cli("review", "--db", db, "--name", "ref", "--accept-passing", "--user", "tester", check=True)
    return status(db, "ref"), db


def test_end_to_end_on_the_demo_model(reference):
    result, db = reference
    it = result["iterations"][0]
    assert it["status"] == "review" and it["instructions"] == N_INSTRUCTIONS
    assert it["samples"] == 2 * N_INSTRUCTIONS
    assert it["passed"] > 0 and it["accepted"] == it["passed"] and it["rejected"] == 0
    assert it["pending"] == it["samples"] - it["accepted"]
    assert it["final_words_mean"] > it["initial_words_mean"]
    assert sum(it["sample_status"].values()) == it["samples"]
    with sqlite3.connect(db) as conn:
        users = conn.execute("SELECT DISTINCT user, verdict FROM decisions").fetchall()
        augmented = conn.execute("SELECT count(*) FROM instructions WHERE source = 'augmented'"
                                 " AND status = 'accepted' AND parents != '[]'").fetchone()[0]
    assert users == [("tester", "accept")] and augmented == N_INSTRUCTIONS - 10


def counts(db) -> dict:
    with sqlite3.connect(db, timeout=30) as conn:
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        return {"augmented": one("SELECT count(*) FROM instructions WHERE source = 'augmented'"),
                "samples": one("SELECT count(*) FROM samples"),
                "rounds": one("SELECT count(*) FROM expansion_rounds"),
                "unexpanded": one("SELECT count(*) FROM samples WHERE status = 'generated'")}


PHASES = {  # when to kill: a moment inside each stage, read from the store
    "augment": lambda c: c["augmented"] > 0 and c["samples"] == 0,
    "generate": lambda c: 0 < c["samples"] < 2 * N_INSTRUCTIONS,
    "expand": lambda c: c["rounds"] > 0 and c["unexpanded"] > 0,
}


def kill_during(db, name, phase, deadline=240) -> bool:
    """Start `iterate`, SIGKILL it once the store shows `phase` in progress; False if it finished first."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "selflengthen", "iterate", "--db", str(db), "--name", name,
                             "--quiet"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return kill_when(proc, lambda: db.exists() and PHASES[phase](counts(db)), deadline, every=0.05)


def test_kill_9_at_every_stage_then_resume_matches_the_uninterrupted_run(tmp_path, demo_model_dir, reference):
    db = init_run(tmp_path, demo_model_dir, "crashy")
    killed = [phase for phase in PHASES if kill_during(db, "crashy", phase)]
    assert len(killed) >= 2, f"only killed during {killed}"
    interrupted = status(db, "crashy")["iterations"][0]
    assert interrupted["status"] == "interrupted"
    cli("iterate", "--db", db, "--name", "crashy", "--quiet", check=True, timeout=600)
    got, want = status(db, "crashy")["iterations"][0], reference[0]["iterations"][0]
    assert got["status"] == "review"
    assert (got["instructions"], got["samples"]) == (want["instructions"], want["samples"])
    with sqlite3.connect(db) as conn:
        per_instruction = conn.execute(
            "SELECT i.id, count(s.id) FROM instructions i LEFT JOIN samples s ON s.instruction_id = i.id"
            " WHERE i.status = 'accepted' GROUP BY i.id").fetchall()
        jobs = [r[0] for r in conn.execute("SELECT status FROM jobs ORDER BY id")]
    assert all(n == 2 for _, n in per_instruction) and len(per_instruction) == N_INSTRUCTIONS
    assert jobs == ["interrupted"] * len(killed) + ["done"]
