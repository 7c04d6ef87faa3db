"""Compare: iteration pairs, the compare job (scripted and real), the CLI twin and the tab's handlers."""

import json
import os
import subprocess
import sys
import time

import gradio as gr
import pytest

from paths import ROOT
from scripted import scripted_backend
from selflengthen.config import preset_config
from selflengthen.errors import InputError, SelfLengthenError
from selflengthen.evaluation.compare import parse_iteration_pair, run_compare_job
from storage import Store, StoreError
from studios import studio_for
from ui import compare as tab

INSTRUCTION = "Write about <b>the sea</b> & its tides."


@pytest.mark.parametrize("text, pair", [("0,2", (0, 2)), (" 3 , 1 ", (3, 1)), ("10,0", (10, 0))])
def test_iteration_pairs(text, pair):
    assert parse_iteration_pair(text) == pair


@pytest.mark.parametrize("text, message", [
    ("0,x", "two iteration indexes like 0,2"), ("1", "two iteration indexes"), ("", "two iteration indexes"),
    ("0,1,2", "two iteration indexes"), ("-1,2", "two iteration indexes"), ("2,2", "two different iterations"),
    ("0.5,1", "two iteration indexes"),
])
def test_bad_iteration_pairs_are_refused(text, message):
    with pytest.raises(InputError, match=message):
        parse_iteration_pair(text)


def _make_run(store, generator="m", later="model-1", config=None):
    config = config or preset_config("demo")
    run = store.create_run("r", generator, generator, "transformers", "demo", config.to_dict(),
                           [{"text": "Write about the sea.", "language": "en"},
                            {"text": "Explain how cities grow.", "language": "en"}])
    store.create_iteration(run["id"], 1, later, later, config.to_dict())
    return run


class Factory:
    """Scripted generators that record when each model is loaded and closed."""

    def __init__(self, on_generate=None):
        self.events, self.backends, self.on_generate = [], [], on_generate

    def __call__(self, role, model, config):
        factory, backend = self, scripted_backend()
        generate = backend.generate

        def recorded(prompts, params):
            factory.events.append(("generate", model))
            if factory.on_generate:
                factory.on_generate(model)
            return generate(prompts, params)

        backend.generate = recorded
        backend.close = lambda: self.events.append(("close", model))
        self.events.append(("load", model))
        self.backends.append((model, backend))
        return backend


@pytest.fixture
def store(store):
    _make_run(store)
    return store


def test_compare_job_answers_with_each_generator_in_turn_and_stores_the_row(store):
    factory = Factory()
    row = run_compare_job(store, "r", 0, 1, f"  {INSTRUCTION}\n", max_new_tokens=16, factory=factory)
    assert factory.events == [("load", "m"), ("generate", "m"), ("close", "m"),
                              ("load", "model-1"), ("generate", "model-1"), ("close", "model-1")]
    for model, backend in factory.backends:  # the generate stage's prompt: the instruction as the user turn
        assert [p.messages for p in backend.history] == [({"role": "user", "content": INSTRUCTION},)]
    assert row == store.get_comparison(row["id"])
    assert (row["iteration_a"], row["iteration_b"], row["model_a"], row["model_b"]) == (0, 1, "m", "model-1")
    assert row["instruction"] == INSTRUCTION and row["response_a"].startswith("Answer 0 opens")
    assert row["words_a"] == len(row["response_a"].split())
    job = store.get_job(row["job_id"])
    assert (job["kind"], job["status"], job["done"], job["total"]) == ("compare", "done", 2, 2)
    assert "iteration 1:" in job["log"] and "--iterations 0,1" in job["command"]
    assert [c["id"] for c in store.list_comparisons(store.get_run("r")["id"])] == [row["id"]]


def test_a_generator_shared_by_both_iterations_is_loaded_once(tmp_path):
    store = Store(tmp_path / "studio.db")
    _make_run(store, later="m")
    factory = Factory()
    row = run_compare_job(store, "r", 1, 0, "Write a poem.", factory=factory)
    assert [e for e in factory.events if e[0] == "load"] == [("load", "m")]
    assert (row["iteration_a"], row["iteration_b"]) == (1, 0) and row["response_a"] and row["response_b"]


