"""Evaluate: benchmark files, the evaluations store, the eval job (scripted and real) and its CLI twin."""

import json
import sys

import pytest

from selflengthen.backends.base import Completion
from selflengthen.backends.fake import ScriptedBackend
from selflengthen.config import preset_config
from selflengthen.errors import InputError, SelfLengthenError
from selflengthen.evaluation.job import eval_command, eval_model, format_summary, judge_settings, run_eval_job
from selflengthen.evaluation.judge import DIMENSIONS
from selflengthen.evaluation.metrics import summarize
from selflengthen.method.words import count_words
from selflengthen.stages.common import derive_seed
from storage import Store, StoreError


ITEMS = [dict(zip(("language", "range", "type", "constraint", "query"), fields)) for fields in [
    ("zh", "2-4k", "about", "大约20字", "写一段关于大海的文字，约20字。"),
    ("en", "2-4k", "about", "around 30 words", "Describe rain."),
    ("zh", "4-6k", "range", "20字至40字", "介绍一座城市。"),
    ("en", "4-6k", "range", "20-40 words", "Explain tides."),
    ("zh", "6-8k", "above", "大于20字", "谈谈读书的意义。"),
    ("en", "6-8k", "above", "more than 20 words", "Praise bread."),
    ("zh", "2-4k", "below", "小于30字", "用一句话描述秋天。"),
    ("en", "2-4k", "below", "less than 30 words", "-Define a cat."),
    ("en", "4-6k", "about", "around 40 words", "Write about trains."),
    ("zh", "6-8k", "range", "10字至30字", "写一首小诗。"),
]]
GOOD_VERDICT = json.dumps(dict(zip(DIMENSIONS, (8, 7, 9, 8, 6, 5, 7))))


def write_benchmark(path, items=ITEMS) -> str:
    path.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items), encoding="utf-8")
    return str(path)


def answer_for(seed: int) -> str:
    """A scripted answer that depends only on the prompt's seed (so resumed and uninterrupted runs can agree)."""
    return f"Answer {seed} " + "word " * (seed % 45) + "end."


class Models:
    """Scripted generator and judge made through the job's factory; every prompt is recorded per role."""

    def __init__(self, judge_reply=None, fail_once=(), on_prompt=None):
        self.prompts = {"generator": [], "judge": []}
        self.calls = {"generator": [], "judge": []}
        self.loaded, self.closed = [], []
        self.judge_reply = judge_reply or (lambda prompt, n: GOOD_VERDICT)
        self.fail_once, self.on_prompt = set(fail_once), on_prompt

    def __call__(self, role, model, config):
        self.loaded.append((role, model))
        backend = ScriptedBackend(model, responder=lambda prompt: self.reply(role, prompt))
        generate = backend.generate

        def recorded(prompts, params, written=None):
            self.calls[role].append((len(prompts), params))
            return generate(prompts, params, written)

        backend.generate = recorded
        backend.close = lambda: self.closed.append((role, model))
        return backend

    def reply(self, role, prompt):
        self.prompts[role].append(prompt)
        if self.on_prompt:
            self.on_prompt(role, len(self.prompts[role]))
        if role == "judge":
            return self.judge_reply(prompt, len(self.prompts[role]))
        query = prompt.messages[0]["content"]
        if query in self.fail_once:
            self.fail_once.discard(query)
            return Completion("", error="HTTP 503: server overloaded")
        return Completion(answer_for(prompt.seed), finish_reason="length" if prompt.seed % 7 == 0 else "stop")


def make_store(path, batch_size=4) -> Store:
    store = Store(path)
    config = preset_config("demo", {"backend": {"batch_size": batch_size}})
    store.create_run("r", "gen-0", "ext-0", "transformers", "demo", config.to_dict(),
                     [{"text": "Write about the sea.", "language": "en"}])
    return store


@pytest.fixture
def store(tmp_path):
    return make_store(tmp_path / "studio.db")


