"""Quality gates shared by generation and expansion: pure checks on one text.

Each gate returns a GateResult; a text passes when every gate does. Gate names are stable strings
(stored with each sample and counted per iteration): non_empty, not_truncated, ends_with_punctuation,
no_repeated_ngram.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

# What may close a sentence, per language; closing quotes and brackets after it are skipped.
SENTENCE_END = {"en": ".!?…", "zh": "。！？!?.…"}
_CLOSERS = "\"'”’」』）)]】》*_`"


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def ends_with_punctuation(text: str, language: str) -> bool:
    """True when the text's last sentence is closed.

    >>> ends_with_punctuation('He said "stop."', "en")
    True
    >>> ends_with_punctuation("我们走吧", "zh")
    False
    """
    tail = text.rstrip().rstrip(_CLOSERS).rstrip()
    return bool(tail) and tail[-1] in SENTENCE_END.get(language, SENTENCE_END["en"])


def ngram_units(text: str, language: str) -> list[str]:
    """Units the repetition check counts: characters (no whitespace) for Chinese, lower-cased words otherwise."""
    if language == "zh":
        return [c for c in text if not c.isspace()]
    return text.lower().split()


def repeated_ngram(text: str, language: str, n_words: int = 10, n_chars: int = 13) -> str | None:
    """The first n-gram that occurs twice, or None (13 characters for Chinese, 10 words otherwise).

    >>> repeated_ngram("a b c a b c", "en", n_words=3)
    'a b c'
    >>> repeated_ngram("a b c d", "en", n_words=3) is None
    True
    """
    n = n_chars if language == "zh" else n_words
    units = ngram_units(text, language)
    seen = set()
    for i in range(len(units) - n + 1):
        gram = tuple(units[i:i + n])
        if gram in seen:
            return ("" if language == "zh" else " ").join(gram)
        seen.add(gram)
    return None


def check_text(text: str, language: str, *, truncated: bool = False,
               n_words: int = 10, n_chars: int = 13) -> list[GateResult]:
    """Run every text gate; the list always has the same four gates in the same order."""
    stripped = text.strip()
    gram = repeated_ngram(stripped, language, n_words, n_chars) if stripped else None
    return [
        GateResult("non_empty", bool(stripped), "" if stripped else "empty output"),
        GateResult("not_truncated", not truncated, "hit the token limit" if truncated else ""),
        GateResult("ends_with_punctuation", ends_with_punctuation(stripped, language),
                   "" if ends_with_punctuation(stripped, language) else f"ends with {stripped[-12:]!r}"),
        GateResult("no_repeated_ngram", gram is None, "" if gram is None else f"repeats {gram[:60]!r}"),
    ]


def passed(results: list[GateResult]) -> bool:
    return all(r.passed for r in results)


def first_failure(results: list[GateResult]) -> GateResult | None:
    return next((r for r in results if not r.passed), None)


_SENTENCE_BREAK = re.compile(r"(?<=[.!?…。！？])[\"'”’」』）)\]]*\s+|(?<=[。！？])[\"'”’」』）)\]]*")


def sentence_breaks(text: str) -> list[int]:
    """Offsets just after each sentence end inside `text` (used by the splitter as a last resort)."""
    return [m.end() for m in _SENTENCE_BREAK.finditer(text) if 0 < m.end() < len(text)]
