"""Iterate tab: pre-flight checks, the config and command an iteration would use, start, live progress, log,
cancel, and the run's recent jobs.

The iteration runs as its command-line twin in the job worker's subprocess; everything shown is read
back from the store (and, before the job row exists, from the worker) on every timer tick, so a reload
or a second browser sees the same job.
"""

from __future__ import annotations

import re
from datetime import datetime

import gradio as gr

from selflengthen.errors import InputError, SelfLengthenError
from selflengthen.jobs.commands import cli_command, shown
from selflengthen.jobs.preflight import Check, blocking, run_preflight
from selflengthen.runs.status import iteration_status
from selflengthen.shapes import Job
from selflengthen.stages.pipeline import STEPS, iteration_config, planned_iteration
from ui.common import md_escape, optional_whole
from ui.jobs import JOB_COLUMNS, endpoint_lines, job_line, job_rows, wire_cancel

POLL_SECONDS = 1.5
LOG_LINES = 60


# -- inputs and commands ---------------------------------------------------------------------------
def parse_n_instructions(value) -> int | None:
    """The optional instruction target: empty or 0 (an emptied number field) means the config's.

    >>> parse_n_instructions(None), parse_n_instructions(""), parse_n_instructions(0), parse_n_instructions(8.0)
    (None, None, None, 8)
    """
    return None if value == 0 else optional_whole(value, "number of instructions")


def iterate_command(db_path, run_name: str, n_instructions: int | None) -> list[str]:
    """The `iterate` command the worker runs (quiet: no progress bars in the captured output)."""
    extra = ["--n-instructions", str(n_instructions)] if n_instructions else []
    return cli_command("iterate", "--db", str(db_path), "--name", run_name, *extra, "--quiet")


# -- preview and pre-flight -----------------------------------------------------------------------
PASS, WARNING, FAIL = "✅ pass ·", "⚠️ warning ·", "❌ FAIL ·"  # the word carries the meaning; the mark is a help
def preflight_markdown(checks: list[Check]) -> str:
    """Checks as a list: ✅ pass, ⚠️ warning (passed), ❌ fail (blocks the start) -- each mark with its word, for
    readers without an emoji font or colour; a check's command below it as code (e.g. the `vllm serve` line that
    serves the next iteration's adapters)."""
    lines = ["**Pre-flight checks**"]
    for check in checks:
        mark = FAIL if not check.ok else WARNING if check.warning else PASS
        lines.append(f"- {mark} **{check.name}**: {md_escape(check.message)}")
        if check.command:
            lines.append(code_block(check.command))
    return "\n".join(lines)


def code_block(text: str) -> str:
    """`text` as a fenced code block inside a list item, its fence longer than any run of backticks in it (a path
    cannot close it early).

    >>> code_block("vllm serve /m")
    '\\n  ```\\n  vllm serve /m\\n  ```'
    """
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return f"\n  {fence}\n  {text}\n  {fence}"


def iterate_preview(studio, run_name: str | None, n_value) -> tuple[str, str, str]:
    """(pre-flight markdown, config JSON, shown command) of what "Next iteration" would do now."""
    store = studio.store
    run = store.get_run(run_name) if run_name else None
    if run is None:
        return "pick a run (Runs tab or the picker above)", "", ""
    try:
        n = parse_n_instructions(n_value)
    except InputError as e:
        return f"{FAIL} {md_escape(e)}", "", ""
    checks = run_preflight(store, run, studio.db_path, studio.worker.busy_reason(), n)
    try:
        config = iteration_config(planned_iteration(store, run), n).to_json()
    except SelfLengthenError as e:
        config = f"// error: {e}"
    return preflight_markdown(checks), config, shown(iterate_command(studio.db_path, run_name, n))


