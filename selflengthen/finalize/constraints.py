"""A length constraint for each final-stage row that the row's own response meets.

The final stage pools the iterations' responses and gives each query a constraint in LonGen's four types
(about, range, above, below), drawn from a configured mix. The reference rounds the response's length L
and writes the constraint without checking it: "around 2000 words" for a 2999-word response scores 0.50 on
LonGen. Here each number is a multiple of a rounding step, and a constraint is kept only when L scores
1.0 under LonGen's own interval for it (`selflengthen.evaluation.longen`):

    about N   N the multiple nearest L, else the other neighbour, with 0.8N <= L <= 1.2N
    range A-B A, B = L rounded down and up to the step; a multiple L gets [L - step, L], or [L, L + step]
              where the first falls below min_words
    above N   N = L rounded down to the step, with L <= 1.5N
    below N   N = L rounded up to the step, with L >= N/2

Numbers are clipped to [min_words, max_words]. The step is 2 x unit one time in `coarse_share`, else the
unit. The rule when the drawn type cannot be met: a coarse step that fails falls back to the unit; when the
unit fails too, the row gets no constraint (None: the caller drops and counts it). The drawn type is never
swapped for another, which would bend the mix. With the defaults (2000-8000 words, unit 1000) every length
is met; with small bounds some are not (about 30 words with unit 50: neither 50 nor 20 fits).

`length_phrases` and `strip_length_constraint` find and remove a length phrase a query already has
("in about 500 words", "字数在500字左右"), so a query never asks for two lengths.

>>> c = make_constraint(2999, "en", random.Random(0), ConstraintSpec(mix={"about": 1}))
>>> c.constraint, c.interval
('around 3000 words', (2400.0, 3600.0))
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field

from selflengthen.errors import InputError
from selflengthen.evaluation.longen import TYPES, length_score, parse_constraint
from selflengthen.method.numerals import to_chinese

LANGUAGES = ("en", "zh")
# LonGen's own wordings. The reference swapped zh's more-than and less-than (大于 for below): not here.
WORDINGS = {
    "en": {"about": "around {} words", "range": "{}-{} words", "above": "more than {} words",
           "below": "less than {} words"},
    "zh": {"about": "大约{}字", "range": "{}字至{}字", "above": "大于{}字", "below": "小于{}字"},
}


def _field(default, help: str, **limits):
    """A dataclass field with help text and optional limits (min, max), like `selflengthen.config`'s."""
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata={"help": help, **limits})
    return field(default=default, metadata={"help": help, **limits})


@dataclass(frozen=True)
class ConstraintSpec:
    """How the final stage writes its length constraints (the reference's values by default)."""

    min_words: int = _field(2000, "Shortest response kept, in words; also the smallest number a constraint names.",
                            min=1)
    max_words: int = _field(8000, "Responses must be shorter than this; also the largest number named.", min=1)
    mix: dict[str, float] = _field({"about": 0.4, "range": 0.25, "above": 0.1, "below": 0.25},
                                   "Weight of each constraint type (about, range, above, below).")
    coarse_share: float = _field(0.2, "Share of constraints rounded to 2 x unit instead of unit.", min=0.0, max=1.0)
    unit: int = _field(1000, "Rounding step of the numbers, in words.", min=1)
    chinese_numeral_share: float = _field(0.5, "Share of Chinese constraints written in Chinese numerals (三千).",
                                          min=0.0, max=1.0)
    seed: int = _field(0, "Seed of the draws (type, rounding, numerals, phrasing): the caller's random.Random(seed).")

    def __post_init__(self):
        for name in ("min_words", "max_words", "unit", "seed"):
            _check_number(self, name, int)
        for name in ("coarse_share", "chinese_numeral_share"):
            _check_number(self, name, float)
        if self.min_words > self.max_words:
            raise InputError(f"min_words ({self.min_words}) must not exceed max_words ({self.max_words})")
        _check_mix(self.mix)


