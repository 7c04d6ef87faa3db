"""Quality gates: closed last sentence, repeated n-grams, and the fixed list check_text returns."""

import pytest

from selflengthen.method.gates import (
    GateRules, check_text, ends_with_punctuation, first_failure, passed, repeated_ngram, sentence_breaks)

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


# -- the reference implementation's rules (the paper preset) -------------------------------------------------

REFERENCE = GateRules(punctuation="reference", ngram="reference", meta_talk=True)
ZH_13 = "一二三四五六七八九十甲乙丙"  # 13 non-ASCII characters: one 13-unit n-gram


@pytest.mark.parametrize("text, language, failing", [
    # endings, on the text with trailing whitespace stripped
    ("我们走吧。 \n", "zh", []),
    ("他说：“走吧。”", "zh", []),
    ("（完）", "zh", []),
    ("见上文】", "zh", []),
    ("代码如下`", "zh", []),
    ("我们走吧.", "zh", ["ends_with_punctuation"]),         # an ASCII stop does not close Chinese text
    ("我们走吧...", "zh", ["ends_with_punctuation"]),       # nor do three of them
    ("我们走吧!", "zh", ["ends_with_punctuation"]),
    ("《书名》", "zh", ["ends_with_punctuation"]),
    ("A list ends with a comma,", "en", []),                # the reference's English set is wide
    ("Step one -", "en", []),
    ("Note: see (below)", "en", []),
    ("It does not end", "en", ["ends_with_punctuation"]),
    ("It ends in a star*", "en", ["ends_with_punctuation"]),
    # n-grams: Chinese units are non-ASCII characters and runs of ASCII; English words as written
    (ZH_13 + "，" + ZH_13 + "。", "zh", ["no_repeated_ngram"]),
    (ZH_13[:12] + " A " + ZH_13[:12] + " B。", "zh", []),     # ' A ' and ' B' are units of their own
    (ZH_13[:6] + " x y " + ZH_13[:6] + "，" + ZH_13[:6] + " x y " + ZH_13[:6] + "。", "zh", ["no_repeated_ngram"]),
    (("one two three four five six seven eight nine ten " * 2) + "end.", "en", ["no_repeated_ngram"]),
    ("One two three four five six seven eight nine ten one two three four five six seven eight nine ten end.",
     "en", []),                                             # "One" != "one": no lower-casing
    # meta talk: in the first 2 or the last 3 lines, English only
    ("Here is the revised version.\n\nBees.\n\nHoney.\n\nWax.\n\nEnd.", "en", ["no_meta_talk"]),
    ("Bees.\n\nHoney.\n\nWax.\n\nSee the paragraph above.", "en", ["no_meta_talk"]),
    ("Bees.\nHoney.\nA response to the critics.\nWax.\nHives.\nSwarms.\nEnd.", "en", []),  # a middle line
    ("Responses vary.\n\nEnd.", "en", []),                  # as written: "Responses" is not "response"
    ("这是修改后的版本 revised。", "zh", []),               # the filter is the English model's
])
def test_the_reference_rules(text, language, failing):
    results = check_text(text, language, rules=REFERENCE)
    assert [r.gate for r in results] == GATES + (["no_meta_talk"] if language == "en" else [])
    assert [r.gate for r in results if not r.passed] == failing


def test_the_default_rules_differ_from_the_reference_where_the_preset_says():
    assert [r.gate for r in check_text("A list ends with a comma,", "en") if not r.passed] == ["ends_with_punctuation"]
    assert [r.gate for r in check_text("我们走吧!", "zh") if not r.passed] == []
    upper = "One two three four five six seven eight nine ten one two three four five six seven eight nine ten end."
    assert [r.gate for r in check_text(upper, "en") if not r.passed] == ["no_repeated_ngram"]  # lower-cased


def test_the_padding_guard_is_a_gate_when_its_limit_is_set():
    padded = "The sea is calm today. Boats rest in the harbour. " * 3 + "The end."
    assert [r.gate for r in check_text(padded, "en")][-1] == "no_repeated_ngram"  # off by default
    [guard] = [r for r in check_text(padded, "en", rules=GateRules(padding=0.25)) if r.gate == "no_padding"]
    # 32 words, 29 four-word runs: the 2nd and 3rd copies' 18 repeat; 7 sentences, 4 repeats
    assert not guard.passed and guard.reason == ("62% of its 4-word runs repeat earlier ones (limit 25%); "
                                                 "57% of its sentences repeat earlier ones (limit 25%)")
    plain = "The sea is calm today. Boats rest in the harbour while gulls circle the old pier."
    assert all(r.passed for r in check_text(plain, "en", rules=GateRules(padding=0.25)))
