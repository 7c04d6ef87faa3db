"""Review tab handlers: module-level functions over the store, taking and returning plain values (tests call
them directly); ui/review.py lays out the components and wires these to them. Model text reaches the page only through
Textboxes, HighlightedText and default Dataframe cells; names and messages shown as Markdown are escaped.
The ordered ids of the filtered samples live in a gr.State; the cursor state says where the curator is.
"""

from __future__ import annotations

import functools
import html
import time

import gradio as gr
import pandas as pd

from selflengthen.curation import (
    ReviewFilter,
    check_reasons,
    curator_agreement,
    gate_rows,
    headline,
    progress_line,
    suggested_verdict,
    word_diff,
)
from selflengthen.errors import InputError, SelfLengthenError
from selflengthen.words import count_words
from storage.decisions import DecisionConflict
from ui.common import user_of

PAGE_ROWS = 100
UNDO_DEPTH = 100
RECOUNT_SECONDS = 15  # progress is adjusted by this curator's own actions, recounted from the store this often
LIST_HEADERS = ["id", "status", "verdict", "initial_words", "final_words", "growth", "reject_reason", "language"]
GATE_HEADERS = ["step", "gate", "result", "reason"]
FILTER_FIELDS = ("verdict", "status", "gate", "language", "min_words", "max_words", "min_growth", "max_growth",
                 "search")
VIEW_FIELDS = ("cursor", "info", "instruction", "initial", "half", "stage1", "final", "save_edit", "gates",
               "suggested", "reasons", "note", "diff", "listing", "progress", "message")
BULK_FIELDS = ("bulk", "bulk_message", "bulk_confirm", "bulk_cancel")
LOAD_FIELDS = ("iteration", *FILTER_FIELDS, "ids", *VIEW_FIELDS, "guidelines", "guidelines_edit", "overlap",
               "agreement", *BULK_FIELDS)
APPLY_FIELDS = ("iteration", "ids", *VIEW_FIELDS, "guidelines", "agreement", *BULK_FIELDS)
NO_GUIDELINES = "*No guidelines yet for this run: write them under Curation settings so every curator judges alike.*"


def _md(text: str) -> str:
    """Text for a Markdown output, shown as written: <, > and & escaped (names and messages may hold them)."""
    return html.escape(text, quote=False)


# -- cursor and progress -----------------------------------------------------------------------------------

def new_cursor(iteration_id: int | None = None, latest_id: int | None = None, run: str | None = None) -> dict:
    """Where a curator is: position in the filtered ids, the open sample, the newest decision id seen on it
    (for conflicts), the samples they decided (for undo), the iteration's progress counts, and the run and its
    latest iteration when the tab was loaded (a newer one makes opening the tab reload it)."""
    return {"run": run, "iteration_id": iteration_id, "latest_id": latest_id, "position": 0, "sample_id": None,
            "seen_id": 0, "undo": [], "total": 0, "counts": {}, "counted_at": 0.0}


def _recounted(store, cursor: dict) -> dict:
    iteration_id = cursor["iteration_id"]
    if iteration_id is None:
        return cursor
    return {**cursor, "total": store.sample_count(iteration_id), "counts": store.verdict_counts(iteration_id),
            "counted_at": time.time()}


def _counted(cursor: dict, before: str | None, after: str | None) -> dict:
    """Progress after one of this curator's own decisions, without recounting the whole iteration."""
    counts = dict(cursor["counts"])
    for verdict, change in ((before, -1), (after, 1)):
        if verdict:
            counts[verdict] = counts.get(verdict, 0) + change
    return {**cursor, "counts": counts}


# -- showing one sample ------------------------------------------------------------------------------------

def _labelled(text: str | None, label: str, **extra) -> dict:
    return gr.update(value=text or "", label=f"{label} · {count_words(text or '')} words", **extra)


def _diff(sample: dict, diff_on: bool) -> dict:
    if not diff_on:
        return gr.update(visible=False)
    if not sample["final_expansion"]:
        return gr.update(visible=True, value=[(sample["initial_response"], None)],
                         label="No final expansion to compare")
    return gr.update(visible=True, value=word_diff(sample["initial_response"], sample["final_expansion"]),
                     label="Initial → final, word by word")


