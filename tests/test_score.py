"""LonGen length-following score: constraints parsed in both languages, the piecewise score, the aggregate."""

import json

import pytest

from paths import LONGEN
from selflengthen.errors import InputError
from selflengthen.evaluation.longen import (
    constraint_direction, constraint_numbers, length_score, load_scored_file, parse_constraint, score_items)



@pytest.mark.parametrize("type, constraint, interval", [
    # every form LonGen uses
    ("about", "around 2000 words", (1600, 2400)),
    ("about", "around 2500 words", (2000, 3000)),
    ("about", "大约3500字", (2800, 4200)),
    ("range", "2000-3000 words", (2000, 3000)),
    ("range", "6000字至8000字", (6000, 8000)),
    ("above", "more than 4000 words", (4000, 6000)),
    ("above", "大于2500字", (2500, 3750)),
    ("below", "less than 2500 words", (1250, 2500)),
    ("below", "小于7000字", (3500, 7000)),
    # other ways of saying the same things
    ("about", "about 3,000 words", (2400, 3600)),
    ("about", "approximately 1.5k words", (1200, 1800)),
    ("about", "约2000字", (1600, 2400)),
    ("about", "3000字左右", (2400, 3600)),
    ("about", "大约1万字", (8000, 12000)),
    ("about", "around ２０００ words", (1600, 2400)),      # full-width digits
    ("range", "between 2000 and 3000 words", (2000, 3000)),
    ("range", "2000 to 3000 words", (2000, 3000)),
    ("range", "2,000–3,000 words", (2000, 3000)),
    ("range", "2000-3000字", (2000, 3000)),
    ("range", "2000到3000字之间", (2000, 3000)),
    ("range", "2k-3k words", (2000, 3000)),
    ("range", "3000-3000 words", (3000, 3000)),
    ("above", "at least 2000 words", (2000, 3000)),
    ("above", "no less than 2000 words", (2000, 3000)),
    ("above", "over 2000 words", (2000, 3000)),
    ("above", "2000 words or more", (2000, 3000)),
    ("above", "至少2000字", (2000, 3000)),
    ("above", "不少于2000字", (2000, 3000)),
    ("above", "2000字以上", (2000, 3000)),
    ("above", "超过3千字", (3000, 4500)),
    ("below", "fewer than 2000 words", (1000, 2000)),
    ("below", "no more than 2000 words", (1000, 2000)),
    ("below", "at most 2000 words", (1000, 2000)),
    ("below", "under 2000 words", (1000, 2000)),
    ("below", "不超过2000字", (1000, 2000)),
    ("below", "2000字以内", (1000, 2000)),
    ("below", "少于2000字", (1000, 2000)),
])
def test_parse_constraint(type, constraint, interval):
    assert parse_constraint(type, constraint) == interval


