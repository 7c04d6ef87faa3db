"""What happens after one expansion step of a sample, by `expand.mode`:

- `rounds`: a failed round is retried (up to `max_retries`; one cut off at the token limit only with
  `retry_cut_off`); a passed one is kept and, while rounds remain,
  the next round expands its result. After the last round, or a round out of retries, the sample passes when
  final words >= growth x initial words.
- `attempts` (the reference): one expansion is `rounds` attempts, each expanding the current text; a failed
  attempt is skipped (the text stays as it was), a passed one becomes the current text. After the last attempt
  the sample passes when its text is more than growth x the initial response; otherwise the whole expansion is
  redone from the initial response, up to `redo` expansions.

Each step returns (the next step's work or None, the sample row, the step's round row or None). Every attempt is
a round row (`round` counts attempts across redos); the sample's own state (current text, kept steps, steps
made) is all a re-run needs to continue (`resumed_work`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from selflengthen.method.gates import GateResult, first_failure
from selflengthen.method.words import count_words
from selflengthen.shapes import Sample
from selflengthen.stages.common import count_rejection


@dataclass
class Work:
    """One sample's next expansion step."""

    sample: dict
    instruction: str
    text: str  # the text this step expands
    round: int  # the round (mode rounds) or the attempt, counted across redos (mode attempts), from 1
    attempts: int = 0  # mode rounds: tries of this round so far
    rejections: dict = field(default_factory=dict)
    half: tuple[str, str, str] = ("", "", "")
    stage1: str = ""
    stage1_gates: list = field(default_factory=list)
    error: str | None = None  # the backend gave up on this step's request


def resumed_work(sample: Sample, instruction: str, mode: str) -> Work:
    """The next step of a sample, from its stored state: its current text (the expansion so far, else the initial
    response) and the number of the next round (rounds kept + 1) or attempt (attempts made + 1)."""
    number = sample["rounds"] + 1 if mode == "rounds" else sample["expand_attempts"] + 1
    return Work(sample, instruction, sample["final_expansion"] or sample["initial_response"], number,
                rejections=dict(sample["rejections"]))


def longer_gate(before: int, after: int, name: str) -> GateResult:
    ok = after > before
    return GateResult(name, ok, "" if ok else f"{after} words, not more than {before}")


def settle(work: Work, result, config):
    """The outcome of one step (`result` is (text, stage-2 gates), or None when stage 1 failed its gates)."""
    gates = list(work.stage1_gates) if result is None else work.stage1_gates + [
        GateResult(f"stage2_{g.gate}", g.passed, g.reason) for g in result[1]]
    if config.expand.mode == "attempts":
        return _settle_attempt(work, result, gates, config.expand)
    return _settle_round(work, result, gates, config.expand)


def _round_row(work: Work, result, gates: list[GateResult], kept: bool, attempts: int) -> dict:
    return {
        "sample_id": work.sample["id"], "round": work.round, "source_text": work.text, "first_half": work.half[0],
        "separator": work.half[1], "stage1": work.stage1, "stage2": result[0] if result else None,
        "result": result[0] if result else None, "words_before": count_words(work.text),
        "words_after": count_words(result[0]) if result else None, "attempts": attempts, "kept": kept,
        "gates": [g.to_dict() for g in gates],
    }


def _keep(sample: dict, work: Work, result, gates: list[GateResult], kept_steps: int) -> None:
    sample.update(first_half=work.half[0], stage1_expansion=work.stage1, final_expansion=result[0],
                  final_words=count_words(result[0]), rounds=kept_steps)
    sample["gates"] = {**sample["gates"], f"expand_round_{work.round}": [g.to_dict() for g in gates]}


def _reject(sample: dict, work: Work, failure: GateResult) -> None:
    count_rejection(work.rejections, f"expand/{failure.gate}")
    sample["rejections"] = work.rejections


def _settle_round(work: Work, result, gates: list[GateResult], cfg):
    failure = first_failure(gates)
    work.attempts += 1
    sample = work.sample
    sample["expand_attempts"] += 1
    if failure is not None:
        _reject(sample, work, failure)
        # A text whose expansion no longer fits the token limit is cut off again on every retry: end it here.
        doomed = failure.gate.endswith("not_truncated") and not cfg.retry_cut_off
        if work.attempts <= cfg.max_retries and not doomed:
            return work, sample, None
    round_row = _round_row(work, result, gates, failure is None, work.attempts)
    if failure is None:
        _keep(sample, work, result, gates, work.round)
        if work.round < cfg.rounds:
            return Work(sample, work.instruction, result[0], work.round + 1, rejections=work.rejections), sample, \
                round_row
    finish(sample, cfg.growth, None if failure is None else f"expand/{failure.gate}")
    return None, sample, round_row


def _settle_attempt(work: Work, result, gates: list[GateResult], cfg):
    failure = first_failure(gates)
    sample = work.sample
    sample["expand_attempts"] = attempt = work.round
    round_row = _round_row(work, result, gates, failure is None, 1)
    if failure is None:
        _keep(sample, work, result, gates, sample["rounds"] + 1)
        work.text = result[0]
    else:
        _reject(sample, work, failure)
        sample["gates"] = {**sample["gates"], f"expand_round_{attempt}": [g.to_dict() for g in gates]}
    if attempt % cfg.rounds:  # attempts remain in this expansion
        return Work(sample, work.instruction, work.text, attempt + 1, rejections=work.rejections), sample, round_row
    grown = sample["rounds"] > 0 and sample["final_words"] > cfg.growth * sample["initial_words"]
    if grown or attempt // cfg.rounds >= cfg.redo:
        finish(sample, cfg.growth, "expand/growth", strictly=True)
        return None, sample, round_row
    # Not grown enough: start again from the initial response (the attempts so far stay as round rows).
    sample.update(first_half=None, stage1_expansion=None, final_expansion=None, final_words=None, rounds=0,
                  gates={k: v for k, v in sample["gates"].items() if not k.startswith("expand_round_")})
    return Work(sample, work.instruction, sample["initial_response"], attempt + 1, rejections=work.rejections), \
        sample, round_row


def finish(sample: Sample, growth: float, failed_reason: str | None, strictly: bool = False) -> None:
    """Final status: passed when final words >= growth x initial words (with `strictly`, more than)."""
    final_words = sample["final_words"] or sample["initial_words"]
    ratio = final_words / max(sample["initial_words"], 1)
    ok = sample["rounds"] > 0 and (ratio > growth if strictly else ratio >= growth)
    sample["growth"] = round(ratio, 4)
    needs = f"more than {growth}x" if strictly else f"{growth}x"
    sample["gates"] = {**sample["gates"], "growth": {"gate": "growth", "passed": ok,
                                                     "reason": f"{ratio:.2f}x (needs {needs})"}}
    sample["status"] = "expanded" if ok else "failed_expansion"
    sample["reject_reason"] = None if ok else (failed_reason or "expand/growth")
