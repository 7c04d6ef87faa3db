"""Train tab, the preference step: after SFT (or instead of it) the latest iteration's role learns from pairs of its
own texts with DPO, ORPO or KTO (`train --stage preference`). The pair counts show before anything starts; the
rewards (how often the chosen text out-scores the rejected one, and by how much) follow the job live.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import gradio as gr

from selflengthen.errors import InputError, SelfLengthenError
from selflengthen.jobs.commands import cli_command, shown
from selflengthen.training import chat
from selflengthen.training.config import TrainConfig
from selflengthen.training.pairs import PAIR_KINDS, collect_pairs, kinds_for_role
from ui.common import md_escape
from ui.jobs import ready_to_train
from ui.forms import read_form, save_changes

METHODS = [("DPO", "dpo"), ("ORPO (no reference model)", "orpo"), ("KTO (unpaired verdicts)", "kto")]
COUNT_COLUMNS = ["kind", "rows"]


def preference_command(studio, run_name: str, role: str, method: str, kinds: list[str], config_path) -> list[str]:
    return cli_command("train", "--db", str(Path(studio.db_path).resolve()), "--name", run_name, "--stage",
                       "preference", "--role", role, "--method", method, "--kinds", ",".join(kinds),
                       "--config", str(config_path), "--quiet")


def pair_rows(studio, run_name: str | None, role: str, method: str, kinds: list[str]) -> tuple[list[list], str]:
    """(rows per kind, a line) of what the step would learn from in the latest iteration; nothing is written."""
    run = studio.store.get_run(run_name) if run_name else None
    if run is None:
        return [], "Pick a run."
    wanted = kinds_for_role(kinds, role)
    if not wanted:
        return [], f"The {role} learns from " + ("attempt pairs." if role == "extender" else
                                                 "expansion, edit or verdict pairs.")
    idx = studio.store.latest_iteration(run["id"])["idx"]
    try:
        _, counts = collect_pairs(studio.store, run["name"], [idx], wanted, kto=method == "kto")
    except SelfLengthenError as e:
        return [], md_escape(e)
    rows = [[kind, n] for kind, n in counts[idx].items()]
    total = counts[idx]["kto"] if method == "kto" else sum(counts[idx].values())
    return rows, f"Iteration {idx}: {total} rows for the {role}'s {method.upper()} step."


def start_preference(studio, run_name: str | None, role: str, method: str, kinds: list[str], *values) -> tuple:
    """Save the form's settings, then launch the CLI twin in the worker; (message, command)."""
    from ui.train import CHAIN_LABEL, FORM_FIELDS, config_file, run_preset

    try:
        run = studio.store.get_run(run_name) if run_name else None
        if run is None:
            raise InputError("pick a run first")
        rows, line = pair_rows(studio, run_name, role, method, kinds)
        if not any(n for _, n in rows):
            raise InputError(f"no pairs to learn from. {line}")
        ready_to_train(studio)
        preset = run_preset(run)
        config = read_form(TrainConfig, FORM_FIELDS, list(values), base=preset.to_dict())
        path = config_file(studio, run, studio.store.latest_iteration(run["id"]))
        command = preference_command(studio, run["name"], role, method, kinds, path)
        save_changes(path, config, preset)
        chat.release()
        studio.worker.launch(CHAIN_LABEL, [command])
    except SelfLengthenError as e:
        return f"**Not started:** {md_escape(e)}", ""
    return f"Started the {role}'s {method.upper()} step. {line}", shown(command)


def reward_figure(store, jobs: list[dict]):
    """Reward accuracy and margin against the step for the preference jobs: held-out (solid) and training
    (dotted)."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for job in jobs:
        if not (job.get("stage") or "").startswith("preference"):
            continue
        rows = store.job_metrics(job["id"])
        for key, label, dash in (("eval_reward_accuracy", "held-out accuracy", "solid"),
                                 ("eval_reward_margin", "held-out margin", "solid"),
                                 ("reward_accuracy", "train accuracy", "dot"),
                                 ("reward_margin", "train margin", "dot")):
            points = [(m["step"], m[key]) for m in rows if m.get(key) is not None]
            if points:
                figure.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers",
                                            name=f"{label} (job {job['id']})", line={"dash": dash}))
    if not figure.data:
        figure.add_annotation(text="no preference step yet", showarrow=False, xref="paper", yref="paper")
    figure.update_layout(xaxis_title="step", yaxis_title="reward", height=300,
                         margin={"l": 50, "r": 20, "t": 30, "b": 40})
    return figure


def rewards(studio, run_name: str | None):
    from ui.train import train_jobs

    run = studio.store.get_run(run_name) if run_name else None
    return reward_figure(studio.store, train_jobs(studio.store, run["id"]) if run else [])


def build(studio, run, fields: list, timer) -> None:
    """The panel, under the SFT launcher (with its settings form: `fields`), polled by the tab's `timer`."""
    with gr.Accordion("Preference step: DPO, ORPO or KTO on this iteration's pairs", open=False,
                      elem_id="train-preference"):
        with gr.Row():
            role = gr.Radio(["generator", "extender"], value="generator", label="Role", elem_id="pref-role")
            method = gr.Radio(METHODS, value="dpo", label="Method", elem_id="pref-method")
            kinds = gr.CheckboxGroup(list(PAIR_KINDS), value=list(PAIR_KINDS), label="Pairs", elem_id="pref-kinds")
        counts_line = gr.Markdown(elem_id="pref-counts-line")
        counts = gr.Dataframe(headers=COUNT_COLUMNS, interactive=False, elem_id="pref-counts", label="Rows by kind")
        start = gr.Button("Start the preference step", elem_id="pref-start", scale=0)
        message = gr.Markdown(elem_id="pref-message")
        command = gr.Textbox(label="Command (the CLI twin)", interactive=False, elem_id="pref-command")
        plot = gr.Plot(label="Rewards", elem_id="pref-rewards")

    choice = [run, role, method, kinds]
    gr.on([run.change, role.change, method.change, kinds.change], partial(pair_rows, studio), choice,
          [counts, counts_line],
          api_name="train_pairs", show_progress="hidden")
    start.click(partial(start_preference, studio), [*choice, *fields], [message, command],
                api_name="train_preference_start")
    timer.tick(partial(rewards, studio), run, plot, concurrency_limit=None, show_progress="hidden",
               api_visibility="private")
