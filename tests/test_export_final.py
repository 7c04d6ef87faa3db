"""`export --final`: the run's final set (rows not rejected by a curator, edits winning) in every format and
output, as a user runs it; LonGen's fields on every row, so `score` reads a JSONL export as it is; the
provenance; the dataset card; and the refusals, which leave nothing behind."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from commands import cli
from curated import make_store_with_accepted_samples, siblings
from selflengthen.errors import InputError
from selflengthen.evaluation.longen import score_item
from selflengthen.export.final import FINAL_FORMATS, final_rows_for_export
from selflengthen.export.writer import OUTPUTS, export_dataset
from selflengthen.finalize.commands import write_longen
from selflengthen.finalize.job import preset_spec, run_finalize
from selflengthen.method.words import count_words

# Written out here, independently of the exporter: each format's columns, then LonGen's, then provenance.
DATA_COLUMNS = {"messages": ["messages"], "prompt-completion": ["prompt", "completion"],
                "alpaca": ["instruction", "input", "output"], "sharegpt": ["conversations"]}
LONGEN = ["type", "constraint", "query", "response", "language"]
PROVENANCE = ["run", "key", "iteration", "source", "sample_id", "type", "constraint", "target", "words", "edited",
              "curator", "decided_at"]


@pytest.fixture(scope="module")
def final_set(tmp_path_factory):
    """A finalized demo run with one row rejected, one query edited and one response edited (exports only
    read it, so the module shares it). Returns the database and what every export must hold."""
    db = tmp_path_factory.mktemp("final") / "f.db"
    store, run, _ = make_store_with_accepted_samples(db, n_instructions=12)
    run_finalize(store, "r", preset_spec("demo"))
    rejected, edited_query, edited_response = store.final_rows(run["id"])[:3]
    query = edited_query["query"] + " Be concrete."
    response = re.sub(r"^\w+", "Honestly", edited_response["response"])  # the same number of words
    store.decide_final_row(rejected["id"], "reject", "ann")
    store.decide_final_row(edited_query["id"], "accept", "ann", query=query)
    store.decide_final_row(edited_response["id"], "accept", "bob", response=response)
    kept = [r for r in store.final_rows(run["id"]) if r["id"] != rejected["id"]]
    store.close()
    return {"db": db, "rejected": rejected["key"], "kept": kept,
            "queries": {edited_query["key"]: query}, "responses": {edited_response["key"]: response}}


def export(final_set, out: Path, *args):
    return cli("export", "--db", final_set["db"], "--name", "r", "--final", "--out", out, *args)


def load(out: Path, output: str) -> list[dict]:
    if output == "jsonl":
        return [json.loads(line) for line in (out / "data.jsonl").read_text(encoding="utf-8").splitlines()]
    if output == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(out / "data.parquet").to_pylist()
    import datasets

    return datasets.load_from_disk(str(out / "data")).to_list()


def turns(fmt: str, row: dict) -> tuple[str, str]:
    """(prompt, answer) of a row, read the way each trainer reads its format."""
    if fmt == "messages":
        return row["messages"][0]["content"], row["messages"][1]["content"]
    if fmt == "prompt-completion":
        return row["prompt"][0]["content"], row["completion"][0]["content"]
    if fmt == "alpaca":
        return row["instruction"], row["output"]
    return row["conversations"][0]["value"], row["conversations"][1]["value"]


# --- every format, every output ------------------------------------------------------------------

# The CLI exports every format as JSONL (what `score` reads) and each other output once; the library, in this
# process, exports the rest of format x output (a CLI call spends ~0.4 s opening the store; twelve add up).
BY_CLI = [*((fmt, "jsonl") for fmt in FINAL_FORMATS), ("messages", "parquet"), ("alpaca", "hf")]


@pytest.fixture(scope="module")
def exports(final_set, tmp_path_factory):
    """{(format, output): (the export's summary, its folder)} for every format and output."""
    from storage import Store

    root, found = tmp_path_factory.mktemp("exports"), {}
    store = Store(final_set["db"])
    for fmt, output in ((fmt, output) for fmt in FINAL_FORMATS for output in OUTPUTS):
        out = root / f"{fmt}-{output}"
        if (fmt, output) in BY_CLI:
            result = export(final_set, out, "--format", fmt, "--as", output, "--json")
            assert result.returncode == 0, result.stderr
            found[fmt, output] = json.loads(result.stdout), out
        else:
            found[fmt, output] = export_dataset(store, "r", fmt=fmt, out_dir=out, output=output,
                                                final=True), out
    store.close()
    return found


def expected_provenance(final_set, stored: dict) -> dict:
    response = final_set["responses"].get(stored["key"], stored["response"])
    return {"run": "r", "key": stored["key"], "iteration": 0, "source": stored["source"],
            "sample_id": stored["sample_id"], "type": stored["type"], "constraint": stored["constraint"],
            "target": [stored["target_low"], stored["target_high"]], "words": count_words(response),
            "edited": stored["key"] in final_set["queries"] or stored["key"] in final_set["responses"],
            "curator": stored["curator"], "decided_at": stored["decided_at"]}


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("fmt", FINAL_FORMATS)
def test_each_format_holds_the_kept_rows_with_edits_winning_and_scores_one(final_set, exports, fmt, output):
    summary, out = exports[fmt, output]
    rows, kept = load(out, output), final_set["kept"]
    assert summary["final"] is True and summary["rows"] == len(rows) == len(kept)
    assert summary["types"] == {t: sum(1 for k in kept if k["type"] == t) for t in summary["types"]}
    assert list(rows[0]) == DATA_COLUMNS[fmt] + LONGEN + ["provenance"]
    assert [r["provenance"]["key"] for r in rows] == [k["key"] for k in kept]
    assert final_set["rejected"] not in {r["provenance"]["key"] for r in rows}
    for row, stored in zip(rows, kept):
        query = final_set["queries"].get(stored["key"], stored["query"])
        response = final_set["responses"].get(stored["key"], stored["response"])
        assert (row["query"], row["response"]) == (query, response)
        assert turns(fmt, row) == (query.strip(), response)
        assert [row[k] for k in ("type", "constraint", "language")] == [stored[k] for k in ("type", "constraint",
                                                                                             "language")]
        assert list(row["provenance"]) == PROVENANCE
        assert row["provenance"] == expected_provenance(final_set, stored)
        assert score_item(row) == 1.0
    if output == "jsonl":  # `score` reads the export as it is
        scored = cli("score", out / "data.jsonl", "--json")
        assert scored.returncode == 0, scored.stderr
        assert json.loads(scored.stdout)["overall"] == 1.0
        assert json.loads(scored.stdout)["counts"]["overall"] == len(kept)


def test_the_edits_are_two_curators_and_both_sources_are_pooled(final_set, exports):
    rows = {r["provenance"]["key"]: r["provenance"] for r in load(exports["messages", "parquet"][1], "parquet")}
    edited = [rows[key] for key in (*final_set["queries"], *final_set["responses"])]
    assert [(o["curator"], o["edited"]) for o in edited] == [("ann", True), ("bob", True)]
    assert sum(o["edited"] for o in rows.values()) == 2
    assert {o["source"] for o in rows.values()} == {"initial", "final"}


def test_the_top_level_fields_are_finalizes_own_longen_file(final_set, tmp_path):
    """One rule: the LonGen fields of an export are exactly what `finalize --out` writes."""
    from storage import Store

    store = Store(final_set["db"])
    run = store.require_run("r")
    write_longen(store.final_rows(run["id"], verdicts=(None, "accept")), tmp_path / "longen.jsonl")
    rows, stats, _ = final_rows_for_export(store, "r", "alpaca")
    store.close()
    items = [json.loads(line) for line in (tmp_path / "longen.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [{k: r[k] for k in LONGEN} for r in rows] == [{k: i[k] for k in LONGEN} for i in items]
    assert [r["provenance"]["target"] for r in rows] == [i["provenance"]["target"] for i in items]
    assert stats["edited"] == 2 and stats["rows"] == len(items) == sum(stats["types"].values())


# --- the card ------------------------------------------------------------------------------------

def test_the_card_says_final_set_settings_and_type_counts_and_loads_as_a_hub_dataset(final_set, exports, tmp_path):
    import datasets

    out = exports["sharegpt", "jsonl"][1]
    card = (out / "README.md").read_text(encoding="utf-8")
    _, header, body = card.split("---\n", 2)
    meta = yaml.safe_load(header)
    assert meta["license"] == "other" and meta["language"] == ["en"]
    assert "final (length-constrained) set" in body and "Rows a curator rejected are left out" in body
    assert "| length bounds | 40 to under 400 words |" in body and "| way | template |" in body
    assert "| type mix | about 0.4, above 0.1, below 0.25, range 0.25 |" in body
    kept = final_set["kept"]
    for kind in ("about", "range", "above", "below"):
        assert f"| {kind} | {sum(1 for k in kept if k['type'] == kind)} |" in body
    assert "`constraint`" in body and "`target`" in body and "--final --format sharegpt" in body
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["sharegpt-jsonl"]["formatting"] == "sharegpt" and info["sharegpt-jsonl"]["file_name"] == "data.jsonl"
    loaded = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.num_rows == len(kept) and "constraint" in loaded.column_names


# --- refusals --------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--format", "alpaca", "--iterations", "0"], "--final exports the final set, which chose its iterations"),
    (["--format", "extender"], "the final set has no extender rows"),
])
def test_what_a_final_export_cannot_do_is_refused_in_one_line_and_writes_nothing(final_set, tmp_path, args,
                                                                                  message):
    result = export(final_set, tmp_path / "out", *args)
    assert result.returncode == 1 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists() and siblings(tmp_path / "out") == []


@pytest.mark.parametrize("reject_all, message", [
    (False, "run 'r' has no final set: run `finalize` first"),
    (True, "nothing to export: every final row of run 'r' was rejected"),
])
def test_a_run_without_final_rows_is_refused_and_writes_nothing(tmp_path, reject_all, message):
    store, run, _ = make_store_with_accepted_samples(tmp_path / "f.db", n_instructions=2)
    if reject_all:
        run_finalize(store, "r", preset_spec("demo"))
        for row in store.final_rows(run["id"]):
            store.decide_final_row(row["id"], "reject", "ann")
    with pytest.raises(InputError) as refused:
        export_dataset(store, "r", fmt="messages", out_dir=tmp_path / "out", final=True)
    store.close()
    assert str(refused.value) == message
    assert not (tmp_path / "out").exists() and siblings(tmp_path / "out") == []