@pytest.mark.parametrize("args, error, message", [
    ((0, 5, "Write."), InputError, "run 'r' has no iteration 5 \\(it has: 0, 1\\)"),
    ((1, 1, "Write."), InputError, "two different iterations"),
    ((0, 1, "   "), InputError, "the instruction is empty"),
    ((0, 1, "x" * 20_001), InputError, "instruction is too long"),
])
def test_bad_requests_are_refused_before_any_job(store, args, error, message):
    with pytest.raises(error, match=message):
        run_compare_job(store, "r", *args, factory=Factory())
    assert store.list_jobs(store.get_run("r")["id"]) == []
    with pytest.raises(StoreError, match="no run named 'nope'"):
        run_compare_job(store, "nope", 0, 1, "Write.")


def test_refused_while_another_job_runs(store):
    run = store.get_run("r")
    store.start_job("iterate", run_id=run["id"])  # this process: alive
    with pytest.raises(StoreError, match="already running"):
        run_compare_job(store, "r", 0, 1, "Write.", factory=Factory())
    assert store.list_comparisons(run["id"]) == []


def test_a_failing_model_fails_the_job_and_a_cancel_stops_between_models(store):
    def broken(role, model, config):
        raise SelfLengthenError(f"model path not found: {model}")

    with pytest.raises(SelfLengthenError, match="model path not found: m"):
        run_compare_job(store, "r", 0, 1, "Write.", factory=broken)
    run_id = store.get_run("r")["id"]
    failed = store.latest_job(run_id, "compare")
    assert failed["status"] == "failed" and "model path not found: m" in failed["error"]

    factory = Factory(on_generate=lambda model: store.request_cancel(store.live_jobs()[0]["id"]))
    with pytest.raises(SelfLengthenError, match="stopped on request"):
        run_compare_job(store, "r", 0, 1, "Write.", factory=factory)
    assert store.latest_job(run_id, "compare")["status"] == "cancelled"
    assert [e for e in factory.events if e[0] == "load"] == [("load", "m")]  # the second model never loaded
    assert store.list_comparisons(run_id) == []


def _real_run(tmp_path, model_dir) -> Store:
    store = Store(tmp_path / "studio.db")
    _make_run(store, generator=str(model_dir), later=str(model_dir))
    return store


