"""Pure pieces of two-stage expansion: the extender's prompts and the joining of stage outputs.

Stage 1: the extender expands the first half of the current text.
Stage 2: the extender sees the whole text; its answer is prefilled with the stage-1 expansion plus the
separator that followed the first half, and it continues, expanding the rest. The round's result is
the prefill followed by the continuation.
"""

from __future__ import annotations

from selflengthen.backends.base import Prompt
from selflengthen.stages.prompts_expand import EXPAND


def build_expand_prompt(instruction: str, text: str, language: str, prefill: str = "",
                        seed: int | None = None) -> Prompt:
    return Prompt.user(EXPAND[language].format(instruction=instruction.strip(), text=text.strip()),
                       prefill=prefill, seed=seed)


def stage2_prefill(stage1_text: str, separator: str) -> str:
    """The start of the stage-2 answer: the stage-1 expansion and the separator that followed the first half.

    >>> stage2_prefill("Long first half.", "\\n")
    'Long first half.\\n'
    """
    return stage1_text.strip() + separator


def join_stage2(prefill: str, continuation: str) -> str:
    """The round's result: the prefilled text followed by what the model wrote after it."""
    return (prefill + continuation).strip()
