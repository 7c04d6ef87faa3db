"""Splitting a text into halves: exact re-join, boundary preference, balance by words."""

import random

import pytest

from selflengthen.method.split import split_halves, split_pieces


@pytest.mark.parametrize("text, expected", [
    # A blank line wins over newlines and sentence ends, even when a newline would balance better.
    ("One.\n\nTwo.\n\nThree.\n\nFour.", ("One.\n\nTwo.", "\n\n", "Three.\n\nFour.")),
    ("a b c d e f.\n\ng.\nh.\ni.\nj k l m n o p q.", ("a b c d e f.", "\n\n", "g.\nh.\ni.\nj k l m n o p q.")),
    ("A b. C d.\nE f. G h.", ("A b. C d.", "\n", "E f. G h.")),          # a newline wins over sentence ends
    ("A b. C d. E f. G h.", ("A b. C d.", " ", "E f. G h.")),           # sentence ends win over plain spaces
    ("one two three four", ("one two", " ", "three four")),             # last resort: whitespace
    ("one two three", ("one", " ", "two three")),                       # a tie takes the earlier boundary
    ("Para one.\n  \n\tPara two.", ("Para one.", "\n  \n\t", "Para two.")),  # blank line holding spaces
    ("A b.\r\n\r\nC d.\r\nE f.", ("A b.", "\r\n\r\n", "C d.\r\nE f.")),     # Windows line ends
    ("第一段。\n\n第二段。", ("第一段。", "\n\n", "第二段。")),
    ("春天来了。花开了。鸟儿在唱歌。我们去散步。", ("春天来了。花开了。", "", "鸟儿在唱歌。我们去散步。")),
    ("他说：“走吧。”我们就走了。", ("他说：“走吧。”", "", "我们就走了。")),
    ("  Padded.\n\nText.  ", ("Padded.", "\n\n", "Text.")),             # outer whitespace is stripped
])
def test_split_halves(text, expected):
    assert split_halves(text) == expected


@pytest.mark.parametrize("text", ["word", "没有任何边界的一段中文文字", "", "   ", "\n\n", "x.y.z"])
def test_text_without_boundary_is_not_split(text):
    assert split_halves(text) == (text.strip(), "", "")


def _random_text(rng: random.Random) -> str:
    pieces = ["word", "Word.", "end!", "长", "句子。", "好！", " ", " ", "\n", "\n\n", "\t", '"q."', "”"]
    return "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 40)))


def test_pieces_always_rejoin_exactly():
    rng = random.Random(7)
    for _ in range(2000):
        text = _random_text(rng)
        first, separator, second = split_halves(text)
        assert first + separator + second == text.strip()
        assert separator.strip() == ""
        if second:
            assert first.strip() and second.strip() == second     # both halves hold text


def test_long_text_splits_near_the_middle():
    paragraphs = [" ".join(["word"] * n) + "." for n in (30, 10, 20, 40)]
    first, separator, second = split_halves("\n\n".join(paragraphs))
    assert separator == "\n\n"
    # Boundaries after 30, 40 and 60 of 100 words: 40 and 60 tie, and the earlier one wins.
    assert first.count("word") == 40 and second.count("word") == 60


def test_a_heading_then_single_line_paragraphs_splits_between_the_lines():
    text = "# Heading\n\nFirst line of text.\nSecond line of text.\nThird line of text.\nFourth line of text."
    first, separator, second = split_halves(text)
    assert separator == "\n" and first.endswith("Second line of text.") and second.startswith("Third line")


@pytest.mark.parametrize("text, expected", [
    ("A.\n\nB.\n\nC.\n\nD.", ("A.\n\nB.", "\n\n", "C.\n\nD.")),
    ("A.\n\nB.\n\nC.", ("A.", "\n\n", "B.\n\nC.")),             # floor(3/2) = 1 piece first
    ("A.\n\nB.\nC.\nD.", ("A.\n", "\n", "B.\nC.\nD.")),         # two blank-line pieces: split on newlines
    ("A.\nB.\nC.", ("A.", "\n", "B.\nC.")),
    ("One paragraph only.", ("", "", "One paragraph only.")),        # one piece: the first half is empty
    ("A.\n\n\nB.\n\nC.", ("A.", "\n\n", "\nB.\n\nC.")),       # split on exactly two newlines, as written
])
def test_the_reference_split(text, expected):
    assert split_pieces(text) == expected
    first, separator, second = expected
    assert first + separator + second == text
