"""Iterate tab: pre-flight checks, the preview that creates nothing, and real iterations launched through the job
worker on the tiny random-weights model (start, live progress to review, a failure before the job row, cancel,
a refused second launch)."""

import re
import shutil
import time
from datetime import datetime, timezone

import pytest

from selflengthen.config import preset_config
from selflengthen.jobs.preflight import blocking, disk_check, planned_iteration, run_preflight
from selflengthen.jobs.progress import job_progress
from storage import Store
from studios import studio_for
from ui.common import Studio
from scripted import reviewed_run
from ui.iterate import (cancel_iteration, iterate_command, iterate_preview, iterate_progress, parse_n_instructions,
                        start_iteration, start_or_ask)
from ui.jobs import job_line, job_rows

SEEDS = [{"text": "Write a story about rain in the city.", "language": "en"},
         {"text": "Describe a busy harbour at dawn.", "language": "en"}]
QUICK = {"generate": {"max_new_tokens": 16, "max_retries": 0, "responses_per_instruction": 1},
         "expand": {"max_new_tokens": 16, "max_retries": 0}, "backend": {"batch_size": 4, "device": "cpu"}}
# Long enough to cancel: one prompt per batch, many retries of long answers.
SLOW = {"generate": {"max_new_tokens": 256, "max_retries": 20}, "backend": {"batch_size": 1, "device": "cpu"}}


def plain(message: str) -> str:
    return re.sub(r"\\(.)", r"\1", message)


def make_studio(tmp_path, model: str, overrides: dict) -> Studio:
    store = Store(tmp_path / "studio.db")
    store.create_run("r", model, model, "transformers", "demo", preset_config("demo", overrides).to_dict(), SEEDS)
    return studio_for(store)


