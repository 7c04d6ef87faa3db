"""The Review tab's view of one sample: the curator's cursor and progress, and every output that shows the
sample at the cursor. Model text reaches the page only through Textboxes, HighlightedText and default
Dataframe cells; names and messages shown as Markdown are escaped.
"""

from __future__ import annotations

import functools
import html
import time
from typing import TypedDict

import gradio as gr
import pandas as pd

from selflengthen.curation.display import gate_rows, headline, padding_row, progress_line, word_diff
from selflengthen.curation.rules import final_text, latest_edit, suggested_verdict
from selflengthen.errors import SelfLengthenError
from selflengthen.method.words import count_words
from selflengthen.shapes import Sample, Store

PAGE_ROWS = 100
RECOUNT_SECONDS = 15  # progress is adjusted by this curator's own actions, recounted from the store this often
LIST_HEADERS = ["id", "instruction", "final text", "words", "growth", "pipeline", "verdict", "language"]
GATE_HEADERS = ["step", "gate", "result", "reason"]
VIEW_FIELDS = ("cursor", "info", "instruction", "initial", "half", "stage1", "final", "save_edit", "gates",
               "suggested", "reasons", "note", "diff", "listing", "progress", "message")


def md_text(text: str) -> str:
    """Text for a Markdown output, shown as written: <, > and & escaped (names and messages may hold them)."""
    return html.escape(text, quote=False)


# -- cursor and progress -----------------------------------------------------------------------------------

class ReviewCursor(TypedDict):
    """Where one curator is in Review (kept in a gr.State, so a plain dict of these keys)."""

    run: str | None  # the run the tab loaded
    iteration_id: int | None  # the iteration being reviewed
    latest_id: int | None  # the run's latest iteration when loaded: a newer one makes opening the tab reload
    position: int  # index in the filtered ids
    sample_id: int | None  # the open sample
    seen_id: int  # the newest decision id on the open sample when it was shown (the conflict rule's "seen")
    undo: list[int]  # samples this curator decided in the session, newest last
    total: int  # samples in the iteration
    counts: dict[str, int]  # effective verdicts: accept, reject, pending
    counted_at: float  # when the counts were last read from the store
    list_open: bool  # the list is unfolded: only then does each step redraw it (a 100-row table costs the page)


def new_cursor(iteration_id: int | None = None, latest_id: int | None = None, run: str | None = None,
               list_open: bool = False) -> ReviewCursor:
    """A cursor at the start of an iteration's filtered list (see ReviewCursor)."""
    return {"run": run, "iteration_id": iteration_id, "latest_id": latest_id, "position": 0, "sample_id": None,
            "seen_id": 0, "undo": [], "total": 0, "counts": {}, "counted_at": 0.0, "list_open": list_open}


def curator_overlap(store: Store, run_name: str | None) -> int:
    """How many curators each sample of the run goes to."""
    return int(store.require_run(run_name)["overlap"] or 1)


def recounted(store: Store, cursor: ReviewCursor) -> ReviewCursor:
    iteration_id = cursor["iteration_id"]
    if iteration_id is None:
        return cursor
    return {**cursor, "total": store.sample_count(iteration_id), "counts": store.verdict_counts(iteration_id),
            "counted_at": time.time()}


def counted(cursor: ReviewCursor, before: str | None, after: str | None) -> ReviewCursor:
    """Progress after one of this curator's own decisions, without recounting the whole iteration."""
    counts = dict(cursor["counts"])
    for verdict, change in ((before, -1), (after, 1)):
        if verdict:
            counts[verdict] = counts.get(verdict, 0) + change
    return {**cursor, "counts": counts}


# -- showing one sample ------------------------------------------------------------------------------------

def _labelled(text: str | None, label: str, **extra) -> dict:
    return gr.update(value=text or "", label=f"{label} · {count_words(text or '')} words", **extra)


