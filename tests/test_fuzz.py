"""Fuzz the functions that read untrusted text (seed files, model output, benchmark items, score files):
for any input each returns a well-formed value or raises the project's own one-line error, never another
exception. Inputs mix arbitrary unicode (control characters, CJK, no lone surrogates: text read as UTF-8
cannot hold them) with the pieces each parser looks for, so the interesting branches are reached."""

from __future__ import annotations

import json
import math

from hypothesis import example, given, settings
from hypothesis import strategies as st

from selflengthen.errors import SelfLengthenError
from selflengthen.evaluation.benchmark import check_item
from selflengthen.evaluation.judge import DIMENSIONS, JudgeParseError, parse_judge_output
from selflengthen.evaluation.longen import TYPES, constraint_numbers, length_score, parse_constraint, score_items
from selflengthen.method.augment import parse_judgement, parse_new_instruction
from selflengthen.method.gates import GateRules, check_text, ends_with_punctuation, repeated_ngram, sentence_breaks
from selflengthen.method.split import split_halves
from selflengthen.method.words import count_words, detect_language, split_words
from selflengthen.runs.seeds import LANGUAGES, Seed, parse_json_seed, parse_seed_text

settings.register_profile("fuzz", max_examples=200, deadline=None, database=None)  # no .hypothesis folder
settings.load_profile("fuzz")

HUGE = "9" * 400  # past float's range: 1e400 words
HUGER = "9" * 5000  # past Python's 4300-digit limit on int(str)
CHARS = st.characters(blacklist_categories=("Cs",))  # every code point but lone surrogates
PIECES = st.sampled_from([
    "{", "}", "[", "]", '"', "'", ":", ",", "\\", "\n", "\n\n", "\r\n", " ", "\t", "\x00", "\x1b", "\u3000",
    "。", "！", "？", ".", "!", "?", "…", "”", "」", "-", "至", "到", "~", "k", "K", "千", "万", "字", " words",
    "2,000", "2.5", "0", "-3", "１０", "٣", HUGE, HUGER, "1e999", "NaN", "Infinity", "about", "around", "大约",
    "more than", "less than", "at least", "不超过", "以上", "between", "and", "yes", "No", "是", "不是", "是否",
    "yes or no", "Instruction 3:", '"Relevance"', "'Coherence'", '"Accuracy"', '"Consistency"', '"Clarity"',
    '"Creativity"', '"Engagement"', '"score"', "8", "7.5", '"8/10"', "11", "true", "null", "```json", "写", "春天",
])
TEXT = st.one_of(st.text(CHARS, max_size=300), st.lists(st.one_of(PIECES, st.text(CHARS, max_size=8)),
                                                         max_size=40).map("".join))
LANGUAGE = st.sampled_from(["en", "zh", "fr", ""])
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**500, 10**500),
                         st.floats(allow_nan=True, allow_infinity=True), TEXT)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.sampled_from(["type", "constraint", "query",
                                                                            "response", "language", "range",
                                                                            "instruction"]), TEXT),
                                                 inner, max_size=6)), max_leaves=12)
ITEM_FIELDS = {"type": st.one_of(st.sampled_from(TYPES), JSON_SCALARS), "constraint": st.one_of(TEXT, JSON_SCALARS),
               "query": st.one_of(TEXT, JSON_SCALARS), "response": st.one_of(TEXT, JSON_SCALARS),
               "language": st.one_of(st.sampled_from(["en", "zh"]), JSON_SCALARS),
               "range": st.one_of(st.just("2-4k"), JSON_SCALARS)}
ITEMS = st.one_of(JSON_VALUES, st.fixed_dictionaries({}, optional=ITEM_FIELDS))
JUDGE_SCORES = st.one_of(st.integers(-10**500, 10**500), st.floats(), TEXT, st.just({"score": 8}),
                         st.sampled_from([8, 7.5, "9 / 10", "8 out of 10", 1e400]))


def outcome(function, *args):
    """function(*args), or None when it refused the input with the project's own error; anything else raises."""
    try:
        return function(*args)
    except SelfLengthenError:
        return None


@given(TEXT)
@example("字" * 3 + " a\x00b\u3000c")
def test_word_counting_and_language_detection(text):
    words = split_words(text)
    assert count_words(text) == len(words) and all(w and not w.isspace() for w in words)
    assert detect_language(text) in LANGUAGES


@given(TEXT)
@example("One.\n\nTwo.")
@example("\r\n \r\n")
def test_the_splitter_always_rejoins_exactly(text):
    first, separator, second = split_halves(text)
    assert first + separator + second == text.strip()
    assert separator.strip() == "" and (first or not second)


