"""The padding guard: per-text measures that show when a long text got its length by repeating or rephrasing
itself rather than by saying more.

Self-lengthening rewards length, and the cheapest length is the same sentence again. The quality gates
(`gates.repeated_ngram`) reject a text on its first long verbatim repeat; these measures instead say *how much*
of a text is repetition, in numbers a reader can check by eye:

- `repeated_sentence_share`: sentences that say an earlier sentence again, word for word.
- `repeated_ngram_share`: 4-word runs that occurred earlier (catches a repeat that was lightly reworded).
- `distinct_n`: distinct word pairs over all word pairs (low when the text keeps reusing its phrasing).
- `compression_ratio`: how far zlib shrinks the text (low when it is redundant at any scale).

`measure_padding` gathers them into `PaddingMeasures`; `padding_verdict` turns them into pass/fail with a
one-line reason. Words are `split_words`' words, so in Chinese every CJK character is one word.

>>> measures = measure_padding("Bees make honey. " * 4)
>>> measures.repeated_sentences, measures.repeated_ngrams
(0.75, 0.667)
>>> padding_verdict(measures, max_repeated_ngrams=0.7)
(False, '75% of its sentences repeat earlier ones (limit 20%)')
"""

from __future__ import annotations

import re
import zlib
from dataclasses import asdict, dataclass

from selflengthen.method.words import split_words

# The run length padding_verdict names in its reason. Four words is short enough to catch a sentence that was
# reworded around a kept phrase, long enough that ordinary English ("one of the") rarely fills the limit.
# In Chinese a 4-word run is 4 characters, and set phrases repeat naturally, so a Chinese text scores higher.
NGRAM_N = 4

_SENTENCE_END = re.compile(r"[.!?。！？…\n]+")
# Everything that is not a letter, digit or CJK character (CJK characters are \w, CJK punctuation is not).
_EDGE_PUNCTUATION = re.compile(r"^[\W_]+|[\W_]+$")


def sentences(text: str) -> list[str]:
    """The text's sentences, split on . ! ? 。！？ … and newlines, without their end marks. Pieces with no
    letter, digit or CJK character (a stray closing quote) are dropped. Simple on purpose: "3.14" is split.

    >>> sentences("Bees buzz. Do they sleep?\\n蜜蜂睡觉。真的！")
    ['Bees buzz', 'Do they sleep', '蜜蜂睡觉', '真的']
    """
    pieces = (piece.strip() for piece in _SENTENCE_END.split(text or ""))
    return [piece for piece in pieces if re.search(r"\w", piece)]


def _sentence_key(sentence: str) -> str:
    """What two sentences must share to count as the same: lower-cased, whitespace collapsed, punctuation at
    both ends stripped (the split leaves a closing quote at the start of the next sentence).

    >>> _sentence_key('"  Bees   MAKE honey,')
    'bees make honey'
    """
    return _EDGE_PUNCTUATION.sub("", " ".join(sentence.lower().split()))


def repeated_sentence_share(text: str) -> float:
    """Share (0-1) of the text's sentences that repeat an earlier sentence of the same text; 0.0 when it has none.

    >>> repeated_sentence_share("Bees buzz. Ants march. bees  buzz!")
    0.3333333333333333
    """
    keys = [_sentence_key(s) for s in sentences(text)]
    if not keys:
        return 0.0
    seen: set[str] = set()
    repeats = 0
    for key in keys:
        repeats += key in seen
        seen.add(key)
    return repeats / len(keys)


