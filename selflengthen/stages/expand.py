"""Stage 3, two-stage expansion by the extender.

One step (a round, or an attempt): split the current text into halves (`expand.split`); stage 1 expands the
first half; stage 2 gets the whole text with its answer prefilled by the stage-1 expansion (trimmed with
`expand.trim_stage1`) and continues, expanding the rest. The step's result passes when it passes the gates
and is longer than the text it started from. What happens next is `expand.mode`'s (see
`selflengthen.stages.expansion`): retried rounds, or the reference's attempts and redos.

A request the backend gave up on (its own retries spent) ends the sample's expansion at once as failed
with reason expand/backend and the error, without a round.

Resumable: each step's result is stored with the sample's new state in one transaction; a re-run picks up
samples still marked 'generated', and those the backend failed on, from their stored state.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from selflengthen.backends.base import Prompt
from selflengthen.method.expand import build_expand_prompt, join_stage2, stage2_prefill
from selflengthen.method.gates import GateResult, check_text, first_failure
from selflengthen.method.split import split_text
from selflengthen.method.words import count_words
from selflengthen.shapes import Iteration, Run, Store
from selflengthen.stages.common import (backend_gate, count_rejection, derive_seed, gate_rules, generate_wave,
                                        log_backend_errors, sampling_params, wave_size)
from selflengthen.stages.expansion import Work, longer_gate, resumed_work, settle
from selflengthen.stages.reporter import Reporter
from selflengthen.stages.scheduler import Request, Stored, drive, streams

BACKEND_FAILURE = "expand/backend"  # the reject reason of a request the backend gave up on
NOT_EXPANDED = ("failed_generation", "dropped_initial")


def run_expand(store: Store, run: Run, iteration: Iteration, backend, config, reporter: Reporter,
               retry: Collection[int] | None = None) -> None:
    """Expand the iteration's samples still to expand; `retry`: of those the backend failed on, the ones to
    try again (None: all)."""
    texts = {i["id"]: i["text"] for i in store.iteration_instructions(iteration["id"])}
    pending = expansion_pending(store, iteration, retry)
    expandable = store.sample_status_counts(iteration["id"])
    total = sum(n for status, n in expandable.items() if status not in NOT_EXPANDED)
    reporter.stage("expand", total=total, done=total - len(pending))
    queue = [resumed_work(s, texts[s["instruction_id"]], config.expand.mode) for s in pending]
    if streams(backend, config):
        _stream(store, queue, backend, config, iteration, reporter)
        return
    counter = 0
    while queue:
        reporter.check_cancel()
        size = wave_size(backend, config, queue)
        batch, queue = queue[:size], queue[size:]
        seed = derive_seed(config.seed, iteration["idx"], "expand", counter)
        counter += len(batch)
        _stage1(backend, config, batch, seed, reporter)
        ready = [w for w in batch if w.error is None and first_failure(w.stage1_gates) is None]
        results = dict(zip(map(id, ready), _stage2(backend, config, ready, seed + 1, reporter)))
        samples, rounds, again, finished = _settle_batch(batch, results, config)
        queue.extend(again)
        store.save_expansion(samples, rounds)
        reporter.advance(finished)
        log_backend_errors(reporter, "expand", [w.error for w in batch])


def _settle_batch(batch: list[Work], results: dict, config) -> tuple[list, list, list, int]:
    """(sample rows and round rows to store, work to queue again, samples finished) after one attempt each."""
    samples, rounds, again, finished = [], [], [], 0
    for work in batch:
        if work.error is not None:
            samples.append(_unanswered(work, counts=config.expand.mode == "rounds"))
            finished += 1
            continue
        next_work, sample_row, round_row = settle(work, results.get(id(work)), config)
        if round_row is not None:
            rounds.append(round_row)
            samples.append(sample_row)
        if next_work:
            again.append(next_work)
        elif sample_row["status"] != "generated":
            finished += 1
    return samples, rounds, again, finished


def _stream(store: Store, queue: list[Work], backend, config, iteration: Iteration, reporter: Reporter) -> None:
    """The streaming driver: each sample runs its steps back to back (stage 1, stage 2, the next round or
    attempt) without waiting for any other sample; each step is stored as it ends. Seeds come from the sample
    (instruction, slot), the step (round or attempt, try) and the stage, never from timing."""
    with stored_steps(store, reporter) as stored:
        # Longest texts first: their chains of steps take longest, so they start before the short ones fill the slots.
        longest_first = sorted(queue, key=lambda work: -len(work.text))
        drive((expansion_task(work, config, iteration, stored) for work in longest_first), backend,
              sampling_params(config, config.expand.max_new_tokens, None), lambda _: None,
              check=lambda: stored.tick(backend))
    log_backend_errors(reporter, "expand", stored.errors)


def expansion_task(work: Work | None, config, iteration: Iteration, stored: Stored, backend=None):
    """A sample's expansion as a scheduler task: its requests (to `backend`, or the drive's), each step stored
    through `stored` (see `stored_steps`) as it ends."""
    params = None if backend is None else sampling_params(config, config.expand.max_new_tokens, None)
    while work is not None:
        key = (config.seed, iteration["idx"], "expand", work.sample["instruction_id"], work.sample["slot"],
               work.round, work.attempts)
        prompt = replace(_stage1_prompt(work, config), seed=derive_seed(*key, 1))
        _judge_stage1(work, (yield Request(prompt, params, backend)), config)
        result = None
        if work.error is None and first_failure(work.stage1_gates) is None:
            prefill, prompt = _stage2_prompt(work, config)
            out = yield Request(replace(prompt, seed=derive_seed(*key, 2)), params, backend)
            result = _judge_stage2(work, prefill, out, config)
        samples, rounds, again, finished = _settle_batch([work], {id(work): result} if result else {}, config)
        stored.add((samples, rounds, finished, work.error))
        work = again[0] if again else None


def stored_steps(store: Store, reporter: Reporter) -> Stored:
    """Where `expansion_task` stores its steps: sample and round rows in small transactions; the reporter advances
    by the samples whose expansion ended."""
    def save(steps: list[tuple]) -> None:
        store.save_expansion([s for samples, *_ in steps for s in samples],
                             [r for _, rounds, *_ in steps for r in rounds])

    return Stored(save, reporter, finished=lambda step: step[2], error=lambda step: step[3])


def expansion_pending(store: Store, iteration: Iteration, retry: Collection[int] | None = None) -> list[dict]:
    """Samples to expand: those still 'generated', and those whose expansion the backend failed on, of them
    only the ids in `retry` unless it is None (their kept rounds stand; the status goes back to 'generated'
    while they are worked on)."""
    samples = store.iteration_samples(iteration["id"], ("generated", "failed_expansion"))
    pending = [s for s in samples if s["status"] == "generated"
               or (_failed_by_backend(s) and (retry is None or s["id"] in retry))]
    for sample in pending:
        sample.update(status="generated", reject_reason=None)
    return pending


def backend_failures(store: Store, iteration: Iteration) -> set[int]:
    """The ids of the iteration's samples whose expansion the backend failed on."""
    return {s["id"] for s in store.iteration_samples(iteration["id"], ("failed_expansion",)) if _failed_by_backend(s)}


