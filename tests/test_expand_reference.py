"""Expansion as the reference does it (the paper preset's fields), on a scripted model and a real store: the split
into pieces, the trimmed stage-1 text prefilled, attempts that are skipped rather than retried, whole expansions
redone, two expansions per response, and short initial responses dropped before any expansion. The drop-short
filter after expansion is off here, so every expansion that grew enough ends as 'kept'."""

from __future__ import annotations

import pytest

from selflengthen.backends.fake import ScriptedBackend
from selflengthen.config import preset_config
from selflengthen.stages.pipeline import STEPS, run_iteration

INITIAL = "P1 starts here.\n\nP2 goes on.\n\nP3 goes on.\n\nP4 ends it."  # 4 pieces: stage 1 gets P1 and P2
STAGE1 = "S1 opens.\n\nS2 adds a lot more detail.\n\nS3 concludes early."  # trimmed to S1 and S2
GROWS = "\n\nA new part with plenty of added words, details and examples for the reader."
GROWS_MORE = "\n\nStill more is added here: dates, places, names, a story and a quote, then a short summary."
FAILS = "\n\nthis continuation never ends properly"  # no closing character: fails the ending gate
REFERENCE = {"augment": {"n_instructions": 1},
             "generate": {"responses_per_instruction": 1},
             "expand": {"mode": "attempts", "rounds": 3, "redo": 2, "split": "pieces", "trim_stage1": True,
                        "gate_stage1": False},
             "gates": {"punctuation": "reference", "ngram": "reference", "meta_talk": True},
             "filter": {"drop_short": False}}


class Extender:
    """Initial responses from `initial`; stage 1 always STAGE1; stage 2 the next of `continuations`. Records each
    expand request as (stage, the text asked to expand, prefill)."""

    def __init__(self, continuations, initial=(INITIAL,)):
        self.continuations, self.initial, self.requests = list(continuations), list(initial), []

    def __call__(self, prompt):
        content = prompt.messages[-1]["content"]
        if not content.startswith("A writer answered"):
            return self.initial.pop(0) if len(self.initial) > 1 else self.initial[0]
        text = content.split("Answer:\n", 1)[1].rsplit("\n\nExpand every part", 1)[0]
        self.requests.append(("stage2" if prompt.prefill else "stage1", text, prompt.prefill))
        return self.continuations.pop(0) if prompt.prefill else STAGE1


def run(store, extender, **overrides):
    config = preset_config("demo", {**REFERENCE, **overrides})
    run = store.create_run("r", "m", "m", "transformers", "demo", config.to_dict(),
                           [{"text": "Write about the sea.", "language": "en"}])
    backend = ScriptedBackend(responder=extender)
    run_iteration(store, run, store.latest_iteration(run["id"]), list(STEPS), factory=lambda *a: backend)
    return store.iteration_samples(store.latest_iteration(run["id"])["id"])


def rounds_of(store, sample_id):
    return store.query("SELECT round, kept, source_text, result FROM expansion_rounds WHERE sample_id = ?"
                       " ORDER BY round", [sample_id])


def test_stage_1_gets_the_first_pieces_and_stage_2_continues_the_trimmed_text(store):
    extender = Extender([GROWS, GROWS, GROWS])
    [sample] = run(store, extender)
    assert extender.requests[0] == ("stage1", "P1 starts here.\n\nP2 goes on.", "")
    stage, text, prefill = extender.requests[1]
    assert (stage, text, prefill) == ("stage2", INITIAL, "S1 opens.\n\nS2 adds a lot more detail.")
    assert rounds_of(store, sample["id"])[0]["result"] == "S1 opens.\n\nS2 adds a lot more detail." + GROWS.rstrip()


def test_a_failed_attempt_is_skipped_and_the_next_expands_the_text_as_it_was(store):
    extender = Extender([GROWS, FAILS, GROWS_MORE])  # the third is longer than the text it expands
    [sample] = run(store, extender)
    first, second, third = rounds_of(store, sample["id"])
    assert [r["kept"] for r in (first, second, third)] == [1, 0, 1]
    assert second["source_text"] == third["source_text"] == first["result"]  # attempt 2 changed nothing
    assert (sample["status"], sample["rounds"], sample["expand_attempts"]) == ("kept", 2, 3)
    assert sample["final_expansion"] == third["result"] and sample["growth"] > 1.2
    assert len(extender.requests) == 6  # 3 attempts x 2 stages, no retries