@pytest.mark.parametrize("type, constraint, message", [
    ("about", "a long essay", "cannot read 'about' constraint 'a long essay': expected 1 word count, found 0"),
    ("about", "around two thousand words", "expected 1 word count, found 0"),
    ("range", "more than 2000 words", "expected 2 word counts, found 1"),
    ("above", "2000-3000 words", "expected 1 word count, found 2"),
    ("range", "3000-2000 words", "is reversed"),
    ("below", "less than 0 words", "must name positive word counts"),
    ("above", "less than 2000 words", "says below, but the item's type is above"),
    ("below", "至少2000字", "says above, but the item's type is below"),
    ("below", "不少于2000字", "says above, but the item's type is below"),
    ("above", "不超过2000字", "says below, but the item's type is above"),
    ("exact", "2000 words", "unknown type 'exact'"),
])
def test_parse_constraint_refuses(type, constraint, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_constraint(type, constraint)


@pytest.mark.parametrize("constraint, numbers", [
    ("2000字至3000字", [2000, 3000]),
    ("between 2,000 and 3,500 words", [2000, 3500]),
    ("2000,3000", [2000, 3000]),              # a comma not followed by three digits separates
    ("2.5k words", [2500]),
    ("about 2 kilowords", [2]),               # 'k' starting a word is not a scale
    ("1.5万字", [15000]),
    ("no numbers", []),
])
def test_constraint_numbers(constraint, numbers):
    assert constraint_numbers(constraint) == numbers


@pytest.mark.parametrize("constraint, direction", [
    ("more than 2000 words", "above"), ("no more than 2000 words", "below"), ("not  more than 5", "below"),
    ("less than 2000 words", "below"), ("no less than 2000 words", "above"), ("overall 2000 words", None),
    ("大于2000字", "above"), ("小于2000字", "below"), ("不超过2000字", "below"), ("不少于2000字", "above"),
    ("around 2000 words", None), ("2000字至3000字", None),
])
def test_constraint_direction(constraint, direction):
    assert constraint_direction(constraint) == direction


@pytest.mark.parametrize("words, a, b, score", [
    (100, 100, 200, 1.0),       # the interval's ends count as inside
    (200, 100, 200, 1.0),
    (150, 100, 200, 1.0),
    (75, 100, 200, 0.5),        # 2 * 75 / 100 - 1
    (90, 100, 200, 0.8),
    (50, 100, 200, 0.0),        # a/2: the score reaches 0
    (10, 100, 200, 0.0),        # floored at 0
    (0, 100, 200, 0.0),
    (250, 100, 200, 0.5),       # 3 - 2 * 250 / 200
    (220, 100, 200, 0.8),
    (300, 100, 200, 0.0),       # 1.5b
    (1000, 100, 200, 0.0),      # floored at 0
    (1200, 1600, 2400, 0.5),
    (3000, 1600, 2400, 0.5),
])
def test_length_score(words, a, b, score):
    assert length_score(words, a, b) == pytest.approx(score)


@pytest.mark.parametrize("a, b", [(0, 10), (-1, 10), (20, 10)])
def test_length_score_refuses_bad_intervals(a, b):
    with pytest.raises(InputError, match="must have 0 < a <= b"):
        length_score(5, a, b)


def _item(type, constraint, response):
    return {"type": type, "constraint": constraint, "response": response}


@pytest.mark.parametrize("item, score", [
    (_item("about", "around 100 words", "word " * 100), 1.0),
    (_item("about", "around 100 words", "word " * 60), 0.5),           # [80, 120]: 2 * 60 / 80 - 1
    (_item("about", "around 100 words", "word " * 150), 0.5),          # 3 - 2 * 150 / 120
    (_item("about", "大约100字", "字" * 60), 0.5),
    (_item("about", "大约100字", "春天来了。" * 30), 0.5),              # 150 words, punctuation included
    (_item("range", "100-200 words", "word " * 75), 0.5),
    (_item("range", "100字至200字", "字" * 250), 0.5),
    (_item("above", "more than 100 words", "word " * 100), 1.0),       # [100, 150]
    (_item("above", "大于100字", "字" * 75), 0.5),
    (_item("above", "more than 100 words", "word " * 200), 1 / 3),    # 3 - 400 / 150
    (_item("below", "less than 100 words", "word " * 50), 1.0),        # [50, 100]
    (_item("below", "小于100字", "字" * 25), 0.0),
    (_item("below", "less than 100 words", "word " * 125), 0.5),
    (_item("below", "less than 100 words", ""), 0.0),
])
def test_score_single_items(item, score):
    assert score_items([item])[item["type"]] == pytest.approx(score)


def test_score_items_aggregates_per_type_and_overall():
    items = [
        _item("about", "around 100 words", "word " * 100),   # 1.0
        _item("about", "大约100字", "字" * 60),              # 0.5
        _item("range", "100-200 words", "word " * 75),       # 0.5
        _item("below", "less than 100 words", ""),           # 0.0
    ]
    assert score_items(items) == {
        "about": 0.75, "range": 0.5, "above": None, "below": 0.0, "overall": 0.5,
        "counts": {"about": 2, "range": 1, "above": 0, "below": 1, "overall": 4},
    }


def test_score_items_empty():
    assert score_items([]) == {"about": None, "range": None, "above": None, "below": None, "overall": None,
                               "counts": {"about": 0, "range": 0, "above": 0, "below": 0, "overall": 0}}


@pytest.mark.parametrize("item, message", [
    ({"type": "about", "constraint": "around 100 words"}, "item 2: field 'response' is missing"),
    (_item("about", "a lot", "text"), "item 2: cannot read 'about' constraint"),
    (_item("sideways", "100 words", "text"), "item 2: unknown type 'sideways'"),
    ({"type": "about", "constraint": 100, "response": ""}, "item 2: field 'constraint' is not a string"),
])
def test_score_items_names_the_bad_item(item, message):
    with pytest.raises(InputError, match=message):
        score_items([_item("about", "around 100 words", "ok"), item])


def _longen() -> list[dict]:
    return [json.loads(line) for line in LONGEN.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_longen_constraint_parses():
    """All 240 items: the interval follows the type's rule from the constraint's own number(s)."""
    items = _longen()
    assert len(items) == 240
    factors = {"about": (0.8, 1.2), "above": (1.0, 1.5), "below": (0.5, 1.0)}
    for item in items:
        a, b = parse_constraint(item["type"], item["constraint"])
        numbers = constraint_numbers(item["constraint"])
        if item["type"] == "range":
            assert (a, b) == tuple(numbers)
        else:
            low, high = factors[item["type"]]
            assert (a, b) == (pytest.approx(low * numbers[0]), pytest.approx(high * numbers[0]))
        assert 1000 <= a < b <= 12000, item["constraint"]
    assert {item["type"] for item in items} == {"about", "range", "above", "below"}


def test_longen_scores_with_empty_and_ideal_responses():
    items = _longen()
    empty = score_items([{**item, "response": ""} for item in items])
    assert empty["overall"] == 0.0 and empty["counts"]["overall"] == 240
    ideal = []
    for item in items:
        a, b = parse_constraint(item["type"], item["constraint"])
        filler = "字" if item["language"] == "zh" else "word "
        ideal.append({**item, "response": filler * int((a + b) / 2)})
    assert score_items(ideal)["overall"] == 1.0


def test_load_longen_with_responses(tmp_path):
    path = tmp_path / "scored.jsonl"
    path.write_text("".join(json.dumps({**item, "response": "word"}, ensure_ascii=False) + "\n" for item in _longen()),
                    encoding="utf-8")
    items = load_scored_file(path)
    assert len(items) == 240 and items[0]["query"]        # other fields are kept
    assert score_items(items)["overall"] == 0.0


def test_load_scored_file_skips_blank_lines(tmp_path):
    path = tmp_path / "scored.jsonl"
    path.write_text('\n{"type": "about", "constraint": "大约10字", "response": "字字字字字字字字字字"}\n\n',
                    encoding="utf-8")
    assert score_items(load_scored_file(path))["about"] == 1.0


@pytest.mark.parametrize("content, message", [
    (b'{"type": "about", "constraint": "around 10 words", "response": "x"}\n{bad json\n', ":2: invalid JSON"),
    (b'{"type": "about", "constraint": "around 10 words"}\n', ":1: field 'response' is missing"),
    (b'{"type": "about", "constraint": "around 10 words", "response": 7}\n', ":1: field 'response' is not a string"),
    (b'["about", "around 10 words", "x"]\n', ":1: expected a JSON object, got list"),
    (b'{"type": "exact", "constraint": "10 words", "response": "x"}\n', ":1: unknown type 'exact'"),
    (b'{"type": "about", "constraint": "long", "response": "x"}\n', ":1: cannot read 'about' constraint 'long'"),
    (b'\n{"type": "about", "constraint": "around 10 words", "response": "\xff"}\n', ":2: not valid UTF-8"),
    (b"", ": no items found"),
    (b"\n \n", ": no items found"),
])
def test_load_scored_file_errors_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "scored.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        load_scored_file(path)
    assert str(info.value).startswith(str(path) + message)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name, message", [("missing.jsonl", "no such file"), (".", "is a directory")])
def test_load_scored_file_missing_or_directory(tmp_path, name, message):
    with pytest.raises(InputError, match=message):
        load_scored_file(tmp_path / name)