@pytest.fixture
def bench(tmp_path):
    return write_benchmark(tmp_path / "bench.jsonl")


def count(store, table) -> int:
    return store.one(f"SELECT COUNT(*) AS n FROM {table}")["n"]


def _item_row(idx, response="An answer.", error=None):
    return {"item_idx": idx, "language": "en", "length_range": "2-4k", "type": "about",
            "constraint_text": "around 3 words", "query": f"Q{idx}", "response": response,
            "words": None if response is None else 2, "truncated": idx == 1, "error": error, "target_low": 2.4,
            "target_high": 3.6, "target": 3.0, "length_score": 0.5, "sl_score": 75.0}


def test_evaluations_are_found_by_identity_and_items_upserted(store):
    run_id = store.get_run("r")["id"]
    identity = {"run_id": run_id, "iteration_idx": 0, "role": "generator", "model": "gen-0", "benchmark": "LonGen",
                "digest": "abc", "max_new_tokens": 64, "seed": 0}
    first = store.find_or_create_evaluation(**identity, total=3, job_id=None)
    assert (first["status"], first["summary"], first["answered"], first["total"]) == ("incomplete", {}, 0, 3)
    store.save_eval_items(first["id"], [_item_row(0), _item_row(1), _item_row(2, None, "HTTP 500")])
    store.save_judgements(first["id"], {0: {"judge_model": "j", "judge_scores": {"Relevance": 8}, "judge_error": None,
                                            "judge_output": "x" * 10_000}})
    again = store.find_or_create_evaluation(**identity, total=2, job_id=None)
    assert again["id"] == first["id"] and again["total"] == 2 and again["answered"] == 2
    other = store.find_or_create_evaluation(**{**identity, "max_new_tokens": 65}, total=3, job_id=None)
    assert other["id"] != first["id"]
    store.save_eval_items(first["id"], [_item_row(1, "A new answer.")])  # an upsert: no duplicate row
    rows = store.eval_items(first["id"])
    assert [r["item_idx"] for r in rows] == [0, 1] and count(store, "eval_items") == 3  # item 2 is beyond total 2
    assert rows[0]["judge_scores"] == {"Relevance": 8} and len(rows[0]["judge_output"]) == 4_000
    assert rows[1]["response"] == "A new answer." and rows[1]["truncated"] is True and rows[0]["truncated"] is False
    keys = {"item_idx", "language", "length_range", "type", "constraint_text", "query", "response", "words",
            "truncated", "error", "target_low", "target_high", "target", "length_score", "sl_score", "judge_model",
            "judge_scores", "judge_error"}
    assert keys <= set(rows[0])
    store.set_evaluation_summary(first["id"], {"items": 2}, "done")
    listed = store.list_evaluations(run_id)
    assert [e["id"] for e in listed] == [first["id"], other["id"]] and listed[0]["summary"] == {"items": 2}
    assert listed[0]["status"] == "done" and store.get_evaluation(first["id"]) == listed[0]


# --- the job (scripted models) -------------------------------------------------------------------------------

