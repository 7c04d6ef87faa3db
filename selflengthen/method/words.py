"""Word counting and language detection for English, Chinese and mixed text.

Rule: every CJK character counts as one word (CJK punctuation and full-width forms included),
plus the whitespace-separated tokens of everything else.

>>> count_words("Hello world")
2
>>> count_words("你好，世界。")
6
>>> count_words("GPT-4 写了300字")
5
"""

import re

# Han ideographs (with extensions and compatibility forms), kana, Bopomofo, CJK symbols and
# punctuation, and the full-width/half-width forms block. Hangul is left out on purpose:
# Korean separates words with spaces, so counting it per syllable would inflate its counts.
_CJK_RANGES = (
    "\u2e80-\u2fdf"  # radicals supplement, Kangxi radicals
    "\u3001-\u303f"  # CJK symbols and punctuation (not U+3000, the ideographic space: it is whitespace)
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3100-\u312f"  # bopomofo
    "\u31c0-\u31ff"  # CJK strokes, katakana extension
    "\u3400-\u4dbf"  # extension A
    "\u4e00-\u9fff"  # unified ideographs
    "\uf900-\ufaff"  # compatibility ideographs
    "\ufe30-\ufe4f"  # CJK compatibility forms (vertical punctuation)
    "\uff00-\uffef"  # half-width and full-width forms
    "\U00020000-\U0003134f"  # extensions B to G
)
CJK_CHAR = re.compile(f"[{_CJK_RANGES}]")


def is_cjk(char: str) -> bool:
    """True for one CJK character (ideograph, kana, CJK punctuation or full-width form)."""
    return bool(CJK_CHAR.fullmatch(char))


def split_words(text: str) -> list[str]:
    """The words of `text` in order: each CJK character one word, plus the whitespace tokens of the rest.

    >>> split_words("GPT-4 写了300字")
    ['GPT-4', '写', '了', '300', '字']
    """
    return CJK_CHAR.sub(r" \g<0> ", text or "").split()


def count_words(text: str) -> int:
    """Words in `text`: CJK characters one each, plus whitespace tokens of the rest (what `split_words`
    gives, counted without building the list: this runs on every response).

    >>> count_words("the cat 在 mat。")
    5
    """
    cjk = len(CJK_CHAR.findall(text))
    rest = CJK_CHAR.sub(" ", text).split()
    return cjk + len(rest)


def detect_language(text: str) -> str:
    """'zh' when CJK characters make up at least a third of the words, else 'en'.

    >>> detect_language("写一篇关于春天的文章")
    'zh'
    >>> detect_language("Write about spring")
    'en'
    """
    words = count_words(text)
    if words == 0:
        return "en"
    return "zh" if len(CJK_CHAR.findall(text)) * 3 >= words else "en"
