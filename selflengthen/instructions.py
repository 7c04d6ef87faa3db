"""Pure pieces of instruction augmentation: prompts, output parsing, the judge's verdict, ROUGE-L.

ROUGE-L uses the `rouge-score` package with a tokenizer that keeps Chinese: each CJK character is a
token, other text is split into lower-cased alphanumeric words.
"""

from __future__ import annotations

import re
from collections import Counter

from selflengthen.backends.base import Prompt
from selflengthen.stages.prompts_augment import EXAMPLE, JUDGE, NEW_INSTRUCTION
from selflengthen.words import CJK_CHAR

# A leading label, possibly in markdown: "Instruction 3:", "**New instruction:**", "### 新的指令：".
_LABEL = re.compile(r"^\s*(?:[*#_>]+\s*)?(?:new\s+)?(?:instruction|指令|新指令|新的指令)\s*#?\d*\s*(?:[*_]+\s*)?[:：]"
                    r"\s*(?:[*_]+\s*)?", re.IGNORECASE)
_QUOTES = "\"'“”‘’「」"


def build_new_instruction_prompt(examples: list[str], language: str, seed: int | None = None) -> Prompt:
    """Self-instruct prompt: the examples, numbered, then a request for one new instruction."""
    shown = "\n\n".join(EXAMPLE[language].format(i=i + 1, text=text.strip()) for i, text in enumerate(examples))
    return Prompt.user(NEW_INSTRUCTION[language].format(k=len(examples), examples=shown), seed=seed)


def parse_new_instruction(text: str) -> str:
    """The instruction inside a model reply: a leading 'Instruction 3:' label and wrapping quotes removed.

    >>> parse_new_instruction('Instruction 3: "Write a poem about rain."')
    'Write a poem about rain.'
    """
    text = _LABEL.sub("", text.strip(), count=1).strip()
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return text


def build_judge_prompt(instruction: str, language: str, seed: int | None = None) -> Prompt:
    return Prompt.user(JUDGE[language].format(instruction=instruction.strip()), seed=seed)


_VERDICT = re.compile(r"\b(yes|no)\b|(不是|不可以|不能|否|是|可以|能)", re.IGNORECASE)
# Words that contain a verdict but are not one ("whether", the prompt's own "yes or no"), removed first.
_NOT_A_VERDICT = re.compile(r"是否|能否|可否|是不是|能不能|可不可以|“?是”?\s*或\s*“?否”?|\byes\s*(?:or|/)\s*no\b",
                            re.IGNORECASE)


def parse_judgement(text: str) -> bool | None:
    """The judge's yes/no: the first verdict word in the reply; None when there is none.

    >>> parse_judgement("**Yes**, it is clear.")
    True
    >>> parse_judgement("No.")
    False
    >>> parse_judgement("不是。")
    False
    >>> parse_judgement("maybe") is None
    True
    """
    match = _VERDICT.search(_NOT_A_VERDICT.sub(" ", text))
    if match is None:
        return None
    word = (match.group(1) or match.group(2)).lower()
    return word in ("yes", "是", "可以", "能")


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


def build_response_prompt(instruction: str, seed: int | None = None) -> Prompt:
    """The generator's prompt: the instruction itself as the user turn."""
    return Prompt.user(instruction.strip(), seed=seed)
