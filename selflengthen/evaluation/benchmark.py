"""LonGen-format benchmarks: instructions that each ask for a length, loaded and checked item by item.

A benchmark is a JSONL file (or a hub dataset with the same columns) whose items hold a ``query`` (the
instruction), its ``type`` (about, range, above, below), the ``constraint`` it states ("大约2000字",
"2000-3000 words", ...) and two labels used to group scores, ``language`` (zh/en) and ``range``
(2-4k, 4-6k, 6-8k). The bundled file is LonGen's 240 items.

>>> bench = load_benchmark(None)
>>> bench.name, len(bench.items), sorted(bench.items[0])
('LonGen', 240, ['constraint', 'idx', 'language', 'query', 'range', 'type'])
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from selflengthen.errors import InputError
from selflengthen.evaluation.longen import TYPES, check_fields, parse_constraint
from selflengthen.inputs import json_records

BUNDLED_LONGEN = Path(__file__).resolve().parent.parent / "data" / "LonGen.jsonl"
DEFAULT_BENCHMARK = "LonGen"
MAX_LINE_BYTES = 1_000_000  # one instruction per line: a megabyte is not an instruction
_HUB_DATASET = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class Benchmark:
    """Items in file order (each with its 0-based `idx`); `digest` identifies exactly these items."""

    name: str
    items: list[dict]
    digest: str


def load_benchmark(source: str | None) -> Benchmark:
    """The bundled LonGen (None, "" or "LonGen"), a local JSONL file, or a hub dataset id (owner/name)."""
    source = (source or "").strip()
    if source in ("", DEFAULT_BENCHMARK):
        return _benchmark(DEFAULT_BENCHMARK, json_records(BUNDLED_LONGEN, MAX_LINE_BYTES))
    if Path(source).expanduser().exists():
        return _benchmark(source, json_records(Path(source).expanduser(), MAX_LINE_BYTES))
    if _HUB_DATASET.match(source):
        return _benchmark(source, _hub_records(source))
    raise InputError(f"benchmark {source}: no such file (nor a hub dataset id like quanshr/LonGen)")


def select_items(bench: Benchmark, limit: int | None, seed: int, language: str | None = None) -> Benchmark:
    """The benchmark an evaluation works through: the items of `language` (None: all); with a `limit`, in
    `stratified_order`, so its first `limit` items spread over language, type and range, and a larger limit
    answers more of the same items. Items are numbered by position in that order (an evaluation answers its
    first `total`); the digest identifies the order, so each choice is an evaluation of its own.

    >>> items = [{"idx": i, "language": "zh" if i < 6 else "en", "type": "about", "range": "", "query": f"q{i}",
    ...           "constraint": "c"} for i in range(8)]
    >>> bench = Benchmark("b", items, benchmark_digest(items))
    >>> select_items(bench, None, 0) is bench
    True
    >>> sorted(i["language"] for i in select_items(bench, 2, seed=0).items[:2])
    ['en', 'zh']
    >>> [(i["idx"], i["query"]) for i in select_items(bench, None, 0, language="en").items]
    [(0, 'q6'), (1, 'q7')]
    >>> select_items(bench, None, 0, language="fr")
    Traceback (most recent call last):
    ...
    selflengthen.errors.InputError: benchmark b has no items in language 'fr' (it has: en, zh)
    """
    if limit is None and not language:
        return bench
    items = bench.items
    if language:
        items = [item for item in items if item["language"] == language]
        if not items:
            have = ", ".join(sorted({item["language"] or "(none)" for item in bench.items}))
            raise InputError(f"benchmark {bench.name} has no items in language {language!r} (it has: {have})")
    order = stratified_order(items, seed) if limit is not None else items
    chosen = [{**item, "idx": position} for position, item in enumerate(order)]
    return Benchmark(bench.name, chosen, benchmark_digest(chosen))


def stratified_order(items: list[dict], seed: int) -> list[dict]:
    """Every item once, in an order whose every prefix spreads evenly over (language, type, range): a seeded
    shuffle inside each group, then one item of each group in turn (the groups in a seeded order).

    >>> items = [{"idx": i, "language": "zh" if i < 6 else "en", "type": "about", "range": ""} for i in range(8)]
    >>> [i["language"] for i in stratified_order(items, seed=1)][:4].count("en")
    2
    """
    rng = random.Random(f"eval-order:{seed}")
    groups: dict[tuple, list[dict]] = {}
    for item in items:
        groups.setdefault((item["language"], item["type"], item["range"]), []).append(item)
    keys = sorted(groups)
    rng.shuffle(keys)
    for key in keys:
        rng.shuffle(groups[key])
    order, depth = [], 0
    while len(order) < len(items):
        order += [groups[key][depth] for key in keys if depth < len(groups[key])]
        depth += 1
    return order


def check_item(record) -> dict:
    """One benchmark item, checked; the message says what is wrong (the caller adds where).

    >>> check_item({"type": "about", "constraint": "around 500 words", "query": "Write."})["language"]
    ''
    >>> check_item({"type": "about", "constraint": "many words", "query": "Write."})
    Traceback (most recent call last):
    ...
    selflengthen.errors.InputError: cannot read 'about' constraint 'many words': expected 1 word count, found 0
    """
    check_fields(record, ("type", "constraint", "query"))
    if record["type"] not in TYPES:
        raise InputError(f"unknown type {record['type']!r} (expected one of: {', '.join(TYPES)})")
    parse_constraint(record["type"], record["constraint"])
    if not record["query"].strip():
        raise InputError("field 'query' is empty")
    labels = {name: record.get(name) if record.get(name) is not None else "" for name in ("language", "range")}
    for name, value in labels.items():
        if not isinstance(value, str):
            raise InputError(f"field '{name}' is not a string (got {value!r:.40})")
    return {**labels, "type": record["type"], "constraint": record["constraint"], "query": record["query"]}


def benchmark_digest(items: list[dict]) -> str:
    """sha256 of the items' canonical JSON: the same items in the same order give the same digest."""
    canonical = json.dumps(items, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _benchmark(name: str, records) -> Benchmark:
    """Check every (where, record) pair and number the items."""
    items = []
    for where, record in records:
        try:
            items.append({"idx": len(items), **check_item(record)})
        except InputError as e:
            raise InputError(f"{where}: {e}") from None
    if not items:
        raise InputError(f"benchmark {name}: no items found")
    return Benchmark(name=name, items=items, digest=benchmark_digest(items))


def _hub_records(dataset_id: str):
    """(id:row, record) for each row of the dataset's train split."""
    try:
        from datasets import load_dataset

        rows = load_dataset(dataset_id, split="train")
    except Exception as e:  # offline, unknown id, no train split: all mean this id cannot be used here
        reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise InputError(f"cannot load hub dataset {dataset_id!r} ({reason}); "
                         "pass a local LonGen-format JSONL file with --benchmark FILE instead") from None
    for number, record in enumerate(rows, 1):
        yield f"{dataset_id}:{number}", record