def test_the_job_stores_every_answer_with_its_words_and_scores(store, bench):
    models = Models()
    evaluation = run_eval_job(store, "r", 0, benchmark=bench, max_new_tokens=32, factory=models)
    assert models.loaded == [("generator", "gen-0")] and models.closed == [("generator", "gen-0")]
    assert [n for n, _ in models.calls["generator"]] == [4, 4, 2]  # batch_size 4
    params = models.calls["generator"][0][1]
    assert params.max_new_tokens == 32 and params.seed is None and params.temperature == 0.8
    rows = store.eval_items(evaluation["id"])
    assert len(rows) == 10 and count(store, "eval_items") == 10
    for item, row, prompt in zip(ITEMS, rows, models.prompts["generator"]):
        assert prompt.messages == ({"role": "user", "content": item["query"]},)  # the generate stage's prompt
        assert prompt.seed == derive_seed(0, "eval", 0, "generator", row["item_idx"])
        assert row["response"] == answer_for(prompt.seed) and row["words"] == count_words(row["response"])
        assert (row["language"], row["length_range"], row["type"], row["constraint_text"]) == \
            (item["language"], item["range"], item["type"], item["constraint"])
        assert row["truncated"] == (prompt.seed % 7 == 0) and 0 <= row["length_score"] <= 1
        assert (row["sl_score"] is None) == (item["type"] in ("above", "below"))
    assert evaluation["status"] == "done" and evaluation["answered"] == evaluation["total"] == 10
    assert evaluation["summary"] == json.loads(json.dumps(summarize(rows)))
    assert evaluation["summary"]["sl"]["n"] == 6 and evaluation["summary"]["judge"] is None
    assert set(evaluation["summary"]["longen"]["by_range"]) == {"2-4k", "4-6k", "6-8k"}
    assert (evaluation["model"], evaluation["benchmark"], evaluation["max_new_tokens"]) == ("gen-0", bench, 32)
    job = store.get_job(evaluation["job_id"])
    assert (job["kind"], job["status"], job["stage"], job["done"], job["total"]) == ("eval", "done", "answer", 10, 10)
    assert job["iteration_id"] == store.get_iteration(store.get_run("r")["id"], 0)["id"]
    assert job["command"].startswith("python -m selflengthen eval --db ") and "--name r --iteration 0 --role generator" in job["command"]
    assert store.list_evaluations(store.get_run("r")["id"]) == [evaluation]


def test_a_cancelled_eval_resumes_with_only_the_missing_items_and_ends_as_an_uninterrupted_one(tmp_path, bench):
    whole = make_store(tmp_path / "whole.db")
    expected = run_eval_job(whole, "r", 0, benchmark=bench, factory=Models())

    store = make_store(tmp_path / "studio.db")
    stopper = Models(on_prompt=lambda role, n: n == 4 and store.request_cancel(store.live_jobs()[0]["id"]))
    with pytest.raises(SelfLengthenError, match="stopped on request"):
        run_eval_job(store, "r", 0, benchmark=bench, factory=stopper)
    [partial] = store.list_evaluations(store.get_run("r")["id"])
    assert (partial["status"], partial["answered"], partial["summary"]["items"]) == ("incomplete", 4, 4)
    assert store.get_job(partial["job_id"])["status"] == "cancelled" and stopper.closed == stopper.loaded

    resumed = Models()
    final = run_eval_job(store, "r", 0, benchmark=bench, factory=resumed)
    assert len(resumed.prompts["generator"]) == 6  # only the missing items
    assert [p.messages[0]["content"] for p in resumed.prompts["generator"]] == [i["query"] for i in ITEMS[4:]]
    assert final["id"] == partial["id"] and count(store, "eval_items") == 10 and count(store, "evaluations") == 1
    assert final["summary"] == expected["summary"] and final["status"] == "done"
    strip = ("judge_output",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in store.eval_items(final["id"])] == \
        [{k: v for k, v in r.items() if k not in strip} for r in whole.eval_items(expected["id"])]

    again = Models()
    assert run_eval_job(store, "r", 0, benchmark=bench, factory=again)["summary"] == expected["summary"]
    assert again.loaded == [] and "every item is answered already" in store.latest_job(final["run_id"])["log"]