def diff_view(sample: Sample, diff_on: bool) -> dict:
    """The word diff: initial response -> final expansion; for an edited sample, original expansion -> the edit
    (what the curator changed, and the original beside it)."""
    if not diff_on:
        return gr.update(visible=False)
    edit = latest_edit(sample["history"])
    if edit is not None:
        before = sample["final_expansion"] or sample["initial_response"]
        return gr.update(visible=True, value=word_diff(before, edit["edited_text"]),
                         label=f"Original {'expansion' if sample['final_expansion'] else 'response'} → "
                               f"the edit by {edit['user'] or 'anonymous'}, word by word")
    if not sample["final_expansion"]:
        return gr.update(visible=True, value=[(sample["initial_response"], None)],
                         label="No final expansion to compare")
    return gr.update(visible=True, value=word_diff(sample["initial_response"], sample["final_expansion"]),
                     label="Initial → final, word by word")


def list_row(row: dict) -> list:
    """One row of the list, to read: the texts' first words, the numbers, what the pipeline did, and the verdict
    that counts with its reasons and who gave it.

    >>> row = list_row({"id": 4, "instruction_start": "Write an essay   about the sea", "final_start": "The sea.",
    ...                 "initial_words": 40, "final_words": 90, "growth": 2.25, "status": "dropped_short",
    ...                 "reject_reason": "filter/drop_short", "verdict": "reject", "verdict_reasons": ["off_topic"],
    ...                 "decided_by": "bob", "language": "en"})
    >>> row[:5]
    [4, 'Write an essay about the sea', 'The sea.', '40 → 90', 2.25]
    >>> row[5:]
    ['dropped_short (filter/drop_short)', 'reject: off_topic · bob', 'en']
    """
    reasons = f": {', '.join(row['verdict_reasons'])}" if row["verdict_reasons"] else ""
    who = f" · {row['decided_by'] or 'anonymous'}" if row["verdict"] != "pending" else ""
    pipeline = row["status"] + (f" ({row['reject_reason']})" if row["reject_reason"] else "")
    words = f"{row['initial_words']} → {row['final_words']}" if row["final_words"] else str(row["initial_words"])
    return [row["id"], _snippet(row["instruction_start"]), _snippet(row["final_start"]), words,
            round(row["growth"], 2) if row["growth"] is not None else "", pipeline, row["verdict"] + reasons + who,
            row["language"]]


def _snippet(text: str | None, words: int = 12) -> str:
    """The first words of a text on one line, with … when there is more."""
    parts = (text or "").split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")


def list_page(store: Store, ids: list[int], position: int) -> dict:
    """The list page holding `position`: PAGE_ROWS rows with each sample's effective verdict."""
    start = position // PAGE_ROWS * PAGE_ROWS
    page_ids = ids[start:start + PAGE_ROWS]
    rows = [list_row(row) for row in store.review_rows(page_ids)]
    label = f"Samples {start + 1}–{start + len(page_ids)} of {len(ids)} (click a row to open it)"
    return gr.update(value=pd.DataFrame(rows, columns=LIST_HEADERS), label=label if ids else "No sample matches")


def counted_growth(sample: Sample, edit: dict | None) -> float | None:
    """Growth of the text that counts: an edit is measured against the initial response like an expansion."""
    initial = count_words(sample["initial_response"] or "")
    return count_words(edit["edited_text"]) / initial if edit and initial else sample["growth"]


def _texts(sample: Sample, edit: dict | None, keep_inputs: bool) -> dict:
    """The sample's texts; the final one is what training would use: the latest edit (`edit`), else the final
    expansion, else the initial response. `sample["growth"]` is the growth to show (`counted_growth`)."""
    final = final_text(sample, edit and edit["edited_text"])
    label = "Final text (edited; the original is kept: turn on the word diff to compare)" if edit else \
        "Final expansion" if sample["final_expansion"] else "Final text (no expansion: the initial response)"
    growth = f" · {sample['growth']:.2f}x" if sample["growth"] is not None else ""
    return {"instruction": sample["instruction"], "initial": _labelled(sample["initial_response"], "Initial response"),
            "half": _labelled(sample["first_half"], "Stage 1: the first half given"),
            "stage1": _labelled(sample["stage1_expansion"], "Stage 1: its expansion"),
            "final": gr.update() if keep_inputs else _labelled(final, label + growth, interactive=False),
            "edited_by": edit["user"] if edit else None}