def _ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    """The text's word n-grams in order, words lower-cased (empty when it has fewer than n words).

    >>> _ngrams("A b C", 2)
    [('a', 'b'), ('b', 'c')]
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    words = [word.lower() for word in split_words(text)]
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def repeated_ngram_share(text: str, n: int = NGRAM_N) -> float:
    """Share (0-1) of the text's word n-grams that occurred earlier in it; 0.0 when it has fewer than n words.
    The first occurrence of a run is not counted, so a text said twice scores just under a half.

    >>> repeated_ngram_share("a b c a b c", n=2)  # ab bc ca ab bc: the last two are repeats
    0.4
    """
    grams = _ngrams(text, n)
    if not grams:
        return 0.0
    seen: set[tuple[str, ...]] = set()
    repeats = 0
    for gram in grams:
        repeats += gram in seen
        seen.add(gram)
    return repeats / len(grams)


def distinct_n(text: str, n: int = 2) -> float:
    """Distinct word n-grams over all word n-grams (0-1, higher is more varied). A text with fewer than n words
    gives 1.0: it has nothing to repeat, and a padding measure should not flag it.

    >>> distinct_n("a b a b a")  # ab ba ab ba: 2 distinct of 4
    0.5
    """
    grams = _ngrams(text, n)
    return len(set(grams)) / len(grams) if grams else 1.0


def compression_ratio(text: str) -> float:
    """Compressed size over raw size of the text's UTF-8 bytes (zlib, level 9); lower means more redundant.
    Only meaningful above a few hundred bytes: zlib's fixed overhead makes a short text compress badly (even
    above 1.0), so compare ratios of texts of similar length. 1.0 for an empty text.

    >>> compression_ratio("ab" * 500) < 0.05 < compression_ratio("short")
    True
    """
    raw = (text or "").encode("utf-8")
    return len(zlib.compress(raw, 9)) / len(raw) if raw else 1.0


@dataclass(frozen=True)
class PaddingMeasures:
    """One text's padding measures, each rounded to 3 decimals (see the module docstring)."""

    repeated_sentences: float
    repeated_ngrams: float
    distinct_2: float
    compression: float

    def to_dict(self) -> dict:
        return asdict(self)


def measure_padding(text: str) -> PaddingMeasures:
    """All four measures of one text, rounded to 3 decimals."""
    return PaddingMeasures(
        repeated_sentences=round(repeated_sentence_share(text), 3),
        repeated_ngrams=round(repeated_ngram_share(text, NGRAM_N), 3),
        distinct_2=round(distinct_n(text, 2), 3),
        compression=round(compression_ratio(text), 3),
    )


def _percentages(value: float, limit: float) -> tuple[str, str]:
    """A value and its limit as percentages: whole ones, unless rounding would make a failing value read the
    same as its limit.

    >>> _percentages(0.38, 0.25), _percentages(0.252, 0.25)
    (('38%', '25%'), ('25.2%', '25.0%'))
    """
    whole = (f"{value:.0%}", f"{limit:.0%}")
    return whole if whole[0] != whole[1] else (f"{value:.1%}", f"{limit:.1%}")


def _check_share(name: str, value: float) -> None:
    # `not 0 <= value <= 1` also catches NaN, which every comparison would otherwise let pass.
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be a share between 0 and 1, got {value}")


def padding_verdict(measures: PaddingMeasures, max_repeated_ngrams: float = 0.25,
                    max_repeated_sentences: float = 0.2) -> tuple[bool, str]:
    """(passed, reason): fails when a share is above its limit (a share equal to it passes). The reason is
    empty on a pass, else one line naming each failing measure, e.g.
    "38% of its 4-word runs repeat earlier ones (limit 25%)"; two failures are joined with "; ".

    >>> padding_verdict(PaddingMeasures(0.1, 0.38, 0.6, 0.4))
    (False, '38% of its 4-word runs repeat earlier ones (limit 25%)')
    >>> padding_verdict(PaddingMeasures(0.2, 0.25, 0.6, 0.4))
    (True, '')
    """
    _check_share("max_repeated_ngrams", max_repeated_ngrams)
    _check_share("max_repeated_sentences", max_repeated_sentences)
    checks = [(measures.repeated_ngrams, max_repeated_ngrams, f"of its {NGRAM_N}-word runs"),
              (measures.repeated_sentences, max_repeated_sentences, "of its sentences")]
    reasons = []
    for value, limit, what in checks:
        if value > limit:
            shown, shown_limit = _percentages(value, limit)
            reasons.append(f"{shown} {what} repeat earlier ones (limit {shown_limit})")
    return not reasons, "; ".join(reasons)
