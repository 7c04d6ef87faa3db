"""Final tab: the form from the run's preset, a build by template with its summary, table and charts, one row
opened in full, accept / reject / edit through `check_decision` (a refused edit stores nothing); and the Train
tab's final-model section. The slow tests build by a model and train the final model through the worker."""

import time

import gradio as gr
import pytest

from commands import dump
from curated import make_store_with_accepted_samples
from selflengthen.evaluation.longen import TYPES
from selflengthen.training.config import train_preset
from studios import studio_for
from ui import finalize as tab
from ui import finalize_view as view
from ui import train
from ui.forms import form_values

FORM = ([0], ["initial", "final"], "template", "", 40, 400, 20, 0.5, 0)  # the demo preset's defaults


@pytest.fixture
def studio(tmp_path):
    store, _, _ = make_store_with_accepted_samples(tmp_path / "studio.db", n_instructions=12)
    yield studio_for(store)
    store.close()


def form(**changes) -> list:
    names = ("iterations", "sources", "way", "rewrite_model", "min_words", "max_words", "unit", "zh_share", "seed")
    return [changes.get(name, value) for name, value in zip(names, FORM)]


def rows_of(studio) -> list[dict]:
    return studio.store.final_rows(studio.store.get_run("r")["id"])


def built(studio) -> list[dict]:
    assert tab.build_final(studio, "r", *form())[0].startswith("Built:")
    return rows_of(studio)


# --- the form and a build ------------------------------------------------------------------------------------

def test_the_form_comes_from_the_runs_preset_and_the_command_from_what_differs(studio):
    out = tab.refresh(studio, "r")
    iterations, *values = out[:10]
    assert iterations["choices"] == [("iteration 0", 0)] and iterations["value"] == [0]
    assert values == [["initial", "final"], "template", {"__type__": "update", "value": "",
                                                         "placeholder": "empty: the run's generator model (demo)"},
                      40, 400, 20, 0.5, 0, 0]
    assert out[10] == f"python -m selflengthen finalize --db {studio.db_path} --name r"
    assert out[12].startswith("No final set yet") and out[13].empty and out[-1][1] is None
    changed = tab.command_preview(studio, "r", *form(sources=["final"], way="model", rewrite_model="m x",
                                                     min_words=60, seed=3))
    assert changed == (f"python -m selflengthen finalize --db {studio.db_path} --name r --sources final --way model "
                       "--rewrite-model 'm x' --min-words 60 --seed 3")
    assert tab.command_preview(studio, "r", *form(iterations=[])) == "(not ready: tick at least one iteration)"


def test_build_by_template_shows_the_summary_table_and_charts(studio):
    message, command, summary, table, types, lengths, key = tab.build_final(studio, "r", *form(min_words=60))
    run = studio.store.get_run("r")
    stats = studio.store.finalization(run["id"])["stats"]
    rows = rows_of(studio)
    assert message == (f"Built: {stats['kept']} of {stats['pooled']} pooled texts kept (dropped: outside length "
                       f"bounds {stats['dropped']['outside length bounds']}); types: "
                       + ", ".join(f"{t} {stats['types'][t]}" for t in TYPES) + f"; by template {stats['kept']}.")
    assert command.endswith("--name r --min-words 60") and stats["pooled"] == 48 and len(rows) == stats["kept"] > 10
    assert f"{stats['kept']} of 48 pooled texts kept" in summary and "Settings: iterations 0; sources initial, " \
        "final; way template; 60-400 words, unit 20, seed 0." in summary
    assert "Curated: 0 accepted, 0 rejected" in summary and message.removeprefix("Built: ")[:-1] in summary
    assert table.columns.tolist() == view.ROW_COLUMNS and table["id"].tolist() == [r["id"] for r in rows]
    first = table.iloc[0]
    assert (first["target"], first["verdict"]) == (f"{rows[0]['target_low']:g}-{rows[0]['target_high']:g}", "")
    assert all(60 <= w < 400 for w in table["words"]) and table["query"].str.len().max() <= view.QUERY_CHARS
    assert list(types.data[0].x) == list(TYPES) and list(types.data[0].y) == [stats["types"][t] for t in TYPES]
    assert sorted(lengths.data[0].x) == sorted(r["words"] for r in rows)
    assert key == tab.poll_key(studio, "r") and tab.poll(studio, "r", "all", key) == (gr.skip(),) * 5
    assert tab.poll(studio, "r", "all", None)[-1] == key  # a page load draws the set


