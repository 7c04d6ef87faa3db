"""Review tab handlers: module-level functions that take the studio first and return plain values (tests call
them directly); ui/review.py lays out the components and wires these to them, ui/review_view.py draws one
sample. The ordered ids of the filtered samples live in a gr.State; the cursor state says where the curator is.
"""

from __future__ import annotations

import hashlib

import gradio as gr

from selflengthen.curation import decisions
from selflengthen.curation.agreement import curator_agreement
from selflengthen.curation.filters import ReviewFilter
from selflengthen.config import RunConfig
from selflengthen.curation.rules import check_reasons, edit_concerns, final_text, latest_edit
from selflengthen.errors import InputError, SelfLengthenError
from selflengthen.shapes import Iteration, Run, Store
from selflengthen.stages.common import gate_rules
from ui.common import curator_markdown, user_of
from ui.review_bulk import (  # noqa: F401 (the tab wires them from here, with the other handlers)
    BULK_FIELDS,
    ask_bulk,
    ask_bulk_accept,
    ask_bulk_reject,
    bulk_hidden as _bulk_hidden,
    cancel_bulk,
    record_bulk,
    replaced_verdicts,
)
from ui.review_view import (
    ReviewCursor,
    curator_overlap,
    VIEW_FIELDS,
    blank_view,
    counted,
    diff_view,
    guarded,
    list_page,
    md_text,
    message_only,
    new_cursor,
    recounted,
    show_view,
)

UNDO_DEPTH = 100
FILTER_FIELDS = ("verdict", "status", "gate", "language", "min_words", "max_words", "min_growth", "max_growth",
                 "search")
LOAD_FIELDS = ("iteration", *FILTER_FIELDS, "ids", *VIEW_FIELDS, "guidelines", "guidelines_edit", "overlap",
               "agreement", *BULK_FIELDS)
APPLY_FIELDS = ("iteration", "ids", *VIEW_FIELDS, "guidelines", "agreement", *BULK_FIELDS)
NO_GUIDELINES = "*No guidelines yet for this run: write them under Curation settings so every curator judges alike.*"


# -- navigation -------------------------------------------------------------------------------------------

@guarded
def go_next(studio, run_name: str, ids: list[int], cursor: ReviewCursor, diff_on: bool,
            request: gr.Request | None = None):
    """The next sample needing this curator's decision; the plain next one when no later sample needs it."""
    store = studio.store
    position = int(cursor["position"])
    found = store.next_needing_decision(ids, position + 1, user_of(request), curator_overlap(store, run_name))
    if found is not None:
        return show_view(store, ids, {**cursor, "position": found}, diff_on)
    if position + 1 < len(ids):
        return show_view(store, ids, {**cursor, "position": position + 1}, diff_on,
                         "no later sample needs your decision: showing the next one")
    return message_only(cursor, "this is the last sample of the filter")


@guarded
def go_prev(studio, run_name: str, ids: list[int], cursor: ReviewCursor, diff_on: bool):
    store = studio.store
    if int(cursor["position"]) <= 0:
        return message_only(cursor, "this is the first sample of the filter")
    return show_view(store, ids, {**cursor, "position": int(cursor["position"]) - 1}, diff_on)


def open_sample(studio, ids: list[int], cursor: ReviewCursor, sample_id, diff_on: bool):
    """Open a sample of the filtered list by id (a click on the list)."""
    store = studio.store
    try:
        position = ids.index(int(sample_id))
    except (TypeError, ValueError):
        return message_only(cursor, f"sample {sample_id} is not in the filtered list")
    return show_view(store, ids, {**cursor, "position": position}, diff_on)


def open_row(studio, ids: list[int], cursor: ReviewCursor, diff_on: bool, evt: gr.SelectData):
    row = evt.row_value or [None]
    return open_sample(studio, ids, cursor, row[0], diff_on)


def show_diff(studio, cursor: ReviewCursor, diff_on: bool) -> dict:
    store = studio.store
    sample = store.review_sample(cursor["sample_id"]) if cursor.get("sample_id") is not None else None
    return diff_view(sample, diff_on) if sample else gr.update(visible=bool(diff_on), value=[])


