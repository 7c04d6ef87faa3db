"""Export at scale: 100,000 accepted samples written as a dataset, to JSONL and to Parquet.

    python bench/export_scale.py [--samples 100000] [--words 600] [--format messages] [--repeats 3]

Seeds a store with `samples` expanded samples (final expansions of `words` words), accepts them all in one
bulk decision, then times `export_dataset` (query, row building, writing, dataset card, rename into place)
for each output. Prints JSON (median and best seconds, rows/s, file sizes) and a one-line summary.
Goal: <= 3 s each for 100,000 samples.
"""

from __future__ import annotations

import argparse
import tempfile
from functools import partial
from pathlib import Path

from common import median, report, timed
from selflengthen.export.writer import FORMATS, export_dataset
from storage_record import fresh_store, record, sample_rows

OUTPUTS = ("jsonl", "parquet")


def accepted_store(folder: Path, samples: int, words: int):
    """A store whose run 'bench' has `samples` kept samples, every one accepted."""
    store, iteration, instruction = fresh_store(folder)
    record(store, sample_rows(iteration["run_id"], iteration["id"], instruction, samples, words), calls=5)
    ids = [r["id"] for r in store.query("SELECT id FROM samples WHERE iteration_id = ?", [iteration["id"]])]
    store.record_decisions([{"sample_id": i, "verdict": "accept"} for i in ids], user="curator")
    return store


def time_output(store, out_root: Path, fmt: str, output: str, repeats: int) -> dict:
    """Seconds of each export (a fresh folder each time, as the dashboard writes them) and the data file's size."""
    seconds, exported = [], None
    for n in range(repeats):
        export = partial(export_dataset, store, "bench", fmt=fmt, out_dir=out_root / f"{output}-{n}", output=output)
        elapsed, exported = timed(export)
        seconds.append(elapsed)
    data = Path(exported["path"]) / next(f for f in exported["files"] if f.startswith("data"))
    return {"median_s": round(median(seconds), 3), "best_s": round(min(seconds), 3), "rows": exported["rows"],
            "file_mb": round(data.stat().st_size / 1e6, 1)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--words", type=int, default=600, help="words of each final expansion")
    parser.add_argument("--format", default="messages", choices=FORMATS)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sl-bench-export-") as work:  # ~3 GB at the default size
        store = accepted_store(Path(work), args.samples, args.words)
        outputs = {o: time_output(store, Path(work) / "exports", args.format, o, args.repeats) for o in OUTPUTS}
        store.close()
    for figures in outputs.values():
        figures["rows_per_s"] = round(figures["rows"] / figures["median_s"])
    result = {"samples": args.samples, "words_per_final": args.words, "format": args.format,
              "repeats": args.repeats, **outputs, "goal_s": 3.0}
    shown = "; ".join(f"{o} {f['median_s']} s median ({f['rows_per_s']:,} rows/s, {f['file_mb']} MB)"
                      for o, f in outputs.items())
    return report(result, f"export of {args.samples:,} accepted samples as {args.format}: {shown} (goal <= 3 s each)")


if __name__ == "__main__":
    main()
