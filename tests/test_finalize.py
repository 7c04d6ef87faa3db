"""The final stage end to end: pooling, constraints every row's response meets, the stored and reviewable
final set, the model-rewrite path with its fallbacks, and `finalize` / `final-decide` / `score` as a user
runs them."""

from __future__ import annotations

import json
import random
import re
from collections import Counter

import pytest

from commands import cli, dump
from curated import make_store_with_accepted_samples
from selflengthen.backends.base import Completion
from selflengthen.backends.fake import ScriptedBackend
from selflengthen.evaluation.longen import score_item
from selflengthen.finalize.constraints import ConstraintSpec
from selflengthen.finalize.job import preset_spec, run_finalize
from selflengthen.finalize.pool import build_final_rows, pool_rows
from selflengthen.method.words import count_words

MIX = {"about": 0.4, "range": 0.25, "above": 0.1, "below": 0.25}


@pytest.fixture
def curated(tmp_path):
    store, run, _ = make_store_with_accepted_samples(tmp_path / "f.db", n_instructions=12)
    yield store, run, tmp_path / "f.db"
    store.close()


def test_finalize_writes_rows_that_score_one_and_a_rerun_changes_nothing(curated, tmp_path):
    store, run, db = curated
    out = tmp_path / "final.jsonl"
    first = cli("finalize", "--db", db, "--name", "r", "--out", out, "--json", check=True)
    stats = json.loads(first.stdout)
    items = [json.loads(line) for line in out.read_text().splitlines()]
    assert stats["kept"] == len(items) > 20 and stats["pooled"] == 48  # 24 samples, initial and final texts
    assert all({"type", "constraint", "query", "response", "language"} <= item.keys() for item in items)
    assert [score_item(item) for item in items] == [1.0] * len(items)
    assert all(str(item["provenance"]["target"][0]) for item in items)
    scored = json.loads(cli("score", out, "--json", check=True).stdout)
    assert scored["overall"] == 1.0 and scored["counts"]["overall"] == len(items)
    stored = dump(db)
    again = cli("finalize", "--db", db, "--name", "r", "--out", out, "--json", check=True)
    assert json.loads(again.stdout) == stats and len(store.final_rows(run["id"])) == stats["kept"]
    assert [line for line in dump(db) if "final" not in line] == [line for line in stored if "final" not in line]


def test_the_demo_preset_sizes_its_bounds_to_the_demo_model(curated):
    store, run, _ = curated
    rows, stats = run_finalize(store, "r", preset_spec("demo"))
    assert all(40 <= r["words"] < 400 for r in rows) and stats["insertion"]["template"] == len(rows)
    assert store.finalization(run["id"])["settings"]["spec"]["min_words"] == 40


def test_curator_verdicts_and_edits_survive_a_rerun_and_bad_edits_leave_the_row_unchanged(curated, tmp_path):
    store, run, db = curated
    run_finalize(store, "r", preset_spec("demo"))
    first, second = store.final_rows(run["id"])[:2]
    short = tmp_path / "short.txt"
    short.write_text("Far too short.")
    before = dump(db)
    refused = cli("final-decide", "--db", db, "--name", "r", "--row", first["id"], "--verdict", "accept",
                  "--response", short)
    assert refused.returncode == 1 and "edited response has 3 words" in refused.stderr and dump(db) == before
    query = tmp_path / "q.txt"
    query.write_text(first["query"] + " Mind the details.")
    cli("final-decide", "--db", db, "--name", "r", "--row", first["id"], "--verdict", "accept", "--query", query,
        check=True)
    cli("final-decide", "--db", db, "--name", "r", "--row", second["id"], "--verdict", "reject", check=True)
    run_finalize(store, "r", preset_spec("demo", seed=5))  # another seed: new constraints, same rows
    rows = {r["id"]: r for r in store.final_rows(run["id"])}
    assert rows[first["id"]]["edited_query"].endswith("Mind the details.") and rows[second["id"]]["verdict"] == "reject"
    out = tmp_path / "kept.jsonl"
    cli("finalize", "--db", db, "--name", "r", "--min-words", "40", "--max-words", "400", "--unit", "20", "--out", out,
        check=True)
    queries = [json.loads(line)["query"] for line in out.read_text().splitlines()]
    assert second["query"] not in queries and len(queries) == len(rows) - 1


def _chinese_pool(n: int, seed: int = 0) -> list[dict]:
    """Accepted zh samples whose texts are 2,000-7,999 characters long (count_words counts each one)."""
    rng = random.Random(seed)
    samples = []
    for i in range(n):
        short, long = sorted(rng.randrange(1999, 7999) for _ in range(2))
        samples.append({"sample_id": i, "iteration": 0, "language": "zh", "instruction": f"写一篇关于第{i}座古桥的文章。",
                        "initial_response": "桥" * short + "。", "final_text": "河" * long + "。"})
    return pool_rows(samples)


