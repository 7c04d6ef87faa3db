"""Exported datasets train with trl as they are; the export command as a user runs it; a push with no
network behind the hub endpoint."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys

import pytest

from curated import curated_store
from paths import ROOT
from selflengthen.export.writer import export_dataset


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    store, _ = curated_store(tmp_path_factory.mktemp("curated") / "studio.db")
    return store


def trainer_args(config_class, output_dir):
    """Two tiny steps on the CPU (see selflengthen/train.py for the settings a real run uses)."""
    return config_class(output_dir=str(output_dir), use_cpu=True, report_to="none", bf16=False, max_steps=2,
                        per_device_train_batch_size=2, max_length=64, learning_rate=1e-4, logging_steps=1,
                        save_strategy="no", disable_tqdm=True, dataloader_pin_memory=False,
                        activation_checkpointing=False)


def assert_two_finite_steps(trainer) -> None:
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert trainer.state.global_step == 2 and len(losses) == 2
    assert all(math.isfinite(loss) for loss in losses)


@pytest.mark.slow
def test_an_exported_messages_dataset_trains_with_sft(curated, demo_model_dir, tmp_path):
    import datasets
    import transformers
    from trl import SFTConfig, SFTTrainer

    export_dataset(curated, "r", fmt="messages", out_dir=tmp_path / "sft")
    dataset = datasets.load_dataset("json", data_files=str(tmp_path / "sft" / "data.jsonl"), split="train",
                                    cache_dir=str(tmp_path / "cache"))
    model = transformers.AutoModelForCausalLM.from_pretrained(demo_model_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(demo_model_dir)
    trainer = SFTTrainer(model=model, args=trainer_args(SFTConfig, tmp_path / "run"), train_dataset=dataset,
                         processing_class=tokenizer)
    assert_two_finite_steps(trainer)


@pytest.mark.slow
def test_an_exported_dpo_dataset_trains_with_dpo(curated, demo_model_dir, tmp_path):
    import datasets
    import transformers
    from trl import DPOConfig, DPOTrainer

    export_dataset(curated, "r", fmt="dpo", out_dir=tmp_path / "dpo", output="parquet")
    dataset = datasets.load_dataset("parquet", data_files=str(tmp_path / "dpo" / "data.parquet"), split="train",
                                    cache_dir=str(tmp_path / "cache"))
    assert dataset.num_rows == 5  # the accepted sample without an expansion is no pair
    model = transformers.AutoModelForCausalLM.from_pretrained(demo_model_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(demo_model_dir)
    trainer = DPOTrainer(model=model, args=trainer_args(DPOConfig, tmp_path / "run"), train_dataset=dataset,
                         processing_class=tokenizer)
    assert_two_finite_steps(trainer)


# --- subprocesses -----------------------------------------------------------------------------------

def run_python(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


@pytest.mark.slow
def test_the_export_command(curated, tmp_path):
    out = tmp_path / "cli"
    args = ["-m", "selflengthen", "export", "--db", str(curated.path), "--name", "r", "--iterations", "0",
            "--format", "sharegpt", "--out", str(out), "--license", "cc-by-4.0", "--json"]
    done = run_python(args)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["rows"], result["files"], result["path"]) == (
        4, ["README.md", "data.jsonl", "dataset_info.json"], str(out.resolve()))
    assert list(result["per_iteration"]) == ["0"]
    again = run_python(args)
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr.strip() == f"error: {out.resolve()} already exists; pass --overwrite to replace it"
    bad = run_python(args + ["--overwrite", "--iterations", "7"])  # the later --iterations wins
    assert bad.returncode == 1 and "error: run 'r' has no iteration 7 (its iterations: 0, 1)" in bad.stderr


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_push_with_no_network_fails_clearly(curated, tmp_path):
    # huggingface_hub reads HF_HUB_OFFLINE and HF_ENDPOINT when imported: a fresh interpreter sees them.
    script = ("import sys\nfrom storage import Store\nfrom selflengthen.export.writer import export_dataset\n"
              "from selflengthen.errors import SelfLengthenError\n"
              "try:\n"
              f"    export_dataset(Store({str(curated.path)!r}), 'r', fmt='dpo', out_dir={str(tmp_path / 'out')!r},"
              " push_to_hub='me/sea', token='hf_test')\n"
              "except SelfLengthenError as e:\n    print(e)\n    sys.exit(3)\n")
    done = run_python(["-c", script], env={"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}"})
    assert done.returncode == 3, done.stderr
    message = done.stdout.strip()
    assert message.startswith("could not push to the hub repo me/sea: ") and "offline" not in message
    assert message.endswith(f"; the local export in {tmp_path / 'out'} is complete, nothing was uploaded")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["README.md", "data.jsonl"]
