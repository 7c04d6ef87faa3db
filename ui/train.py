"""Train tab: fine-tune the generator and the extender on the latest iteration's accepted samples (the CLI's
`train`, optionally followed by `iterate`), or the run's final model on its final set (`train --final`), follow
the job live from the store, and list the checkpoints and the final model; the "try it" chat below them lives
in ui/chat.py.

Handlers are plain functions taking the studio and values; `build_tab` only lays out and wires. Training runs
in the worker's subprocess.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from functools import partial
from pathlib import Path

import gradio as gr

from selflengthen.errors import ConfigError, InputError, SelfLengthenError
from selflengthen.jobs.commands import cli_command, shown
from selflengthen.shapes import Iteration, Job, Run, Store
from selflengthen.training import chat
from selflengthen.training.config import TrainConfig, train_preset
from selflengthen.training.job import check_model_on_disk, parse_roles, training_dir
from ui import chat as try_it, preference
from ui.common import md_code, md_escape
from ui.forms import build_form, form_values, read_form, save_changes
from ui.jobs import chain_line, ready_to_train, stamp, training_line, wire_cancel

ROLE_CHOICES = ["both", "generator", "extender"]
BASIC_FIELDS = ["method", "learning_rate", "epochs", "batch_size", "max_length", "eval_fraction"]
ADVANCED_FIELDS = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in BASIC_FIELDS + ["preset"]]
FORM_FIELDS = BASIC_FIELDS + ADVANCED_FIELDS  # the order of the form's components everywhere
CHECKPOINT_COLUMNS = ["iteration", "role", "kind", "path", "data_size", "train_loss", "eval_loss", "created_at"]
CHAIN_LABEL = "train"  # the worker's label for every training chain, the final model's too
FINAL_KIND = "train:final"
LOG_CHARS = 20_000


# --- launching ---------------------------------------------------------------------------------------

def run_preset(run: Run | None) -> TrainConfig:
    """The run's training preset: the form's defaults and what the override file is measured against."""
    try:
        return train_preset(run["preset"]) if run else TrainConfig()
    except ConfigError:
        return TrainConfig()


def config_file(studio, run: Run, iteration: Iteration) -> Path:
    """Where the launch's settings are saved: next to the iteration's training output."""
    return training_dir(studio.db_path, run["name"], iteration["idx"], "generator").parent / "train-config.json"


def train_commands(studio, run_name: str, role: str, config_path: Path, then_iterate: bool) -> list[list[str]]:
    """The CLI twin: `train` with the saved settings, then (optionally) `iterate` for the next iteration."""
    db = str(Path(studio.db_path).resolve())
    commands = [cli_command("train", "--db", db, "--name", run_name, "--role", role, "--config", str(config_path),
                            "--quiet")]
    if then_iterate:
        commands.append(cli_command("iterate", "--db", db, "--name", run_name, "--quiet"))
    return commands


def shown_chain(commands: list[list[str]]) -> str:
    return " &&\n".join(shown(c) for c in commands)


def command_preview(studio, run_name: str | None, role: str, then_iterate: bool) -> str:
    """The exact command(s) Start will run (shown before launching)."""
    run = studio.store.get_run(run_name) if run_name else None
    if run is None:
        return ""
    iteration = studio.store.latest_iteration(run["id"])
    path = config_file(studio, run, iteration)
    return shown_chain(train_commands(studio, run["name"], role or "both", path, bool(then_iterate)))


def check_launchable(studio, run_name: str | None) -> tuple[dict, dict]:
    """(run, latest iteration) when training can start now; else InputError saying why."""
    run = studio.store.get_run(run_name) if run_name else None
    if run is None:
        raise InputError("pick a run first")
    iteration = studio.store.latest_iteration(run["id"])
    if iteration["status"] == "trained":
        raise InputError(f"iteration {iteration['idx']} is already trained: start the next iteration (Iterate tab)")
    if not studio.store.accepted_samples(iteration["id"]):
        raise InputError(f"iteration {iteration['idx']} of run '{run['name']}' has no accepted samples: review first")
    ready_to_train(studio)
    return run, iteration


def start_training(studio, run_name: str | None, role: str, then_iterate: bool, *values) -> tuple[str, str]:
    """Check, save the settings that differ from the preset, and launch the CLI twin; (message, command)."""
    try:
        run, iteration = check_launchable(studio, run_name)
        parse_roles(role)
        preset = run_preset(run)
        config = read_form(TrainConfig, FORM_FIELDS, list(values), base=preset.to_dict())
        path = config_file(studio, run, iteration)
        commands = train_commands(studio, run["name"], role, path, bool(then_iterate))
        save_changes(path, config, preset)
        chat.release()  # the chat model's memory goes to the trainer
        studio.worker.launch(CHAIN_LABEL, commands)
    except SelfLengthenError as e:
        return f"**Not started:** {e}", command_preview(studio, run_name, role, then_iterate)
    what = "generator and extender" if role == "both" else role
    then = ", then the next iteration" if then_iterate else ""
    return f"Started training the {what} on iteration {iteration['idx']}{then}.", shown_chain(commands)


def cancel_training(studio) -> str:
    """Ask every live job to stop (a trainer saves a checkpoint first) and end the worker's chain."""
    asked = studio.worker.cancel()
    if asked:
        return f"Asked job {', '.join(map(str, asked))} to stop; the trainer saves a checkpoint before it ends."
    if studio.worker.state()["running"]:
        return "Stopping after the current command."
    return "Nothing is running."