def _page(store, ids: list[int], position: int) -> dict:
    """The list page holding `position`: PAGE_ROWS rows with each sample's effective verdict."""
    start = position // PAGE_ROWS * PAGE_ROWS
    page_ids = ids[start:start + PAGE_ROWS]
    rows = [[row[c] if row[c] is not None else "" for c in LIST_HEADERS] for row in store.review_rows(page_ids)]
    label = f"Samples {start + 1}–{start + len(page_ids)} of {len(ids)} (click a row to open it)"
    return gr.update(value=pd.DataFrame(rows, columns=LIST_HEADERS), label=label if ids else "No sample matches")


def _texts(sample: dict, keep_inputs: bool) -> dict:
    """The sample's texts; the final one is what training would use: the latest edit, else the final
    expansion, else the initial response."""
    edit = next((d for d in reversed(sample["history"]) if d["edited_text"] is not None), None)
    final = edit["edited_text"] if edit else sample["final_expansion"] or sample["initial_response"]
    label = "Final expansion (edited; the original is kept)" if edit else "Final expansion" \
        if sample["final_expansion"] else "Final text (no expansion: the initial response)"
    growth = f" · {sample['growth']:.2f}x" if sample["growth"] is not None else ""
    return {"instruction": sample["instruction"], "initial": _labelled(sample["initial_response"], "Initial response"),
            "half": _labelled(sample["first_half"], "Stage 1: the first half given"),
            "stage1": _labelled(sample["stage1_expansion"], "Stage 1: its expansion"),
            "final": gr.update() if keep_inputs else _labelled(final, label + growth, interactive=False),
            "edited_by": edit["user"] if edit else None}


def _blank_view(cursor: dict, message: str) -> tuple:
    empty = {"cursor": {**cursor, "sample_id": None, "seen_id": 0}, "info": "No sample to show.",
             "final": gr.update(value="", interactive=False), "save_edit": gr.update(visible=False),
             "gates": pd.DataFrame(columns=GATE_HEADERS), "reasons": [], "diff": gr.update(visible=False, value=[]),
             "listing": gr.update(value=pd.DataFrame(columns=LIST_HEADERS), label="No sample matches"),
             "progress": progress_line(cursor["total"], cursor["counts"]), "message": _md(message)}
    return tuple(empty.get(f, "") for f in VIEW_FIELDS)


def show_view(store, ids: list[int], cursor: dict, diff_on: bool, message: str = "", keep_inputs: bool = False):
    """Every VIEW_FIELDS output for the sample at cursor["position"] of `ids`.

    keep_inputs leaves the reasons, the note and the final text as the curator left them (after a conflict
    they press again, with what they had chosen).
    """
    if time.time() - cursor.get("counted_at", 0) > RECOUNT_SECONDS:
        cursor = _recounted(store, cursor)
    if not ids:
        return _blank_view(cursor, message or "No sample matches: change the filters, or run Iterate first.")
    position = min(max(int(cursor["position"]), 0), len(ids) - 1)
    sample = store.review_sample(ids[position])
    if sample is None:
        return _blank_view(cursor, f"sample {ids[position]} no longer exists: apply the filters again")
    texts = _texts(sample, keep_inputs)
    cursor = {**cursor, "position": position, "sample_id": sample["id"],
              "seen_id": max((d["id"] for d in sample["history"]), default=0)}
    keep = gr.update()
    values = {**texts, "cursor": cursor, "info": _md(headline(sample, position, len(ids), texts["edited_by"])),
              "save_edit": keep if keep_inputs else gr.update(visible=False),
              "gates": pd.DataFrame(gate_rows(sample["gates"]), columns=GATE_HEADERS),
              "suggested": f"suggested: {suggested_verdict(sample)}",
              "reasons": keep if keep_inputs else [], "note": keep if keep_inputs else "",
              "diff": _diff(sample, diff_on), "listing": _page(store, ids, position),
              "progress": progress_line(cursor["total"], cursor["counts"]), "message": _md(message)}
    return tuple(values[f] for f in VIEW_FIELDS)


def message_only(cursor: dict, message: str) -> tuple:
    """VIEW_FIELDS outputs that change nothing but the message."""
    return tuple(cursor if f == "cursor" else _md(message) if f == "message" else gr.update() for f in VIEW_FIELDS)


