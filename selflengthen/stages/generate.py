"""Stage 2, initial responses: the generator answers each instruction N times.

Gates (see selflengthen.method.gates): non-empty, not cut off by the token limit, ends with sentence punctuation
of its language, no repeated n-gram. A response failing a gate is regenerated, up to `max_retries` times;
then the sample is stored as failed with its last attempt and the reason. Every rejection is counted on
the sample. A request the backend gave up on (its own retries spent) is stored at once as failed with
reason generate/backend and the error. Resumable: (instruction, slot) pairs already stored are skipped,
except those the backend failed on, which a re-run asks again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from selflengthen.method.gates import check_text, first_failure
from selflengthen.method.generate import build_response_prompt
from selflengthen.method.words import count_words
from selflengthen.shapes import Iteration, Run, Store
from selflengthen.stages.common import (backend_gate, count_rejection, derive_seed, gate_rules, generate_wave,
                                        log_backend_errors, sampling_params, wave_size)
from selflengthen.stages.reporter import Reporter
from selflengthen.stages.expand import expansion_task, stored_steps
from selflengthen.stages.expansion import resumed_work
from selflengthen.stages.scheduler import Request, Stored, TaskQueue, distinct_servers, drive, streams

BACKEND_FAILURE = "generate/backend"  # the reject reason of a request the backend gave up on


@dataclass
class _Item:
    instruction: dict
    slot: int
    attempts: int = 0
    rejections: dict = field(default_factory=dict)


def run_generate(store: Store, run: Run, iteration: Iteration, backend, config, reporter: Reporter,
                 extender=None) -> None:
    """Answer every (instruction, slot) not stored yet. With `extender` (streaming only, see `fuses`), each
    answer that passes its gates goes straight on to its expansion in the same drive."""
    n = config.generate.responses_per_instruction
    instructions = [i for i in store.iteration_instructions(iteration["id"])
                    if config.augment.answer_seeds or i["source"] != "seed"]
    template = config.prompts.resolved()["generate"]
    unanswered = {(s["instruction_id"], s["slot"]): s["rejections"] for s in backend_failures(store, iteration)}
    stored = store.sample_slots(iteration["id"]) - set(unanswered)
    queue = [_Item(ins, slot, rejections=dict(unanswered.get((ins["id"], slot), {})))
             for ins in instructions for slot in range(n) if (ins["id"], slot) not in stored]
    fused = extender is not None and streams(backend, config) and streams(extender, config)
    reporter.stage("generate+expand" if fused else "generate", total=len(instructions) * n,
                   done=len(instructions) * n - len(queue))
    if streams(backend, config):
        _stream(store, queue, backend, config, run, iteration, reporter, template, extender if fused else None)
        return
    batch_no = len(stored)
    while queue:
        reporter.check_cancel()
        size = wave_size(backend, config, queue)
        batch, queue = queue[:size], queue[size:]
        seed = derive_seed(config.seed, iteration["idx"], "generate", batch_no)
        prompts = [build_response_prompt(item.instruction["text"], template=template) for item in batch]
        outputs = generate_wave(backend, prompts, sampling_params(config, config.generate.max_new_tokens, seed),
                                reporter)
        finished = []
        for item, out in zip(batch, outputs):
            row = _judge_response(item, out, config, run, iteration)
            if row is None:
                queue.append(item)
            else:
                finished.append(row)
        store.save_samples(finished)
        reporter.advance(len(finished))
        log_backend_errors(reporter, "generate", [out.error for out in outputs])
        batch_no += len(batch)


def _stream(store: Store, queue: list[_Item], backend, config, run, iteration, reporter: Reporter, template,
            extender=None) -> None:
    """The streaming driver: each (instruction, slot) asks again right after a failed gate, never waiting for a
    batch; its seeds come from the instruction, the slot and the attempt, so timing never changes a sample.
    With `extender`, an answer that passed is stored at once and its expansion queued behind the answers still
    to ask, longest first (the same requests, seeds and stored rows as a separate expand step: no barrier)."""
    def task(item: _Item):
        prompt = build_response_prompt(item.instruction["text"], template=template)
        while True:
            seed = derive_seed(config.seed, iteration["idx"], "generate", item.instruction["id"], item.slot,
                               item.attempts)
            row = _judge_response(item, (yield Request(replace(prompt, seed=seed))), config, run, iteration)
            if row is not None:
                return row

    tasks = TaskQueue(map(task, queue))
    backends = [backend] + ([extender] if extender is not None else [])
    item_text = {item.instruction["id"]: item.instruction["text"] for item in queue}
    with Stored(store.save_samples, reporter, error=_backend_error,
                finished=lambda row: extender is None or row["status"] != "generated") as stored, \
            stored_steps(store, reporter) as steps:
        def done(row: dict | None) -> None:
            if row is None:  # an expansion ended (its steps are stored by `steps`)
                return
            expands = extender is not None and row["status"] == "generated"
            stored.add(row, now=expands)  # an expansion's rows refer to its stored sample: store it first
            if not expands:
                return
            sample = store.sample_at(row["instruction_id"], row["slot"])
            work = resumed_work(sample, item_text[row["instruction_id"]], config.expand.mode)
            # Behind the answers still to ask; the longest texts first (their chains of steps take longest).
            tasks.put(expansion_task(work, config, iteration, steps, extender), rank=(1, -len(work.text)))

        drive(tasks, backend, sampling_params(config, config.generate.max_new_tokens, None), done,
              concurrency=sum(b.concurrency for b in distinct_servers(backends)), check=lambda: stored.tick(*backends))
    log_backend_errors(reporter, "generate", stored.errors)
    if extender is not None:
        log_backend_errors(reporter, "expand", steps.errors)


def _backend_error(row: dict) -> str | None:
    return row["gates"]["generate"][0]["reason"] if row["reject_reason"] == BACKEND_FAILURE else None


def backend_failures(store: Store, iteration: Iteration) -> list[dict]:
    """The iteration's samples whose generation the backend failed on (to ask again)."""
    failed = store.iteration_samples(iteration["id"], ("failed_generation",))
    return [s for s in failed if s["reject_reason"] == BACKEND_FAILURE]


def _judge_response(item: _Item, out, config, run, iteration) -> dict | None:
    """The sample row when the item is finished (passed, or out of retries); None to retry it."""
    if out.error is not None:
        return _unanswered(item, out.error, run, iteration)
    language = item.instruction["language"]
    cfg = config.generate
    gates = check_text(out.text, language, truncated=out.truncated, rules=gate_rules(config))
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


def _unanswered(item: _Item, error: str, run, iteration) -> dict:
    """The failed sample of a request the backend gave up on: its own retries were spent, so no more here."""
    item.attempts += 1
    count_rejection(item.rejections, BACKEND_FAILURE)
    return {
        "run_id": run["id"], "iteration_id": iteration["id"], "instruction_id": item.instruction["id"],
        "slot": item.slot, "language": item.instruction["language"], "status": "failed_generation",
        "reject_reason": BACKEND_FAILURE, "initial_response": "", "initial_words": 0,
        "initial_attempts": item.attempts, "gates": {"generate": [backend_gate(error)]}, "rejections": item.rejections,
    }
