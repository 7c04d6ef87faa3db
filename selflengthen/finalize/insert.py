"""Writing a row's length constraint into its query: by template, or by the model rewriting the query.

A template is one of several phrasings per type and language, put at the start, the end or after the first
sentence, so the final model does not learn one fixed place and wording. The model's rewrite reads more
naturally but may drop the number, keep the old limit or change the query; `check_rewrite` catches that and
the row falls back to a template, counted by reason. Either way an existing length phrase ("about 500
words", "字数在500字左右") is removed first, so a query never asks for two lengths.

>>> c = Constraint("about", "around 3000 words", (3000,), (2400.0, 3600.0))
>>> insert_template("Write a poem about tea in about 500 words.", c, "en", random.Random(1))
'Write a poem about tea. The response should be about 3000 words long.'
"""

from __future__ import annotations

import random
import re
import string
from collections import Counter
from typing import TypedDict

from selflengthen.backends.base import Backend, Completion, GenerationParams, Prompt
from selflengthen.errors import BackendError, InputError
from selflengthen.evaluation.longen import constraint_direction, constraint_numbers
from selflengthen.finalize.constraints import LANGUAGES, Constraint, length_phrases, strip_length_constraint
from selflengthen.method.numerals import replace_numerals
from selflengthen.method.words import count_words, split_words

WAYS = ("template", "model")
POSITIONS = ("start", "end", "after_first_sentence")
# Each phrasing names the numbers as the constraint shows them, and each reads back (constraint_interval)
# to the constraint's own interval: a direction word never contradicts the type (tests check both).
PHRASINGS = {
    "en": {
        "about": ("Aim for around {0} words.", "The response should be about {0} words long.",
                  "Please write approximately {0} words.", "Keep the length to roughly {0} words.",
                  "Your answer should run to around {0} words."),
        "range": ("Write between {0} and {1} words.", "The length should fall within {0}-{1} words.",
                  "Aim for a length of {0} to {1} words.", "Your response should be {0}-{1} words long.",
                  "Keep it to somewhere between {0} and {1} words."),
        "above": ("Write more than {0} words.", "The response should be longer than {0} words.",
                  "Use at least {0} words.", "Make sure it runs to more than {0} words.",
                  "Write no fewer than {0} words."),
        "below": ("Keep it under {0} words.", "Write fewer than {0} words.",
                  "The response should be shorter than {0} words.", "Use no more than {0} words.",
                  "Stay below {0} words."),
    },
    "zh": {
        "about": ("字数在{0}字左右。", "请写大约{0}字。", "全文约{0}字。", "篇幅控制在{0}字左右。", "回答长度大约为{0}字。"),
        "range": ("字数在{0}字至{1}字之间。", "请写{0}到{1}字。", "篇幅控制在{0}至{1}字。", "全文{0}字到{1}字。",
                  "回答长度为{0}~{1}字。"),
        "above": ("字数多于{0}字。", "请写超过{0}字。", "全文不少于{0}字。", "篇幅要大于{0}字。", "回答长度在{0}字以上。"),
        "below": ("字数少于{0}字。", "请写不超过{0}字。", "全文不多于{0}字。", "篇幅控制在{0}字以内。", "回答长度小于{0}字。"),
    },
}


def insert_template(query: str, constraint: Constraint, language: str, rng: random.Random) -> str:
    """The query with `constraint` in one of its phrasings at one of the places, both drawn from `rng`;
    an existing length phrase is removed first."""
    if language not in LANGUAGES:
        raise InputError(f"unknown language {language!r} (expected: {', '.join(LANGUAGES)})")
    phrase = rng.choice(PHRASINGS[language][constraint.type]).format(*constraint.shown)
    position = rng.choice(POSITIONS)
    base = strip_length_constraint(query)
    return place(base, phrase, position, language) if base else phrase


