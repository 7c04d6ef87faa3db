"""kill -9 in the middle of a streaming expand, then `iterate` again: the run ends with exactly the samples and
expansion rounds of an uninterrupted run (a real CLI process, a real SQLite file, the simulated serving engine
of bench/simserver.py as the server)."""

from __future__ import annotations

import json
import sqlite3
import sys
from contextlib import closing

import pytest

from commands import cli, start
from paths import ROOT
from servers import free_port, kill_when, wait_until_up

pytestmark = pytest.mark.slow  # subprocesses, a server, kill -9


@pytest.fixture
def engine():
    import subprocess

    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "simserver.py"), "--port", str(port),
                               "--slots", "6", "--seconds-per-token", "0.0004"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_up(f"http://127.0.0.1:{port}/v1/models", server, "the simulated engine")
    yield f"http://127.0.0.1:{port}/v1"
    server.kill()
    server.wait()


def make_run(folder, db, url: str) -> None:
    from selflengthen.demo.model import build_tokenizer

    tokenizer = folder / "tokenizer"
    if not tokenizer.exists():
        build_tokenizer().save_pretrained(tokenizer)
    config = folder / "config.json"
    config.write_text(json.dumps({
        "backend": {"name": "openai", "base_url": url, "tokenizer": str(tokenizer), "concurrency": 6,
                    "driver": "stream", "max_retries": 1, "retry_backoff": 0.1},
        "augment": {"n_instructions": 8}, "generate": {"max_new_tokens": 4096},
        "expand": {"rounds": 2, "max_retries": 2, "max_new_tokens": 8192}}))
    cli("init", "--db", db, "--name", "r", "--model", "sim", "--backend", "openai", "--preset", "default",
        "--config", config, "--seeds", ROOT / "selflengthen" / "data" / "demo_seeds.jsonl", check=True)


def rows(db, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(db, timeout=30)) as conn:
        return conn.execute(sql).fetchall()


SAMPLES = ("SELECT i.text, s.slot, s.status, s.initial_response, s.final_expansion, s.rounds, s.expand_attempts "
           "FROM samples s JOIN instructions i ON i.id = s.instruction_id ORDER BY i.text, s.slot")
ROUNDS = ("SELECT i.text, s.slot, r.round, r.attempts, r.kept, r.result FROM expansion_rounds r "
          "JOIN samples s ON s.id = r.sample_id JOIN instructions i ON i.id = s.instruction_id "
          "ORDER BY i.text, s.slot, r.round")


def test_kill_9_mid_streaming_expand_then_again_equals_an_uninterrupted_run(engine, tmp_path):
    clean, killed = tmp_path / "clean.db", tmp_path / "killed.db"
    for db in (clean, killed):
        make_run(tmp_path, db, engine)
    cli("iterate", "--db", clean, "--name", "r", "--quiet", check=True)
    process = start("iterate", "--db", killed, "--name", "r", "--quiet")
    assert kill_when(process, lambda: rows(killed, "SELECT COUNT(*) FROM expansion_rounds")[0][0] >= 6 and rows(
        killed, "SELECT COUNT(*) FROM samples WHERE status = 'generated'")[0][0] > 0)
    assert rows(killed, "SELECT status FROM iterations")[0][0] == "running"
    cli("iterate", "--db", killed, "--name", "r", "--quiet", check=True)
    assert rows(killed, SAMPLES) == rows(clean, SAMPLES) and len(rows(clean, SAMPLES)) > 10
    assert rows(killed, ROUNDS) == rows(clean, ROUNDS)