@given(TEXT, LANGUAGE, st.booleans(), st.integers(2, 12), st.integers(2, 14))
def test_gates_judge_any_text(text, language, truncated, n_words, n_chars):
    results = check_text(text, language, truncated=truncated, rules=GateRules(n_words=n_words, n_chars=n_chars))
    assert [r.gate for r in results] == ["non_empty", "not_truncated", "ends_with_punctuation", "no_repeated_ngram"]
    assert all(isinstance(r.passed, bool) and isinstance(r.reason, str) for r in results)
    assert isinstance(ends_with_punctuation(text, language), bool)
    gram = repeated_ngram(text, language, n_words, n_chars)
    assert gram is None or (isinstance(gram, str) and gram)
    assert all(0 < i < len(text) for i in sentence_breaks(text))


@given(TEXT)
@example('{"instruction": "\\ud800"}')
@example('{"instruction": "Write.", "language": null}\n[1]')
@example("\ufeff\r\n" + HUGER)
def test_seed_parser_returns_seeds_or_an_input_error(text):
    seeds = outcome(parse_seed_text, text)
    if seeds is not None:
        assert seeds and all(isinstance(s, Seed) and s.text == s.text.strip() and s.text for s in seeds)
        assert all(s.language in LANGUAGES for s in seeds) and len({s.text for s in seeds}) == len(seeds)


@given(JSON_VALUES, st.one_of(st.none(), JSON_SCALARS))
def test_a_jsonl_seed_line_is_a_seed_or_an_input_error(value, language):
    record = {"instruction": value} if language is None else {"instruction": value, "language": language}
    for line in (json.dumps(value), json.dumps(record)):
        seed = outcome(parse_json_seed, line, "seeds.jsonl:1")
        assert seed is None or (seed.text and seed.language in LANGUAGES)


@given(st.one_of(st.sampled_from(TYPES), TEXT), TEXT, st.integers(0, 10**7))
@example("about", HUGE + " words", 5)
@example("range", "1-" + HUGE + " words", 5)
@example("below", HUGER + "字", 5)
@example("range", "３０００字至２０００字", 5)
def test_constraints_give_a_finite_interval_or_an_input_error(type, constraint, words):
    assert all(isinstance(n, float) and n >= 0 for n in constraint_numbers(constraint))
    interval = outcome(parse_constraint, type, constraint)
    if interval is not None:
        a, b = interval
        assert math.isfinite(a) and math.isfinite(b) and 0 < a <= b
        assert 0.0 <= length_score(words, a, b) <= 1.0


@given(st.lists(ITEMS, max_size=4))
@example([{"type": "about", "constraint": HUGE + " words", "response": "word"}])
def test_score_items_scores_or_refuses(items):
    result = outcome(score_items, items)
    if result is not None:
        assert result["counts"]["overall"] == len(items)
        assert all(v is None or 0.0 <= v <= 1.0 for k, v in result.items() if k != "counts")


@given(ITEMS)
@example({"type": "range", "constraint": "2000-" + HUGE, "query": "Write."})
def test_benchmark_items_are_checked_or_refused(record):
    item = outcome(check_item, record)
    if item is not None:
        assert all(isinstance(item[k], str) for k in ("type", "constraint", "query", "language", "range"))
        assert item["query"].strip()
        a, b = parse_constraint(item["type"], item["constraint"])
        assert math.isfinite(b)


def _judge_reply(scores: list) -> str:
    return "Scores:\n```json\n" + json.dumps(dict(zip(DIMENSIONS, scores))) + "\n```"


@given(TEXT)
@example('{"Relevance": ' + HUGER + "}")
@example("[" * 100_000)
@example('{"a": ' * 5_000 + "1" + "}" * 5_000)
@example("{'Relevance': " + HUGER + "}")
@example("{" * 100_000)
def test_judge_output_is_seven_scores_or_a_parse_error(text):
    try:
        scores = parse_judge_output(text)
    except JudgeParseError:
        return
    assert list(scores) == list(DIMENSIONS) and all(isinstance(s, int) and 1 <= s <= 10 for s in scores.values())


@given(st.lists(JUDGE_SCORES, min_size=7, max_size=7))
@example([int(HUGE)] * 7)
@example([1e400] * 7)
def test_judge_scores_of_any_type_are_read_or_refused(values):
    try:
        scores = parse_judge_output(_judge_reply(values))
    except JudgeParseError:
        return
    assert all(isinstance(s, int) and 1 <= s <= 10 for s in scores.values())


@given(TEXT)
def test_augment_parsers_read_any_reply(text):
    assert parse_judgement(text) in (True, False, None)
    assert isinstance(parse_new_instruction(text), str)

