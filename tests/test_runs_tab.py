"""Runs tab handlers on a real store: creating runs from pasted or uploaded seeds, every bad input refused with a
message naming the problem and nothing stored, the command-line twin, opening runs, status and sample tables."""

import json
import re

import pytest

from scripted import reviewed_run
from selflengthen import cli
from selflengthen.config import preset_config
from studios import studio_for
from ui.runs import (MAX_SEED_BYTES, create_run, effective_config, open_row, open_run, preview_command,
                     run_list_rows, sample_detail, sample_rows, status_rows)

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"
SEEDS = "Write a story about rain.\nDescribe a busy harbour at dawn.\n\nExplain how bridges stand."


def plain(message: str) -> str:
    """A Markdown message without its backslash escapes."""
    return re.sub(r"\\(.)", r"\1", message)


@pytest.fixture
def model_dir(tmp_path):
    """A folder that passes check_model (a transformers model folder has a config.json)."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return folder


@pytest.fixture
def studio(store, model_dir):
    store.create_run("existing", str(model_dir), str(model_dir), "transformers", "demo",
                     preset_config("demo").to_dict(), [{"text": "Write about the sea.", "language": "en"}])
    return studio_for(store)


def form(model_dir, **changes) -> dict:
    values = {"name": "alpha", "generator": str(model_dir), "extender": "", "backend": "transformers",
              "preset": "demo", "seeds_file": None, "seeds_text": SEEDS, "config_text": "{}"}
    return {**values, **changes}


def stored_counts(store) -> dict:
    return {table: store.one(f"SELECT count(*) AS n FROM {table}")["n"]
            for table in ("runs", "iterations", "instructions", "jobs")}


def test_create_run_from_pasted_seeds_switches_the_run_picker(studio, model_dir):
    values = form(model_dir, seeds_text=SEEDS + "\nWrite a story about rain.",
                  config_text='{"generate": {"max_new_tokens": 64}}')
    message, rows, picker, open_name = create_run(studio, *values.values())
    assert message == "run 'alpha' created with 3 seed instructions (demo preset)"
    assert picker["value"] == "alpha" and picker["choices"] == ["existing", "alpha"]
    assert open_name["value"] == "alpha"
    assert [r[0] for r in rows] == ["existing", "alpha"] and rows[1][4:6] == [1, "created"]
    run = studio.store.get_run("alpha")
    assert run["generator_model"] == run["extender_model"] == str(model_dir.resolve())
    assert run["config"]["generate"]["max_new_tokens"] == 64 and run["config"]["expand"]["rounds"] == 1
    pool = studio.store.instruction_pool(run["id"])
    assert [p["text"] for p in pool] == ["Write a story about rain.", "Describe a busy harbour at dawn.",
                                         "Explain how bridges stand."]


def test_create_run_from_an_uploaded_jsonl_file(studio, model_dir, tmp_path):
    seeds = tmp_path / "my-seeds.jsonl"
    seeds.write_text('\ufeff{"instruction": "写一首关于春天的诗。"}\n'
                     '{"instruction": "Describe a city.", "language": "en"}\n', encoding="utf-8")
    values = form(model_dir, name="beta", extender="Qwen/Qwen2.5-0.5B-Instruct", backend="openai",
                  preset="paper", seeds_file=str(seeds), seeds_text="")
    message = create_run(studio, *values.values())[0]
    assert message == "run 'beta' created with 2 seed instructions (paper preset)"
    run = studio.store.get_run("beta")
    assert (run["backend"], run["preset"], run["extender_model"]) == ("openai", "paper", "Qwen/Qwen2.5-0.5B-Instruct")
    assert [(p["text"], p["language"]) for p in studio.store.instruction_pool(run["id"])] == [
        ("写一首关于春天的诗。", "zh"), ("Describe a city.", "en")]


def _write(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


BAD_INPUTS = {
    "bad JSON line": (lambda tmp: {"seeds_text": '{"instruction": "Write a long story."}\n{"instruction": oops}'},
                      "pasted seeds:2: invalid JSON"),
    "wrong field": (lambda tmp: {"seeds_text": '{"prompt": "Write a long story."}'},
                    "pasted seeds:1: field 'instruction' is missing"),
    "blank seed file": (lambda tmp: {"seeds_text": "", "seeds_file": _write(tmp, "blank.txt", b"\n\n")},
                        "blank.txt: no instructions found"),
    "seeds twice": (lambda tmp: {"seeds_file": _write(tmp, "s.txt", b"Write a poem.\n")}, "not both"),
    "binary file": (lambda tmp: {"seeds_text": "", "seeds_file": _write(tmp, "pic.png", b"\x89PNG\r\n\x1a\n\0\0\0")},
                    "pic.png: looks like a binary file"),
    "not UTF-8": (lambda tmp: {"seeds_text": "", "seeds_file": _write(tmp, "latin.txt", b"Write a poem.\nCaf\xe9\n")},
                  "latin.txt:2: not valid UTF-8 (byte 0xe9 at file offset 17)"),
    "oversize file": (lambda tmp: {"seeds_text": "",
                                   "seeds_file": _write(tmp, "big.txt", b"Write.\n" * (MAX_SEED_BYTES // 7 + 1))},
                      "big.txt: 20.0 MB is over the 20 MB limit"),
    "config not JSON": (lambda tmp: {"config_text": '{"generate": '}, "config: invalid JSON"),
    "config not an object": (lambda tmp: {"config_text": "[1, 2]"}, "config: expected a JSON object, got list"),
    "unknown config key": (lambda tmp: {"config_text": '{"generate": {"max_tokens": 5}}'},
                           "unknown config key 'generate.max_tokens'"),
    "wrong type": (lambda tmp: {"config_text": '{"generate": {"max_new_tokens": "many"}}'},
                   "generate.max_new_tokens must be int (got 'many')"),
    "section not an object": (lambda tmp: {"config_text": '{"generate": 5}'}, "generate must be a JSON object"),
    "bad template": (lambda tmp: {"config_text": '{"prompts": {"text": {"expand_en": "Longer: {response}"}}}'},
                     "prompts.template expand_en: missing placeholder {prompt}"),
    "unknown placeholder": (lambda tmp: {"config_text": '{"prompts": {"text": {"judge_en": "OK? {prompt} {lang}"}}}'},
                            "prompts.template judge_en: unknown placeholder {lang}"),
    "out-of-range value": (lambda tmp: {"config_text": '{"generate": {"max_new_tokens": 0}}'},
                           "generate.max_new_tokens must be >= 1 (got 0)"),
    "preset clash": (lambda tmp: {"config_text": '{"preset": "paper"}'}, "the config says preset 'paper'"),
    "duplicate name": (lambda tmp: {"name": " existing "}, "a run named 'existing' already exists"),
    "empty name": (lambda tmp: {"name": "  "}, "give the run a name"),
    "missing model path": (lambda tmp: {"generator": "./no/such/model"},
                           "generator model: model path not found: ./no/such/model"),
    "extender not a model": (lambda tmp: {"extender": str(tmp)}, "extender model: model path"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gives_a_clear_message_and_stores_nothing(studio, model_dir, tmp_path, case):
    changes, expected = BAD_INPUTS[case]
    before, runs_before = stored_counts(studio.store), studio.store.list_runs()
    message, *updates = create_run(studio, *form(model_dir, **changes(tmp_path)).values())
    assert plain(message).startswith("error: ") and expected in plain(message)
    assert "\n" not in message and "Traceback" not in message
    assert updates == [{"__type__": "update"}] * 3  # list, picker and open-picker left as they are
    assert stored_counts(studio.store) == before and studio.store.list_runs() == runs_before


def test_command_preview_is_the_init_twin(studio, model_dir, tmp_path, monkeypatch):
    text = '{"instruction": "Write a story about rain."}\n{"instruction": "Describe a harbour."}'
    overrides = '{"seed": 3, "generate": {"max_new_tokens": 64}}'
    command = preview_command("data/studio.db", "my run", str(model_dir), "", "transformers", "paper", None, text,
                              overrides)
    assert command == (f"python -m selflengthen init --db data/studio.db --name 'my run' --model {model_dir}"
                       " --seeds seeds.jsonl --preset paper --backend transformers --config config.json")
    upload = _write(tmp_path, "prompts.txt", b"Write a poem.\n")
    assert "--seeds prompts.txt --preset demo --backend vllm" in preview_command(
        "x.db", "", "", "./ext", "vllm", "demo", upload, "", "{}")
    assert preview_command("x.db", "", "", "", "openai", "demo", None, "", "").endswith(
        "--name NAME --model MODEL --preset demo --backend openai")  # no seeds given: init takes the bundled ones

    # Running the shown command on the same seeds and config gives the run the dashboard creates.
    create_run(studio, "my run", str(model_dir), "", "transformers", "paper", None, text, overrides)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "seeds.jsonl").write_text(text)
    (tmp_path / "config.json").write_text(overrides)
    args = command.split(" ")[3:]
    args[args.index("'my") : args.index("run'") + 1] = ["twin"]
    args[args.index("--db") + 1] = str(studio.db_path)
    assert cli.main(args) == 0
    ui_run, cli_run = studio.store.get_run("my run"), studio.store.get_run("twin")
    assert ui_run["config"] == cli_run["config"] and ui_run["generator_model"] == cli_run["generator_model"]
    assert ([p["text"] for p in studio.store.instruction_pool(ui_run["id"])]
            == [p["text"] for p in studio.store.instruction_pool(cli_run["id"])])


def test_effective_config_shows_the_merged_preset_or_the_error():
    config = json.loads(effective_config("demo", "vllm", '{"generate": {"max_new_tokens": 99}}'))
    assert config["generate"]["max_new_tokens"] == 99 and config["backend"]["name"] == "vllm"
    assert config["augment"]["n_instructions"] == 16  # from the demo preset
    assert effective_config("demo", "vllm", '{"expand": {"growth": 0.5}}') == (
        "// error: expand.growth must be >= 1.0 (got 0.5)")


def test_open_run_sets_the_run_picker(studio):
    picker, message = open_run(studio, "existing")
    assert picker["value"] == "existing" and message == "opened run 'existing'"
    assert open_row(studio, ["existing", "demo"])[0]["value"] == "existing"
    picker, message = open_run(studio, "ghost")
    assert picker == {"__type__": "update"} and message == "error: no run named 'ghost'"
    assert open_run(studio, None)[1] == "pick a run to open"


def test_status_and_sample_tables_show_counts_and_raw_text(tmp_path, store):
    reviewed_run(store, seeds=(f"Write about {XSS} and the sea.", "Explain how cities grow over the centuries."))
    [row] = status_rows(store, "r")
    assert row[:4] == [0, "review", 4, 8]
    assert run_list_rows(store)[0][:6] == ["r", "demo", "transformers", "m", 1, "review"]
    samples = sample_rows(store, "r")
    assert len(samples) == 8
    instruction, initial, half, stage1, final = sample_detail(studio_for(store), samples[0][0])
    assert XSS in instruction  # returned as plain text for a Textbox, not rendered
    assert final.startswith(stage1) and initial.startswith(half)
    assert status_rows(store, "missing") == [] and sample_rows(store, None) == []
    assert sample_detail(studio_for(store), "") == ("",) * 5


def test_without_seeds_a_run_starts_from_the_bundled_ones(studio, model_dir):
    message, *_ = create_run(studio, **form(model_dir, name="paper run", preset="paper", seeds_text="  \n"))
    assert message == "run 'paper run' created with 20 seed instructions (paper preset)"
    run = studio.store.get_run("paper run")
    seeds = studio.store.iteration_instructions(studio.store.latest_iteration(run["id"])["id"])
    assert {s["language"] for s in seeds} == {"en", "zh"}
    assert "--seeds" not in preview_command("s.db", "r", str(model_dir), "", "transformers", "paper", None, "", "{}")
