"""The iteration's logic on a scripted model and a real SQLite store: counts, gates, resume, prefill."""

import pytest

from scripted import make_responder, scripted_backend
from selflengthen.backends.base import Completion
from selflengthen.backends.fake import ScriptedBackend
from selflengthen.config import preset_config
from selflengthen.runs.status import run_status
from selflengthen.stages.pipeline import STEPS, run_iteration
from selflengthen.stages.reporter import Cancelled, Reporter
from storage import Store

SEEDS = [{"text": "Write an essay about the sea and its tides.", "language": "en"},
         {"text": "Explain how cities grow over the centuries.", "language": "en"}]


def make_run(tmp_path, **overrides):
    store = Store(tmp_path / "t.db")
    config = preset_config("demo", {"augment": {"n_instructions": 8}, "backend": {"batch_size": 4}, **overrides})
    run = store.create_run("r", "m", "m", "transformers", "demo", config.to_dict(), SEEDS)
    return store, run


def iterate(store, run, backend, steps=STEPS, reporter=None):
    iteration = store.latest_iteration(run["id"])
    return run_iteration(store, run, iteration, list(steps), reporter, factory=lambda role, model, cfg: backend)


def slots(store, iteration):
    return sorted((s["instruction_id"], s["slot"]) for s in store.iteration_samples(iteration["id"]))


def test_full_iteration_counts(tmp_path):
    store, run = make_run(tmp_path)
    iteration = iterate(store, run, scripted_backend())
    assert iteration["status"] == "review" and iteration["steps_done"] == ["augment", "generate", "select", "expand", "filter"]
    status = run_status(store, run)["iterations"][0]
    assert status["instructions"] == 8 and status["samples"] == 16
    assert status["sample_status"].keys() <= {"kept", "dropped_short"}
    assert status["passed"] == status["sample_status"].get("kept", 0) > 0
    augmented = [i for i in store.iteration_instructions(iteration["id"]) if i["source"] == "augmented"]
    assert len(augmented) == 6 and all(len(i["parents"]) == 2 and i["judge"] == "yes" for i in augmented)


class CrashingBackend(ScriptedBackend):
    """Answers like the scripted model, then raises on call number `crash_at` (a simulated kill)."""

    def __init__(self, crash_at):
        super().__init__(responder=make_responder())
        self.crash_at = crash_at

    def generate(self, prompts, params, written=None):
        if self.calls + 1 == self.crash_at:
            self.calls += 1
            raise KeyboardInterrupt("killed")
        return super().generate(prompts, params, written)


@pytest.mark.parametrize("crash_at", [1, 3, 6, 9, 12])
def test_resume_after_crash_matches_uninterrupted_run(tmp_path, crash_at):
    reference_store, reference_run = make_run(tmp_path / "ref")
    reference = iterate(reference_store, reference_run, scripted_backend())
    store, run = make_run(tmp_path / "crash")
    with pytest.raises(KeyboardInterrupt):
        iterate(store, run, CrashingBackend(crash_at))
    resumed = iterate(store, run, scripted_backend())
    assert resumed["status"] == "review"
    got, want = run_status(store, run)["iterations"][0], run_status(reference_store, reference_run)["iterations"][0]
    assert (got["instructions"], got["samples"]) == (want["instructions"], want["samples"]) == (8, 16)
    assert len(set(slots(store, resumed))) == len(slots(store, resumed)) == 16
    assert len(slots(reference_store, reference)) == 16


def test_rerun_of_a_finished_iteration_changes_nothing(tmp_path):
    store, run = make_run(tmp_path)
    backend = scripted_backend()
    iteration = iterate(store, run, backend)
    before = store.iteration_samples(iteration["id"])
    calls = backend.calls
    iterate(store, run, backend)
    assert backend.calls == calls  # nothing left to generate or expand
    assert [(s["id"], s["status"]) for s in store.iteration_samples(iteration["id"])] == \
           [(s["id"], s["status"]) for s in before]


