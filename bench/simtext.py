"""The simulated engine's text: word lists, a seeded writer of prose that passes the gates, and the
expansion rule (every sentence kept, new ones added after each). Used by bench/simserver.py."""

from __future__ import annotations

import math
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/simserver.py` from anywhere

from selflengthen.method.words import count_words  # noqa: E402

TOKENS_PER_WORD = 1.3  # what a BPE tokenizer spends on English prose
SIGMA = 1.0  # log-normal spread of output lengths: the 95th percentile is 5x the median
MEDIAN_INSTRUCTION_WORDS = 22
MEDIAN_ANSWER_SENTENCES = 14  # ~15 words each: an initial response of ~210 words
EXPANSION = (1.6, 2.5)  # an expansion has this many times the words of the text it expands
KINDS = {"self_instruct": "instruction", "judge": "judge", "expand": "expand"}

# ---- text: word lists whose combinations all but never repeat 10 words (a sentence draws 7+ slots) ----
ADJ = ("quiet distant ancient careful modern hidden bright narrow patient hollow restless gentle humble rapid "
       "fragile stubborn silver crowded northern coastal rural urban curious sudden seasonal ordinary generous "
       "weathered forgotten sturdy delicate vivid solemn lively remote tangled polished rugged tender frozen "
       "golden dusty hopeful nervous clever honest vast tiny steady scattered eager loyal").split()
NOUN = ("river market village lantern archive harbour garden festival engine library mountain forest bridge "
        "teacher painter farmer sailor doctor orchard canal tower meadow island workshop theatre museum student "
        "neighbour journey signal pattern season window letter ritual language habit method system network voice "
        "memory question argument story chapter council treaty border climate storm desert valley glacier coast "
        "planet telescope machine circuit engineer merchant scholar pilgrim miner weaver potter baker lighthouse "
        "railway kitchen courtyard compass").split()
VERB = ("shape guide reveal connect support reflect test change explain protect follow measure balance question "
        "inspire strengthen challenge record link describe compare extend frame mark open gather weigh hold "
        "recall invite shelter answer sustain transform remember").split()
ADV = ("slowly quietly openly rarely boldly gently firmly freely plainly steadily patiently clearly honestly "
       "warmly briskly calmly deeply lightly proudly readily").split()
FORM = ("essay story report guide letter speech article memoir proposal review history profile dialogue "
        "lecture").split()
ZH_WORDS = ("河流 市场 村庄 灯笼 档案 港口 花园 节日 机器 图书馆 山脉 森林 桥梁 老师 画家 农民 水手 医生 果园 运河 "
            "高塔 草地 岛屿 工坊 剧院 博物馆 学生 邻居 旅程 信号 图案 季节 窗户 书信 仪式 语言 习惯 方法 系统 声音 "
            "记忆 问题 故事 章节 边境 气候 风暴 沙漠 山谷 冰川 海岸 星球 商人 学者 灯塔 铁路 厨房 庭院 指南针").split()
ZH_LINKS = ("改变了 连接着 记录了 守护着 描述了 影响着 塑造了 回应了 照亮了 支撑着").split()


def plural(noun: str) -> str:
    """
    >>> [plural(n) for n in ("river", "story", "journey", "compass")]
    ['rivers', 'stories', 'journeys', 'compasses']
    """
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def article(word: str) -> str:
    """The word with its indefinite article: 'an ancient', 'a quiet'."""
    return ("an " if word[0] in "aeiou" else "a ") + word


def lognormal(rng: random.Random, median: float) -> int:
    """A long-tailed count around `median` (sigma SIGMA), at least 1.

    >>> sorted(lognormal(random.Random(i), 10) for i in range(5))[2] in range(4, 25)
    True
    """
    return max(1, round(rng.lognormvariate(math.log(median), SIGMA)))


# Sentence shapes: a {slot} is a word drawn for it (SLOTS); the drawn words, not the glue, make 10-word runs unique.
SHAPES = ("The {A} {N} {V} {D}, and each {N} {V} the {A} {Ns} of the {N}.",
          "Every {A} {N} {V} what {A} {Ns} {Vp} {D} near the {A} {N}.",
          "In {aA} {N}, {A} {Ns} {Vp} the {N} {D} while {A} {Ns} {Vp} {D}.",
          "When the {N} {V} the {A} {N}, {A} {Ns} {Vp} {aA} {N} {D}.")
OPENING = "{Write} a detailed {Form} about the {A} {N} of the {A} {Ns}"
CLAUSES = ("explaining how {A} {Ns} {Vp} the {N}", "describing why every {N} {V} {A} {Ns}",
           "comparing {A} {Ns} with {A} {Ns}")
ZH_SHAPE = "{Z}{Z}{L}{Z}{Z}{Z}"
SLOTS = {"A": lambda r: r.choice(ADJ), "aA": lambda r: article(r.choice(ADJ)), "N": lambda r: r.choice(NOUN),
         "Ns": lambda r: plural(r.choice(NOUN)), "V": lambda r: r.choice(VERB) + "s", "Vp": lambda r: r.choice(VERB),
         "D": lambda r: r.choice(ADV), "Form": lambda r: r.choice(FORM), "Z": lambda r: r.choice(ZH_WORDS),
         "L": lambda r: r.choice(ZH_LINKS), "Write": lambda r: r.choice(("Write", "Compose", "Draft", "Prepare"))}
_SLOT = re.compile(r"\{(\w+)\}")


class Writer:
    """Sentences, prose and instructions drawn from one random generator, in English or Chinese."""

    def __init__(self, rng: random.Random, language: str = "en"):
        self.rng, self.language = rng, language

    def fill(self, shape: str) -> str:
        return _SLOT.sub(lambda m: SLOTS[m.group(1)](self.rng), shape)

    def sentence(self) -> str:
        if self.language == "zh":
            return self.fill(ZH_SHAPE + "{Z}" * self.rng.randint(0, 3)) + "。"
        return self.fill(self.rng.choice(SHAPES))

    def join(self, sentences: list[str]) -> str:
        return ("" if self.language == "zh" else " ").join(sentences)

    def prose(self, n_sentences: int) -> str:
        """`n_sentences` sentences in paragraphs of 2-5."""
        paragraphs, left = [], n_sentences
        while left > 0:
            size = min(left, self.rng.randint(2, 5))
            paragraphs.append(self.join([self.sentence() for _ in range(size)]))
            left -= size
        return "\n\n".join(paragraphs)

    def instruction(self, n_words: int) -> str:
        """One instruction of about `n_words` words (never fewer than its opening clause's)."""
        if self.language == "zh":
            clauses = [self.fill("请写一篇关于{Z}与{Z}的长文")]
            while count_words("".join(clauses)) < n_words:
                clauses.append(self.fill("说明{Z}如何{L}{Z}"))
            return "，".join(clauses) + "。"
        clauses = [self.fill(OPENING)]
        while count_words(", ".join(clauses)) < n_words:
            clauses.append(self.fill(self.rng.choice(CLAUSES)))
        return ", ".join(clauses) + "."


# ---- expansion: keep every sentence, add new ones after each ----
_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s*")


def paragraphs_of(text: str) -> list[list[str]]:
    """The sentences of each paragraph.

    >>> paragraphs_of("A b. C d.\\n\\nE f.")
    [['A b.', 'C d.'], ['E f.']]
    """
    return [[s for s in _SENTENCE.split(p.strip()) if s] for p in _PARAGRAPH.split(text.strip()) if p.strip()]


def expand_paragraphs(paragraphs: list[list[str]], factor: float, writer: Writer) -> str:
    """The paragraphs with new sentences after each of their own, spread evenly, to `factor` x the words."""
    total = sum(len(p) for p in paragraphs)
    budget = (factor - 1) * sum(count_words(s) for p in paragraphs for s in p)
    added, seen, out = 0, 0, []
    for sentences in paragraphs:
        grown = []
        for sentence in sentences:
            grown.append(sentence)
            seen += 1
            while added < budget * seen / total:
                new = writer.sentence()
                grown.append(new)
                added += count_words(new)
        out.append(writer.join(grown))
    return "\n\n".join(out)


def continuation(response: str, prefill: str, factor: float, writer: Writer) -> str:
    """Stage 2's answer: the part of `response` after the last of its sentences the prefill holds, expanded."""
    units = [(i, s) for i, sentences in enumerate(paragraphs_of(response)) for s in sentences]
    covered = next((k for k in range(len(units) - 1, -1, -1) if units[k][1] in prefill), len(units) // 2 - 1)
    rest = units[covered + 1:]
    if not rest:
        return writer.sentence()
    grouped: dict[int, list[str]] = {}
    for paragraph, sentence in rest:
        grouped.setdefault(paragraph, []).append(sentence)
    text = expand_paragraphs(list(grouped.values()), factor, writer)
    new_paragraph = covered < 0 or units[covered][0] != rest[0][0]
    if not prefill or prefill[-1].isspace():
        return text
    return ("\n\n" if new_paragraph else "" if writer.language == "zh" else " ") + text
