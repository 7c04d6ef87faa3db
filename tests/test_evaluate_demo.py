"""Evaluate with the real demo model: the CLI end to end and resumed, and the demo model as a judge."""

import json

import pytest

from commands import cli
from selflengthen.config import preset_config
from selflengthen.errors import SelfLengthenError
from selflengthen.evaluation.job import judge_settings, run_eval_job
from selflengthen.method.words import count_words
from storage import Store


def count(store, table) -> int:
    return store.one(f"SELECT COUNT(*) AS n FROM {table}")["n"]

pytestmark = pytest.mark.slow  # builds the demo model, runs the CLI

def test_the_cli_evaluates_the_demo_model_and_a_rerun_regenerates_nothing(tmp_path, demo_model_dir):
    db, seeds = tmp_path / "studio.db", tmp_path / "seeds.txt"
    seeds.write_text("Write about the sea.\nExplain how cities grow.\n", encoding="utf-8")
    made = cli("init", "--db", db, "--name", "demo", "--model", demo_model_dir, "--seeds", seeds, "--preset", "demo")
    assert made.returncode == 0, made.stderr[-2000:]
    args = ("eval", "--db", db, "--name", "demo", "--iteration", 0, "--limit", 3, "--max-new-tokens", 48, "--quiet")
    first = cli(*args, "--json")
    assert first.returncode == 0, first.stderr[-2000:]
    evaluation = json.loads(first.stdout)
    store = Store(db)
    assert evaluation == store.get_evaluation(evaluation["id"])
    rows = store.eval_items(evaluation["id"])
    assert len(rows) == 3 and all(r["response"] is not None and r["error"] is None for r in rows)
    assert all(r["words"] == count_words(r["response"]) and 0 <= r["length_score"] <= 1 for r in rows)
    assert all(r["sl_score"] is not None and 0 <= r["sl_score"] <= 100 for r in rows)  # LonGen opens with "about"
    assert evaluation["status"] == "done" and evaluation["summary"]["items"] == 3
    assert evaluation["model"] == str(demo_model_dir) and evaluation["max_new_tokens"] == 48
    assert store.get_job(evaluation["job_id"])["status"] == "done"

    second = cli(*args)
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stdout.startswith(f"evaluation {evaluation['id']}: iteration 0 generator")
    assert "LonGen length score (0-1): " in second.stdout
    job = store.latest_job(evaluation["run_id"], "eval")
    assert job["id"] != evaluation["job_id"] and job["status"] == "done"
    assert "every item is answered already" in job["log"] and "loading" not in job["log"]
    assert store.eval_items(evaluation["id"]) == rows and count(store, "eval_items") == 3

    bad = cli("eval", "--db", db, "--name", "demo", "--iteration", 0, "--limit", 0)
    assert bad.returncode == 1 and bad.stderr.strip() == "error: --limit must be at least 1 (got 0)"


def test_the_demo_model_as_judge_writes_no_json_and_the_job_still_ends(tmp_path, demo_model_dir):
    store = Store(tmp_path / "studio.db")
    config = preset_config("demo")
    store.create_run("r", str(demo_model_dir), str(demo_model_dir), "transformers", "demo", config.to_dict(),
                     [{"text": "Write about the sea.", "language": "en"}])
    judge = judge_settings(str(demo_model_dir), "transformers")
    evaluation = run_eval_job(store, "r", 0, limit=2, max_new_tokens=16, judge=judge)
    judged = evaluation["summary"]["judge"]
    assert judged["model"] == str(demo_model_dir) and judged["scored"] + judged["failed"] == 2
    assert judged["failed"] == 2  # a tiny story model does not write the JSON asked for
    assert all(r["judge_error"] and r["judge_output"] is not None for r in store.eval_items(evaluation["id"]))
    assert store.get_job(evaluation["job_id"])["status"] == "done" and evaluation["status"] == "done"


def test_a_stopped_eval_of_the_demo_model_resumes_to_the_same_answers(tmp_path, demo_model_dir):
    from selflengthen.stages.pipeline import default_backend_factory

    def real_store(name):
        store = Store(tmp_path / name)
        config = preset_config("demo", {"backend": {"batch_size": 2}})
        store.create_run("r", str(demo_model_dir), str(demo_model_dir), "transformers", "demo", config.to_dict(),
                         [{"text": "Write about the sea.", "language": "en"}])
        return store

    whole = real_store("whole.db")
    expected = run_eval_job(whole, "r", 0, limit=5, max_new_tokens=24)
    store, batch_sizes = real_store("stopped.db"), []

    def stopping_factory(role, model, config):
        backend = default_backend_factory(role, model, config)
        generate = backend.generate

        def first_batch_then_stop(prompts, params):
            batch_sizes.append(len(prompts))
            store.request_cancel(store.live_jobs()[0]["id"])
            return generate(prompts, params)

        backend.generate = first_batch_then_stop
        return backend

    with pytest.raises(SelfLengthenError, match="stopped on request"):
        run_eval_job(store, "r", 0, limit=5, max_new_tokens=24, factory=stopping_factory)
    assert batch_sizes == [2] and store.list_evaluations(store.get_run("r")["id"])[0]["answered"] == 2
    final = run_eval_job(store, "r", 0, limit=5, max_new_tokens=24)
    responses = [r["response"] for r in store.eval_items(final["id"])]
    assert responses == [r["response"] for r in whole.eval_items(expected["id"])] and all(responses)
    assert final["summary"] == expected["summary"] and final["status"] == "done"