def test_an_expansion_that_does_not_grow_enough_is_redone_from_the_initial_response(store):
    extender = Extender([FAILS] * 3 + [GROWS, FAILS, FAILS])
    [sample] = run(store, extender)
    rows = rounds_of(store, sample["id"])
    assert [r["kept"] for r in rows] == [0, 0, 0, 1, 0, 0]
    assert rows[3]["source_text"] == INITIAL  # the second expansion starts again from the initial response
    assert (sample["status"], sample["expand_attempts"], sample["rounds"]) == ("kept", 6, 1)


def test_after_the_last_redo_the_sample_fails_with_every_attempt_stored(store):
    extender = Extender([FAILS] * 6)
    [sample] = run(store, extender)
    assert len(rounds_of(store, sample["id"])) == 6 and len(extender.requests) == 12
    assert (sample["status"], sample["reject_reason"]) == ("failed_expansion", "expand/growth")
    assert sample["rejections"] == {"expand/stage2_ends_with_punctuation": 6}


def test_two_expansions_per_response_are_two_samples(store):
    extender = Extender([GROWS] * 6)
    samples = run(store, extender, expand={**REFERENCE["expand"], "per_response": 2})
    original, copy = samples
    assert (copy["response_of"], copy["slot"], copy["initial_response"]) == (original["id"], 1, INITIAL)
    assert original["response_of"] is None and [s["status"] for s in samples] == ["kept", "kept"]
    assert sum(stage == "stage1" and text.startswith("P1") for stage, text, _ in extender.requests) == 2
    assert store.review_sample(copy["id"])["siblings"] == [original["id"]]  # Review names the sibling
    assert store.review_sample(original["id"])["siblings"] == [copy["id"]]


def test_short_initial_responses_are_dropped_before_any_expansion(store):
    answers = [f"Answer {i}: " + " ".join(f"w{i}x{j}" for j in range(3 * i)) + "." for i in range(1, 9)]
    extender = Extender([GROWS] * 100, initial=answers)
    samples = run(store, extender, augment={"n_instructions": 1},
                  generate={"responses_per_instruction": 8}, filter={"drop_short": False, "drop_short_initial": True})
    dropped = [s for s in samples if s["status"] == "dropped_initial"]
    shortest = min(samples, key=lambda s: s["initial_words"])
    assert shortest in dropped and all(s["reject_reason"] == "filter/drop_short_initial" for s in dropped)
    expanded_texts = {text for stage, text, _ in extender.requests if stage == "stage2"}
    assert not any(s["initial_response"] in expanded_texts for s in dropped)
    assert all(s["expand_attempts"] > 0 for s in samples if s not in dropped)
    assert all(s["expand_attempts"] == 0 for s in dropped) and 0 < len(dropped) < len(samples)


@pytest.mark.parametrize("crash_after", [1, 3, 5])
def test_a_resumed_expansion_ends_as_an_uninterrupted_one(store, tmp_path, crash_after):
    from storage import Store

    script = [GROWS, FAILS, FAILS, FAILS, GROWS, GROWS]
    reference = run(Store(tmp_path / "ref.db"), Extender(script))

    class Crashing(Extender):
        def __call__(self, prompt):
            if len(self.requests) == crash_after:
                raise KeyboardInterrupt("killed")
            return super().__call__(prompt)

    config = preset_config("demo", REFERENCE)
    created = store.create_run("r", "m", "m", "transformers", "demo", config.to_dict(),
                               [{"text": "Write about the sea.", "language": "en"}])
    remaining = Crashing(list(script))
    with pytest.raises(KeyboardInterrupt):
        run_iteration(store, created, store.latest_iteration(created["id"]), list(STEPS),
                      factory=lambda *a: ScriptedBackend(responder=remaining))
    rest = Extender(remaining.continuations)  # the script goes on where the killed run left it
    run_iteration(store, created, store.latest_iteration(created["id"]), list(STEPS),
                  factory=lambda *a: ScriptedBackend(responder=rest))
    [sample] = store.iteration_samples(store.latest_iteration(created["id"])["id"])
    keys = ("status", "final_expansion", "rounds", "expand_attempts", "growth")
    assert {k: sample[k] for k in keys} == {k: reference[0][k] for k in keys}
