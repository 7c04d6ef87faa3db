"""Overview tab: runs, per-iteration status, and a read-only look at each sample's stages.

Handlers are plain functions (testable without a browser); model text is shown in Textboxes, which
display it as plain text, never as HTML.
"""

from __future__ import annotations

import gradio as gr

from selflengthen.report import run_status

STATUS_COLUMNS = ["index", "status", "instructions", "samples", "passed", "accepted", "rejected", "pending",
                  "initial_words_mean", "final_words_mean"]
SAMPLE_COLUMNS = ["id", "status", "initial_words", "final_words", "growth", "rounds", "reject_reason"]


def run_names(store) -> list[str]:
    return [r["name"] for r in store.list_runs()]


def status_rows(store, run_name: str | None) -> list[list]:
    if not run_name or store.get_run(run_name) is None:
        return []
    return [[it[c] for c in STATUS_COLUMNS] for it in run_status(store, store.get_run(run_name))["iterations"]]


def sample_rows(store, run_name: str | None) -> list[list]:
    run = store.get_run(run_name) if run_name else None
    iteration = store.latest_iteration(run["id"]) if run else None
    if iteration is None:
        return []
    return [[s[c] for c in SAMPLE_COLUMNS] for s in store.iteration_samples(iteration["id"])]


def sample_detail(store, sample_id) -> tuple[str, str, str, str, str]:
    """(instruction, initial response, first half, stage-1 expansion, final expansion) of one sample."""
    sample = store.get_sample(int(sample_id)) if sample_id not in (None, "") else None
    if sample is None:
        return ("",) * 5
    instruction = store.get_instruction(sample["instruction_id"])["text"]
    return (instruction, sample["initial_response"], sample["first_half"] or "", sample["stage1_expansion"] or "",
            sample["final_expansion"] or "")


def build_overview_tab(store) -> None:
    with gr.Tab("Overview"):
        with gr.Row():
            run = gr.Dropdown(label="Run", choices=run_names(store), interactive=True)
            refresh = gr.Button("Refresh", scale=0)
        status = gr.Dataframe(headers=STATUS_COLUMNS, label="Iterations", interactive=False)
        samples = gr.Dataframe(headers=SAMPLE_COLUMNS, label="Samples of the latest iteration (click a row)",
                               interactive=False)
        with gr.Row():
            instruction = gr.Textbox(label="Instruction", lines=6)
            initial = gr.Textbox(label="Initial response", lines=12)
            half = gr.Textbox(label="Stage 1: first half given", lines=12)
            stage1 = gr.Textbox(label="Stage 1: its expansion", lines=12)
            final = gr.Textbox(label="Final expansion", lines=12)

        def show(run_name):
            return (gr.update(choices=run_names(store), value=run_name), status_rows(store, run_name),
                    sample_rows(store, run_name))

        def pick(evt: gr.SelectData, rows):
            row = rows.iloc[evt.index[0]] if hasattr(rows, "iloc") else rows[evt.index[0]]
            return sample_detail(store, row[0])

        run.change(show, run, [run, status, samples])
        refresh.click(show, run, [run, status, samples])
        samples.select(pick, samples, [instruction, initial, half, stage1, final])