def _check_number(spec: ConstraintSpec, name: str, kind: type) -> None:
    """Refuse a field that is not a number of `kind` (a bool is not) or is outside its limits."""
    value, limits = getattr(spec, name), ConstraintSpec.__dataclass_fields__[name].metadata
    kinds = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or (kind is float and not math.isfinite(value)):
        raise InputError(f"{name} must be {'an integer' if kind is int else 'a number'} (got {value!r})")
    if value < limits.get("min", -math.inf) or value > limits.get("max", math.inf):
        raise InputError(f"{name} must be between {limits.get('min', '-inf')} and {limits.get('max', 'inf')} "
                         f"(got {value!r})")


def _check_mix(mix) -> None:
    """Refuse a mix that names an unknown type, weighs one below zero, or weighs them all zero."""
    if not isinstance(mix, dict):
        raise InputError(f"mix must be a mapping of type to weight (got {mix!r})")
    unknown = sorted(set(mix) - set(TYPES))
    if unknown:
        raise InputError(f"mix names unknown type {unknown[0]!r} (expected: {', '.join(TYPES)})")
    for name, weight in mix.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < math.inf:
            raise InputError(f"mix weight of {name!r} must be a number >= 0 (got {weight!r})")
    if sum(mix.values()) <= 0:
        raise InputError("mix weights must add up to more than 0")


@dataclass(frozen=True)
class Constraint:
    """One row's constraint: LonGen's type and wording, the numbers it names and the interval they make."""

    type: str
    constraint: str  # LonGen's short form: 'around 3000 words', '大约三千字'
    numbers: tuple[int, ...]
    interval: tuple[float, float]
    chinese_numerals: bool = False

    @property
    def shown(self) -> tuple[str, ...]:
        """The numbers as the constraint writes them: ('3000',) or ('三千',)."""
        return tuple(to_chinese(n) if self.chinese_numerals else str(n) for n in self.numbers)


def make_constraint(words: int, language: str, rng: random.Random,
                    spec: ConstraintSpec | None = None) -> Constraint | None:
    """A constraint that a `words`-long response meets, of a type drawn from the spec's mix; None when the
    length is outside [min_words, max_words) or no number of the drawn type fits (module docstring).

    Every call that gets past the bounds draws three numbers from `rng` (type, coarse, numerals), so one
    row's outcome never shifts the next row's draws.

    >>> spec = ConstraintSpec(mix={"below": 1}, chinese_numeral_share=1)
    >>> make_constraint(2001, "zh", random.Random(0), spec).constraint
    '小于三千字'
    """
    spec = spec or ConstraintSpec()
    if language not in LANGUAGES:
        raise InputError(f"unknown language {language!r} (expected: {', '.join(LANGUAGES)})")
    if not spec.min_words <= words < spec.max_words:
        return None
    drawn = rng.choices(TYPES, weights=[spec.mix.get(t, 0) for t in TYPES])[0]
    coarse = rng.random() < spec.coarse_share
    chinese = rng.random() < spec.chinese_numeral_share and language == "zh"
    for step in ((2 * spec.unit, spec.unit) if coarse else (spec.unit,)):
        for numbers in candidates(drawn, words, step, spec.min_words, spec.max_words):
            # The interval is read back from the text itself: what LonGen will score is what is checked.
            text = render(drawn, numbers, language, chinese)
            interval = constraint_interval(drawn, text)
            if length_score(words, *interval) == 1.0:
                return Constraint(drawn, text, numbers, interval, chinese)
    return None


def candidates(type: str, words: int, step: int, low: int, high: int) -> list[tuple[int, ...]]:
    """The numbers to try for a constraint of `type` on `words`, best first, clipped to [low, high].

    >>> candidates("about", 2450, 1000, 2000, 8000)
    [(2000,), (3000,)]
    >>> candidates("range", 3000, 1000, 2000, 8000), candidates("range", 2000, 1000, 2000, 8000)
    ([(2000, 3000), (3000, 4000)], [(2000, 3000)])
    """
    down = words // step * step
    up = down if down == words else down + step
    if type == "about":
        tried = [(down,), (up,)] if words - down <= up - words else [(up,), (down,)]
    elif type == "range":
        tried = [(down - step, up), (down, up + step)] if down == up else [(down, up)]
    else:
        tried = [(down,)] if type == "above" else [(up,)]
    clipped = [tuple(min(max(n, low), high) for n in numbers) for numbers in tried]
    # A range clipped to one number is no range; a repeat is not worth a second try.
    kept = [c for c in clipped if type != "range" or c[0] < c[1]]
    return list(dict.fromkeys(kept))


