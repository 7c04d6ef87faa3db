"""Writing a constraint into a query: old length phrases found and removed, template phrasings and places,
the model's rewrite request, the rewrite check, and the batch with its counted fallbacks (scripted backend)."""

from __future__ import annotations

import random

import pytest

from selflengthen.backends.base import Completion, GenerationParams, Prompt
from selflengthen.backends.fake import ScriptedBackend
from selflengthen.errors import InputError
from selflengthen.evaluation.longen import TYPES
from selflengthen.finalize.constraints import (
    Constraint, constraint_interval, length_phrases, make_constraint, strip_length_constraint)
from selflengthen.finalize.insert import (
    PHRASINGS, check_rewrite, clean_reply, insert_constraints, insert_template, place, rewrite_prompt)

EN_QUERY = "Write a short story about a lighthouse keeper. Include a storm and a rescue."
ZH_QUERY = "写一篇关于灯塔看守人的故事。故事里要有一场风暴和一次救援。"


def constraint(type: str = "about", language: str = "en", chinese: bool = False, words: int = 2999) -> Constraint:
    """A real constraint of `type` for a `words`-long response."""
    from selflengthen.finalize.constraints import ConstraintSpec

    spec = ConstraintSpec(mix={type: 1}, coarse_share=0, chinese_numeral_share=1 if chinese else 0)
    return make_constraint(words, language, random.Random(0), spec)


def sentences_of(query: str, language: str) -> list[str]:
    """The query's sentences, each of which an insertion must keep word for word."""
    stop = "。" if language == "zh" else ". "
    return [s.strip(". 。") for s in query.split(stop) if s.strip(". 。")]


@pytest.mark.parametrize("query, stripped", [
    ("Write an essay about spring in about 500 words.", "Write an essay about spring."),
    ("Write an essay about spring, and keep it to 500 words.", "Write an essay about spring."),
    ("The essay should be around 500 words long. Write about cats.", "Write about cats."),
    ("Write a 1,500-word article about an owl.", "Write an article about an owl."),
    ("Write a story (word count: 800) about a dragon.", "Write a story about a dragon."),
    ("Word count: 500. Write a story about a dragon.", "Write a story about a dragon."),
    ("Discuss Rome in no more than 2000 words, with sources.", "Discuss Rome, with sources."),
    ("Write a haiku about 3 frogs.", "Write a haiku about 3 frogs."),
    ("写一篇关于春天的文章，字数在500字左右。", "写一篇关于春天的文章。"),
    ("写一篇关于春天的文章，要求是500字。", "写一篇关于春天的文章。"),
    ("请以“家”为题写一篇三千字左右的作文。", "请以“家”为题写一篇作文。"),
    ("写一篇800字以上的议论文，论述读书的意义。", "写一篇议论文，论述读书的意义。"),
    ("字数：1000字。写一个童话故事。", "写一个童话故事。"),
    ("描写十字路口的故事，不少于两千字。", "描写十字路口的故事。"),
])
def test_an_existing_length_phrase_is_removed_and_the_rest_kept(query, stripped):
    assert strip_length_constraint(query) == stripped


@pytest.mark.parametrize("language, query", [("en", EN_QUERY), ("zh", ZH_QUERY)])
@pytest.mark.parametrize("type", TYPES)
def test_every_phrasing_is_found_names_the_numbers_and_reads_back_to_the_interval(language, query, type):
    phrasings = PHRASINGS[language][type]
    assert len(set(phrasings)) >= 5
    for chinese in ((False, True) if language == "zh" else (False,)):
        c = constraint(type, language, chinese)
        for phrasing in phrasings:
            sentence = phrasing.format(*c.shown)
            assert constraint_interval(type, sentence) == c.interval, sentence
            assert strip_length_constraint(query + " " + sentence) == query, sentence


@pytest.mark.parametrize("language, query", [("en", EN_QUERY), ("zh", ZH_QUERY)])
def test_template_insertion_keeps_the_query_and_contains_the_numbers(language, query):
    rng, places = random.Random(3), set()
    for i in range(200):
        c = constraint(TYPES[i % 4], language, chinese=i % 3 == 0)
        text = insert_template(query, c, language, rng)
        assert all(number in text for number in c.shown)
        assert all(sentence in text for sentence in sentences_of(query, language))
        places.add("start" if not text.startswith(query[:10]) else "end" if text.startswith(query) else "middle")
        assert strip_length_constraint(text) == query  # the inserted phrase is one a later pass finds
    assert places == {"start", "end", "middle"}


def test_template_insertion_replaces_an_existing_constraint():
    c = constraint("range")
    text = insert_template("Write an essay about spring in about 500 words.", c, "en", random.Random(0))
    assert "500 words" not in text and "Write an essay about spring" in text
    assert "2000" in text and "3000" in text
    zh = insert_template("写一篇关于春天的文章，字数在500字左右。", constraint("below", "zh", True), "zh", random.Random(0))
    assert "500" not in zh and "写一篇关于春天的文章" in zh and "三千" in zh


