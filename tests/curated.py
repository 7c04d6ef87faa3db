"""A run with two scripted iterations and every kind of curator decision, for the export tests."""

from __future__ import annotations

import random
from pathlib import Path

from scripted import reviewed_run, scripted_backend
from selflengthen.demo import corpus as demo_corpus
from selflengthen.stages.pipeline import STEPS, run_iteration
from storage import Store

EDIT = "Edited | text with 中文 and a *pipe*.\n\nA second paragraph, added by a curator."


def curated_store(path: Path) -> tuple[Store, dict]:
    """(store, ids): iteration 0 has samples accepted (one with an edit, one whose expansion was lost so its
    text is its initial response, one rejected by one curator then accepted by another), rejected, undone
    and undecided; iteration 1 (other models) has two accepted samples.
    ids: {"accepted": [...], "edited", "no_expansion", "excluded": [...], "second": [...]}."""
    store = Store(path)
    run = reviewed_run(store, "r")
    first = store.latest_iteration(run["id"])
    second = store.create_iteration(run["id"], 1, "gen-1", "ext-1", run["config"])
    backend = scripted_backend(response_suffix=", and a longer close with a few more words in it.")
    run_iteration(store, run, second, list(STEPS), factory=lambda *a: backend)
    samples = store.iteration_samples(first["id"])
    ids = [s["id"] for s in samples]
    store.save_samples([{**samples[5], "final_expansion": None, "final_words": None, "rounds": 0}])
    store.record_decisions([
        {"sample_id": ids[0], "verdict": "accept"}, {"sample_id": ids[2], "verdict": "reject", "reasons": ["too_short"]},
        {"sample_id": ids[3], "verdict": "reject", "reasons": ["repetitive"]}, {"sample_id": ids[4], "verdict": "accept"},
        {"sample_id": ids[5], "verdict": "accept"}, {"sample_id": ids[6], "verdict": "reject", "reasons": ["other"]},
    ], user="ann")
    store.record_decision(ids[4], "pending", user="ann")  # undone: no longer accepted
    store.record_decisions([{"sample_id": ids[1], "verdict": "accept", "edited_text": EDIT},
                            {"sample_id": ids[6], "verdict": "accept"}], user="bob")
    later = [s["id"] for s in store.iteration_samples(second["id"])][:2]
    store.record_decisions([{"sample_id": i, "verdict": "accept"} for i in later], user="cy")
    return store, {"accepted": [ids[0], ids[1], ids[5], ids[6]], "edited": ids[1], "no_expansion": ids[5],
                   "excluded": [ids[2], ids[3], ids[4], ids[7]], "second": later}


def accepted_by_iteration(store: Store, run_name: str = "r") -> dict[int, list[dict]]:
    """{iteration idx: the training data of that iteration} (storage's accepted_samples), what exports must hold."""
    run = store.require_run(run_name)
    return {it["idx"]: store.accepted_samples(it["id"]) for it in store.list_iterations(run["id"])}


def siblings(path: Path) -> list[str]:
    """The hidden working folders an export of `path` may leave next to it."""
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}."))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def snapshot_names(folder: Path) -> list[str]:
    return sorted(snapshot(folder))


def make_store_with_accepted_samples(path: Path, n_instructions: int = 15, model: str = "demo", name: str = "r"):
    """A store with a run (`name`) whose iteration 0 has 2 accepted demo-style samples per instruction."""
    from storage import Store

    rng = random.Random(0)
    made = [demo_corpus.make_instruction(rng) for _ in range(n_instructions)]
    store = Store(path)
    run = store.create_run(name, model, model, "transformers", "demo", {},
                           [{"text": text, "language": "en"} for text, _, _ in made])
    iteration = store.latest_iteration(run["id"])
    rows = []
    for instruction, (_, topic, _) in zip(store.iteration_instructions(iteration["id"]), made):
        for slot in range(2):
            initial = demo_corpus.make_response(rng, topic)
            final = demo_corpus.expand_text(rng, initial)
            rows.append({"run_id": run["id"], "iteration_id": iteration["id"], "instruction_id": instruction["id"],
                         "slot": slot, "language": "en", "status": "kept", "initial_response": initial,
                         "initial_words": len(initial.split()), "initial_attempts": 1, "final_expansion": final,
                         "final_words": len(final.split()), "rounds": 1})
    store.save_samples(rows)
    for sample in store.iteration_samples(iteration["id"]):
        store.record_decision(sample["id"], "accept")
    return store, run, iteration
