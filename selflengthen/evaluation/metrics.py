"""Scores of a benchmark answer and their summary: LonGen length-following, LongBench-Write's S_l, LIFEBench.

LonGen's score (``selflengthen.evaluation.longen``) asks whether a response's length lands in the interval its
constraint implies. LongBench-Write's length score S_l compares the length l' with one target l and
punishes overshooting more gently than falling short:

    S_l = 100 * max(0, 1 - (l'/l - 1) / 3)   when l' > l
    S_l = 100 * max(0, 1 - (l/l' - 1) / 2)   otherwise (0 for an empty answer)

Only items with one target get S_l: about N -> l = N; range A-B -> l = (A + B) / 2. An "above" or
"below" item accepts any length on one side, so it has no single target.

LIFEBench's length score turns the deviation LD = (L - T) / T of L output words from a target T into

    100 * e^(5 * LD)    when L < T (too short: half the target scores 8.2)
    100 * e^(-2 * LD)   when L > T (too long: twice the target scores 13.5)

and 100 at L == T. Every item gets one (``lifebench_target`` says which T): about N -> T = N; range
A-B -> T = (A + B) / 2, the "equal to" target of a range and the same l as S_l's, so the two read
side by side (an answer at a range's edge scores below 100: 2000 words on 2000-3000 score 36.8); above
N is LIFEBench's "at least": 100 from N words up, the short formula below N; below N is its "at
most": 100 up to N words, the long formula above N.

>>> target_length("range", "2000字至3000字"), round(sl_score(5000, 2500), 2)
(2500.0, 66.67)
>>> round(lifebench_score(1000, 2000), 2), round(lifebench_score(4000, 2000), 2)
(8.21, 13.53)
"""

from __future__ import annotations

import math
import statistics
from collections import Counter

from selflengthen.errors import InputError
from selflengthen.evaluation.judge import DIMENSIONS
from selflengthen.evaluation.longen import TYPES, constraint_numbers, length_score, parse_constraint
from selflengthen.method.padding import repeated_ngram_share
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


# LIFEBench's rates: falling short by a fraction LD costs as much as overshooting by 2.5 LD.
LIFEBENCH_SHORT_RATE = 5.0
LIFEBENCH_LONG_RATE = 2.0


def lifebench_score(words: int, target: float) -> float:
    """LIFEBench's length score, 0..100, of an answer of `words` words aiming at exactly `target`.

    >>> [round(lifebench_score(n, 100), 2) for n in (100, 50, 200, 0, 150)]
    [100.0, 8.21, 13.53, 0.67, 36.79]
    """
    if not target > 0:
        raise InputError(f"target length must be positive (got {target})")
    deviation = (words - target) / target
    rate = LIFEBENCH_SHORT_RATE if deviation < 0 else -LIFEBENCH_LONG_RATE
    return 100 * math.exp(rate * deviation)


def lifebench_target(type: str, target: float | None, low: float, high: float) -> float:
    """LIFEBench's T of an item, from its one target (``target_length``) and LonGen interval [low, high]
    (``parse_constraint``): that target where there is one, else the number above/below names.

    >>> [lifebench_target(t, target_length(t, c), *parse_constraint(t, c)) for t, c in
    ...  [("about", "大约2000字"), ("range", "2000-3000 words"), ("above", "大于2000字"), ("below", "小于2000字")]]
    [2000.0, 2500.0, 2000.0, 2000.0]
    """
    if target is not None:
        return target
    return low if type == "above" else high  # above N -> [N, 1.5N], below N -> [0.5N, N]


def lifebench_item_score(type: str, words: int, target: float) -> float:
    """LIFEBench's score for an item's type: an at-least (above) or at-most (below) target is met in full
    on its side; otherwise the distance to `target` counts as for an exact target.

    >>> [round(lifebench_item_score("above", n, 100), 2) for n in (50, 100, 300)]
    [8.21, 100.0, 100.0]
    >>> [round(lifebench_item_score("below", n, 100), 2) for n in (0, 100, 200)]
    [100.0, 100.0, 13.53]
    """
    if (type == "above" and words >= target) or (type == "below" and words <= target):
        return 100.0
    return lifebench_score(words, target)


def score_response(item: dict, words: int) -> dict:
    """The length scores of an answer of `words` words to a benchmark item (type, constraint).

    >>> score_response({"type": "about", "constraint": "大约10字"}, 10)
    {'target_low': 8.0, 'target_high': 12.0, 'target': 10.0, 'length_score': 1.0, 'sl_score': 100.0,
     'lifebench_score': 100.0}
    """
    type = item["type"]
    low, high = parse_constraint(type, item["constraint"])
    target = target_length(type, item["constraint"])
    return {"target_low": low, "target_high": high, "target": target, "length_score": length_score(words, low, high),
            "sl_score": None if target is None else sl_score(words, target),
            "lifebench_score": lifebench_item_score(type, words, lifebench_target(type, target, low, high))}


def is_answered(row: dict | None) -> bool:
    """A stored item counts as answered when it has a response and no error."""
    return row is not None and row.get("response") is not None and row.get("error") is None


def summarize(rows: list[dict], judge_model: str | None = None) -> dict:
    """The summary of stored item rows (see ``storage.evaluations``): counts, words, LonGen, S_l, LIFEBench,
    words against target per range, judge.

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
    with_lifebench = [r for r in answered if r.get("lifebench_score") is not None]  # NULL on rows stored before it
    return {
        "items": len(answered),
        "errors": sum(1 for r in rows if r.get("error") is not None),
        "truncated": sum(1 for r in answered if r.get("truncated")),
        "words": {"mean": mean_words, "median": None if median_words is None else float(median_words)},
        "longen": _score_means(answered, "length_score"),
        "sl": {**_score_means(with_target, "sl_score"), "n": len(with_target)},
        "lifebench": {**_score_means(with_lifebench, "lifebench_score"), "n": len(with_lifebench)},
        "length_by_range": length_by_range(answered),
        "judge": summarize_judge(answered, judge_model),
        "repeats": _mean_repeats(answered),
    }


def _mean_repeats(rows: list[dict]) -> float | None:
    """The padding guard's measure over the answers: the mean share of 4-word runs that repeat earlier ones in the
    same answer (does a longer answer say more, or the same again?)."""
    shares = [repeated_ngram_share(r["response"]) for r in rows if r.get("response")]
    return round(sum(shares) / len(shares), 3) if shares else None


def length_by_range(rows: list[dict]) -> dict:
    """{range: {"words", "target", "n"}}: mean output words and mean LIFEBench target of the answered rows
    per length range (rows without a stored interval or range label are left out).

    >>> rows = [{"length_range": "2-4k", "type": "about", "words": 1500, "target": 2000.0, "target_low": 1600.0,
    ...          "target_high": 2400.0},
    ...         {"length_range": "2-4k", "type": "above", "words": 4500, "target": None, "target_low": 4000.0,
    ...          "target_high": 6000.0}]
    >>> length_by_range(rows)
    {'2-4k': {'words': 3000.0, 'target': 3000.0, 'n': 2}}
    """
    groups: dict[str, list[dict]] = {}
    for row in rows:
        if row.get("length_range") and row.get("target_low") is not None:
            groups.setdefault(row["length_range"], []).append(row)
    return {label: {"words": _mean([r["words"] for r in group]),
                    "target": _mean([lifebench_target(r["type"], r["target"], r["target_low"], r["target_high"])
                                     for r in group]),
                    "n": len(group)}
            for label, group in sorted(groups.items(), key=lambda kv: bucket_order(kv[0]))}


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
