"""The run's final set (`finalize`) as export rows: each row not rejected by a curator, its prompt the
constrained query and its answer the response, a curator's edit winning over either.

Which text counts (an edit wins) is the final stage's own rule, `selflengthen.finalize.review.longen_item`,
the one `finalize --out` writes with. Besides its format's columns and its provenance, every row carries LonGen's fields at the
top level (LONGEN_FIELDS), so `python -m selflengthen score` reads a JSONL export as it is.
"""

from __future__ import annotations

from collections import Counter

from selflengthen.errors import InputError
from selflengthen.export.formats import build_rows, word_stats
from selflengthen.finalize.review import longen_item
from selflengthen.shapes import Store

# The data columns of the formats whose rows are a prompt and its answer (the dataset card describes them).
# extender and dpo rows need an initial response and its expansion, which a final row (one text under one
# constraint) does not have.
FINAL_COLUMNS = {
    "messages": {"messages": "the user turn (the constrained query) and the assistant turn (the response)"},
    "prompt-completion": {"prompt": "the user turn (the constrained query), as a one-message list",
                          "completion": "the assistant turn (the response), as a one-message list"},
    "alpaca": {"instruction": "the constrained query", "input": "always empty", "output": "the response"},
    "sharegpt": {"conversations": "a `human` turn (the constrained query) and a `gpt` turn (the response)"},
}
FINAL_FORMATS = tuple(FINAL_COLUMNS)
LONGEN_FIELDS = ("type", "constraint", "query", "response", "language")
FINAL_PROVENANCE_KEYS = ("run", "key", "iteration", "source", "sample_id", "type", "constraint", "target",
                         "words", "edited", "curator", "decided_at")
KEPT = (None, "accept")  # the verdicts of the rows that go out: undecided or accepted


def check_final_request(fmt: str, iterations: list[int] | None) -> None:
    """Refuse what a final export cannot do, before anything is read or written.

    >>> check_final_request("alpaca", None)
    >>> check_final_request("dpo", None)
    Traceback (most recent call last):
    selflengthen.errors.InputError: the final set has no dpo rows: a final row is one response under one \
constraint, with no initial response and expansion (formats with --final: messages, prompt-completion, alpaca, sharegpt)
    >>> check_final_request("messages", [0])
    Traceback (most recent call last):
    selflengthen.errors.InputError: --final exports the final set, which chose its iterations when it was made; \
drop --iterations (or run `finalize --iterations ...` again)
    """
    if iterations:
        raise InputError("--final exports the final set, which chose its iterations when it was made; "
                         "drop --iterations (or run `finalize --iterations ...` again)")
    if fmt not in FINAL_FORMATS:
        raise InputError(f"the final set has no {fmt} rows: a final row is one response under one constraint, with "
                         f"no initial response and expansion (formats with --final: {', '.join(FINAL_FORMATS)})")


def final_provenance(run_name: str, row: dict, item: dict) -> dict:
    """Where a final row came from (FINAL_PROVENANCE_KEYS, in that order), from the stored row and its
    LonGen item (whose provenance already says which text counts).

    >>> item = {"type": "about", "constraint": "around 60 words", "provenance": {"key": "3:final", "iteration": 0,
    ...         "source": "final", "sample_id": 3, "words": 61, "target": [48.0, 72.0], "edited": True}}
    >>> p = final_provenance("r", {"curator": "ann", "decided_at": "2026-01-01T00:00:00"}, item)
    >>> p["key"], p["constraint"], p["target"], p["edited"], p["curator"]
    ('3:final', 'around 60 words', [48.0, 72.0], True, 'ann')
    """
    origin = item["provenance"]
    return {"run": run_name, "key": origin["key"], "iteration": origin["iteration"], "source": origin["source"],
            "sample_id": origin["sample_id"], "type": item["type"], "constraint": item["constraint"],
            "target": [float(bound) for bound in origin["target"]], "words": origin["words"],
            "edited": bool(origin["edited"]), "curator": row["curator"], "decided_at": row["decided_at"]}


def final_export_row(fmt: str, run_name: str, row: dict, item: dict) -> dict:
    """One final row in `fmt`: the format's columns, then LonGen's fields, then the provenance.

    >>> item = {"type": "below", "constraint": "under 80 words", "query": "Write, under 80 words.",
    ...         "response": "Tea.", "language": "en", "provenance": {"key": "1:initial", "iteration": 0,
    ...         "source": "initial", "sample_id": 1, "words": 1, "target": [0, 80.0], "edited": False}}
    >>> out = final_export_row("alpaca", "r", {"curator": None, "decided_at": None}, item)
    >>> [out[k] for k in ("instruction", "output", "type", "constraint")]
    ['Write, under 80 words.', 'Tea.', 'below', 'under 80 words']
    >>> list(out)[-1], out["provenance"]["target"]
    ('provenance', [0.0, 80.0])
    """
    columns = build_rows(fmt, [{"instruction": item["query"], "final_text": item["response"]}])[0]
    return {**columns, **{field: item[field] for field in LONGEN_FIELDS},
            "provenance": final_provenance(run_name, row, item)}


def final_stats(rows: list[dict], types: list[str]) -> dict:
    """Counts and lengths of the exported final rows, overall and per constraint type (`types`: their order).

    >>> rows = [{"provenance": {"type": "about", "words": 50, "edited": True}},
    ...         {"provenance": {"type": "range", "words": 70, "edited": False}}]
    >>> stats = final_stats(rows, ["about", "range", "above"])
    >>> stats["rows"], stats["edited"], stats["types"], stats["per_type"]["above"]["words"]["mean"]
    (2, 1, {'about': 1, 'range': 1, 'above': 0}, None)
    """
    origins = [r["provenance"] for r in rows]
    counts = Counter(o["type"] for o in origins)
    order = list(types) + sorted(set(counts) - set(types))
    per_type = {t: {"rows": counts.get(t, 0), "edited": sum(1 for o in origins if o["type"] == t and o["edited"]),
                    "words": word_stats([o["words"] for o in origins if o["type"] == t])} for t in order}
    return {"rows": len(rows), "edited": sum(1 for o in origins if o["edited"]), "skipped": 0,
            "types": {t: per_type[t]["rows"] for t in order}, "per_type": per_type,
            "words": word_stats([o["words"] for o in origins])}


def _kept_rows(store: Store, run: dict) -> list[dict]:
    """The rows that go out; refuses a run without a final set, or one whose every row was rejected."""
    rows = store.final_rows(run["id"], verdicts=KEPT)
    if not rows:
        every = store.final_rows(run["id"])
        raise InputError(f"nothing to export: every final row of run '{run['name']}' was rejected" if every else
                         f"run '{run['name']}' has no final set: run `finalize` first")
    return rows


def final_rows_for_export(store: Store, run_name: str, fmt: str) -> tuple[list[dict], dict, dict]:
    """(rows, stats, meta) of a final export: the rows of `fmt` (checked by check_final_request), their
    counts and lengths per type, and {run, settings, finalize_stats, languages, final} for the card."""
    run = store.require_run(run_name)
    stored = _kept_rows(store, run)
    items = [longen_item(row) for row in stored]
    rows = [final_export_row(fmt, run["name"], row, item) for row, item in zip(stored, items)]
    finalization = store.finalization(run["id"])
    stats = final_stats(rows, list(finalization["stats"]["types"]))
    meta = {"run": run, "settings": finalization["settings"], "finalize_stats": finalization["stats"],
            "languages": sorted({item["language"] for item in items}), "final": True}
    return rows, stats, meta