def _guarded(handler):
    """Library and store errors become the one-line message; the view stays as it was."""
    @functools.wraps(handler)
    def wrapper(store, run_name, ids, cursor, *args, **kwargs):
        try:
            return handler(store, run_name, ids, cursor, *args, **kwargs)
        except SelfLengthenError as e:
            return message_only(cursor, str(e))
    return wrapper


# -- navigation -------------------------------------------------------------------------------------------

def _overlap(store, run_name: str | None) -> int:
    return int(store.require_run(run_name)["overlap"] or 1)


@_guarded
def go_next(store, run_name: str, ids: list[int], cursor: dict, diff_on: bool, request: gr.Request | None = None):
    """The next sample needing this curator's decision; the plain next one when no later sample needs it."""
    position = int(cursor["position"])
    found = store.next_needing_decision(ids, position + 1, user_of(request), _overlap(store, run_name))
    if found is not None:
        return show_view(store, ids, {**cursor, "position": found}, diff_on)
    if position + 1 < len(ids):
        return show_view(store, ids, {**cursor, "position": position + 1}, diff_on,
                         "no later sample needs your decision: showing the next one")
    return message_only(cursor, "this is the last sample of the filter")


@_guarded
def go_prev(store, run_name: str, ids: list[int], cursor: dict, diff_on: bool):
    if int(cursor["position"]) <= 0:
        return message_only(cursor, "this is the first sample of the filter")
    return show_view(store, ids, {**cursor, "position": int(cursor["position"]) - 1}, diff_on)


def open_sample(store, ids: list[int], cursor: dict, sample_id, diff_on: bool):
    """Open a sample of the filtered list by id (a click on the list)."""
    try:
        position = ids.index(int(sample_id))
    except (TypeError, ValueError):
        return message_only(cursor, f"sample {sample_id} is not in the filtered list")
    return show_view(store, ids, {**cursor, "position": position}, diff_on)


def open_row(store, ids: list[int], cursor: dict, diff_on: bool, evt: gr.SelectData):
    row = evt.row_value or [None]
    return open_sample(store, ids, cursor, row[0], diff_on)


def show_diff(store, cursor: dict, diff_on: bool) -> dict:
    sample = store.get_sample(cursor["sample_id"]) if cursor.get("sample_id") is not None else None
    return _diff(sample, diff_on) if sample else gr.update(visible=bool(diff_on), value=[])


# -- decisions --------------------------------------------------------------------------------------------

def _decide(store, run_name: str, ids: list[int], cursor: dict, diff_on: bool, user: str, verdict: str, done: str,
            **decision):
    """Record this curator's verdict on the open sample, then move on to the next sample needing one.

    With overlap 1, a different verdict recorded by another curator since the sample was opened holds this
    one back (DecisionConflict): the sample is reloaded with the curator's inputs kept, so pressing again
    records it knowingly.
    """
    sample_id = cursor["sample_id"]
    overlap = _overlap(store, run_name)
    before = store.effective_verdict(sample_id)
    try:
        if overlap == 1:
            store.record_checked_decision(sample_id, verdict, seen_id=cursor["seen_id"], user=user, **decision)
        else:
            store.record_decision(sample_id, verdict, user=user, **decision)
    except DecisionConflict as conflict:
        return show_view(store, ids, cursor, diff_on, str(conflict), keep_inputs=True)
    cursor = _counted(cursor, before, store.effective_verdict(sample_id))
    cursor["undo"] = (list(cursor["undo"]) + [sample_id])[-UNDO_DEPTH:]
    found = store.next_needing_decision(ids, int(cursor["position"]) + 1, user, overlap, wrap=True)
    if found is None:
        found, done = cursor["position"], done + " · every sample of this filter has its decision"
    return show_view(store, ids, {**cursor, "position": found}, diff_on, done)


@_guarded
def accept(store, run_name: str, ids: list[int], cursor: dict, note: str, diff_on: bool,
           request: gr.Request | None = None):
    if cursor.get("sample_id") is None:
        return message_only(cursor, "no sample is open")
    return _decide(store, run_name, ids, cursor, diff_on, user_of(request), "accept",
                   f"accepted sample {cursor['sample_id']}", note=note or "")


