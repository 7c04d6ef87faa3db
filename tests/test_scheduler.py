"""The streaming driver: samples flow through their steps without batch barriers, up to `concurrency` requests
in flight, and the same config gives the same samples whatever order the server answers in."""

from __future__ import annotations

import random
import threading
import time

import pytest

from scripted import VOCABULARY
from selflengthen.backends.base import Completion, GenerationParams, Prompt
from selflengthen.backends.fake import ScriptedBackend
from selflengthen.config import preset_config
from selflengthen.stages.pipeline import STEPS, run_iteration
from selflengthen.stages.scheduler import Request, drive
from storage import Store


def seeded_reply(prompt: Prompt) -> str:
    """What a server answers, from the request alone (its seed, else its text): never from arrival order.
    About a third of answers fail a gate (no closing punctuation), so retries and redos happen."""
    content = prompt.messages[-1]["content"]
    rng = random.Random(f"{prompt.seed}:{content}:{prompt.prefill}")
    words = " ".join(rng.sample(VOCABULARY, 6))
    end = "" if rng.random() < 0.3 else "."
    if "Write one new instruction" in content:
        return f"Write at length about {' '.join(rng.sample(VOCABULARY, 8))}."
    if content.startswith("Here is an instruction"):
        return "Yes."
    if content.startswith("A writer answered the request below"):
        if prompt.prefill:
            return f" Then a longer second part about {words}, with extra detail and one more example{end}"
        return f"An expanded first part about {words}, now with many more words and clear examples{end}"
    return f"An answer about {words} opens here.\n\nIt closes with one more point about {words}{end}"


class SlowServer(ScriptedBackend):
    """A server answering each request after a random delay (an unseeded generator: every run differs)."""

    streaming = True

    def __init__(self, limit: int = 6):
        super().__init__(responder=seeded_reply)
        self.limit, self.in_flight, self.most, self.lock, self.delays = limit, 0, 0, threading.Lock(), random.Random()

    @property
    def concurrency(self) -> int:
        return self.limit

    def answer(self, prompt: Prompt, params: GenerationParams) -> Completion:
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        time.sleep(self.delays.uniform(0, 0.004))
        try:
            return super().answer(prompt, params)
        finally:
            with self.lock:
                self.in_flight -= 1


def run_once(path, backend, driver: str = "stream", one_step_at_a_time: bool = False) -> list[tuple]:
    store = Store(path)
    config = preset_config("demo", {"augment": {"n_instructions": 12}, "backend": {"driver": driver},
                                    "expand": {"rounds": 2, "max_retries": 2}})
    run = store.create_run("r", "m", "m", "openai", "demo", config.to_dict(),
                           [{"text": "Write about the sea.", "language": "en"}])
    for steps in ([[step] for step in STEPS] if one_step_at_a_time else [list(STEPS)]):
        run_iteration(store, run, store.latest_iteration(run["id"]), steps, factory=lambda *a: backend)
    texts = {i["id"]: i["text"] for i in store.iteration_instructions(store.latest_iteration(run["id"])["id"], None)}
    samples = store.iteration_samples(store.latest_iteration(run["id"])["id"])
    rows = sorted((texts[s["instruction_id"]], s["slot"], s["status"], s["initial_response"], s["initial_attempts"],
                   s["final_expansion"], s["rounds"], s["expand_attempts"]) for s in samples)
    store.close()
    return rows


def test_the_same_config_gives_the_same_samples_whatever_the_timing(tmp_path):
    first, second = SlowServer(), SlowServer()
    a, b = run_once(tmp_path / "a.db", first), run_once(tmp_path / "b.db", second)
    assert a == b and len(a) == 24  # 12 instructions (the answered seed among them), 2 responses each
    assert any(row[4] > 1 for row in a) and any(row[7] > 2 for row in a)  # retries of generate and expand happened
    assert {row[2] for row in a} >= {"kept"} and first.most > 1
    order = [p.seed for p in first.history if p.seed is not None]
    assert order != [p.seed for p in second.history if p.seed is not None] or len(order) < 3  # answered differently


def test_answers_flow_on_into_their_expansions_with_the_same_samples_as_separate_steps(tmp_path):
    """With every step in one iterate, a sample's expansion starts as soon as its answer passed, while other
    answers are still being asked -- and the stored samples are those of generate and expand run apart."""
    fused, apart = SlowServer(), SlowServer()
    assert run_once(tmp_path / "f.db", fused) == run_once(tmp_path / "s.db", apart, one_step_at_a_time=True)
    kinds, kinds_apart = request_kinds(fused.history), request_kinds(apart.history)
    assert kinds.index("expand") < last(kinds, "answer")  # no barrier: expanding began before the last answer
    assert kinds_apart.index("expand") > last(kinds_apart, "answer")  # separate steps: every answer first