def _failed_by_backend(sample: dict) -> bool:
    return sample["status"] == "failed_expansion" and sample["reject_reason"] == BACKEND_FAILURE


def _stage1(backend, config, batch: list[Work], seed: int, reporter: Reporter) -> None:
    prompts = [_stage1_prompt(work, config) for work in batch]
    outputs = generate_wave(backend, prompts, sampling_params(config, config.expand.max_new_tokens, seed), reporter)
    for work, out in zip(batch, outputs):
        _judge_stage1(work, out, config)


def _stage1_prompt(work: Work, config) -> Prompt:
    """Split the step's text into halves (kept on the work) and ask to expand the first."""
    work.half = split_text(work.text, config.expand.split)
    template = config.prompts.resolved()[f"expand_{work.sample['language']}"]
    return build_expand_prompt(work.instruction, work.half[0], work.sample["language"], template=template)


def _judge_stage1(work: Work, out, config) -> None:
    work.error = out.error
    work.stage1 = out.text.strip()
    if not config.expand.gate_stage1:  # the reference gates only the finished text
        work.stage1_gates = []
        return
    gates = check_text(work.stage1, work.sample["language"], truncated=out.truncated, rules=gate_rules(config))
    work.stage1_gates = [GateResult(f"stage1_{g.gate}", g.passed, g.reason) for g in gates] + [
        longer_gate(count_words(work.half[0]), count_words(work.stage1), "stage1_longer")]


def _stage2(backend, config, ready: list[Work], seed: int, reporter: Reporter) -> list[tuple]:
    """(result text, gates) per ready item: the prefilled stage-1 text plus the model's continuation."""
    if not ready:
        return []
    asks = [_stage2_prompt(work, config) for work in ready]
    outputs = generate_wave(backend, [prompt for _, prompt in asks],
                            sampling_params(config, config.expand.max_new_tokens, seed), reporter)
    return [_judge_stage2(work, prefill, out, config) for work, (prefill, _), out in zip(ready, asks, outputs)]


def _stage2_prompt(work: Work, config) -> tuple[str, Prompt]:
    """(the prefill: the trimmed stage-1 text, the whole text's expansion prompt continuing it)."""
    prefill = stage2_prefill(work.stage1, work.half[1], trim=config.expand.trim_stage1)
    template = config.prompts.resolved()[f"expand_{work.sample['language']}"]
    return prefill, build_expand_prompt(work.instruction, work.text, work.sample["language"], prefill=prefill,
                                        template=template)


def _judge_stage2(work: Work, prefill: str, out, config) -> tuple:
    work.error = out.error
    text = join_stage2(prefill, out.text)
    gates = check_text(text, work.sample["language"], truncated=out.truncated, rules=gate_rules(config))
    gates.append(longer_gate(count_words(work.text), count_words(text), "longer"))
    return text, gates


def _unanswered(work: Work, counts: bool) -> dict:
    """The sample after a request the backend gave up on: failed, its kept rounds standing, no round row. In
    mode attempts the attempt did not happen (`counts` False): a re-run makes it."""
    sample = work.sample
    sample["expand_attempts"] += 1 if counts else 0
    count_rejection(work.rejections, BACKEND_FAILURE)
    sample.update(status="failed_expansion", reject_reason=BACKEND_FAILURE, rejections=work.rejections,
                  gates={**sample["gates"], f"expand_round_{work.round}": [backend_gate(work.error)]})
    return sample
