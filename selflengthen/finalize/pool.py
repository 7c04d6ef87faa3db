"""The final dataset: every chosen iteration's curated texts pooled, each given a constraint its own length meets.

The reference pools the initial responses and the expanded responses of every iteration. Here a pool row is
one accepted sample's initial response or its final text (a curator's edit wins), each once: two expansions
of one initial response share that response, which is pooled a single time. Each row then gets a
constraint (`constraints.make_constraint`, drawn with a generator seeded by the spec's seed and the row's
key, so a row's constraint does not depend on which other rows were pooled) and a query with it written in
(`insert.insert_constraints`). Rows outside the length bounds, or whose drawn type no number fits, are
dropped and counted.

>>> pool = pool_rows([{"sample_id": 7, "iteration": 0, "language": "en", "instruction": "Write about tea.",
...                    "initial_response": "Tea.", "final_text": "Tea is old."}])
>>> [(r["key"], r["response"]) for r in pool]
[('7:initial', 'Tea.'), ('7:final', 'Tea is old.')]
"""

from __future__ import annotations

import random
from collections import Counter
from typing import TypedDict

from selflengthen.backends.base import Backend, GenerationParams
from selflengthen.evaluation.longen import TYPES
from selflengthen.finalize.constraints import Constraint, ConstraintSpec, make_constraint
from selflengthen.finalize.insert import insert_constraints
from selflengthen.method.words import count_words

SOURCES = ("initial", "final")  # a top-up's answers are pooled as "topup" (finalize.job.top_up)


class PoolRow(TypedDict):
    key: str  # "<sample id>:initial" or "<sample id>:final": stable across re-runs
    sample_id: int
    iteration: int
    source: str
    language: str
    instruction: str
    response: str
    words: int


class FinalRow(PoolRow):
    type: str
    constraint: str
    query: str  # the instruction with the constraint written in
    target_low: float
    target_high: float


def pool_rows(samples: list[dict], sources: tuple[str, ...] = SOURCES, source_name: str | None = None) -> list[PoolRow]:
    """The pool of accepted samples (rows of `Store.export_samples` with `iteration` added): their initial
    responses and final texts, each distinct (instruction, text) pair once, in sample order. `source_name`
    names the rows' source instead (a top-up's answers: "topup")."""
    rows, seen = [], set()
    for s in samples:
        texts = {"initial": s["initial_response"], "final": s["final_text"]}
        for source in sources:
            text = texts[source]
            if not text or (s["instruction"], text) in seen:
                continue
            seen.add((s["instruction"], text))
            rows.append(PoolRow(key=f"{s['sample_id']}:{source}", sample_id=s["sample_id"], iteration=s["iteration"],
                                source=source_name or source, language=s["language"], instruction=s["instruction"].strip(),
                                response=text, words=count_words(text)))
    return rows


def constrain(pool: list[PoolRow], spec: ConstraintSpec) -> tuple[list[tuple[PoolRow, Constraint]], Counter]:
    """(row, constraint) of each pooled row that gets one, and the dropped rows counted by why."""
    kept, dropped = [], Counter()
    for row in pool:
        if not spec.min_words <= row["words"] < spec.max_words:
            dropped["outside length bounds"] += 1
            continue
        constraint = make_constraint(row["words"], _language(row), random.Random(f"{spec.seed}:{row['key']}"), spec)
        if constraint is None:
            dropped["no constraint fits"] += 1
            continue
        kept.append((row, constraint))
    return kept, dropped


def build_final_rows(pool: list[PoolRow], spec: ConstraintSpec, *, way: str = "template",
                     backend: Backend | None = None, params: GenerationParams | None = None,
                     floor: float = 0.6) -> tuple[list[FinalRow], dict]:
    """The final rows and the figures of how they were made: pooled, dropped (by why), kept, types, insertion."""
    kept, dropped = constrain(pool, spec)
    queries = [{"query": row["instruction"], "language": _language(row), "constraint": c} for row, c in kept]
    texts, insertion = insert_constraints(queries, backend, params or GenerationParams(), way,
                                          random.Random(spec.seed), floor)
    rows = [FinalRow(**row, type=c.type, constraint=c.constraint, query=text, target_low=c.interval[0],
                     target_high=c.interval[1]) for (row, c), text in zip(kept, texts)]
    types = Counter(r["type"] for r in rows)
    stats = {"pooled": len(pool), "dropped": dict(dropped), "kept": len(rows),
             "types": {t: types.get(t, 0) for t in TYPES}, "insertion": {"way": way, **insertion}}
    return rows, stats


def _language(row: PoolRow) -> str:
    return "zh" if row["language"] == "zh" else "en"