@pytest.mark.parametrize("changes, why", [
    ({"iterations": []}, "tick at least one iteration"), ({"sources": []}, "tick at least one source"),
    ({"min_words": 500}, "min_words (500) must not exceed max_words (400)"),
    ({"unit": 2.5}, "unit must be a whole number (got 2.5)"), ({"unit": 0}, "unit must be between 1 and inf"),
    ({"way": "model", "rewrite_model": "/no/such/model"}, "the rewrite model is missing on disk: /no/such/model"),
])
def test_a_refused_build_says_why_and_stores_nothing(studio, changes, why):
    before = dump(studio.db_path)
    message, command, summary, *_ = tab.build_final(studio, "r", *form(**changes))
    assert message.replace("\\", "").startswith(f"**Not built:** {why}") and summary.startswith("No final set yet")
    assert dump(studio.db_path) == before and studio.worker.state()["commands"] == []
    assert tab.build_final(studio, None, *form())[0] == "**Not built:** pick a run first"


# --- one row: view, accept, reject, edit -----------------------------------------------------------------------

def test_a_row_opens_in_full_and_accept_then_reject_move_on(studio):
    rows = built(studio)
    row_id, facts, query, response = view.open_row(studio, "r", rows[0]["id"])
    assert (row_id, query, response) == (rows[0]["id"], rows[0]["query"], rows[0]["response"])
    assert facts.startswith(f"Row {row_id} · iteration 0 · {rows[0]['source']} text · {rows[0]['type']}: ")
    assert facts.endswith(f"{rows[0]['words']} words · undecided")
    assert view.decide(studio, "r", None, "accept", "alice")[0] == (
        "**Not recorded:** open a row first (click it in the table, or type its id)")  # nothing open: no error
    out = view.decide(studio, "r", rows[0]["id"], "accept", "alice")
    assert out[0].startswith(f"Row {rows[0]['id']} accepted. CLI twin: `python -m selflengthen final-decide --db ")
    assert out[0].endswith(f"--row {rows[0]['id']} --verdict accept`") and out[1] == rows[1]["id"]
    assert out[5].count("Curated: 1 accepted, 0 rejected")
    out = view.decide(studio, "r", rows[1]["id"], "reject", "bob")
    assert out[0].startswith(f"Row {rows[1]['id']} rejected.") and out[1] == rows[2]["id"]
    stored = {r["id"]: r for r in rows_of(studio)}
    assert (stored[rows[0]["id"]]["verdict"], stored[rows[0]["id"]]["curator"]) == ("accept", "alice")
    assert (stored[rows[1]["id"]]["verdict"], stored[rows[1]["id"]]["curator"]) == ("reject", "bob")
    table, types, lengths = out[6:9]
    assert table["verdict"].tolist()[:3] == ["accept", "reject", ""]
    assert sum(types.data[0].y) == len(rows) - 1 and len(lengths.data[0].x) == len(rows) - 1  # rejected left out
    assert view.set_view(studio, "r", "rejected")[1]["id"].tolist() == [rows[1]["id"]]
    assert view.open_row(studio, "r", rows[1]["id"])[1].endswith("reject by bob")
    assert view.open_row(studio, "r", 99999)[1] == "**no final row 99999 in this run**"
    assert view.decide(studio, "r", 99999, "accept", "")[0] == "**Not recorded:** no final row 99999 in this run"


def test_a_refused_edit_stores_nothing_and_a_good_one_is_accepted(studio):
    row = built(studio)[0]
    before = dump(studio.db_path)
    short = view.save_edit(studio, "r", row["id"], row["query"], "Far too short.", "alice")
    assert short[0] == (f"**Not saved:** the edited response has 3 words; its constraint ({row['constraint']}) "
                        f"needs {row['target_low']:g}-{row['target_high']:g}")
    unasked = view.save_edit(studio, "r", row["id"], "Write about tea.", row["response"], "alice")
    assert unasked[0] == f"**Not saved:** the edited query must still ask for {row['constraint']}"
    same = view.save_edit(studio, "r", row["id"], row["query"], row["response"], "alice")
    assert same[0] == "**Not saved:** nothing changed: edit the query or the response first"
    assert dump(studio.db_path) == before
    query = row["query"] + " Keep a warm tone."
    message, facts, summary, table, *_ = view.save_edit(studio, "r", row["id"], query, row["response"], "alice")
    assert message.startswith(f"Row {row['id']} accepted with your edit. CLI twin: `python -m selflengthen "
                              "final-decide") and message.endswith("--query QUERY.txt --response RESPONSE.txt`")
    stored = studio.store.get_final_row(studio.store.get_run("r")["id"], row["id"])
    assert (stored["edited_query"], stored["edited_response"], stored["verdict"]) == (query, None, "accept")
    assert facts.endswith("accept by alice (edited)") and table["verdict"].iloc[0] == "accept (edited)"
    assert table["query"].iloc[0].endswith("…") or table["query"].iloc[0].endswith("Keep a warm tone.")
    assert view.open_row(studio, "r", row["id"])[2] == query and "1 edited" in summary


def test_curator_and_model_text_reach_the_page_as_text(studio):
    row = {**built(studio)[0], "curator": "<b>x</b>", "verdict": "accept", "constraint": "around [40](x) words"}
    assert "\\<b\\>x\\</b\\>" in view.row_facts(row) and "\\[40\\](x)" in view.row_facts(row)
    hostile = "<script>alert(1)</script> " + row["query"]
    view.save_edit(studio, "r", row["id"], hostile, row["response"], "alice")
    assert view.open_row(studio, "r", row["id"])[2] == hostile  # a Textbox shows the exact text, inert


