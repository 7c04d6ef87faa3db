"""Split a text into two halves for stage 1 of expansion: the first half is what the extender expands.

Two ways, a config choice (`expand.split`):

- `nearest_middle` (default): at the boundary nearest the middle by words, preferring a blank line
  (paragraph break), else a newline, else a sentence end, else whitespace. A boundary kind is used when its best
  boundary leaves at least a quarter of the words on each side; "Heading" then a blank line then single-line
  paragraphs is split between the lines, not after the heading. The pieces re-join exactly:
  ``first + separator + second == text.strip()``.
- `pieces` (the reference): split on blank lines ("\\n\\n"); if that gives two pieces or fewer, on newlines; the
  first half is the first ⌊n/2⌋ pieces (empty for a text of one piece), re-joined with the separator split on.
  The reference re-joins single-newline pieces with a blank line, adding paragraph breaks the text did not
  have; here they are re-joined as they were.

>>> split_halves("One.\\n\\nTwo.\\n\\nThree.\\n\\nFour.")
('One.\\n\\nTwo.', '\\n\\n', 'Three.\\n\\nFour.')
>>> split_halves("A b. C d. E f. G h.")
('A b. C d.', ' ', 'E f. G h.')
>>> split_halves("Heading\\n\\nOne line.\\nTwo lines.\\nThree lines.\\nFour lines.")
('Heading\\n\\nOne line.\\nTwo lines.', '\\n', 'Three lines.\\nFour lines.')
>>> split_pieces("A.\\n\\nB.\\n\\nC.")
('A.', '\\n\\n', 'B.\\n\\nC.')
>>> split_pieces("A.\\nB.\\nC.\\nD.")
('A.\\nB.', '\\n', 'C.\\nD.')
"""

from __future__ import annotations

import re

from selflengthen.method.gates import sentence_breaks
from selflengthen.method.words import count_words

SPLITS = ("nearest_middle", "pieces")
BALANCE = 0.25  # the share of the words a boundary must leave on each side for its kind to be used
_BLANK_LINE = re.compile(r"\r?\n[ \t]*\r?\n\s*")
_NEWLINE = re.compile(r"\r?\n\s*")
_SPACE = re.compile(r"\s+")


def _boundary_kinds(text: str) -> list[list[tuple[int, int]]]:
    """(start, end) spans of each kind of separator inside the text, most preferred kind first."""
    def inside(pattern):
        return [m.span() for m in pattern.finditer(text) if 0 < m.start() and m.end() < len(text)]

    sentences = []
    for end in sentence_breaks(text):
        start = end
        while start > 0 and text[start - 1].isspace():
            start -= 1
        sentences.append((start, end))
    return [inside(_BLANK_LINE), inside(_NEWLINE), sentences, inside(_SPACE)]


def _best(text: str, spans: list[tuple[int, int]]) -> tuple[int, tuple[int, int], int]:
    """(distance from the middle in words x2, the span, total words) of the span nearest the middle (the earlier on
    a tie). Words are counted piece by piece: boundaries never cut a word."""
    before, counted, previous = [], 0, 0
    for start, _ in spans:
        counted += count_words(text[previous:start])
        before.append(counted)
        previous = start
    total = counted + count_words(text[previous:])
    best = min(range(len(spans)), key=lambda i: (abs(2 * before[i] - total), i))
    return abs(2 * before[best] - total), spans[best], total


def split_halves(text: str) -> tuple[str, str, str]:
    """(first half, separator, second half) at the boundary nearest the middle; the second half is empty when the
    text cannot be split."""
    body = text.strip()
    candidates = [_best(body, spans) for spans in _boundary_kinds(body) if spans]
    if not candidates:
        return body, "", ""
    balanced = [c for c in candidates if c[0] <= (1 - 2 * BALANCE) * c[2]]
    _, (start, end), _ = balanced[0] if balanced else min(candidates, key=lambda c: c[0])
    return body[:start], body[start:end], body[end:]


def split_pieces(text: str) -> tuple[str, str, str]:
    """The reference's split (see the module docstring): (first ⌊n/2⌋ pieces, separator, the rest)."""
    separator = "\n\n"
    pieces = text.split(separator)
    if len(pieces) <= 2:
        separator = "\n"
        pieces = text.split(separator)
    half = len(pieces) // 2
    if half == 0:  # one piece: nothing before it (the reference then expands an empty first half)
        return "", "", text
    return separator.join(pieces[:half]), separator, separator.join(pieces[half:])


def split_text(text: str, how: str) -> tuple[str, str, str]:
    """`split_halves` or `split_pieces`, by the config's `expand.split`."""
    return split_pieces(text) if how == "pieces" else split_halves(text)
