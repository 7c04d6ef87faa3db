"""Training: tokens per second with packing against without, on the demo model (selflengthen.training.trainer's trainer).

    python bench/training_packing.py [--model DIR] [--rows 128] [--max-length 1024] [--repeats 3]

Trains the demo preset's full fine-tune (save_steps out of reach, so no checkpoint I/O is timed) for one
epoch over the same `rows` short generator rows, with TrainConfig.packing on and off, interleaved
`repeats` times from the same starting weights. Tokens/s = the tokens trl counted (num_tokens, padding
excluded) / the seconds from the first step's start to the last step's end; the figure is packed / unpacked.

Correctness: trl's "bfd" packing is padding-free (a batch's rows concatenated into one sequence, positions
restarting at 0, no attention mask), which flash attention handles natively. Without it (sdpa on CPU) it is
correct only if transformers still keeps the rows apart; the script checks it: the logits of the rows of a
real packed batch must match those of each row forwarded alone.
Prints JSON and a one-line summary.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from itertools import pairwise
from pathlib import Path

from common import demo_model, median, report
from selflengthen.demo.corpus import make_instruction, make_response
from selflengthen.training.config import train_preset
from selflengthen.training.data import generator_rows


def training_rows(n: int, seed: int = 0) -> list[dict]:
    """n prompt/completion rows of demo-corpus instructions and answers (an opening, up to 8 sentences, a close)."""
    rng = random.Random(seed)
    samples = []
    for _ in range(n):
        instruction, topic, _ = make_instruction(rng)
        samples.append({"instruction": instruction, "final_text": make_response(rng, topic)})
    return generator_rows(samples)


def step_clock():
    """A TrainerCallback timing the steps alone (first step's start to last step's end): the trainer's fixed
    costs around them (a garbage collection, the end-of-training bookkeeping) would blur a 1-second run."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        start = end = None

        def on_step_begin(self, args, state, control, **kwargs):
            if self.start is None:
                self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.end = time.perf_counter()

    return StepClock()


def train_once(model_dir: Path, rows: list[dict], packing: bool, max_length: int) -> dict:
    """One epoch from the model's saved weights: steps, packed sequences, tokens, seconds and tokens/s."""
    from transformers import AutoTokenizer

    from selflengthen.training.trainer import load_model, make_trainer

    config = train_preset("demo", {"packing": packing, "epochs": 1.0, "eval_fraction": 0.0, "max_length": max_length,
                                   "save_steps": 1_000_000, "logging_steps": 1})
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model, _ = load_model(config, str(model_dir), None)
    clock = step_clock()
    with tempfile.TemporaryDirectory(prefix="sl-bench-train-") as output_dir:  # the trainer saves a last checkpoint
        trainer = make_trainer(config, model, tokenizer, rows, [], output_dir, None, [clock])
        output = trainer.train()
    tokens = max(entry.get("num_tokens", 0) for entry in trainer.state.log_history)  # trl's count, padding excluded
    seconds = clock.end - clock.start
    return {"steps": output.global_step, "sequences": len(trainer.train_dataset), "tokens": int(tokens),
            "steps_s": seconds, "tokens_per_s": tokens / seconds}


def packed_logits_gap(model_dir: Path, rows: list[dict], max_length: int) -> float:
    """Largest |logit difference| between the rows of the packing trainer's first batch forwarded as trl
    collates them (the whole batch concatenated into one sequence, positions restarting per row, no
    attention mask) and each row forwarded alone. About 1e-5 means the rows were kept apart; a row that
    attends to the rows before it shows differences near 1 or more."""
    import torch
    from transformers import AutoTokenizer

    from selflengthen.training.trainer import load_model, make_trainer

    config = train_preset("demo", {"packing": True, "eval_fraction": 0.0, "max_length": max_length})
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model, _ = load_model(config, str(model_dir), None)
    with tempfile.TemporaryDirectory(prefix="sl-bench-train-") as output_dir:
        batch = next(iter(make_trainer(config, model, tokenizer, rows, [], output_dir).get_train_dataloader()))
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    ids, positions = batch["input_ids"][0], batch["position_ids"][0]
    starts = (positions == 0).nonzero().flatten().tolist() + [len(positions)]
    model.eval()
    with torch.inference_mode():
        # use_cache=False as trl's compute_loss passes it (with a cache, transformers does not look for packed rows)
        packed = model(**inputs, use_cache=False).logits[0]
        return max((model(input_ids=ids[a:b][None], use_cache=False).logits[0] - packed[a:b]).abs().max().item()
                   for a, b in pairwise(starts))


def quiet_libraries() -> None:
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def figures(args, runs: dict[bool, list[dict]], logits_gap: float) -> dict:
    """Medians per mode, and packed / unpacked per repeat (runs[True] are the packed ones)."""
    result = {"rows": args.rows, "max_length": args.max_length, "repeats": args.repeats,
              "packed_logits_max_abs_diff": logits_gap}
    for packing, name in ((False, "unpacked"), (True, "packed")):
        last = runs[packing][-1]
        result[name] = {"steps": last["steps"], "sequences": last["sequences"], "tokens": last["tokens"],
                        "tokens_per_s": round(median([r["tokens_per_s"] for r in runs[packing]]), 1),
                        "steps_s": round(median([r["steps_s"] for r in runs[packing]]), 2)}
    ratios = [p["tokens_per_s"] / u["tokens_per_s"] for p, u in zip(runs[True], runs[False])]
    result["packed_over_unpacked"] = round(median(ratios), 2)
    result["packed_over_unpacked_each"] = [round(r, 2) for r in ratios]
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a built demo model (default: $SELFLENGTHEN_DEMO_MODEL, else build one)")
    parser.add_argument("--rows", type=int, default=128)
    parser.add_argument("--max-length", type=int, default=1024, help="tokens per (packed) sequence; the demo preset's")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    quiet_libraries()
    model_dir, rows = demo_model(args.model), training_rows(args.rows)
    runs = {True: [], False: []}
    for _ in range(args.repeats):
        for packing in (False, True):
            runs[packing].append(train_once(model_dir, rows, packing, args.max_length))
    result = figures(args, runs, packed_logits_gap(model_dir, rows, args.max_length))
    apart = "kept apart" if result["packed_logits_max_abs_diff"] < 1e-3 else "LEAK into each other"
    return report(result, f"training on the demo model, {args.rows} rows, 1 epoch, max_length {args.max_length}: "
                          f"packed {result['packed']['tokens_per_s']} tokens/s ({result['packed']['steps']} steps), "
                          f"unpacked {result['unpacked']['tokens_per_s']} tokens/s ({result['unpacked']['steps']} "
                          f"steps): {result['packed_over_unpacked']}x; packed rows {apart} "
                          f"(logit gap {result['packed_logits_max_abs_diff']:.1e})")


if __name__ == "__main__":
    main()
