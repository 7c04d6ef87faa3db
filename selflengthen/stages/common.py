"""Helpers every stage runner shares: sampling parameters, deterministic seeds, batching, backend failures."""

from __future__ import annotations

import hashlib
import inspect
from typing import Iterator, Sequence, TypeVar

from selflengthen.backends.base import GenerationParams
from selflengthen.config import RunConfig
from selflengthen.method.gates import GateRules, check_text
from selflengthen.stages.reporter import Reporter

T = TypeVar("T")


def derive_seed(*parts) -> int:
    """A stable 31-bit seed from any parts (run seed, iteration, stage, counter).

    >>> derive_seed(0, 1, "augment") == derive_seed(0, 1, "augment")
    True
    """
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def wave_size(backend, config, queue: list) -> int:
    """How many of a stage's queued items one generate() call takes: all of them for a backend that schedules
    them itself (vLLM in process), else backend.batch_size."""
    return max(1, len(queue)) if getattr(backend, "whole_stage", False) else config.backend.batch_size


def generate_wave(backend, prompts: list, params: GenerationParams, reporter: Reporter) -> list:
    """One wave of a batch loop: `backend.generate`, telling the reporter how many of its requests are written as
    they finish, where the backend can tell (its generate takes `written`: transformers, vLLM in process)."""
    if not _takes_written(backend.generate):
        return backend.generate(prompts, params)
    reporter.written(0, len(prompts))
    return backend.generate(prompts, params, written=lambda done: reporter.written(done, len(prompts)))


def _takes_written(generate) -> bool:
    try:
        return "written" in inspect.signature(generate).parameters
    except (TypeError, ValueError):  # a callable without a readable signature
        return False


def stable_order(sample: dict) -> tuple[int, int]:
    """A sample's place in a stage's ranking: its instruction and slot, never its id (ids follow the order samples
    were stored in, which a streaming driver's timing decides)."""
    return sample["instruction_id"], sample["slot"]


def sampling_params(config: RunConfig, max_new_tokens: int, seed: int) -> GenerationParams:
    s = config.sampling
    return GenerationParams(max_new_tokens=max_new_tokens, temperature=s.temperature, top_p=s.top_p,
                            top_k=s.top_k, repetition_penalty=s.repetition_penalty, seed=seed, stop=tuple(s.stop))


def gate_rules(config: RunConfig) -> GateRules:
    """The text gates' rules of a run: its `gates` section and the generate stage's n-gram sizes."""
    g = config.gates
    return GateRules(punctuation=g.punctuation, ngram=g.ngram, meta_talk=g.meta_talk, padding=g.padding,
                     n_words=config.generate.ngram_words, n_chars=config.generate.ngram_chars)


STAGES_GATED = ("generate", "stage1", "expand")


def gate_verdicts(text: str, language: str, stage: str, config: RunConfig) -> dict:
    """Every gate's verdict on one text as the pipeline would judge it at `stage` (generate: an initial response;
    stage1: a stage-1 expansion, not gated when expand.gate_stage1 is off; expand: a finished expansion), with
    the names the pipeline stores. The "longer" gates need the text before expansion and are not run here.

    >>> gate_verdicts("Fine.", "en", "expand", RunConfig())["gates"][0]
    {'gate': 'stage2_non_empty', 'passed': True, 'reason': ''}
    """
    if stage not in STAGES_GATED:
        raise ValueError(f"stage must be one of {', '.join(STAGES_GATED)} (got {stage!r})")
    if stage == "stage1" and not config.expand.gate_stage1:
        return {"passed": True, "gates": []}
    prefix = {"generate": "", "stage1": "stage1_", "expand": "stage2_"}[stage]
    gates = [{**g.to_dict(), "gate": prefix + g.gate} for g in check_text(text, language, rules=gate_rules(config))]
    return {"passed": all(g["passed"] for g in gates), "gates": gates}


def batches(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """Consecutive chunks of at most `size` items.

    >>> list(batches([1, 2, 3], 2))
    [[1, 2], [3]]
    """
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def count_rejection(rejections: dict, key: str) -> None:
    rejections[key] = rejections.get(key, 0) + 1


def backend_gate(error: str) -> dict:
    """The stored gate result that keeps with a sample the error of a request the backend gave up on (server
    down, timing out, erroring: no fault of the text, so its stage asks again on a re-run).

    >>> backend_gate("http://h/v1/chat/completions failed after 3 attempt(s): HTTP 500: boom")["reason"][-4:]
    'boom'
    """
    return {"gate": "backend", "passed": False, "reason": error}


def log_backend_errors(reporter, stage: str, errors: list) -> None:
    """One job-log line for the requests of a batch the backend gave up on (none: no line)."""
    failed = [e for e in errors if e]
    if failed:
        reporter.log(f"{stage}: {len(failed)} of {len(errors)} request(s) failed after the backend's retries, "
                     f"stored as failed; run iterate again to retry them ({failed[0]})")
