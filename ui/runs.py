"""Runs tab: create a run (models, backend, preset, seeds, config overrides), list and open runs, and look at
the selected run's iterations and samples.

Creating a run goes through the same library calls as `python -m selflengthen init` (preset_config,
check_model, the seed parser), and the tab shows that command. Handlers are plain functions; model text
is shown in Textboxes and Dataframes (plain text, never HTML).
"""

from __future__ import annotations

import os
from pathlib import Path

import gradio as gr

from selflengthen.backends.models import check_model
from selflengthen.config import BACKEND_NAMES, PRESETS, RunConfig, merge, preset_config
from selflengthen.errors import ConfigError, InputError, SelfLengthenError
from selflengthen.inputs import parse_json_object
from selflengthen.jobs.commands import cli_command, shown
from selflengthen.runs.seeds import Seed, bundled_seeds, parse_seed_text
from selflengthen.runs.status import run_status
from selflengthen.shapes import Store
from storage import StoreError
from ui.common import md_escape, run_names

MB = 1024 * 1024
MAX_SEED_BYTES = 20 * MB
MAX_NAME_CHARS = 100
RUN_COLUMNS = ["name", "preset", "backend", "generator model", "iterations", "latest status", "created_at"]
STATUS_COLUMNS = ["index", "status", "instructions", "samples", "passed", "accepted", "rejected", "pending",
                  "initial_words_mean", "final_words_mean"]
SAMPLE_COLUMNS = ["id", "status", "initial_words", "final_words", "growth", "rounds", "reject_reason"]
# -- run list, status and samples ------------------------------------------------------------------
def run_list_rows(store: Store) -> list[list]:
    """One row per run: name, preset, backend, generator, iteration count, latest status, creation time."""
    live = {job["run_id"] for job in store.live_jobs()}
    rows = []
    for run in store.list_runs():
        iterations = store.list_iterations(run["id"])
        status = iterations[-1]["status"] if iterations else "-"
        if status == "running" and run["id"] not in live:
            status = "interrupted"
        rows.append([run["name"], run["preset"], run["backend"], run["generator_model"], len(iterations),
                     status, run["created_at"][:19].replace("T", " ")])
    return rows


def status_rows(store: Store, run_name: str | None) -> list[list]:
    """The selected run's iterations (what `status` prints)."""
    run = store.get_run(run_name) if run_name else None
    if run is None:
        return []
    return [[it[c] for c in STATUS_COLUMNS] for it in run_status(store, run)["iterations"]]


# The Runs tab lists the latest iteration's first samples; Review pages through them all. Every value on the page
# is copied on each event the page handles (Gradio's front end), so a 500-row table here slowed each key press in
# Review by ~40 ms (bench/review_browser.py).
SAMPLE_ROWS = 50


def sample_rows(store: Store, run_name: str | None) -> list[list]:
    """The latest iteration's first SAMPLE_ROWS samples, one row each (their numbers only: no text is read)."""
    run = store.get_run(run_name) if run_name else None
    iteration = store.latest_iteration(run["id"]) if run else None
    if iteration is None:
        return []
    return [[s[c] for c in SAMPLE_COLUMNS] for s in store.sample_numbers(iteration["id"], SAMPLE_ROWS)]


def sample_detail(studio, sample_id) -> tuple[str, str, str, str, str]:
    """(instruction, initial response, first half, stage-1 expansion, final expansion) of one sample."""
    store = studio.store
    sample = store.get_sample(int(sample_id)) if sample_id not in (None, "") else None
    if sample is None:
        return ("",) * 5
    instruction = store.get_instruction(sample["instruction_id"])["text"]
    return (instruction, sample["initial_response"], sample["first_half"] or "", sample["stage1_expansion"] or "",
            sample["final_expansion"] or "")


def refresh_run(studio, run_name: str | None) -> tuple:
    """Everything the tab shows about the picked run: list, open-picker, iterations, samples."""
    store = studio.store
    return (run_list_rows(store), gr.update(choices=run_names(store), value=run_name or None),
            status_rows(store, run_name), sample_rows(store, run_name))


def open_run(studio, name: str | None) -> tuple:
    """(update of the top-level run picker, message) for opening a run by name."""
    store = studio.store
    if not name:
        return gr.skip(), "pick a run to open"
    if store.get_run(name) is None:
        return gr.skip(), f"error: no run named '{md_escape(name)}'"
    return gr.update(choices=run_names(store), value=name), f"opened run '{md_escape(name)}'"


def open_row(studio, row_value: list | None) -> tuple:
    """Opening the run of a clicked row of the run list."""
    return open_run(studio, row_value[0] if row_value else None)


