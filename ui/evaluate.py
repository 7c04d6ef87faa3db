"""Evaluate tab: answer a LonGen-format benchmark with an iteration's model, then compare the scores.

The answers are produced by the CLI twin (`python -m selflengthen eval ...`) in the job worker; the tab shows
the exact command, polls the job row, and draws every stored evaluation of the run (LonGen, S_l and
LIFEBench scores per type, language and range bucket, side by side; mean output words against the target
per range; each answer's length against its target interval). An uploaded benchmark is checked in full
and kept under the database's folder, so the command can name it by path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from functools import partial
from pathlib import Path

import gradio as gr

from selflengthen.errors import InputError, SelfLengthenError
from selflengthen.evaluation.benchmark import DEFAULT_BENCHMARK, load_benchmark
from selflengthen.evaluation.job import eval_command, eval_model
from selflengthen.jobs.commands import shown
from selflengthen.shapes import Store
from selflengthen.stages.pipeline import planned_iteration
from ui import eval_charts as charts
from ui.common import md_escape, optional_whole
from ui.jobs import job_line, last_log_line, launch_lines, wire_cancel

POLL_SECONDS = 2.0
MAX_UPLOAD_BYTES = 64 << 20


def benchmark_dir(studio) -> Path:
    return Path(studio.db_path).parent / "benchmarks"


def benchmark_choices(studio) -> list[str]:
    """The bundled LonGen first, then the benchmark files uploaded earlier."""
    folder = benchmark_dir(studio)
    return [DEFAULT_BENCHMARK] + (sorted(str(p) for p in folder.glob("*.jsonl")) if folder.is_dir() else [])


def save_upload(studio, upload) -> tuple[str, str]:
    """Check an uploaded benchmark in full, then keep it (named by its content hash) where the command can read
    it: (what was checked, the kept path)."""
    source = Path(upload if isinstance(upload, str) else upload.name)
    if source.stat().st_size > MAX_UPLOAD_BYTES:
        raise InputError(f"{source.name} is larger than {MAX_UPLOAD_BYTES >> 20} MB")
    benchmark = load_benchmark(str(source))
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in source.stem)[:40] or "benchmark"
    target = benchmark_dir(studio) / f"{stem}-{hashlib.sha256(source.read_bytes()).hexdigest()[:10]}.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial_file = target.with_suffix(f".tmp-{os.getpid()}")
    shutil.copyfile(source, partial_file)
    partial_file.replace(target)
    return f"{len(benchmark.items)} items checked", str(target)


def upload_benchmark(studio, upload) -> tuple:
    """(message, benchmark picker update) after an upload; a bad file is refused and nothing is kept."""
    if upload is None:
        return "", gr.skip()
    try:
        message, path = save_upload(studio, upload)
    except (SelfLengthenError, OSError) as e:
        return f"**Upload refused**: {md_escape(str(e))}", gr.skip()
    return f"Benchmark kept: {md_escape(message)}.", gr.update(choices=benchmark_choices(studio), value=path)


def iteration_choices(store: Store, run_name: str | None) -> list[int]:
    """The run's iterations, plus the next one once the latest is trained (its checkpoints can be evaluated)."""
    run = store.get_run(run_name) if run_name else None
    if run is None:
        return []
    indexes = [it["idx"] for it in store.list_iterations(run["id"])]
    plan = planned_iteration(store, run)
    return indexes + [plan["idx"]] if plan["new"] else indexes


def eval_args(studio, run_name, iteration, role, benchmark, limit, max_new_tokens, judge_model, judge_backend,
              judge_url, language=None) -> list[str]:
    """The validated CLI twin; InputError says what to fix."""
    run = studio.store.get_run(run_name) if run_name else None
    if run is None:
        raise InputError("pick a run first")
    if iteration in (None, ""):
        raise InputError("pick the iteration whose model answers")
    eval_model(studio.store, run, int(iteration), role or "generator")  # refuses an iteration the run lacks
    benchmark = (benchmark or "").strip()
    return eval_command(str(studio.db_path), run_name, int(iteration), role=role or "generator",
                        benchmark=None if benchmark in ("", DEFAULT_BENCHMARK) else benchmark,
                        limit=optional_whole(limit, "the item limit"),
                        max_new_tokens=optional_whole(max_new_tokens, "max new tokens"),
                        judge_model=(judge_model or "").strip() or None, judge_backend=judge_backend or "openai",
                        judge_base_url=(judge_url or "").strip() or None, language=language or None)


def command_preview(studio, *values) -> str:
    try:
        return shown(eval_args(studio, *values))
    except (SelfLengthenError, ValueError) as e:
        return f"(not ready: {e})"


