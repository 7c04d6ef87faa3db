"""The final stage's length constraints: Chinese numerals, the spec's checks, rounding that the row's own
response always meets under LonGen, and the configured type mix and numeral share."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from selflengthen.errors import InputError
from selflengthen.evaluation.longen import TYPES, length_score
from selflengthen.finalize.constraints import ConstraintSpec, candidates, constraint_interval, make_constraint
from selflengthen.method.numerals import from_chinese, replace_numerals, to_chinese

DEMO = {"min_words": 20, "max_words": 400, "unit": 50}


def only(type: str, **spec) -> ConstraintSpec:
    """A spec that always draws `type` (the other settings as given, else the defaults)."""
    return ConstraintSpec(mix={type: 1}, **spec)


def scores_one(constraint, words: int) -> bool:
    """Whether `words` meets the constraint as LonGen reads its text (Chinese numerals turned into digits)."""
    return length_score(words, *constraint_interval(constraint.type, constraint.constraint)) == 1.0


# Known answers checked against cn2an's an2cn (0.5.24), which the reference uses.
@pytest.mark.parametrize("n, text", [
    (1, "一"), (10, "十"), (15, "十五"), (50, "五十"), (110, "一百一十"), (101, "一百零一"), (350, "三百五十"),
    (1000, "一千"), (1001, "一千零一"), (1010, "一千零一十"), (2050, "二千零五十"), (2500, "二千五百"),
    (3000, "三千"), (10000, "一万"), (10010, "一万零一十"), (12000, "一万二千"), (20000, "二万"),
    (100000, "十万"), (100010, "十万零一十"), (105000, "十万五千"), (110000, "十一万"), (1000100, "一百万零一百"),
    (1001000, "一百万一千"), (10010000, "一千零一万"), (10100000, "一千零一十万"), (20000001, "二千万零一"),
    (99_999_999, "九千九百九十九万九千九百九十九"),
])
def test_chinese_numerals_both_ways(n, text):
    assert to_chinese(n) == text
    assert from_chinese(text) == n


def test_every_number_up_to_a_hundred_thousand_reads_back():
    assert all(from_chinese(to_chinese(n)) == n for n in range(1, 100_001))


@pytest.mark.parametrize("bad", [0, -5, 100_000_000, 2.5, True, "3000"])
def test_numbers_without_a_numeral_are_refused(bad):
    with pytest.raises(InputError, match="Chinese numerals"):
        to_chinese(bad)


@pytest.mark.parametrize("bad", ["", "三千字", "3000", "三四十"])
def test_text_that_is_no_numeral_is_refused(bad):
    with pytest.raises(InputError, match="not a Chinese numeral"):
        from_chinese(bad)


@pytest.mark.parametrize("text, digits", [
    ("大约三千字", "大约3000字"), ("二千字至三千字", "2000字至3000字"), ("小于一万二千字", "小于12000字"),
    ("大于两千字", "大于2000字"), ("3千字", "3千字"), ("1.5万字", "1.5万字"), ("写一篇文章", "写一篇文章"),
    ("十字路口", "十字路口"), ("三四十字", "三四十字"),
])
def test_numerals_in_text_become_digits_and_nothing_else_does(text, digits):
    assert replace_numerals(text) == digits


@pytest.mark.parametrize("type, constraint, interval", [
    ("about", "大约三千字", (2400, 3600)), ("range", "二千字至三千字", (2000, 3000)),
    ("above", "大于四千字", (4000, 6000)), ("below", "小于二千五百字", (1250, 2500)),
    ("about", "around 3000 words", (2400, 3600)),
])
def test_constraint_interval_reads_chinese_numerals(type, constraint, interval):
    assert constraint_interval(type, constraint) == interval


@pytest.mark.parametrize("fields, message", [
    ({"mix": {"about": 1, "roughly": 1}}, "unknown type 'roughly'"),
    ({"mix": {"about": -0.1, "range": 1}}, "weight of 'about'"),
    ({"mix": {"about": 0, "range": 0}}, "add up to more than 0"),
    ({"mix": {}}, "add up to more than 0"),
    ({"mix": {"about": "1"}}, "weight of 'about'"),
    ({"min_words": 0}, "min_words must be between 1"),
    ({"min_words": 500, "max_words": 400}, "must not exceed max_words"),
    ({"unit": 0}, "unit must be between 1"),
    ({"unit": 2.5}, "unit must be an integer"),
    ({"coarse_share": 1.5}, "coarse_share must be between 0.0 and 1.0"),
    ({"chinese_numeral_share": -0.1}, "chinese_numeral_share must be between"),
    ({"seed": True}, "seed must be an integer"),
])
def test_a_bad_spec_is_refused_with_a_message_naming_the_field(fields, message):
    with pytest.raises(InputError, match=message):
        ConstraintSpec(**fields)


def test_the_spec_defaults_are_the_references_and_every_field_has_help():
    spec = ConstraintSpec()
    assert (spec.min_words, spec.max_words, spec.unit, spec.coarse_share, spec.chinese_numeral_share) == \
        (2000, 8000, 1000, 0.2, 0.5)
    assert spec.mix == {"about": 0.4, "range": 0.25, "above": 0.1, "below": 0.25}
    assert all(f.metadata["help"] for f in ConstraintSpec.__dataclass_fields__.values())


@pytest.mark.parametrize("type, words, coarse, expected", [
    ("about", 2999, 0, "around 3000 words"),     # the nearest thousand
    ("about", 2999, 1, "around 3000 words"),     # 2000 (the nearest coarse) caps at 2400: back to the unit
    ("about", 2450, 0, "around 3000 words"),     # 2000 caps at 2400; 3000 starts at 2400
    ("about", 2400, 0, "around 2000 words"),
    ("about", 3900, 1, "around 4000 words"),
    ("about", 7999, 0, "around 8000 words"),
    ("range", 2999, 0, "2000-3000 words"),
    ("range", 2999, 1, "2000-4000 words"),
    ("range", 3000, 0, "2000-3000 words"),       # a multiple widens downwards...
    ("range", 2000, 0, "2000-3000 words"),       # ...or upwards at the lower bound
    ("range", 7500, 1, "6000-8000 words"),
    ("above", 2999, 0, "more than 2000 words"),
    ("above", 3999, 1, "more than 3000 words"),  # 2000 caps at 3000: back to the unit
    ("above", 5000, 0, "more than 5000 words"),
    ("below", 2001, 0, "less than 3000 words"),
    ("below", 7999, 1, "less than 8000 words"),
    ("below", 4000, 0, "less than 4000 words"),
])
def test_rounding_known_answers(type, words, coarse, expected):
    constraint = make_constraint(words, "en", random.Random(0), only(type, coarse_share=coarse))
    assert constraint.constraint == expected
    assert scores_one(constraint, words)


@pytest.mark.parametrize("type, expected", [
    ("about", "大约三千字"), ("range", "二千字至三千字"), ("above", "大于二千字"), ("below", "小于三千字"),
])
def test_chinese_wording_with_numerals_and_more_than_is_not_swapped(type, expected):
    constraint = make_constraint(2999, "zh", random.Random(0), only(type, coarse_share=0, chinese_numeral_share=1))
    assert constraint.constraint == expected
    assert constraint.chinese_numerals and constraint.shown == tuple(to_chinese(n) for n in constraint.numbers)
    assert scores_one(constraint, 2999)


def test_chinese_digits_when_numerals_are_not_drawn():
    constraint = make_constraint(2999, "zh", random.Random(0), only("above", chinese_numeral_share=0))
    assert (constraint.constraint, constraint.shown) == ("大于2000字", ("2000",))


def test_every_constraint_over_the_default_bounds_scores_one_and_none_is_dropped():
    rng, spec = random.Random(1), ConstraintSpec()
    for words in range(2000, 8000):
        for language in ("en", "zh"):
            constraint = make_constraint(words, language, rng, spec)
            assert constraint is not None, (words, language)
            assert scores_one(constraint, words), (words, constraint)
            assert constraint.interval == constraint_interval(constraint.type, constraint.constraint)
            assert all(2000 <= n <= 8000 for n in constraint.numbers)


@pytest.mark.parametrize("type", TYPES)
@pytest.mark.parametrize("coarse", [0, 1])
def test_every_constraint_within_demo_bounds_scores_one(type, coarse):
    spec = only(type, coarse_share=coarse, **DEMO)
    made = {words: make_constraint(words, "zh", random.Random(words), spec) for words in range(20, 400)}
    kept = {words: c for words, c in made.items() if c is not None}
    assert all(scores_one(c, words) and all(20 <= n <= 400 for n in c.numbers) for words, c in kept.items())
    # Some small lengths have no round number of the type (about 30: neither 20 nor 50); most do.
    assert len(kept) >= 0.85 * len(made)
    assert type != "range" or len(kept) == len(made)


def test_lengths_outside_the_bounds_get_no_constraint():
    spec, rng = ConstraintSpec(), random.Random(0)
    assert make_constraint(1999, "en", rng, spec) is None
    assert make_constraint(8000, "en", rng, spec) is None  # the upper bound is not included
    assert make_constraint(2000, "en", rng, spec) is not None


def test_an_unknown_language_is_refused():
    with pytest.raises(InputError, match="unknown language 'fr'"):
        make_constraint(3000, "fr", random.Random(0))


def test_candidates_are_clipped_to_the_bounds():
    assert candidates("about", 30, 50, 20, 400) == [(50,), (20,)]
    assert candidates("above", 30, 50, 20, 400) == [(20,)]
    assert candidates("range", 380, 50, 20, 400) == [(350, 400)]
    assert candidates("range", 400, 50, 20, 400) == [(350, 400)]  # [400, 450] clips to no range


def draws(language: str, n: int = 4000, seed: int = 7, spec: ConstraintSpec | None = None) -> list:
    """`n` constraints for lengths drawn across the default bounds."""
    rng = random.Random(seed)
    return [make_constraint(rng.randrange(2000, 8000), language, rng, spec) for _ in range(n)]


def test_the_type_mix_follows_the_spec_within_sampling_noise():
    made = draws("en")
    shares = Counter(c.type for c in made)
    for type, weight in ConstraintSpec().mix.items():
        assert abs(shares[type] / len(made) - weight) < 0.03, (type, shares)


def test_an_uneven_mix_of_two_types():
    made = draws("en", spec=ConstraintSpec(mix={"range": 3, "below": 1}))
    assert set(Counter(c.type for c in made)) == {"range", "below"}
    assert abs(sum(c.type == "range" for c in made) / len(made) - 0.75) < 0.03


def test_chinese_numerals_at_their_share_and_never_in_english():
    zh = draws("zh")
    assert abs(sum(c.chinese_numerals for c in zh) / len(zh) - 0.5) < 0.05
    assert not any(c.chinese_numerals for c in draws("en", n=500))
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in c.shown[0]) for c in zh if c.chinese_numerals)


def test_coarse_rounding_at_its_share():
    made = draws("en", spec=only("range"))
    assert abs(sum(c.numbers[1] - c.numbers[0] == 2000 for c in made) / len(made) - 0.2) < 0.03


def test_the_same_seed_gives_the_same_constraints():
    assert draws("zh", n=300) == draws("zh", n=300)
    assert draws("zh", n=300) != draws("zh", n=300, seed=8)