def blank_view(cursor: ReviewCursor, message: str) -> tuple:
    empty = {"cursor": {**cursor, "sample_id": None, "seen_id": 0}, "info": "No sample to show.",
             "final": gr.update(value="", interactive=False), "save_edit": gr.update(visible=False),
             "gates": pd.DataFrame(columns=GATE_HEADERS), "reasons": [], "diff": gr.update(visible=False, value=[]),
             "listing": gr.update(value=pd.DataFrame(columns=LIST_HEADERS), label="No sample matches"),
             "progress": progress_line(cursor["total"], cursor["counts"]), "message": md_text(message)}
    return tuple(empty.get(f, "") for f in VIEW_FIELDS)


def _padding_limit(store: Store, sample: Sample) -> float:
    """The padding guard's limit in the sample's iteration config (0: off, and in configs older than the guard)."""
    iteration = store.iteration_by_id(sample["iteration_id"])
    return float(((iteration or {}).get("config") or {}).get("gates", {}).get("padding", 0.0) or 0.0)


def show_view(store: Store, ids: list[int], cursor: ReviewCursor, diff_on: bool, message: str = "",
              keep_inputs: bool = False):
    """Every VIEW_FIELDS output for the sample at cursor["position"] of `ids`.

    keep_inputs leaves the reasons, the note and the final text as the curator left them (after a conflict
    they press again, with what they had chosen).
    """
    if time.time() - cursor.get("counted_at", 0) > RECOUNT_SECONDS:
        cursor = recounted(store, cursor)
    if not ids:
        return blank_view(cursor, message or "No sample matches: change the filters, or run Iterate first.")
    position = min(max(int(cursor["position"]), 0), len(ids) - 1)
    sample = store.review_sample(ids[position])
    if sample is None:
        return blank_view(cursor, f"sample {ids[position]} no longer exists: apply the filters again")
    edit = latest_edit(sample["history"])
    sample = {**sample, "growth": counted_growth(sample, edit)}  # the label's and the headline's
    texts = _texts(sample, edit, keep_inputs)
    store.hold(sample["id"], cursor.get("user") or "")  # theirs while they look at it: "next" skips it for others
    cursor = {**cursor, "position": position, "sample_id": sample["id"],
              "seen_id": max((d["id"] for d in sample["history"]), default=0)}
    keep = gr.update()
    values = {**texts, "cursor": cursor, "info": md_text(headline(sample, position, len(ids), texts["edited_by"])),
              "save_edit": keep if keep_inputs else gr.update(visible=False),
              "gates": pd.DataFrame(gate_rows(sample["gates"]) + [padding_row(
                  final_text(sample, edit and edit["edited_text"]), _padding_limit(store, sample))],
                  columns=GATE_HEADERS),
              "suggested": f"suggested: {suggested_verdict(sample)}",
              "reasons": keep if keep_inputs else [], "note": keep if keep_inputs else "",
              "diff": diff_view(sample, diff_on),
              "listing": list_page(store, ids, position) if cursor.get("list_open") else gr.update(),
              "progress": progress_line(cursor["total"], cursor["counts"]), "message": md_text(message)}
    return tuple(values[f] for f in VIEW_FIELDS)


def message_only(cursor: ReviewCursor, message: str) -> tuple:
    """VIEW_FIELDS outputs that change nothing but the message."""
    return tuple(cursor if f == "cursor" else md_text(message) if f == "message" else gr.update() for f in VIEW_FIELDS)


def guarded(handler):
    """Library and store errors become the one-line message; the view stays as it was."""
    @functools.wraps(handler)
    def wrapper(studio, run_name, ids, cursor, *args, **kwargs):
        try:
            return handler(studio, run_name, ids, cursor, *args, **kwargs)
        except SelfLengthenError as e:
            return message_only(cursor, str(e))
    return wrapper