def start_eval(studio, *values) -> tuple[str, str]:
    """Launch the evaluation in the job worker: (status line, shown command)."""
    try:
        command = eval_args(studio, *values)
        studio.worker.launch("eval", [command])
    except (SelfLengthenError, ValueError) as e:
        return f"**Not started**: {md_escape(str(e))}", command_preview(studio, *values)
    return "Started: the scores appear below as the answers are stored.", shown(command)


def cancel_eval(studio) -> str:
    asked = studio.worker.cancel()
    return (f"asked job {', '.join(map(str, asked))} to stop; stored answers are kept and a re-run continues"
            if asked else "no running job to cancel")


def progress_markdown(studio, run_name: str | None) -> str:
    """The run's latest eval job, and a launch error that came before any job row."""
    run = studio.store.get_run(run_name) if run_name else None
    if run is None:
        return "pick a run"
    job, state = studio.store.latest_job(run["id"], "eval"), studio.worker.state()
    lines = [md_escape(job_line(job)), last_log_line(job)] if job else []
    lines += launch_lines(state, "eval", job, "Starting the evaluation (loading the model) …", "eval")
    return "\n\n".join(filter(None, lines)) or "No evaluation yet for this run."


def _evaluations(studio, run_name: str | None) -> list[dict]:
    run = studio.store.get_run(run_name) if run_name else None
    return studio.store.list_evaluations(run["id"]) if run else []


def bucket_views(studio, run_name: str | None, metric: str, group: str, evaluations: list[dict] | None = None):
    """The chosen score's bars per bucket, and the three scores side by side per bucket."""
    evaluations = _evaluations(studio, run_name) if evaluations is None else evaluations
    return charts.bucket_figure(evaluations, metric, group), charts.bucket_rows(evaluations, group)


def evaluation_detail(studio, evaluation_id) -> tuple:
    """Scatter and item table of one stored evaluation."""
    picked = studio.store.get_evaluation(int(evaluation_id)) if evaluation_id not in (None, "") else None
    items = studio.store.eval_items(picked["id"]) if picked else []
    return charts.scatter_figure(picked, items), charts.item_rows(items)


def results(studio, run_name: str | None, metric: str, group: str, chosen, evaluations: list[dict] | None = None):
    """Table, bucket chart and table, lengths per range, evaluation picker, scatter and items of the run's
    stored evaluations (the picked evaluation stays picked while it exists; else the newest is shown)."""
    evaluations = _evaluations(studio, run_name) if evaluations is None else evaluations
    ids = [e["id"] for e in evaluations]
    chosen = chosen if chosen in ids else (max(ids) if ids else None)
    choices = [(charts.evaluation_label(e) + f" (#{e['id']})", e["id"]) for e in evaluations]
    return (charts.table_rows(evaluations), *bucket_views(studio, run_name, metric, group, evaluations),
            charts.lengths_figure(evaluations), gr.update(choices=choices, value=chosen),
            *evaluation_detail(studio, chosen))


def results_key(evaluations: list[dict]) -> list:
    """What the results depend on: each evaluation's id and last update (polls redraw only on a change)."""
    return [[e["id"], e["updated_at"], e["answered"]] for e in evaluations]


def poll(studio, run_name, metric, group, chosen, key) -> tuple:
    evaluations = _evaluations(studio, run_name)
    progress, fresh = progress_markdown(studio, run_name), results_key(evaluations)
    if fresh == key:
        return (progress, fresh, *[gr.skip()] * 7)
    return (progress, fresh, *results(studio, run_name, metric, group, chosen, evaluations))


def item_texts(studio, evaluation_id, evt: gr.SelectData) -> tuple[str, str]:
    """The clicked item's query and answer, as plain text."""
    row = evt.row_value or []
    if evaluation_id in (None, "") or not row:
        return "", ""
    item = next((i for i in studio.store.eval_items(int(evaluation_id)) if i["item_idx"] == row[0]), None)
    return (item["query"], item["response"] or "") if item else ("", "")


def refresh_inputs(studio, run_name: str | None) -> tuple:
    indexes = iteration_choices(studio.store, run_name)
    return (gr.update(choices=indexes, value=indexes[-1] if indexes else None),
            gr.update(choices=benchmark_choices(studio)))


def judge_inputs() -> tuple:
    """The optional LLM judge's model, backend and server, folded away."""
    with gr.Accordion("LLM judge (optional)", open=False), gr.Row():
        return (gr.Textbox(label="Judge model (empty = no judge)", elem_id="eval-judge-model"),
                gr.Dropdown(["openai", "transformers", "vllm"], value="openai", label="Judge backend",
                            elem_id="eval-judge-backend", scale=0, min_width=160),
                gr.Textbox(label="Server URL (openai)", placeholder="http://127.0.0.1:8000/v1",
                           elem_id="eval-judge-url"))


