"""Curator decisions from the command line (the dashboard records the same rows)."""

from __future__ import annotations

from selflengthen.errors import InputError

REJECT_REASONS = ("too_short", "repetitive", "off_topic", "truncated", "factual_error", "language_mix",
                  "formatting", "other")


def review(store, run_name: str, *, accept_passing: bool = False, accept: list[int] | None = None,
           reject: list[int] | None = None, undo: list[int] | None = None, edit: int | None = None,
           edited_text: str | None = None, reasons: list[str] = (), note: str = "", user: str = "") -> int:
    """Record decisions on the run's latest iteration; returns how many were recorded.

    `undo` withdraws the user's own verdict (a 'pending' row; history stays); `edit` accepts one sample
    with `edited_text` as its final text (the original expansion is kept).
    """
    run = store.require_run(run_name)
    iteration = store.latest_iteration(run["id"])
    samples = {s["id"]: s for s in store.iteration_samples(iteration["id"])}
    if undo or edit is not None:
        return _undo_or_edit(store, run_name, iteration, samples, undo, edit, edited_text, note, user)
    if accept_passing:
        decided = store.current_decisions(iteration["id"])
        ids = [i for i, s in samples.items() if s["status"] == "kept"
               and decided.get(i, {}).get("verdict", "pending") == "pending"]
        verdict = "accept"
    else:
        ids, verdict = (accept, "accept") if accept else (reject, "reject")
        unknown = [i for i in ids if i not in samples]
        if unknown:
            raise InputError(f"sample {unknown[0]} is not in iteration {iteration['idx']} of run '{run_name}'")
    if verdict == "reject":
        bad = [r for r in reasons if r not in REJECT_REASONS]
        if bad:
            raise InputError(f"unknown reason '{bad[0]}' (reasons: {', '.join(REJECT_REASONS)})")
        if not reasons:
            raise InputError("--reject needs at least one --reason")
    rows = [{"sample_id": i, "verdict": verdict, "reasons": list(reasons) if verdict == "reject" else [],
             "note": note} for i in ids]
    return store.record_decisions(rows, user=user)


def _undo_or_edit(store, run_name, iteration, samples, undo, edit, edited_text, note, user) -> int:
    ids = undo or [edit]
    unknown = [i for i in ids if i not in samples]
    if unknown:
        raise InputError(f"sample {unknown[0]} is not in iteration {iteration['idx']} of run '{run_name}'")
    if undo:
        return store.record_decisions([{"sample_id": i, "verdict": "pending", "note": note} for i in undo], user=user)
    if not (edited_text or "").strip():
        raise InputError("--edit needs a non-empty --text-file")
    return store.record_decisions([{"sample_id": edit, "verdict": "accept", "edited_text": edited_text,
                                    "note": note}], user=user)