def place(query: str, sentence: str, position: str, language: str) -> str:
    """`sentence` put at `position` of `query` (after the first sentence: at the end when there is one only).

    >>> place("Write a poem. Make it rhyme", "Use 50 words.", "after_first_sentence", "en")
    'Write a poem. Use 50 words. Make it rhyme'
    >>> place("写一首诗", "全文约五十字。", "end", "zh")
    '写一首诗。全文约五十字。'
    """
    gap = "" if language == "zh" else " "
    if position == "start":
        return sentence + gap + query
    first = re.search(r"[.!?](?=\s+\S)|[。！？](?=\s*\S)", query)
    if position == "after_first_sentence" and first:
        return query[:first.end()] + gap + sentence + query[first.end():]
    stop = "" if re.search(r"[.!?。！？\"'”’)\]）]$", query) else ("。" if language == "zh" else ".")
    return query + stop + gap + sentence


# The rewrite request. The constraint is quoted in LonGen's short form; the model is free to phrase it.
REWRITE_PROMPTS = {
    "en": ("Here is a request a user wrote:\n\n<query>\n{query}\n</query>\n\n"
           "Rewrite the request so that it asks for a response of \"{constraint}\". Change nothing else: every "
           "other part of the request stays as it is, in the same language. If the request already states a "
           "length or word count, replace it with the new one. Say the length requirement in your own words and "
           "put it wherever it reads naturally: at the start, in the middle or at the end. Reply with the "
           "rewritten request only, without any preface or explanation."),
    "zh": ("下面是一条用户写的请求：\n\n<query>\n{query}\n</query>\n\n"
           "请改写这条请求，让它要求回答的长度为“{constraint}”。其他内容一律不改：请求的其余部分保持原样，语言不变。"
           "如果请求里已有字数或长度要求，用新的要求替换它。长度要求用你自己的话说，放在读起来自然的位置：开头、中间或结尾都可以。"
           "只回复改写后的请求，不要加任何前言或解释。"),
}


def rewrite_prompt(query: str, constraint: Constraint, language: str, template: str | None = None) -> Prompt:
    """The request that asks the model to write `constraint` into `query` (`template`: own text with
    {query} and {constraint}).

    >>> c = Constraint("below", "less than 3000 words", (3000,), (1500.0, 3000.0))
    >>> rewrite_prompt("Write {a} story.", c, "en", "Q: {query} L: {constraint}").messages[0]["content"]
    'Q: Write {a} story. L: less than 3000 words'
    """
    if template is None and language not in REWRITE_PROMPTS:
        raise InputError(f"unknown language {language!r} (expected: {', '.join(LANGUAGES)})")
    text = REWRITE_PROMPTS[language] if template is None else template
    missing = [name for name in ("{query}", "{constraint}") if name not in text]
    if missing:
        raise InputError(f"rewrite template lacks {' and '.join(missing)}")
    # The constraint first: a query that happens to contain "{constraint}" must stay as written.
    return Prompt.user(text.replace("{constraint}", constraint.constraint).replace("{query}", query.strip()))


def clean_reply(text: str) -> str:
    """The rewritten query out of a reply: without code fences, <query> tags, a label or wrapping quotes.

    >>> clean_reply('Rewritten request: "Write a poem of 50 words."')
    'Write a poem of 50 words.'
    """
    text = re.sub(r"^```\w*\s*|\s*```$", "", text.strip())
    text = re.sub(r"</?query>", "", text).strip()
    text = re.sub(r"^(?:rewritten (?:request|query|prompt)|改写后的(?:请求|问题|指令))\s*[:：]\s*", "", text,
                  flags=re.IGNORECASE)
    for left, right in ('""', "“”", "''"):
        if len(text) > 1 and text[0] == left and text[-1] == right:
            text = text[1:-1].strip()
    return text


