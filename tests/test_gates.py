"""Quality gates: closed last sentence, repeated n-grams, and the fixed list check_text returns."""

import pytest

from selflengthen.method.gates import (
    check_text, ends_with_punctuation, first_failure, passed, repeated_ngram, sentence_breaks)

GATES = ["non_empty", "not_truncated", "ends_with_punctuation", "no_repeated_ngram"]


@pytest.mark.parametrize("text, language, expected", [
    ("It ends.", "en", True),
    ("Is it over?", "en", True),
    ("Stop!", "en", True),
    ("And then…", "en", True),
    ('He said "stop."', "en", True),
    ("(A closed aside.)", "en", True),
    ("**Bold ending.**", "en", True),
    ("It ends.  \n\n", "en", True),
    ("It does not end", "en", False),
    ("It ends with a comma,", "en", False),
    ("A list:", "en", False),
    ("", "en", False),
    ('"."', "en", True),
    ("我们走吧。", "zh", True),
    ("真的吗？", "zh", True),
    ("太好了！", "zh", True),
    ("他说：“走吧。”", "zh", True),
    ("《书名》", "zh", False),
    ("我们走吧", "zh", False),
    ("我们走吧，", "zh", False),
    ("Mixed ending.", "zh", True),             # ASCII period closes a Chinese text too
    ("Unknown language.", "fr", True),        # other languages use the English set
])
def test_ends_with_punctuation(text, language, expected):
    assert ends_with_punctuation(text, language) is expected


@pytest.mark.parametrize("text, language, kwargs, expected", [
    ("a b c a b c", "en", {"n_words": 3}, "a b c"),
    ("a b c d", "en", {"n_words": 3}, None),
    ("A b C x a B c", "en", {"n_words": 3}, "a b c"),           # case-insensitive for words
    ("a b c a b", "en", {"n_words": 3}, None),
    ("x " * 10, "en", {}, None),                              # 10 words hold one 10-gram only
    ("x " * 11, "en", {}, "x x x x x x x x x x"),
    ("", "en", {}, None),
    ("春天来了春天来了", "zh", {"n_chars": 4}, "春天来了"),
    ("春天 来了春天来 了", "zh", {"n_chars": 4}, "春天来了"),    # whitespace ignored for characters
    ("春天来了秋天来了", "zh", {"n_chars": 4}, None),
    ("一二三四五六七八九十甲乙丙" * 2, "zh", {}, "一二三四五六七八九十甲乙丙"),  # 13 characters by default
    ("一二三四五六七八九十甲乙" * 2, "zh", {}, None),
])
def test_repeated_ngram(text, language, kwargs, expected):
    assert repeated_ngram(text, language, **kwargs) == expected


@pytest.mark.parametrize("text, language, truncated, failing", [
    ("A fine text.", "en", False, []),
    ("", "en", False, ["non_empty", "ends_with_punctuation"]),
    ("   ", "en", False, ["non_empty", "ends_with_punctuation"]),
    ("A fine text.", "en", True, ["not_truncated"]),
    ("Cut off in the mid", "en", True, ["not_truncated", "ends_with_punctuation"]),
    ("a b c a b c.", "en", False, []),
    (("one two three four five six seven eight nine ten " * 3).strip() + ".", "en", False, ["no_repeated_ngram"]),
    (("one two three four five six seven eight nine ten " * 2).strip() + ".", "en", False, []),  # "ten." differs
    ("这是一个完整的句子。", "zh", False, []),
    ("这是一个没有结束的句子", "zh", False, ["ends_with_punctuation"]),
])
def test_check_text(text, language, truncated, failing):
    results = check_text(text, language, truncated=truncated)
    assert [r.gate for r in results] == GATES
    assert [r.gate for r in results if not r.passed] == failing
    assert all(bool(r.reason) != r.passed for r in results)   # a reason exactly when it failed
    assert passed(results) is (not failing)
    first = first_failure(results)
    assert (first.gate if first else None) == (failing[0] if failing else None)


def test_check_text_reasons_are_short_and_one_line():
    results = check_text("word " * 50 + "word " * 50, "en")
    failure = first_failure(results)
    assert failure.gate == "ends_with_punctuation"
    assert "\n" not in failure.reason and len(failure.reason) < 80
    assert results[3].reason.startswith("repeats ")


def test_gate_result_to_dict():
    assert check_text("Done.", "en")[0].to_dict() == {"gate": "non_empty", "passed": True, "reason": ""}


@pytest.mark.parametrize("text, pieces", [
    ("One. Two. Three.", ["One.", "Two.", "Three."]),
    ('He said "go." Then left.', ['He said "go."', "Then left."]),
    ("Wait... what? Yes!", ["Wait...", "what?", "Yes!"]),
    ("Pi is 3.14 today.", ["Pi is 3.14 today."]),             # no break without following whitespace
    ("你好。世界！再见？", ["你好。", "世界！", "再见？"]),
    ("他说：“走吧。”然后离开了。", ["他说：“走吧。”", "然后离开了。"]),  # the closing quote stays with its sentence
    ("「好。」他说。", ["「好。」", "他说。"]),
    ("No sentence end", ["No sentence end"]),
])
def test_sentence_breaks(text, pieces):
    cuts = [0, *sentence_breaks(text), len(text)]
    assert [text[a:b].strip() for a, b in zip(cuts, cuts[1:])] == pieces
