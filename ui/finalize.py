"""Final tab: build the run's final set (the CLI's `finalize`: the curated texts pooled, each query given a
length constraint its own response meets), then curate its rows (`final-decide`); the set's view lives in
ui/finalize_view.py.

Built by template, the set is made in the dashboard's process (milliseconds for thousands of rows); built by
a model's rewrites, the CLI twin runs in the job worker and the tab's timer redraws the set when it is saved.
Either way the settings come from the run's preset (`finalize.job.preset_spec`) and the exact command is shown.
"""

from __future__ import annotations

from functools import partial

import gradio as gr

from selflengthen.errors import InputError, SelfLengthenError
from selflengthen.finalize.commands import summary_line
from selflengthen.finalize.constraints import ConstraintSpec
from selflengthen.finalize.job import preset_spec, run_finalize
from selflengthen.finalize.pool import SOURCES
from selflengthen.jobs.commands import cli_command, shown
from selflengthen.training.job import check_model_on_disk
from ui import finalize_view as view
from ui.common import md_escape, user_of

POLL_SECONDS = 2.0
WAYS = ("template", "model")
# The spec's fields the form sets, and the `finalize` flag of each.
SPEC_FLAGS = {"min_words": "--min-words", "max_words": "--max-words", "unit": "--unit",
              "chinese_numeral_share": "--zh-numerals", "seed": "--seed"}


def whole(value, what: str) -> int | None:
    """A Number field as an optional whole number (empty: the preset's value).

    >>> whole(40.0, "min words"), whole(None, "seed")
    (40, None)
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a whole number (got {value!r})") from None
    if not number.is_integer():
        raise InputError(f"{what} must be a whole number (got {value})")
    return int(number)


def form_defaults(studio, run_name: str | None) -> tuple:
    """The form for a run: every iteration ticked, both sources, by template, and its preset's bounds."""
    run = studio.store.get_run(run_name) if run_name else None
    spec = preset_spec(run["preset"]) if run else ConstraintSpec()
    indexes = [it["idx"] for it in studio.store.list_iterations(run["id"])] if run else []
    model = f"empty: the run's generator model ({run['generator_model']})" if run else ""
    return (gr.update(choices=[(f"iteration {i}", i) for i in indexes], value=indexes), list(SOURCES), "template",
            gr.update(value="", placeholder=model), spec.min_words, spec.max_words, spec.unit,
            spec.chinese_numeral_share, spec.seed, 0)


def finalize_settings(studio, run_name, iterations, sources, way, rewrite_model, min_words, max_words, unit,
                      zh_share, seed, top_up=0) -> dict:
    """The validated settings of one build; InputError says what to fix."""
    run = studio.store.get_run(run_name) if run_name else None
    if run is None:
        raise InputError("pick a run first")
    if not iterations:
        raise InputError("tick at least one iteration")
    if not sources:
        raise InputError("tick at least one source")
    if way not in WAYS:
        raise InputError(f"way must be one of: {', '.join(WAYS)}")
    if (whole(top_up, "top-up instructions") or 0) < 0:
        raise InputError("top-up instructions must be 0 or more")
    spec = preset_spec(run["preset"], min_words=whole(min_words, "min words"), max_words=whole(max_words, "max words"),
                       unit=whole(unit, "unit"), seed=whole(seed, "seed"),
                       chinese_numeral_share=None if zh_share is None else float(zh_share))
    return {"run": run, "spec": spec, "iterations": sorted(int(i) for i in iterations),
            "sources": tuple(s for s in SOURCES if s in sources), "way": way,
            "rewrite_model": ((rewrite_model or "").strip() or None) if way == "model" else None,
            "top_up": whole(top_up, "top-up instructions") or 0}


def finalize_command(studio, settings: dict) -> list[str]:
    """The CLI twin: `finalize` with the flags that differ from its defaults (the run's preset, every iteration)."""
    run, spec, preset = settings["run"], settings["spec"], preset_spec(settings["run"]["preset"])
    args = ["finalize", "--db", str(studio.db_path), "--name", run["name"]]
    if settings["iterations"] != [it["idx"] for it in studio.store.list_iterations(run["id"])]:
        args += ["--iterations", ",".join(map(str, settings["iterations"]))]
    if settings["sources"] != SOURCES:
        args += ["--sources", ",".join(settings["sources"])]
    if settings["way"] != "template":
        args += ["--way", settings["way"]]
    if settings["rewrite_model"]:
        args += ["--rewrite-model", settings["rewrite_model"]]
    if settings["top_up"]:
        args += ["--top-up", str(settings["top_up"])]
    for name, flag in SPEC_FLAGS.items():
        if getattr(spec, name) != getattr(preset, name):
            args += [flag, str(getattr(spec, name))]
    return cli_command(*args)


