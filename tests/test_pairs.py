"""Preference pairs from a scripted store: each kind built from what it should be, none across instructions or
iterations, KTO rows from the verdicts, and the `pairs` command writing trl's columns."""

import json

import pytest

from commands import cli
from scripted import reviewed_run
from selflengthen.errors import InputError
from selflengthen.training.pairs import PAIR_KINDS, check_kinds, collect_pairs, kto_rows, preference_pairs


def by_instruction(store, iteration_id=1):
    rows = store.preference_samples(iteration_id)
    groups = {}
    for row in rows:
        groups.setdefault(row["instruction_id"], []).append(row)
    return rows, groups


@pytest.fixture
def decided(store):
    """Run 'r', iteration 0: for one instruction one sample accepted, one rejected and one edited (accepted);
    an accepted sample of another instruction; two expansion attempts on one text, one kept and one failed."""
    reviewed_run(store)
    rows, groups = by_instruction(store)
    first, second = [g for g in groups.values() if len(g) >= 2][:2]
    store.record_decisions([
        {"sample_id": first[0]["sample_id"], "verdict": "accept"},
        {"sample_id": first[1]["sample_id"], "verdict": "reject", "reasons": ["too_short"]},
        {"sample_id": second[0]["sample_id"], "verdict": "accept", "edited_text": "A curator's better text."},
    ], user="ann")
    source = first[0]["initial_response"]
    store.save_expansion([], [
        {"sample_id": first[0]["sample_id"], "round": round_, "source_text": source, "first_half": source[:10],
         "separator": "\n\n", "stage1": None, "stage2": None, "result": result, "words_before": 5,
         "words_after": 9, "attempts": 1, "kept": kept, "gates": []}
        for round_, result, kept in ((1, "A failed attempt.", 0), (2, "A kept, longer attempt.", 1))])
    return store, first, second


def test_each_kind_is_built_from_what_it_names(decided):
    store, first, second = decided
    samples, attempts = store.preference_samples(1), store.expansion_attempts(1)
    pairs = preference_pairs(samples, attempts)
    kinds = {k: [p for p in pairs if p["kind"] == k] for k in PAIR_KINDS}
    rejected = {first[1]["sample_id"]}
    expanded = [s for s in samples if s["final_expansion"] and s["sample_id"] not in rejected
                and s["final_expansion"].strip() != s["initial_response"].strip()]
    assert len(kinds["expansion"]) == len(expanded) > 0
    for pair in kinds["expansion"]:
        sample = next(s for s in samples if s["sample_id"] == pair["chosen_sample"])
        assert pair["chosen"][0]["content"] == sample["final_expansion"]
        assert pair["rejected"][0]["content"] == sample["initial_response"]
        assert pair["prompt"][-1]["content"].strip() == sample["instruction"].strip()
    [edit] = kinds["edit"]
    edited = second[0]
    assert edit["chosen"][0]["content"] == "A curator's better text." and edit["chosen_sample"] == edited["sample_id"]
    assert edit["rejected"][0]["content"] == (edited["final_expansion"] or edited["initial_response"])
    [verdict] = kinds["verdict"]
    assert (verdict["chosen_sample"], verdict["rejected_sample"]) == (first[0]["sample_id"], first[1]["sample_id"])
    [attempt] = kinds["attempt"]
    assert (attempt["chosen"][0]["content"], attempt["rejected"][0]["content"]) == (
        "A kept, longer attempt.", "A failed attempt.")
    assert first[0]["initial_response"] in attempt["prompt"][-1]["content"]  # the extender's prompt on that text
    assert {p["iteration_id"] for p in pairs} == {1}


def test_no_verdict_pair_crosses_instructions(decided):
    store, first, second = decided
    store.record_decisions([{"sample_id": second[1]["sample_id"], "verdict": "reject", "reasons": ["other"]}],
                           user="bob")
    pairs = preference_pairs(store.preference_samples(1), kinds=["verdict"])
    instruction = {s["sample_id"]: s["instruction_id"] for s in store.preference_samples(1)}
    assert len(pairs) == 2
    assert all(instruction[p["chosen_sample"]] == instruction[p["rejected_sample"]] == p["instruction_id"]
               for p in pairs)


def test_a_rejected_sample_gives_no_expansion_pair_and_kto_labels_follow_the_verdicts(decided):
    store, first, second = decided
    samples = store.preference_samples(1)
    chosen = {p["chosen_sample"] for p in preference_pairs(samples, kinds=["expansion"])}
    assert first[1]["sample_id"] not in chosen
    rows = kto_rows(samples)
    assert sorted((r["sample_id"], r["label"]) for r in rows) == sorted(
        [(first[0]["sample_id"], True), (first[1]["sample_id"], False), (second[0]["sample_id"], True)])
    assert next(r for r in rows if r["sample_id"] == second[0]["sample_id"])["completion"][0]["content"] == \
        "A curator's better text."


