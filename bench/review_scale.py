"""Curation at scale: the Review tab's handlers over a store of 100,000 samples in 5 iterations.

    python bench/review_scale.py [--samples 100000] [--iterations 5] [--words 600]

Prints JSON and a one-line summary: recording the samples, the tab's first load, accept-and-load-next
(p50/p95 over 200 accepts, the word diff on), applying a filter, and bulk accept of a 10,000-sample filter.
Times are the handlers' own (what a Gradio round trip adds on top is ~90 ms on a 2-core machine).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from common import report
from storage import Store
from ui import review_handlers as review
from ui.common import Studio
from ui.worker import Worker

FILTER_DEFAULTS = {"verdict": "all", "status": "all", "gate": "all", "language": "all", "min_words": None,
                   "max_words": None, "min_growth": None, "max_growth": None, "search": ""}


def text(rng: random.Random, words: int) -> str:
    vocabulary = ["river", "stone", "light", "city", "market", "winter", "harbour", "story", "engine", "garden"]
    return " ".join(rng.choice(vocabulary) for _ in range(words)) + "."


def seed(store: Store, samples: int, iterations: int, words: int) -> float:
    """A run with `iterations` iterations of samples/iterations samples each; returns seconds spent recording."""
    rng = random.Random(0)
    run = store.create_run("big", "m", "m", "transformers", "demo", {}, [{"text": "Write.", "language": "en"}])
    per, elapsed = samples // iterations, 0.0
    for idx in range(iterations):
        it = store.latest_iteration(run["id"]) if idx == 0 else store.create_iteration(run["id"], idx, "m", "m", {})
        store.save_instructions(run["id"], [{"key": f"i{idx}", "text": f"Write about topic {idx}.", "language": "en",
                                             "source": "augmented", "iteration_id": it["id"], "status": "accepted"}])
        instruction = store.iteration_instructions(it["id"])[0]["id"]
        rows = []
        for slot in range(per):
            initial, final = text(rng, words // 3), text(rng, words)
            rows.append({"run_id": run["id"], "iteration_id": it["id"], "instruction_id": instruction, "slot": slot,
                         "language": "en", "status": rng.choice(["kept", "kept", "dropped_short", "failed_expansion"]),
                         "initial_response": initial, "initial_words": words // 3, "initial_attempts": 1,
                         "first_half": initial[:len(initial) // 2], "stage1_expansion": final[:len(final) // 2],
                         "final_expansion": final, "final_words": words, "growth": 3.0, "rounds": 1})
        start = time.perf_counter()
        store.save_samples(rows)
        elapsed += time.perf_counter() - start
    return elapsed


def percentile(values: list[float], p: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * p))]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--words", type=int, default=600, help="words of each final expansion")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sl-bench-review-") as work:  # ~0.8 GB at the default size
        store = Store(Path(work) / "studio.db")
        result = measure(store, args)
        store.close()
    return report(result, f"review at {args.samples:,} samples: first load {result['first_load_s']:.3f} s "
                          f"(goal <= 1 s); accept+next p50 {result['accept_next_p50_ms']} ms, p95 {result['accept_next_p95_ms']} ms "
                          f"(goal p95 <= 30 ms); filter {result['apply_filter_ms']:.0f} ms; bulk accept of "
                          f"{result['bulk_accept_n']:,} in {result['bulk_accept_s']:.2f} s; recording "
                          f"{result['record_samples_s']:.1f} s")


def measure(store: Store, args) -> dict:
    """Record the samples, then time the Review tab's handlers over them."""
    record_s = seed(store, args.samples, args.iterations, args.words)
    studio = Studio(store=store, db_path=store.path, worker=Worker(store))

    start = time.perf_counter()
    loaded = dict(zip(review.LOAD_FIELDS, review.load_run(studio, "big", True)))
    first_load_s = time.perf_counter() - start
    ids, cursor = loaded["ids"], loaded["cursor"]

    accept_ms = []
    for _ in range(200):
        start = time.perf_counter()
        view = dict(zip(review.VIEW_FIELDS, review.accept(studio, "big", ids, cursor, "", True)))
        accept_ms.append((time.perf_counter() - start) * 1000)
        cursor = view["cursor"]

    last = args.iterations - 1
    form = {**FILTER_DEFAULTS, "verdict": "pending", "status": "passed"}
    start = time.perf_counter()
    applied = dict(zip(review.APPLY_FIELDS, review.apply_filters(
        studio, "big", last, *[form[f] for f in review.FILTER_FIELDS], ids, cursor, True)))
    filter_ms = (time.perf_counter() - start) * 1000
    bulk_ids = applied["ids"][:10_000]
    start = time.perf_counter()
    bulk = review.ask_bulk_accept(studio, bulk_ids)[0]
    review.confirm_bulk(studio, "big", last, *[form[f] for f in review.FILTER_FIELDS], bulk_ids, applied["cursor"],
                        bulk, "", True)
    bulk_s = time.perf_counter() - start

    return {
        "samples": args.samples, "iterations": args.iterations, "words_per_final": args.words,
        "record_samples_s": round(record_s, 2), "first_load_s": round(first_load_s, 3),
        "accept_next_p50_ms": round(statistics.median(accept_ms), 2),
        "accept_next_p95_ms": round(percentile(accept_ms, 0.95), 2),
        "apply_filter_ms": round(filter_ms, 1), "bulk_accept_n": len(bulk_ids), "bulk_accept_s": round(bulk_s, 3),
    }


if __name__ == "__main__":
    main()
