"""Benchmarks: the bundled LonGen, local LonGen-format files checked line by line, and hub ids offline."""

import json
from collections import Counter

import pytest

from selflengthen.errors import InputError
from selflengthen.evaluation.benchmark import BUNDLED_LONGEN, load_benchmark

# sha256 of the bundled LonGen's canonical items: changes only if the benchmark itself changes.
LONGEN_DIGEST = "e5699bc6e30f02145e210fa9648f6cbad5f80995d4a96400950392c50a69e985"


def test_the_bundled_longen_loads_with_a_stable_digest():
    bench = load_benchmark(None)
    assert load_benchmark("LonGen") == bench == load_benchmark("  ") and bench.name == "LonGen"
    assert len(bench.items) == 240 and [i["idx"] for i in bench.items] == list(range(240))
    assert bench.digest == LONGEN_DIGEST
    assert Counter(i["type"] for i in bench.items) == {"about": 60, "range": 60, "above": 60, "below": 60}
    assert Counter(i["language"] for i in bench.items) == {"zh": 120, "en": 120}
    assert set(Counter(i["range"] for i in bench.items)) == {"2-4k", "4-6k", "6-8k"}
    first = json.loads(BUNDLED_LONGEN.read_text(encoding="utf-8").splitlines()[0])
    assert bench.items[0] == {"idx": 0, **first}


def test_a_local_file_keeps_order_and_missing_labels_are_empty(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text('{"type": "about", "constraint": "around 300 words", "query": "Write."}\n\n'
                    '{"type": "below", "constraint": "少于100字", "query": "写。", "language": "zh", "range": null,'
                    ' "extra": 1}\n', encoding="utf-8")
    bench = load_benchmark(str(path))
    assert bench.name == str(path)
    assert bench.items == [
        {"idx": 0, "language": "", "range": "", "type": "about", "constraint": "around 300 words", "query": "Write."},
        {"idx": 1, "language": "zh", "range": "", "type": "below", "constraint": "少于100字", "query": "写。"}]
    assert load_benchmark(str(path)).digest == bench.digest
    path.write_text(path.read_text(encoding="utf-8").replace("300", "301"), encoding="utf-8")
    assert load_benchmark(str(path)).digest != bench.digest


GOOD = '{"type": "about", "constraint": "around 300 words", "query": "Write."}\n'
BAD_BENCHMARKS = {
    "invalid_json": (GOOD + '{"type": "about", oops}\n', r"bench\.jsonl:2: invalid JSON"),
    "not_an_object": (GOOD + '["about", "around 3 words"]\n', r"bench\.jsonl:2: expected a JSON object, got list"),
    "unknown_type": (GOOD + '{"type": "longer", "constraint": "300 words", "query": "W."}\n',
                     r"bench\.jsonl:2: unknown type 'longer'"),
    "bad_constraint": (GOOD + '{"type": "range", "constraint": "about 300 words", "query": "W."}\n',
                       r"bench\.jsonl:2: cannot read 'range' constraint 'about 300 words'"),
    "missing_query": (GOOD + GOOD + '{"type": "about", "constraint": "around 3 words"}\n',
                      r"bench\.jsonl:3: field 'query' is missing"),
    "empty_query": ('{"type": "about", "constraint": "around 3 words", "query": "  "}\n',
                    r"bench\.jsonl:1: field 'query' is empty"),
    "number_label": (GOOD + '{"type": "about", "constraint": "around 3 words", "query": "W.", "language": 1}\n',
                     r"bench\.jsonl:2: field 'language' is not a string"),
    "empty_file": ("\n\n", r"bench\.jsonl: no items found"),
    "huge_line": ('{"type": "about", "constraint": "around 3 words", "query": "' + "a" * 1_100_000 + '"}\n',
                  r"bench\.jsonl:1: line is longer than"),
}


@pytest.mark.parametrize("case", BAD_BENCHMARKS)
def test_bad_benchmark_files_are_refused_with_file_and_line(tmp_path, case):
    content, message = BAD_BENCHMARKS[case]
    path = tmp_path / "bench.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        load_benchmark(str(path))


def test_a_hub_id_offline_or_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match=r"cannot load hub dataset 'quanshr/LonGen' \(.+\); pass a local "
                                         r"LonGen-format JSONL file with --benchmark FILE instead"):
        load_benchmark("quanshr/LonGen")
    with pytest.raises(InputError, match="no such file"):
        load_benchmark(str(tmp_path / "missing.jsonl"))
    with pytest.raises(InputError, match="no such file"):
        load_benchmark("./data/LonGen")


# --- the store -----------------------------------------------------------------------------------------------

