"""The expand stage's pure pieces: the extender's prompt (its text in English and Chinese), the stage-2 prefill,
and the joining of stage outputs.

Stage 1: the extender expands the first half of the current text.
Stage 2: the extender sees the whole text; its answer is prefilled with the stage-1 expansion plus the
separator that followed the first half, and it continues, expanding the rest. The round's result is
the prefill followed by the continuation.
"""

from __future__ import annotations

from selflengthen.backends.base import Prompt
from selflengthen.method.templates import as_prompt, bundled, fill


def build_expand_prompt(instruction: str, text: str, language: str, prefill: str = "",
                        seed: int | None = None, template: str | None = None) -> Prompt:
    """The extender's request: the instruction and the text to expand (`template`: the run's expand template for
    the language; by default the bundled default one); stage 2 adds the prefill.

    >>> build_expand_prompt("Write.", "Short.", "en", prefill="Longer").prefill
    'Longer'
    """
    template = template or bundled("default")[f"expand_{language}"]
    prompt = as_prompt(fill(template, prompt=instruction.strip(), response=text.strip()), seed=seed)
    return Prompt(prompt.messages, prompt.prefill + prefill, prompt.seed)


def trim_stage1(text: str) -> str:
    """The reference's cut of a stage-1 expansion: its first ⌊2n/3⌋ paragraphs (split on blank lines). A model
    given half a text writes it as a whole one, conclusion included; stage 2 should not continue after that.

    >>> trim_stage1("Intro.\\n\\nMiddle.\\n\\nIn conclusion, done.")
    'Intro.\\n\\nMiddle.'
    >>> trim_stage1("Just one paragraph.")
    ''
    """
    pieces = text.split("\n\n")
    return "\n\n".join(pieces[:len(pieces) * 2 // 3])


def stage2_prefill(stage1_text: str, separator: str, trim: bool = False) -> str:
    """The start of the stage-2 answer. By default the stage-1 expansion and the separator that followed the
    first half; with `trim` (the reference), exactly the trimmed stage-1 text, which the model continues.

    >>> stage2_prefill("Long first half.", "\\n")
    'Long first half.\\n'
    >>> stage2_prefill("A.\\n\\nB.\\n\\nC.", "\\n\\n", trim=True)
    'A.\\n\\nB.'
    """
    return trim_stage1(stage1_text) if trim else stage1_text.strip() + separator


def join_stage2(prefill: str, continuation: str) -> str:
    """The round's result: the prefilled text followed by what the model wrote after it."""
    return (prefill + continuation).strip()
