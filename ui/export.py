"""Export tab: the accepted samples of chosen iterations as a training dataset, with a dataset card.

Exports are written by `selflengthen.export.writer` in the dashboard's process (seconds even for 100,000 rows) into
a folder under the export root beside the database; the folder name a user types is resolved inside that
root and refused when it would lead out of it. The preview shows the first rows as JSON text, never as HTML.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import partial
from pathlib import Path

import gradio as gr
import pandas as pd

from selflengthen.errors import InputError, SelfLengthenError
from selflengthen.export.pairs import PAIR_FORMATS, preview_table
from selflengthen.export.writer import FORMATS, OUTPUTS, export_command, export_dataset, export_rows, resolve_export_dir
from selflengthen.jobs.commands import shown
from selflengthen.shapes import Store
from ui.common import md_code, md_escape

PREVIEW_ROWS = 3
EXPORT_COLUMNS = ["folder", "modified", "files"]
STAT_COLUMNS = ["iteration", "rows", "edited", "skipped", "words mean", "words median", "initial words mean"]


def export_root(studio) -> Path:
    return Path(studio.db_path).parent / "exports"


def iteration_choices(store: Store, run_name: str | None) -> list[int]:
    run = store.get_run(run_name) if run_name else None
    return [it["idx"] for it in store.list_iterations(run["id"])] if run else []


def _chosen(iterations) -> list[int]:
    """The ticked iterations; none ticked is refused rather than read as 'all'."""
    if not iterations:
        raise InputError("tick at least one iteration")
    return sorted(int(i) for i in iterations)


def export_args(studio, run_name, iterations, fmt, output, folder, overwrite, license_id, repo) -> dict:
    """The validated arguments of one export (the folder resolved inside the export root)."""
    if not run_name or studio.store.get_run(run_name) is None:
        raise InputError("pick a run first")
    if not (folder or "").strip():
        raise InputError("name the export folder")
    return {"iterations": _chosen(iterations), "fmt": fmt, "output": output, "overwrite": bool(overwrite),
            "out_dir": resolve_export_dir(export_root(studio), folder.strip()),
            "license": (license_id or "").strip() or "other", "push_to_hub": (repo or "").strip() or None}


def command_preview(studio, run_name, *values) -> str:
    try:
        args = export_args(studio, run_name, *values)
        return shown(export_command(str(studio.db_path), run_name, **{**args, "out_dir": str(args["out_dir"])}))
    except (SelfLengthenError, ValueError) as e:
        return f"(not ready: {e})"


def _stat_rows(per_iteration: dict) -> pd.DataFrame:
    rows = [[int(idx), s["rows"], s["edited"], s["skipped"], _round(s["words"]["mean"]), _round(s["words"]["median"]),
             _round(s["initial_words"]["mean"])] for idx, s in sorted(per_iteration.items(), key=lambda p: int(p[0]))]
    return pd.DataFrame(rows, columns=STAT_COLUMNS)


def _round(value) -> float | None:
    return None if value is None else round(value, 1)


def preview(studio, run_name, iterations, fmt) -> tuple:
    """(counts per iteration, the first rows as JSON text, a message) of what an export would write."""
    try:
        rows, stats = export_rows(studio.store, run_name, _chosen(iterations), fmt)
    except (SelfLengthenError, ValueError) as e:
        return pd.DataFrame(columns=STAT_COLUMNS), "", f"**Nothing to preview**: {md_escape(str(e))}"
    sample = "\n".join(json.dumps(r, ensure_ascii=False, indent=2) for r in rows[:PREVIEW_ROWS])
    skipped = f", {stats['skipped']} skipped (no expansion to prefer)" if stats["skipped"] else ""
    if fmt in PAIR_FORMATS:  # counts per kind of pair (or per label), not per accepted sample
        header, table = preview_table(fmt, stats["per_iteration"])
        return pd.DataFrame(table, columns=header), sample, f"{stats['rows']} rows."
    return _stat_rows(stats["per_iteration"]), sample, f"{stats['rows']} rows{skipped}."


def export_list(studio) -> pd.DataFrame:
    """The exports already under the export root, newest first (temporary folders are not exports)."""
    root = export_root(studio)
    folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")] if root.is_dir() else []
    folders.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return pd.DataFrame([[p.name, datetime.fromtimestamp(p.stat().st_mtime).strftime("%Y-%m-%d %H:%M:%S"),
                          ", ".join(sorted(c.name for c in p.iterdir()))] for p in folders], columns=EXPORT_COLUMNS)


def run_export(studio, run_name, iterations, fmt, output, folder, overwrite, license_id, repo, private,
               token) -> tuple[str, pd.DataFrame]:
    """Write the export (and push it when a repo is named): (message, the export list)."""
    try:
        args = export_args(studio, run_name, iterations, fmt, output, folder, overwrite, license_id, repo)
        result = export_dataset(studio.store, run_name, **args, private=bool(private),
                                token=(token or "").strip() or None)
    except (SelfLengthenError, ValueError) as e:
        return f"**Not exported**: {md_escape(str(e))}", export_list(studio)
    pushed = f" and pushed to the hub repo {md_code(result['pushed'])}" if result["pushed"] else ""
    return (f"Exported {result['rows']} rows to {md_code(result['path'])}{pushed}: "
            f"{md_escape(', '.join(result['files']))}.", export_list(studio))


def refresh(studio, run_name: str | None) -> tuple:
    indexes = iteration_choices(studio.store, run_name)
    return gr.update(choices=[(f"iteration {i}", i) for i in indexes], value=indexes), export_list(studio)


def build_tab(studio, run) -> None:
    with gr.Tab("Export", id="export") as tab:
        gr.Markdown(f"Write the accepted samples (edited text wins) as a dataset for your trainer, with a dataset "
                    f"card and each row's provenance; or, as `pairs` or `kto`, the preference data curators' "
                    f"decisions make. Exports go under {md_code(export_root(studio))}.")
        with gr.Row():
            iterations = gr.CheckboxGroup(label="Iterations", elem_id="export-iterations")
            fmt = gr.Dropdown(list(FORMATS), value="messages", label="Format", elem_id="export-format", scale=0,
                              min_width=200)
            output = gr.Radio(list(OUTPUTS), value="jsonl", label="Written as", elem_id="export-output", scale=0,
                              min_width=240)
        with gr.Row():
            folder = gr.Textbox(label="Folder (inside the export root)", elem_id="export-folder")
            license_id = gr.Textbox(label="Licence in the card", value="other", elem_id="export-license", scale=0,
                                    min_width=160)
            overwrite = gr.Checkbox(label="Replace an existing export", elem_id="export-overwrite", scale=0)
        with gr.Accordion("Push to the Hugging Face hub (optional, needs network)", open=False):
            with gr.Row():
                repo = gr.Textbox(label="Dataset repo id (empty = local only)", placeholder="user/my-long-data",
                                  elem_id="export-repo")
                token = gr.Textbox(label="Token (empty = HF_TOKEN)", type="password", elem_id="export-token")
                private = gr.Checkbox(label="Private repo", elem_id="export-private", scale=0)
        start = gr.Button("Export", variant="primary", elem_id="export-start", scale=0)
        message = gr.Markdown(elem_id="export-message")
        command = gr.Textbox(label="Command-line twin", interactive=False, elem_id="export-command")
        counts = gr.Markdown(elem_id="export-counts")
        stats = gr.Dataframe(headers=STAT_COLUMNS, label="What would be exported", interactive=False,
                             elem_id="export-stats")
        sample = gr.Code(label="First rows", language="json", interactive=False, max_lines=30, elem_id="export-preview")
        exports = gr.Dataframe(headers=EXPORT_COLUMNS, label="Exports", interactive=False, elem_id="export-list")
    fields = [iterations, fmt, output, folder, overwrite, license_id, repo]
    run.change(partial(refresh, studio), run, [iterations, exports], api_name=False)
    tab.select(partial(refresh, studio), run, [iterations, exports], api_name="export_refresh")
    for field in fields:
        field.change(partial(command_preview, studio), [run, *fields], command, api_name=False, queue=False)
    for field in (iterations, fmt):
        field.change(partial(preview, studio), [run, iterations, fmt], [stats, sample, counts], api_name=False)
    start.click(partial(run_export, studio), [run, *fields, private, token], [message, exports],
                api_name="export_start")
