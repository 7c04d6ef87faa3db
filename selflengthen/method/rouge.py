"""ROUGE-L near-duplicate checks of new instructions against the pool.

ROUGE-L uses the `rouge-score` package with a tokenizer that keeps Chinese: each CJK character is a
token, other text is split into lower-cased alphanumeric words.
"""

from __future__ import annotations

import re
from collections import Counter

from selflengthen.method.words import CJK_CHAR


_WORD = re.compile(r"[a-z0-9]+")


class RougeTokenizer:
    """Tokenizer for rouge-score: CJK characters one by one, other text as lower-cased words."""

    def tokenize(self, text: str) -> list[str]:
        tokens = []
        for piece in re.split(f"({CJK_CHAR.pattern})", text.lower()):
            if piece and CJK_CHAR.fullmatch(piece):
                tokens.append(piece)
            else:
                tokens.extend(_WORD.findall(piece))
        return tokens


class NearDuplicateIndex:
    """The instruction pool, for ROUGE-L near-duplicate checks.

    A bag-of-tokens bound (LCS <= multiset overlap) skips most pairs before the exact LCS is computed,
    so checking one candidate against thousands of instructions stays fast.
    """

    def __init__(self, texts: list[str] = ()):
        from rouge_score import rouge_scorer  # a light import (no torch)

        self._tokenizer = RougeTokenizer()
        self._scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=self._tokenizer)
        self._entries: list[tuple[str, Counter, int]] = []
        for text in texts:
            self.add(text)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, text: str) -> None:
        tokens = self._tokenizer.tokenize(text)
        self._entries.append((text, Counter(tokens), len(tokens)))

    def most_similar(self, text: str, threshold: float = 0.0) -> tuple[float, str | None]:
        """(best ROUGE-L F1, that pool text) over pool entries whose bound reaches `threshold`."""
        tokens = self._tokenizer.tokenize(text)
        bag, n = Counter(tokens), len(tokens)
        best, best_text = 0.0, None
        for other, other_bag, m in self._entries:
            if n + m == 0:
                continue
            bound = 2 * sum((bag & other_bag).values()) / (n + m)
            if bound < threshold or (best_text is not None and bound <= best):
                continue
            score = self._scorer.score(other, text)["rougeL"].fmeasure
            if score > best or best_text is None:
                best, best_text = score, other
        return best, best_text

    def is_near_duplicate(self, text: str, threshold: float) -> bool:
        score, match = self.most_similar(text, threshold)
        return match is not None and score > threshold
