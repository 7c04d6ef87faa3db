"""Review tab: curate an iteration's samples side by side, with their gates, a word diff, shortcuts and bulk actions.

This module lays out the components and wires events; the handlers live in ui/review_handlers.py. Model text
reaches the page only through Textboxes, HighlightedText and default Dataframe cells.
"""

from __future__ import annotations

import functools
import inspect

import gradio as gr

from selflengthen.curation.filters import STATUS_FILTERS, VERDICT_FILTERS
from selflengthen.curation.rules import REJECT_REASONS
from ui.hotkeys import HELP
from ui.review_handlers import (
    APPLY_FIELDS,
    BULK_FIELDS,
    FILTER_FIELDS,
    LOAD_FIELDS,
    VIEW_FIELDS,
    accept,
    apply_filters,
    ask_bulk_accept,
    ask_bulk_reject,
    cancel_bulk,
    change_iteration,
    list_shown,
    named,
    confirm_bulk,
    go_next,
    go_prev,
    new_cursor,
    open_row,
    open_tab,
    reject,
    run_changed,
    save_curation,
    save_edit,
    show_diff,
    start_edit,
    toggle_help,
    undo,
)
from ui.common import CURATOR_COOKIE
from ui.review_view import GATE_HEADERS, LIST_HEADERS


def _bound(handler, studio):
    """`handler` with the studio filled in, keeping the signature and type hints Gradio reads to inject
    gr.Request / gr.SelectData (functools.partial would hide them)."""
    @functools.wraps(handler)
    def with_studio(*args):
        return handler(studio, *args)
    signature = inspect.signature(handler)
    with_studio.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])
    return with_studio


def _text(label: str, name: str, lines: int) -> gr.Textbox:
    """A text of the sample at a fixed height (longer texts scroll inside), so nothing moves between samples."""
    return gr.Textbox(label=label, lines=lines, max_lines=lines, interactive=False, autoscroll=False,
                      elem_id=f"review-{name}")


def _filters_panel(c: dict) -> None:
    with gr.Row():
        c["iteration"] = gr.Dropdown(label="Iteration", elem_id="review-iteration", interactive=True, min_width=100)
        dropdowns = (("verdict", "Decision", VERDICT_FILTERS), ("status", "Sample status", STATUS_FILTERS),
                     ("gate", "Failed gate", ["all"]), ("language", "Language", ["all"]))
        for name, label, choices in dropdowns:
            c[name] = gr.Dropdown(list(choices), value="all", label=label, interactive=True,
                                  elem_id=f"review-filter-{name}", min_width=140)
    with gr.Row(equal_height=True):
        for name in ("min_words", "max_words", "min_growth", "max_growth"):
            c[name] = gr.Number(label=name.replace("_", " ").capitalize(), minimum=0, min_width=100,
                                elem_id=f"review-{name.replace('_', '-')}")
        c["search"] = gr.Textbox(label="Search the texts", elem_id="review-search", scale=2)
        c["apply"] = gr.Button("Apply filters", elem_id="review-apply", scale=0, min_width=140)
    c["listing"] = gr.Dataframe(headers=LIST_HEADERS, interactive=False, max_height=260, elem_id="review-list",
                                label="Samples (click a row to open it)")


def _sample_panel(c: dict) -> None:
    with gr.Row(equal_height=True):
        c["info"] = gr.Markdown(elem_id="review-sample-info")
        c["suggested"] = gr.Markdown(elem_id="review-suggested")
    with gr.Row():
        c["instruction"] = _text("Instruction", "instruction", 13)
        c["initial"] = _text("Initial response", "initial", 13)
        with gr.Column():
            c["half"] = _text("Stage 1: the first half given", "half", 4)
            c["stage1"] = _text("Stage 1: its expansion", "stage1", 6)
        c["final"] = _text("Final expansion", "final", 13)


