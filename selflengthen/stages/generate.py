"""Stage 2, initial responses: the generator answers each instruction N times.

Gates (see selflengthen.gates): non-empty, not cut off by the token limit, ends with sentence punctuation
of its language, no repeated n-gram. A response failing a gate is regenerated, up to `max_retries` times;
then the sample is stored as failed with its last attempt and the reason. Every rejection is counted on
the sample. Resumable: (instruction, slot) pairs already stored are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from selflengthen.gates import check_text, first_failure
from selflengthen.instructions import build_response_prompt
from selflengthen.progress import Reporter
from selflengthen.stages.common import count_rejection, derive_seed, sampling_params
from selflengthen.words import count_words


@dataclass
class _Item:
    instruction: dict
    slot: int
    attempts: int = 0
    rejections: dict = field(default_factory=dict)


def run_generate(store, run: dict, iteration: dict, backend, config, reporter: Reporter) -> None:
    n = config.generate.responses_per_instruction
    instructions = store.iteration_instructions(iteration["id"])
    stored = store.sample_slots(iteration["id"])
    queue = [_Item(ins, slot) for ins in instructions for slot in range(n) if (ins["id"], slot) not in stored]
    reporter.stage("generate", total=len(instructions) * n, done=len(instructions) * n - len(queue))
    batch_no = len(stored)
    while queue:
        reporter.check_cancel()
        batch, queue = queue[:config.backend.batch_size], queue[config.backend.batch_size:]
        seed = derive_seed(config.seed, iteration["idx"], "generate", batch_no)
        prompts = [build_response_prompt(item.instruction["text"]) for item in batch]
        outputs = backend.generate(prompts, sampling_params(config, config.generate.max_new_tokens, seed))
        finished = []
        for item, out in zip(batch, outputs):
            row = _judge_response(item, out, config, run, iteration)
            if row is None:
                queue.append(item)
            else:
                finished.append(row)
        store.save_samples(finished)
        reporter.advance(len(finished))
        batch_no += len(batch)


def _judge_response(item: _Item, out, config, run, iteration) -> dict | None:
    """The sample row when the item is finished (passed, or out of retries); None to retry it."""
    language = item.instruction["language"]
    cfg = config.generate
    gates = check_text(out.text, language, truncated=out.truncated, n_words=cfg.ngram_words, n_chars=cfg.ngram_chars)
    item.attempts += 1
    failure = first_failure(gates)
    if failure is not None:
        count_rejection(item.rejections, f"generate/{failure.gate}")
        if item.attempts <= cfg.max_retries:
            return None
    text = out.text.strip()
    return {
        "run_id": run["id"], "iteration_id": iteration["id"], "instruction_id": item.instruction["id"],
        "slot": item.slot, "language": language,
        "status": "generated" if failure is None else "failed_generation",
        "reject_reason": None if failure is None else f"generate/{failure.gate}",
        "initial_response": text, "initial_words": count_words(text), "initial_attempts": item.attempts,
        "gates": {"generate": [g.to_dict() for g in gates]}, "rejections": item.rejections,
    }