# -- decisions --------------------------------------------------------------------------------------------

def _decide(store: Store, run_name: str, ids: list[int], cursor: ReviewCursor, diff_on: bool, user: str, verdict: str,
            done: str, **decision):
    """Record this curator's verdict on the open sample (the decision service checks it against what the curator
    saw: `seen_id`), then move on to the next sample needing one.

    A conflict (overlap 1, another curator decided differently since the sample was opened) reloads the sample
    with the curator's inputs kept; the reload updates `seen_id`, so pressing again records it knowingly.
    """
    sample_id = cursor["sample_id"]
    overlap = curator_overlap(store, run_name)
    before = store.effective_verdict(sample_id)
    try:
        decisions.decide(store, sample_id, verdict, user=user, overlap=overlap, seen_id=cursor["seen_id"], **decision)
    except decisions.DecisionConflict as conflict:
        return show_view(store, ids, cursor, diff_on, str(conflict), keep_inputs=True)
    cursor = counted(cursor, before, store.effective_verdict(sample_id))
    cursor["undo"] = (list(cursor["undo"]) + [sample_id])[-UNDO_DEPTH:]
    found = store.next_needing_decision(ids, int(cursor["position"]) + 1, user, overlap, wrap=True)
    if found is None:
        found, done = cursor["position"], done + " · every sample of this filter has its decision"
    return show_view(store, ids, {**cursor, "position": found}, diff_on, done)


@guarded
def accept(studio, run_name: str, ids: list[int], cursor: ReviewCursor, note: str, diff_on: bool,
           request: gr.Request | None = None):
    store = studio.store
    if cursor.get("sample_id") is None:
        return message_only(cursor, "no sample is open")
    return _decide(store, run_name, ids, cursor, diff_on, user_of(request), "accept",
                   f"accepted sample {cursor['sample_id']}", note=note or "")


@guarded
def reject(studio, run_name: str, ids: list[int], cursor: ReviewCursor, reasons: list[str], note: str, diff_on: bool,
           request: gr.Request | None = None):
    store = studio.store
    if cursor.get("sample_id") is None:
        return message_only(cursor, "no sample is open")
    reasons = check_reasons(reasons)  # before the message below names them
    return _decide(store, run_name, ids, cursor, diff_on, user_of(request), "reject",
                   f"rejected sample {cursor['sample_id']} ({', '.join(reasons)})", reasons=reasons, note=note or "")


def start_edit(cursor: ReviewCursor) -> tuple:
    """Make the final text editable (the shortcut script then focuses it)."""
    if cursor.get("sample_id") is None:
        return gr.update(), gr.update(), "no sample is open"
    message = (f"editing sample {cursor['sample_id']}: change the final text, then Save edit (Ctrl+Enter); "
               "the original stays stored")
    return gr.update(interactive=True), gr.update(visible=True), message


@guarded
def save_edit(studio, run_name: str, ids: list[int], cursor: ReviewCursor, edited: str, note: str, diff_on: bool,
              request: gr.Request | None = None):
    """Accept the open sample with the curator's version of the final text (a decision row's edited_text)."""
    store = studio.store
    sample = store.review_sample(cursor["sample_id"]) if cursor.get("sample_id") is not None else None
    if sample is None:
        return message_only(cursor, "no sample is open")
    text = edited or ""
    if not text.strip():
        return message_only(cursor, "the edited text is empty: write the text, or press Accept or Reject")
    edit = latest_edit(sample["history"])
    if text == final_text(sample, edit and edit["edited_text"]):
        return message_only(cursor, "the text is unchanged: edit it first, or press Accept")
    concerns = edit_concerns(sample, text, gate_rules(RunConfig.from_dict(store.require_run(run_name)["config"])))
    key = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if concerns and cursor.get("confirm_edit") != key:  # the first press explains; the same text again keeps it
        return message_only({**cursor, "confirm_edit": key},
                            f"check this edit: {'; '.join(concerns)}. Press Save edit again to keep it as it is.")
    return _decide(store, run_name, ids, cursor, diff_on, user_of(request), "accept",
                   f"accepted sample {sample['id']} with your edit", edited_text=text, note=note or "")


