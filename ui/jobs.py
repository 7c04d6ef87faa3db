"""How the dashboard shows long work: a job as one line (stage progress, or a trainer's metrics), its last log
line, what the worker knows before a job row exists, the table of recent jobs, and durations. Plain functions
of job rows and the worker's state; every tab formats its jobs through these.
"""

from __future__ import annotations

import json
from datetime import datetime

from selflengthen.errors import InputError
from selflengthen.jobs.progress import job_progress
from selflengthen.runs.status import live_endpoints
from selflengthen.shapes import Job, Store
from ui.common import md_escape

JOB_COLUMNS = ["id", "kind", "status", "stage", "done/total", "started", "finished", "error"]
RECENT_JOBS = 20  # rows of the Iterate tab's table of recent jobs


def launch_lines(state: dict, label: str, job: Job | None, starting: str, what: str) -> list[str]:
    """What the worker knows that the job row cannot yet: the command of `label` still starting (no running
    job yet), or its failure before the job existed (an error the job row does not already show)."""
    if state["label"] != label:
        return []
    lines = []
    if state["running"] and (job is None or job["status"] != "running"):
        lines.append(starting)
    if state["error"] and (job is None or state["error"] not in (job["error"] or "")):
        lines.append(f"The last {what} command failed: {md_escape(state['error'])}")
    return lines


def format_seconds(seconds: float | None) -> str:
    """A short duration for progress lines.

    >>> [format_seconds(s) for s in (None, 42, 125, 7300)]
    ['-', '42 s', '2 min 5 s', '2 h 1 min']
    """
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"



def job_line(job: Job, now: datetime | None = None) -> str:
    """'job 7 · iterate · running · stage expand 12/32 (38 %) · batch 5/16 written (ETA 9 s) · elapsed 20 s ·
    ETA 33 s' (the batch: the requests a local model works on now, whose items are stored when it ends)."""
    progress = job_progress(job, now)
    status = job["status"] + (" (cancel requested)" if job["cancel_requested"] and job["status"] == "running" else "")
    parts = [f"job {job['id']}", job["kind"], status]
    if progress["stage"]:
        percent = f" ({progress['percent']} %)" if progress["percent"] is not None else ""
        parts.append(f"stage {progress['stage']} {progress['done']}/{progress['total']}{percent}")
    if progress["written"]:
        parts.append(batch_part(progress["written"]))
    parts.append(f"elapsed {format_seconds(progress['elapsed'])}")
    return _joined(parts, job, progress["eta"])


def batch_part(written: dict) -> str:
    """'batch 5/16 written (ETA 9 s)'.

    >>> batch_part({"done": 0, "total": 16, "eta": None})
    'batch 0/16 written'
    """
    eta = f" (ETA {format_seconds(written['eta'])})" if written["eta"] is not None else ""
    return f"batch {written['done']}/{written['total']} written{eta}"


def job_rows(store: Store, run_name: str | None) -> list[list]:
    """The run's most recent jobs, newest first."""
    run = store.get_run(run_name) if run_name else None
    if run is None:
        return []
    jobs = store.list_jobs(run["id"])[-RECENT_JOBS:][::-1]
    return [[j["id"], j["kind"], j["status"], j["stage"], f"{j['done']}/{j['total']}", stamp(j["started_at"]),
             stamp(j["finished_at"]), j["error"] or ""] for j in jobs]


def stamp(value: str | None) -> str:
    return value[:19].replace("T", " ") if value else ""