# --- following the job -------------------------------------------------------------------------------

def train_jobs(store: Store, run_id: int) -> list[dict]:
    """The run's latest training: the final model's job, or the jobs of the iteration the run trained last
    (one per role, more after a retry)."""
    latest = store.latest_job(run_id, "train:")
    if latest is None or latest["kind"] == FINAL_KIND:
        return [latest] if latest else []
    return [job for job in store.list_jobs(run_id) if job["kind"].startswith("train:")
            and job["kind"] != FINAL_KIND and job["iteration_id"] == latest["iteration_id"]]


def progress_markdown(store: Store, jobs: list[dict], state: dict) -> str:
    if jobs:
        iteration = store.iteration_by_id(jobs[-1]["iteration_id"])
        what = "the final model" if jobs[-1]["kind"] == FINAL_KIND else f"iteration {iteration['idx']}"
        lines = [f"**Training of {what}**", *(f"- {training_line(job)}" for job in jobs)]
    else:
        lines = ["No training yet for this run."]
    live = store.live_jobs() if state["running"] else []  # the running step's own progress
    chain = chain_line(state, CHAIN_LABEL, live[-1] if live else None)
    return "\n".join(lines + ([f"\n{chain}"] if chain else []))


def _started_since(job: Job | None, started_at: float | None) -> bool:
    return job is not None and started_at is not None and (
        datetime.fromisoformat(job["created_at"]).timestamp() >= started_at - 1)


def log_tail(jobs: list[dict], state: dict) -> str:
    """The jobs' logs; the worker's output when its chain failed outside a training job (bad argument,
    missing model, or the `iterate` that followed)."""
    ours = state["label"] == CHAIN_LABEL
    failed_outside = ours and state["error"] and (state["step"] > 0 or not _started_since(
        jobs[-1] if jobs else None, state["started_at"]))
    if failed_outside or (ours and not jobs):
        return state["output"][-LOG_CHARS:]
    text = "\n".join(f"--- {job['kind']} (job {job['id']}) ---\n{job['log']}" for job in jobs)
    return text[-LOG_CHARS:]