@guarded
def undo(studio, run_name: str, ids: list[int], cursor: ReviewCursor, diff_on: bool, request: gr.Request | None = None):
    """Withdraw this curator's latest decision of the session (an appended 'pending' row) and reopen its sample;
    with none left in the session, their verdict on the open sample."""
    store = studio.store
    user, stack = user_of(request), list(cursor["undo"])
    target = store.withdrawable([i for i in [*reversed(stack), cursor["sample_id"]] if i is not None], user)
    if target is None:
        return message_only(cursor, "undo: you have no decision to withdraw here")
    sample_id, verdict = target
    stack = [i for i in stack[:len(stack) - stack[::-1].index(sample_id)] if i != sample_id] if sample_id in stack \
        else stack
    before = store.effective_verdict(sample_id)
    decisions.decide(store, sample_id, "pending", user=user, overlap=curator_overlap(store, run_name))
    after = store.effective_verdict(sample_id)
    cursor = {**counted(cursor, before, after), "undo": stack}
    position = ids.index(sample_id) if sample_id in ids else cursor["position"]
    return show_view(store, ids, {**cursor, "position": position}, diff_on,
                     f"undo: your {verdict} of sample {sample_id} is withdrawn · its verdict is now {after}")


# -- loading a run, an iteration, a filter ----------------------------------------------------------------------

def agreement_text(store: Store, iteration: Iteration) -> str:
    """How far apart the iteration's curators are (each curator's latest standing verdict per sample)."""
    agreement = curator_agreement(store.curator_verdicts(iteration["id"]))
    return md_text(f"Agreement in iteration {iteration['idx']}: {agreement}")


def _filters_reset(choices: dict) -> dict:
    return {"verdict": "all", "status": "all", "search": "",
            "gate": gr.update(choices=["all", *choices["gates"]], value="all"),
            "language": gr.update(choices=["all", *choices["languages"]], value="all"),
            **{name: None for name in ("min_words", "max_words", "min_growth", "max_growth")}}


def _first_view(store: Store, run: Run, ids: list[int], cursor: ReviewCursor, diff_on: bool, user: str,
                message: str = ""):
    found = store.next_needing_decision(ids, 0, user, int(run["overlap"] or 1))
    return show_view(store, ids, {**recounted(store, cursor), "position": found or 0}, diff_on, message)


def _loaded(store: Store, run: Run | None, iteration: Iteration | None, diff_on: bool, user: str,
            sample_id: int | None = None, list_open: bool = False) -> tuple:
    """LOAD_FIELDS outputs for one iteration of a run (filters reset), or empty ones without a run; the view opens
    `sample_id` when it is one of the iteration's, else the first sample needing this curator's decision."""
    if run is None or iteration is None:
        values = {"iteration": gr.update(choices=[], value=None), **_filters_reset({"gates": [], "languages": []}),
                  "ids": [], **dict(zip(VIEW_FIELDS, blank_view(new_cursor(), "Pick a run to review."))),
                  "guidelines": "", "guidelines_edit": "", "overlap": 1, "agreement": ""}
    else:
        ids = store.filter_sample_ids(ReviewFilter(iteration["id"]))
        cursor = {**new_cursor(iteration["id"], store.latest_iteration(run["id"])["id"], run["name"], list_open),
                  "user": user}
        if sample_id in ids:
            view = show_view(store, ids, {**recounted(store, cursor), "position": ids.index(sample_id)}, diff_on)
        else:
            view = _first_view(store, run, ids, cursor, diff_on, user)
        values = {"iteration": gr.update(choices=[it["idx"] for it in store.list_iterations(run["id"])],
                                         value=iteration["idx"]),
                  **_filters_reset(store.review_choices(iteration["id"])), "ids": ids, **dict(zip(VIEW_FIELDS, view)),
                  "guidelines": shown_guidelines(run["guidelines"]), "guidelines_edit": run["guidelines"],
                  "overlap": run["overlap"], "agreement": agreement_text(store, iteration)}
    values.update(zip(BULK_FIELDS, _bulk_hidden()))
    return tuple(values[f] for f in LOAD_FIELDS)