def test_a_backend_error_on_an_item_is_counted_then_retried(store, bench):
    models = Models(fail_once={ITEMS[2]["query"], ITEMS[9]["query"]})
    first = run_eval_job(store, "r", 0, benchmark=bench, factory=models)
    assert first["status"] == "incomplete" and first["answered"] == 8
    assert (first["summary"]["items"], first["summary"]["errors"]) == (8, 2)
    failed = [r for r in store.eval_items(first["id"]) if r["error"]]
    assert [r["item_idx"] for r in failed] == [2, 9] and failed[0]["error"] == "HTTP 503: server overloaded"
    assert failed[0]["response"] is None and failed[0]["words"] is None
    job = store.get_job(first["job_id"])
    assert job["status"] == "done" and "2 item(s) failed: HTTP 503" not in job["log"]
    assert "1 item(s) failed: HTTP 503: server overloaded" in job["log"]

    retry = Models()
    second = run_eval_job(store, "r", 0, benchmark=bench, factory=retry)
    assert [p.messages[0]["content"] for p in retry.prompts["generator"]] == [ITEMS[2]["query"], ITEMS[9]["query"]]
    assert second["status"] == "done" and (second["summary"]["items"], second["summary"]["errors"]) == (10, 0)
    assert count(store, "eval_items") == 10


def test_a_limit_draws_items_across_groups_and_a_larger_one_answers_more_of_the_same(store, bench):
    models = Models()
    evaluation = run_eval_job(store, "r", 0, benchmark=bench, limit=3, factory=models)
    assert evaluation["total"] == 3 and evaluation["status"] == "done" and len(models.prompts["generator"]) == 3
    asked = [p.messages[0]["content"] for p in models.prompts["generator"]]
    chosen = [item for item in ITEMS if item["query"] in asked]
    assert len({(i["language"], i["type"], i["range"]) for i in chosen}) == 3  # three different groups
    bigger = Models()
    grown = run_eval_job(store, "r", 0, benchmark=bench, limit=50, factory=bigger)  # more than the file has
    assert grown["id"] == evaluation["id"] and grown["total"] == 10 and len(bigger.prompts["generator"]) == 7
    assert not set(asked) & {p.messages[0]["content"] for p in bigger.prompts["generator"]}


def test_a_language_filter_answers_only_that_language(store, bench):
    models = Models()
    evaluation = run_eval_job(store, "r", 0, benchmark=bench, language="en", factory=models)
    assert evaluation["total"] == 5 and evaluation["status"] == "done"
    assert {p.messages[0]["content"] for p in models.prompts["generator"]} == {
        item["query"] for item in ITEMS if item["language"] == "en"}
    with pytest.raises(InputError, match="no items in language 'fr'"):
        run_eval_job(store, "r", 0, benchmark=bench, language="fr", factory=models)


def _mixed_judge(prompt, n):
    """Good, fenced, prose, out of range, no JSON, cut off, a server error: in turn."""
    replies = [GOOD_VERDICT, f"```json\n{GOOD_VERDICT}\n```", f"My verdict: {GOOD_VERDICT} Thanks!",
               GOOD_VERDICT.replace("9", "11"), "The answer is fine.", GOOD_VERDICT[:40],
               Completion("", error="HTTP 500: judge crashed")]
    return replies[(n - 1) % len(replies)]