# -- the new-run form ------------------------------------------------------------------------------
def read_seed_upload(path: str | Path) -> list[Seed]:
    """Seeds of an uploaded file: size-limited, binary refused, UTF-8 errors located, then parsed by line."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise InputError(f"{path.name}: cannot read the upload ({e.strerror or e})") from None
    if size > MAX_SEED_BYTES:
        raise InputError(f"{path.name}: {size / MB:.1f} MB is over the {MAX_SEED_BYTES // MB} MB limit for seed files")
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        raise InputError(f"{path.name}: looks like a binary file; upload JSONL or plain text (UTF-8)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InputError(f"{path.name}:{line}: not valid UTF-8 (byte 0x{data[e.start]:02x} at file offset"
                         f" {e.start}); save the file as UTF-8") from None
    return parse_seed_text(text, path.name)


def form_seeds(seeds_file, seeds_text: str | None, preset: str) -> list[Seed]:
    """The seeds of the form: an uploaded file or pasted text (not both); neither: the preset's bundled seeds."""
    upload = _upload_path(seeds_file)
    pasted = (seeds_text or "").strip()
    if upload and pasted:
        raise InputError("give seeds either as an uploaded file or as pasted text, not both (clear one)")
    if upload:
        return read_seed_upload(upload)
    if not pasted:
        return bundled_seeds(preset)
    return parse_seed_text(seeds_text, "pasted seeds")


def form_overrides(config_text: str | None) -> dict:
    """The config editor's JSON object (empty text means no overrides)."""
    if not (config_text or "").strip():
        return {}
    return parse_json_object(config_text, "config", error=ConfigError)


def form_config(preset: str, backend: str, config_text: str | None) -> RunConfig:
    """Preset + editor overrides + backend choice, validated (errors name the field path), as `init` does."""
    overrides = form_overrides(config_text)
    named = overrides.get("preset")
    if named and named != preset:
        raise ConfigError(f"the config says preset '{named}' but the preset picker says '{preset}'")
    return preset_config(preset, merge(overrides, {"backend": {"name": backend}}))


def effective_config(preset: str, backend: str, config_text: str | None) -> str:
    """The whole config the run would get, or the error that stops it."""
    try:
        return form_config(preset, backend, config_text).to_json()
    except SelfLengthenError as e:
        return f"// error: {e}"


def preview_command(db_path, name: str, generator: str, extender: str, backend: str, preset: str, seeds_file,
                    seeds_text: str | None, config_text: str | None) -> str:
    """The `init` command equivalent to the form (pasted seeds and editor JSON stand for files)."""
    args = ["init", "--db", str(db_path), "--name", (name or "").strip() or "NAME",
            "--model", (generator or "").strip() or "MODEL"]
    if (extender or "").strip():
        args += ["--extender-model", extender.strip()]
    upload = _upload_path(seeds_file)
    pasted = (seeds_text or "").strip()
    if upload or pasted:  # without either, `init` takes the preset's bundled seeds too
        args += ["--seeds", Path(upload).name if upload else "seeds.jsonl" if pasted.startswith("{") else "seeds.txt"]
    args += ["--preset", preset or "demo", "--backend", backend or BACKEND_NAMES[0]]
    if _has_overrides(config_text):
        args += ["--config", "config.json"]
    return shown(cli_command(*args))


def create_run(studio, name: str, generator: str, extender: str, backend: str, preset: str, seeds_file,
               seeds_text: str | None, config_text: str | None) -> tuple:
    """Validate the form and create the run: (message, run list, run picker update, open-picker update)."""
    store = studio.store
    try:
        name = _run_name(store, name)
        config = form_config(preset, backend, config_text)
        generator_model = _model("generator", generator, config.backend.name)
        extender_model = generator_model
        if (extender or "").strip():
            extender_model = _model("extender", extender, config.backend.name)
        seeds = form_seeds(seeds_file, seeds_text, config.preset)
        store.create_run(name, generator_model, extender_model, config.backend.name, config.preset,
                         config.to_dict(), [s.to_dict() for s in seeds])
    except SelfLengthenError as e:  # StoreError included
        return f"error: {md_escape(e)}", gr.skip(), gr.skip(), gr.skip()
    picker = gr.update(choices=run_names(store), value=name)
    message = f"run '{md_escape(name)}' created with {len(seeds)} seed instructions ({config.preset} preset)"
    return message, run_list_rows(store), picker, gr.update(choices=run_names(store), value=name)


