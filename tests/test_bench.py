"""The benchmark scripts run end to end at tiny sizes and print the figures they promise (JSON, then a summary)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real servers, subprocesses or models

ROOT = Path(__file__).resolve().parent.parent


def run_bench(script: str, *args) -> tuple[dict, str]:
    """(the JSON figures, the summary line) of `python bench/<script> args`."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    out = subprocess.run([sys.executable, str(ROOT / "bench" / script), *map(str, args)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    return json.loads(lines[-2]), lines[-1]


def test_storage_record_counts_every_sample():
    figures, summary = run_bench("storage_record.py", "--samples", 200, "--calls", 3, "--words", 30, "--repeats", 1)
    assert figures["samples"] == 200 and figures["record_s"] >= 0 and figures["rows_per_s"] > 0
    assert {"record_best_s", "record_cpu_s", "rerecord_s", "db_mb"} <= set(figures)
    assert figures["machine"]["cpus"] >= 1
    assert summary.startswith("recording 200 samples")


def test_export_scale_writes_both_outputs():
    figures, summary = run_bench("export_scale.py", "--samples", 200, "--words", 30, "--repeats", 1)
    for output in ("jsonl", "parquet"):
        assert figures[output]["rows"] == 200 and figures[output]["file_mb"] >= 0
        assert figures[output]["median_s"] > 0 and figures[output]["rows_per_s"] > 0
    assert "jsonl" in summary and "parquet" in summary


def test_review_scale_still_reports_its_figures():
    figures, _ = run_bench("review_scale.py", "--samples", 200, "--iterations", 2, "--words", 20)
    assert {"record_samples_s", "first_load_s", "accept_next_p50_ms", "accept_next_p95_ms", "apply_filter_ms",
            "bulk_accept_n", "bulk_accept_s"} <= set(figures)


@pytest.mark.slow
def test_generation_compares_pipeline_raw_and_batching(demo_model_dir):
    figures, summary = run_bench("generation.py", "--model", demo_model_dir, "--instructions", 2, "--responses", 2,
                                 "--batch-size", 2, "--max-new-tokens", 8, "--repeats", 1)
    assert figures["prompts"] == 4 and len(figures["tokens_per_run"]) == 1 and figures["tokens_per_run"][0] > 0
    for key in ("pipeline_over_raw", "batched_over_single", "batched_over_single_greedy", "batch_fill"):
        assert figures[key] > 0, key
    assert figures["pipeline_tokens_per_s"] > 0 and figures["raw_tokens_per_s"] > 0
    assert "pipeline" in summary


@pytest.mark.slow
def test_training_packing_keeps_rows_apart(demo_model_dir):
    figures, summary = run_bench("training_packing.py", "--model", demo_model_dir, "--rows", 8, "--max-length", 256,
                                 "--repeats", 1)
    assert figures["packed"]["tokens"] == figures["unpacked"]["tokens"] > 0  # the same rows, one epoch each
    assert figures["packed"]["sequences"] < figures["unpacked"]["sequences"] == 8
    assert figures["packed_over_unpacked"] > 0
    assert figures["packed_logits_max_abs_diff"] < 1e-3  # packed rows do not see each other
    assert "kept apart" in summary


@pytest.mark.slow
def test_demo_method_measures_topics_and_kept_sentences(demo_model_dir):
    figures, summary = run_bench("demo_method.py", "--model", demo_model_dir)
    assert figures["samples"] > 0 and 0 <= figures["topic_named_share"] <= 1
    assert figures["sentences"] > 0 and 0 <= figures["sentences_kept_share"] <= 1
    assert "topic named in" in summary and "sentences kept" in summary


@pytest.mark.slow
def test_final_demo_compares_base_generator_and_final(demo_model_dir):
    figures, summary = run_bench("final_demo.py", "--model", demo_model_dir, "--iterations", 1, "--items", 3)
    assert figures["finalize"]["kept"] > 0 and figures["final_model"].startswith("final: ")
    for bench in ("demo", "LonGen"):
        for model in ("base", "generator", "final"):
            scores = figures["evaluations"][f"{bench}/{model}"]
            assert scores["items"] == 3 and 0 <= scores["longen"] <= 1, (bench, model)
    assert summary.startswith("final set ")


@pytest.mark.slow
def test_serving_measures_slot_utilisation_on_a_simulated_engine():
    figures, summary = run_bench("serving.py", "--instructions", 4, "--slots", 4, "--servers", 1, "--drivers", "batch",
                                 "--seconds-per-token", 0.00005)
    (config,) = figures["configs"]
    assert (config["driver"], config["servers"]) == ("batch", 1) and config["wall_s"] > 0
    assert 0 < config["slot_utilisation"] <= 1 and config["tokens_per_s"] > 0
    assert config["requests"] == sum(config["requests_by_kind"].values()) > 0
    assert config["peak_in_flight"] == [4] and config["iteration"]["samples"] > 0
    assert summary.startswith("serving 4 instructions on 4-slot engines: batch x1: ")