def test_pairs_stay_in_their_iteration(decided):
    store, first, second = decided
    run = store.get_run("r")
    store.create_iteration(run["id"], 1, "m", "m", store.latest_iteration(run["id"])["config"])
    rows, counts = collect_pairs(store, "r")
    assert set(counts) == {0, 1} and sum(counts[1].values()) == 0
    assert {r["iteration"] for r in rows} == {0}
    with pytest.raises(InputError, match="run 'r' has no iteration 7"):
        collect_pairs(store, "r", [7])
    with pytest.raises(InputError, match="unknown pair kind sideways"):
        check_kinds(["edit", "sideways"])


def test_the_pairs_command_writes_trl_columns(decided, tmp_path):
    store, first, second = decided
    out = tmp_path / "pairs.jsonl"
    summary = json.loads(cli("pairs", "--db", store.path, "--name", "r", "--out", out, "--json", check=True).stdout)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary["rows"] == len(rows) > 0 and summary["per_iteration"]["0"]["edit"] == 1
    assert all({"prompt", "chosen", "rejected", "kind", "iteration", "chosen_sample"} <= set(r) for r in rows)
    kto = tmp_path / "kto.jsonl"
    cli("pairs", "--db", store.path, "--name", "r", "--kto", "--out", kto, check=True)
    labels = [json.loads(line)["label"] for line in kto.read_text().splitlines()]
    assert sorted(labels) == [False, True, True]
    again = cli("pairs", "--db", store.path, "--name", "r", "--out", out)
    assert again.returncode == 1 and "exists" in again.stderr and len(out.read_text().splitlines()) == len(rows)  # refused, file untouched


def test_the_export_writes_every_pair_with_its_provenance_and_a_card(decided, tmp_path):
    from selflengthen.export.writer import export_dataset

    store, first, second = decided
    expected, counts = collect_pairs(store, "r")
    result = export_dataset(store, "r", fmt="pairs", out_dir=tmp_path / "p", license="apache-2.0")
    rows = [json.loads(line) for line in (tmp_path / "p" / "data.jsonl").read_text().splitlines()]
    assert result["rows"] == len(rows) == len(expected) > 0
    assert [(r["prompt"], r["chosen"], r["rejected"]) for r in rows] == \
        [(e["prompt"], e["chosen"], e["rejected"]) for e in expected]  # the rows the preference step trains on
    assert set(rows[0]) == {"prompt", "chosen", "rejected", "provenance"}
    edit = next(r for r in rows if r["provenance"]["kind"] == "edit")
    assert edit["provenance"] == {"run": "r", "iteration": 0, "kind": "edit", "language": "en",
                                  "instruction_id": second[0]["instruction_id"],
                                  "chosen_sample": second[0]["sample_id"], "rejected_sample": second[0]["sample_id"]}
    card = (tmp_path / "p" / "README.md").read_text()
    header = "| iteration | rows | expansion | edit | verdict | attempt |"
    assert header in card and "`attempt`: an expansion attempt that was kept" in card
    assert f"| 0 | {len(rows)} | {counts[0]['expansion']} | 1 | 1 | 1 |" in card


def test_the_kto_export_labels_each_decided_sample_and_an_empty_one_writes_nothing(decided, tmp_path):
    from selflengthen.export.writer import export_dataset

    store, first, second = decided
    export_dataset(store, "r", fmt="kto", out_dir=tmp_path / "k", output="parquet")
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "k" / "data.parquet").to_pylist()
    assert sorted(r["label"] for r in table) == [False, True, True]
    assert {r["provenance"]["sample_id"] for r in table} == {first[0]["sample_id"], first[1]["sample_id"],
                                                            second[0]["sample_id"]}
    reviewed_run(store, name="fresh")  # decided by nobody: no verdicts, no pairs of curators
    with pytest.raises(InputError, match="nothing to export as kto: no decided samples"):
        export_dataset(store, "fresh", fmt="kto", out_dir=tmp_path / "empty")
    assert not (tmp_path / "empty").exists()
    with pytest.raises(InputError, match="the final set has no pairs rows"):
        export_dataset(store, "r", fmt="pairs", out_dir=tmp_path / "f", final=True)


def test_the_export_tab_previews_pairs_per_kind(decided, tmp_path):
    from types import SimpleNamespace

    from ui.export import preview

    store, first, second = decided
    studio = SimpleNamespace(store=store, db_path=store.path)
    table, sample, message = preview(studio, "r", [0], "pairs")
    assert list(table.columns[:6]) == ["iteration", "rows", "expansion", "edit", "verdict", "attempt"]
    assert table["edit"].tolist() == [1] and message == f"{int(table['rows'].iloc[0])} rows."
    assert json.loads(sample.split("\n}\n")[0] + "\n}")["provenance"]["run"] == "r"
