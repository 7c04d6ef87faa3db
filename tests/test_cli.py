"""The command line as a user runs it: real subprocesses, a real SQLite file, the real demo model."""

import json
import subprocess
import sys
import time

import pytest

from commands import cli, dump
from paths import ROOT, SEEDS_EN

pytestmark = pytest.mark.slow  # real servers, subprocesses or models



def test_help_is_instant():
    start = time.perf_counter()
    result = cli("--help", check=True)
    assert "iterate" in result.stdout and time.perf_counter() - start < 5
    assert "torch" not in subprocess.run(
        [sys.executable, "-c", "import sys, selflengthen.cli; print(' '.join(sys.modules))"],
        capture_output=True, text=True, cwd=ROOT).stdout.split()


BAD_SEEDS = {
    "invalid_json": (b'{"instruction": "Write a poem."}\n{"instruction": oops}\n', r"bad\.jsonl:2: invalid JSON"),
    "missing_field": (b'{"instruction": "Write a poem."}\n{"prompt": "x"}\n', r"bad\.jsonl:2: field 'instruction' is missing"),
    "empty_file": (b"", r"bad\.jsonl: no instructions found"),
    "not_utf8": (b"Write a poem.\n\xff\xfe bad bytes\n", r"bad\.jsonl:2: not valid UTF-8"),
    "huge_line": (b"Write " + b"a" * 10_000_000 + b"\n", r"bad\.jsonl:1: line is longer than"),
}


@pytest.mark.parametrize("case", BAD_SEEDS)
def test_bad_seed_files_are_refused_with_the_line_and_the_db_unchanged(tmp_path, untrained_model_dir, case):
    content, message = BAD_SEEDS[case]
    seeds = tmp_path / "bad.jsonl"
    seeds.write_bytes(content)
    db = tmp_path / "runs.db"
    cli("init", "--db", db, "--name", "first", "--model", untrained_model_dir, "--seeds", SEEDS_EN, check=True)
    before = dump(db)
    result = cli("init", "--db", db, "--name", "second", "--model", untrained_model_dir, "--seeds", seeds)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert __import__("re").search(message, lines[0]), lines[0]
    assert dump(db) == before


@pytest.mark.parametrize("args, message", [
    (["--preset", "huge"], "unknown preset 'huge'"),
    (["--model", "/no/such/model"], "model path not found: /no/such/model"),
    (["--name", "first"], "a run named 'first' already exists"),
    (["--backend", "tensorrt"], "backend.name must be one of"),
])
def test_bad_init_arguments_are_refused_and_the_db_unchanged(tmp_path, untrained_model_dir, args, message):
    db = tmp_path / "runs.db"
    cli("init", "--db", db, "--name", "first", "--model", untrained_model_dir, "--seeds", SEEDS_EN, check=True)
    before = dump(db)
    base = {"--name": "second", "--model": str(untrained_model_dir), "--seeds": str(SEEDS_EN)}
    base.update(dict(zip(args[::2], args[1::2])))
    result = cli("init", "--db", db, *[x for pair in base.items() for x in pair])
    assert result.returncode == 1 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert dump(db) == before


def test_bad_config_file_names_the_field_and_creates_no_database(tmp_path, untrained_model_dir):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"expand": {"growth": "lots"}}))
    db = tmp_path / "runs.db"
    result = cli("init", "--db", db, "--name", "x", "--model", untrained_model_dir, "--seeds", SEEDS_EN,
                 "--config", config)
    assert result.returncode == 1 and "expand.growth must be float" in result.stderr
    assert not db.exists()


def test_unknown_run_and_missing_database(tmp_path):
    result = cli("status", "--db", tmp_path / "none.db", "--name", "x")
    assert result.returncode == 1 and "database not found" in result.stderr
    assert not (tmp_path / "none.db").exists()


