"""The preference step: DPO, ORPO and KTO through the training job on a tiny model (rewards recorded, the
checkpoint replacing the iteration's), a kill -9 and resume, refusals, and the demo loop going on from it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from commands import cli
from curated import make_store_with_accepted_samples
from paths import ROOT, SEEDS_EN
from selflengthen.errors import InputError
from selflengthen.jobs.runner import run_iterate_job
from selflengthen.training.job import run_preference_job, training_dir
from selflengthen.training.trainer import last_checkpoint
from storage import Store

QUICK = {"max_length": 512, "epochs": 1.0, "batch_size": 2, "eval_fraction": 0.25, "save_steps": 2}


def curated(tmp_path, model) -> Store:
    """Iteration 0 of run 'r' on `model`: 12 samples (6 instructions x 2), two rejected, one edited."""
    store, run, iteration = make_store_with_accepted_samples(tmp_path / "studio.db", n_instructions=6, model=str(model))
    samples = store.iteration_samples(iteration["id"])
    store.record_decisions([{"sample_id": samples[1]["id"], "verdict": "reject", "reasons": ["too_short"]},
                            {"sample_id": samples[3]["id"], "verdict": "reject", "reasons": ["off_topic"]},
                            {"sample_id": samples[4]["id"], "verdict": "accept",
                             "edited_text": "An edited text, better than the model's."}], user="ann")
    return store


def test_a_step_without_pairs_or_without_both_verdicts_is_refused(tmp_path, untrained_model_dir):
    store, run, iteration = make_store_with_accepted_samples(tmp_path / "s.db", n_instructions=2,
                                                             model=str(untrained_model_dir))
    with pytest.raises(InputError, match="too few verdicts .KTO needs accepted and rejected ones."):
        run_preference_job(store, tmp_path / "s.db", "r", config_overrides={"preference_method": "kto"})
    with pytest.raises(InputError, match="no pairs for the extender: it learns from attempt pairs"):
        run_preference_job(store, tmp_path / "s.db", "r", role="extender", config_overrides={"preference_kinds": "edit"})
    with pytest.raises(InputError, match=r"too few pairs for a preference step: \{'attempt': 0\}"):
        run_preference_job(store, tmp_path / "s.db", "r", role="extender")
    with pytest.raises(InputError, match="too few pairs"):
        run_preference_job(store, tmp_path / "s.db", "r", config_overrides={"preference_kinds": "edit"})
    assert store.query("SELECT count(*) AS n FROM jobs")[0]["n"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("method", ["dpo", "orpo", "kto"])
def test_each_method_trains_records_its_rewards_and_replaces_the_checkpoint(tmp_path, untrained_model_dir, method):
    store = curated(tmp_path, untrained_model_dir)
    checkpoint = run_preference_job(store, tmp_path / "studio.db", "r", show_output=False,
                                    config_overrides={**QUICK, "preference_method": method})
    [job] = store.query("SELECT * FROM jobs")
    assert (job["status"], job["stage"], job["kind"]) == ("done", "preference:generator", "train:generator")
    metrics = store.job_metrics(job["id"])
    assert any(m["train_loss"] is not None for m in metrics) and any(m["eval_loss"] is not None for m in metrics)
    if method == "kto":  # unpaired rows: no accuracy, and a margin only where a batch holds both labels
        assert any(m["reward_margin"] is not None or m["eval_reward_margin"] is not None for m in metrics)
    else:
        assert any(m["eval_reward_margin"] is not None and m["eval_reward_accuracy"] is not None for m in metrics)
    out = training_dir(tmp_path / "studio.db", "r", 0, f"generator-{method}")
    assert checkpoint["path"] == str(out / "final") and checkpoint["base_model"] == str(untrained_model_dir)
    assert checkpoint["config"]["stage"] == "preference"
    assert checkpoint["config"]["train"]["preference_method"] == method
    rows = [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]
    assert set(rows[0]) == ({"prompt", "completion", "label"} if method == "kto" else {"prompt", "chosen", "rejected"})
    assert store.latest_iteration(store.get_run("r")["id"])["status"] == "trained"


@pytest.mark.slow
def test_a_killed_preference_job_resumes_from_its_last_checkpoint(tmp_path, untrained_model_dir):
    store = curated(tmp_path, untrained_model_dir)
    config = tmp_path / "train.json"
    config.write_text(json.dumps({**QUICK, "epochs": 6.0, "eval_fraction": 0.0}))
    command = [sys.executable, "-m", "selflengthen", "train", "--db", str(tmp_path / "studio.db"), "--name", "r",
               "--stage", "preference", "--method", "dpo", "--config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    out = training_dir(tmp_path / "studio.db", "r", 0, "generator-dpo")
    deadline = time.monotonic() + 180
    while last_checkpoint(out) is None and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the command and its trainer subprocess
    process.wait()
    killed_at = int(last_checkpoint(out).name.split("-")[1])
    assert store.iteration_checkpoints(1) == {}

    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"resuming from {out / f'checkpoint-{killed_at}'}" in again.stderr
    job = store.query("SELECT * FROM jobs ORDER BY id DESC LIMIT 1")[0]
    resumed = [m["step"] for m in store.job_metrics(job["id"]) if m["train_loss"] is not None]
    assert job["status"] == "done" and resumed[0] == killed_at + 1 and job["done"] == job["total"]
    assert store.iteration_checkpoints(1)["generator"]["path"] == str(out / "final")


@pytest.mark.slow
def test_the_demo_loop_goes_on_from_the_preference_tuned_generator(tmp_path, demo_model_dir):
    db, config = tmp_path / "loop.db", tmp_path / "config.json"
    config.write_text(json.dumps({"augment": {"n_instructions": 8}}))
    cli("init", "--db", db, "--name", "loop", "--model", demo_model_dir, "--seeds", SEEDS_EN, "--config", config,
        check=True)
    cli("iterate", "--db", db, "--name", "loop", "--quiet", check=True)
    store = Store(db)
    samples = store.iteration_samples(store.latest_iteration(store.get_run("loop")["id"])["id"])
    kept = {}
    for s in samples:
        if s["status"] == "kept":
            kept.setdefault(s["instruction_id"], []).append(s["id"])
    rejected = [ids[0] for ids in kept.values() if len(ids) >= 2][:2]  # each beside a sibling to be accepted
    cli("review", "--db", db, "--name", "loop", "--reject", *rejected, "--reason", "repetitive", "--user", "ann",
        check=True)
    cli("review", "--db", db, "--name", "loop", "--accept-passing", "--user", "ann", check=True)
    cli("train", "--db", db, "--name", "loop", "--quiet", check=True, timeout=600)
    sft = store.iteration_checkpoints(1)["generator"]["path"]
    train = tmp_path / "train.json"
    train.write_text(json.dumps({"epochs": 1.0, "eval_fraction": 0.25}))
    counts = json.loads(cli("pairs", "--db", db, "--name", "loop", "--json", check=True).stdout)["per_iteration"]
    assert counts["0"]["expansion"] > 0 and counts["0"]["verdict"] > 0
    cli("train", "--db", db, "--name", "loop", "--stage", "preference", "--method", "dpo", "--config", train,
        "--quiet", check=True, timeout=600)
    preferred = store.iteration_checkpoints(1)["generator"]
    assert preferred["base_model"] == sft and preferred["config"]["stage"] == "preference"
    iteration = run_iterate_job(store, "loop", steps="augment,generate")
    assert iteration["idx"] == 1 and iteration["generator_checkpoint"] == preferred["path"]
    assert store.iteration_samples(iteration["id"])