def _actions_panel(c: dict) -> None:
    """The action bar, fixed to the bottom of the window (CSS in ui/hotkeys.py): the buttons are its last row, so
    Accept stays at one place whatever the texts or the message above it."""
    with gr.Column(elem_id="review-actions"):
        with gr.Row(equal_height=True):
            c["message"] = gr.Markdown(elem_id="review-message")
            c["progress"] = gr.Markdown(elem_id="review-progress")
        with gr.Row():
            c["reasons"] = gr.CheckboxGroup(list(REJECT_REASONS), label="Reject reasons (keys 1–8)",
                                            elem_id="review-reasons", scale=3)
            c["note"] = gr.Textbox(label="Note (optional)", elem_id="review-note", scale=2)
        with gr.Row():
            for name, label, variant in (("accept", "Accept (a)", "primary"), ("reject", "Reject (r)", "stop"),
                                         ("edit", "Edit (e)", "secondary"), ("undo", "Undo (u)", "secondary"),
                                         ("prev", "← Previous (k)", "secondary"),
                                         ("next", "Next (j) →", "secondary"), ("help", "Shortcuts (?)", "secondary")):
                c[name] = gr.Button(label, variant=variant, elem_id=f"review-{name}", min_width=90)
            c["save_edit"] = gr.Button("Save edit (Ctrl+Enter)", variant="primary", visible=False,
                                       elem_id="review-save-edit")
    c["help_text"] = gr.Markdown(HELP, visible=False, elem_id="review-help-text")


def _details_panel(c: dict) -> None:
    """Below the sample: its gates and the word diff."""
    c["gates"] = gr.Dataframe(headers=GATE_HEADERS, interactive=False, label="Gates", max_height=240,
                              elem_id="review-gates")
    c["diff_toggle"] = gr.Checkbox(label="Show the word diff, initial → final (an edit: original → edit)",
                                   elem_id="review-diff-toggle")
    c["diff"] = gr.HighlightedText(combine_adjacent=True, show_inline_category=False, show_legend=True,
                                   color_map={"added": "green", "removed": "red"}, visible=False,
                                   elem_id="review-diff")


def _bulk_and_settings_panel(c: dict, named: bool) -> None:
    with gr.Row(equal_height=True):
        c["bulk_accept"] = gr.Button("Accept all filtered", elem_id="review-bulk-accept", scale=0, min_width=200)
        c["bulk_reject"] = gr.Button("Reject all filtered (ticked reasons)", elem_id="review-bulk-reject", scale=0,
                                     min_width=280)
        c["bulk_message"] = gr.Markdown(elem_id="review-bulk-message")
        c["bulk_confirm"] = gr.Button("Confirm", variant="stop", visible=False, elem_id="review-bulk-confirm", scale=0)
        c["bulk_cancel"] = gr.Button("Cancel", visible=False, elem_id="review-bulk-cancel", scale=0)
    with gr.Accordion("Curation settings and agreement", open=False):
        with gr.Row(equal_height=True):
            c["guidelines_edit"] = gr.Textbox(label="Guidelines (markdown, shown above to every curator)", lines=3,
                                              elem_id="review-guidelines-edit", scale=3)
            c["overlap"] = gr.Number(label="Curators per sample (overlap)", value=1, precision=0, minimum=1,
                                     maximum=10, elem_id="review-overlap", min_width=160)
            c["guidelines_save"] = gr.Button("Save", elem_id="review-guidelines-save", scale=0, min_width=100)
        c["agreement"] = gr.Markdown(elem_id="review-agreement")
        # Without --auth: a name for this browser's decisions (a cookie, read by `ui.common.user_of`), so a small
        # trusted team gets per-curator queues and agreement. With a login the login is the name.
        c["name"] = gr.Textbox(label="Your name (no login here: it names your decisions; kept in this browser)",
                               elem_id="review-name", max_length=40, visible=named)


# The name field's value into this browser's cookie (sent with every request from then on), before the reload.
REMEMBER_NAME = f"""(...inputs) => {{
  const field = document.querySelector('#review-name textarea, #review-name input');
  document.cookie = '{CURATOR_COOKIE}=' + encodeURIComponent((field?.value || '').trim())
    + '; path=/; max-age=31536000; SameSite=Lax';
  return inputs;
}}"""


