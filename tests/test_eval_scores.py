"""Evaluation scores: LongBench-Write's S_l, target lengths, LonGen per answer, and the summary's buckets
(LIFEBench's score has its own file, test_lifebench.py)."""

import math

import pytest

from selflengthen.errors import InputError
from selflengthen.evaluation.judge import DIMENSIONS
from selflengthen.evaluation.metrics import score_response, sl_score, summarize, target_length


@pytest.mark.parametrize("words, target, expected", [
    (2000, 2000, 100.0),            # exactly on target
    (4000, 2000, 100 * 2 / 3),      # twice as long: 1 - (2 - 1) / 3
    (3000, 2000, 100 * 5 / 6),      # 1.5x: 1 - 0.5 / 3
    (8000, 2000, 0.0),              # four times as long: 1 - 3 / 3
    (20000, 2000, 0.0),             # far beyond: clipped at 0
    (1000, 2000, 50.0),             # half as long: 1 - (2 - 1) / 2
    (1500, 2000, 100 * (1 - (2000 / 1500 - 1) / 2)),
    (666, 1998, 0.0),               # a third: 1 - (3 - 1) / 2
    (100, 2000, 0.0),               # far too short: clipped at 0
    (0, 2000, 0.0),                 # no words at all
    (2501, 2500, 100 * (1 - (2501 / 2500 - 1) / 3)),
])
def test_sl_score_known_answers(words, target, expected):
    assert sl_score(words, target) == pytest.approx(expected)


def test_sl_score_above_and_below_are_asymmetric_and_bounded():
    assert sl_score(4000, 2000) == pytest.approx(66.6667, abs=1e-4)  # overshooting by l costs a third
    assert sl_score(1000, 2000) == pytest.approx(50.0)  # falling short by half costs half
    assert all(0 <= sl_score(n, 300) <= 100 for n in range(0, 2000, 7))
    with pytest.raises(InputError, match="target length must be positive"):
        sl_score(10, 0)


@pytest.mark.parametrize("type, constraint, target", [
    ("about", "大约2000字", 2000.0),
    ("about", "around 3000 words", 3000.0),
    ("about", "约2500字", 2500.0),
    ("about", "about 1,500 words", 1500.0),
    ("range", "2000字至3000字", 2500.0),
    ("range", "2000-4000 words", 3000.0),
    ("range", "6000字至7000字", 6500.0),
    ("above", "more than 4000 words", None),
    ("above", "大于2000字", None),
    ("below", "小于2000字", None),
    ("below", "less than 5000 words", None),
])
def test_target_length_known_answers(type, constraint, target):
    assert target_length(type, constraint) == target


@pytest.mark.parametrize("type, constraint, message", [
    ("about", "many words", "expected 1 word count"),
    ("range", "3000字至2000字", "reversed"),
    ("above", "less than 2000 words", "says below"),
    ("longer", "2000 words", "unknown type"),
])
def test_target_length_refuses_unreadable_constraints(type, constraint, message):
    with pytest.raises(InputError, match=message):
        target_length(type, constraint)


def test_score_response_counts_chinese_characters_as_words():
    item = {"type": "about", "constraint": "大约2000字"}
    text = "长" * 2400  # 2,400 CJK characters: the top of [1600, 2400]
    from selflengthen.method.words import count_words

    assert count_words(text + "。") == 2401
    scores = score_response(item, count_words(text))
    assert scores == {"target_low": 1600.0, "target_high": 2400.0, "target": 2000.0, "length_score": 1.0,
                      "sl_score": pytest.approx(100 * (1 - (2400 / 2000 - 1) / 3)),
                      "lifebench_score": pytest.approx(100 * math.exp(-2 * 0.2))}
    short = score_response(item, 1200)  # LonGen: 2 * 1200 / 1600 - 1; S_l: 1 - (2000 / 1200 - 1) / 2
    assert short["length_score"] == pytest.approx(0.5)
    assert short["sl_score"] == pytest.approx(100 * (1 - (2000 / 1200 - 1) / 2))


@pytest.mark.parametrize("item, words, length, sl", [
    ({"type": "range", "constraint": "2000字至3000字"}, 3500, 3 - 2 * 3500 / 3000, 100 * (1 - (3500 / 2500 - 1) / 3)),
    ({"type": "above", "constraint": "more than 4000 words"}, 7000, 3 - 2 * 7000 / 6000, None),
    ({"type": "below", "constraint": "小于2000字"}, 1000, 1.0, None),
    ({"type": "below", "constraint": "小于2000字"}, 500, 0.0, None),
])
def test_score_response_longen_and_sl(item, words, length, sl):
    scores = score_response(item, words)
    assert scores["length_score"] == pytest.approx(length)
    assert scores["sl_score"] == (None if sl is None else pytest.approx(sl))
    assert (scores["target"] is None) == (sl is None)