def render(type: str, numbers: tuple[int, ...], language: str, chinese: bool = False) -> str:
    """LonGen's wording of a constraint (Chinese numerals only for Chinese).

    >>> render("range", (2000, 3000), "zh", chinese=True), render("above", (4000,), "en")
    ('二千字至三千字', 'more than 4000 words')
    """
    shown = [to_chinese(n) if chinese and language == "zh" else str(n) for n in numbers]
    return WORDINGS[language][type].format(*shown)


def constraint_interval(type: str, constraint: str) -> tuple[float, float]:
    """LonGen's target interval of a constraint (its scorer reads Chinese numerals too), so every row can be
    re-checked exactly as `score` will read it.

    >>> constraint_interval("about", "大约三千字"), constraint_interval("above", "more than 2,000 words")
    ((2400.0, 3600.0), (2000.0, 3000.0))
    """
    return parse_constraint(type, constraint)


# A length phrase already in a query. English: lead words, one number or two, "words" (or "N-word" as an adjective,
# or "word count: N"); Chinese: lead words, number(s), 字 and a tail (左右, 以上, ...); Chinese numerals too.
_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(?:[kK](?![a-zA-Z])|[千万])?"
_ANY = rf"(?:{_NUM}|[零〇一二两三四五六七八九十][零〇一二两三四五六七八九十百千万]+)"
_EN_LEAD = r"(?:\b(?:in|of|with|within|to|under|over|below|above|at least|at most|around|about|approximately|" \
           r"roughly|nearly|exactly|no more than|no less than|no fewer than|not more than|not less than|" \
           r"not exceeding|less than|more than|fewer than|up to|between|from|a maximum of|a minimum of)\s+)*"
_EN_NUMS = rf"{_NUM}(?:\s*(?:-|–|—|to|and)\s*{_NUM})?"
_ZH_LEAD = r"(?:要求|需要|请)?(?:总字数|字数|篇幅|长度|全文)?(?:要|需|须|应该|应|必须)?(?:控制)?(?:在|为)?" \
           r"(?:大约|大概|约|不少于|不多于|不超过|不低于|至少|最多|少于|多于|大于|小于|超过|高于|低于)?"
_ZH_TAIL = r"(?:左右|以上|以下|以内|之内|之间|上下)?的?"
LENGTH_PHRASE = re.compile("|".join((
    rf"\b(?P<article>an?\s+)?{_EN_NUMS}[\s-]word\b(?!s)",
    (rf"\b(?:(?:with|using|in)\s+)?(?:(?:a|an|the)\s+)?(?:total\s+)?word[\s-]+(?:count|limit)\s*"
     rf"(?:of|should\s+be|must\s+be|is|:)?\s*{_EN_LEAD}{_EN_NUMS}(?:\s*words?\b)?"),
    rf"{_EN_LEAD}\b{_EN_NUMS}\s*words?\b(?:\s+(?:or\s+(?:more|less|fewer)|long|in\s+length))?",
    rf"(?:总字数|字数|篇幅)(?:要求)?[:：]\s*{_ANY}\s*字?",
    rf"{_ZH_LEAD}{_ANY}\s*字?\s*(?:至|到|-|–|~|～|—)\s*{_ANY}\s*字{_ZH_TAIL}",
    rf"{_ZH_LEAD}{_ANY}\s*字{_ZH_TAIL}",
)), re.IGNORECASE)
_SENTENCE = re.compile(r".+?(?:[.!?]+(?=\s|$)|[。！？]+|\n|$)\s*", re.DOTALL)
_STOP = re.compile(r"[.!?。！？]+$")
# A clause left ending in one of these words had its point cut off ("Keep it to", "The essay should be"); one
# left with filler words only said nothing but the length ("Your answer should run", "请写", "回答").
_DANGLING = {"be", "to", "of", "in", "with", "it", "is", "write", "use", "keep", "for", "at", "about", "around",
             "approximately", "roughly", "within", "exceed", "under", "over", "than", "make", "aim", "length"}
