"""Stage 3, two-stage expansion by the extender.

One round: split the current text into halves at a paragraph boundary; stage 1 expands the first half;
stage 2 gets the whole text with its answer prefilled by the stage-1 expansion and continues, expanding
the rest. The round is kept when its result passes the gates and is longer than the text it started
from; a failed round is retried up to `max_retries` times, then expansion of that sample stops. After
the last round the sample passes when final words >= growth x initial words.

A request the backend gave up on (its own retries spent) ends the sample's expansion at once as failed
with reason expand/backend and the error, without a round.

Resumable: each finished round is stored with the sample's new state in one transaction; a re-run picks
up samples still marked 'generated', and those the backend failed on, from their last kept round.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from selflengthen.method.expand import build_expand_prompt, join_stage2, stage2_prefill
from selflengthen.method.gates import GateResult, check_text, first_failure
from selflengthen.method.split import split_halves
from selflengthen.method.words import count_words
from selflengthen.shapes import Iteration, Run, Sample, Store
from selflengthen.stages.common import (backend_gate, count_rejection, derive_seed, gate_rules, log_backend_errors,
                                        sampling_params)
from selflengthen.stages.reporter import Reporter

BACKEND_FAILURE = "expand/backend"  # the reject reason of a request the backend gave up on


@dataclass
class _Work:
    sample: dict
    instruction: str
    text: str
    round: int
    attempts: int = 0
    rejections: dict = field(default_factory=dict)
    half: tuple[str, str, str] = ("", "", "")
    stage1: str = ""
    stage1_gates: list = field(default_factory=list)
    error: str | None = None  # the backend gave up on this attempt's request


def longer_gate(before: int, after: int, name: str) -> GateResult:
    ok = after > before
    return GateResult(name, ok, "" if ok else f"{after} words, not more than {before}")


def run_expand(store: Store, run: Run, iteration: Iteration, backend, config, reporter: Reporter) -> None:
    texts = {i["id"]: i["text"] for i in store.iteration_instructions(iteration["id"])}
    pending = expansion_pending(store, iteration)
    expandable = store.sample_status_counts(iteration["id"])
    total = sum(n for status, n in expandable.items() if status != "failed_generation")
    reporter.stage("expand", total=total, done=total - len(pending))
    queue = [_Work(s, texts[s["instruction_id"]], s["final_expansion"] or s["initial_response"], s["rounds"] + 1,
                   rejections=dict(s["rejections"])) for s in pending]
    counter = 0
    while queue:
        reporter.check_cancel()
        batch, queue = queue[:config.backend.batch_size], queue[config.backend.batch_size:]
        seed = derive_seed(config.seed, iteration["idx"], "expand", counter)
        counter += len(batch)
        _stage1(backend, config, batch, seed)
        ready = [w for w in batch if w.error is None and first_failure(w.stage1_gates) is None]
        results = dict(zip(map(id, ready), _stage2(backend, config, ready, seed + 1)))
        samples, rounds, again, finished = _settle_batch(batch, results, config)
        queue.extend(again)
        store.save_expansion(samples, rounds)
        reporter.advance(finished)
        log_backend_errors(reporter, "expand", [w.error for w in batch])


def _settle_batch(batch: list[_Work], results: dict, config) -> tuple[list, list, list, int]:
    """(sample rows and round rows to store, work to queue again, samples finished) after one attempt each."""
    samples, rounds, again, finished = [], [], [], 0
    for work in batch:
        if work.error is not None:
            samples.append(_unanswered(work))
            finished += 1
            continue
        next_work, sample_row, round_row = _settle(work, results.get(id(work)), config)
        if round_row is not None:
            rounds.append(round_row)
            samples.append(sample_row)
        if next_work:
            again.append(next_work)
        elif sample_row["status"] != "generated":
            finished += 1
    return samples, rounds, again, finished


def expansion_pending(store: Store, iteration: Iteration) -> list[dict]:
    """Samples to expand: those still 'generated', and those whose expansion the backend failed on (their
    kept rounds stand; the status goes back to 'generated' while they are worked on)."""
    samples = store.iteration_samples(iteration["id"], ("generated", "failed_expansion"))
    pending = [s for s in samples if s["status"] == "generated" or s["reject_reason"] == BACKEND_FAILURE]
    for sample in pending:
        sample.update(status="generated", reject_reason=None)
    return pending


def _stage1(backend, config, batch: list[_Work], seed: int) -> None:
    cfg = config.expand
    for work in batch:
        work.half = split_halves(work.text)
    prompts = [build_expand_prompt(w.instruction, w.half[0], w.sample["language"]) for w in batch]
    outputs = backend.generate(prompts, sampling_params(config, cfg.max_new_tokens, seed))
    for work, out in zip(batch, outputs):
        work.error = out.error
        work.stage1 = out.text.strip()
        if not cfg.gate_stage1:  # the reference gates only the finished text
            work.stage1_gates = []
            continue
        gates = check_text(work.stage1, work.sample["language"], truncated=out.truncated, rules=gate_rules(config))
        work.stage1_gates = [GateResult(f"stage1_{g.gate}", g.passed, g.reason) for g in gates] + [
            longer_gate(count_words(work.half[0]), count_words(work.stage1), "stage1_longer")]


def _stage2(backend, config, ready: list[_Work], seed: int) -> list[tuple]:
    """(result text, gates) per ready item: the prefilled stage-1 text plus the model's continuation."""
    if not ready:
        return []
    prefills = [stage2_prefill(w.stage1, w.half[1]) for w in ready]
    prompts = [build_expand_prompt(w.instruction, w.text, w.sample["language"], prefill=p)
               for w, p in zip(ready, prefills)]
    outputs = backend.generate(prompts, sampling_params(config, config.expand.max_new_tokens, seed))
    results = []
    for work, prefill, out in zip(ready, prefills, outputs):
        work.error = out.error
        text = join_stage2(prefill, out.text)
        gates = check_text(text, work.sample["language"], truncated=out.truncated, rules=gate_rules(config))
        gates.append(longer_gate(count_words(work.text), count_words(text), "longer"))
        results.append((text, gates))
    return results


