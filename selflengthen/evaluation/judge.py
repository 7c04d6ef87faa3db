"""Quality by an LLM judge: a prompt asking for seven 1-10 scores as JSON, and a forgiving parser.

Judges wrap their JSON in code fences, add a sentence before or after it, spell keys in their own
case, and write 8, "8", 8.0 or "8/10". The parser takes all of those; what it cannot read (no JSON,
a missing dimension, a word where a number should be, a score outside 1-10) is refused with a short
reason, which the evaluation stores and counts as a failed judgement.

>>> parse_judge_output('Scores: ```json\\n{"relevance": 8, "Coherence": "7/10", "accuracy": 9.0, "Consistency": 8,'
...                    ' "clarity": 7, "creativity": 6, "ENGAGEMENT": "6"}\\n```')["Coherence"]
7
"""

from __future__ import annotations

import ast
import json
import math
import re

from selflengthen.backends.base import Prompt
from selflengthen.errors import InputError
from selflengthen.method.templates import as_prompt, bundled, fill

DIMENSIONS = ("Relevance", "Coherence", "Accuracy", "Consistency", "Clarity", "Creativity", "Engagement")

_QUESTIONS = {
    "Relevance": "Does it do what the request asks, staying on its topic?",
    "Coherence": "Do its parts follow from one another in a sensible order?",
    "Accuracy": "Are its facts and reasoning correct?",
    "Consistency": "Does it keep to the same facts, voice and style from start to end?",
    "Clarity": "Is it easy to read and to understand?",
    "Creativity": "Does it bring original ideas or an apt, fresh way of putting them?",
    "Engagement": "Would a reader want to keep reading?",
}


MAX_OUTPUT_CHARS = 20_000  # a judge asked for ~512 tokens: more is not a verdict worth reading whole
MAX_OBJECT_STARTS = 100  # '{' positions tried: each try may scan the rest of the text
_SCORE_TEXT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*10|out of 10)?\s*$", re.IGNORECASE)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


class JudgeParseError(InputError):
    """The judge's output could not be read as seven 1-10 scores (the message says why)."""


def build_judge_prompt(query: str, response: str, template: str | None = None) -> Prompt:
    """The judge's request: the dimensions with one question each, the request, the answer, the JSON asked for
    (`template`: the run's quality_judge template; by default the bundled default one)."""
    questions = "\n".join(f"- {name}: {question}" for name, question in _QUESTIONS.items())
    example = json.dumps(dict.fromkeys(DIMENSIONS, 7))
    return as_prompt(fill(template or bundled("default")["quality_judge"], questions=questions, query=query.strip(),
                          response=response.strip(), example=example))


def parse_judge_output(text: str) -> dict[str, int]:
    """{dimension: 1..10} from a judge's reply; JudgeParseError with a short reason when it cannot be read.

    >>> parse_judge_output('{"Relevance": 8}')
    Traceback (most recent call last):
    ...
    selflengthen.evaluation.judge.JudgeParseError: missing Coherence, Accuracy, Consistency, Clarity, Creativity, Engagement
    """
    if not text or not text.strip():
        raise JudgeParseError("empty output")
    text = text[:MAX_OUTPUT_CHARS]
    objects = [_by_dimension(obj) for obj in _json_objects(text)]
    if not objects:
        cut_off = "{" in text and _matching_brace(text, text.index("{")) is None
        raise JudgeParseError("the JSON object is cut off" if cut_off else "no JSON object found")
    best = max(objects, key=len)  # the first object with the most dimensions (max keeps the first of equals)
    if not best:
        raise JudgeParseError("the JSON has none of the dimensions")
    missing = [d for d in DIMENSIONS if d not in best]
    if missing:
        raise JudgeParseError(f"missing {', '.join(missing)}")
    return {d: read_score(d, best[d]) for d in DIMENSIONS}


def read_score(dimension: str, value) -> int:
    """A 1-10 score from 8, 8.0, "8", "8/10" or {"score": 8}; halves round up (7.5 -> 8).

    >>> read_score("Clarity", "9 / 10"), read_score("Clarity", 7.5), read_score("Clarity", {"score": "6"})
    (9, 8, 6)
    >>> read_score("Clarity", "eight")
    Traceback (most recent call last):
    ...
    selflengthen.evaluation.judge.JudgeParseError: Clarity is not a number ('eight')
    """
    if isinstance(value, dict) and "score" in {str(k).lower() for k in value}:
        value = next(v for k, v in value.items() if str(k).lower() == "score")
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(min(max(value, -11), 11))  # clamped first: float() of a 400-digit integer overflows
    elif isinstance(value, str) and _SCORE_TEXT.match(value):
        number = float(_SCORE_TEXT.match(value).group(1))
    if number is None or not math.isfinite(number):
        raise JudgeParseError(f"{dimension} is not a number ({str(value)[:20]!r})")
    if not 1 <= number <= 10:
        raise JudgeParseError(f"{dimension} score {value!r:.20} is outside 1-10")
    return math.floor(number + 0.5)


def _by_dimension(obj: dict) -> dict:
    """The object's values under canonical dimension names; keys compared without case, spaces or '_'.

    A judge that nests its scores ({"scores": {...}}) is read one level down.
    """
    canonical = {d.lower(): d for d in DIMENSIONS}
    found = {canonical[key]: value for key, value in ((re.sub(r"[\s_*-]", "", str(k)).lower(), v)
                                                      for k, v in obj.items()) if key in canonical}
    if not found:
        nested = [v for v in obj.values() if isinstance(v, dict)]
        if len(nested) == 1:
            return _by_dimension(nested[0])
    return found


def _json_objects(text: str) -> list[dict]:
    """Every JSON object that starts at some '{' in the text, outermost first; also Python-style dicts and
    objects with a trailing comma, which small judges often write."""
    decoder, found, end = json.JSONDecoder(), [], -1
    starts = [i for i, char in enumerate(text) if char == "{"][:MAX_OBJECT_STARTS]
    for start in starts:
        if start < end:
            continue  # inside an object already read
        obj, length = _decode_at(decoder, text, start)
        if isinstance(obj, dict):
            found.append(obj)
            end = start + length
    return found


def _decode_at(decoder: json.JSONDecoder, text: str, start: int) -> tuple[object, int]:
    """(object, length) of the JSON value at `start`, after light repairs; (None, 0) when there is none."""
    try:
        obj, stop = decoder.raw_decode(text, start)
        return obj, stop - start
    except (ValueError, RecursionError):  # JSONDecodeError, an integer of 5,000 digits, '[' nested 100,000 deep
        pass
    close = _matching_brace(text, start)
    if close is None:
        return None, 0
    span = text[start:close + 1]
    for attempt in (lambda: json.loads(_TRAILING_COMMA.sub(r"\1", span)), lambda: ast.literal_eval(span)):
        try:
            return attempt(), len(span)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return None, 0


def _matching_brace(text: str, start: int) -> int | None:
    """Index of the '}' closing the '{' at `start` (quoted braces skipped); None when it never closes."""
    depth, quote, escaped = 0, None, False
    for i in range(start, len(text)):
        char = text[i]
        if quote:  # inside a string: only its closing quote matters
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
            continue
        if char in "\"'":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i
    return None
