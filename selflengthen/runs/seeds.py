"""Seed instructions: the pool that self-instruct starts from, read from a file or pasted text.

Two formats, told apart by the first non-blank line:

* JSONL (the line starts with ``{``): one object per line with a string ``instruction`` and an optional
  ``language`` ("en" or "zh"; detected from the text when absent or null).
* Plain text: one instruction per line, language detected.

Blank lines are skipped, text is stripped and exact duplicates are dropped (the first is kept). Every
problem is an ``InputError`` whose one-line message names the source and the line.

>>> parse_seed_text("Write a story about rain.\\n\\n写一首关于春天的诗。\\nWrite a story about rain.", "pasted")
[Seed(text='Write a story about rain.', language='en'), Seed(text='写一首关于春天的诗。', language='zh')]
>>> parse_seed_text('{"instruction": " Describe a city. ", "language": "en"}', "pasted")
[Seed(text='Describe a city.', language='en')]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from selflengthen.errors import InputError
from selflengthen.inputs import parse_json_object, read_lines
from selflengthen.method.words import detect_language

LANGUAGES = ("en", "zh")
MAX_LINE_BYTES = 100_000  # a seed instruction is a few hundred words; a longer line is a wrong file


@dataclass(frozen=True)
class Seed:
    text: str
    language: str

    def to_dict(self) -> dict:
        return asdict(self)


def load_seeds(path: str | Path) -> list[Seed]:
    """Seeds of a JSONL or plain-text file (see the module docstring)."""
    return seeds_from_lines(read_lines(path, MAX_LINE_BYTES), str(path))


BUNDLED = Path(__file__).resolve().parent.parent / "data"
BUNDLED_SEEDS = {"en": BUNDLED / "demo_seeds.jsonl", "zh": BUNDLED / "seeds_zh.jsonl"}


def bundled_seeds(preset: str) -> list[Seed]:
    """The seed instructions a run starts from when given none: the reference's English ones, and with the paper
    preset its Chinese ones too (Apache-2.0, published with the reference implementation).

    >>> [len(bundled_seeds(p)) for p in ("demo", "paper")]
    [10, 20]
    """
    languages = ("en", "zh") if preset == "paper" else ("en",)
    return [seed for language in languages for seed in load_seeds(BUNDLED_SEEDS[language])]


def parse_seed_text(text: str, source_name: str = "pasted text") -> list[Seed]:
    """Seeds of pasted text, in either format, checked exactly like a file."""
    lines = []
    for number, line in enumerate(text.removeprefix("\ufeff").split("\n"), 1):
        line = line.removesuffix("\r")
        if len(line.encode("utf-8", "surrogatepass")) > MAX_LINE_BYTES:
            raise InputError(f"{source_name}:{number}: line is longer than {MAX_LINE_BYTES} bytes")
        lines.append((number, line))
    return seeds_from_lines(lines, source_name)


def seeds_from_lines(lines: Iterable[tuple[int, str]], source: str) -> list[Seed]:
    """Seeds from numbered lines; the format is fixed by the first non-blank line."""
    seeds, seen, is_jsonl = [], set(), None
    for number, line in lines:
        if not line.strip():
            continue
        if is_jsonl is None:
            is_jsonl = line.lstrip().startswith("{")
        where = f"{source}:{number}"
        seed = parse_json_seed(line, where) if is_jsonl else Seed(line.strip(), detect_language(line))
        if seed.text not in seen:
            seen.add(seed.text)
            seeds.append(seed)
    if not seeds:
        raise InputError(f"{source}: no instructions found")
    return seeds


def parse_json_seed(line: str, where: str) -> Seed:
    """One JSONL line as a Seed; `where` ("file:line") starts every error message.

    >>> parse_json_seed('{"instruction": "写一首诗"}', "seeds.jsonl:1")
    Seed(text='写一首诗', language='zh')
    >>> parse_json_seed('{"instruction": "Hi", "language": "fr"}', "seeds.jsonl:2")
    Traceback (most recent call last):
    selflengthen.errors.InputError: seeds.jsonl:2: field 'language' must be one of en, zh (got 'fr')
    """
    data = parse_json_object(line, where)
    if "instruction" not in data:
        raise InputError(f"{where}: field 'instruction' is missing")
    text = data["instruction"]
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{where}: field 'instruction' must be a non-empty string (got {text!r:.40})")
    try:
        text.encode("utf-8")  # JSON may smuggle in a lone surrogate ("\\ud800"), which no store can keep
    except UnicodeEncodeError:
        raise InputError(f"{where}: field 'instruction' holds a lone surrogate escape (not valid text)") from None
    language = data.get("language")
    if language is None:
        language = detect_language(text)
    elif language not in LANGUAGES:
        raise InputError(f"{where}: field 'language' must be one of {', '.join(LANGUAGES)} (got {language!r:.40})")
    return Seed(text.strip(), language)
