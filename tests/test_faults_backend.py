"""Whole iterations through the openai backend against a local OpenAI-compatible server that misbehaves: it
answers 500, drops connections, answers after the client's timeout, fails some prompts for good, or goes
down. Retried with backoff; what still fails is stored as failed, counted and logged; the job never hangs;
a re-run once the server is back does exactly the missing work."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scripted import make_responder
from selflengthen.backends.base import Prompt
from selflengthen.cli import main
from selflengthen.config import preset_config
from selflengthen.errors import BackendError
from selflengthen.jobs.runner import run_iterate_job
from selflengthen.runs.status import run_status
from storage import Store

pytestmark = pytest.mark.slow  # real servers, subprocesses or models

SEA = "Write about the sea."
SEEDS = [{"text": SEA, "language": "en"}, {"text": "Explain how cities grow over the centuries.", "language": "en"}]
TIMEOUT = 1.0  # the client's timeout (the config's minimum); a "slow" answer comes after it
MAX_RETRIES = 3
EXPANDED = {"expanded", "kept", "dropped_short"}


class FaultyServer:
    """/v1/chat/completions and /v1/completions answered like tests/scripted.py's model, with faults.

    `faults`: {kind: fates} for the first requests of each kind (see `kind_of`), in arrival order: an HTTP
    status, "close" (the connection dropped without a reply) or "slow" (answered after the client gave up);
    later ones are answered ("ok").
    `refuse(kind, content, body)`: true for requests answered 500 every time ("refused"). `down_after`: after that
    many requests, every one gets 500 ("down"). Every request is recorded as (kind, body, fate).
    """

    def __init__(self):
        self.faults: dict[str, list] = {}
        self.refuse: Callable[[str, str, dict], bool] = lambda kind, content, body: False
        self.down_after: int | None = None
        self.requests: list[tuple[str, dict, object]] = []
        self.respond = make_responder()
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def fate(self, body: dict, prompt: Prompt) -> object:
        kind = kind_of(prompt)
        with self.lock:
            if self.down_after is not None and len(self.requests) >= self.down_after:
                fate = "down"
            elif self.refuse(kind, prompt.messages[-1]["content"], body):
                fate = "refused"
            else:
                n = sum(1 for k, _, f in self.requests if k == kind and f not in ("down", "refused"))
                faults = self.faults.get(kind, [])
                fate = faults[n] if n < len(faults) else "ok"
            self.requests.append((kind, body, fate))
        return fate

    def reply(self, path: str, prompt: Prompt) -> dict:
        text = self.respond(prompt)
        if path.endswith("/chat/completions"):
            return {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": {"completion_tokens": len(text.split())}}
        return {"choices": [{"text": text, "finish_reason": "stop"}], "usage": {"completion_tokens": 9}}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = prompt_of(body)
                fate = server.fate(body, prompt)
                if fate == "close":
                    self.close_connection = True
                    return
                if fate == "slow":
                    time.sleep(TIMEOUT + 0.5)
                status, reply = (200, server.reply(self.path, prompt)) if fate in ("ok", "slow") else \
                    (500 if fate in ("down", "refused") else fate, {"error": {"message": "the model worker crashed"}})
                data = json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client timed out and hung up
                    pass

            def log_message(self, *args):
                pass

        return Handler

    def sent(self, kind: str) -> list[dict]:
        return [body for k, body, _ in self.requests if k == kind]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def prompt_of(body: dict) -> Prompt:
    """The prompt a request carries; a prefilled one arrives rendered, with the chat template applied."""
    if "messages" in body:
        return Prompt(messages=tuple(body["messages"]))
    text = body["prompt"]
    start = text.find("A writer answered the request below")
    return Prompt.user(text[max(start, 0):], prefill="(prefilled)")


def refusing_first(*kinds: str) -> Callable[[str, str, dict], bool]:
    """A `refuse` that fails, every time, the first request the server sees of each of `kinds` (the same body:
    its retries; another attempt at the same prompt carries another seed)."""
    first: dict[str, dict] = {}

    def refuse(kind: str, content: str, body: dict) -> bool:
        return kind in kinds and first.setdefault(kind, body) == body

    return refuse


def kind_of(prompt: Prompt) -> str:
    content = prompt.messages[-1]["content"]
    if "Write one new instruction" in content:
        return "augment"
    if content.startswith("Here is an instruction"):
        return "judge"
    if content.startswith("A writer answered the request below"):
        return "expand2" if prompt.prefill else "expand1"
    return "generate"


@pytest.fixture
def server():
    server = FaultyServer()
    yield server
    server.close()


@pytest.fixture
def store(tmp_path, server, demo_model_dir):
    """A run of 4 instructions x 2 responses whose models are served by `server` (the demo tokenizer renders
    the prefilled stage-2 prompts), with short timeouts and backoff so faults cost little time."""
    store = Store(tmp_path / "studio.db")
    backend = {"name": "openai", "base_url": server.url, "tokenizer": str(demo_model_dir), "batch_size": 4,
               "concurrency": 2, "timeout": TIMEOUT, "max_retries": MAX_RETRIES, "retry_backoff": 0.01}
    config = preset_config("demo", {"augment": {"n_instructions": 4}, "backend": backend})
    store.create_run("r", "served-model", "served-model", "openai", "demo", config.to_dict(), SEEDS)
    return store


def samples_by_instruction(store) -> dict[str, list[dict]]:
    iteration = store.latest_iteration(store.require_run("r")["id"])
    texts = {i["id"]: i["text"] for i in store.iteration_instructions(iteration["id"])}
    out: dict[str, list[dict]] = {text: [] for text in texts.values()}
    for sample in store.iteration_samples(iteration["id"]):
        out[texts[sample["instruction_id"]]].append(sample)
    return out


def timed_iterate(store, apart: bool = False) -> tuple[dict, float]:
    """One iterate job (apart: generate, then expand and filter, as separate jobs: expansions start together,
    not behind each answer)."""
    start = time.monotonic()
    if apart:
        run_iterate_job(store, "r", steps="augment,generate")
    iteration = run_iterate_job(store, "r")
    return iteration, time.monotonic() - start


def test_faults_are_retried_and_a_prompt_failed_for_good_is_stored_counted_and_retried_by_a_rerun(server, store):
    # At most 3 faults of a kind: even a prompt that meets them all is answered at its 4th attempt.
    server.faults = {"augment": [500], "judge": ["close"], "generate": ["slow", 503], "expand1": ["close"],
                     "expand2": [502, "close", 500]}
    server.refuse = lambda kind, content, body: content == SEA  # this instruction's answers fail until mended
    iteration, took = timed_iterate(store)
    assert iteration["status"] == "review" and took < 30
    job = store.latest_job(1)
    assert job["status"] == "done" and "generate: 2 of 8 request(s) failed after the backend's retries" in job["log"]

    # Every faulted request was sent again, identically, until it was answered.
    faulted = [body for _, body, fate in server.requests if fate in (500, 502, 503, "close", "slow")]
    answered = [body for _, body, fate in server.requests if fate == "ok"]
    assert len(faulted) == 8 and all(body in answered for body in faulted)
    assert {"/completions" if "prompt" in body else "/chat/completions" for body in faulted} == {
        "/completions", "/chat/completions"}
    # Nothing dropped: every instruction has both its samples; the refused one's are failed, with the error.
    by_instruction = samples_by_instruction(store)
    assert len(by_instruction) == 4 and all(len(samples) == 2 for samples in by_instruction.values())
    for sample in by_instruction.pop(SEA):
        assert (sample["status"], sample["reject_reason"]) == ("failed_generation", "generate/backend")
        [gate] = sample["gates"]["generate"]
        assert gate["gate"] == "backend" and gate["reason"].endswith(
            f"/v1/chat/completions failed after {MAX_RETRIES + 1} attempt(s): HTTP 500: the model worker crashed")
    assert all(s["status"] in EXPANDED for samples in by_instruction.values() for s in samples)
    status = run_status(store, store.require_run("r"))["iterations"][0]
    assert status["sample_status"]["failed_generation"] == 2 and status["gate_rejections"]["generate/backend"] == 2
    assert len([b for b in server.sent("generate") if b["messages"][0]["content"] == SEA]) == 2 * (MAX_RETRIES + 1)

    server.refuse = lambda kind, content, body: False
    failed_ids = {s["id"] for s in samples_by_instruction(store)[SEA]}
    sent_before = len(server.requests)
    iteration, took = timed_iterate(store)
    assert iteration["status"] == "review" and store.latest_job(1)["status"] == "done" and took < 30
    rerun = server.requests[sent_before:]
    assert [k for k, _, _ in rerun if k in ("augment", "judge", "generate")] == ["generate", "generate"]
    sea = samples_by_instruction(store)[SEA]
    assert {s["id"] for s in sea} == failed_ids  # the same rows, now answered and expanded
    assert all(s["status"] in EXPANDED and s["rejections"] == {"generate/backend": 1} for s in sea)
    assert "failed_generation" not in run_status(store, store.require_run("r"))["iterations"][0]["sample_status"]


def test_augment_and_expansion_requests_failed_for_good_are_stored_counted_and_redone_by_a_rerun(server, store):
    first = refusing_first("augment", "expand2")  # one candidate, and one sample's stage 2
    server.refuse = lambda kind, content, body: first(kind, content, body) or (kind == "expand1" and SEA in content)
    # Apart: one job's log per step. Refused prompts may meet the server taken out by another: each waits for
    # it, leaves the next trial to a request that has not failed one, and fails alone; the pool stays alive.
    iteration, took = timed_iterate(store, apart=True)
    jobs = store.list_jobs(1)[-2:]
    assert iteration["status"] == "review" and all(job["status"] == "done" for job in jobs) and took < 30
    for line, job in zip(("augment: 1 of 2 request(s)", "expand: 3 of 8 request(s)"), jobs):
        assert line + " failed after the backend's retries, stored as failed; run iterate again" in job["log"]
    # The refused candidate is stored as rejected for 'backend' and did not use up the attempt budget.
    counts = store.instruction_counts(1)
    assert counts["accepted"] == 4 and counts["candidates"] == 3 and counts["reasons"] == {"backend": 1}
    failed = [s for samples in samples_by_instruction(store).values() for s in samples
              if s["status"] == "failed_expansion"]
    assert len(failed) == 3 and all(s["reject_reason"] == "expand/backend" and s["rounds"] == 0 for s in failed)
    assert sorted(s["gates"]["expand_round_1"][0]["reason"].split("/v1")[1] for s in failed) == [
        f"/chat/completions failed after {MAX_RETRIES + 1} attempt(s): HTTP 500: the model worker crashed"] * 2 + [
        f"/completions failed after {MAX_RETRIES + 1} attempt(s): HTTP 500: the model worker crashed"]
    assert run_status(store, store.require_run("r"))["iterations"][0]["gate_rejections"]["expand/backend"] == 3

    server.refuse = lambda kind, content, body: False
    sent_before = len(server.requests)
    iteration, took = timed_iterate(store)
    assert iteration["status"] == "review" and store.latest_job(1)["status"] == "done"
    kinds = [k for k, _, _ in server.requests[sent_before:]]
    assert sorted(kinds) == ["expand1"] * 3 + ["expand2"] * 3  # only the failed expansions are asked again
    redone = [store.get_sample(s["id"]) for s in failed]
    assert all(s["status"] in EXPANDED and s["rejections"] == {"expand/backend": 1} for s in redone)


def test_a_server_that_goes_down_fails_the_job_quickly_and_a_rerun_completes_only_the_missing_work(
        server, store, capsys):
    # augment asks 2 candidates and judges them (4 requests); generate's first batch gets 2 answers, then none
    server.down_after = 6
    start = time.monotonic()
    code = main(["iterate", "--db", str(store.path), "--name", "r", "--quiet"])
    took = time.monotonic() - start
    err = capsys.readouterr().err
    assert code == 1 and took < 20
    # The endpoint pool takes the server out after a request's retries and gives up after as many failed trials:
    # the job fails with one line naming the last error, long before every prompt has spent its own retries.
    assert err.startswith("error: the server is down (") and err.endswith(
        "/v1/chat/completions failed after 1 attempt(s): HTTP 500: the model worker crashed)\n")
    job = store.latest_job(1)
    assert job["status"] == "failed" and "the server is down" in job["error"]
    assert len(server.requests) < 6 + 2 * 4 + 4 * 4  # fewer than the batch driver's one-by-one retries sent
    kept = {s["id"]: s for samples in samples_by_instruction(store).values() for s in samples}
    statuses = [s["status"] for s in kept.values()]  # the 2 answered; a prompt whose retries ran out, failed
    assert statuses.count("generated") == 2 and set(statuses) <= {"generated", "failed_generation"}
    iteration = store.latest_iteration(1)
    assert iteration["status"] == "created" and iteration["steps_done"] == ["augment"]

    server.down_after = None
    sent_before = len(server.requests)
    iteration, took = timed_iterate(store)
    assert iteration["status"] == "review" and store.latest_job(1)["status"] == "done" and took < 30
    kinds = [k for k, _, _ in server.requests[sent_before:]]
    assert kinds.count("augment") == kinds.count("judge") == 0 and kinds.count("generate") == 6
    assert kinds.count("expand1") == 8  # every sample expanded once: nothing was expanded before
    samples = [s for group in samples_by_instruction(store).values() for s in group]
    assert len(samples) == 8 and all(s["status"] in EXPANDED for s in samples)
    assert {s["id"] for s in samples} >= set(kept)  # the stored rows were kept and completed, not duplicated


def test_a_server_down_from_the_start_fails_the_first_batch_after_its_retries(server, store):
    server.down_after = 0
    start = time.monotonic()
    with pytest.raises(BackendError, match=r"failed after 4 attempt\(s\): HTTP 500"):
        run_iterate_job(store, "r")
    assert time.monotonic() - start < 10
    assert len(server.requests) == 2 * (MAX_RETRIES + 1)  # augment's 2 candidates, each tried 4 times
    assert store.latest_job(1)["status"] == "failed" and store.instruction_counts(1)["candidates"] == 0
