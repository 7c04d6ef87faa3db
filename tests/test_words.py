"""Word counting and language detection: every CJK character is a word, plus whitespace tokens of the rest."""

import pytest

from selflengthen.method.words import count_words, detect_language, is_cjk


@pytest.mark.parametrize("text, expected", [
    ("", 0),
    ("   \n\t ", 0),
    ("Hello world", 2),
    ("  Hello,   world!  ", 2),
    ("one\ntwo\tthree", 3),
    ("GPT-4 is here.", 3),
    ("你好", 2),
    ("你好，世界。", 6),                      # CJK punctuation counts
    ("“你好”", 4),                            # curly quotes are not CJK: each is left as its own token
    ("「引用」", 4),                          # corner brackets are CJK punctuation
    ("ＡＢＣ１２３", 6),                      # full-width forms, one each
    ("GPT-4 写了300字", 5),
    ("the cat 在 mat。", 5),
    ("春天abc秋天", 5),                       # Latin run between Han characters is one token
    ("\u3000\u3000春天来了。", 5),            # ideographic space is whitespace, not a word
    ("ひらがな カタカナ", 8),                  # kana count per character
    ("한국어 문장", 2),                        # Hangul is spaced: counted by whitespace
    ("𠀀𠀁", 2),                              # extension B ideographs
])
def test_count_words(text, expected):
    assert count_words(text) == expected


@pytest.mark.parametrize("char, expected", [
    ("中", True), ("。", True), ("，", True), ("Ａ", True), ("あ", True),
    ("a", False), (",", False), (" ", False), ("\u3000", False), ("한", False), ("“", False),
])
def test_is_cjk(char, expected):
    assert is_cjk(char) is expected


@pytest.mark.parametrize("text, expected", [
    ("", "en"),
    ("Write about spring", "en"),
    ("写一篇关于春天的文章", "zh"),
    ("Use Python 写一个程序", "zh"),          # 5 CJK of 7 words
    ("Explain the word 爱 in three short sentences", "en"),  # 1 CJK of 8 words
    ("a b 中", "zh"),                         # exactly a third counts as Chinese
    ("a b c 中", "en"),
])
def test_detect_language(text, expected):
    assert detect_language(text) == expected