def test_failed_gates_are_retried_then_recorded_with_counts(tmp_path):
    store, run = make_run(tmp_path, generate={"max_retries": 2})
    backend = scripted_backend(response_suffix="")  # every answer lacks the final full stop
    iteration = iterate(store, run, backend, steps=["generate"])
    samples = store.iteration_samples(iteration["id"])
    assert len(samples) == 4  # the 2 seeds x 2 responses, each stored once despite 3 attempts
    assert all(s["status"] == "failed_generation" and s["initial_attempts"] == 3 for s in samples)
    assert all(s["reject_reason"] == "generate/ends_with_punctuation" for s in samples)
    assert store.rejection_counts(iteration["id"]) == {"generate/ends_with_punctuation": 12}


def test_judge_saying_no_rejects_every_candidate_within_the_budget(tmp_path):
    store, run = make_run(tmp_path, augment={"n_instructions": 4, "max_attempts_per_instruction": 3})
    iteration = iterate(store, run, scripted_backend(judge="No, it is unclear."), steps=["augment"])
    counts = store.instruction_counts(iteration["id"])
    assert counts["accepted"] == 2 and counts["candidates"] == 6  # (4 - 2 seeds) x 3 attempts
    assert counts["reasons"] == {"judge_no": 6}


def test_near_duplicates_of_the_pool_are_dropped(tmp_path):
    store, run = make_run(tmp_path, augment={"n_instructions": 3, "max_attempts_per_instruction": 2})
    backend = ScriptedBackend(responder=lambda p: "Yes." if "Is it a clear" in p.messages[0]["content"]
                              else "Write an essay about the sea and its tides!")
    iteration = iterate(store, run, backend, steps=["augment"])
    assert store.instruction_counts(iteration["id"])["reasons"] == {"near_duplicate": 2}


def test_stage_two_is_prefilled_with_stage_one(tmp_path):
    store, run = make_run(tmp_path)
    backend = scripted_backend()
    iteration = iterate(store, run, backend, steps=["augment", "generate", "expand"])
    prefilled = [p for p in backend.history if p.prefill]
    assert prefilled and all(p.prefill.startswith("An expanded first part") for p in prefilled)
    sample = store.iteration_samples(iteration["id"])[0]
    assert sample["first_half"] == sample["initial_response"].split("\n\n")[0]
    assert sample["final_expansion"].startswith(sample["stage1_expansion"] + "\n\n")
    assert sample["status"] == "expanded" and sample["growth"] >= 1.2
    rounds = store.expansion_rounds(sample["id"])
    assert len(rounds) == 1 and rounds[0]["kept"] and rounds[0]["separator"] == "\n\n"


def test_expansion_that_is_not_longer_fails_after_retries(tmp_path):
    store, run = make_run(tmp_path, expand={"max_retries": 1})
    responder = make_responder()

    def shrink(prompt):
        if prompt.messages[0]["content"].startswith("A writer answered"):
            return Completion(text="" if prompt.prefill else "Short.")
        return responder(prompt)

    iteration = iterate(store, run, ScriptedBackend(responder=shrink), steps=["augment", "generate", "expand"])
    samples = store.iteration_samples(iteration["id"])
    assert {s["status"] for s in samples} == {"failed_expansion"}
    assert all(s["expand_attempts"] == 2 and s["final_expansion"] is None for s in samples)
    assert samples[0]["reject_reason"] == "expand/stage1_longer"


def test_filter_is_deterministic_and_idempotent(tmp_path):
    store, run = make_run(tmp_path)
    iteration = iterate(store, run, scripted_backend())
    first = {s["id"]: s["status"] for s in store.iteration_samples(iteration["id"])}
    iterate(store, run, scripted_backend(), steps=["filter"])
    assert {s["id"]: s["status"] for s in store.iteration_samples(iteration["id"])} == first


class CancelAfter(Reporter):
    def __init__(self, checks):
        self.checks = checks

    def cancelled(self):
        self.checks -= 1
        return self.checks < 0


def test_cancel_stops_between_batches_and_keeps_finished_work(tmp_path):
    store, run = make_run(tmp_path)
    with pytest.raises(Cancelled):
        iterate(store, run, scripted_backend(), reporter=CancelAfter(3))
    iteration = store.latest_iteration(run["id"])
    assert iteration["status"] == "created"  # resumable, not left "running"
    kept = store.instruction_counts(iteration["id"])["accepted"]
    assert kept > 2  # augmented instructions were stored before the stop
    iterate(store, run, scripted_backend())
    assert store.instruction_counts(iteration["id"])["accepted"] == 8
