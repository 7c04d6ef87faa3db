"""Review tab, bulk decisions: every filtered sample accepted or rejected at once, after a confirmation that says
how many and how many standing verdicts it replaces (ui/review_handlers.py has the other handlers)."""

from __future__ import annotations

import gradio as gr

from selflengthen.curation import decisions
from selflengthen.curation.rules import check_reasons
from selflengthen.errors import InputError
from selflengthen.shapes import Store
from ui.review_view import md_text

BULK_FIELDS = ("bulk", "bulk_message", "bulk_confirm", "bulk_cancel")


def bulk_hidden(message: str = "") -> tuple:
    return {}, message, gr.update(visible=False), gr.update(visible=False)


def ask_bulk(store: Store, ids: list[int], verdict: str, reasons=()) -> tuple:
    """The confirmation of a bulk action on every filtered sample, with the count and how many standing
    verdicts it would replace (a curator's reject is never overturned without being told); nothing is recorded."""
    if not ids:
        return bulk_hidden("No sample matches the filters.")
    if verdict == "reject":
        try:
            reasons = check_reasons(reasons)
        except InputError as e:
            return bulk_hidden(md_text(str(e)))
    question = f"Accept {len(ids)} filtered samples?" if verdict == "accept" else \
        f"Reject {len(ids)} filtered samples as {', '.join(reasons)}?"
    replaced = replaced_verdicts(store, ids, verdict)
    if replaced:
        question += (f" **{replaced} of them already have the other verdict, which this replaces** (filter Decision ="
                     " pending to leave decided samples alone).")
    return ({"verdict": verdict, "reasons": list(reasons)}, question,
            gr.update(visible=True), gr.update(visible=True))


def replaced_verdicts(store: Store, ids: list[int], verdict: str) -> int:
    """How many of the samples have a standing verdict other than `verdict`."""
    sample = store.get_sample(ids[0])
    standing = store.current_decisions(sample["iteration_id"]) if sample else {}
    wanted = set(ids)
    return sum(1 for sid, d in standing.items() if sid in wanted and d["verdict"] != verdict)


def ask_bulk_accept(studio, ids: list[int]) -> tuple:
    store = studio.store
    return ask_bulk(store, ids, "accept")


def ask_bulk_reject(studio, ids: list[int], reasons: list[str]) -> tuple:
    store = studio.store
    return ask_bulk(store, ids, "reject", reasons)


def cancel_bulk() -> tuple:
    return bulk_hidden("Bulk action cancelled.")


def record_bulk(store: Store, ids: list[int], bulk: dict, note: str, user: str, overlap: int) -> str:
    """Record the confirmed bulk verdict on every filtered sample, one decision row each, in one transaction; what
    was done, in words. Raises SelfLengthenError (nothing recorded)."""
    rows = [decisions.decision_row(i, bulk["verdict"], reasons=bulk["reasons"], note=note) for i in ids]
    # confirmed with the count of the verdicts it replaces (ask_bulk): recorded without the conflict check
    n = decisions.record(store, rows, user=user, overlap=overlap)
    return f"accepted {n} samples" if bulk["verdict"] == "accept" else \
        f"rejected {n} samples ({', '.join(bulk['reasons'])})"