def _wire(studio, run, c: dict) -> None:
    def out(names):
        return [c[n] for n in names]

    view, diff_on, nav = out(VIEW_FIELDS), c["diff_toggle"], [run, c["ids"], c["cursor"]]
    # One queue for every action that reads or moves the cursor, so quick key presses apply in order.
    serial = {"concurrency_id": "review", "concurrency_limit": 1, "show_progress": "hidden"}
    keys = {**serial, "trigger_mode": "multiple"}
    # The old run's sample goes at once, in the page, so nothing of it is taken for the new run's while loading;
    # every change is sent at once ("multiple"), so a load queued before a curator's action runs before it.
    run.change(None, None, c["info"], js="() => 'Loading the run…'", queue=False, api_name=False)
    run.change(_bound(run_changed, studio), [run, c["cursor"], diff_on, c["wanted"], c["ids"]], out(LOAD_FIELDS),
               api_name="review_load", **keys)
    c["tab"].select(_bound(open_tab, studio), [run, c["ids"], c["cursor"], diff_on, c["wanted"]], out(LOAD_FIELDS),
                    api_name=False, **serial)
    c["iteration"].input(_bound(change_iteration, studio), [run, c["iteration"], diff_on, c["cursor"]],
                         out(LOAD_FIELDS),
                         api_name=False, **keys)
    c["apply"].click(_bound(apply_filters, studio), [run, c["iteration"], *out(FILTER_FIELDS), c["ids"], c["cursor"],
                                                     diff_on], out(APPLY_FIELDS), api_name="review_apply", **serial)
    for name, handler, extra in (("accept", accept, ["note"]), ("reject", reject, ["reasons", "note"]),
                                 ("save_edit", save_edit, ["final", "note"]), ("undo", undo, []),
                                 ("next", go_next, []), ("prev", go_prev, [])):
        c[name].click(_bound(handler, studio), [*nav, *out(extra), diff_on], view, api_name=f"review_{name}", **keys)
    c["edit"].click(start_edit, c["cursor"], [c["final"], c["save_edit"], c["message"]], api_name=False, **serial)
    c["listing"].select(_bound(open_row, studio), [c["ids"], c["cursor"], diff_on], view, api_name=False, **serial)
    diff_on.change(_bound(show_diff, studio), [c["cursor"], diff_on], c["diff"], api_name=False, **serial)
    c["help"].click(toggle_help, c["help_shown"], [c["help_text"], c["help_shown"]], api_name=False, queue=False)
    c["bulk_accept"].click(_bound(ask_bulk_accept, studio), c["ids"], out(BULK_FIELDS), api_name=False, **serial)
    c["bulk_reject"].click(_bound(ask_bulk_reject, studio), [c["ids"], c["reasons"]], out(BULK_FIELDS), api_name=False,
                           **serial)
    c["bulk_cancel"].click(cancel_bulk, None, out(BULK_FIELDS), api_name=False, **serial)
    c["bulk_confirm"].click(_bound(confirm_bulk, studio), [run, c["iteration"], *out(FILTER_FIELDS), c["ids"],
                                                           c["cursor"], c["bulk"], c["note"], diff_on],
                            out(APPLY_FIELDS), api_name="review_bulk_confirm", **serial)
    gr.on([c["name"].submit, c["name"].blur], _bound(named, studio), [run, diff_on, c["cursor"]], out(LOAD_FIELDS),
          api_name=False, js=REMEMBER_NAME, **serial)
    for event, shown in ((c["filters"].expand, True), (c["filters"].collapse, False)):
        event(_bound(functools.partial(list_shown, shown=shown), studio), [c["ids"], c["cursor"]],
              [c["cursor"], c["listing"]], api_name=False, **serial)
    c["guidelines_save"].click(_bound(save_curation, studio), [run, c["guidelines_edit"], c["overlap"]],
                               [c["guidelines"], c["message"]], api_name="review_save_guidelines", **serial)


def build_tab(studio, run, wanted=None) -> None:
    """The Review tab: guidelines, filters and list, one sample side by side, actions, bulk actions, settings.
    `wanted` (a State the page's load fills from its address) names the iteration and sample to open first."""
    c: dict = {"wanted": wanted if wanted is not None else gr.State({})}
    with gr.Tab("Review", id="review") as c["tab"]:
        # The sample first, then its action bar (fixed at the window's bottom); what a curator opens now and
        # then folds away below it.
        _sample_panel(c)
        _actions_panel(c)
        with gr.Column(elem_id="review-rest"):
            _details_panel(c)
            with gr.Accordion("Filters and the list of samples", open=False, elem_id="review-filters") as c["filters"]:
                _filters_panel(c)
            with gr.Accordion("Guidelines", open=False, elem_id="review-guidelines-box"):
                c["guidelines"] = gr.Markdown(elem_id="review-guidelines")
            _bulk_and_settings_panel(c, named=not studio.auth)
        c.update(ids=gr.State([]), cursor=gr.State(new_cursor()), bulk=gr.State({}), help_shown=gr.State(False))
    _wire(studio, run, c)