def command_preview(studio, run_name, *form) -> str:
    try:
        return shown(finalize_command(studio, finalize_settings(studio, run_name, *form)))
    except (SelfLengthenError, ValueError) as e:
        return f"(not ready: {e})"


def build_final(studio, run_name, *form, shown_verdicts: str = "all") -> tuple:
    """Build the final set (by template here and now; by a model in the job worker): (message, command,
    summary, table, type chart, length chart, poll key: the timer need not redraw what this drew)."""
    try:
        settings = finalize_settings(studio, run_name, *form)
        command = finalize_command(studio, settings)
        state = studio.worker.state()
        if state["label"] == view.CHAIN and state["running"]:
            raise InputError("the model is still building the final set: wait for it to end")
        if settings["way"] == "model" or settings["top_up"]:
            if settings["way"] == "model":
                check_model_on_disk(settings["rewrite_model"] or settings["run"]["generator_model"], "the rewrite model")
            studio.worker.launch(view.CHAIN, [command])
            message = ("Started: a top-up answers new instructions, then the set is built" if settings["top_up"] else
                       "Started: the model rewrites the queries") + "; the set below is redrawn when it is saved."
        else:
            _, stats = run_finalize(studio.store, settings["run"]["name"], settings["spec"],
                                    iterations=settings["iterations"], sources=settings["sources"])
            message = f"Built: {md_escape(summary_line(stats, None))}."
    except (SelfLengthenError, ValueError) as e:
        return (f"**Not built:** {md_escape(str(e))}", command_preview(studio, run_name, *form),
                *view.set_view(studio, run_name, shown_verdicts), poll_key(studio, run_name))
    return (message, shown(command), *view.set_view(studio, run_name, shown_verdicts), poll_key(studio, run_name))


def poll_key(studio, run_name: str | None) -> list:
    """What the set's view depends on besides this curator's own clicks: the last build, the worker's build."""
    run = studio.store.get_run(run_name) if run_name else None
    done = studio.store.finalization(run["id"]) if run else None
    state = studio.worker.state()
    ours = state["label"] == view.CHAIN
    return [run_name, done and done["updated_at"], ours and state["running"], ours and state["error"]]


def poll(studio, run_name: str | None, shown_verdicts: str, key: list | None) -> tuple:
    """The timer's tick: redraw the set (summary, table, charts) only when it changed."""
    fresh = poll_key(studio, run_name)
    if fresh == key:
        return (gr.skip(),) * 5
    return (*view.set_view(studio, run_name, shown_verdicts), fresh)


def refresh(studio, run_name: str | None) -> tuple:
    """The whole tab for a run: its form, the command, the set, no row open, and the poll key."""
    defaults = form_defaults(studio, run_name)
    form = [d["value"] if isinstance(d, dict) else d for d in defaults]
    return (*defaults, command_preview(studio, run_name, *form), "", *view.set_view(studio, run_name, "all"),
            "all", *view.NO_ROW, "", poll_key(studio, run_name))


# --- layout ------------------------------------------------------------------------------------------------

def _build_form() -> list:
    with gr.Row():
        iterations = gr.CheckboxGroup(label="Iterations to pool", elem_id="final-iterations")
        sources = gr.CheckboxGroup(list(SOURCES), value=list(SOURCES), label="Texts of each accepted sample",
                                   elem_id="final-sources", scale=0, min_width=220)
        way = gr.Radio(list(WAYS), value="template", label="Write the constraint in", elem_id="final-way", scale=0,
                       min_width=220)
        model = gr.Textbox(label="Rewrite model (way: model)", elem_id="final-rewrite-model")
    with gr.Row():
        numbers = [gr.Number(label=label, precision=0, elem_id=f"final-{name}", min_width=120)
                   for name, label in (("min-words", "Min words"), ("max-words", "Max words"), ("unit", "Unit"))]
        share = gr.Slider(0, 1, step=0.05, label="Chinese numeral share (zh rows)", elem_id="final-zh-numerals")
        seed = gr.Number(label="Seed", precision=0, elem_id="final-seed", min_width=100)
        top_up = gr.Number(label="Top-up: new instructions for the last generator", precision=0, minimum=0,
                           elem_id="final-top-up", min_width=160)
    return [iterations, sources, way, model, *numbers, share, seed, top_up]