def check_rewrite(original: str, rewritten: str, constraint: Constraint, floor: float = 0.6,
                  max_extra: int = 60) -> str | None:
    """None when the rewrite is usable, else why not: 'empty', 'too long' (over the original's words +
    max_extra), 'number missing' (no length phrase names the constraint's numbers, in digits or numerals),
    'other length named', 'wrong direction' (a less-than phrase on an above row), 'query changed' (under
    `floor` of the original's words, its old length phrase aside, survive).

    >>> c = Constraint("above", "more than 2000 words", (2000,), (2000.0, 3000.0))
    >>> [check_rewrite("Write a story about the sea.", r, c) for r in
    ...  ("Write a story about the sea in more than 2,000 words.", "Write a story about the sea.",
    ...   "Write a story about the sea in under 2000 words.", "Write a haiku, more than 2000 words.")]
    [None, 'number missing', 'wrong direction', 'query changed']
    """
    if not rewritten.strip():
        return "empty"
    if count_words(rewritten) > count_words(original) + max_extra:
        return "too long"
    wanted = {float(n) for n in constraint.numbers}
    named = [(phrase, set(constraint_numbers(replace_numerals(phrase)))) for phrase in length_phrases(rewritten)]
    if not wanted <= set().union(*(numbers for _, numbers in named)):
        return "number missing"
    if any(not numbers <= wanted for _, numbers in named):
        return "other length named"
    directions = {constraint_direction(replace_numerals(phrase)) for phrase, _ in named} - {None}
    if constraint.type in ("above", "below") and directions - {constraint.type}:
        return "wrong direction"
    if coverage(strip_length_constraint(original), rewritten) < floor:
        return "query changed"
    return None


def coverage(original: str, rewritten: str) -> float:
    """The share of the original's words (Chinese: characters) that the rewrite still has, punctuation aside.

    >>> coverage("Write a story about the sea.", "Please write a short story about the sea.")
    1.0
    """
    want, have = Counter(_tokens(original)), Counter(_tokens(rewritten))
    total = sum(want.values())
    return sum((want & have).values()) / total if total else 1.0


_PUNCT = string.punctuation + "，。！？、；：“”‘’（）《》【】…—～"


def _tokens(text: str) -> list[str]:
    return [t for t in (w.strip(_PUNCT).lower() for w in split_words(text)) if t]


class ConstrainedQuery(TypedDict):
    """What `insert_constraints` needs of a row: its query, its language and the constraint to write in."""

    query: str
    language: str
    constraint: Constraint


def insert_constraints(rows: list[ConstrainedQuery], backend: Backend | None, params: GenerationParams,
                       way: str = "template", rng: random.Random | None = None,
                       floor: float = 0.6) -> tuple[list[str], dict]:
    """Each row's query with its constraint written in, and how: {'rewritten': n, 'template': n,
    'fallback': {reason: n}}. way 'model' asks the backend once for all rows; a rewrite that fails
    `check_rewrite` (or came back cut off or failed) falls back to a template and is counted by reason."""
    if way not in WAYS:
        raise InputError(f"unknown way {way!r} (expected: {', '.join(WAYS)})")
    rng = rng or random.Random(0)
    replies = _rewrites(rows, backend, params) if way == "model" else [None] * len(rows)
    texts, stats = [], {"rewritten": 0, "template": 0, "fallback": {}}
    for row, reply in zip(rows, replies):
        if reply is not None:
            text = clean_reply(reply.text)
            reason = _reply_problem(reply) or check_rewrite(row["query"], text, row["constraint"], floor)
            if reason is None:
                texts.append(text)
                stats["rewritten"] += 1
                continue
            stats["fallback"][reason] = stats["fallback"].get(reason, 0) + 1
        texts.append(insert_template(row["query"], row["constraint"], row["language"], rng))
        stats["template"] += 1
    return texts, stats


def _rewrites(rows: list[ConstrainedQuery], backend: Backend | None, params: GenerationParams) -> list[Completion]:
    """The backend's rewrite of every row, asked in one batch (the backend splits it as it must)."""
    if backend is None:
        raise InputError("way 'model' needs a backend to rewrite the queries")
    if not rows:
        return []
    replies = backend.generate([rewrite_prompt(r["query"], r["constraint"], r["language"]) for r in rows], params)
    if len(replies) != len(rows):
        raise BackendError(f"backend answered {len(replies)} of {len(rows)} rewrite prompts")
    return replies


def _reply_problem(reply: Completion) -> str | None:
    """Why a completion cannot be a rewrite before its text is read: the backend failed, or it was cut off."""
    if reply.error:
        return "backend error"
    return "cut off" if reply.truncated else None