# --- the Train tab's final model -------------------------------------------------------------------------------

def test_the_final_section_refuses_before_a_final_set_and_shows_the_final_model(studio, tmp_path):
    base, command, model, key = train.final_refresh(studio, "r")
    config = tmp_path / "checkpoints" / "r" / "final" / "train-config.json"
    assert base == "demo" and model == "No final model yet for this run."
    assert command == f"python -m selflengthen train --db {studio.db_path} --name r --final --config {config} --quiet"
    values = form_values(train_preset("demo"), train.FORM_FIELDS)
    message, _ = train.start_final_training(studio, "r", "demo", *values)
    assert message == "**Not started:** run 'r' has no final rows to learn from: build the final set (Final tab)"
    built(studio)
    message, command = train.start_final_training(studio, "r", "/no/such/base", *values)
    assert message == "**Not started:** the final model's base is missing on disk: /no/such/base"
    assert "--final --base /no/such/base --config" in command and not config.exists()
    run = studio.store.get_run("r")
    studio.store.register_final_model(run_id=run["id"], path="/ck/final", base_model="demo", kind="full",
                                      data_size=41, train_loss=1.23456)
    shown, fresh = train.final_poll(studio, "r", key)
    assert shown.startswith("**Final model:** `/ck/final` · full · 41 rows · train loss 1.235 · from `demo`")
    assert train.final_poll(studio, "r", fresh) == (gr.skip(), gr.skip())


def test_a_final_training_job_is_the_live_views_latest_training(studio):
    run = studio.store.get_run("r")
    iteration = studio.store.latest_iteration(run["id"])
    job = studio.store.start_job("train:final", run_id=run["id"], iteration_id=iteration["id"])
    jobs = train.train_jobs(studio.store, run["id"])
    assert [j["id"] for j in jobs] == [job]
    assert train.progress_markdown(studio.store, jobs, studio.worker.state()).startswith(
        "**Training of the final model**\n- **final** (job")


# --- through the worker (slow: subprocesses, real models) --------------------------------------------------------

def wait_for_build(studio, key, timeout: float = 240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = tab.poll(studio, "r", "all", key)
        if out[-1] != gr.skip():
            key = out[-1]
            if not studio.worker.state()["running"]:
                return out
        time.sleep(0.5)
    raise AssertionError(f"the build did not end: {studio.worker.state()['output'][-2000:]}")


@pytest.mark.slow
def test_a_build_by_a_model_runs_in_the_worker_and_redraws_when_saved(tmp_path, untrained_model_dir):
    store, run, _ = make_store_with_accepted_samples(tmp_path / "studio.db", n_instructions=2,
                                                     model=str(untrained_model_dir))
    studio = studio_for(store)
    key = tab.poll_key(studio, "r")
    message, command, *_ = tab.build_final(studio, "r", *form(way="model"))
    assert message.startswith("Started") and command.endswith("--name r --way model")
    assert tab.build_final(studio, "r", *form())[0].startswith("**Not built:** the model is still building")
    summary, table, *_ = wait_for_build(studio, key)
    assert studio.worker.state()["error"] == "", studio.worker.state()["output"]
    insertion = store.finalization(run["id"])["stats"]["insertion"]
    assert insertion["way"] == "model" and len(table) == insertion["rewritten"] + insertion["template"] > 0
    assert "rewritten by the model" in summary and "fallbacks:" in summary
    store.close()


@pytest.mark.slow
def test_the_final_model_trains_from_the_train_tab(tmp_path, untrained_model_dir):
    store, run, _ = make_store_with_accepted_samples(tmp_path / "studio.db", n_instructions=3,
                                                     model=str(untrained_model_dir))
    studio = studio_for(store)
    assert tab.build_final(studio, "r", *form())[0].startswith("Built:")
    values = dict(zip(train.FORM_FIELDS, form_values(train_preset("demo"), train.FORM_FIELDS)), epochs=1)
    message, command = train.start_final_training(studio, "r", str(untrained_model_dir), *values.values())
    kept = len(store.final_rows(run["id"]))
    assert message == f"Started training the final model on {kept} final rows from `{untrained_model_dir}`."
    assert "--final --config" in command and "--base" not in command
    assert studio.worker.wait(300), "the final training did not end"
    assert studio.worker.state()["error"] == "", studio.worker.state()["output"]
    model = store.final_model(run["id"])
    assert model["data_size"] == kept and "checkpoints/r/final" in model["path"]
    assert train.final_poll(studio, "r", None)[0].startswith(f"**Final model:** `{model['path']}`")
    progress, _, log = train.train_progress(studio, "r")
    assert progress.startswith("**Training of the final model**") and "done" in progress
    store.close()
