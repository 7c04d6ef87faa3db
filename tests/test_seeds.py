"""Seed instructions from JSONL or plain text: both formats, the shipped seed files, one-line errors."""

import json
import time

import pytest

from paths import DATA
from selflengthen.errors import InputError
from selflengthen.inputs import read_lines
from selflengthen.runs.seeds import MAX_LINE_BYTES, Seed, load_seeds, parse_seed_text


@pytest.mark.parametrize("name, language", [("seeds_en.jsonl", "en"), ("seeds_zh.jsonl", "zh")])
def test_shipped_seed_files(name, language):
    seeds = load_seeds(DATA / name)
    assert len(seeds) == 10
    assert {s.language for s in seeds} == {language}
    assert all(s.text == s.text.strip() and s.text for s in seeds)


@pytest.mark.parametrize("text, expected", [
    # plain text: one instruction per line, language detected
    ("Write a poem.\n写一首诗。", [Seed("Write a poem.", "en"), Seed("写一首诗。", "zh")]),
    ("\n\n  Write a poem.  \n\n\n", [Seed("Write a poem.", "en")]),
    ("A.\r\nB.\r\n", [Seed("A.", "en"), Seed("B.", "en")]),
    ("Same.\nOther.\nSame.\n  Same.  ", [Seed("Same.", "en"), Seed("Other.", "en")]),   # first kept
    ("Write 'a' {poem}.", [Seed("Write 'a' {poem}.", "en")]),     # braces later in a line: still text
    ("\ufeffWrite a poem.", [Seed("Write a poem.", "en")]),       # a byte-order mark is not text
    # JSONL: language given, detected, or null
    ('{"instruction": "Write a poem.", "language": "en"}', [Seed("Write a poem.", "en")]),
    ('{"instruction": "写一首诗。"}', [Seed("写一首诗。", "zh")]),
    ('{"instruction": "Describe the famous Great Wall 长城.", "language": null}',
     [Seed("Describe the famous Great Wall 长城.", "en")]),
    ('{"instruction": "Write about spring", "language": "zh"}', [Seed("Write about spring", "zh")]),  # given wins
    ('\n  {"instruction": " A. ", "extra": 1}\n\n{"instruction": "A."}\n{"instruction": "B.\\nC."}',
     [Seed("A.", "en"), Seed("B.\nC.", "en")]),
])
def test_parse_seed_text(text, expected):
    assert parse_seed_text(text, "pasted") == expected


