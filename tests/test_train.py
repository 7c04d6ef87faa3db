"""Training: config presets, the data builders, prompt masking, and real training subprocesses (full, LoRA
with merge, cancel, resume after kill -9) reporting to a real store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from curated import make_store_with_accepted_samples
from paths import ROOT
from selflengthen.errors import ConfigError, SelfLengthenError
from selflengthen.training.config import TrainConfig, TrainSpec, build_command, train_preset
from selflengthen.training.data import extender_rows, generator_rows, split_eval, write_training_data
from selflengthen.training.trainer import last_checkpoint

SAMPLE = {"instruction": "Write an essay about tea.", "language": "en", "initial_response": "Tea is old.",
          "final_text": "Tea is very old. People drank it long ago."}


# --- config ---------------------------------------------------------------------------------------

def test_presets_hold_the_reference_and_demo_settings():
    paper = train_preset("paper")
    assert (paper.method, paper.lora_target_modules, paper.learning_rate, paper.epochs, paper.batch_size) == (
        "lora", "all-linear", 1e-4, 4.0, 1)
    assert (paper.lr_scheduler, paper.warmup_ratio, paper.bf16, paper.continue_adapter) == ("cosine", 0.1, "auto", True)
    assert (paper.overlong, paper.extender_line_keep, paper.extender_drop_blank_lines) == ("truncate", 0.8, True)
    default = train_preset("default")
    assert (default.preset, default.overlong, default.extender_drop_blank_lines) == ("default", "drop", False)
    demo = train_preset("demo", {"epochs": 2})
    assert (demo.preset, demo.method, demo.learning_rate, demo.epochs) == ("demo", "full", 5e-4, 2)


def test_config_round_trips_through_json():
    config = train_preset("demo", {"lora_target_modules": ["q_proj", "v_proj"]})
    assert TrainConfig.from_json(config.to_json()) == config


def test_every_field_has_help():
    import dataclasses

    assert all(f.metadata.get("help") for f in dataclasses.fields(TrainConfig))


@pytest.mark.parametrize("override, field", [
    ({"method": "qlora"}, "method"), ({"learning_rate": 0}, "learning_rate"), ({"batch_size": 0}, "batch_size"),
    ({"epochs": "two"}, "epochs"), ({"eval_fraction": 0.9}, "eval_fraction"), ({"bf16": True}, "bf16"),
    ({"lr_scheduler": "exotic"}, "lr_scheduler"), ({"lora_target_modules": []}, "lora_target_modules"),
    ({"extender_line_keep": 0}, "extender_line_keep"), ({"warmup": 0.1}, "warmup"),
])
def test_bad_values_are_refused_naming_the_field(override, field):
    with pytest.raises(ConfigError, match=field):
        train_preset("paper", override)


def test_unknown_preset_is_refused():
    with pytest.raises(ConfigError, match="unknown training preset"):
        train_preset("huge")


# --- data -----------------------------------------------------------------------------------------

def test_generator_rows_use_the_pipelines_response_prompt():
    from selflengthen.method.generate import build_response_prompt

    (row,) = generator_rows([SAMPLE])
    assert row["prompt"] == list(build_response_prompt(SAMPLE["instruction"]).messages)
    assert row["completion"] == [{"role": "assistant", "content": SAMPLE["final_text"]}]


def test_extender_rows_use_the_pipelines_expand_prompt():
    from selflengthen.method.expand import build_expand_prompt

    (row,) = extender_rows([SAMPLE])
    assert row["prompt"] == list(build_expand_prompt(SAMPLE["instruction"], "Tea is old.", "en").messages)
    assert row["completion"] == [{"role": "assistant", "content": SAMPLE["final_text"]}]


def test_line_dropping_is_seeded_and_never_drops_everything():
    lines = [f"Line {i}." for i in range(12)]
    samples = [{**SAMPLE, "initial_response": "\n".join(lines)} for _ in range(20)]
    first, again = extender_rows(samples, 0.8, seed=3), extender_rows(samples, 0.8, seed=3)
    assert first == again and first != extender_rows(samples, 0.8, seed=4)
    answers = [row["prompt"][0]["content"].split("Answer:\n")[1].split("\n\n")[0] for row in first]
    kept = [sum(line in answer.split("\n") for line in lines) for answer in answers]
    assert 0 < min(kept) and max(kept) <= 12 and 0.6 < sum(kept) / (12 * 20) < 0.95
    lone = extender_rows([{**SAMPLE, "initial_response": "a\nb"}] * 50, 0.01, seed=0)
    assert all("Answer:\na\n\n" in r["prompt"][0]["content"] or "Answer:\nb\n\n" in r["prompt"][0]["content"]
               for r in lone)


def test_the_reference_extender_input_keeps_lines_apart_and_uses_the_runs_prompt():
    from selflengthen.method.templates import bundled

    sample = {**SAMPLE, "initial_response": "Title\n\nOne.\nTwo.\n\nThree."}
    (row,) = extender_rows([sample], 1.0, drop_blank_lines=True, templates=bundled("paper"))
    content = row["prompt"][0]["content"]
    assert "Original outline:\n\nTitle\n\nOne.\n\nTwo.\n\nThree." in content  # every kept line its own paragraph
    assert content.startswith("You polish writing.")


class _Tokenizer:
    """Counts one token per character of the chat, which is all _fitting_rows asks of a tokenizer."""

    def apply_chat_template(self, messages, tokenize):
        return {"input_ids": list("".join(m["content"] for m in messages))}


def test_overlong_rows_are_dropped_or_kept_for_the_trainer_to_cut():
    from selflengthen.training.trainer import _fitting_rows

    rows = [{"prompt": [{"role": "user", "content": "Q"}], "completion": [{"role": "assistant", "content": a}]}
            for a in ("short", "a much longer answer")]
    said = []
    assert _fitting_rows(rows, _Tokenizer(), 10, said.append) == rows[:1]
    assert _fitting_rows(rows, _Tokenizer(), 10, said.append, "truncate") == rows
    assert said[-1] == "1 of 2 rows are longer than max_length 10: cut at the end"


def test_eval_split_is_seeded_and_leaves_training_rows():
    rows = list(range(30))
    train, held = split_eval(rows, 0.1, seed=5)
    assert (len(train), len(held)) == (27, 3) and sorted(train + held) == rows
    assert split_eval(rows, 0.1, seed=5) == (train, held)
    assert split_eval([1, 2], 0.01, seed=0)[1] != [] and split_eval(rows, 0.0, seed=0) == (rows, [])


def test_spec_round_trips_and_checks_the_role(tmp_path):
    spec = make_spec(tmp_path, "db", 1, 2, 3, "extender", "model", [], train_preset("demo"))
    assert TrainSpec.load(spec.save(tmp_path / "spec.json")) == spec
    with pytest.raises(ConfigError, match="role"):
        TrainSpec(**{**spec.__dict__, "role": "judge"})
    with pytest.raises(ConfigError, match="train.learning_rate"):
        TrainSpec(**{**spec.__dict__, "train": {"learning_rate": 0}})


# --- the command ------------------------------------------------------------------------------------

def test_commands_plain_and_under_accelerate():
    assert build_command("s.json", python="py") == ["py", "-m", "selflengthen.training.trainer", "s.json"]
    assert build_command("s.json", accelerate_config="acc.yaml", python="py") == [
        "py", "-m", "accelerate.commands.launch", "--config_file", "acc.yaml", "-m", "selflengthen.training.trainer", "s.json"]


@pytest.mark.slow
def test_accelerate_launch_accepts_the_flags_used():
    out = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "--config_file CONFIG_FILE" in out and "-m, --module" in out and "training_script" in out


@pytest.mark.slow
def test_train_help_is_instant_and_does_not_import_torch():
    code = "import sys; from selflengthen.training import trainer; print('torch' in sys.modules or 'trl' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_a_failed_job_records_one_line_and_exits_1(tmp_path):
    store, run, iteration = make_store_with_accepted_samples(tmp_path / "t.db", n_instructions=1)
    job_id = store.create_job("train", run_id=run["id"], iteration_id=iteration["id"])
    spec = make_spec(tmp_path, store.path, run["id"], iteration["id"], job_id, "generator", "model", [],
                     train_preset("demo"))
    out = run_command(build_command(spec.save(tmp_path / "spec.json")))
    job = store.get_job(job_id)
    assert out.returncode == 1 and job["status"] == "failed" and job["stage"] == "train:generator"
    assert job["error"] == f"no training rows in {spec.data_file}" and "error: no training rows" in out.stderr
    assert store.iteration_checkpoints(iteration["id"]) == {}


def test_last_checkpoint_skips_one_cut_off_while_saving(tmp_path):
    for step, complete in ((3, True), (6, True), (9, False)):
        (tmp_path / f"checkpoint-{step}").mkdir()
        if complete:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert last_checkpoint(tmp_path) == tmp_path / "checkpoint-6"
    assert last_checkpoint(tmp_path / "missing") is None


@pytest.mark.slow
def test_sft_config_on_a_cpu(tmp_path):
    from selflengthen.training.trainer import sft_config

    args = sft_config(train_preset("paper", {"save_steps": 7}), tmp_path, has_eval=True)
    assert (args.use_cpu, args.report_to, args.activation_checkpointing, args.bf16) == (True, [], False, False)
    assert (args.learning_rate, args.num_train_epochs, args.lr_scheduler_type.value, args.warmup_steps) == (
        1e-4, 4.0, "cosine", 0.1)
    assert (args.completion_only_loss, args.max_length, args.save_steps, args.eval_steps) == (True, 16384, 7, 7)
    assert sft_config(train_preset("demo"), tmp_path, has_eval=False).eval_strategy.value == "no"


# --- prompt masking -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_only_the_answer_and_its_end_token_carry_labels(demo_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from selflengthen.training.trainer import make_trainer

    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir)
    model = AutoModelForCausalLM.from_pretrained(demo_model_dir)
    rows = generator_rows([SAMPLE]) + extender_rows([SAMPLE])
    trainer = make_trainer(train_preset("demo"), model, tokenizer, rows, [], tmp_path / "out")
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(rows))])
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    for i, row in enumerate(rows):
        prompt = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True)["input_ids"]
        answer = tokenizer(row["completion"][0]["content"] + "<|im_end|>", add_special_tokens=False)["input_ids"]
        ids, labels = batch["input_ids"][i].tolist(), batch["labels"][i].tolist()
        assert ids[:len(prompt)] == prompt
        assert all(label == -100 for label in labels[:len(prompt)])
        assert labels[len(prompt):len(prompt) + len(answer)] == answer  # the answer, <|im_end|> included
        assert answer[-1] == im_end


@pytest.mark.slow
def test_rows_longer_than_max_length_are_left_out_not_cut(demo_model_dir):
    from transformers import AutoTokenizer

    from selflengthen.training.trainer import _fitting_rows

    tokenizer, lines = AutoTokenizer.from_pretrained(demo_model_dir), []
    rows = generator_rows([SAMPLE, {**SAMPLE, "final_text": "Tea is old. " * 200}])
    assert _fitting_rows(rows, tokenizer, 100, lines.append) == rows[:1]
    assert lines and lines[0].startswith("left out 1 of 2 rows longer than max_length 100")
    with pytest.raises(SelfLengthenError, match="every training row is longer"):
        _fitting_rows(rows[1:], tokenizer, 100, lines.append)


# --- real training subprocesses ---------------------------------------------------------------------

def make_spec(tmp_path, db, run_id, iteration_id, job_id, role, model, samples, config, init_adapter=None):
    rows = (generator_rows(samples) if role == "generator"
            else extender_rows(samples, config.extender_line_keep, config.seed))
    data = write_training_data(rows, tmp_path / f"{role}.jsonl")
    return TrainSpec(db=str(db), run_id=run_id, iteration_id=iteration_id, job_id=job_id, role=role,
                     base_model=str(model), output_dir=str(tmp_path / role), data_file=str(data),
                     data_size=len(rows), train=config.to_dict(), init_adapter=init_adapter)


@pytest.fixture
def trained_setup(tmp_path, demo_model_dir):
    store, run, iteration = make_store_with_accepted_samples(tmp_path / "t.db", model=str(demo_model_dir))
    yield store, run, iteration
    store.close()


def prepare(tmp_path, setup, model_dir, role="generator", **overrides):
    """A job and a saved spec of the demo preset (with overrides) for `role`; (job_id, spec, command)."""
    store, run, iteration = setup
    job_id = store.create_job("train", run_id=run["id"], iteration_id=iteration["id"])
    spec = make_spec(tmp_path, store.path, run["id"], iteration["id"], job_id, role, model_dir,
                     store.accepted_samples(iteration["id"]), train_preset("demo", overrides))
    return job_id, spec, build_command(spec.save(tmp_path / f"{role}-spec.json"))


def run_command(command, timeout=120):
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def assert_generates(model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(model_dir), AutoModelForCausalLM.from_pretrained(model_dir)
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "Write an essay about tea."}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    new = model.generate(**inputs, max_new_tokens=12, do_sample=False)[0, inputs["input_ids"].shape[1]:]
    assert len(new) > 0 and tokenizer.decode(new, skip_special_tokens=True).strip()


@pytest.mark.slow
def test_full_fine_tune_job(tmp_path, trained_setup, demo_model_dir):
    store, run, iteration = trained_setup
    job_id, spec, command = prepare(tmp_path, trained_setup, demo_model_dir, "generator")
    out = run_command(command)
    assert out.returncode == 0, out.stderr[-2000:]
    job = store.get_job(job_id)
    assert job["status"] == "done" and job["stage"] == "train:generator" and job["done"] == job["total"] > 0
    assert set(json.loads(job["metrics"])) >= {"step", "train_loss", "eval_loss", "tokens_per_second", "eta_seconds"}
    metrics = store.job_metrics(job_id)
    assert [m["step"] for m in metrics if m["train_loss"] is not None][0] == 1
    assert any(m["eval_loss"] is not None for m in metrics)
    checkpoint = store.iteration_checkpoints(iteration["id"])["generator"]
    assert checkpoint["path"] == str(Path(spec.output_dir) / "final") and checkpoint["kind"] == "full"
    assert checkpoint["data_size"] == 30 and checkpoint["train_loss"] > 0 and checkpoint["eval_loss"] > 0
    assert checkpoint["job_id"] == job_id and checkpoint["config"]["train"]["preset"] == "demo"
    assert "step 1/" in out.stdout
    assert_generates(checkpoint["path"])


@pytest.mark.slow
def test_lora_job_with_merge(tmp_path, trained_setup, demo_model_dir):
    store, run, iteration = trained_setup
    job_id, spec, command = prepare(tmp_path, trained_setup, demo_model_dir, "extender", method="lora",
                                    merge=True, learning_rate=1e-3, extender_line_keep=0.8, eval_fraction=0.0)
    out = run_command(command)
    assert out.returncode == 0, out.stderr[-2000:]
    assert store.get_job(job_id)["status"] == "done" and store.job_metrics(job_id)
    checkpoint = store.iteration_checkpoints(iteration["id"])["extender"]
    output = Path(spec.output_dir)
    assert (checkpoint["kind"], checkpoint["path"], checkpoint["adapter_path"]) == (
        "merged", str(output / "merged"), str(output / "adapter"))
    assert checkpoint["base_model"] == str(demo_model_dir) and checkpoint["eval_loss"] is None
    assert (output / "adapter" / "adapter_config.json").is_file()
    assert not (output / "merged" / "adapter_config.json").exists()
    assert json.loads((output / "merged" / "tokenizer_config.json").read_text())["tokenizer_class"] == (
        "PreTrainedTokenizerFast")
    assert_generates(checkpoint["path"])

    # The next iteration continues the adapter on the same base: its first loss starts where this one ended.
    first_loss = store.job_metrics(job_id)[0]["train_loss"]
    next_job, next_spec, _ = prepare(tmp_path / "next", trained_setup, demo_model_dir, "extender", method="lora",
                                     merge=False, learning_rate=1e-3, extender_line_keep=0.8, eval_fraction=0.0,
                                     continue_adapter=True)
    next_spec.init_adapter = checkpoint["adapter_path"]
    out = run_command(build_command(next_spec.save(tmp_path / "next-spec.json")))
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"continuing the adapter {checkpoint['adapter_path']}" in out.stdout
    assert store.job_metrics(next_job)[0]["train_loss"] < first_loss
    assert store.iteration_checkpoints(iteration["id"])["extender"]["kind"] == "adapter"


@pytest.mark.slow
def test_cancel_stops_with_a_loadable_checkpoint_and_registers_nothing(tmp_path, trained_setup, demo_model_dir):
    store, run, iteration = trained_setup
    job_id, spec, command = prepare(tmp_path, trained_setup, demo_model_dir, "generator", save_steps=50)
    store.request_cancel(job_id)  # honoured at the end of the first optimizer step
    out = run_command(command)
    assert out.returncode == 2, out.stderr[-2000:]
    assert store.get_job(job_id)["status"] == "cancelled"
    assert store.iteration_checkpoints(iteration["id"]) == {}
    saved = last_checkpoint(spec.output_dir)
    assert saved is not None and saved.name == "checkpoint-1"
    assert_generates(saved)


@pytest.mark.slow
def test_a_killed_job_resumes_from_its_last_checkpoint(tmp_path, trained_setup, demo_model_dir):
    store, run, iteration = trained_setup
    job_id, spec, command = prepare(tmp_path, trained_setup, demo_model_dir, "generator", epochs=4.0,
                                    batch_size=2, save_steps=3, eval_fraction=0.0)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 120
    while last_checkpoint(spec.output_dir) is None and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = int(last_checkpoint(spec.output_dir).name.split("-")[1])
    before = len(store.job_metrics(job_id))
    assert store.get_job(job_id)["status"] == "running" and killed_at < store.get_job(job_id)["total"]

    out = run_command(command)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"resuming from {Path(spec.output_dir) / f'checkpoint-{killed_at}'}" in out.stdout
    resumed_steps = [m["step"] for m in store.job_metrics(job_id)[before:] if m["train_loss"] is not None]
    assert resumed_steps[0] == killed_at + 1
    job = store.get_job(job_id)
    assert job["status"] == "done" and job["done"] == job["total"]
    assert store.iteration_checkpoints(iteration["id"])["generator"]["kind"] == "full"