def build_tab(studio, run) -> None:
    with gr.Tab("Evaluate", id="evaluate") as tab:
        gr.Markdown("Answer a LonGen-format benchmark with an iteration's model and score how well it follows "
                    "length instructions (LonGen, S_l, LIFEBench) and, optionally, its quality by an LLM judge.")
        with gr.Row():
            iteration = gr.Dropdown(label="Iteration", elem_id="eval-iteration", scale=0, min_width=120)
            role = gr.Radio(["generator", "extender", "base", "final"], value="generator", label="Model",
                            elem_id="eval-role", scale=0, min_width=340)
            benchmark = gr.Dropdown(label="Benchmark (LonGen, an uploaded file, a server path or a hub id)",
                                    choices=[DEFAULT_BENCHMARK], value=DEFAULT_BENCHMARK, allow_custom_value=True,
                                    elem_id="eval-benchmark")
            upload = gr.UploadButton("Upload JSONL", file_types=[".jsonl", ".json"], elem_id="eval-upload",
                                     scale=0)
        with gr.Row(equal_height=True):  # a row of its own, each field its share (no empty box beside them)
            # Text fields: a Number field cannot be empty in the browser (it shows and sends 0).
            limit = gr.Textbox(label="Items (empty = all; a number draws them evenly over language, type and range)",
                               placeholder="all", elem_id="eval-limit")
            language = gr.Dropdown([("all", ""), ("English", "en"), ("Chinese", "zh")], value="", label="Language",
                                   elem_id="eval-language")
            max_tokens = gr.Textbox(label="Max new tokens", placeholder="the run's", elem_id="eval-max-new-tokens")
        judge_model, judge_backend, judge_url = judge_inputs()
        with gr.Row():
            start = gr.Button("Evaluate", variant="primary", elem_id="eval-start", scale=0)
            cancel = gr.Button("Cancel", interactive=False, elem_id="eval-cancel", scale=0)
        message = gr.Markdown(elem_id="eval-message")
        command = gr.Textbox(label="Command-line twin", interactive=False, elem_id="eval-command")
        progress = gr.Markdown(elem_id="eval-progress")
        table = gr.Dataframe(headers=charts.TABLE_COLUMNS, label="Evaluations of this run", interactive=False,
                             elem_id="eval-table")
        with gr.Row():
            metric = gr.Radio([("LonGen", "longen"), ("S_l", "sl"), ("LIFEBench", "lifebench")], value="longen",
                              label="Score", elem_id="eval-metric")
            group = gr.Radio(["type", "language", "range"], value="type", label="Per", elem_id="eval-group")
        buckets = gr.Plot(label="Scores per bucket", elem_id="eval-buckets")
        bucket_table = gr.Dataframe(headers=charts.BUCKET_COLUMNS, label="Length scores per bucket, side by side",
                                    interactive=False, elem_id="eval-bucket-table")
        lengths = gr.Plot(label="Output words vs target per range", elem_id="eval-lengths")
        chosen = gr.Dropdown(label="Evaluation shown below", elem_id="eval-chosen")
        scatter = gr.Plot(label="Output length vs target", elem_id="eval-scatter")
        items = gr.Dataframe(headers=charts.ITEM_COLUMNS, label="Items (click one to read it)", interactive=False,
                             elem_id="eval-items")
        with gr.Row():
            query = gr.Textbox(label="Query", lines=4, interactive=False, elem_id="eval-query")
            answer = gr.Textbox(label="Answer", lines=12, interactive=False, elem_id="eval-answer")
        key = gr.State([])
        timer = gr.Timer(POLL_SECONDS)
    inputs = [run, iteration, role, benchmark, limit, max_tokens, judge_model, judge_backend, judge_url, language]
    shown_results = [table, buckets, bucket_table, lengths, chosen, scatter, items]
    for event in (run.change, tab.select):
        event(partial(refresh_inputs, studio), run, [iteration, benchmark], api_name=False)
    for field in inputs[1:]:
        field.change(partial(command_preview, studio), inputs, command, api_name=False, queue=False)
    upload.upload(partial(upload_benchmark, studio), upload, [message, benchmark], api_name=False)
    wire_cancel(studio, cancel, timer, start.click(partial(start_eval, studio), inputs, [message, command],
                                                   api_name="eval_start"))
    cancel.click(partial(cancel_eval, studio), None, message, api_name=False)
    for field in (metric, group):
        field.change(partial(bucket_views, studio), [run, metric, group], [buckets, bucket_table], api_name=False)
    chosen.change(partial(evaluation_detail, studio), chosen, [scatter, items], api_name=False)
    run.change(partial(results, studio), [run, metric, group, chosen], shown_results, api_name=False)
    timer.tick(partial(poll, studio), [run, metric, group, chosen, key], [progress, key, *shown_results],
               api_name="eval_poll", concurrency_limit=None, show_progress="hidden")

    def on_select(evaluation_id, evt: gr.SelectData):
        return item_texts(studio, evaluation_id, evt)

    items.select(on_select, chosen, [query, answer], api_name=False)
