"""Storage: recording generated samples, the way the pipeline's stages write them (store.save_samples).

    python bench/storage_record.py [--samples 100000] [--calls 5] [--words 600] [--repeats 3]

Each repeat records `samples` samples (final expansions of `words` words, initial responses a third of
that) into a fresh SQLite store in `calls` calls of one transaction each, then records them all again
(a resumed stage: every row is an update). Prints JSON (median and best seconds, rows/s, the database's
size) and a one-line summary. Goal: 100,000 samples in <= 5 s.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

from common import median, report
from storage import Store

VOCABULARY = ["river", "stone", "light", "city", "market", "winter", "harbour", "story", "engine", "garden"]


def distinct_texts(rng: random.Random, pool: list[str], words: int, n: int) -> list[str]:
    """n texts of `words` words cut from random places of a long random word list: distinct, like model
    output (so compression and dictionary encoding get no free ride), and ~20x faster than drawing each word."""
    starts = [rng.randrange(len(pool) - words) for _ in range(n)]
    return [" ".join(pool[s:s + words]) + "." for s in starts]


def sample_rows(run_id: int, iteration_id: int, instruction_id: int, n: int, words: int, seed: int = 0) -> list[dict]:
    """n sample rows shaped like the expand stage's output, slots 0..n-1 of one instruction."""
    rng = random.Random(seed)
    pool = rng.choices(VOCABULARY, k=4 * words + 10_000)
    finals, initials = distinct_texts(rng, pool, words, n), distinct_texts(rng, pool, max(1, words // 3), n)
    statuses = ["kept", "kept", "dropped_short", "failed_expansion"]
    rows = []
    for slot, (initial, final) in enumerate(zip(initials, finals)):
        rows.append({"run_id": run_id, "iteration_id": iteration_id, "instruction_id": instruction_id, "slot": slot,
                     "language": "en", "status": statuses[slot % 4], "initial_response": initial,
                     "initial_words": words // 3, "initial_attempts": 1, "first_half": initial[:len(initial) // 2],
                     "stage1_expansion": final[:len(final) // 2], "final_expansion": final, "final_words": words,
                     "growth": 3.0, "rounds": 1, "gates": {"generate": [{"gate": "ends", "ok": True}]}})
    return rows


def fresh_store(folder: Path) -> tuple[Store, dict, int]:
    """A store with one run and one instruction to hang the samples on."""
    store = Store(folder / "studio.db")
    run = store.create_run("bench", "m", "m", "transformers", "demo", {}, [{"text": "Write.", "language": "en"}])
    iteration = store.latest_iteration(run["id"])
    return store, iteration, store.iteration_instructions(iteration["id"])[0]["id"]


def record(store: Store, rows: list[dict], calls: int) -> float:
    """Seconds to save `rows` in `calls` equal calls."""
    per = -(-len(rows) // calls)
    start = time.perf_counter()
    for first in range(0, len(rows), per):
        store.save_samples(rows[first:first + per])
    return time.perf_counter() - start


def one_repeat(samples: int, calls: int, words: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="sl-bench-store-"))
    store, iteration, instruction = fresh_store(folder)
    rows = sample_rows(iteration["run_id"], iteration["id"], instruction, samples, words)
    cpu = time.process_time()
    first = record(store, rows, calls)
    cpu = time.process_time() - cpu
    again = record(store, rows, calls)
    stored = store.one("SELECT count(*) AS n FROM samples")["n"]
    if stored != samples:
        raise SystemExit(f"expected {samples} stored samples, found {stored}")
    size = sum(p.stat().st_size for p in folder.iterdir())
    store.close()
    shutil.rmtree(folder)  # ~1 GB at the default size
    return {"record_s": first, "record_cpu_s": cpu, "rerecord_s": again, "db_mb": size / 1e6}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=5, help="save_samples calls (one transaction each)")
    parser.add_argument("--words", type=int, default=600, help="words of each final expansion")
    parser.add_argument("--repeats", type=int, default=3, help="fresh stores recorded; medians are reported")
    args = parser.parse_args(argv)
    runs = [one_repeat(args.samples, args.calls, args.words) for _ in range(args.repeats)]
    record_s = median([r["record_s"] for r in runs])
    result = {
        "samples": args.samples, "calls": args.calls, "words_per_final": args.words, "repeats": args.repeats,
        "record_s": round(record_s, 2), "record_best_s": round(min(r["record_s"] for r in runs), 2),
        "record_cpu_s": round(median([r["record_cpu_s"] for r in runs]), 2),
        "rows_per_s": round(args.samples / record_s), "rerecord_s": round(median([r["rerecord_s"] for r in runs]), 2),
        "db_mb": round(median([r["db_mb"] for r in runs]), 1), "goal_s": 5.0,
    }
    return report(result, f"recording {args.samples:,} samples ({args.words}-word expansions) in {args.calls} calls: "
                          f"{result['record_s']} s median, best {result['record_best_s']} s (goal <= 5 s); "
                          f"{result['rows_per_s']:,} rows/s; recording them again {result['rerecord_s']} s")


if __name__ == "__main__":
    main()