def loss_figure(store: Store, jobs: list[dict]):
    """Train loss (solid) and eval loss (dashed) against the step, one pair of traces per job."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for job in jobs:
        rows, role = store.job_metrics(job["id"]), job["kind"].split(":", 1)[-1]
        for key, label, dash in (("train_loss", "train", "solid"), ("eval_loss", "eval", "dash")):
            points = [(m["step"], m[key]) for m in rows if m[key] is not None]
            if points:
                figure.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers",
                                            name=f"{role} {label} (job {job['id']})", line={"dash": dash}))
    if not figure.data:
        figure.add_annotation(text="no training metrics yet", showarrow=False, xref="paper", yref="paper")
    figure.update_layout(xaxis_title="step", yaxis_title="loss", height=320, margin={"l": 50, "r": 20, "t": 30,
                                                                                      "b": 40})
    return figure


def train_progress(studio, run_name: str | None) -> tuple[str, object, str]:
    """(progress markdown, loss figure, log) of the run's latest training, from the store and the worker."""
    run = studio.store.get_run(run_name) if run_name else None
    jobs = train_jobs(studio.store, run["id"]) if run else []
    state = studio.worker.state()
    return progress_markdown(studio.store, jobs, state), loss_figure(studio.store, jobs), log_tail(jobs, state)


def iteration_summary(studio, run_name: str | None) -> str:
    """What Start would train on: the latest iteration, its accepted samples, what is trained already."""
    run = studio.store.get_run(run_name) if run_name else None
    if run is None:
        return "Pick a run."
    iteration = studio.store.latest_iteration(run["id"])
    accepted = studio.store.verdict_counts(iteration["id"]).get("accept", 0)
    trained = sorted(studio.store.iteration_checkpoints(iteration["id"]))
    return (f"Iteration {iteration['idx']} ({iteration['status']}): {accepted} accepted samples to learn from; "
            f"trained: {', '.join(trained) or 'nothing yet'}. Preset: {run['preset']}.")


def checkpoint_rows(studio, run_name: str | None) -> list[list]:
    run = studio.store.get_run(run_name) if run_name else None
    if run is None:
        return []
    return [[c["iteration"], c["role"], c["kind"], c["path"], c["data_size"], _rounded(c["train_loss"]),
             _rounded(c["eval_loss"]), c["created_at"]] for c in studio.store.run_checkpoints(run["id"])]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def poll_key(studio, run_name: str | None) -> list:
    """What the live view depends on: unchanged key, nothing to redraw."""
    run = studio.store.get_run(run_name) if run_name else None
    job = studio.store.latest_job(run["id"], "train:") if run else None
    state = studio.worker.state()
    return [run_name, job and job["id"], job and job["status"], job and job["heartbeat_at"], state["label"],
            state["running"], state["step"], state["error"], len(state["output"]),
            len(studio.store.run_checkpoints(run["id"])) if run else 0]


def refresh(studio, run_name: str | None, role: str, then_iterate: bool):
    """The whole tab for a run: the form from its preset, the command, the live view, and the poll key."""
    progress, figure, log = train_progress(studio, run_name)
    models = try_it.chat_models(studio, run_name)
    return (iteration_summary(studio, run_name), command_preview(studio, run_name, role, then_iterate), "",
            *form_values(run_preset(studio.store.get_run(run_name) if run_name else None), FORM_FIELDS),
            progress, figure, log, checkpoint_rows(studio, run_name),
            gr.update(choices=models, value=models[0][1] if models else None), poll_key(studio, run_name))


def poll(studio, run_name: str | None, role: str, then_iterate: bool, last_key: list | None):
    """The timer's tick. The first tick after a page load (no key yet) fills the whole tab, so a reload or a
    second browser re-attaches; later ticks redraw the live view only when something changed, and leave
    the form, the command and the message as the user has them."""
    if not last_key or last_key[0] != run_name:
        return refresh(studio, run_name, role, then_iterate)
    key = poll_key(studio, run_name)
    if key == last_key:
        return (gr.skip(),) * (len(FORM_FIELDS) + 9)
    progress, figure, log = train_progress(studio, run_name)
    users = (gr.skip(),) * (len(FORM_FIELDS) + 2)
    return (iteration_summary(studio, run_name), *users, progress, figure, log, checkpoint_rows(studio, run_name),
            gr.update(choices=try_it.chat_models(studio, run_name)), key)


# --- the final model ---------------------------------------------------------------------------------------

