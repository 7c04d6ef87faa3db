"""kill -9 in the middle of a streaming expand, then `iterate` again: the run ends with exactly the samples and
expansion rounds of an uninterrupted run; and kill -9 of one of two servers mid-iterate: the run finishes on the
other with the same samples (a real CLI process, a real SQLite file, the simulated serving engine of
bench/simserver.py as the servers)."""

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


def start_engine() -> tuple:
    """A simulated serving engine in its own process: (the process, its base URL)."""
    import subprocess

    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "simserver.py"), "--port", str(port),
                               "--slots", "6", "--seconds-per-token", "0.0004"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_up(f"http://127.0.0.1:{port}/v1/models", server, "the simulated engine")
    return server, f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def engine():
    server, url = start_engine()
    yield url
    server.kill()
    server.wait()


def make_run(folder, db, url: str | list[str]) -> None:
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


def engine_stats(url: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(url.removesuffix("/v1") + "/stats", timeout=5) as response:
        return json.load(response)


def test_kill_9_of_one_of_two_servers_mid_iterate_finishes_on_the_other_and_loses_nothing(engine, tmp_path):
    clean, two = tmp_path / "clean.db", tmp_path / "two.db"
    make_run(tmp_path, clean, engine)
    cli("iterate", "--db", clean, "--name", "r", "--quiet", check=True)
    doomed, doomed_url = start_engine()
    try:
        make_run(tmp_path, two, [doomed_url, engine])
        process = start("iterate", "--db", two, "--name", "r", "--quiet")
        at_kill: dict = {}

        def mid_run() -> bool:
            if rows(two, "SELECT COUNT(*) FROM expansion_rounds")[0][0] < 4:
                return False
            at_kill.update(doomed=engine_stats(doomed_url)["requests"], survivor=engine_stats(engine)["requests"],
                           running=process.poll() is None)
            return True

        assert kill_when(doomed, mid_run)
        assert process.wait(timeout=300) == 0
    finally:
        doomed.kill()
        doomed.wait()
    assert at_kill["running"] and at_kill["doomed"] > 0  # both servers had answered when one died mid-run
    assert engine_stats(engine)["requests"] > at_kill["survivor"]  # the rest went to the survivor
    assert rows(two, "SELECT status FROM iterations")[0][0] == "review"
    assert rows(two, SAMPLES) == rows(clean, SAMPLES) and len(rows(clean, SAMPLES)) > 10
    assert rows(two, ROUNDS) == rows(clean, ROUNDS)
    assert rows(two, "SELECT COUNT(*) FROM samples WHERE reject_reason LIKE '%backend%'")[0][0] == 0
    assert rows(two, "SELECT COUNT(*) FROM instructions WHERE reject_reason = 'backend'")[0][0] == 0
