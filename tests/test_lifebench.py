"""LIFEBench's length score: the formula, its target per LonGen type, the summary's buckets, the stored column
(answers stored before it are scored by migration 007) and the eval job that stores it."""

import json
import math

import pytest
import sqlite_utils

from selflengthen.backends.base import Completion
from selflengthen.backends.fake import ScriptedBackend
from selflengthen.config import preset_config
from selflengthen.errors import InputError
from selflengthen.evaluation.job import run_eval_job
from selflengthen.evaluation.metrics import lifebench_item_score, lifebench_score, score_response, summarize
from storage import Store
from storage.migrations import migrations


@pytest.mark.parametrize("words, target, expected", [
    (2000, 2000, 100.0),                   # on target
    (1000, 2000, 8.2085),                  # half: LD = -0.5, 100 e^-2.5
    (4000, 2000, 13.5335),                 # twice: LD = 1, 100 e^-2
    (0, 2000, 0.6738),                     # nothing: LD = -1, 100 e^-5
    (1800, 2000, 100 * math.exp(-0.5)),    # 10% short: 60.65
    (2200, 2000, 100 * math.exp(-0.2)),    # 10% long: 81.87
    (3000, 2000, 100 * math.exp(-1.0)),    # 50% long: 36.79
    (20000, 2000, 100 * math.exp(-18.0)),  # far too long: near 0, never below
    (2001, 2000, 100 * math.exp(-2 / 2000)),
])
def test_lifebench_score_known_answers(words, target, expected):
    assert lifebench_score(words, target) == pytest.approx(expected, abs=5e-5)


def test_falling_short_costs_more_than_overshooting_and_scores_stay_in_0_to_100():
    for fraction in (0.05, 0.2, 0.5, 0.9):
        assert lifebench_score(1000 * (1 - fraction), 1000) < lifebench_score(1000 * (1 + fraction), 1000)
    scores = [lifebench_score(n, 300) for n in range(0, 3000, 7)]
    assert all(0 < s <= 100 for s in scores)
    assert max(range(0, 3000, 7), key=lambda n: lifebench_score(n, 300)) == 301  # the closest length wins
    with pytest.raises(InputError, match="target length must be positive"):
        lifebench_score(10, 0)


@pytest.mark.parametrize("type, words, expected", [
    ("above", 4000, 100.0), ("above", 9000, 100.0), ("above", 2000, 100 * math.exp(-2.5)),  # at least 4000
    ("below", 4000, 100.0), ("below", 0, 100.0), ("below", 8000, 100 * math.exp(-2)),      # at most 4000
    ("about", 4000, 100.0), ("about", 2000, 100 * math.exp(-2.5)), ("about", 8000, 100 * math.exp(-2)),
])
def test_at_least_and_at_most_targets_are_met_in_full_on_their_side(type, words, expected):
    assert lifebench_item_score(type, words, 4000) == pytest.approx(expected)


@pytest.mark.parametrize("type, constraint, words, expected", [
    ("about", "around 3000 words", 3000, 100.0),                      # T = N
    ("about", "大约2000字", 1000, 100 * math.exp(-2.5)),
    ("about", "about 1,500 words", 3000, 100 * math.exp(-2)),
    ("range", "2000字至3000字", 2500, 100.0),                          # T = the middle
    ("range", "2000-3000 words", 2000, 100 * math.exp(-5 * 0.2)),     # a range's lower edge: 36.79
    ("range", "2000-3000 words", 3000, 100 * math.exp(-2 * 0.2)),     # its upper edge: 67.03
    ("range", "2000-4000 words", 6000, 100 * math.exp(-2)),           # twice the middle
    ("above", "more than 4000 words", 7000, 100.0),                   # at least N
    ("above", "大于2000字", 1000, 100 * math.exp(-2.5)),
    ("below", "less than 5000 words", 100, 100.0),                    # at most N
    ("below", "小于2000字", 4000, 100 * math.exp(-2)),
])
def test_score_response_gives_every_type_a_lifebench_score(type, constraint, words, expected):
    assert score_response({"type": type, "constraint": constraint}, words)["lifebench_score"] == pytest.approx(expected)


def _row(type, length_range, words, lifebench, low, high, target=None, language="en"):
    return {"type": type, "language": language, "length_range": length_range, "response": "text", "error": None,
            "words": words, "truncated": False, "length_score": 1.0, "sl_score": None, "lifebench_score": lifebench,
            "target": target, "target_low": low, "target_high": high, "judge_model": None}


def test_summarize_buckets_lifebench_like_sl_and_leaves_out_rows_without_it():
    rows = [_row("about", "2-4k", 1000, 8.0, 1600.0, 2400.0, 2000.0, "zh"),
            _row("range", "2-4k", 3000, 60.0, 2000.0, 4000.0, 3000.0),
            _row("above", "4-6k", 5000, 100.0, 4000.0, 6000.0),
            _row("below", "4-6k", 5500, None, 2500.0, 5000.0),  # stored before LIFEBench: no score
            {**_row("below", "2-4k", None, None, 1000.0, 2000.0), "response": None, "error": "HTTP 500"}]
    lifebench = summarize(rows)["lifebench"]
    assert lifebench["n"] == 3 and lifebench["overall"] == pytest.approx(56.0)
    assert lifebench["by_type"] == {"about": 8.0, "range": 60.0, "above": 100.0}
    assert lifebench["by_language"] == {"en": 80.0, "zh": 8.0}
    assert lifebench["by_range"] == {"2-4k": 34.0, "4-6k": 100.0}
    empty = summarize([])["lifebench"]
    assert empty == {"overall": None, "by_type": {}, "by_language": {}, "by_range": {}, "n": 0}


