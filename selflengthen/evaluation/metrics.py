"""Scores of a benchmark answer and their summary: LonGen length-following and LongBench-Write's S_l.

LonGen's score (``selflengthen.evaluation.longen``) asks whether a response's length lands in the interval its
constraint implies. LongBench-Write's length score S_l compares the length l' with one target l and
punishes overshooting more gently than falling short:

    S_l = 100 * max(0, 1 - (l'/l - 1) / 3)   when l' > l
    S_l = 100 * max(0, 1 - (l/l' - 1) / 2)   otherwise (0 for an empty answer)

Only items with one target get S_l: about N -> l = N; range A-B -> l = (A + B) / 2. An "above" or
"below" item accepts any length on one side, so it has no single target.

>>> target_length("range", "2000字至3000字"), round(sl_score(5000, 2500), 2)
(2500.0, 66.67)
"""

from __future__ import annotations

import statistics
from collections import Counter

from selflengthen.errors import InputError
from selflengthen.evaluation.judge import DIMENSIONS
from selflengthen.evaluation.longen import TYPES, constraint_numbers, length_score, parse_constraint
from selflengthen.runs.insights import mean_median

# Buckets of the summary: the summary key, and the stored column it groups by.
BUCKETS = (("by_type", "type"), ("by_language", "language"), ("by_range", "length_range"))


def target_length(type: str, constraint: str) -> float | None:
    """The one length an item aims at, or None for above/below items (the constraint is checked).

    >>> target_length("about", "around 3000 words"), target_length("below", "小于2000字") is None
    (3000.0, True)
    """
    low, high = parse_constraint(type, constraint)
    if type == "about":
        return constraint_numbers(constraint)[0]  # the number itself, not a float midpoint of 0.8N..1.2N
    if type == "range":
        return (low + high) / 2
    return None


def sl_score(words: int, target: float) -> float:
    """LongBench-Write's length score, 0..100, of an answer of `words` words aiming at `target`.

    >>> [round(sl_score(n, 100), 2) for n in (100, 200, 400, 50, 33, 0)]
    [100.0, 66.67, 0.0, 50.0, 0.0, 0.0]
    """
    if not target > 0:
        raise InputError(f"target length must be positive (got {target})")
    if words <= 0:
        return 0.0
    if words > target:
        return 100 * max(0.0, 1 - (words / target - 1) / 3)
    return 100 * max(0.0, 1 - (target / words - 1) / 2)


def score_response(item: dict, words: int) -> dict:
    """Both length scores of an answer of `words` words to a benchmark item (type, constraint).

    >>> score_response({"type": "about", "constraint": "大约10字"}, 10)
    {'target_low': 8.0, 'target_high': 12.0, 'target': 10.0, 'length_score': 1.0, 'sl_score': 100.0}
    """
    low, high = parse_constraint(item["type"], item["constraint"])
    target = target_length(item["type"], item["constraint"])
    return {"target_low": low, "target_high": high, "target": target, "length_score": length_score(words, low, high),
            "sl_score": None if target is None else sl_score(words, target)}


def is_answered(row: dict | None) -> bool:
    """A stored item counts as answered when it has a response and no error."""
    return row is not None and row.get("response") is not None and row.get("error") is None


def summarize(rows: list[dict], judge_model: str | None = None) -> dict:
    """The summary of stored item rows (see ``storage.evaluations``): counts, words, LonGen, S_l, judge.

    Means per type, language and range bucket, for the keys that occur (an empty label has no bucket).
    The judge part covers `judge_model`'s verdicts (default: the judge model seen most often).

    >>> rows = [{"type": "about", "language": "en", "length_range": "2-4k", "response": "x", "error": None,
    ...          "words": 10, "truncated": False, "length_score": 1.0, "sl_score": 100.0, "judge_model": None},
    ...         {"type": "above", "language": "zh", "length_range": "2-4k", "response": "y", "error": None,
    ...          "words": 20, "truncated": True, "length_score": 0.5, "sl_score": None, "judge_model": None}]
    >>> s = summarize(rows)
    >>> s["items"], s["truncated"], s["longen"]["overall"], s["longen"]["by_language"], s["sl"]["n"]
    (2, 1, 0.75, {'en': 1.0, 'zh': 0.5}, 1)
    """
    answered = [r for r in rows if is_answered(r)]
    mean_words, median_words = mean_median([r["words"] for r in answered])
    with_target = [r for r in answered if r.get("sl_score") is not None]
    return {
        "items": len(answered),
        "errors": sum(1 for r in rows if r.get("error") is not None),
        "truncated": sum(1 for r in answered if r.get("truncated")),
        "words": {"mean": mean_words, "median": None if median_words is None else float(median_words)},
        "longen": _score_means(answered, "length_score"),
        "sl": {**_score_means(with_target, "sl_score"), "n": len(with_target)},
        "judge": summarize_judge(answered, judge_model),
    }


def _score_means(rows: list[dict], column: str) -> dict:
    """{"overall", "by_type", "by_language", "by_range"}: means of `column` over rows and per bucket."""
    result = {"overall": _mean([r[column] for r in rows])}
    for key, label in BUCKETS:
        groups: dict[str, list[float]] = {}
        for row in rows:
            if row.get(label):
                groups.setdefault(row[label], []).append(row[column])
        result[key] = {k: _mean(groups[k]) for k in sorted(groups, key=bucket_order)}
    return result


def bucket_order(label: str) -> tuple[int, str]:
    """Types in LonGen's order (about, range, above, below); other labels after them, alphabetically.

    >>> sorted(["zh", "below", "en", "about"], key=bucket_order)
    ['about', 'below', 'en', 'zh']
    """
    return (TYPES.index(label) if label in TYPES else len(TYPES), label)


def summarize_judge(rows: list[dict], judge_model: str | None = None) -> dict | None:
    """The judge's scored/failed counts and mean per dimension; None when no item was judged or tried.

    >>> rows = [{"judge_model": "j", "judge_scores": dict.fromkeys(DIMENSIONS, 6)},
    ...         {"judge_model": "j", "judge_scores": None, "judge_error": "no JSON object found"}]
    >>> s = summarize_judge(rows)
    >>> s["scored"], s["failed"], s["overall"], s["by_dimension"]["Clarity"]
    (1, 1, 6.0, 6.0)
    """
    seen = Counter(r["judge_model"] for r in rows if r.get("judge_model"))
    model = judge_model or (seen.most_common(1)[0][0] if seen else None)
    mine = [r for r in rows if model is not None and r.get("judge_model") == model]
    if not mine:
        return None
    scored = [r["judge_scores"] for r in mine if r.get("judge_scores")]
    by_dimension = {d: _mean([s[d] for s in scored]) for d in DIMENSIONS} if scored else {}
    return {"model": model, "scored": len(scored), "failed": len(mine) - len(scored), "by_dimension": by_dimension,
            "overall": _mean(list(by_dimension.values())) if scored else None}


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None