def _row(type, language, length_range, words, length_score, sl, **extra):
    return {"type": type, "language": language, "length_range": length_range, "response": "text", "error": None,
            "words": words, "truncated": False, "length_score": length_score, "sl_score": sl,
            "lifebench_score": None, "judge_model": None, "judge_scores": None, "judge_error": None, **extra}


def test_summarize_buckets_by_type_language_and_range():
    rows = [
        _row("about", "zh", "2-4k", 100, 1.0, 80.0),
        _row("about", "en", "2-4k", 200, 0.5, 40.0, truncated=True),
        _row("range", "en", "4-6k", 300, 0.0, 10.0),
        _row("above", "zh", "6-8k", 400, 0.25, None),
        {**_row("below", "en", "2-4k", None, None, None), "response": None, "error": "HTTP 500"},  # not answered
    ]
    s = summarize(rows)
    assert (s["items"], s["errors"], s["truncated"]) == (4, 1, 1)
    assert s["words"] == {"mean": 250.0, "median": 250.0}
    assert s["longen"]["overall"] == pytest.approx((1.0 + 0.5 + 0.0 + 0.25) / 4)
    assert s["longen"]["by_type"] == {"about": 0.75, "range": 0.0, "above": 0.25}  # no "below": it was not answered
    assert s["longen"]["by_language"] == {"en": 0.25, "zh": pytest.approx(0.625)}
    assert s["longen"]["by_range"] == {"2-4k": 0.75, "4-6k": 0.0, "6-8k": 0.25}
    assert s["sl"]["n"] == 3 and s["sl"]["overall"] == pytest.approx(130 / 3)
    assert s["sl"]["by_type"] == {"about": 60.0, "range": 10.0}
    assert s["sl"]["by_language"] == {"en": 25.0, "zh": 80.0}
    assert s["sl"]["by_range"] == {"2-4k": 60.0, "4-6k": 10.0}
    assert s["judge"] is None


def test_summarize_with_nothing_answered_and_without_labels():
    empty = summarize([])
    assert empty["items"] == 0 and empty["words"] == {"mean": None, "median": None}
    assert empty["longen"] == {"overall": None, "by_type": {}, "by_language": {}, "by_range": {}}
    assert empty["sl"]["overall"] is None and empty["sl"]["n"] == 0 and empty["judge"] is None
    unlabelled = summarize([_row("about", "", "", 10, 1.0, 100.0)])
    assert unlabelled["longen"]["by_language"] == {} and unlabelled["longen"]["by_type"] == {"about": 1.0}


def test_summarize_judge_means_and_failures():
    good = [dict(zip(DIMENSIONS, (8, 7, 6, 5, 4, 3, 2))), dict.fromkeys(DIMENSIONS, 6)]
    rows = [_row("about", "en", "2-4k", 10, 1.0, 100.0, judge_model="j", judge_scores=good[0]),
            _row("about", "en", "2-4k", 10, 1.0, 100.0, judge_model="j", judge_scores=good[1]),
            _row("about", "en", "2-4k", 10, 1.0, 100.0, judge_model="j", judge_error="no JSON object found"),
            _row("about", "en", "2-4k", 10, 1.0, 100.0, judge_model="old", judge_scores=good[1]),
            _row("about", "en", "2-4k", 10, 1.0, 100.0)]
    judge = summarize(rows)["judge"]
    assert (judge["model"], judge["scored"], judge["failed"]) == ("j", 2, 1)
    assert judge["by_dimension"] == {"Relevance": 7.0, "Coherence": 6.5, "Accuracy": 6.0, "Consistency": 5.5,
                                     "Clarity": 5.0, "Creativity": 4.5, "Engagement": 4.0}
    assert judge["overall"] == pytest.approx(5.5)
    other = summarize(rows, judge_model="old")["judge"]
    assert (other["model"], other["scored"], other["failed"], other["overall"]) == ("old", 1, 0, 6.0)
    only_failures = summarize(rows[2:3])["judge"]
    assert only_failures == {"model": "j", "scored": 0, "failed": 1, "by_dimension": {}, "overall": None}
