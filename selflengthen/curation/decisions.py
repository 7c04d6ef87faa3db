"""The decision service: every curator decision, from the dashboard, the CLI's `review` or `loop --auto-accept`,
is recorded through `record` (or `decide`, for one sample), so each applies the same rules:

- a reject names at least one known reason (`rules.check_reasons`);
- the conflict rule: when a run has overlap 1 (one curator decides each sample), a decision is checked against
  what the curator saw. If another curator decided the sample differently since, nothing is recorded and
  DecisionConflict says who did what and when; deciding again knowingly (the dashboard's second press, the
  CLI's --override) records it. With overlap 2 or more several verdicts per sample are wanted: no check.

History is append-only: an undo is a 'pending' row, an edit an accept that carries the curator's text.
"""

from __future__ import annotations

from selflengthen.curation.rules import check_reasons
from selflengthen.errors import InputError, SelfLengthenError
from selflengthen.shapes import Decision, Iteration, Store

VERDICT_VERBS = {"accept": "accepted", "reject": "rejected", "pending": "reset to pending"}
PRESS_AGAIN = "after you opened it — press again to override"  # the dashboard's words
CLI_OVERRIDE = "— add --override to record yours anyway"


class DecisionConflict(SelfLengthenError):
    """Another curator decided this sample differently after this one looked at it; nothing was recorded."""

    def __init__(self, sample_id: int, newer: Decision, hint: str = PRESS_AGAIN):
        super().__init__(conflict_message(sample_id, newer, hint))
        self.sample_id, self.newer = sample_id, newer


def conflict_message(sample_id: int, newer: dict, hint: str = PRESS_AGAIN) -> str:
    """Why a decision was held back: another curator decided differently after this one opened the sample.

    >>> conflict_message(12, {"verdict": "reject", "user": "bob", "created_at": "2026-01-02T10:02:33.120+00:00"})
    'sample 12 was rejected by bob at 10:02 after you opened it — press again to override'
    """
    stamp = (newer.get("created_at") or "")[11:16] or "?"
    who = newer.get("user") or "another curator"
    return f"sample {sample_id} was {VERDICT_VERBS[newer['verdict']]} by {who} at {stamp} {hint}"


def decision_row(sample_id: int, verdict: str, *, reasons=(), note: str = "", edited_text: str | None = None) -> dict:
    """One decision to record; a reject's reasons are checked here, so no caller can store an unexplained one.

    >>> decision_row(3, "reject", reasons=["too_short"])
    {'sample_id': 3, 'verdict': 'reject', 'reasons': ['too_short'], 'note': '', 'edited_text': None}
    """
    reasons = check_reasons(reasons) if verdict == "reject" else []
    return {"sample_id": sample_id, "verdict": verdict, "reasons": reasons, "note": note or "",
            "edited_text": edited_text}


def record(store: Store, rows: list[dict], *, user: str, overlap: int, seen: dict[int, int] | None = None,
           hint: str = PRESS_AGAIN) -> int:
    """Record decision rows in one transaction; returns how many.

    `seen` maps a sample to the newest decision id on it when the curator looked (0: nothing seen). With
    overlap 1 and `seen` given, the conflict rule applies (see the module docstring); without `seen` the rows
    are recorded as they are (a curator's confirmed bulk action, an override, an undo of one's own verdict).
    """
    if overlap == 1 and seen is not None:
        newer = store.record_unless_overtaken(rows, seen, user=user)
        if newer is not None:
            raise DecisionConflict(newer["sample_id"], newer, hint)
        return len(rows)
    return store.record_decisions(rows, user=user)


def decide(store: Store, sample_id: int, verdict: str, *, user: str, overlap: int, seen_id: int | None = None,
           reasons=(), note: str = "", edited_text: str | None = None) -> None:
    """One curator's verdict on one sample (see `record`; `seen_id` None records without the conflict check)."""
    row = decision_row(sample_id, verdict, reasons=reasons, note=note, edited_text=edited_text)
    record(store, [row], user=user, overlap=overlap, seen=None if seen_id is None else {sample_id: seen_id})


# -- the CLI's review ----------------------------------------------------------------------------------------

def review(store: Store, run_name: str, *, accept_passing: bool = False, accept: list[int] | None = None,
           reject: list[int] | None = None, undo: list[int] | None = None, edit: int | None = None,
           edited_text: str | None = None, reasons: list[str] = (), note: str = "", user: str = "",
           override: bool = False) -> int:
    """Record decisions on the run's latest iteration; returns how many were recorded.

    `accept_passing` accepts every sample that passed and has no standing verdict; `undo` withdraws the user's
    own verdict (a 'pending' row; history stays); `edit` accepts one sample with `edited_text` as its final
    text (the original expansion is kept). Accepting, rejecting or editing named samples follows the conflict
    rule as if the curator had seen none of the other curators' decisions, unless `override`.
    """
    run = store.require_run(run_name)
    iteration = store.latest_iteration(run["id"])
    samples = {s["id"]: s for s in store.iteration_samples(iteration["id"])}
    if accept_passing:
        decided = store.current_decisions(iteration["id"])
        rows = [decision_row(i, "accept", note=note) for i, s in samples.items()
                if s["status"] == "kept" and decided.get(i, {}).get("verdict", "pending") == "pending"]
        return record(store, rows, user=user, overlap=run["overlap"])
    ids = undo or ([edit] if edit is not None else accept or reject)
    _check_in_iteration(ids, samples, iteration, run_name)
    if undo:
        return record(store, [decision_row(i, "pending", note=note) for i in undo], user=user, overlap=run["overlap"])
    if edit is not None:
        if not (edited_text or "").strip():
            raise InputError("--edit needs a non-empty --text-file")
        rows = [decision_row(edit, "accept", note=note, edited_text=edited_text)]
    else:
        verdict = "accept" if accept else "reject"
        rows = [decision_row(i, verdict, reasons=reasons, note=note) for i in ids]
    seen = None if override else {row["sample_id"]: 0 for row in rows}
    return record(store, rows, user=user, overlap=run["overlap"], seen=seen, hint=CLI_OVERRIDE)


def _check_in_iteration(ids: list[int], samples: dict, iteration: Iteration, run_name: str) -> None:
    unknown = [i for i in ids if i not in samples]
    if unknown:
        raise InputError(f"sample {unknown[0]} is not in iteration {iteration['idx']} of run '{run_name}'")