def _rewriter(prompt) -> Completion | str:
    """A model that keeps most queries, drops the number from some, mangles some and fails on some."""
    content = prompt.messages[0]["content"]
    query = re.search(r"<query>\n(.*)\n</query>", content, re.S).group(1)
    constraint = re.search(r"“(.+?)”", content).group(1)
    number = int(re.search(r"第(\d+)座", query).group(1))
    if number % 5 == 1:
        return query + "篇幅要长一些。"  # the number dropped
    if number % 5 == 2:
        return "请随便写点什么，" + constraint + "。"  # the query mangled
    if number % 5 == 3:
        return Completion(text=query, finish_reason="length")  # cut off
    return constraint + "，" + query


def test_the_model_rewrite_path_checks_each_rewrite_and_counts_the_fallbacks():
    pool = _chinese_pool(200)
    backend = ScriptedBackend(responder=_rewriter)
    rows, stats = build_final_rows(pool, ConstraintSpec(), way="model", backend=backend)
    fallback = stats["insertion"]["fallback"]
    assert stats["insertion"]["rewritten"] == 2 * 200 * 2 // 5 and backend.calls == 1
    assert fallback["number missing"] == 80 and fallback["cut off"] == 80 and fallback["query changed"] == 80
    assert all(score_item({**r, "response": r["response"]}) == 1.0 for r in rows)
    assert all(r["instruction"].rstrip("。") in r["query"] or "第" in r["query"] for r in rows)


def test_chinese_numerals_and_the_type_mix_match_the_configuration():
    pool = _chinese_pool(1500, seed=1)
    rows, stats = build_final_rows(pool, ConstraintSpec(chinese_numeral_share=0.3))
    assert stats["kept"] == len(pool) == 3000
    numerals = sum(bool(re.search("[一二三四五六七八九]千", r["constraint"])) for r in rows) / len(rows)
    assert abs(numerals - 0.3) < 0.04, numerals
    mix = Counter(r["type"] for r in rows)
    assert all(abs(mix[t] / len(rows) - share) < 0.04 for t, share in MIX.items()), mix
    assert all(score_item(r) == 1.0 for r in rows)
    assert not any("小于" in r["constraint"] for r in rows if r["type"] == "above")  # the reference's swap is not here


def test_bad_settings_are_refused_before_anything_is_stored(curated):
    store, run, db = curated
    before = dump(db)
    for flags, message in ((["--mix", '{"about": -1}'], "mix weight"), (["--min-words", "500", "--max-words", "100"],
                           "must not exceed"), (["--iterations", "7"], "no iteration 7"),
                           (["--sources", "middle"], "sources must be")):
        result = cli("finalize", "--db", db, "--name", "r", *flags)
        assert result.returncode == 1 and message in result.stderr, (flags, result.stderr)
    assert dump(db) == before and count_words("a b") == 2


def test_finalize_pools_both_iterations_of_a_curated_run_and_the_edit_wins(tmp_path):
    from curated import EDIT, curated_store

    store, ids = curated_store(tmp_path / "c.db")
    run = store.require_run("r")
    rows, stats = run_finalize(store, "r", ConstraintSpec(min_words=1, max_words=400, unit=5))
    by_sample = {(r["sample_id"], r["source"]): r for r in rows}
    assert {r["iteration"] for r in rows} == {0, 1} and stats["pooled"] == len(rows) + sum(stats["dropped"].values())
    assert by_sample[(ids["edited"], "final")]["response"] == EDIT
    assert not any(r["sample_id"] in ids["excluded"] for r in rows)
    assert [score_item(r) for r in rows] == [1.0] * len(rows)
    assert len(store.final_rows(run["id"])) == len(rows)
    store.close()


def test_a_top_up_answers_new_instructions_with_the_last_generator_and_pools_what_passed(tmp_path):
    from curated import curated_store
    from scripted import scripted_backend
    from selflengthen.errors import InputError

    store, _ = curated_store(tmp_path / "t.db")
    run = store.require_run("r")
    spec = ConstraintSpec(min_words=1, max_words=400, unit=5)
    before = dump(tmp_path / "t.db")
    with pytest.raises(InputError, match="iteration 1 is not trained and has run select, expand, filter"):
        run_finalize(store, "r", spec, top_up_n=3, top_up_factory=lambda *a: scripted_backend())
    assert dump(tmp_path / "t.db") == before
    latest = store.latest_iteration(run["id"])
    store.update_iteration(latest["id"], status="trained")
    backend = scripted_backend()
    rows, stats = run_finalize(store, "r", spec, top_up_n=3, top_up_factory=lambda *a: backend)
    topped = store.latest_iteration(run["id"])
    assert topped["idx"] == 2 and topped["steps_done"] == ["augment", "generate"] and backend.calls > 0
    top_rows = [r for r in rows if r["source"] == "topup"]
    generated = store.iteration_samples(topped["id"], ("generated",))
    assert top_rows and {r["sample_id"] for r in top_rows} <= {s["id"] for s in generated}
    assert all(r["iteration"] == 2 for r in top_rows) and [score_item(r) for r in rows] == [1.0] * len(rows)
    assert store.finalization(run["id"])["settings"]["top_up"] == {"iteration": 2, "instructions": 3}
    again, _ = run_finalize(store, "r", spec, top_up_n=3, top_up_factory=lambda *a: backend)
    assert len(store.list_iterations(run["id"])) == 3 and again == rows  # resumed, nothing answered twice
    store.close()