def load_run(studio, run_name: str | None, diff_on: bool, request: gr.Request | None = None,
             wanted: dict | None = None, list_open: bool = False) -> tuple:
    """Everything for a run (on run change): its latest iteration, filters reset, the first sample to decide --
    or, when the page's address named this run (`wanted`: run, iteration, sample), that iteration and sample."""
    store = studio.store
    run = store.get_run(run_name) if run_name else None
    iteration, sample_id = run and store.latest_iteration(run["id"]), None
    if run and wanted and wanted.get("run") == run_name:
        iteration = _whole(wanted.get("iteration")) is not None and store.get_iteration(
            run["id"], _whole(wanted["iteration"])) or iteration
        sample_id = _whole(wanted.get("sample"))
        sample = store.get_sample(sample_id) if sample_id is not None else None
        if sample and sample["run_id"] == run["id"]:  # a sample id names its iteration
            iteration = store.iteration_by_id(sample["iteration_id"])
    return _loaded(store, run, iteration, diff_on, user_of(request), sample_id, list_open)


def named(studio, run_name: str | None, diff_on: bool, cursor: ReviewCursor, request: gr.Request | None = None):
    """The run again, under the display name just entered (its queue and decisions are that name's)."""
    return load_run(studio, run_name, diff_on, request, list_open=cursor.get("list_open", False))


def list_shown(studio, ids: list[int], cursor: ReviewCursor, shown: bool) -> tuple:
    """(cursor, list) when the list unfolds (drawn now, and on every step while it stays open) or folds away."""
    cursor = {**cursor, "list_open": shown}
    return cursor, (list_page(studio.store, ids, cursor["position"]) if shown else gr.update())


def _whole(value) -> int | None:
    """A query-string number, or None.

    >>> _whole("812"), _whole(None), _whole("8x")
    (812, None, None)
    """
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def run_changed(studio, run_name: str | None, cursor: ReviewCursor, diff_on: bool, wanted: dict | None = None,
                ids: list[int] | None = None, request: gr.Request | None = None):
    """Load the picked run, unless the tab shows it already (opening the tab loaded it first: a change event
    arriving late must not send the curator back to the first sample, only redraw it over the page's "Loading
    the run" line). The page's first load honours the address's iteration and sample (`wanted`)."""
    if run_name and cursor.get("run") == run_name and cursor.get("iteration_id") is not None:
        # Only the headline: the cursor (and what the curator has seen, for the conflict check) stays as it was.
        info = dict(zip(VIEW_FIELDS, show_view(studio.store, ids, cursor, diff_on)))["info"] if ids else gr.update()
        return tuple(info if field == "info" else gr.update() for field in LOAD_FIELDS)
    return load_run(studio, run_name, diff_on, request, wanted if cursor.get("iteration_id") is None else None,
                    cursor.get("list_open", False))


def open_tab(studio, run_name: str | None, ids: list[int], cursor: ReviewCursor, diff_on: bool,
             wanted: dict | None = None, request: gr.Request | None = None) -> tuple:
    """Opening the tab loads the picked run unless the tab shows it already, with samples, and no newer
    iteration has come since (the run picker's first value fires no change event). Opened by the page's
    address, it opens the iteration and sample the address names (`wanted`)."""
    store = studio.store
    run = store.get_run(run_name) if run_name else None
    latest = run and store.latest_iteration(run["id"])
    if ids and cursor.get("run") == run_name and latest and latest["id"] == cursor.get("latest_id"):
        return tuple(gr.update() for _ in LOAD_FIELDS)
    return load_run(studio, run_name, diff_on, request, wanted if cursor.get("iteration_id") is None else None,
                    cursor.get("list_open", False))