def final_commands(studio, run: Run, base: str) -> list[list[str]]:
    """The CLI twin: `train --final` with the form's saved settings (--base only where it is not the run's)."""
    args = ["train", "--db", str(Path(studio.db_path).resolve()), "--name", run["name"], "--final"]
    args += ["--base", base] if base != run["generator_model"] else []
    return [cli_command(*args, "--config", str(final_config_file(studio, run)), "--quiet")]


def final_config_file(studio, run: Run) -> Path:
    """Where the final model's launch settings are saved: in its training folder."""
    return Path(studio.db_path).resolve().parent / "checkpoints" / run["name"] / "final" / "train-config.json"


def final_preview(studio, run_name: str | None, base: str | None) -> str:
    run = studio.store.get_run(run_name) if run_name else None
    return shown_chain(final_commands(studio, run, (base or "").strip() or run["generator_model"])) if run else ""


def start_final_training(studio, run_name: str | None, base: str | None, *values) -> tuple[str, str]:
    """Check, save the form's settings that differ from the preset, launch `train --final`; (message, command)."""
    try:
        run = studio.store.get_run(run_name) if run_name else None
        if run is None:
            raise InputError("pick a run first")
        rows = len(studio.store.final_rows(run["id"], verdicts=(None, "accept")))
        if not rows:
            raise InputError(f"run '{run['name']}' has no final rows to learn from: build the final set (Final tab)")
        base = (base or "").strip() or run["generator_model"]
        check_model_on_disk(base, "the final model's base")
        ready_to_train(studio)
        preset = run_preset(run)
        config = read_form(TrainConfig, FORM_FIELDS, list(values), base=preset.to_dict())
        commands = final_commands(studio, run, base)
        save_changes(final_config_file(studio, run), config, preset)
        chat.release()
        studio.worker.launch(CHAIN_LABEL, commands)
    except SelfLengthenError as e:
        return f"**Not started:** {md_escape(str(e))}", final_preview(studio, run_name, base)
    return f"Started training the final model on {rows} final rows from {md_code(base)}.", shown_chain(commands)


def final_model_markdown(model: dict | None) -> str:
    """The registered final model (`Store.final_model`) in one line."""
    if model is None:
        return "No final model yet for this run."
    loss = "-" if model["train_loss"] is None else f"{model['train_loss']:.4g}"
    return (f"**Final model:** {md_code(model['path'])} · {model['kind']} · {model['data_size']} rows · "
            f"train loss {loss} · from {md_code(model['base_model'])} · {stamp(model['created_at'])}")


def final_refresh(studio, run_name: str | None) -> tuple:
    """The final section for a run: the base (the run's own), the command, the final model, its poll key."""
    run = studio.store.get_run(run_name) if run_name else None
    base = run["generator_model"] if run else ""
    return base, final_preview(studio, run_name, base), *final_poll(studio, run_name, None)


def final_poll(studio, run_name: str | None, key) -> tuple:
    """The timer's tick for the final section: the final model redrawn only when it changed."""
    run = studio.store.get_run(run_name) if run_name else None
    model = studio.store.final_model(run["id"]) if run else None
    fresh = [run_name, model and model["created_at"]]
    return (gr.skip(), gr.skip()) if fresh == key else (final_model_markdown(model), fresh)


# --- layout --------------------------------------------------------------------------------------------

def _build_launch() -> dict:
    summary = gr.Markdown(elem_id="train-summary")
    with gr.Row():
        role = gr.Radio(ROLE_CHOICES, value="both", label="Train", elem_id="train-role")
        then_iterate = gr.Checkbox(True, label="then start the next iteration", elem_id="train-then-iterate",
                                   info="Fine-tune, then generate and expand the next iteration in one go.")
    fields = build_form(TrainConfig, TrainConfig(), elem_prefix="train-", names=BASIC_FIELDS, per_row=3)
    with gr.Accordion("Advanced training settings", open=False):
        fields += build_form(TrainConfig, TrainConfig(), elem_prefix="train-", names=ADVANCED_FIELDS)
    command = gr.Textbox(label="Command (the CLI twin)", elem_id="train-command", interactive=False, lines=2)
    with gr.Row():
        start = gr.Button("Start training", variant="primary", elem_id="train-start")
        cancel = gr.Button("Cancel", variant="stop", interactive=False, elem_id="train-cancel")
    message = gr.Markdown(elem_id="train-message")
    return {"summary": summary, "role": role, "then_iterate": then_iterate, "fields": fields, "command": command,
            "start": start, "cancel": cancel, "message": message}


