"""A paper-preset run on the real demo model, through the CLI as a user runs it, sized down with --config:
iterate -> review -> train -> iterate, with the reference's prompts, attempts, two expansions per response and
drop-short before and after expansion."""

from __future__ import annotations

import json

import pytest

from commands import cli
from paths import SEEDS_EN
from storage import Store

pytestmark = pytest.mark.slow  # builds the demo model, trains it, runs the CLI

SMALL = {"augment": {"n_instructions": 8, "max_new_tokens": 64},
         "generate": {"max_new_tokens": 384, "max_retries": 3},
         "expand": {"redo": 2, "max_new_tokens": 512},
         "backend": {"batch_size": 32}}


def test_a_paper_run_on_the_demo_model_goes_round_the_loop(tmp_path, demo_model_dir):
    db, config = tmp_path / "paper.db", tmp_path / "small.json"
    config.write_text(json.dumps(SMALL))
    cli("init", "--db", db, "--name", "p", "--model", demo_model_dir, "--seeds", SEEDS_EN, "--preset", "paper",
        "--config", config, check=True)
    cli("iterate", "--db", db, "--name", "p", "--quiet", check=True)
    store = Store(db)
    run = store.get_run("p")
    first = store.latest_iteration(run["id"])
    samples = store.iteration_samples(first["id"])
    statuses = {s["status"] for s in samples}
    assert "dropped_initial" in statuses and "kept" in statuses  # drop-short before and after expansion
    assert any(s["response_of"] for s in samples)  # two expansions of one response
    rows = store.query("SELECT kept FROM expansion_rounds")
    assert rows and all(r["kept"] in (0, 1) for r in rows)
    augmented = [i for i in store.iteration_instructions(first["id"]) if i["source"] == "augmented"]
    answered = {s["instruction_id"] for s in samples}
    assert len(augmented) == 8 and answered == {i["id"] for i in augmented}  # seeds are not answered
    cli("review", "--db", db, "--name", "p", "--accept-passing", "--user", "ann", check=True)
    cli("train", "--db", db, "--name", "p", "--quiet", check=True)
    cli("iterate", "--db", db, "--name", "p", "--quiet", check=True)
    second = store.latest_iteration(run["id"])
    assert (second["idx"], second["status"]) == (1, "review")
    assert second["generator_checkpoint"] != first["generator_checkpoint"]
    assert store.iteration_samples(second["id"])
