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

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from selflengthen.errors import InputError
from selflengthen.words import detect_language

LANGUAGES = ("en", "zh")
MAX_LINE_BYTES = 100_000  # a seed instruction is a few hundred words; a longer line is a wrong file


@dataclass(frozen=True)
class Seed:
    text: str
    language: str

    def to_dict(self) -> dict:
        return asdict(self)


def read_lines(path: str | Path, max_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, str]]:
    """(line number, text without its line ending) for each line of a UTF-8 file, read line by line.

    A line over `max_bytes` bytes is refused after reading at most `max_bytes` + 2 of them (room for
    "\\r\\n"), so a huge line (or a binary file without newlines) fails fast instead of filling memory.
    """
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    with handle:
        offset, number = 0, 0
        while raw := handle.readline(max_bytes + 2):
            number += 1
            where = f"{path}:{number}"
            body = raw.rstrip(b"\r\n")
            if len(body) > max_bytes:
                raise InputError(f"{where}: line is longer than {max_bytes} bytes")
            text = _decode(body, where, offset)
            yield number, text.removeprefix("\ufeff") if number == 1 else text
            offset += len(raw)


def json_records(path: str | Path, max_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[str, object]]:
    """("path:line", parsed JSON) for each non-blank line of a JSONL file; invalid JSON names its line."""
    for number, line in read_lines(path, max_bytes):
        if not line.strip():
            continue
        try:
            yield f"{path}:{number}", json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{number}: invalid JSON ({e.msg} at column {e.colno})") from None


def _decode(raw: bytes, where: str, offset: int) -> str:
    """One line's bytes as text; a bad byte is reported with its offset in the file."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        byte, at = raw[e.start], offset + e.start
        raise InputError(f"{where}: not valid UTF-8 (byte 0x{byte:02x} at file offset {at})") from None


def load_seeds(path: str | Path) -> list[Seed]:
    """Seeds of a JSONL or plain-text file (see the module docstring)."""
    return seeds_from_lines(read_lines(path), str(path))


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
    try:
        data = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: invalid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(data).__name__}")
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
