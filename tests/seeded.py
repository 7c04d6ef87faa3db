"""Large stores written straight through the storage functions, for tests that need real volume fast.

`expanded_run` makes a run whose iteration 0 went through augment, generate and expand (rows shaped as
those stages store them) and waits for the filter; `accepted_run` makes one whose samples were kept by
the filter and accepted by a curator, ready to export. No model runs: the texts are drawn from a small
vocabulary with a seeded RNG, so two calls with the same arguments store the same rows.
"""

from __future__ import annotations

import random

from selflengthen.config import preset_config

VOCABULARY = ["river", "stone", "light", "city", "market", "winter", "harbour", "story", "engine", "garden"]
SAMPLES_PER_INSTRUCTION = 2  # as the demo preset's generate stage answers each instruction


def text(pool: list[str], rng: random.Random, words: int) -> str:
    """`words` words from a random place in `pool`, in two paragraphs, closed by a full stop (slicing one
    long random word list is far faster than drawing every word, which matters at 100,000 samples).

    >>> text(VOCABULARY, random.Random(1), 4)
    'stone light\\n\\ncity market.'
    """
    start = rng.randrange(max(len(pool) - words, 1))
    chosen = pool[start:start + words]
    half = max(words // 2, 1)
    return " ".join(chosen[:half]) + "\n\n" + " ".join(chosen[half:]) + "."


def word_pool(rng: random.Random, size: int) -> list[str]:
    return rng.choices(VOCABULARY, k=size)


TEXT_GATES = ("non_empty", "not_truncated", "ends_with_punctuation", "no_repeated_ngram")  # gates.check_text's


def _gates(initial: int, final: int) -> dict:
    """The gates the generate stage and one expansion round store for a sample that passed all of them."""
    def passed(*names: str) -> list[dict]:
        return [{"gate": name, "passed": True, "reason": ""} for name in names]

    expand = passed(*(f"stage1_{g}" for g in TEXT_GATES), "stage1_longer",
                    *(f"stage2_{g}" for g in (*TEXT_GATES, "longer")))
    return {"generate": passed(*TEXT_GATES), "expand_round_1": expand,
            "growth": {"gate": "growth", "passed": True, "reason": f"{final / initial:.2f}x (needs 1.2x)"}}


def _sample_rows(run: dict, iteration: dict, instruction_ids: list[int], n: int, words: int,
                 status: str, seed: int) -> list[dict]:
    """`n` expanded samples over the instructions; final lengths vary so that the filter has an order."""
    rng = random.Random(seed)
    pool = word_pool(rng, 4 * words + 10_000)
    rows = []
    for k in range(n):
        initial_words = max(words // 3, 2)
        final_words = words + rng.randrange(words)  # a spread of lengths, with ties
        initial, final = text(pool, rng, initial_words), text(pool, rng, final_words)
        rows.append({
            "run_id": run["id"], "iteration_id": iteration["id"],
            "instruction_id": instruction_ids[k // SAMPLES_PER_INSTRUCTION], "slot": k % SAMPLES_PER_INSTRUCTION,
            "language": "en", "status": status, "initial_response": initial, "initial_words": initial_words,
            "initial_attempts": 1, "first_half": initial[:len(initial) // 2], "stage1_expansion": final[:len(final) // 2],
            "final_expansion": final, "final_words": final_words, "growth": round(final_words / initial_words, 4),
            "rounds": 1, "expand_attempts": 1, "gates": _gates(initial_words, final_words),
        })
    return rows


def expanded_run(store, name: str, n_samples: int, words: int = 30, status: str = "expanded",
                 seed: int = 0) -> tuple[dict, dict]:
    """(run, iteration 0) with `n_samples` samples of `status`; augment, generate and expand marked done."""
    config = preset_config("demo", {"augment": {"n_instructions": n_samples // SAMPLES_PER_INSTRUCTION}})
    run = store.create_run(name, "m", "m", "transformers", "demo", config.to_dict(),
                           [{"text": "Write about the sea.", "language": "en"}])
    iteration = store.latest_iteration(run["id"])
    n_instructions = -(-n_samples // SAMPLES_PER_INSTRUCTION)
    store.save_instructions(run["id"], [
        {"key": f"aug:{k}", "text": f"Write at length about topic {k}.", "language": "en", "source": "augmented",
         "iteration_id": iteration["id"], "status": "accepted"} for k in range(n_instructions)])
    ids = [i["id"] for i in store.iteration_instructions(iteration["id"]) if i["source"] == "augmented"]
    store.save_samples(_sample_rows(run, iteration, ids, n_samples, words, status, seed))
    store.update_iteration(iteration["id"], steps_done=["augment", "generate", "expand"])
    return run, store.iteration_by_id(iteration["id"])


def accepted_run(store, name: str, n_samples: int, words: int = 300, seed: int = 0) -> tuple[dict, dict]:
    """(run, iteration 0) with `n_samples` kept samples, every one accepted by a curator: ready to export."""
    run, iteration = expanded_run(store, name, n_samples, words, status="kept", seed=seed)
    store.update_iteration(iteration["id"], steps_done=["augment", "generate", "expand", "filter"],
                           status="review")
    ids = [row["id"] for row in store.query("SELECT id FROM samples WHERE iteration_id = ? ORDER BY id",
                                            [iteration["id"]])]
    store.record_decisions([{"sample_id": i, "verdict": "accept"} for i in ids], user="curator")
    return run, store.iteration_by_id(iteration["id"])