# -- actions ---------------------------------------------------------------------------------------
def start_iteration(studio, run_name: str | None, n_value) -> str:
    """Run the pre-flight checks, then launch `iterate` in the worker; a one-line message either way."""
    store = studio.store
    try:
        if not run_name:
            raise InputError("pick a run first")
        run = store.require_run(run_name)
        n = parse_n_instructions(n_value)
        failed = blocking(run_preflight(store, run, studio.db_path, studio.worker.busy_reason(), n))
        if failed:
            return "cannot start: " + "; ".join(f"{c.name}: {md_escape(c.message)}" for c in failed)
        command = iterate_command(studio.db_path, run_name, n)
        studio.worker.launch("iterate", [command])
    except SelfLengthenError as e:  # StoreError and the worker's refusal included
        return f"error: {md_escape(e)}"
    return f"started `{shown(command)}`"


def start_or_ask(studio, run_name: str | None, n_value, asked: str | None) -> tuple[str, str | None]:
    """"Next iteration": when the run's iteration is already waiting for review, running it again only fills in
    missing work -- say so and start only on a second press (`asked`: what the first press asked about)."""
    run = studio.store.get_run(run_name) if run_name else None
    plan = planned_iteration(studio.store, run) if run else None
    waiting = plan is not None and not plan["new"] and all(s in plan["steps_done"] for s in STEPS)
    key = f"{run_name}:{plan['idx']}" if waiting else None
    if waiting and asked != key:
        return (f"Iteration {plan['idx']} of '{md_escape(run_name)}' is waiting for review: running it again only"
                f" fills in missing work. To start iteration {plan['idx'] + 1}, review it and train (Train tab)."
                " **Press Next iteration again to run it anyway.**", key)
    return start_iteration(studio, run_name, n_value), None


def cancel_iteration(studio) -> str:
    """Ask every live job to stop (finished work is kept)."""
    asked = studio.worker.cancel()
    if asked:
        return f"asked job {', '.join(map(str, asked))} to stop; finished work is kept"
    if studio.worker.state()["running"]:
        return "the command has not opened its job yet: press Cancel again once the job shows as running"
    return "no running job to cancel"


def iteration_line(status: dict) -> str:
    """Per-stage counts of an iteration (iteration_status): instructions, samples, passed, curation, words."""
    completed = ", ".join(status["steps_done"]) or "none"
    parts = [f"iteration {status['index']}", status["status"], f"completed steps: {completed}",
             f"instructions {status['instructions']}", f"samples {status['samples']}", f"passed {status['passed']}",
             f"accepted {status['accepted']}", f"rejected {status['rejected']}", f"pending {status['pending']}",
             f"words initial {_number(status['initial_words_mean'])} → final {_number(status['final_words_mean'])}"]
    line = " · ".join(parts)
    if status["gate_rejections"]:
        line += "\n\ngate rejections: " + ", ".join(f"{k} {v}" for k, v in sorted(status["gate_rejections"].items()))
    return line


def iterate_progress(studio, run_name: str | None) -> tuple[str, str]:
    """(progress markdown, log text) of the run's latest iterate job, or of the worker's command before it."""
    store = studio.store
    run = store.get_run(run_name) if run_name else None
    job = store.latest_job(run["id"], "iterate") if run else None
    chain = _worker_chain(studio.worker, run_name)
    relation = _relation(job, chain) if chain is not None else "none"
    if chain is not None and relation in ("none", "before"):
        if chain["running"]:
            return f"starting `{chain['command']}` (loading; the job appears in a few seconds)", chain["output"]
        if chain["error"]:
            return f"the command failed before its job started: error: {md_escape(chain['error'])}", chain["output"]
    if job is None:
        return ("no iteration job yet for this run" if run else "pick a run"), ""
    text = md_escape(job_line(job))
    if job["iteration_id"] is not None:
        text += "\n\n" + md_escape(iteration_line(iteration_status(store, store.iteration_by_id(job["iteration_id"]))))
    if job["status"] == "running":
        text += "".join("\n\n" + md_escape(line) for line in endpoint_lines(job))
    log = "\n".join(job["log"].splitlines()[-LOG_LINES:])
    if relation == "during" and not chain["running"] and chain["output"]:
        log += "\n--- command output ---\n" + chain["output"]
    return text, log