_DANGLING_ZH = ("在", "为", "约", "是", "的", "于", "到", "要", "要求")
_FILLER = _DANGLING | {"please", "your", "the", "a", "an", "should", "must", "answer", "response", "sure", "run",
                       "runs", "fall", "somewhere", "stay", "total"}
_FILLER_ZH = re.compile("请|写|回答|长度|篇幅|全文|字数|要求|控制|需要|要|应|在|为|约")

def length_phrases(text: str) -> list[str]:
    """The length phrases in a text.

    >>> length_phrases("Write 3 poems in about 500 words. 字数在三千字左右。")
    ['in about 500 words', '字数在三千字左右']
    """
    return [m.group().strip() for m in LENGTH_PHRASE.finditer(text) if m.group().strip()]


def strip_length_constraint(query: str) -> str:
    """The query without its length phrases; a clause left with nothing to say ("Keep it to .") goes too.

    >>> strip_length_constraint("Write a 500-word essay on dogs. Keep it to about 500 words. Be kind.")
    'Write an essay on dogs. Be kind.'
    >>> strip_length_constraint("写一篇关于春天的文章，字数在500字左右。")
    '写一篇关于春天的文章。'
    """
    pieces = _SENTENCE.findall(query)
    return "".join(_strip_sentence(p) if LENGTH_PHRASE.search(p) else p for p in pieces).strip()


def _strip_sentence(sentence: str) -> str:
    """One sentence without its length phrases and dangling clauses; '' when nothing is left of it."""
    body, tail = sentence.rstrip(), sentence[len(sentence.rstrip()):]
    kept = []
    for clause in re.findall(r"(?:[^,;，；]|,(?=\d{3}))+[,;，；]?", body):  # "1,500" is one number
        if LENGTH_PHRASE.search(clause):
            rest = LENGTH_PHRASE.sub(_cut, clause)
            clause = rest if not _dangling(rest) else "".join(_STOP.findall(clause.rstrip()))
        kept.append(clause)
    text = _tidy("".join(kept))
    return text + tail if re.search(r"\w", text) else ""


def _cut(match: re.Match) -> str:
    """What a removed phrase leaves: nothing, or its article fitted to the next word ('a 500-word essay')."""
    if not match.group("article"):
        return ""
    following = match.string[match.end():].lstrip()[:1].lower()
    return ("an " if following in "aeiou" else "a ") if following.isalpha() else ""


def _dangling(rest: str) -> bool:
    """Whether what is left of a clause says nothing, or ends on a word that needed the removed phrase."""
    words = re.findall(r"[A-Za-z']+|[\u4e00-\u9fff]", rest)
    if not words or words[-1].lower() in _DANGLING or "".join(words[-2:]).endswith(_DANGLING_ZH):
        return True
    chinese = _FILLER_ZH.sub("", "".join(w for w in words if not w.isascii()))
    return not chinese and all(w.lower() in _FILLER for w in words if w.isascii())

def _tidy(text: str) -> str:
    """Close the gaps a removed phrase leaves: empty brackets, doubled spaces, a space or clause mark before a stop."""
    text = re.sub(r"\s*(?:\(\s*\)|（\s*）)", "", text)  # "(word count: 800)" leaves empty brackets
    text = re.sub(r"[ \t]+(?=[,.;:!?，。；：！？])", "", text)
    text = re.sub(r"[,;:，；：、]+\s*(?=[.!?。！？])", "", text)
    text = re.sub(r"^[\s,.;:，。；：、]+|[,;，；、]+\s*$", "", text)
    return re.sub(r"[ \t]{2,}", " ", text)
