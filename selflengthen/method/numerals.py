"""Chinese numerals for word counts, written the way cn2an's `an2cn` writes them (3000 -> 三千).

The reference writes half of its Chinese length constraints with Chinese numerals ("大约三千字"); the LonGen
scorer (`selflengthen.evaluation.longen`) turns them back into digits with `replace_numerals` before it reads
a constraint's numbers.

>>> to_chinese(12000), from_chinese("一万二千")
('一万二千', 12000)
>>> replace_numerals("大约三千字")
'大约3000字'
"""

from __future__ import annotations

import re

from selflengthen.errors import InputError

DIGITS = "零一二三四五六七八九"
LARGEST = 99_999_999  # 九千九百九十九万九千九百九十九: past it a number needs 亿, which no word count does
_VALUE = {**{c: i for i, c in enumerate(DIGITS)}, "两": 2, "〇": 0}
_UNIT = {"十": 10, "百": 100, "千": 1000}
# A numeral inside text: two characters or more, starting with a digit or 十, not right after an Arabic digit
# ("3千字" and "1.5万字" are LonGen's own forms and stay as they are).
_RUN = re.compile(r"(?<![\d.])[零〇一二两三四五六七八九十][零〇一二两三四五六七八九十百千万]+")


def to_chinese(n: int) -> str:
    """`n` (1 to 99,999,999) in Chinese numerals, as an2cn writes it.

    >>> [to_chinese(n) for n in (3000, 2500, 2050, 10000, 12000, 100010)]
    ['三千', '二千五百', '二千零五十', '一万', '一万二千', '十万零一十']
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= LARGEST:
        raise InputError(f"cannot write {n!r} in Chinese numerals (1 to {LARGEST:,} only)")
    high, low = divmod(n, 10_000)
    text = ""
    if high:
        # A low part under 1000 leaves a gap after 万 that is read out as 零 (一万零五十).
        text = _section(high) + "万" + ("零" if 0 < low < 1000 else "")
    if low:
        text += _section(low)
    # Ten at the very start is 十, not 一十 (十五, 十万); inside a number it keeps its 一 (一百一十).
    return text[1:] if text.startswith("一十") else text


def _section(n: int) -> str:
    """1 to 9999 in numerals; a run of inner zeros is one 零, trailing zeros are silent (二千零五十)."""
    out, gap = [], False
    for place, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = n // place % 10
        if digit:
            out.append(("零" if gap else "") + DIGITS[digit] + unit)
            gap = False
        elif out:
            gap = True
    return "".join(out)


def from_chinese(text: str) -> int:
    """The number a Chinese numeral names (两 and 〇 read too).

    >>> [from_chinese(t) for t in ("三千", "二千零五十", "十万零一十", "两万")]
    [3000, 2050, 100010, 20000]
    """
    if not text or any(c not in _VALUE and c not in _UNIT and c != "万" for c in text):
        raise InputError(f"{text!r} is not a Chinese numeral")
    if re.search(r"[一二两三四五六七八九][一二两三四五六七八九]", text):
        raise InputError(f"{text!r} is not a Chinese numeral: two digits in a row")
    total, section, digit = 0, 0, None
    for c in text:
        if c in _VALUE:
            digit = _VALUE[c]
        elif c in _UNIT:
            section += (1 if digit is None else digit) * _UNIT[c]  # a bare 十 is one ten
            digit = None
        else:  # 万 closes the section of ten-thousands
            total += (section + (digit or 0)) * 10_000
            section, digit = 0, None
    return total + section + (digit or 0)


def replace_numerals(text: str) -> str:
    """`text` with each Chinese numeral that has a unit (十, 百, 千, 万) written in digits; a lone digit
    character ("一篇", "十字路口") is ordinary text and stays.

    >>> replace_numerals("二千字至三千字")
    '2000字至3000字'
    >>> replace_numerals("写一篇十字路口的故事，3千字")
    '写一篇十字路口的故事，3千字'
    """
    def digits(match: re.Match) -> str:
        run = match.group()
        if not re.search("[十百千万]", run):
            return run
        try:
            return str(from_chinese(run))
        except InputError:  # not one number ("三四十字", thirty or forty): leave the text alone
            return run

    return _RUN.sub(digits, text)