def _settle(work: _Work, result, config):
    """Decide a work item after one attempt: (work to queue again or None, sample row, round row or None)."""
    cfg = config.expand
    gates = list(work.stage1_gates) if result is None else work.stage1_gates + [
        GateResult(f"stage2_{g.gate}", g.passed, g.reason) for g in result[1]]
    failure = first_failure(gates)
    work.attempts += 1
    sample = work.sample
    sample["expand_attempts"] = sample["expand_attempts"] + 1
    if failure is not None:
        count_rejection(work.rejections, f"expand/{failure.gate}")
        sample["rejections"] = work.rejections
        if work.attempts <= cfg.max_retries:
            return work, sample, None
    round_row = {
        "sample_id": sample["id"], "round": work.round, "source_text": work.text, "first_half": work.half[0],
        "separator": work.half[1], "stage1": work.stage1, "stage2": result[0] if result else None,
        "result": result[0] if result else None, "words_before": count_words(work.text),
        "words_after": count_words(result[0]) if result else None, "attempts": work.attempts,
        "kept": failure is None, "gates": [g.to_dict() for g in gates],
    }
    if failure is None:
        sample.update(first_half=work.half[0], stage1_expansion=work.stage1, final_expansion=result[0],
                      final_words=count_words(result[0]), rounds=work.round)
        sample["gates"] = {**sample["gates"], f"expand_round_{work.round}": [g.to_dict() for g in gates]}
        if work.round < cfg.rounds:
            return _Work(sample, work.instruction, result[0], work.round + 1, rejections=work.rejections), sample, round_row
    _finish(sample, cfg.growth, None if failure is None else f"expand/{failure.gate}")
    return None, sample, round_row


def _unanswered(work: _Work) -> dict:
    """The sample after a request the backend gave up on: failed, its kept rounds standing, no round row."""
    sample = work.sample
    sample["expand_attempts"] += 1
    count_rejection(work.rejections, BACKEND_FAILURE)
    sample.update(status="failed_expansion", reject_reason=BACKEND_FAILURE, rejections=work.rejections,
                  gates={**sample["gates"], f"expand_round_{work.round}": [backend_gate(work.error)]})
    return sample


def _finish(sample: Sample, growth: float, failed_reason: str | None) -> None:
    """Final status: passed when final words >= growth x initial words."""
    final_words = sample["final_words"] or sample["initial_words"]
    ratio = final_words / max(sample["initial_words"], 1)
    ok = sample["rounds"] > 0 and ratio >= growth
    sample["growth"] = round(ratio, 4)
    sample["gates"] = {**sample["gates"], "growth": {"gate": "growth", "passed": ok,
                                                     "reason": f"{ratio:.2f}x (needs {growth}x)"}}
    sample["status"] = "expanded" if ok else "failed_expansion"
    sample["reject_reason"] = None if ok else (failed_reason or "expand/growth")