def wait_for(condition, timeout: float = 120.0, every: float = 0.3):
    """Poll like the tab's timer until `condition()` is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out")


@pytest.fixture
def studio(tmp_path, untrained_model_dir):
    studio = make_studio(tmp_path, str(untrained_model_dir), QUICK)
    yield studio
    studio.worker.cancel()
    studio.worker.wait(60)


def test_preflight_passes_on_a_fresh_run_and_the_preview_names_the_command(studio):
    run = studio.store.get_run("r")
    checks = run_preflight(studio.store, run, studio.db_path, None)
    assert [c.name for c in checks] == ["iteration", "config", "generator model", "extender model", "seed pool",
                                        "jobs", "disk space"]
    assert blocking(checks) == [] and checks[4].message == "2 instructions in the pool"
    preflight, config, command = iterate_preview(studio, "r", 3)
    assert "❌" not in preflight and "FAIL" not in preflight and "iteration 0" in preflight
    assert all(line.startswith(("- ✅ pass ·", "- ⚠️ warning ·")) for line in preflight.splitlines()
               if line.startswith("- "))
    assert '"n_instructions": 3' in config and '"max_new_tokens": 16' in config
    assert command == f"python -m selflengthen iterate --db {studio.db_path} --name r --n-instructions 3 --quiet"
    assert iterate_preview(studio, "r", -2)[0].startswith("❌ FAIL · number of instructions must be a whole number")
    assert iterate_preview(studio, "r", 2.5)[0].startswith("❌ FAIL · number of instructions must be a whole number")
    assert parse_n_instructions(None) is None and iterate_command("d.db", "r", None)[-3:] == ["--name", "r", "--quiet"]


def test_missing_model_dir_fails_preflight_and_nothing_starts(tmp_path):
    model = tmp_path / "gone-model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    studio = make_studio(tmp_path, str(model), QUICK)
    shutil.rmtree(model)
    failed = blocking(run_preflight(studio.store, studio.store.get_run("r"), studio.db_path, None))
    assert [(c.name, c.message) for c in failed] == [("generator model", f"model path not found: {model}"),
                                                     ("extender model", f"model path not found: {model}")]
    message = plain(start_iteration(studio, "r", None))
    assert message.startswith("cannot start: generator model: model path not found")
    assert studio.worker.state()["label"] == "" and studio.store.list_jobs(studio.store.get_run("r")["id"]) == []


@pytest.mark.slow  # a subprocess (the CLI) with a model
def test_next_iteration_on_an_iteration_waiting_for_review_asks_first(tmp_path, untrained_model_dir):
    store = Store(tmp_path / "studio.db")
    reviewed_run(store)
    studio = studio_for(store)
    message, asked = start_or_ask(studio, "r", None, None)
    assert asked == "r:0" and plain(message).startswith("Iteration 0 of 'r' is waiting for review: running it again")
    assert "To start iteration 1, review it and train" in message and studio.worker.state()["label"] == ""
    assert start_or_ask(studio, "r", None, "other:0")[1] == "r:0"  # a question about another run does not count
    message, asked = start_or_ask(studio, "r", None, "r:0")  # the second press goes on to the pre-flight
    assert asked is None and message.startswith("started")
    studio.worker.wait(60)
    fresh = make_studio(tmp_path / "fresh", str(untrained_model_dir), QUICK)  # a new iteration starts at once
    message, asked = start_or_ask(fresh, "r", None, None)
    assert asked is None and message.startswith("started")
    fresh.worker.cancel()
    fresh.worker.wait(60)


def test_a_live_job_blocks_the_start(studio):
    run = studio.store.get_run("r")
    job = studio.store.start_job("train", run_id=run["id"])  # this process is alive: the job is live
    [check] = blocking(run_preflight(studio.store, run, studio.db_path, studio.worker.busy_reason()))
    assert check.name == "jobs" and check.message.startswith(f"job {job} (train) of run 'r' is running")
    assert plain(start_iteration(studio, "r", 2)).startswith(f"cannot start: jobs: job {job} (train)")
    studio.store.finish_job(job, "done")
    assert blocking(run_preflight(studio.store, run, studio.db_path, studio.worker.busy_reason())) == []


def test_a_streaming_job_shows_each_servers_figures(studio):
    run = studio.store.get_run("r")
    iteration = studio.store.latest_iteration(run["id"])
    job = studio.store.start_job("iterate", run_id=run["id"], iteration_id=iteration["id"])
    studio.store.update_job(job, stage="expand", done=3, total=8, metrics={"endpoints": [
        {"url": "http://a:8000/v1", "in_flight": 4, "done": 20, "failed": 0, "up": True},
        {"url": "http://b:8001/v1", "in_flight": 0, "done": 7, "failed": 2, "up": False}]})
    text, _ = iterate_progress(studio, "r")
    assert "server http://a:8000/v1: up · 4 in flight · 20 done · 0 failed" in plain(text)
    assert "server http://b:8001/v1: DOWN · 0 in flight · 7 done · 2 failed" in plain(text)
    studio.store.finish_job(job, "done")
    assert "server http" not in plain(iterate_progress(studio, "r")[0])


def test_the_preview_after_training_plans_the_next_iteration_without_creating_it(studio, tmp_path):
    store, run = studio.store, studio.store.get_run("r")
    first = store.latest_iteration(run["id"])
    checkpoint = tmp_path / "generator-ck"
    shutil.copytree(first["generator_checkpoint"], checkpoint)
    store.register_checkpoint(run_id=run["id"], iteration_id=first["id"], role="generator", path=str(checkpoint),
                              base_model=first["generator_checkpoint"], kind="full", data_size=2)
    store.update_iteration(first["id"], status="trained")
    plan = planned_iteration(store, run)
    assert (plan["idx"], plan["new"], plan["generator"], plan["extender"]) == (
        1, True, str(checkpoint), first["extender_checkpoint"])
    preflight = iterate_preview(studio, "r", None)[0]
    assert "iteration 1 (new, on the checkpoints trained in iteration 0)" in plain(preflight)
    assert len(store.list_iterations(run["id"])) == 1  # previewing created nothing
    shutil.rmtree(checkpoint)
    [failed] = blocking(run_preflight(store, run, studio.db_path, None))
    assert failed.name == "generator model" and str(checkpoint) in failed.message


def test_disk_space_thresholds(tmp_path):
    assert disk_check(tmp_path).ok
    warned = disk_check(tmp_path, warn_below=1 << 60, fail_below=0)
    assert warned.ok and warned.warning and "checkpoints may not fit" in warned.message
    failed = disk_check(tmp_path, fail_below=1 << 60)
    assert not failed.ok and failed.message.startswith("only ")


def test_job_line_shows_stage_counts_elapsed_and_eta():
    job = {"id": 7, "kind": "iterate", "status": "running", "stage": "expand", "done": 12, "total": 32,
           "stage_start_done": 0, "cancel_requested": 0, "error": None, "finished_at": None,
           "started_at": "2026-01-01T10:00:00.000+00:00", "stage_started_at": "2026-01-01T10:00:00.000+00:00"}
    now = datetime(2026, 1, 1, 10, 0, 20, tzinfo=timezone.utc)
    assert job_line(job, now) == "job 7 · iterate · running · stage expand 12/32 (38 %) · elapsed 20 s · ETA 33 s"
    fresh = job_progress({**job, "done": 0}, now)
    assert fresh["eta"] is None and fresh["percent"] == 0
    finished = {**job, "status": "done", "done": 32, "finished_at": "2026-01-01T10:01:00.000+00:00"}
    assert job_line(finished, now) == "job 7 · iterate · done · stage expand 32/32 (100 %) · elapsed 1 min 0 s"


@pytest.mark.slow
def test_a_real_iteration_runs_to_review_with_live_progress(tmp_path, untrained_model_dir):
    # One prompt per batch, so every stage spends several generations between 0 and its total: the ETA appears only
    # while a stage is part done, and with whole-stage batches that window is too short to be seen reliably.
    studio = make_studio(tmp_path, str(untrained_model_dir), {**QUICK, "backend": {"batch_size": 1, "device": "cpu"}})
    assert plain(start_iteration(studio, "r", 4)).startswith(
        f"started `python -m selflengthen iterate --db {studio.db_path} --name r --n-instructions 4 --quiet`")
    seen = []

    def finished():
        text, log = iterate_progress(studio, "r")
        seen.append(plain(text))
        return "· iterate · done" in seen[-1] and (text, log)

    wait_for(finished, every=0.05)
    assert studio.worker.wait(30)  # the command prints its last line after the job row says done
    text, log = iterate_progress(studio, "r")
    assert any(t.startswith("starting `python -m selflengthen iterate") for t in seen)
    etas = [t for t in seen if re.match(r"job 1 · iterate · running · stage \w+ \d+/\d+ .*· elapsed .* · ETA ", t)]
    assert etas
    text = plain(text)
    assert text.startswith("job 1 · iterate · done · stage filter")
    assert re.search(r"iteration 0 · review · completed steps: augment, generate, select, expand, filter · instructions \d+ · "
                     r"samples \d+", text)
    assert "step filter done" in log and "iteration 0: review" in log
    assert job_rows(studio.store, "r")[0][:4] == [1, "iterate", "done", "filter"]
    assert studio.store.latest_iteration(studio.store.get_run("r")["id"])["status"] == "review"


@pytest.mark.slow
def test_a_command_failing_before_its_job_shows_the_cli_error(studio):
    studio.worker.launch("iterate", [iterate_command(studio.db_path, "ghost", None)])
    assert studio.worker.wait(60)
    text, log = iterate_progress(studio, "ghost")
    assert plain(text) == f"the command failed before its job started: error: no run named 'ghost' in {studio.db_path}"
    assert f"error: no run named 'ghost' in {studio.db_path}" in log


@pytest.mark.slow
def test_cancel_stops_a_running_job_and_a_second_launch_is_refused(tmp_path, untrained_model_dir):
    studio = make_studio(tmp_path, str(untrained_model_dir), SLOW)
    try:
        assert start_iteration(studio, "r", None).startswith("started")
        job = wait_for(lambda: (j := studio.store.latest_job(studio.store.get_run("r")["id"], "iterate"))
                       and j["stage"] == "generate" and j)
        second = plain(start_iteration(studio, "r", None))
        assert second.startswith(f"cannot start: jobs: job {job['id']} (iterate) of run 'r' is running ('iterate'): "
                                 "python -m selflengthen iterate")
        assert cancel_iteration(studio) == f"asked job {job['id']} to stop; finished work is kept"
        assert studio.worker.wait(60)
        text = plain(iterate_progress(studio, "r")[0])
        assert text.startswith(f"job {job['id']} · iterate · cancelled · stage generate")
        assert "stopped on request" in text
        assert studio.store.get_job(job["id"])["status"] == "cancelled"
        assert cancel_iteration(studio) == "no running job to cancel"
    finally:
        studio.worker.cancel()
        studio.worker.wait(60)