@pytest.mark.parametrize("name, content", [
    ("seeds.txt", "Write a poem.\n写一首诗。\n"),
    ("seeds.jsonl", '{"instruction": "Write a poem."}\n{"instruction": "写一首诗。", "language": "zh"}\n'),
    ("seeds.data", '{"instruction": "Write a poem."}\n{"instruction": "写一首诗。"}'),   # the content decides
])
def test_load_seeds_both_formats(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert load_seeds(path) == [Seed("Write a poem.", "en"), Seed("写一首诗。", "zh")]


def test_seed_is_frozen_and_serializable():
    seed = Seed("Write.", "en")
    assert seed.to_dict() == {"text": "Write.", "language": "en"}
    with pytest.raises(AttributeError):
        seed.text = "other"


@pytest.mark.parametrize("content, message", [
    (b'{"instruction": "A."}\n{"instruction": "B."\n', ":2: invalid JSON"),
    (b'{"instruction": "A."}\nplain text line\n', ":2: invalid JSON"),
    (b'{"instruction": "A."}\n["B."]\n', ":2: expected a JSON object, got list"),
    (b'{"instruction": "A."}\n"B."\n', ":2: expected a JSON object, got str"),
    (b'{"text": "A."}\n', ":1: field 'instruction' is missing"),
    (b'{"instruction": ""}\n', ":1: field 'instruction' must be a non-empty string"),
    (b'{"instruction": "   "}\n', ":1: field 'instruction' must be a non-empty string"),
    (b'{"instruction": 42}\n', ":1: field 'instruction' must be a non-empty string (got 42)"),
    (b'{"instruction": null}\n', ":1: field 'instruction' must be a non-empty string"),
    (b'{"instruction": "Bad \\ud800 escape."}\n', ":1: field 'instruction' holds a lone surrogate escape"),
    (b'\n\n{"instruction": "A.", "language": "fr"}\n', ":3: field 'language' must be one of en, zh (got 'fr')"),
    (b'{"instruction": "A.", "language": 1}\n', ":1: field 'language' must be one of en, zh (got 1)"),
    (b"", ": no instructions found"),
    (b"\n   \n\t\n", ": no instructions found"),
    (b"Write a poem.\nWrite \xe9 story.\n", ":2: not valid UTF-8 (byte 0xe9 at file offset 20)"),
    (b"\xff\xfeW\x00r\x00", ":1: not valid UTF-8 (byte 0xff at file offset 0)"),   # UTF-16
])
def test_bad_input_names_file_and_line(tmp_path, content, message):
    path = tmp_path / "seeds.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        load_seeds(path)
    assert str(info.value).startswith(f"{path}{message}")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text, message", [
    ('{"instruction": "A."}\n{oops', "pasted:2: invalid JSON"),
    ("", "pasted: no instructions found"),
    ("ok\n" + "x" * (MAX_LINE_BYTES + 1), f"pasted:2: line is longer than {MAX_LINE_BYTES} bytes"),
])
def test_pasted_text_errors(text, message):
    with pytest.raises(InputError, match=message):
        parse_seed_text(text, "pasted")


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=f"^{tmp_path / 'nope.txt'}: no such file$"):
        load_seeds(tmp_path / "nope.txt")


def test_directory(tmp_path):
    with pytest.raises(InputError, match=f"^{tmp_path}: is a directory, not a file$"):
        load_seeds(tmp_path)


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_line_at_the_limit_is_accepted_and_numbering_holds(tmp_path, ending):
    path = tmp_path / "seeds.txt"
    path.write_bytes(b"x" * MAX_LINE_BYTES + ending + b"second" + ending + b"\xff" + ending)
    with pytest.raises(InputError, match=":3: not valid UTF-8"):
        load_seeds(path)
    lines = read_lines(path, MAX_LINE_BYTES)
    assert len(next(lines)[1]) == MAX_LINE_BYTES and next(lines) == (2, "second")


def test_line_one_byte_over_the_limit_is_refused(tmp_path):
    path = tmp_path / "seeds.txt"
    path.write_bytes(b"x" * (MAX_LINE_BYTES + 1) + b"\r\n")
    with pytest.raises(InputError, match=":1: line is longer than"):
        load_seeds(path)


def test_huge_line_is_refused_quickly(tmp_path):
    """A 10 MB line fails after reading about MAX_LINE_BYTES of it, with the line number."""
    path = tmp_path / "seeds.txt"
    with path.open("wb") as f:
        f.write(b"Write a poem.\n")
        f.write(b"y" * 10_000_000)
    started = time.perf_counter()
    with pytest.raises(InputError) as info:
        load_seeds(path)
    assert str(info.value) == f"{path}:2: line is longer than {MAX_LINE_BYTES} bytes"
    assert time.perf_counter() - started < 0.5


def test_read_lines_reads_lazily(tmp_path):
    """The reader yields good lines before it meets a bad one: the file is never read whole."""
    path = tmp_path / "seeds.txt"
    path.write_bytes(b"first\nsecond\r\n" + b"z" * (MAX_LINE_BYTES + 1))
    lines = read_lines(path, MAX_LINE_BYTES)
    assert next(lines) == (1, "first") and next(lines) == (2, "second")
    with pytest.raises(InputError, match=":3: line is longer"):
        next(lines)


def test_error_names_the_file_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.jsonl").write_text(json.dumps({"instruction": ""}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="^mine.jsonl:1: "):
        load_seeds("mine.jsonl")
