"""Generation: the pipeline's generate stage against the raw backend, and batched against one-by-one.

    python bench/generation.py [--model DIR] [--instructions 16] [--batch-size 16] [--max-new-tokens 256]
                               [--repeats 3]

On the demo model (built into a temp dir unless --model or $SELFLENGTHEN_DEMO_MODEL names one), with the
demo preset's sampling:
- pipeline / raw: the generate stage (run_iteration with steps ["generate"], so prompts, gates, store
  writes and stats included) on a fresh run, then exactly the backend calls it made (same prompts, batches,
  params and seeds, so the same completions) replayed on the bare backend. Generated tokens / s of each
  (Completion.n_tokens), interleaved `repeats` times; goal: pipeline / raw >= 0.95.
- batched / one-by-one: the same prompts in one generate() call with --batch-size against one call per
  prompt, in generated tokens / s, with the run's sampling and greedy; goal >= 4x on CPU.
Prints JSON and a one-line summary. Retries are off (max_retries 0) so both sides make the same calls.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import tempfile
import time
from pathlib import Path

from common import demo_model, median, report, timed
from selflengthen.backends import Backend, create_backend
from selflengthen.config import preset_config
from selflengthen.demo.corpus import make_instruction
from selflengthen.stages.pipeline import run_iteration
from storage import Store


class RecordingBackend(Backend):
    """Passes calls through to a loaded backend and keeps them (prompts, params, tokens) for a replay.
    close() leaves the model loaded: the benchmark reuses it across runs."""

    name = "recording"

    def __init__(self, inner: Backend):
        self.inner, self.calls = inner, []

    def generate(self, prompts, params):
        completions = self.inner.generate(prompts, params)
        self.calls.append((prompts, params, [c.n_tokens for c in completions]))
        return completions


def pipeline_once(store: Store, recorder: RecordingBackend, config, model: Path, seeds: list[dict], name: str):
    """(seconds, tokens, calls) of the generate stage on a fresh run; calls: (prompts, params, tokens of each)."""
    run = store.create_run(name, str(model), str(model), "transformers", "demo", config.to_dict(), seeds)
    recorder.calls = []
    seconds, _ = timed(lambda: run_iteration(store, run, store.latest_iteration(run["id"]), ["generate"],
                                             factory=lambda *a: recorder))
    return seconds, sum(sum(tokens) for *_, tokens in recorder.calls), list(recorder.calls)


def batch_fill(calls: list) -> float:
    """Share of the computed row-steps that produced a token: a batch runs until its longest answer ends.

    >>> batch_fill([(None, None, [10, 30]), (None, None, [20])])
    0.75
    """
    return sum(sum(t) for *_, t in calls) / max(sum(len(t) * max(t) for *_, t in calls), 1)


def replay(backend: Backend, calls: list) -> tuple[float, int]:
    """(seconds, tokens) of the same generate() calls made straight on the backend."""
    start, tokens = time.perf_counter(), 0
    for prompts, params, _ in calls:
        tokens += sum(c.n_tokens for c in backend.generate(prompts, params))
    return time.perf_counter() - start, tokens


def batched_and_single(backend: Backend, calls: list, greedy: bool = False) -> tuple[float, float]:
    """Tokens/s of the calls' prompts in one batched generate() call, and one call per prompt (same params;
    greedy: temperature 0, so both sides generate the very same tokens)."""
    prompts, params = [p for c in calls for p in c[0]], calls[0][1]
    params = dataclasses.replace(params, temperature=0.0) if greedy else params
    batched_s, batched = timed(lambda: backend.generate(prompts, params))
    single_s, single = timed(lambda: [backend.generate([p], params)[0] for p in prompts])
    return sum(c.n_tokens for c in batched) / batched_s, sum(c.n_tokens for c in single) / single_s


def setup(args, folder: Path):
    """(store, loaded backend, run config, seeds, model path)."""
    import transformers

    transformers.utils.logging.disable_progress_bar()
    model = demo_model(args.model)
    config = preset_config("demo", {"generate": {"max_retries": 0, "max_new_tokens": args.max_new_tokens,
                                                 "responses_per_instruction": args.responses},
                                    "backend": {"batch_size": args.batch_size, "device": "cpu"}})
    rng = random.Random(0)
    seeds = [{"text": make_instruction(rng)[0], "language": "en"} for _ in range(args.instructions)]
    backend = create_backend("transformers", str(model), dataclasses.replace(config.backend))
    return Store(folder / "studio.db"), backend, config, seeds, model


def one_repeat(store, backend, recorder, config, model, seeds, name: str) -> dict:
    """Pipeline, then its calls replayed raw, then batched against one-by-one (sampled and greedy)."""
    pipe_s, pipe_tokens, calls = pipeline_once(store, recorder, config, model, seeds, name)
    raw_s, raw_tokens = replay(backend, calls)
    if raw_tokens != pipe_tokens:  # the same seeded calls must give the same completions
        raise SystemExit(f"replay generated {raw_tokens} tokens, the pipeline {pipe_tokens}")
    batched, single = batched_and_single(backend, calls)
    greedy_batched, greedy_single = batched_and_single(backend, calls, greedy=True)
    return {"tokens": pipe_tokens, "pipeline": pipe_tokens / pipe_s, "raw": raw_tokens / raw_s,
            "pipeline_over_raw": raw_s / pipe_s, "fill": batch_fill(calls), "batched": batched, "single": single,
            "batched_over_single": batched / single, "greedy_batched_over_single": greedy_batched / greedy_single}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a model directory with the demo tokenizer's chat format (default: "
                                        "$SELFLENGTHEN_DEMO_MODEL, else a demo model built for the run)")
    parser.add_argument("--instructions", type=int, default=16)
    parser.add_argument("--responses", type=int, default=2, help="responses per instruction")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sl-bench-gen-") as work:
        store, backend, config, seeds, model = setup(args, Path(work))
        recorder = RecordingBackend(backend)
        pipeline_once(store, recorder, config, model, seeds, "warmup")  # first calls pay one-off costs
        repeats = [one_repeat(store, backend, recorder, config, model, seeds, f"bench-{n}")
                   for n in range(args.repeats)]
        backend.close()
        store.close()
    result = {"model": str(model), **figures(args, repeats)}
    return report(result, summary_line(result))


def figures(args, repeats: list[dict]) -> dict:
    """The JSON figures: medians over the repeats, and each repeat's ratios to show the spread."""
    def mid(key: str, digits: int = 1) -> float:
        return round(median([r[key] for r in repeats]), digits)

    return {
        "prompts": args.instructions * args.responses, "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens, "repeats": args.repeats,
        "tokens_per_run": [r["tokens"] for r in repeats],
        "pipeline_tokens_per_s": mid("pipeline"), "raw_tokens_per_s": mid("raw"),
        "pipeline_over_raw": mid("pipeline_over_raw", 3),
        "pipeline_over_raw_each": [round(r["pipeline_over_raw"], 3) for r in repeats],
        "batched_tokens_per_s": mid("batched"), "single_tokens_per_s": mid("single"),
        "batched_over_single": mid("batched_over_single", 2),
        "batched_over_single_each": [round(r["batched_over_single"], 2) for r in repeats],
        "batched_over_single_greedy": mid("greedy_batched_over_single", 2), "batch_fill": mid("fill", 3),
        "goals": {"pipeline_over_raw": 0.95, "batched_over_single": 4.0},
    }


def summary_line(result: dict) -> str:
    return (f"generation on {result['model']} ({result['prompts']} prompts, batch {result['batch_size']}, "
            f"<= {result['max_new_tokens']} new tokens): pipeline {result['pipeline_tokens_per_s']} tokens/s, raw "
            f"{result['raw_tokens_per_s']} tokens/s, ratio {result['pipeline_over_raw']} (goal >= 0.95); batched / "
            f"one-by-one {result['batched_over_single']}x (goal >= 4x; greedy {result['batched_over_single_greedy']}x)")


if __name__ == "__main__":
    main()
