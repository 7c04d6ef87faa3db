"""Prompt wording for instruction augmentation (self-instruct) and the instruction judge."""

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
