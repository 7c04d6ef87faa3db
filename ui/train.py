"""Train tab: fine-tune the generator and the extender on the latest iteration's accepted samples (the CLI's
`train`, optionally followed by `iterate`), follow the job live from the store, list the checkpoints, and
try any checkpoint in a chat.

Handlers are plain functions taking the studio and values; `build_tab` only lays out and wires. Training runs
in the worker's subprocess; chat replies are generated in-process, never while a job runs (both need the
same cores).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from functools import partial
from pathlib import Path

import gradio as gr

from selflengthen import chat
from selflengthen.errors import ConfigError, InputError, SelfLengthenError
from selflengthen.finetune import parse_roles, training_dir
from selflengthen.training import TrainConfig, train_preset
from selflengthen.worker import cli_command, shown
from ui.common import format_seconds
from ui.forms import build_form, form_values, read_form, save_changes

ROLE_CHOICES = ["both", "generator", "extender"]
BASIC_FIELDS = ["method", "learning_rate", "epochs", "batch_size", "max_length", "eval_fraction"]
ADVANCED_FIELDS = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in BASIC_FIELDS + ["preset"]]
FORM_FIELDS = BASIC_FIELDS + ADVANCED_FIELDS  # the order of the form's components everywhere
CHECKPOINT_COLUMNS = ["iteration", "role", "kind", "path", "data_size", "train_loss", "eval_loss", "created_at"]
CHAIN_LABEL = "train"
LOG_CHARS = 20_000


# --- launching ---------------------------------------------------------------------------------------

def run_preset(run: dict | None) -> TrainConfig:
    """The run's training preset: the form's defaults and what the override file is measured against."""
    try:
        return train_preset(run["preset"]) if run else TrainConfig()
    except ConfigError:
        return TrainConfig()


def config_file(studio, run: dict, iteration: dict) -> Path:
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
    busy = studio.worker.busy_reason()
    if busy:
        raise InputError(f"cannot start training: {busy}")
    if chat.generating():
        raise InputError("a chat reply is being generated: start training when it is done")
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

def train_jobs(store, run_id: int) -> list[dict]:
    """The training jobs of the iteration the run trained last (one per role, more after a retry)."""
    latest = store.latest_job(run_id, "train:")
    if latest is None:
        return []
    return [job for job in store.list_jobs(run_id)
            if job["kind"].startswith("train:") and job["iteration_id"] == latest["iteration_id"]]


def job_line(job: dict) -> str:
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
    if job["status"] == "running":
        parts.append(f"ETA {format_seconds(metrics.get('eta_seconds'))}")
    if job["error"]:
        parts.append(f"error: {job['error']}")
    return " · ".join(parts)


def chain_line(state: dict) -> str:
    """The worker's train chain: which command runs, or where it stopped."""
    if state["label"] != CHAIN_LABEL or not state["commands"]:
        return ""
    step = f"step {state['step'] + 1} of {state['steps']}"
    if state["running"]:
        return f"Running {step}: `{state['command']}`"
    if state["error"]:
        return f"**Stopped at {step}:** {state['error']}"
    return f"Finished ({state['steps']} command{'s' if state['steps'] > 1 else ''})."


def progress_markdown(store, jobs: list[dict], state: dict) -> str:
    if jobs:
        iteration = store.iteration_by_id(jobs[-1]["iteration_id"])
        lines = [f"**Training of iteration {iteration['idx']}**", *(f"- {job_line(job)}" for job in jobs)]
    else:
        lines = ["No training yet for this run."]
    chain = chain_line(state)
    return "\n".join(lines + ([f"\n{chain}"] if chain else []))


def _started_since(job: dict | None, started_at: float | None) -> bool:
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


def loss_figure(store, jobs: list[dict]):
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
    models = chat_models(studio, run_name)
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
            gr.update(choices=chat_models(studio, run_name)), key)


# --- try it: chat --------------------------------------------------------------------------------------

def chat_models(studio, run_name: str | None) -> list[tuple[str, str]]:
    """(label, path) of the run's base models and every registered checkpoint, e.g.
    ('iteration 1 · generator · /data/checkpoints/r/iteration-1/generator/final', '/data/...')."""
    run = studio.store.get_run(run_name) if run_name else None
    if run is None:
        return []
    if run["generator_model"] == run["extender_model"]:
        choices = [(f"base generator & extender · {run['generator_model']}", run["generator_model"])]
    else:
        choices = [(f"base {role} · {run[f'{role}_model']}", run[f"{role}_model"]) for role in ("generator", "extender")]
    choices += [(f"iteration {c['iteration']} · {c['role']} · {c['path']}", c["path"])
                for c in studio.store.run_checkpoints(run["id"])]
    seen: set[str] = set()
    return [choice for choice in choices if not (choice[1] in seen or seen.add(choice[1]))]


