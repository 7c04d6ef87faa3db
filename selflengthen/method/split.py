"""Split a text into two halves at the boundary nearest its middle.

Preference: a blank line (paragraph break), else a newline, else a sentence end, else whitespace.
The pieces always re-join exactly: ``first + separator + second == text.strip()``.

>>> split_halves("One.\\n\\nTwo.\\n\\nThree.\\n\\nFour.")
('One.\\n\\nTwo.', '\\n\\n', 'Three.\\n\\nFour.')
>>> split_halves("A b. C d. E f. G h.")
('A b. C d.', ' ', 'E f. G h.')
"""

from __future__ import annotations

import re

from selflengthen.method.gates import sentence_breaks
from selflengthen.method.words import count_words

_BLANK_LINE = re.compile(r"\r?\n[ \t]*\r?\n\s*")
_NEWLINE = re.compile(r"\r?\n\s*")
_SPACE = re.compile(r"\s+")


def _boundaries(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of separators of the best available kind, inside the text."""
    for pattern in (_BLANK_LINE, _NEWLINE):
        spans = [m.span() for m in pattern.finditer(text) if 0 < m.start() and m.end() < len(text)]
        if spans:
            return spans
    spans = []
    for end in sentence_breaks(text):
        start = end
        while start > 0 and text[start - 1].isspace():
            start -= 1
        spans.append((start, end))
    if spans:
        return spans
    return [m.span() for m in _SPACE.finditer(text) if 0 < m.start() and m.end() < len(text)]


def split_halves(text: str) -> tuple[str, str, str]:
    """(first half, separator, second half); the second half is empty when the text cannot be split."""
    body = text.strip()
    spans = _boundaries(body)
    if not spans:
        return body, "", ""
    # Words before each boundary, counted piece by piece (boundaries never cut a word).
    before, counted, previous = [], 0, 0
    for start, _ in spans:
        counted += count_words(body[previous:start])
        before.append(counted)
        previous = start
    total = counted + count_words(body[previous:])
    # Pick the boundary whose first part holds closest to half the words (the earlier one on a tie).
    best = min(range(len(spans)), key=lambda i: (abs(2 * before[i] - total), i))
    start, end = spans[best]
    return body[:start], body[start:end], body[end:]