def request_kinds(prompts: list[Prompt]) -> list[str]:
    def kind(content: str) -> str:
        if content.startswith("A writer answered the request below"):
            return "expand"
        if "Write one new instruction" in content or content.startswith("Here is an instruction"):
            return "augment"
        return "answer"
    return [kind(p.messages[-1]["content"]) for p in prompts]


def last(kinds: list[str], kind: str) -> int:
    return max(i for i, k in enumerate(kinds) if k == kind)


def test_requests_stay_within_the_concurrency_and_never_wait_for_a_batch():
    backend = SlowServer(limit=4)
    started, done = [], []

    def task(i: int):
        first = yield Request(Prompt.user(f"task {i}", seed=i))
        started.append(i)
        second = yield Request(Prompt.user(first.text, seed=100 + i))
        return second.text

    drive((task(i) for i in range(20)), backend, GenerationParams(), done.append)
    assert len(done) == 20 and backend.most <= 4 and backend.most >= 2
    assert started.index(0) < 19  # a sample's second step went out before every first step had come back


def test_a_cancel_stops_the_drive_and_keeps_what_finished():
    backend, done = SlowServer(limit=2), []

    class Stop(Exception):
        pass

    def check():
        if len(done) >= 3:
            raise Stop

    def task(i: int):
        return (yield Request(Prompt.user(f"t{i}", seed=i))).text

    with pytest.raises(Stop):
        drive((task(i) for i in range(50)), backend, GenerationParams(), done.append, check=check)
    assert 3 <= len(done) < 50


@pytest.mark.parametrize("retry_cut_off, attempts", [(False, 1), (True, 3)])
def test_a_round_cut_off_at_the_token_limit_is_retried_only_when_asked(tmp_path, retry_cut_off, attempts):
    """A text past the token limit is cut off on every retry: by default its sample ends at the first cut-off."""
    from scripted import make_responder

    respond = make_responder()

    def reply(prompt: Prompt):
        text = respond(prompt)
        if prompt.messages[-1]["content"].startswith("A writer answered the request below") and not prompt.prefill:
            return Completion(text=text, finish_reason="length")  # stage 1 hits the token limit
        return text

    store = Store(tmp_path / "c.db")
    config = preset_config("default", {"augment": {"n_instructions": 2},
                                       "expand": {"retry_cut_off": retry_cut_off, "max_retries": 2}})
    run = store.create_run("r", "m", "m", "transformers", "default", config.to_dict(),
                           [{"text": "Write about the sea.", "language": "en"}])
    backend = ScriptedBackend(responder=reply)
    run_iteration(store, run, store.latest_iteration(run["id"]), list(STEPS), factory=lambda *a: backend)
    samples = store.iteration_samples(store.latest_iteration(run["id"])["id"])
    assert samples and all(s["expand_attempts"] == attempts and s["status"] == "failed_expansion" for s in samples)
    assert all(s["reject_reason"] == "expand/stage1_not_truncated" for s in samples)
    store.close()


def test_an_expansion_the_backend_failed_on_is_asked_once_per_job_and_again_by_the_next(tmp_path):
    """Fused generate and expand in one job: a failed expansion is stored as failed, not asked again by the
    job's own expand step; the next iterate asks it once more."""
    class Refusing(SlowServer):
        refuse, asked = True, 0

        def answer(self, prompt: Prompt, params: GenerationParams) -> Completion:
            stage1 = prompt.messages[-1]["content"].startswith("A writer answered") and not prompt.prefill
            if stage1 and "sea" in prompt.messages[-1]["content"]:
                with self.lock:
                    self.asked += 1
                if self.refuse:
                    return Completion(text="", error="HTTP 500: the model worker crashed")
            return super().answer(prompt, params)

    store, backend = Store(tmp_path / "r.db"), Refusing()
    config = preset_config("demo", {"augment": {"n_instructions": 2}, "backend": {"driver": "stream"}})
    run = store.create_run("r", "m", "m", "openai", "demo", config.to_dict(),
                           [{"text": "Write about the sea.", "language": "en"}])
    iteration = store.latest_iteration(run["id"])
    run_iteration(store, run, iteration, list(STEPS), factory=lambda *a: backend)
    failed = [s for s in store.iteration_samples(iteration["id"]) if s["status"] == "failed_expansion"]
    assert failed and backend.asked == len(failed)  # once each: the job's expand step left them
    assert all(s["rejections"] == {"expand/backend": 1} for s in failed)
    backend.refuse, backend.asked = False, 0
    run_iteration(store, run, store.latest_iteration(run["id"]), list(STEPS), factory=lambda *a: backend)
    assert backend.asked == len(failed)  # the next iterate asks each again, once
    assert all(store.get_sample(s["id"])["status"] != "failed_expansion" for s in failed)
    store.close()
