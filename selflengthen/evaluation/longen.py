"""LonGen length-following score: how well each response's length meets its constraint.

Every item has a ``type`` (about, range, above, below) and a ``constraint`` naming one or two word
counts. The type turns the numbers into a target interval [a, b]:

    about N -> [0.8N, 1.2N]    range A-B -> [A, B]    above N -> [N, 1.5N]    below N -> [0.5N, N]

A response of L words (``selflengthen.method.words.count_words``) scores 1 inside [a, b], 2L/a - 1 below it
and 3 - 2L/b above it, never less than 0.

LonGen words its constraints "around 2000 words" / "大约2000字", "2000-3000 words" / "2000字至3000字",
"more than 2000 words" / "大于2000字" and "less than 2000 words" / "小于2000字". Other wordings work too
("between 2,000 and 3,000 words", "至少2000字", "不超过3k字", "大约三千字"): the type gives the meaning, the constraint
only has to name the number(s), and a direction word that contradicts the type ("less than" on an
``above`` item) is refused.

>>> a, b = parse_constraint("about", "大约2000字")
>>> a, b
(1600.0, 2400.0)
>>> length_score(1200, a, b)
0.5
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from pathlib import Path

from selflengthen.errors import InputError
from selflengthen.inputs import json_records
from selflengthen.method.numerals import replace_numerals
from selflengthen.method.words import count_words

TYPES = ("about", "range", "above", "below")
FIELDS = ("type", "constraint", "response")
MAX_LINE_BYTES = 16_000_000  # a response may be long; a 16 MB line is not a response

# A number: "2000", "2,000", "2.5k", "1.5万", full-width digits too (Decimal reads them).
_NUMBER = re.compile(r"(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*([kK](?![a-zA-Z])|[千万])?")
_SCALE = {"": 1, "k": 1000, "K": 1000, "千": 1000, "万": 10000}
# Direction words. A negated form starts before the word it negates, so the leftmost match is right.
_BELOW = ("no more than", "not more than", "no longer than", "less than", "fewer than", "shorter than", "under",
          "below", "at most", "up to", "or less", "or fewer", "maximum", "不超过", "不多于", "不大于", "小于",
          "少于", "低于", "以内", "以下", "之内", "最多")
_ABOVE = ("no less than", "not less than", "no fewer than", "no shorter than", "more than", "longer than", "over",
          "above", "at least", "or more", "minimum", "exceed", "不少于", "不低于", "不小于", "大于", "多于", "超过",
          "高于", "以上", "至少", "最少")


def _alternatives(words: tuple[str, ...]) -> str:
    """A regex alternation; English words must stand alone ('over' is not in 'overall')."""
    return "|".join(rf"\b{re.escape(w)}\b" if w.isascii() else re.escape(w) for w in words)


_DIRECTION = re.compile(f"(?P<below>{_alternatives(_BELOW)})|(?P<above>{_alternatives(_ABOVE)})", re.IGNORECASE)


def constraint_numbers(constraint: str) -> list[float]:
    """The word counts a constraint names, in order ('k', '千' and '万' scale them).

    >>> constraint_numbers("between 2,000 and 3.5k words")
    [2000.0, 3500.0]
    >>> constraint_numbers("１万字以内"), constraint_numbers("二千字至三千五百字")
    ([10000.0], [2000.0, 3500.0])
    """
    return [float(Decimal(digits.replace(",", "")) * _SCALE[unit])
            for digits, unit in _NUMBER.findall(replace_numerals(constraint))]


def constraint_direction(constraint: str) -> str | None:
    """'above', 'below' or None: the first direction word in the constraint.

    >>> constraint_direction("不超过3000字"), constraint_direction("at least 500 words")
    ('below', 'above')
    >>> constraint_direction("around 3000 words") is None
    True
    """
    match = _DIRECTION.search(re.sub(r"\s+", " ", constraint))
    return None if match is None else match.lastgroup


def parse_constraint(type: str, constraint: str) -> tuple[float, float]:
    """The target interval [a, b] of an item, from its type and constraint.

    >>> parse_constraint("range", "2000字至3000字")
    (2000.0, 3000.0)
    >>> parse_constraint("above", "more than 4000 words")
    (4000.0, 6000.0)
    >>> parse_constraint("below", "less than 2500 words")
    (1250.0, 2500.0)
    """
    if type not in TYPES:
        raise InputError(f"unknown type {type!r} (expected one of: {', '.join(TYPES)})")
    numbers = constraint_numbers(constraint)
    wanted = 2 if type == "range" else 1
    if len(numbers) != wanted:
        raise InputError(f"cannot read {type!r} constraint {constraint!r}: "
                         f"expected {wanted} word count{'s' if wanted > 1 else ''}, found {len(numbers)}")
    if min(numbers) <= 0:
        raise InputError(f"constraint {constraint!r} must name positive word counts")
    if max(numbers) == math.inf:  # past float's range (a 400-digit number): no interval, no score
        raise InputError(f"constraint {constraint[:40]!r}... names a word count too large to score")
    direction = constraint_direction(constraint)
    if type in ("above", "below") and direction not in (None, type):
        raise InputError(f"constraint {constraint!r} says {direction}, but the item's type is {type}")
    if type == "range":
        a, b = numbers
        if a > b:
            raise InputError(f"range constraint {constraint!r} is reversed (lower bound first)")
        return a, b
    n = numbers[0]
    # Multiply before dividing so round numbers stay exact (0.8 * 2500 is not quite 2000 in floats).
    return {"about": (n * 4 / 5, n * 6 / 5), "above": (n, n * 3 / 2), "below": (n / 2, n)}[type]


def length_score(words: int, a: float, b: float) -> float:
    """1 inside [a, b]; falls linearly to 0 at a/2 below and at 1.5b above.

    >>> [length_score(n, 100, 200) for n in (0, 50, 75, 100, 200, 250, 300, 400)]
    [0.0, 0.0, 0.5, 1.0, 1.0, 0.5, 0.0, 0.0]
    """
    if not 0 < a <= b:
        raise InputError(f"target interval [{a}, {b}] must have 0 < a <= b")
    if words < a:
        return max(0.0, 2 * words / a - 1)
    if words > b:
        return max(0.0, 3 - 2 * words / b)
    return 1.0


def check_fields(item, fields: tuple[str, ...] = FIELDS) -> None:
    """Refuse an item that is not an object with a string in each of `fields` (a null counts as missing).

    >>> check_fields({"type": "about", "constraint": None}, ("type", "constraint"))
    Traceback (most recent call last):
    ...
    selflengthen.errors.InputError: field 'constraint' is missing
    """
    if not isinstance(item, dict):
        raise InputError(f"expected a JSON object, got {type(item).__name__}")
    for name in fields:
        if not isinstance(item.get(name), str):
            problem = "missing" if item.get(name) is None else f"not a string (got {item[name]!r:.40})"
            raise InputError(f"field '{name}' is {problem}")


def score_item(item: dict) -> float:
    """The length score of one item with type, constraint and response."""
    check_fields(item)
    a, b = parse_constraint(item["type"], item["constraint"])
    return length_score(count_words(item["response"]), a, b)


def score_items(items: list[dict]) -> dict:
    """Mean score per type (None where a type has no item) and overall, with the counts under 'counts'.

    >>> items = [{"type": "about", "constraint": "around 10 words", "response": "word " * 10},
    ...          {"type": "below", "constraint": "少于10字", "response": "字" * 20}]
    >>> score_items(items)
    {'about': 1.0, 'range': None, 'above': None, 'below': 0.0, 'overall': 0.5,
     'counts': {'about': 1, 'range': 0, 'above': 0, 'below': 1, 'overall': 2}}
    """
    by_type: dict[str, list[float]] = {t: [] for t in TYPES}
    for i, item in enumerate(items, 1):
        try:
            score = score_item(item)
        except InputError as e:
            raise InputError(f"item {i}: {e}") from None
        by_type[item["type"]].append(score)
    scores = [s for t in TYPES for s in by_type[t]]
    result = {t: _mean(by_type[t]) for t in TYPES}
    result["overall"] = _mean(scores)
    result["counts"] = {**{t: len(by_type[t]) for t in TYPES}, "overall": len(scores)}
    return result


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def load_scored_file(path: str | Path) -> list[dict]:
    """Items of a JSONL file whose lines hold type, constraint and response; each line checked fully."""
    items = []
    for where, item in json_records(path, MAX_LINE_BYTES):
        try:
            check_fields(item)
            parse_constraint(item["type"], item["constraint"])
        except InputError as e:
            raise InputError(f"{where}: {e}") from None
        items.append(item)
    if not items:
        raise InputError(f"{path}: no items found")
    return items