def test_the_judge_scores_answers_and_unreadable_verdicts_are_counted(store, bench):
    models = Models(judge_reply=_mixed_judge)
    judge = judge_settings("judge-model", "openai", "http://127.0.0.1:9/v1")
    evaluation = run_eval_job(store, "r", 0, benchmark=bench, judge=judge, factory=models)
    assert models.loaded == [("generator", "gen-0"), ("judge", "judge-model")] and models.closed == models.loaded
    [(n, params)] = models.calls["judge"][:1]
    assert params.greedy and params.max_new_tokens == 512
    prompt = models.prompts["judge"][0].messages[0]["content"]
    rows = store.eval_items(evaluation["id"])
    assert ITEMS[0]["query"] in prompt and rows[0]["response"] in prompt
    judge_summary = evaluation["summary"]["judge"]
    # replies 1-3 and 8-10 are readable; 4-6 unreadable; 7 a server error (not a verdict: retried next time)
    assert (judge_summary["model"], judge_summary["scored"], judge_summary["failed"]) == ("judge-model", 6, 4)
    assert judge_summary["by_dimension"]["Accuracy"] == 9.0 and judge_summary["overall"] == pytest.approx(50 / 7)
    errors = [r["judge_error"] for r in rows]
    assert errors[3] == "Accuracy score 11 is outside 1-10" and errors[4] == "no JSON object found"
    assert errors[5] == "the JSON object is cut off" and errors[6] == "backend: HTTP 500: judge crashed"
    assert rows[4]["judge_output"] == "The answer is fine." and rows[6]["judge_output"] is None
    job = store.get_job(evaluation["job_id"])
    assert (job["status"], job["stage"], job["done"], job["total"]) == ("done", "judge", 10, 10)
    assert evaluation["status"] == "incomplete"  # one item still waits for a verdict

    again = Models(judge_reply=lambda prompt, n: GOOD_VERDICT)
    final = run_eval_job(store, "r", 0, benchmark=bench, judge=judge, factory=again)
    assert again.prompts["generator"] == [] and len(again.prompts["judge"]) == 1  # only the server error
    assert final["status"] == "done" and final["summary"]["judge"]["scored"] == 7
    assert final["summary"]["judge"]["failed"] == 3


def test_refused_requests_leave_no_job_and_no_evaluation(store, bench, tmp_path):
    for kwargs, message in [({"iteration": 5}, r"run 'r' has no iteration 5 \(it has: 0\)"),
                            ({"limit": 0}, r"--limit must be at least 1 \(got 0\)"),
                            ({"max_new_tokens": 0}, r"--max-new-tokens must be at least 1"),
                            ({"benchmark": str(tmp_path / "none.jsonl")}, "no such file"),
                            ({"role": "augmenter"}, "unknown role 'augmenter'"),
                            ({"judge": {"backend": "openai"}}, "the judge needs a model")]:
        with pytest.raises(InputError, match=message):
            run_eval_job(store, "r", **{"iteration": 0, "benchmark": bench, **kwargs}, factory=Models())
    with pytest.raises(StoreError, match="no run named 'nope'"):
        run_eval_job(store, "nope", 0, factory=Models())
    assert count(store, "jobs") == 0 and count(store, "evaluations") == 0 and count(store, "eval_items") == 0


def test_refused_while_another_job_runs(store, bench):
    store.start_job("iterate", run_id=store.get_run("r")["id"])  # this process: alive
    with pytest.raises(StoreError, match="already running"):
        run_eval_job(store, "r", 0, benchmark=bench, factory=Models())
    assert count(store, "evaluations") == 0


def test_a_failing_model_fails_the_job_and_keeps_the_evaluation(store, bench):
    def broken(role, model, config):
        raise SelfLengthenError(f"model path not found: {model}")

    with pytest.raises(SelfLengthenError, match="model path not found: gen-0"):
        run_eval_job(store, "r", 0, benchmark=bench, factory=broken)
    job = store.latest_job(store.get_run("r")["id"], "eval")
    assert job["status"] == "failed" and "model path not found" in job["error"]
    [evaluation] = store.list_evaluations(store.get_run("r")["id"])
    assert evaluation["status"] == "incomplete" and evaluation["summary"]["items"] == 0