def chain_line(state: dict, label: str, live: Job | None = None) -> str:
    """The worker's chain of commands called `label`: which command runs -- with that step's own progress when
    `live` is the job it started (stage, counts, ETA) -- or where it stopped.

    >>> state = {"label": "train", "commands": [["a"], ["b"]], "step": 1, "steps": 2, "running": True,
    ...          "command": "python -m selflengthen iterate", "error": ""}
    >>> chain_line(state, "train", {"kind": "iterate", "id": 7, "status": "running", "stage": "expand", "done": 3,
    ...                             "total": 8, "started_at": None, "stage_started_at": None, "finished_at": None})
    'Running step 2 of 2: `python -m selflengthen iterate` · iterate (job 7): expand 3/8 · ETA -'
    """
    if state["label"] != label or not state["commands"]:
        return ""
    step = f"step {state['step'] + 1} of {state['steps']}"
    if state["running"]:
        line = f"Running {step}: `{state['command']}`"
        if live is not None and live.get("status") == "running":
            p = job_progress(live)
            counts = f" {p['done']}/{p['total']}" if p["total"] else ""
            batch = f" · {batch_part(p['written'])}" if p.get("written") else ""
            line += f" · {live['kind']} (job {live['id']}): {p['stage'] or 'starting'}{counts}{batch}" + \
                f" · ETA {format_seconds(p['eta'])}"
        return line
    if state["error"]:
        return f"**Stopped at {step}:** {state['error']}"
    return f"Finished ({state['steps']} command{'s' if state['steps'] > 1 else ''})."


def training_line(job: Job) -> str:
    """'generator · running · step 3/8 (38%) · loss 2.1 · eval loss 2.3 · 40 tokens/s · ETA 12 s'."""
    metrics = json.loads(job.get("metrics") or "{}")
    parts = [f"**{job['kind'].split(':', 1)[-1]}** (job {job['id']})", job["status"]]
    if job["total"]:
        parts.append(f"step {job['done']}/{job['total']} ({job['done'] / job['total']:.0%})")
    for key, label in (("train_loss", "loss"), ("eval_loss", "eval loss"), ("learning_rate", "lr")):
        if metrics.get(key) is not None:
            parts.append(f"{label} {metrics[key]:.4g}")
    if metrics.get("tokens_per_second"):
        parts.append(f"{metrics['tokens_per_second']:.0f} tokens/s")
    return _joined(parts, job, metrics.get("eta_seconds"))


def _joined(parts: list[str], job: Job, eta: float | None) -> str:
    """A job line's parts, then the ETA while it runs and its error, if any, joined with ' · '."""
    if job["status"] == "running":
        parts.append(f"ETA {format_seconds(eta)}")
    if job["error"]:
        parts.append(f"error: {job['error']}")
    return " · ".join(parts)


def endpoint_lines(job: Job) -> list[str]:
    """One line per server a job streams to, as its stage last reported them.

    >>> endpoint_lines({"metrics": '{"endpoints": [{"url": "http://a/v1", "in_flight": 3, "done": 9, "failed": 1, '
    ...                            '"up": false}]}'})
    ['server http://a/v1: DOWN · 3 in flight · 9 done · 1 failed']
    """
    return [f"server {e['url']}: {'up' if e['up'] else 'DOWN'} · {e['in_flight']} in flight · {e['done']} done · "
            f"{e['failed']} failed" for e in live_endpoints([job])]


def last_log_line(job: Job) -> str | None:
    """The newest line of a running job's log as inline code (a backtick in it becomes a quote), else None.

    >>> last_log_line({"status": "running", "log": "12:00:01 step generate started\\n12:00:09 `x` done\\n"})
    "`12:00:09 'x' done`"
    """
    lines = (job["log"] or "").strip().splitlines()
    if job["status"] != "running" or not lines:
        return None
    return "`" + lines[-1].replace("`", "'") + "`"


def wire_cancel(studio, button, timer, *started) -> None:
    """A tab's Cancel button can be pressed only while something runs: set on each tick of the tab's timer and
    right after each of its `started` events (so a Cancel pressed at once after a start is taken)."""
    import gradio as gr

    def state():
        return gr.Button(interactive=studio.worker.busy_reason() is not None)

    timer.tick(state, None, button, concurrency_limit=None, show_progress="hidden", api_visibility="private")
    for event in started:
        event.then(state, None, button, show_progress="hidden", api_visibility="private")


def ready_to_train(studio) -> None:
    """Refuse a training start (SFT, preference, final model) while a job runs or a chat reply is being generated:
    a trainer needs the machine to itself."""
    from selflengthen.training import chat

    busy = studio.worker.busy_reason()
    if busy:
        raise InputError(f"cannot start training: {busy}")
    if chat.generating():
        raise InputError("a chat reply is being generated: start training when it is done")
