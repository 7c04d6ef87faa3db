"""The augment stage's pure pieces: the self-instruct and judge prompts (their text in English and Chinese),
the parser that takes the new instruction out of a reply, and the parser of the judge's yes/no.
Near-duplicates of the pool are `rouge`'s to find.
"""

from __future__ import annotations

import re

from selflengthen.backends.base import Prompt


# -- prompt text: self-instruct and the instruction judge (en, zh) ---------------------------------------
NEW_INSTRUCTION = {
    "en": (
        "Here are {k} instructions. Each one asks a writer for a long, detailed piece of text.\n\n"
        "{examples}\n\n"
        "Write one new instruction of the same kind about a different subject. "
        "Reply with the new instruction only."
    ),
    "zh": (
        "下面有{k}条指令，每一条都要求作者写一篇长而详细的文章。\n\n"
        "{examples}\n\n"
        "请仿照它们，就一个不同的主题写一条新的指令。只回复新的指令本身。"
    ),
}

EXAMPLE = {"en": "Instruction {i}:\n{text}", "zh": "指令{i}：\n{text}"}

JUDGE = {
    "en": (
        "Here is an instruction:\n\n{instruction}\n\n"
        "Is it a clear, self-contained request that a writer could answer with a long, detailed text? "
        "Answer yes or no."
    ),
    "zh": (
        "下面是一条指令：\n\n{instruction}\n\n"
        "这条指令是否清楚、完整，能让作者据此写出一篇长而详细的文章？请回答“是”或“否”。"
    ),
}

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


