"""Reading what users hand in: text files line by line, JSONL records and JSON objects, every error naming the
file and line (or the field) it is about."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from selflengthen.errors import InputError


def parse_json_object(text: str, where: str, *, error: type[Exception] = InputError) -> dict:
    """The JSON object in `text`; anything else is an `error` whose message starts with `where`.

    >>> parse_json_object('{"a": 1}', "seeds.jsonl:1")
    {'a': 1}
    >>> parse_json_object('[1, 2]', "config")
    Traceback (most recent call last):
    selflengthen.errors.InputError: config: expected a JSON object, got list
    >>> parse_json_object('{"a":\\n oops}', "config")
    Traceback (most recent call last):
    selflengthen.errors.InputError: config: invalid JSON (Expecting value at line 2 column 2)
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        place = f"column {e.colno}" if e.lineno == 1 else f"line {e.lineno} column {e.colno}"
        raise error(f"{where}: invalid JSON ({e.msg} at {place})") from None
    if not isinstance(data, dict):
        raise error(f"{where}: expected a JSON object, got {type(data).__name__}")
    return data


def read_lines(path: str | Path, max_bytes: int) -> Iterator[tuple[int, str]]:
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


def json_records(path: str | Path, max_bytes: int) -> Iterator[tuple[str, dict]]:
    """("path:line", the line's JSON object) for each non-blank line of a JSONL file; errors name the line."""
    for number, line in read_lines(path, max_bytes):
        if line.strip():
            yield f"{path}:{number}", parse_json_object(line, f"{path}:{number}")


def _decode(raw: bytes, where: str, offset: int) -> str:
    """One line's bytes as text; a bad byte is reported with its offset in the file."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        byte, at = raw[e.start], offset + e.start
        raise InputError(f"{where}: not valid UTF-8 (byte 0x{byte:02x} at file offset {at})") from None


def parse_iterations(text: str | None) -> list[int] | None:
    """Iteration indexes from "0, 2" (sorted, without repeats); None (every iteration) for none given.

    >>> parse_iterations("2, 0,2"), parse_iterations(""), parse_iterations(None)
    ([0, 2], None, None)
    >>> parse_iterations("1,x")
    Traceback (most recent call last):
    selflengthen.errors.InputError: iterations must be comma-separated whole numbers such as 0,2 (got '1,x')
    """
    if text is None or not text.strip():
        return None
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() for part in parts):
        raise InputError(f"iterations must be comma-separated whole numbers such as 0,2 (got {text!r})")
    return sorted({int(part) for part in parts})