def test_the_model_of_an_iteration_and_of_the_one_training_opens(store, tmp_path):
    run = store.get_run("r")
    assert eval_model(store, run, 0, "generator") == "gen-0" and eval_model(store, run, 0, "extender") == "ext-0"
    with pytest.raises(InputError, match=r"has no iteration 1 \(it has: 0\)"):
        eval_model(store, run, 1, "generator")
    iteration = store.latest_iteration(run["id"])
    trained = tmp_path / "checkpoint-generator"
    trained.mkdir()
    store.register_checkpoint(run_id=run["id"], iteration_id=iteration["id"], role="generator", path=str(trained),
                              base_model="gen-0", kind="full", data_size=3)
    store.update_iteration(iteration["id"], status="trained")
    assert eval_model(store, run, 1, "generator") == str(trained)  # iteration 1 is not created yet
    assert eval_model(store, run, 1, "extender") == "ext-0"  # not trained: keeps its model
    with pytest.raises(InputError, match="has no iteration 2"):
        eval_model(store, run, 2, "generator")
    models = Models()
    evaluation = run_eval_job(store, "r", 1, limit=2, factory=models)
    assert models.loaded == [("generator", str(trained))] and evaluation["iteration_idx"] == 1
    assert store.get_job(evaluation["job_id"])["iteration_id"] is None and evaluation["benchmark"] == "LonGen"
    trained.rmdir()
    with pytest.raises(InputError, match="generator model of iteration 1 is missing on disk"):
        run_eval_job(store, "r", 1, limit=2, factory=Models())


def test_judge_settings_and_the_cli_twin():
    assert judge_settings(None) is None and judge_settings("  ") is None
    assert judge_settings("j", "openai", " http://h:8000/v1 ") == {"model": "j", "backend": "openai",
                                                                   "base_url": "http://h:8000/v1"}
    assert judge_settings("org/judge", "transformers") == {"model": "org/judge", "backend": "transformers",
                                                           "base_url": None}
    for args, message in [(("j",), "an openai judge needs --judge-base-url"),
                          ((None, "openai", "http://h/v1"), "--judge-base-url needs --judge-model"),
                          (("j", "ollama"), "unknown --judge-backend 'ollama'"),
                          (("./no/such/dir", "transformers"), "model path not found")]:
        with pytest.raises(InputError, match=message):
            judge_settings(*args)
    command = eval_command("s.db", "-r", 2, role="extender", benchmark="-b.jsonl", limit=3, max_new_tokens=48,
                           judge_model="-j", judge_base_url="http://h/v1")
    assert command[:3] == [sys.executable, "-m", "selflengthen"]
    assert command[3:] == ["eval", "--db", "s.db", "--name=-r", "--iteration", "2", "--role", "extender",
                           "--benchmark=-b.jsonl", "--limit", "3", "--max-new-tokens", "48", "--judge-model=-j",
                           "--judge-backend", "openai", "--judge-base-url", "http://h/v1"]
    assert eval_command("s.db", "my run", 0, benchmark="org/bench")[3:] == [
        "eval", "--db", "s.db", "--name", "my run", "--iteration", "0", "--role", "generator",
        "--benchmark", "org/bench"]
    from selflengthen.cli import _parser

    args = _parser().parse_args(command[3:])
    assert (args.name, args.benchmark, args.judge_model, args.role, args.limit) == ("-r", "-b.jsonl", "-j",
                                                                                     "extender", 3)


def test_format_summary_reads_well(store, bench):
    evaluation = run_eval_job(store, "r", 0, benchmark=bench, judge={"model": "j", "backend": "openai",
                                                                     "base_url": "http://h/v1"},
                              factory=Models(judge_reply=_mixed_judge))
    text = format_summary(evaluation)
    lines = text.splitlines()
    assert lines[0] == (f"evaluation {evaluation['id']}: iteration 0 generator (gen-0) on {bench}: incomplete, "
                        "10/10 answered")
    assert lines[1].startswith("items: 10 answered, 0 errors, ")
    assert f"LonGen length score (0-1): {evaluation['summary']['longen']['overall']:.3f}" in lines
    assert "  by type: about " in text and text.index("  by type: about") < text.index("range ")
    assert "S_l length score (0-100, 6 items with one target): " in text
    assert "judge j: 6 scored, 4 failed; mean 7.14" in text and "Relevance 8.00, Coherence 7.00" in text
    bare = format_summary({"id": 1, "iteration_idx": 0, "role": "generator", "model": "m", "benchmark": "LonGen",
                           "status": "incomplete", "total": 3, "summary": {}})
    assert "LonGen length score (0-1): -" in bare and "judge" not in bare