def _build_row() -> dict:
    with gr.Row(equal_height=True):
        row_id = gr.Number(label="Row id", precision=0, elem_id="final-row-id", scale=0, min_width=120)
        facts = gr.Markdown(elem_id="final-row-facts")
    query = gr.Textbox(label="Constrained query (editable)", lines=3, max_lines=12, elem_id="final-query")
    response = gr.Textbox(label="Response (editable)", lines=12, max_lines=40, elem_id="final-response")
    with gr.Row():
        buttons = [gr.Button(label, variant=variant, elem_id=f"final-{name}", scale=0, min_width=200) for
                   name, label, variant in (("accept", "Accept", "primary"), ("reject", "Reject", "stop"),
                                            ("save-edit", "Save edit (accepts)", "secondary"))]
    message = gr.Markdown(elem_id="final-row-message")
    # The row that is open, as the server last opened it: what Accept, Reject and Save act on. The row id field
    # only shows it and opens a typed id (a field's value can lag behind its output in the page).
    current = gr.State(None)
    return {"row_id": row_id, "facts": facts, "query": query, "response": response, "accept": buttons[0],
            "reject": buttons[1], "save": buttons[2], "message": message, "current": current}


def build_tab(studio, run) -> None:
    with gr.Tab("Final", id="finalize"):
        gr.Markdown("The final dataset: the curated texts of the chosen iterations pooled, each query given a "
                    "length constraint its own response meets. Build it, then accept, reject or edit its rows; "
                    "the final model (Train tab) learns from every row not rejected.")
        form = _build_form()
        start = gr.Button("Build final set", variant="primary", elem_id="final-build", scale=0)
        message = gr.Markdown(elem_id="final-message")
        command = gr.Textbox(label="Command-line twin", interactive=False, elem_id="final-command")
        summary = gr.Markdown(elem_id="final-summary")
        shown_verdicts = gr.Radio(list(view.VERDICT_FILTERS), value="all", label="Rows shown", elem_id="final-filter")
        table = gr.Dataframe(headers=view.ROW_COLUMNS, label="Final rows (click one to open it)", interactive=False,
                             max_height=320, elem_id="final-rows")
        with gr.Row():
            types, lengths = gr.Plot(elem_id="final-types"), gr.Plot(elem_id="final-lengths")
        row = _build_row()
        key = gr.State(None)
        timer = gr.Timer(POLL_SECONDS)
    the_set = [summary, table, types, lengths]
    _wire(studio, run, form, start, message, command, the_set, shown_verdicts, row, key, timer)


def _wire(studio, run, form, start, message, command, the_set, shown_verdicts, row, key, timer) -> None:
    opened = [row["row_id"], row["facts"], row["query"], row["response"], row["current"]]

    def with_current(values: tuple, at: int = 0) -> tuple:  # the opened row's id again, for the State
        return (*values, values[at])

    run.change(lambda name: (*refresh(studio, name), None), run,
               [*form, command, message, *the_set, shown_verdicts, *opened[:4], row["message"], key, row["current"]],
               api_name="final_refresh", show_progress="hidden")
    for field in form:
        field.change(partial(command_preview, studio), [run, *form], command, api_name=False, queue=False)
    start.click(lambda *values: build_final(studio, *values[:-1], shown_verdicts=values[-1]),
                [run, *form, shown_verdicts], [message, command, *the_set, key], api_name="final_build")
    shown_verdicts.change(partial(view.set_view, studio), [run, shown_verdicts], the_set, api_name=False)
    timer.tick(partial(poll, studio), [run, shown_verdicts, key], [*the_set, key], concurrency_limit=None,
               show_progress="hidden", api_name="final_poll")
    # Opening a row marks nothing as loading: a loading status applied to the row id field as the row opens could
    # write the field's previous value back over the new one (Gradio re-reads a component when its status changes).
    row["row_id"].input(lambda name, typed: with_current(view.open_row(studio, name, typed)), [run, row["row_id"]],
                        opened, api_name=False, show_progress="hidden")

    def on_select(run_name, evt: gr.SelectData):
        return with_current(view.open_row(studio, run_name, (evt.row_value or [None])[0]))

    def on_decide(verdict):
        def decided(run_name, row_id, shown, request: gr.Request):
            return with_current(view.decide(studio, run_name, row_id, verdict, user_of(request), shown), at=1)
        return decided

    def on_save(run_name, row_id, query, response, shown, request: gr.Request):
        return view.save_edit(studio, run_name, row_id, query, response, user_of(request), shown)

    the_set[1].select(on_select, run, opened, api_name=False, show_progress="hidden")
    for verdict in ("accept", "reject"):
        row[verdict].click(on_decide(verdict), [run, row["current"], shown_verdicts],
                           [row["message"], *opened[:4], *the_set, row["current"]], api_name=f"final_{verdict}")
    row["save"].click(on_save, [run, row["current"], row["query"], row["response"], shown_verdicts],
                      [row["message"], row["facts"], *the_set], api_name="final_save_edit")