@pytest.mark.slow
def test_the_cli_compares_with_a_real_model(tmp_path, untrained_model_dir):
    store = _real_run(tmp_path, untrained_model_dir)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "selflengthen", "compare", "--db", str(store.path), "--name", "r",
                             "--iterations", "0,1", "--instruction", "Write about the sea.", "--max-new-tokens", "16",
                             "--json"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    row = json.loads(result.stdout)
    assert row == store.get_comparison(row["id"])
    assert row["response_a"] and row["response_b"] and row["words_a"] > 0 and row["words_b"] > 0
    assert row["model_a"] == str(untrained_model_dir)
    assert store.get_job(row["job_id"])["status"] == "done"
    bad = subprocess.run([sys.executable, "-m", "selflengthen", "compare", "--db", str(store.path), "--name", "r",
                          "--iterations", "0,0", "--instruction", "x"], capture_output=True, text=True, cwd=ROOT,
                         env=env, timeout=60, check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip() == "error: --iterations needs two different iterations (got 0 twice)"


@pytest.mark.slow
def test_the_tab_launches_the_cli_twin_and_shows_the_result(tmp_path, untrained_model_dir):
    store = _real_run(tmp_path, untrained_model_dir)
    studio = studio_for(store)
    a, b, pool, limit, history, shown_id, asked, answer_a, _ = tab.refresh_compare(studio, "r")
    assert (a["value"], b["value"], a["choices"]) == (0, 1, [0, 1]) and pool["value"] == "Write about the sea."
    assert limit["value"] == preset_config("demo").generate.max_new_tokens
    assert history.empty and shown_id is None and asked == ""
    assert answer_a == gr.update(label="Iteration A", value="")
    status, command = tab.start_compare(studio, "r", 0, 1, "-Leading dash, <i>tags</i>.", 16.0)
    assert status.startswith("Started") and "'--instruction=-Leading dash, <i>tags</i>.'" in command
    assert command.startswith("python -m selflengthen compare --db ")
    deadline, outputs = time.time() + 90, None
    while time.time() < deadline:
        outputs = tab.poll_compare(studio, "r", None)
        if outputs[2] is not None:
            break
        time.sleep(0.5)
    _, history, shown_id, asked, answer_a, _ = outputs
    assert shown_id is not None, studio.worker.state()
    assert history.values.tolist()[0][0] == shown_id and history.values.tolist()[0][2] == "0 vs 1"
    row = store.get_comparison(shown_id)
    assert row["instruction"] == asked == "-Leading dash, <i>tags</i>."
    assert answer_a["value"] == row["response_a"]
    assert answer_a["label"] == f"iteration 0 · {row['words_a']} words · {untrained_model_dir}"
    studio.worker.wait(30)
    assert "done · 2/2 answers" in tab.progress_markdown(studio, "r")
    again = tab.poll_compare(studio, "r", shown_id)  # nothing newer: history and answers are left alone
    assert again[2] == shown_id and all(isinstance(x, type(gr.skip())) for x in again[3:] + again[1:2])


def test_the_tab_refuses_bad_input_and_a_busy_worker(store, tmp_path):
    studio = studio_for(store)
    assert tab.same_iteration_notice(1, 1).startswith("**Pick two different iterations**")
    assert tab.same_iteration_notice(0, 1) == "" and tab.same_iteration_notice(None, 1) == ""
    for args, message in [((1, 1, "Write.", None), "pick two different iterations (both are 1)"),
                          ((0, 1, "  ", None), "the instruction is empty"),
                          ((0, 1, "Write.", 2.5), "whole number of at least 1"),
                          ((0, None, "Write.", None), "pick two iterations")]:
        status, _ = tab.start_compare(studio, "r", *args)
        assert status.startswith("**Not started**") and message in status
    assert tab.start_compare(studio, None, 0, 1, "Write.", None)[0] == "**Not started**: pick a run first"
    job = store.start_job("iterate", run_id=store.get_run("r")["id"])
    status, command = tab.start_compare(studio, "r", 0, 1, "Write.", None)
    assert f"job {job} (iterate) of run 'r' is running" in status and "--iterations 0,1" in command
    assert studio.worker.state()["label"] == "" and store.list_jobs(store.get_run("r")["id"])[-1]["id"] == job
    assert tab.progress_markdown(studio, "r") == "No comparison yet."


def test_reopening_the_tab_keeps_valid_choices(store):
    a, b, pool, limit, _ = tab.reopen_compare(studio_for(store), "r", 1, 7, "My own question.", 32)
    assert (a["value"], b["value"], pool["value"], limit["value"]) == (1, 1, "My own question.", 32)
    assert pool["choices"] == ["Write about the sea.", "Explain how cities grow."]
    assert [u["choices"] for u in tab.picker_updates(store, None)[:3]] == [[], [], []]
    same = tab.picker_updates(store, "r", 0, 0)  # opened before iteration 1 existed: B moves to the latest
    assert (same[0]["value"], same[1]["value"]) == (0, 1)


def test_history_click_shows_that_comparison(store):
    first = run_compare_job(store, "r", 0, 1, "First question.", factory=Factory())
    second = run_compare_job(store, "r", 1, 0, "Second question.", factory=Factory())
    history = tab.history_rows(store, "r")
    assert history["id"].tolist() == [second["id"], first["id"]]
    evt = gr.SelectData(None, {"index": [1, 5], "value": "First question.", "row_value": history.values.tolist()[1]})
    asked, answer_a, answer_b = tab.show_comparison(store, tab.selected_id(evt))
    assert asked == "First question."
    assert answer_a["value"] == first["response_a"] and answer_b["label"].startswith("iteration 1 · ")
    assert tab.comparison_view(store, None)["text_a"] == ""
    assert tab.comparison_view(store, 999)["label_b"] == "Iteration B"