def change_iteration(studio, run_name: str | None, iteration_idx, diff_on: bool, cursor: ReviewCursor | None = None,
                     request: gr.Request | None = None) -> tuple:
    store = studio.store
    run = store.get_run(run_name) if run_name else None
    iteration = store.get_iteration(run["id"], int(iteration_idx)) if run and iteration_idx is not None else None
    list_open = bool(cursor and cursor.get("list_open"))
    if iteration is None:
        return load_run(studio, run_name, diff_on, request, list_open=list_open)
    return _loaded(store, run, iteration, diff_on, user_of(request), list_open=list_open)


def apply_filters(studio, run_name: str | None, iteration_idx, verdict: str, status: str, gate: str, language: str,
                  min_words, max_words, min_growth, max_growth, search: str, ids: list[int], cursor: ReviewCursor,
                  diff_on: bool, request: gr.Request | None = None, said: str = "") -> tuple:
    """Filter the iteration in SQL and open the first sample needing this curator's decision; the iteration
    choices, guidelines and agreement are refreshed too (another curator or a new iteration may have come).
    `said`: what the action before did, put before the count."""
    store = studio.store
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
    cursor = {**new_cursor(iteration["id"], cursor.get("latest_id"), run["name"], cursor.get("list_open", False)),
              "undo": cursor.get("undo", [])}
    matching = f"{len(new_ids)} samples match" + (" the filters now" if said else "")
    view = _first_view(store, run, new_ids, cursor, diff_on, user_of(request),
                       f"{said}; {matching}" if said else matching)
    values = {"iteration": gr.update(choices=[it["idx"] for it in store.list_iterations(run["id"])]),
              "ids": new_ids, **dict(zip(VIEW_FIELDS, view)), "guidelines": shown_guidelines(run["guidelines"]),
              "agreement": agreement_text(store, iteration), **dict(zip(BULK_FIELDS, _bulk_hidden()))}
    return tuple(values[f] for f in APPLY_FIELDS)


def confirm_bulk(studio, run_name: str | None, iteration_idx, verdict: str, status: str, gate: str, language: str,
                 min_words, max_words, min_growth, max_growth, search: str, ids: list[int], cursor: ReviewCursor,
                 bulk: dict, note: str, diff_on: bool, request: gr.Request | None = None) -> tuple:
    """The confirmed bulk verdict on every filtered sample; then the filters again, so the list drops the samples
    that no longer match (a pending-only list empties)."""
    store, filters = studio.store, (verdict, status, gate, language, min_words, max_words, min_growth, max_growth,
                                    search)
    try:
        if not bulk or not ids:
            raise InputError("nothing to confirm")
        done = record_bulk(store, ids, bulk, note, user_of(request), curator_overlap(store, run_name))
    except SelfLengthenError as e:
        values = {"ids": ids, **dict(zip(VIEW_FIELDS, message_only(cursor, str(e)))),
                  **dict(zip(BULK_FIELDS, _bulk_hidden()))}
        return tuple(values.get(f, gr.update()) for f in APPLY_FIELDS)
    return apply_filters(studio, run_name, iteration_idx, *filters, ids, cursor, diff_on, request, said=done)


# -- guidelines and help ----------------------------------------------------------------------------------------

def shown_guidelines(text: str | None) -> str:
    """The guidelines as every curator sees them: inert (`curator_markdown`), or the hint to write some."""
    return curator_markdown(text) if text else NO_GUIDELINES


def save_curation(studio, run_name: str | None, guidelines: str, overlap) -> tuple[str, str]:
    """Save the run's curation guidelines (markdown) and how many curators should decide each sample."""
    store = studio.store
    try:
        run = store.require_run(run_name)
        if not isinstance(overlap, (int, float)) or not float(overlap).is_integer():
            raise InputError(f"overlap must be a whole number from 1 to 10 (got {overlap})")
        store.set_curation(run["id"], guidelines=guidelines or "", overlap=int(overlap))
    except SelfLengthenError as e:
        return gr.update(), md_text(str(e))
    return shown_guidelines(guidelines), f"saved the guidelines and overlap {int(overlap)} of run {md_text(run_name)}"


def toggle_help(shown: bool) -> tuple:
    return gr.update(visible=not shown), not shown