@_guarded
def reject(store, run_name: str, ids: list[int], cursor: dict, reasons: list[str], note: str, diff_on: bool,
           request: gr.Request | None = None):
    if cursor.get("sample_id") is None:
        return message_only(cursor, "no sample is open")
    reasons = check_reasons(reasons)
    return _decide(store, run_name, ids, cursor, diff_on, user_of(request), "reject",
                   f"rejected sample {cursor['sample_id']} ({', '.join(reasons)})", reasons=reasons, note=note or "")


def start_edit(cursor: dict) -> tuple:
    """Make the final text editable (the shortcut script then focuses it)."""
    if cursor.get("sample_id") is None:
        return gr.update(), gr.update(), "no sample is open"
    message = (f"editing sample {cursor['sample_id']}: change the final text, then Save edit (Ctrl+Enter); "
               "the original stays stored")
    return gr.update(interactive=True), gr.update(visible=True), message


@_guarded
def save_edit(store, run_name: str, ids: list[int], cursor: dict, final_text: str, note: str, diff_on: bool,
              request: gr.Request | None = None):
    """Accept the open sample with the curator's version of the final text (a decision row's edited_text)."""
    sample = store.review_sample(cursor["sample_id"]) if cursor.get("sample_id") is not None else None
    if sample is None:
        return message_only(cursor, "no sample is open")
    text = final_text or ""
    if not text.strip():
        return message_only(cursor, "the edited text is empty: write the text, or press Accept or Reject")
    edits = [d["edited_text"] for d in sample["history"] if d["edited_text"] is not None]
    if text == (edits[-1] if edits else sample["final_expansion"] or sample["initial_response"]):
        return message_only(cursor, "the text is unchanged: edit it first, or press Accept")
    return _decide(store, run_name, ids, cursor, diff_on, user_of(request), "accept",
                   f"accepted sample {sample['id']} with your edit", edited_text=text, note=note or "")


@_guarded
def undo(store, run_name: str, ids: list[int], cursor: dict, diff_on: bool, request: gr.Request | None = None):
    """Withdraw this curator's latest decision of the session (an appended 'pending' row) and reopen its sample;
    with none left in the session, their verdict on the open sample."""
    user, stack = user_of(request), list(cursor["undo"])
    target = store.withdrawable([i for i in [*reversed(stack), cursor["sample_id"]] if i is not None], user)
    if target is None:
        return message_only(cursor, "undo: you have no decision to withdraw here")
    sample_id, verdict = target
    stack = [i for i in stack[:len(stack) - stack[::-1].index(sample_id)] if i != sample_id] if sample_id in stack \
        else stack
    before = store.effective_verdict(sample_id)
    store.record_decision(sample_id, "pending", user=user)
    after = store.effective_verdict(sample_id)
    cursor = {**_counted(cursor, before, after), "undo": stack}
    position = ids.index(sample_id) if sample_id in ids else cursor["position"]
    return show_view(store, ids, {**cursor, "position": position}, diff_on,
                     f"undo: your {verdict} of sample {sample_id} is withdrawn · its verdict is now {after}")


# -- bulk -------------------------------------------------------------------------------------------------

def _bulk_hidden(message: str = "") -> tuple:
    return {}, message, gr.update(visible=False), gr.update(visible=False)


def ask_bulk(store, ids: list[int], verdict: str, reasons=()) -> tuple:
    """The confirmation of a bulk action on every filtered sample, with the count and how many standing
    verdicts it would replace (a curator's reject is never overturned without being told); nothing is recorded."""
    if not ids:
        return _bulk_hidden("No sample matches the filters.")
    if verdict == "reject":
        try:
            reasons = check_reasons(reasons)
        except InputError as e:
            return _bulk_hidden(_md(str(e)))
    question = f"Accept {len(ids)} filtered samples?" if verdict == "accept" else \
        f"Reject {len(ids)} filtered samples as {', '.join(reasons)}?"
    replaced = replaced_verdicts(store, ids, verdict)
    if replaced:
        question += (f" **{replaced} of them already have the other verdict, which this replaces** (filter Decision ="
                     " pending to leave decided samples alone).")
    return ({"verdict": verdict, "reasons": list(reasons)}, question,
            gr.update(visible=True), gr.update(visible=True))