def _run_name(store: Store, name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise InputError("give the run a name")
    if len(name) > MAX_NAME_CHARS:
        raise InputError(f"run name is longer than {MAX_NAME_CHARS} characters")
    if store.get_run(name) is not None:
        raise StoreError(f"a run named '{name}' already exists")
    return name


def _model(role: str, model: str | None, backend: str) -> str:
    try:
        return check_model((model or "").strip(), backend)
    except InputError as e:
        raise InputError(f"{role} model: {e}") from None


def _upload_path(seeds_file) -> str | None:
    """gr.File gives a path (or, in older forms, an object with .name)."""
    if not seeds_file:
        return None
    return os.fspath(getattr(seeds_file, "name", seeds_file))


def _has_overrides(config_text: str | None) -> bool:
    try:
        return bool(form_overrides(config_text))
    except ConfigError:
        return True


# -- layout ----------------------------------------------------------------------------------------
def build_tab(studio, run) -> None:
    with gr.Tab("Runs", id="runs"):
        listing, open_name, status, samples = _build_list(studio, run)
        _build_samples(studio, samples)
        _build_create(studio, run, listing, open_name)
        run.change(lambda name: refresh_run(studio, name), run, [listing, open_name, status, samples],
                   show_progress="hidden", api_name="runs_show")


def _build_list(studio, run) -> tuple:
    store = studio.store
    gr.Markdown("### Runs\nClick a run (or pick one and press Open) to make it the current run of every tab.")
    listing = gr.Dataframe(headers=RUN_COLUMNS, value=lambda: run_list_rows(store), interactive=False,
                           elem_id="runs-list", label="Runs")
    with gr.Row():
        open_name = gr.Dropdown(label="Run", choices=run_names(store), elem_id="runs-open-name", scale=3)
        open_button = gr.Button("Open", elem_id="runs-open", scale=0)
        refresh = gr.Button("Refresh", elem_id="runs-refresh", scale=0)
    open_message = gr.Markdown(elem_id="runs-open-message")
    status = gr.Dataframe(headers=STATUS_COLUMNS, interactive=False, elem_id="runs-status",
                          label="Iterations of the current run")
    samples = gr.Dataframe(headers=SAMPLE_COLUMNS, interactive=False, elem_id="runs-samples",
                           label=f"Samples of the latest iteration: its first {SAMPLE_ROWS} (click a row; Review has them all)")

    def pick(evt: gr.SelectData):
        return open_row(studio, evt.row_value)

    listing.select(pick, None, [run, open_message], api_name="runs_pick")
    open_button.click(lambda name: open_run(studio, name), open_name, [run, open_message], api_name="runs_open")
    refresh.click(lambda name: refresh_run(studio, name), run, [listing, open_name, status, samples],
                  api_name="runs_refresh")
    return listing, open_name, status, samples


def _build_samples(studio, samples) -> None:
    stages = (("instruction", "Instruction", 6), ("initial", "Initial response", 12),
              ("half", "Stage 1: first half given", 12), ("stage1", "Stage 1: its expansion", 12),
              ("final", "Final expansion", 12))
    with gr.Accordion("Sample stages (click a sample above)", open=False, elem_id="runs-sample-stages") as folded, \
            gr.Row():
        boxes = [gr.Textbox(label=label, lines=lines, interactive=False, elem_id=f"runs-sample-{key}")
                 for key, label, lines in stages]

    def pick(evt: gr.SelectData):  # the stages unfold with the sample they show
        return *sample_detail(studio, evt.row_value[0] if evt.row_value else None), gr.Accordion(open=True)

    samples.select(pick, None, [*boxes, folded], api_name="runs_sample")


def _build_create(studio, run, listing, open_name) -> None:
    gr.Markdown("### New run")
    with gr.Row():
        name = gr.Textbox(label="Name", elem_id="runs-name")
        preset = gr.Dropdown(label="Preset", choices=list(PRESETS), value="demo", elem_id="runs-preset")
        backend = gr.Dropdown(label="Backend", choices=list(BACKEND_NAMES), value=BACKEND_NAMES[0],
                              elem_id="runs-backend")
    with gr.Row():
        generator = gr.Textbox(label="Generator model", placeholder="hub id (Qwen/Qwen2.5-7B-Instruct) or local folder",
                               elem_id="runs-generator")
        extender = gr.Textbox(label="Extender model (optional)", placeholder="default: the generator model",
                              elem_id="runs-extender")
    with gr.Row():
        seeds_file = gr.File(label=f"Seeds file (JSONL or text, ≤ {MAX_SEED_BYTES // MB} MB)", type="filepath",
                             elem_id="runs-seeds-file")
        seeds_text = gr.Textbox(label="…or paste seeds (neither: the bundled seeds; paper: English and Chinese)",
                                lines=6, elem_id="runs-seeds-text",
                                placeholder='{"instruction": "Write a story about rain."}\nor one instruction a line')
    with gr.Row():
        config = gr.Textbox(value="{}", lines=12, max_lines=30, label="Config overrides: a JSON object merged over"
                            " the preset", elem_id="runs-config")
        effective = gr.Code(value=lambda: effective_config("demo", BACKEND_NAMES[0], "{}"), language="json",
                            interactive=False, max_lines=30, label="Resulting config", elem_id="runs-effective")
    command = gr.Textbox(label="Command-line twin (pasted seeds / overrides stand for seeds.jsonl / config.json)",
                         value=lambda: preview_command(studio.db_path, "", "", "", BACKEND_NAMES[0], "demo", None, "",
                                                       "{}"),
                         interactive=False, buttons=["copy"], elem_id="runs-command")
    create = gr.Button("Create run", variant="primary", elem_id="runs-create")
    message = gr.Markdown(elem_id="runs-message")

    form = [name, generator, extender, backend, preset, seeds_file, seeds_text, config]
    gr.on([c.change for c in form], lambda *v: preview_command(studio.db_path, *v), form, command,
          show_progress="hidden", queue=False, api_name="runs_command")
    gr.on([preset.change, backend.change, config.change], effective_config, [preset, backend, config], effective,
          show_progress="hidden", queue=False, api_name="runs_effective")
    create.click(lambda *v: create_run(studio, *v), form, [message, listing, run, open_name], api_name="runs_create")
