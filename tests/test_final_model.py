"""The final model on the demo model: finalize -> train --final -> eval beside the base, as a user runs them,
and kill -9 during finalize and during train --final, then the same command again."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from contextlib import closing

import pytest

from commands import cli, start
from curated import make_store_with_accepted_samples
from servers import kill_when

pytestmark = pytest.mark.slow  # real models, training subprocesses, kill -9

TRAIN = {"epochs": 1.0, "save_steps": 2}


@pytest.fixture
def demo_run(tmp_path, demo_model_dir):
    store, run, _ = make_store_with_accepted_samples(tmp_path / "final.db", n_instructions=12,
                                                     model=str(demo_model_dir))
    store.close()
    (tmp_path / "train.json").write_text(json.dumps(TRAIN))
    return tmp_path / "final.db", tmp_path


def final_rows(db) -> list[tuple]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute('SELECT key, type, "constraint", query, response FROM final_rows ORDER BY key').fetchall()


def test_finalize_then_train_final_then_eval_beside_the_base(demo_run):
    db, folder = demo_run
    out = folder / "final.jsonl"
    cli("finalize", "--db", db, "--name", "r", "--out", out, check=True)
    assert json.loads(cli("score", out, "--json", check=True).stdout)["overall"] == 1.0
    trained = cli("train", "--db", db, "--name", "r", "--final", "--config", folder / "train.json", "--quiet",
                  check=True)
    assert trained.stdout.startswith("final: ") and "checkpoints/r/final" in trained.stdout
    scores = {}
    for role in ("base", "final"):
        result = cli("eval", "--db", db, "--name", "r", "--role", role, "--limit", "6", "--max-new-tokens", "96",
                     "--json", "--quiet", check=True)
        evaluation = json.loads(result.stdout)
        assert evaluation["role"] == role and evaluation["summary"]["items"] == 6
        scores[role] = evaluation["summary"]["longen"]["overall"]
    assert all(0 <= s <= 1 for s in scores.values()), scores


def test_kill_9_during_finalize_then_again_gives_the_uninterrupted_rows(demo_run, tmp_path, demo_model_dir):
    db, _ = demo_run
    clean = tmp_path / "clean.db"
    with closing(sqlite3.connect(db)) as conn, closing(sqlite3.connect(clean)) as copy:
        conn.backup(copy)
    cli("finalize", "--db", clean, "--name", "r", check=True)
    # The model rewrite keeps the command busy for seconds: the kill lands once it has loaded torch, mid-work.
    process = start("finalize", "--db", db, "--name", "r", "--way", "model")
    assert kill_when(process, lambda: _loaded(process))
    assert final_rows(db) == []
    cli("finalize", "--db", db, "--name", "r", check=True)
    assert final_rows(db) == final_rows(clean) and len(final_rows(db)) > 20


def _loaded(process: subprocess.Popen) -> bool:
    """True once the process has imported torch to load its model (torch's threads outnumber a bare
    interpreter's one)."""
    try:
        with open(f"/proc/{process.pid}/status") as f:
            return int(next(line for line in f if line.startswith("Threads:")).split()[1]) > 2
    except (OSError, StopIteration):
        return False


def test_kill_9_during_train_final_then_again_registers_one_final_model(demo_run):
    db, folder = demo_run
    cli("finalize", "--db", db, "--name", "r", check=True)
    process = start("train", "--db", db, "--name", "r", "--final", "--config", folder / "train.json", "--quiet")
    checkpoints = folder / "checkpoints" / "r" / "final"
    assert kill_when(process, lambda: any(checkpoints.glob("checkpoint-*")))
    result = cli("train", "--db", db, "--name", "r", "--final", "--config", folder / "train.json", check=True)
    assert "resuming from" in result.stderr
    with closing(sqlite3.connect(db)) as conn:
        models = conn.execute("SELECT path, kind, data_size FROM final_models").fetchall()
        rows = conn.execute("SELECT COUNT(*) FROM final_rows").fetchone()[0]
    assert len(models) == 1 and models[0][1] == "full" and models[0][2] == rows