def test_score_command_matches_the_formula(tmp_path):
    items = [
        {"type": "about", "constraint": "around 100 words", "response": "w " * 100},   # inside -> 1
        {"type": "below", "constraint": "less than 100 words", "response": "w " * 25},  # 2*25/50 - 1 = 0
        {"type": "above", "constraint": "大于10字", "response": "字" * 30},              # 3 - 60/15 -> floor 0
        {"type": "range", "constraint": "100-200 words", "response": "w " * 250},      # 3 - 500/200 = 0.5
    ]
    path = tmp_path / "scored.jsonl"
    path.write_text("\n".join(json.dumps(i, ensure_ascii=False) for i in items), encoding="utf-8")
    result = json.loads(cli("score", path, "--json", check=True).stdout)
    assert {k: result[k] for k in ("about", "range", "above", "below")} == \
           {"about": 1.0, "range": 0.5, "above": 0.0, "below": 0.0}
    assert result["overall"] == pytest.approx(0.375)


def test_cancel_sets_the_flag_of_running_jobs(tmp_path, untrained_model_dir):
    from storage import Store

    db = tmp_path / "runs.db"
    cli("init", "--db", db, "--name", "r", "--model", untrained_model_dir, "--seeds", SEEDS_EN, check=True)
    assert cli("cancel", "--db", db, "--name", "r", check=True).stdout.strip() == "no running job"
    store = Store(db)
    job = store.start_job("iterate", run_id=store.require_run("r")["id"])  # held by this (live) process
    assert f"asked job {job} (iterate" in cli("cancel", "--db", db, "--name", "r", check=True).stdout
    assert store.cancel_requested(job)


def test_curation_settings_are_set_shown_and_validated(tmp_path, untrained_model_dir):
    db = tmp_path / "runs.db"
    cli("init", "--db", db, "--name", "r", "--model", untrained_model_dir, "--seeds", SEEDS_EN, check=True)
    guidelines = tmp_path / "guidelines.md"
    guidelines.write_text("# Accept\nOnly answers that stay on topic.\n", encoding="utf-8")
    shown = cli("curation", "--db", db, "--name", "r", "--guidelines", guidelines, "--overlap", "2", check=True)
    assert "overlap: 2 curator(s) per sample" in shown.stdout and "Only answers that stay on topic." in shown.stdout
    before = dump(db)
    bad = cli("curation", "--db", db, "--name", "r", "--overlap", "0")
    assert bad.returncode == 1 and "error: overlap must be a whole number from 1 to 10" in bad.stderr
    missing = cli("curation", "--db", db, "--name", "r", "--guidelines", tmp_path / "nope.md")
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    assert dump(db) == before


def test_review_edit_and_undo_are_the_dashboards_twins(tmp_path):
    from scripted import reviewed_run
    from storage import Store

    db = tmp_path / "runs.db"
    store = Store(db)
    run = reviewed_run(store, seeds=("Explain how cities grow over the centuries.",), n_instructions=2)
    sid = store.iteration_samples(store.latest_iteration(run["id"])["id"])[0]["id"]
    text = tmp_path / "edited.md"
    text.write_text("A better final text, written by the curator.", encoding="utf-8")
    cli("review", "--db", db, "--name", "r", "--edit", sid, "--text-file", text, "--user", "ann", check=True)
    [row] = store.accepted_samples(store.latest_iteration(run["id"])["id"])
    assert row["final_text"] == "A better final text, written by the curator." and row["edited"]
    cli("review", "--db", db, "--name", "r", "--undo", sid, "--user", "ann", check=True)
    assert [(d["verdict"], d["user"]) for d in store.decision_history(sid)] == [("accept", "ann"), ("pending", "ann")]
    assert store.accepted_samples(store.latest_iteration(run["id"])["id"]) == []
    empty = tmp_path / "empty.md"
    empty.write_text("  ", encoding="utf-8")
    refused = cli("review", "--db", db, "--name", "r", "--edit", sid, "--text-file", empty)
    assert refused.returncode == 1 and "--edit needs a non-empty --text-file" in refused.stderr
    assert cli("review", "--db", db, "--name", "r", "--undo", 999).stderr.startswith("error: sample 999 is not in")
