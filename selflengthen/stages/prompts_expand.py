"""Prompt wording for the extender. Both stages use the same request: stage 1 on the first half of the
text, stage 2 on the whole text with the stage-1 expansion prefilled as the start of the answer."""

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
