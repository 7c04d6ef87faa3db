"""Dataset export: every format in every output, loaded back with `datasets`; provenance, statistics, the
card and the LLaMA-Factory file; the arguments. Refusals: test_export_refusals.py; trl: test_export_training.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from curated import EDIT, accepted_by_iteration, curated_store, siblings, snapshot_names
from selflengthen.errors import InputError
from selflengthen.export.formats import PROVENANCE_KEYS, word_stats
from selflengthen.export.pairs import PAIR_FORMATS
from selflengthen.export.writer import FORMATS, OUTPUTS, export_command, export_dataset, export_rows, parse_iterations
from selflengthen.jobs.commands import shown
from selflengthen.method.expand import build_expand_prompt
from selflengthen.method.generate import build_response_prompt
from selflengthen.method.words import count_words

DATA_COLUMNS = {"messages": ["messages"], "prompt-completion": ["prompt", "completion"],
                "alpaca": ["instruction", "input", "output"], "sharegpt": ["conversations"],
                "extender": ["prompt", "completion"], "dpo": ["prompt", "chosen", "rejected"]}


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """(store, ids, expected): exports only read the store, so one is shared by the module."""
    store, ids = curated_store(tmp_path_factory.mktemp("curated") / "studio.db")
    return store, ids, accepted_by_iteration(store)


def expected_columns(fmt: str, sample: dict) -> dict:
    """The data columns each format must hold, written out independently of the exporter."""
    instruction = sample["instruction"].strip()
    user = [{"role": "user", "content": instruction}]
    answer = [{"role": "assistant", "content": sample["final_text"]}]
    return {
        "messages": {"messages": user + answer},
        "prompt-completion": {"prompt": user, "completion": answer},
        "alpaca": {"instruction": instruction, "input": "", "output": sample["final_text"]},
        "sharegpt": {"conversations": [{"from": "human", "value": instruction},
                                       {"from": "gpt", "value": sample["final_text"]}]},
        "extender": {"prompt": list(build_expand_prompt(sample["instruction"], sample["initial_response"],
                                                        sample["language"]).messages), "completion": answer},
        "dpo": {"prompt": user, "chosen": answer,
                "rejected": [{"role": "assistant", "content": sample["initial_response"]}]},
    }[fmt]


def load(result: dict, cache: Path):
    import datasets

    path = Path(result["path"])
    if result["output"] == "hf":
        return datasets.load_from_disk(str(path / "data"))
    kind, name = {"jsonl": ("json", "data.jsonl"), "parquet": ("parquet", "data.parquet")}[result["output"]]
    return datasets.load_dataset(kind, data_files=str(path / name), split="train", cache_dir=str(cache))




# --- every format, every output --------------------------------------------------------------------

@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("fmt", [f for f in FORMATS if f not in PAIR_FORMATS])  # pairs: tests/test_pairs.py
def test_each_format_loads_back_with_the_accepted_samples_only(curated, tmp_path, fmt, output):
    store, ids, expected = curated
    result = export_dataset(store, "r", fmt=fmt, out_dir=tmp_path / "out", output=output)
    dataset = load(result, tmp_path / "cache")
    assert dataset.column_names == DATA_COLUMNS[fmt] + ["provenance"]
    assert list(dataset.features["provenance"]) == list(PROVENANCE_KEYS)
    samples = [s for idx in (0, 1) for s in expected[idx]
               if fmt != "dpo" or s["sample_id"] != ids["no_expansion"]]
    rows = dataset.to_list()
    assert [r["provenance"]["sample_id"] for r in rows] == [s["sample_id"] for s in samples]
    assert [{k: r[k] for k in DATA_COLUMNS[fmt]} for r in rows] == [expected_columns(fmt, s) for s in samples]
    assert not {r["provenance"]["sample_id"] for r in rows} & set(ids["excluded"])
    edited = next(r for r in rows if r["provenance"]["sample_id"] == ids["edited"])
    edited_sample = next(s for s in samples if s["sample_id"] == ids["edited"])
    assert {k: edited[k] for k in DATA_COLUMNS[fmt]} == expected_columns(fmt, {**edited_sample, "final_text": EDIT})
    assert edited["provenance"]["edited"] is True
    assert (result["rows"], result["skipped"]) == (len(samples), 1 if fmt == "dpo" else 0)
    assert (result["format"], result["output"], result["pushed"], result["path"]) == (
        fmt, output, None, str((tmp_path / "out").resolve()))
    assert result["files"] == snapshot_names(tmp_path / "out") and "README.md" in result["files"]
    assert siblings(tmp_path / "out") == []


def test_provenance_names_the_iteration_models_gates_and_deciding_curator(curated, tmp_path):
    store, ids, _ = curated
    rows, _ = export_rows(store, "r", None, "messages")
    by_id = {r["provenance"]["sample_id"]: r["provenance"] for r in rows}
    edited = by_id[ids["edited"]]
    decision = store.decision_history(ids["edited"])[-1]
    sample = store.get_sample(ids["edited"])
    assert edited == {"run": "r", "iteration": 0, "sample_id": ids["edited"], "generator_checkpoint": "m",
                      "extender_checkpoint": "m", "gates": edited["gates"], "curator": "bob",
                      "decided_at": decision["created_at"], "edited": True}
    assert json.loads(edited["gates"]) == sample["gates"] and sample["gates"]
    assert by_id[ids["accepted"][3]]["curator"] == "bob"  # rejected by ann, then accepted by bob
    assert by_id[ids["accepted"][0]]["curator"] == "ann" and by_id[ids["accepted"][0]]["edited"] is False
    later = by_id[ids["second"][0]]
    assert (later["iteration"], later["generator_checkpoint"], later["extender_checkpoint"], later["curator"]) == (
        1, "gen-1", "ext-1", "cy")


def test_the_user_turn_is_the_generate_stages_prompt(curated):
    store, _, expected = curated
    rows, _ = export_rows(store, "r", [0], "messages")
    assert rows[0]["messages"][:-1] == list(build_response_prompt(expected[0][0]["instruction"]).messages)


def test_export_samples_agree_with_the_training_data(curated):
    store, ids, expected = curated
    run = store.require_run("r")
    for iteration in store.list_iterations(run["id"]):
        exported = store.export_samples(iteration["id"])
        keys = ("sample_id", "instruction", "initial_response", "final_expansion", "final_text", "edited", "language")
        assert [{k: s[k] for k in keys} for s in exported] == [{k: s[k] for k in keys}
                                                              for s in expected[iteration["idx"]]]
        assert all(s["final_words"] == count_words(s["final_text"]) for s in exported)
        assert all(isinstance(s["gates"], dict) for s in exported)
    edited = next(s for s in store.export_samples(store.get_sample(ids["edited"])["iteration_id"])
                  if s["sample_id"] == ids["edited"])
    assert (edited["final_text"], edited["final_words"]) == (EDIT, count_words(EDIT))


@pytest.mark.slow
def test_trl_recognises_the_conversational_formats(curated):
    from trl.data_utils import is_conversational, is_conversational_from_value

    store, _, _ = curated
    for fmt in ("messages", "prompt-completion", "extender", "dpo"):
        rows, _ = export_rows(store, "r", None, fmt)
        assert is_conversational(rows[0]), fmt
    rows, _ = export_rows(store, "r", None, "sharegpt")
    assert is_conversational_from_value(rows[0])


# --- statistics, card, LLaMA-Factory ------------------------------------------------------------------

def test_stats_count_rows_edits_and_skips_per_iteration(curated):
    store, ids, expected = curated
    rows, stats = export_rows(store, "r", None, "dpo")
    pairs = [s for s in expected[0] if s["sample_id"] != ids["no_expansion"]]
    first = stats["per_iteration"][0]
    assert (first["rows"], first["edited"], first["skipped"]) == (3, 1, 1)
    assert first["words"] == word_stats([count_words(s["final_text"]) for s in pairs])
    assert first["initial_words"] == word_stats([count_words(s["initial_response"]) for s in pairs])
    assert (stats["rows"], stats["skipped"], stats["per_iteration"][1]["rows"]) == (5, 1, 2) == (len(rows), 1, 2)
    _, only_second = export_rows(store, "r", [1], "messages")
    assert list(only_second["per_iteration"]) == [1] and only_second["rows"] == 2


def test_the_card_has_counts_lengths_licence_and_loads_as_a_hub_dataset(curated, tmp_path):
    import datasets

    store, _, _ = curated
    result = export_dataset(store, "r", fmt="alpaca", out_dir=tmp_path / "out", license="apache-2.0")
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    _, header, body = card.split("---\n", 2)
    meta = yaml.safe_load(header)
    assert meta["license"] == "apache-2.0" and meta["language"] == ["en"]
    assert meta["tags"] == ["self-lengthen", "long-form-generation"] and meta["task_categories"] == ["text-generation"]
    assert meta["size_categories"] == ["n<1K"]
    assert meta["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "data.jsonl"}]}]
    assert "| 0 | 4 | 1 | 0 |" in body and "| 1 | 2 | 0 | 0 |" in body
    words = result["per_iteration"][0]["words"]
    assert f"| 0 | {words['mean']} | {words['median']} | {words['min']} | {words['max']} |" in body
    assert "License: apache-2.0." in body
    assert "`provenance`" in body and "`decided_at`" in body and '"preset": "demo"' in body
    assert "python -m selflengthen export --db" in body
    loaded = datasets.load_dataset(str(tmp_path / "out"), split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.num_rows == result["rows"]


def test_run_text_cannot_break_the_card():
    from selflengthen.export.card import build_card

    stats = {"rows": 1, "skipped": 0, "per_iteration": {0: {
        "rows": 1, "edited": 0, "skipped": 0, "words": word_stats([5]), "initial_words": word_stats([3])}}}
    run = {"name": "a|b\n# x", "config": {"note": "```\nend"}, "generator_model": "g|1", "extender_model": "<e>"}
    card = build_card(run=run, fmt="dpo", output="jsonl", iterations=[0], stats=stats,
                      license='x"\nlicense: mit', languages=["en"], data_files="data.jsonl",
                      command="python -m selflengthen export --name 'a|b\n```'", exported_at="t")
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["license"] == 'x"\nlicense: mit'
    assert "a\\|b \\# x" in card and "g\\|1" in card and "\\<e\\>" in card
    # The command's own ``` line stays inside its block: the fences around it are longer.
    fences = [line for line in card.splitlines() if line.startswith("```")]
    assert fences == ["````json", "````", "````bash", "```'", "````"]
    assert all(line.count("|") - line.count("\\|") in (5, 10) for line in card.splitlines() if line.startswith("|"))


@pytest.mark.parametrize("fmt, formatting", [("alpaca", "alpaca"), ("sharegpt", "sharegpt")])
@pytest.mark.parametrize("output", OUTPUTS)
def test_llamafactory_dataset_info_points_at_the_data(curated, tmp_path, fmt, formatting, output):
    import datasets

    store, _, _ = curated
    result = export_dataset(store, "r", fmt=fmt, out_dir=tmp_path / "lf", output=output)
    info = json.loads((tmp_path / "lf" / "dataset_info.json").read_text(encoding="utf-8"))
    entry = info["lf"]
    assert entry["formatting"] == formatting and (tmp_path / "lf" / entry["file_name"]).is_file()
    kind = {"jsonl": "json", "parquet": "parquet", "hf": "arrow"}[output]
    data = datasets.load_dataset(kind, data_files=str(tmp_path / "lf" / entry["file_name"]), split="train",
                                 cache_dir=str(tmp_path / "cache"))
    assert data.num_rows == result["rows"]
    if fmt == "alpaca":
        assert entry["columns"] == {"prompt": "instruction", "query": "input", "response": "output"}
        assert set(entry["columns"].values()) <= set(data.column_names)
    else:
        assert entry["columns"] == {"messages": "conversations"}
        assert entry["tags"] == {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                                 "assistant_tag": "gpt"}
        turn = data[0]["conversations"]
        assert [t["from"] for t in turn] == ["human", "gpt"]


def test_other_formats_have_no_dataset_info(curated, tmp_path):
    store, _, _ = curated
    result = export_dataset(store, "r", fmt="messages", out_dir=tmp_path / "m")
    assert result["files"] == ["README.md", "data.jsonl"]


# --- arguments ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [("0, 2", [0, 2]), ("1", [1]), ("2,0,2", [0, 2]), (None, None),
                                            ("", None), ("  ", None)])
def test_parse_iterations(text, expected):
    assert parse_iterations(text) == expected


@pytest.mark.parametrize("text", ["a", "1,,2", "-1", "1.5", "0;1"])
def test_parse_iterations_refuses_bad_text(text):
    with pytest.raises(InputError, match="comma-separated whole numbers"):
        parse_iterations(text)


def test_export_command_is_what_the_cli_parses():
    from selflengthen.cli import _parser

    command = export_command("s.db", "my run", iterations=[0, 1], fmt="dpo", out_dir="out dir", output="hf",
                             overwrite=True, license="mit", push_to_hub="me/data")
    assert shown(command) == ("python -m selflengthen export --db s.db --name 'my run' --iterations 0,1 --format dpo "
                              "--out 'out dir' --as hf --overwrite --license mit --push-to-hub me/data")
    args = _parser().parse_args(command[3:])
    assert (args.name, args.iterations, args.format, args.out, args.output, args.overwrite, args.license,
            args.push_to_hub) == ("my run", "0,1", "dpo", "out dir", "hf", True, "mit", "me/data")


def test_the_cli_offers_every_export_format_and_output():
    """The CLI spells the choices out (its --help imports no exporter); they must stay the writer's."""
    from selflengthen.cli import _parser

    export = next(a for a in _parser()._subparsers._group_actions[0].choices.values() if a.prog.endswith(" export"))
    choices = {a.dest: a.choices for a in export._actions}
    assert tuple(choices["format"]) == FORMATS and tuple(choices["output"]) == OUTPUTS
