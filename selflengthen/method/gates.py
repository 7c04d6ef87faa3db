"""Quality gates shared by generation and expansion: pure checks on one text.

Each gate returns a GateResult; a text passes when every gate does. Gate names are stable strings
(stored with each sample and counted per iteration): non_empty, not_truncated, ends_with_punctuation,
no_repeated_ngram, and no_meta_talk and no_padding (the padding guard) where those rules are on.

Two sets of rules (`GateRules`): the default ones, and the reference implementation's, which the `paper`
preset uses. The reference closes a text with a wider set of characters (an English text may end in a comma
or a dash; a Chinese one must end in full-width or closing punctuation, never an ASCII stop), counts Chinese
n-grams in units of one non-ASCII character or one run of ASCII characters, counts English words as written,
and rejects English text that talks about its own revision in its first 2 or last 3 lines.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

# What may close a sentence, per language; closing quotes and brackets after it are skipped.
SENTENCE_END = {"en": ".!?…", "zh": "。！？!?.…"}
_CLOSERS = "\"'”’」』）)]】》*_`"
# The reference's last characters. Its sets also hold "...", which, being three characters, never equals a
# text's last character: a Chinese text ending in ASCII dots fails there, and does here.
REFERENCE_END = {"zh": frozenset("。！？…”’)]}>）】`"), "en": frozenset(".!?,;:-\"')]}>`")}
META_WORDS = ("revised", "revision", "response", "version", "paragraph")
STYLES = ("default", "reference")


@dataclass(frozen=True)
class GateRules:
    """Which rules the text gates apply (see the module docstring); the config's `gates` section and n-gram sizes."""

    punctuation: str = "default"
    ngram: str = "default"
    meta_talk: bool = False
    n_words: int = 10
    n_chars: int = 13
    padding: float = 0.0  # the padding guard's limit on repeated 4-word runs and sentences (0 = off)


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def ends_with_punctuation(text: str, language: str, style: str = "default") -> bool:
    """True when the text is closed: by default its last sentence ends (closing quotes and brackets skipped);
    with the reference's rules its last character is one of REFERENCE_END.

    >>> ends_with_punctuation('He said "stop."', "en"), ends_with_punctuation("我们走吧", "zh")
    (True, False)
    >>> [ends_with_punctuation(t, "zh", "reference") for t in ("好。", "好.", "好...", "好）")]
    [True, False, False, True]
    >>> [ends_with_punctuation(t, "en", "reference") for t in ("and so on,", "a list -", "The end")]
    [True, True, False]
    """
    if style == "reference":
        tail = text.rstrip()
        return bool(tail) and tail[-1] in REFERENCE_END["zh" if language == "zh" else "en"]
    tail = text.rstrip().rstrip(_CLOSERS).rstrip()
    return bool(tail) and tail[-1] in SENTENCE_END.get(language, SENTENCE_END["en"])


def ascii_runs(text: str) -> list[str]:
    """The reference's Chinese n-gram units: each non-ASCII character alone, each run of ASCII characters
    (spaces and newlines included) as one unit.

    >>> ascii_runs("我用 GPT-4 写了 2 篇。")
    ['我', '用', ' GPT-4 ', '写', '了', ' 2 ', '篇', '。']
    """
    units: list[str] = []
    for char in text:
        if char.isascii() and units and units[-1][-1].isascii():
            units[-1] += char
        else:
            units.append(char)
    return units


def ngram_units(text: str, language: str, style: str = "default") -> list[str]:
    """Units the repetition check counts. Default: characters (no whitespace) for Chinese, lower-cased words
    otherwise. Reference: `ascii_runs` for Chinese, words as written otherwise."""
    if style == "reference":
        return ascii_runs(text) if language == "zh" else text.split()
    if language == "zh":
        return [c for c in text if not c.isspace()]
    return text.lower().split()


def repeated_ngram(text: str, language: str, n_words: int = 10, n_chars: int = 13,
                   style: str = "default") -> str | None:
    """The first n-gram that occurs twice, or None (n_chars units for Chinese, n_words words otherwise).

    >>> repeated_ngram("a b c a b c", "en", n_words=3)
    'a b c'
    >>> repeated_ngram("a b c d", "en", n_words=3) is None
    True
    >>> repeated_ngram("A b c a b c", "en", n_words=3, style="reference") is None  # words as written
    True
    """
    n = n_chars if language == "zh" else n_words
    units = ngram_units(text, language, style)
    seen = set()
    for i in range(len(units) - n + 1):
        gram = tuple(units[i:i + n])
        if gram in seen:
            return ("" if language == "zh" else " ").join(gram)
        seen.add(gram)
    return None


def meta_talk(text: str) -> str | None:
    """The first of META_WORDS in the text's first 2 or last 3 lines (as written: "Responses" has no
    "response" in it), else None: an answer that introduces or signs off its own rewrite.

    >>> meta_talk("Here is the revised essay.\\n\\nBees are busy.\\nThey make honey.\\nThe end.")
    'revised'
    >>> meta_talk("Bees are busy.\\nThey make honey.") is None
    True
    """
    lines = text.rstrip().split("\n")
    edges = "\n".join(lines[:2] + lines[-3:])
    return next((word for word in META_WORDS if word in edges), None)


def check_text(text: str, language: str, *, truncated: bool = False,
               rules: GateRules = GateRules()) -> list[GateResult]:
    """Run every text gate: always the same four in the same order, then no_meta_talk for English text when
    that rule is on."""
    stripped = text.strip()
    gram = repeated_ngram(stripped, language, rules.n_words, rules.n_chars, rules.ngram) if stripped else None
    closed = ends_with_punctuation(stripped, language, rules.punctuation)
    results = [
        GateResult("non_empty", bool(stripped), "" if stripped else "empty output"),
        GateResult("not_truncated", not truncated, "hit the token limit" if truncated else ""),
        GateResult("ends_with_punctuation", closed, "" if closed else f"ends with {stripped[-12:]!r}"),
        GateResult("no_repeated_ngram", gram is None, "" if gram is None else f"repeats {gram[:60]!r}"),
    ]
    if rules.meta_talk and language != "zh":
        word = meta_talk(stripped)
        results.append(GateResult("no_meta_talk", word is None,
                                  "" if word is None else f"says {word!r} in its first or last lines"))
    if rules.padding > 0:
        from selflengthen.method.padding import measure_padding, padding_verdict

        ok, reason = padding_verdict(measure_padding(stripped), rules.padding, rules.padding)
        results.append(GateResult("no_padding", ok, reason))
    return results


def passed(results: list[GateResult]) -> bool:
    return all(r.passed for r in results)


def first_failure(results: list[GateResult]) -> GateResult | None:
    return next((r for r in results if not r.passed), None)


_SENTENCE_BREAK = re.compile(r"(?<=[.!?…。！？])[\"'”’」』）)\]]*\s+|(?<=[。！？])[\"'”’」』）)\]]*")


def sentence_breaks(text: str) -> list[int]:
    """Offsets just after each sentence end inside `text` (used by the splitter as a last resort)."""
    return [m.end() for m in _SENTENCE_BREAK.finditer(text) if 0 < m.end() < len(text)]
