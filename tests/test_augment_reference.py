"""Self-instruct as the reference does it (the paper preset's augment fields) on a scripted model and a real store:
a completion-style prompt that stops at the next number, a strict yes/是 judge, no ROUGE dedup and no language
check, the few-shot pool of the seeds and the current batch, and seeds that are learned from but not answered."""

from __future__ import annotations

from selflengthen.backends.fake import ScriptedBackend
from selflengthen.config import preset_config
from selflengthen.stages.pipeline import run_iteration

SEEDS = [{"text": "Write an essay about the sea and its tides.", "language": "en"},
         {"text": "Explain how cities grow over the centuries.", "language": "en"}]
PAPER_AUGMENT = {"answer_seeds": False, "dedup": False, "language_check": False, "judge_strict": True,
                 "pool": "seeds_and_batch", "max_attempts_per_instruction": 10, "n_instructions": 4}


class Recording(ScriptedBackend):
    """A scripted model that also keeps the parameters of every call."""

    def __init__(self, responder):
        super().__init__(responder=responder)
        self.params = []

    def generate(self, prompts, params, written=None):
        self.params.append(params)
        return super().generate(prompts, params, written)


def responder(new_instruction, judge="Yes"):
    counter = iter(range(1000))

    def respond(prompt):
        content = prompt.messages[-1]["content"]
        if "construct" in content or "instructions that lead a writer" in content or "Write one new" in content:
            return new_instruction(next(counter))
        if "long article" in content or "Here is an instruction" in content:
            return judge
        return "An answer.\n\nIt ends here."

    return respond


def augment(store, backend, augment_overrides, templates="paper", batch_size=32):
    config = preset_config("demo", {"augment": augment_overrides, "prompts": {"templates": templates},
                                    "backend": {"batch_size": batch_size}})
    run = store.create_run("r", "m", "m", "transformers", "demo", config.to_dict(), SEEDS)
    run_iteration(store, run, store.latest_iteration(run["id"]), ["augment", "generate"],
                  factory=lambda *a: backend)
    return store.iteration_instructions(store.latest_iteration(run["id"])["id"], status=None), run


def test_the_completion_prompt_continues_a_numbered_list_and_stops_at_the_next_number(store):
    backend = Recording(responder(lambda n: f"Write a long history of topic {n} for curious readers."))
    augment(store, backend, PAPER_AUGMENT)
    first = backend.history[0]
    assert [m["role"] for m in first.messages] == ["system", "user"]
    assert first.prefill.startswith("Instruction 1: ") and first.prefill.endswith("Instruction 3: ")
    assert "\nInstruction 4" in backend.params[0].stop


def test_only_an_exact_yes_passes_the_strict_judge(store):
    backend = Recording(responder(lambda n: f"Write a long history of topic {n} for curious readers.",
                                  judge="Yes, this is clearly suitable."))
    rows, _ = augment(store, backend, PAPER_AUGMENT)
    augmented = [r for r in rows if r["source"] == "augmented"]
    assert augmented and {r["reject_reason"] for r in augmented} == {"judge_no"}
    assert len(augmented) == 4 * 10  # 10 candidates per missing instruction, then it gives up


def test_a_duplicate_or_another_language_passes_without_dedup_or_language_check(store, tmp_path):
    from storage import Store

    duplicate = lambda n: SEEDS[0]["text"]  # noqa: E731
    rows, _ = augment(store, Recording(responder(duplicate)), PAPER_AUGMENT)
    assert sum(r["source"] == "augmented" and r["status"] == "accepted" for r in rows) == 4
    default = Store(tmp_path / "default.db")
    rows, _ = augment(default, Recording(responder(duplicate)), {"n_instructions": 4, "answer_seeds": False,
                                                                 "max_attempts_per_instruction": 2}, "default")
    assert {r["reject_reason"] for r in rows if r["source"] == "augmented"} == {"near_duplicate"}


def test_the_pool_is_the_seeds_and_the_current_batch(store):
    backend = Recording(responder(lambda n: f"Write a long history of topic {n} for curious readers."))
    rows, _ = augment(store, backend, {**PAPER_AUGMENT, "n_instructions": 8, "pool_batch": 2}, batch_size=1)
    seeds = {r["id"] for r in rows if r["source"] == "seed"}
    accepted = [r for r in rows if r["source"] == "augmented" and r["status"] == "accepted"]
    assert len(accepted) == 8
    # One candidate per call: each could draw from the seeds and the instructions accepted in the current batch
    # of 2, never from an earlier batch; and some did draw from their batch.
    for row in accepted:
        earlier = [a["id"] for a in accepted if a["id"] < row["id"]]
        allowed = seeds | set(earlier[len(earlier) - len(earlier) % 2:])
        assert set(row["parents"]) <= allowed
    assert any(set(row["parents"]) - seeds for row in accepted)


def test_seeds_are_learned_from_but_not_answered(store):
    backend = Recording(responder(lambda n: f"Write a long history of topic {n} for curious readers."))
    rows, run = augment(store, backend, PAPER_AUGMENT)
    answered = {s["instruction_id"] for s in store.iteration_samples(store.latest_iteration(run["id"])["id"])}
    seeds = {r["id"] for r in rows if r["source"] == "seed"}
    assert answered and not answered & seeds
    assert len(answered) == 4  # n_instructions counts the new instructions only


def test_a_batch_of_both_languages_stops_at_the_next_number_of_each(store):
    backend = Recording(responder(lambda n: f"Write a long history of topic {n} for curious readers."))
    config = preset_config("demo", {"augment": {**PAPER_AUGMENT, "n_instructions": 16},
                                    "prompts": {"templates": "paper"}})
    both = SEEDS + [{"text": "写一篇关于春天的长文章。", "language": "zh"},
                    {"text": "写一封长信。", "language": "zh"}]
    run = store.create_run("r", "m", "m", "transformers", "demo", config.to_dict(), both)
    run_iteration(store, run, store.latest_iteration(run["id"]), ["augment"], factory=lambda *a: backend)
    first_call = [p.prefill for p in backend.history[:16]]  # one call of 16 new-instruction prompts
    assert any(p.endswith("Instruction 3: ") for p in first_call) and any(p.endswith("指令3：") for p in first_call)
    assert {"\nInstruction 4", "\n指令4"} <= set(backend.params[0].stop)