def replaced_verdicts(store, ids: list[int], verdict: str) -> int:
    """How many of the samples have a standing verdict other than `verdict`."""
    sample = store.get_sample(ids[0])
    standing = store.current_decisions(sample["iteration_id"]) if sample else {}
    wanted = set(ids)
    return sum(1 for sid, d in standing.items() if sid in wanted and d["verdict"] != verdict)


def ask_bulk_accept(store, ids: list[int]) -> tuple:
    return ask_bulk(store, ids, "accept")


def ask_bulk_reject(store, ids: list[int], reasons: list[str]) -> tuple:
    return ask_bulk(store, ids, "reject", reasons)


def cancel_bulk() -> tuple:
    return _bulk_hidden("Bulk action cancelled.")


def confirm_bulk(store, run_name: str, ids: list[int], cursor: dict, bulk: dict, note: str, diff_on: bool,
                 request: gr.Request | None = None) -> tuple:
    """Record the confirmed bulk verdict on every filtered sample, one decision row each, in one transaction."""
    if not bulk or not ids:
        return message_only(cursor, "nothing to confirm") + _bulk_hidden()
    rows = [{"sample_id": i, "verdict": bulk["verdict"], "reasons": bulk["reasons"], "note": note or ""} for i in ids]
    try:
        n = store.record_decisions(rows, user=user_of(request))
    except SelfLengthenError as e:
        return message_only(cursor, str(e)) + _bulk_hidden()
    done = f"accepted {n} samples" if bulk["verdict"] == "accept" else \
        f"rejected {n} samples ({', '.join(bulk['reasons'])})"
    return show_view(store, ids, _recounted(store, cursor), diff_on, done) + _bulk_hidden()


# -- loading a run, an iteration, a filter ----------------------------------------------------------------------

def agreement_text(store, iteration: dict) -> str:
    """How far apart the iteration's curators are (each curator's latest standing verdict per sample)."""
    agreement = curator_agreement(store.curator_verdicts(iteration["id"]))
    return _md(f"Agreement in iteration {iteration['idx']}: {agreement}")


def _filters_reset(choices: dict) -> dict:
    return {"verdict": "all", "status": "all", "search": "",
            "gate": gr.update(choices=["all", *choices["gates"]], value="all"),
            "language": gr.update(choices=["all", *choices["languages"]], value="all"),
            **{name: None for name in ("min_words", "max_words", "min_growth", "max_growth")}}


def _first_view(store, run: dict, ids: list[int], cursor: dict, diff_on: bool, user: str, message: str = ""):
    found = store.next_needing_decision(ids, 0, user, int(run["overlap"] or 1))
    return show_view(store, ids, {**_recounted(store, cursor), "position": found or 0}, diff_on, message)


def _loaded(store, run: dict | None, iteration: dict | None, diff_on: bool, user: str) -> tuple:
    """LOAD_FIELDS outputs for one iteration of a run (filters reset), or empty ones without a run."""
    if run is None or iteration is None:
        values = {"iteration": gr.update(choices=[], value=None), **_filters_reset({"gates": [], "languages": []}),
                  "ids": [], **dict(zip(VIEW_FIELDS, _blank_view(new_cursor(), "Pick a run to review."))),
                  "guidelines": "", "guidelines_edit": "", "overlap": 1, "agreement": ""}
    else:
        ids = store.filter_sample_ids(ReviewFilter(iteration["id"]))
        cursor = new_cursor(iteration["id"], store.latest_iteration(run["id"])["id"], run["name"])
        view = _first_view(store, run, ids, cursor, diff_on, user)
        values = {"iteration": gr.update(choices=[it["idx"] for it in store.list_iterations(run["id"])],
                                         value=iteration["idx"]),
                  **_filters_reset(store.review_choices(iteration["id"])), "ids": ids, **dict(zip(VIEW_FIELDS, view)),
                  "guidelines": run["guidelines"] or NO_GUIDELINES, "guidelines_edit": run["guidelines"],
                  "overlap": run["overlap"], "agreement": agreement_text(store, iteration)}
    values.update(zip(BULK_FIELDS, _bulk_hidden()))
    return tuple(values[f] for f in LOAD_FIELDS)


def load_run(store, run_name: str | None, diff_on: bool, request: gr.Request | None = None) -> tuple:
    """Everything for a run (on run change): its latest iteration, filters reset, the first sample to decide."""
    run = store.get_run(run_name) if run_name else None
    return _loaded(store, run, run and store.latest_iteration(run["id"]), diff_on, user_of(request))