def poll(studio, run_name: str | None, n_value) -> tuple:
    """Everything the tab shows, re-derived from the store and the worker (timer ticks, run changes)."""
    preflight, config, command = iterate_preview(studio, run_name, n_value)
    progress, log = iterate_progress(studio, run_name)
    return preflight, config, command, progress, log, job_rows(studio.store, run_name)


def _worker_chain(worker, run_name: str | None) -> dict | None:
    """The worker's state when its current (or last) command is `iterate` of this run, else None."""
    if not run_name or not worker.commands:
        return None
    command = worker.commands[min(worker.step, len(worker.commands) - 1)]
    names = [command[i + 1] for i, part in enumerate(command[:-1]) if part == "--name"]
    if command[3:4] != ["iterate"] or names != [run_name]:
        return None
    return worker.state()


def _relation(job: Job | None, chain: dict) -> str:
    """When the job row was created relative to the worker's command: none, before, during or after it."""
    if job is None:
        return "none"
    created = datetime.fromisoformat(job["created_at"]).timestamp()
    if chain["started_at"] is None or created < chain["started_at"] - 1.0:
        return "before"
    if chain["finished_at"] is None or created <= chain["finished_at"] + 1.0:
        return "during"
    return "after"


def _number(value) -> str:
    return "-" if value is None else str(value)


# -- layout ----------------------------------------------------------------------------------------
def build_tab(studio, run) -> None:
    with gr.Tab("Iterate", id="iterate"):
        gr.Markdown("### Next iteration\nAugment → generate → expand → filter, up to human review. "
                    "Runs as the command below in the background; progress survives a page reload.")
        with gr.Row():
            n_instructions = gr.Number(label="Instructions (empty or 0: the config's)", precision=0,
                                       elem_id="iterate-n-instructions")
            start = gr.Button("Next iteration", variant="primary", elem_id="iterate-start")
            cancel = gr.Button("Cancel", variant="stop", interactive=False, elem_id="iterate-cancel")
        message = gr.Markdown(elem_id="iterate-message")
        preflight = gr.Markdown(elem_id="iterate-preflight")
        command = gr.Textbox(label="Command", interactive=False, buttons=["copy"], elem_id="iterate-command")
        progress = gr.Markdown(elem_id="iterate-progress")
        log = gr.Textbox(label="Log", lines=12, max_lines=12, interactive=False, autoscroll=True,
                         elem_id="iterate-log")
        jobs = gr.Dataframe(headers=JOB_COLUMNS, interactive=False, elem_id="iterate-jobs", label="Recent jobs")
        with gr.Accordion("Iteration config", open=False):
            config = gr.Code(language="json", interactive=False, max_lines=30, elem_id="iterate-config")
        outputs = [preflight, config, command, progress, log, jobs]

        def refresh(run_name, n_value):
            return poll(studio, run_name, n_value)

        timer = gr.Timer(POLL_SECONDS)
        timer.tick(refresh, [run, n_instructions], outputs, concurrency_limit=None, show_progress="hidden",
                   api_name="iterate_poll")
        gr.on([run.change, n_instructions.change], refresh, [run, n_instructions], outputs, show_progress="hidden",
              api_name="iterate_refresh")
        asked = gr.State(None)  # the waiting iteration a first press asked about (start_or_ask)
        started = start.click(lambda name, n, a: start_or_ask(studio, name, n, a), [run, n_instructions, asked],
                              [message, asked], api_name="iterate_start")
        started.then(refresh, [run, n_instructions], outputs, show_progress="hidden")
        wire_cancel(studio, cancel, timer, started)
        cancel.click(lambda: cancel_iteration(studio), None, message, api_name="iterate_cancel")
