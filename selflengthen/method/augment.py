"""The augment stage's pure pieces: the self-instruct and judge prompts (their text in English and Chinese),
the parser that takes the new instruction out of a reply, and the parser of the judge's yes/no.
Near-duplicates of the pool are `rouge`'s to find.
"""

from __future__ import annotations

import re

from selflengthen.backends.base import Prompt
from selflengthen.method.templates import as_prompt, bundled, fill


# How {examples} shows each example in a template that lists them all (templates with {prompt1}... number their own).
EXAMPLE = {"en": "Instruction {i}:\n{text}", "zh": "指令{i}：\n{text}"}

# A leading label, possibly in markdown: "Instruction 3:", "**New instruction:**", "### 新的指令：".
_LABEL = re.compile(r"^\s*(?:[*#_>]+\s*)?(?:new\s+)?(?:instruction|指令|新指令|新的指令)\s*#?\d*\s*(?:[*_]+\s*)?[:：]"
                    r"\s*(?:[*_]+\s*)?", re.IGNORECASE)
_QUOTES = "\"'“”‘’「」"


def build_new_instruction_prompt(examples: list[str], language: str, seed: int | None = None,
                                 template: str | None = None) -> Prompt:
    """Self-instruct prompt: the examples, then a request for one new instruction (`template`: the run's
    self_instruct template for the language; by default the bundled default one).

    >>> p = build_new_instruction_prompt(["Write A.", "Write B."], "en")
    >>> p.messages[0]["content"].splitlines()[2:6]
    ['Instruction 1:', 'Write A.', '', 'Instruction 2:']
    """
    template = template or bundled("default")[f"self_instruct_{language}"]
    shown = "\n\n".join(EXAMPLE[language].format(i=i + 1, text=text.strip()) for i, text in enumerate(examples))
    numbered = {f"prompt{i + 1}": text.strip() for i, text in enumerate(examples)}
    return as_prompt(fill(template, k=len(examples), examples=shown, **numbered), seed=seed)


_NUMBERED = re.compile(r"(?:^|\n)([^\n\d]*?)\s?(\d+)\s*([:：])\s*$")


def next_number_stop(prompt: Prompt) -> tuple[str, ...]:
    """For a completion-style prompt whose prefill ends on a numbered label ("Instruction 3: ", "指令3："), the
    label of the number after it: the model writes one instruction and stops there. Otherwise nothing.

    >>> next_number_stop(Prompt.user("x", prefill="Instruction 1: A\\nInstruction 2: B\\nInstruction 3: "))
    ('\\nInstruction 4',)
    >>> next_number_stop(Prompt.user("x", prefill="指令1：甲\\n指令2：乙\\n指令3："))
    ('\\n指令4',)
    >>> next_number_stop(Prompt.user("List them."))
    ()
    """
    match = _NUMBERED.search(prompt.prefill)
    if not match:
        return ()
    label, number = match.group(1), int(match.group(2))
    return (f"\n{label}{' ' if label.endswith(tuple('abcdefghijklmnopqrstuvwxyz')) else ''}{number + 1}",)


def parse_new_instruction(text: str) -> str:
    """The instruction inside a model reply: a leading 'Instruction 3:' label and wrapping quotes removed.

    >>> parse_new_instruction('Instruction 3: "Write a poem about rain."')
    'Write a poem about rain.'
    """
    text = _LABEL.sub("", text.strip(), count=1).strip()
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return text


def build_judge_prompt(instruction: str, language: str, seed: int | None = None,
                       template: str | None = None) -> Prompt:
    """The judge's question about one new instruction (`template`: the run's judge template for the language)."""
    template = template or bundled("default")[f"judge_{language}"]
    return as_prompt(fill(template, prompt=instruction.strip()), seed=seed)


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


def parse_judgement_strictly(text: str) -> bool | None:
    """The reference's verdict: the whole reply, stripped, is "yes" (any case) or "是"; anything else is no.

    >>> [parse_judgement_strictly(t) for t in (" Yes\\n", "是", "Yes, clearly.", "是的")]
    [True, True, False, False]
    """
    reply = text.strip()
    return reply.lower() == "yes" or reply == "是"