def test_summarize_gives_mean_words_against_mean_target_per_range():
    rows = [_row("about", "2-4k", 1000, 8.0, 1600.0, 2400.0, 2000.0),
            _row("range", "2-4k", 3000, 60.0, 2000.0, 4000.0, 3000.0),
            _row("above", "4-6k", 5000, 100.0, 4000.0, 6000.0),   # T = N = the interval's low end
            _row("below", "4-6k", 5500, None, 2500.0, 5000.0),    # T = N = its high end (counted without a score)
            _row("about", "", 10, 100.0, 8.0, 12.0, 10.0)]        # no range label: no bucket
    assert summarize(rows)["length_by_range"] == {"2-4k": {"words": 2000.0, "target": 2500.0, "n": 2},
                                                  "4-6k": {"words": 5250.0, "target": 4500.0, "n": 2}}


def _old_database(path) -> None:
    """A database as it was before migration 007, with one answered and one failed item."""
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="007_lifebench_score")
    db.execute("INSERT INTO runs (id, name, generator_model, extender_model, backend, preset, config, created_at)"
               " VALUES (1, 'r', 'g', 'e', 'transformers', 'demo', '{}', 'now')")
    db.execute("INSERT INTO evaluations (id, run_id, iteration_idx, role, model, benchmark, digest, total,"
               " max_new_tokens, seed, created_at, updated_at)"
               " VALUES (1, 1, 0, 'generator', 'g', 'LonGen', 'd', 3, 64, 0, 'now', 'now')")
    items = [(0, "about", "大约2000字", "text", 1000, None, 1600.0, 2400.0, 2000.0, 0.25),
             (1, "below", "less than 5000 words", "text", 10000, None, 2500.0, 5000.0, None, 0.0),
             (2, "above", "more than 4000 words", None, None, "HTTP 500", None, None, None, None)]
    for idx, type, constraint, response, words, error, low, high, target, length in items:
        db.execute("INSERT INTO eval_items (evaluation_id, item_idx, language, length_range, type, constraint_text,"
                   " query, response, words, error, target_low, target_high, target, length_score, created_at,"
                   " updated_at) VALUES (1, ?, 'zh', '2-4k', ?, ?, 'q', ?, ?, ?, ?, ?, ?, ?, 'now', 'now')",
                   [idx, type, constraint, response, words, error, low, high, target, length])
    db.conn.commit()
    db.close()


def test_migration_007_scores_answers_stored_before_it(tmp_path):
    _old_database(tmp_path / "old.db")
    store = Store(tmp_path / "old.db")
    try:
        scores = [row["lifebench_score"] for row in store.eval_items(1)]
        assert scores == [pytest.approx(100 * math.exp(-2.5)), pytest.approx(100 * math.exp(-2)), None]
        assert summarize(store.eval_items(1))["lifebench"]["n"] == 2
    finally:
        store.close()


BENCH = [{"language": "en", "range": "2-4k", "type": "about", "constraint": "around 30 words", "query": "Q1"},
         {"language": "en", "range": "2-4k", "type": "range", "constraint": "10-30 words", "query": "Q2"},
         {"language": "zh", "range": "4-6k", "type": "above", "constraint": "大于10字", "query": "Q3"},
         {"language": "zh", "range": "4-6k", "type": "below", "constraint": "小于10字", "query": "Q4"}]


def test_the_eval_job_stores_and_summarizes_lifebench_scores(tmp_path):
    store = Store(tmp_path / "studio.db")
    store.create_run("r", "gen-0", "ext-0", "transformers", "demo", preset_config("demo").to_dict(),
                     [{"text": "Write about the sea.", "language": "en"}])
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in BENCH), encoding="utf-8")
    fifteen_words = lambda role, model, config: ScriptedBackend(  # noqa: E731
        model, responder=lambda prompt: Completion("word " * 15))
    try:
        evaluation = run_eval_job(store, "r", 0, benchmark=str(bench), factory=fifteen_words)
        rows = store.eval_items(evaluation["id"])
        # about 30 -> LD -0.5; range 10-30 -> T 20, LD -0.25; at least 10 -> met; at most 10 -> LD +0.5.
        assert [r["lifebench_score"] for r in rows] == pytest.approx(
            [100 * math.exp(-2.5), 100 * math.exp(-1.25), 100.0, 100 * math.exp(-1.0)])
        lifebench = evaluation["summary"]["lifebench"]
        assert lifebench["n"] == 4 and lifebench["by_language"]["zh"] == pytest.approx(50 + 50 * math.exp(-1))
        assert evaluation["summary"]["length_by_range"] == {"2-4k": {"words": 15.0, "target": 25.0, "n": 2},
                                                            "4-6k": {"words": 15.0, "target": 10.0, "n": 2}}
    finally:
        store.close()