def _build_live() -> dict:
    progress = gr.Markdown(elem_id="train-progress")
    loss = gr.Plot(label="Loss", elem_id="train-loss")
    log = gr.Textbox(label="Log", elem_id="train-log", lines=10, max_lines=20, interactive=False, autoscroll=True)
    checkpoints = gr.Dataframe(headers=CHECKPOINT_COLUMNS, label="Checkpoints", elem_id="train-checkpoints",
                               interactive=False)
    return {"progress": progress, "loss": loss, "log": log, "checkpoints": checkpoints}


def _build_final() -> dict:
    gr.Markdown("### Train the final model\nOn the run's final set (Final tab), with the settings above.")
    model = gr.Markdown(elem_id="train-final-model")
    base = gr.Textbox(label="Base model (default: the run's own)", elem_id="train-final-base")
    command = gr.Textbox(label="Command (the CLI twin)", elem_id="train-final-command", interactive=False, lines=2)
    start = gr.Button("Train the final model", variant="primary", elem_id="train-final-start", scale=0)
    message = gr.Markdown(elem_id="train-final-message")
    return {"model": model, "base": base, "command": command, "start": start, "message": message,
            "key": gr.State(None)}


def build_tab(studio, run) -> None:
    with gr.Tab("Train", id="train"):
        timer = gr.Timer(2.0)
        launch = _build_launch()
        live = _build_live()
        preference.build(studio, run, launch["fields"], timer)
        final = _build_final()
        talk = try_it.build()
        key = gr.State(None)
    _wire(studio, run, launch, live, talk, key, timer)
    _wire_final(studio, run, final, launch["fields"], timer)


def _wire_final(studio, run, final: dict, fields: list, timer) -> None:
    run.change(partial(final_refresh, studio), run, [final["base"], final["command"], final["model"], final["key"]],
               api_name="train_final_refresh", show_progress="hidden")
    final["base"].change(partial(final_preview, studio), [run, final["base"]], final["command"], queue=False,
                         api_visibility="private")
    final["start"].click(partial(start_final_training, studio), [run, final["base"], *fields],
                         [final["message"], final["command"]], api_name="train_final_start")
    timer.tick(partial(final_poll, studio), [run, final["key"]], [final["model"], final["key"]],
               concurrency_limit=None, show_progress="hidden", api_visibility="private")


def _wire(studio, run, launch: dict, live: dict, talk: dict, key, timer) -> None:
    role, then_iterate, fields = launch["role"], launch["then_iterate"], launch["fields"]
    whole_tab = [launch["summary"], launch["command"], launch["message"], *fields, live["progress"], live["loss"],
                 live["log"], live["checkpoints"], talk["model"], key]
    run.change(partial(refresh, studio), [run, role, then_iterate], whole_tab, api_name="train_refresh",
               show_progress="hidden")
    timer.tick(partial(poll, studio), [run, role, then_iterate, key], whole_tab, concurrency_limit=None,
               show_progress="hidden", api_name="train_poll")
    for control in (role, then_iterate):
        control.change(partial(command_preview, studio), [run, role, then_iterate], launch["command"],
                       queue=False, api_visibility="private")
    wire_cancel(studio, launch["cancel"], timer, launch["start"].click(
        partial(start_training, studio), [run, role, then_iterate, *fields], [launch["message"], launch["command"]],
        api_name="train_start"))
    launch["cancel"].click(partial(cancel_training, studio), None, launch["message"], api_name="train_cancel")
    try_it.wire(studio, talk)
