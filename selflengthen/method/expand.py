"""The expand stage's pure pieces: the extender's prompt (its text in English and Chinese), the stage-2 prefill,
and the joining of stage outputs.

Stage 1: the extender expands the first half of the current text.
Stage 2: the extender sees the whole text; its answer is prefilled with the stage-1 expansion plus the
separator that followed the first half, and it continues, expanding the rest. The round's result is
the prefill followed by the continuation.
"""

from __future__ import annotations

from selflengthen.backends.base import Prompt


# -- prompt text: both stages send the same request; stage 2 prefills the answer -----------------------
EXPAND = {
    "en": (
        "A writer answered the request below. Rewrite the answer so that it becomes much longer and richer.\n\n"
        "Request:\n{instruction}\n\n"
        "Answer:\n{text}\n\n"
        "Expand every part of the answer with more details, examples and explanations. Keep its order and its "
        "structure (paragraphs, headings, lists), do not repeat yourself, and do not continue past the end of the "
        "answer or add new sections. Reply with the expanded answer only."
    ),
    "zh": (
        "一位作者回答了下面的要求。请改写这个回答，使它更长、更丰富。\n\n"
        "要求：\n{instruction}\n\n"
        "回答：\n{text}\n\n"
        "请为回答的每一部分补充更多细节、例子和解释。保持原有的顺序和结构（段落、标题、列表），不要重复，"
        "也不要在回答的结尾之后续写或增加新的部分。只回复扩写后的回答。"
    ),
}


def build_expand_prompt(instruction: str, text: str, language: str, prefill: str = "",
                        seed: int | None = None) -> Prompt:
    return Prompt.user(EXPAND[language].format(instruction=instruction.strip(), text=text.strip()),
                       prefill=prefill, seed=seed)


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