def chat_command(model: str | None, message: str | None, max_new_tokens) -> str:
    """`python -m selflengthen chat ...` for the model and the message."""
    tokens = [] if max_new_tokens in (None, "") else ["--max-new-tokens", str(int(max_new_tokens))]
    return shown(cli_command("chat", "--model", model or "MODEL", "--message", message or "MESSAGE", *tokens))


def history_messages(history) -> list[dict]:
    """The Chatbot's value as plain {role, content} text messages (Gradio hands content over as parts)."""
    messages = []
    for message in history or []:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        if isinstance(content, str) and message.get("role") in ("user", "assistant", "system"):
            messages.append({"role": message["role"], "content": content})
    return messages


def chat_send(studio, model: str | None, history, message: str | None, max_new_tokens):
    """One chat turn, generated in-process; (history, input box, status, CLI twin). Refused while a job runs."""
    history, message = history_messages(history), (message or "").strip()
    twin = chat_command(model, message, max_new_tokens)
    if not message:
        return history, "", "Write a message first.", twin
    busy = studio.worker.busy_reason()
    if busy:
        return history, message, f"**Not now:** {busy}. Chat waits until it ends: both need the same cores.", twin
    turns = history + [{"role": "user", "content": message}]
    try:
        reply = chat.chat_reply(model or "", turns, max_new_tokens=max_new_tokens)
    except SelfLengthenError as e:
        return history, message, f"**Error:** {e}", twin
    return turns + [{"role": "assistant", "content": reply}], "", f"Answered by {model}.", twin


def clear_chat() -> tuple[list, str, str]:
    return [], "", ""


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
        cancel = gr.Button("Cancel", variant="stop", elem_id="train-cancel")
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


def _build_chat() -> dict:
    with gr.Accordion("Try it: chat with a model or checkpoint", open=False):
        model = gr.Dropdown(label="Model", elem_id="chat-model", allow_custom_value=True, interactive=True,
                            info="A base model or a trained checkpoint; you may also type a directory or hub id.")
        box = gr.Chatbot(label="Chat", elem_id="chat-box", height=360, feedback_options=None, buttons=["copy"])
        with gr.Row():
            text = gr.Textbox(label="Message", elem_id="chat-input", scale=4, lines=1, max_lines=6)
            max_new = gr.Number(256, label="max new tokens", elem_id="chat-max-new-tokens", precision=0, scale=1)
        with gr.Row():
            send = gr.Button("Send", variant="primary", elem_id="chat-send")
            clear = gr.Button("Clear", elem_id="chat-clear")
        status = gr.Markdown(elem_id="chat-status")
        command = gr.Textbox(label="Command (the CLI twin, last message)", elem_id="chat-command", interactive=False)
    return {"model": model, "box": box, "text": text, "max_new": max_new, "send": send, "clear": clear,
            "status": status, "command": command}


def build_tab(studio, run) -> None:
    with gr.Tab("Train", id="train"):
        launch = _build_launch()
        live = _build_live()
        talk = _build_chat()
        key = gr.State(None)
        timer = gr.Timer(2.0)
    _wire(studio, run, launch, live, talk, key, timer)


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
    launch["start"].click(partial(start_training, studio), [run, role, then_iterate, *fields],
                          [launch["message"], launch["command"]], api_name="train_start")
    launch["cancel"].click(partial(cancel_training, studio), None, launch["message"], api_name="train_cancel")
    chat_inputs = [talk["model"], talk["box"], talk["text"], talk["max_new"]]
    chat_outputs = [talk["box"], talk["text"], talk["status"], talk["command"]]
    talk["send"].click(partial(chat_send, studio), chat_inputs, chat_outputs, api_name="chat_send")
    talk["text"].submit(partial(chat_send, studio), chat_inputs, chat_outputs, api_visibility="private")
    talk["clear"].click(clear_chat, None, [talk["box"], talk["text"], talk["status"]], api_name="chat_clear")
    talk["model"].change(chat_command, [talk["model"], talk["text"], talk["max_new"]], talk["command"],
                         queue=False, api_visibility="private")