def run_changed(store, run_name: str | None, cursor: dict, diff_on: bool, request: gr.Request | None = None):
    """Load the picked run, unless the tab shows it already (opening the tab loaded it first: a change event
    arriving late must not send the curator back to the first sample)."""
    if run_name and cursor.get("run") == run_name and cursor.get("iteration_id") is not None:
        return tuple(gr.update() for _ in LOAD_FIELDS)
    return load_run(store, run_name, diff_on, request)


def open_tab(store, run_name: str | None, ids: list[int], cursor: dict, diff_on: bool,
             request: gr.Request | None = None) -> tuple:
    """Opening the tab loads the picked run unless the tab shows it already, with samples, and no newer
    iteration has come since (the run picker's first value fires no change event)."""
    run = store.get_run(run_name) if run_name else None
    latest = run and store.latest_iteration(run["id"])
    if ids and cursor.get("run") == run_name and latest and latest["id"] == cursor.get("latest_id"):
        return tuple(gr.update() for _ in LOAD_FIELDS)
    return load_run(store, run_name, diff_on, request)


def change_iteration(store, run_name: str | None, iteration_idx, diff_on: bool,
                     request: gr.Request | None = None) -> tuple:
    run = store.get_run(run_name) if run_name else None
    iteration = store.get_iteration(run["id"], int(iteration_idx)) if run and iteration_idx is not None else None
    if iteration is None:
        return load_run(store, run_name, diff_on, request)
    return _loaded(store, run, iteration, diff_on, user_of(request))


def apply_filters(store, run_name: str | None, iteration_idx, verdict: str, status: str, gate: str, language: str,
                  min_words, max_words, min_growth, max_growth, search: str, ids: list[int], cursor: dict,
                  diff_on: bool, request: gr.Request | None = None) -> tuple:
    """Filter the iteration in SQL and open the first sample needing this curator's decision; the iteration
    choices, guidelines and agreement are refreshed too (another curator or a new iteration may have come)."""
    try:
        run = store.require_run(run_name)
        iteration = store.get_iteration(run["id"], int(iteration_idx)) if iteration_idx is not None else None
        if iteration is None:
            raise InputError(f"run '{run_name}' has no iteration {iteration_idx}")
        review_filter = ReviewFilter(iteration["id"], verdict or "all", status or "all", gate, language, min_words,
                                     max_words, min_growth, max_growth, search or "")
    except SelfLengthenError as e:
        values = {"ids": ids, **dict(zip(VIEW_FIELDS, message_only(cursor, str(e))))}
        return tuple(values.get(f, gr.update()) for f in APPLY_FIELDS)
    new_ids = store.filter_sample_ids(review_filter)
    cursor = {**new_cursor(iteration["id"], cursor.get("latest_id"), run["name"]), "undo": cursor.get("undo", [])}
    view = _first_view(store, run, new_ids, cursor, diff_on, user_of(request), f"{len(new_ids)} samples match")
    values = {"iteration": gr.update(choices=[it["idx"] for it in store.list_iterations(run["id"])]),
              "ids": new_ids, **dict(zip(VIEW_FIELDS, view)), "guidelines": run["guidelines"] or NO_GUIDELINES,
              "agreement": agreement_text(store, iteration), **dict(zip(BULK_FIELDS, _bulk_hidden()))}
    return tuple(values[f] for f in APPLY_FIELDS)


# -- guidelines and help ----------------------------------------------------------------------------------------

def save_curation(store, run_name: str | None, guidelines: str, overlap) -> tuple[str, str]:
    """Save the run's curation guidelines (markdown) and how many curators should decide each sample."""
    try:
        run = store.require_run(run_name)
        if not isinstance(overlap, (int, float)) or not float(overlap).is_integer():
            raise InputError(f"overlap must be a whole number from 1 to 10 (got {overlap})")
        store.set_curation(run["id"], guidelines=guidelines or "", overlap=int(overlap))
    except SelfLengthenError as e:
        return gr.update(), _md(str(e))
    return guidelines or NO_GUIDELINES, f"saved the guidelines and overlap {int(overlap)} of run {_md(run_name)}"


def toggle_help(shown: bool) -> tuple:
    return gr.update(visible=not shown), not shown