def test_template_insertion_is_deterministic_for_a_seed():
    def run(seed):
        rng = random.Random(seed)
        return [insert_template(EN_QUERY, constraint(t), "en", rng) for t in TYPES * 5]

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_a_query_without_a_stop_gets_one_before_the_constraint():
    assert place("Write a poem", "Use 50 words.", "end", "en") == "Write a poem. Use 50 words."
    assert place("Write a poem", "Use 50 words.", "after_first_sentence", "en") == "Write a poem. Use 50 words."
    assert place("写诗。要押韵", "全文约五十字。", "after_first_sentence", "zh") == "写诗。全文约五十字。要押韵"


def test_the_rewrite_prompt_carries_the_query_and_the_constraint():
    c = constraint("above", "zh", True)
    prompt = rewrite_prompt(ZH_QUERY, c, "zh")
    assert isinstance(prompt, Prompt)
    content = prompt.messages[0]["content"]
    assert ZH_QUERY in content and "大于二千字" in content
    assert "around 3000 words" in rewrite_prompt(EN_QUERY, constraint(), "en").messages[0]["content"]


def test_a_rewrite_template_without_its_placeholders_is_refused():
    with pytest.raises(InputError, match=r"lacks \{constraint\}"):
        rewrite_prompt(EN_QUERY, constraint(), "en", "Rewrite: {query}")


@pytest.mark.parametrize("rewritten, reason", [
    ("Write a short story of around 3,000 words about a lighthouse keeper. Include a storm and a rescue.", None),
    ("Write a short story about a lighthouse keeper (about 3k words). Include a storm and a rescue.", None),
    ("", "empty"),
    ("Write a short story about a lighthouse keeper. Include a storm and a rescue.", "number missing"),
    (EN_QUERY.replace(". ", " in around 3000 words, up from 500 words. "), "other length named"),
    ("Write around 3000 words about a cat.", "query changed"),
    (EN_QUERY + " Around 3000 words." + " More detail please." * 30, "too long"),
])
def test_check_rewrite_known_answers(rewritten, reason):
    assert check_rewrite(EN_QUERY + " Keep it to 500 words.", rewritten, constraint()) == reason


def test_check_rewrite_wants_the_types_direction_and_reads_chinese_numerals():
    above = constraint("above", "zh", True)
    assert check_rewrite(ZH_QUERY, ZH_QUERY + "全文不少于两千字。", above) is None
    assert check_rewrite(ZH_QUERY, ZH_QUERY + "全文不少于2000字。", above) is None
    assert check_rewrite(ZH_QUERY, ZH_QUERY + "全文不超过二千字。", above) == "wrong direction"
    assert check_rewrite(ZH_QUERY, "写一首诗，不少于二千字。", above) == "query changed"


def test_clean_reply_unwraps_what_models_add():
    assert clean_reply("```\nWrite a poem.\n```") == "Write a poem."
    assert clean_reply("<query>\n写一首诗。\n</query>") == "写一首诗。"
    assert clean_reply("改写后的请求：“写一首诗。”") == "写一首诗。"


def rows(n: int = 8) -> list[dict]:
    """n rows alternating English and Chinese, each with a real constraint."""
    return [{"query": EN_QUERY if i % 2 == 0 else ZH_QUERY, "language": "en" if i % 2 == 0 else "zh",
             "constraint": constraint(TYPES[i % 4], "en" if i % 2 == 0 else "zh", chinese=i % 4 == 1)}
            for i in range(n)]


def test_model_rewrites_are_checked_and_failures_fall_back_to_templates_counted_by_reason():
    batch = rows(6)

    def good(row):
        return row["query"] + (" " if row["language"] == "en" else "") + \
            {"en": "Length: " + row["constraint"].constraint + ".", "zh": "要求" + row["constraint"].constraint + "。"}[
                row["language"]]

    backend = ScriptedBackend()
    backend.enqueue(good(batch[0]), batch[1]["query"], good(batch[2]), "Write a limerick about 3000 words.",
                    Completion(text=good(batch[4]), finish_reason="length"), Completion(text="", error="timeout"))
    texts, stats = insert_constraints(batch, backend, GenerationParams(), "model", random.Random(0))
    assert stats == {"rewritten": 2, "template": 4,
                     "fallback": {"number missing": 1, "query changed": 1, "cut off": 1, "backend error": 1}}
    assert texts[0] == good(batch[0]) and texts[2] == good(batch[2])
    assert backend.calls == 1 and len(backend.history) == 6
    for row, text in zip(batch, texts):
        assert all(number in text for number in row["constraint"].shown)
        assert all(sentence in text for sentence in sentences_of(row["query"], row["language"]))


def test_the_template_way_needs_no_backend_and_is_deterministic():
    first = insert_constraints(rows(), None, GenerationParams(), "template", random.Random(5))
    assert first == insert_constraints(rows(), None, GenerationParams(), "template", random.Random(5))
    assert first[1] == {"rewritten": 0, "template": 8, "fallback": {}}


def test_a_bad_way_or_a_missing_backend_is_refused():
    with pytest.raises(InputError, match="unknown way 'magic'"):
        insert_constraints(rows(), None, GenerationParams(), "magic")
    with pytest.raises(InputError, match="needs a backend"):
        insert_constraints(rows(), None, GenerationParams(), "model")


def test_length_phrases_in_both_languages():
    assert length_phrases("Write 3 poems in about 500 words; 2,000-3,000 words in all.") == [
        "in about 500 words", "2,000-3,000 words"]
    assert length_phrases("写一篇三千字左右的文章，不少于二千字") == ["三千字左右的", "不少于二千字"]
