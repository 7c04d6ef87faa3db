"""The presets a user picks from, and the commands that show what they mean: `config` prints every resolved
field, `gates` shows every gate's verdict on texts of one's own."""

from __future__ import annotations

import json

import pytest

from selflengthen.cli import main
from selflengthen.config import PRESETS, preset_config
from selflengthen.method.templates import bundled


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_config_prints_the_fully_resolved_preset_as_json(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "config", "--preset", "paper", "--json")
    config = json.loads(out)
    assert code == 0 and config == preset_config("paper").to_dict()
    assert (config["expand"]["mode"], config["expand"]["per_response"], config["sampling"]["stop"]) == (
        "attempts", 2, ["---", "\n---", "\n\n---", "\n\n\n"])
    assert config["prompts"]["templates"] == "paper" and config["prompts"]["text"] == bundled("paper")
    overrides = tmp_path / "small.json"
    overrides.write_text(json.dumps({"preset": "paper", "augment": {"n_instructions": 8}}))
    _, out, _ = run_cli(capsys, "config", "--config", overrides, "--json")
    assert json.loads(out)["augment"]["n_instructions"] == 8 and json.loads(out)["preset"] == "paper"


def test_config_lists_every_field_with_its_help(capsys):
    code, out, _ = run_cli(capsys, "config", "--preset", "default")
    lines = out.splitlines()
    assert code == 0 and 'expand.mode = "rounds"  # rounds: each of `rounds` rounds' in out
    assert any(line.startswith("prompts.text = expand_en, expand_zh, generate, ") for line in lines)
    assert all(" = " in line and "  # " in line for line in lines)


def test_config_refuses_a_clash_and_an_unknown_preset(capsys, tmp_path):
    overrides = tmp_path / "c.json"
    overrides.write_text(json.dumps({"preset": "demo"}))
    code, _, err = run_cli(capsys, "config", "--preset", "paper", "--config", overrides)
    assert code == 1 and err.strip() == "error: the config file says preset 'demo' but --preset is 'paper'"
    assert run_cli(capsys, "config", "--preset", "huge")[2].startswith("error: unknown preset 'huge'")


def test_every_preset_builds(capsys):
    assert set(PRESETS) == {"default", "paper", "demo"}
    for name in PRESETS:
        assert preset_config(name).preset == name


GATE_LINES = [
    {"text": "A list ends with a comma,"},
    {"text": "我们走吧!", "stage": "expand"},
    {"text": "Here is the revised version.\n\nBees.", "language": "en", "stage": "stage1"},
    {"text": "Here is the revised version.\n\nBees."},
]


@pytest.mark.parametrize("preset, verdicts", [
    ("default", [False, True, True, True]),
    ("paper", [True, False, True, False]),  # paper: wide English endings, no ASCII "!" in Chinese, meta talk
])
def test_gates_gives_every_gates_verdict_per_line(capsys, tmp_path, preset, verdicts):
    path = tmp_path / "texts.jsonl"
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in GATE_LINES), encoding="utf-8")
    code, out, _ = run_cli(capsys, "gates", path, "--preset", preset, "--json")
    results = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["passed"] for r in results] == verdicts
    assert [g["gate"] for g in results[1]["gates"]][:2] == ["stage2_non_empty", "stage2_not_truncated"]
    if preset == "paper":
        assert results[2] == {"passed": True, "gates": []}  # the paper preset does not gate stage 1
        assert results[3]["gates"][-1] == {"gate": "no_meta_talk", "passed": False,
                                           "reason": "says 'revised' in its first or last lines"}
    _, text, _ = run_cli(capsys, "gates", path, "--preset", preset)
    assert text.splitlines()[0] == (f"{path}:1: pass" if verdicts[0] else
                                    f"{path}:1: ends_with_punctuation: ends with 'ith a comma,'")


@pytest.mark.parametrize("line, message", [
    ('{"language": "en"}', "field 'text' must be a string"),
    ('{"text": "Hi.", "language": "fr"}', "field 'language' must be en or zh"),
    ('{"text": "Hi.", "stage": "judge"}', "field 'stage' must be one of generate, stage1, expand"),
    ('["Hi."]', "expected a JSON object, got list"),
])
def test_gates_refuses_a_bad_line_naming_it(capsys, tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "Fine."}\n' + line + "\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "gates", path, "--json")
    assert code == 1 and err.startswith(f"error: {path}:2: ") and message in err


def test_init_without_seeds_starts_a_paper_run_from_the_english_and_chinese_ones(capsys, tmp_path):
    from storage import Store

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    db = tmp_path / "runs.db"
    code, out, _ = run_cli(capsys, "init", "--db", db, "--name", "p", "--model", model, "--preset", "paper")
    assert code == 0 and out.strip() == "run 'p' created with 20 seed instructions (paper preset)"
    code, out, _ = run_cli(capsys, "init", "--db", db, "--name", "d", "--model", model, "--preset", "demo")
    assert out.strip() == "run 'd' created with 10 seed instructions (demo preset)"
    store = Store(db)
    languages = [i["language"] for i in store.iteration_instructions(store.latest_iteration(store.get_run("p")["id"])["id"])]
    assert sorted(set(languages)) == ["en", "zh"] and languages.count("zh") == 10
