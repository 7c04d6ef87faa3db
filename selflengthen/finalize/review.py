"""A curator's decision on a final row, as a pure rule every caller (CLI, dashboard) goes through.

A final row may be accepted or rejected, and its query or its response edited, as long as the row still
holds together: an edited response must still meet the row's constraint under LonGen's interval, and an
edited query must still name the constraint's number(s). What counts for training and export is the edit
where there is one.

>>> row = {"type": "about", "constraint": "around 10 words", "target_low": 8.0, "target_high": 12.0}
>>> check_decision(row, "accept", response="one two three")
Traceback (most recent call last):
...
selflengthen.errors.InputError: the edited response has 3 words; its constraint (around 10 words) needs 8-12
"""

from __future__ import annotations

from selflengthen.errors import InputError
from selflengthen.evaluation.longen import constraint_numbers
from selflengthen.method.words import count_words

VERDICTS = ("accept", "reject")


def check_decision(row: dict, verdict: str, *, query: str | None = None, response: str | None = None) -> None:
    """Refuse (one-line InputError) a verdict that is not one of VERDICTS, or an edit that breaks the row."""
    if verdict not in VERDICTS:
        raise InputError(f"unknown verdict {verdict!r} (expected: {', '.join(VERDICTS)})")
    if response is not None:
        words = count_words(response)
        if not row["target_low"] <= words <= row["target_high"]:
            raise InputError(f"the edited response has {words} words; its constraint ({row['constraint']}) needs "
                             f"{row['target_low']:g}-{row['target_high']:g}")
    if query is not None:
        missing = [n for n in constraint_numbers(row["constraint"]) if n not in constraint_numbers(query)]
        if not query.strip() or missing:
            raise InputError(f"the edited query must still ask for {row['constraint']}")


def final_query(row: dict) -> str:
    """The query that counts: the curator's edit, else the constrained query."""
    return row.get("edited_query") or row["query"]


def final_response(row: dict) -> str:
    """The response that counts: the curator's edit, else the pooled text."""
    return row.get("edited_response") or row["response"]


def longen_item(row: dict) -> dict:
    """The row in LonGen's format (what `score` reads), with its provenance.

    >>> longen_item({"type": "about", "constraint": "around 10 words", "query": "Q", "response": "R",
    ...              "language": "en", "key": "3:final", "iteration_idx": 0, "source": "final",
    ...              "sample_id": 3, "words": 1, "target_low": 8.0, "target_high": 12.0})["provenance"]["target"]
    [8.0, 12.0]
    """
    return {"type": row["type"], "constraint": row["constraint"], "query": final_query(row),
            "response": final_response(row), "language": row["language"],
            "provenance": {"key": row["key"], "iteration": row["iteration_idx"], "source": row["source"],
                           "sample_id": row["sample_id"], "words": count_words(final_response(row)),
                           "target": [row["target_low"], row["target_high"]],
                           "edited": bool(row.get("edited_query") or row.get("edited_response"))}}
