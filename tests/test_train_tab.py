"""Train tab: the config form, launch refusals, a real short training through the job worker followed by the
progress handlers, the checkpoint list, chat with a checkpoint, and one handler through a Gradio server."""

import json
import time

import gradio as gr
import pytest
from gradio_client import Client

from curated import make_store_with_accepted_samples
from selflengthen.config import BackendConfig, preset_config
from selflengthen.errors import ConfigError
from selflengthen.training import chat
from selflengthen.training.config import TrainConfig, train_preset
from storage import Store
from studios import studio_for
from ui import chat as try_it
from ui import train
from ui.forms import build_form, changed_fields, form_values, read_form

FIELDS = train.FORM_FIELDS


def preset_values(**changes) -> list:
    """The form's values for the demo preset, with some fields changed as a user would."""
    values = dict(zip(FIELDS, form_values(train_preset("demo"), FIELDS)))
    return [changes.get(name, value) for name, value in values.items()]


@pytest.fixture
def empty_run(tmp_path):
    store = Store(tmp_path / "studio.db")
    store.create_run("r", "m", "m", "transformers", "demo", preset_config("demo").to_dict(),
                     [{"text": "Write an essay about the sea.", "language": "en"}])
    yield store
    store.close()


# --- the form ---------------------------------------------------------------------------------------

def test_form_round_trips_the_defaults_and_builds_one_component_per_field():
    with gr.Blocks():
        components = build_form(TrainConfig, TrainConfig(), elem_prefix="train-", names=FIELDS)
    by_name = dict(zip(FIELDS, components))
    assert [c.elem_id for c in components] == [f"train-{name}" for name in FIELDS]
    assert isinstance(by_name["method"], gr.Dropdown) and by_name["method"].choices[0][0] == "lora"
    assert isinstance(by_name["packing"], gr.Checkbox) and isinstance(by_name["lora_target_modules"], gr.Textbox)
    assert isinstance(by_name["batch_size"], gr.Number) and by_name["batch_size"].precision == 0
    assert by_name["learning_rate"].info == "Peak learning rate. (1e-09 to 1.0)"
    values = [c.value for c in components]
    assert values == form_values(TrainConfig(), FIELDS)
    config = read_form(TrainConfig, FIELDS, values, base={"preset": "default"})
    assert config.to_dict() == TrainConfig().to_dict()
    assert changed_fields(config, TrainConfig()) == {}


def test_form_values_are_read_as_the_fields_types():
    values = preset_values(epochs=1, batch_size=4.0, lora_target_modules="q_proj, v_proj")
    config = read_form(TrainConfig, FIELDS, values, base=train_preset("demo").to_dict())
    assert (config.epochs, config.batch_size, config.lora_target_modules) == (1.0, 4, ["q_proj", "v_proj"])
    assert changed_fields(config, train_preset("demo")) == {
        "epochs": 1.0, "batch_size": 4, "lora_target_modules": ["q_proj", "v_proj"]}


@pytest.mark.parametrize("changes, field", [
    ({"batch_size": 0}, "batch_size must be >= 1"), ({"learning_rate": None}, "learning_rate must be float"),
    ({"method": "qlora"}, "method must be one of"), ({"lora_target_modules": ""}, "lora_target_modules"),
    ({"eval_fraction": 0.9}, "eval_fraction must be <= 0.5"),
])
def test_a_bad_value_names_the_field(changes, field):
    with pytest.raises(ConfigError, match=field):
        read_form(TrainConfig, FIELDS, preset_values(**changes), base=train_preset("demo").to_dict())


def test_optional_fields_are_text_where_empty_means_none():
    names = ["max_model_len", "base_url", "batch_size"]
    with gr.Blocks():
        components = build_form(BackendConfig, BackendConfig(), elem_prefix="b-", names=names)
    assert [type(c) for c in components] == [gr.Textbox, gr.Textbox, gr.Number] and components[0].value == ""
    config = read_form(BackendConfig, names, ["2048", "", 4])
    assert (config.max_model_len, config.base_url, config.batch_size) == (2048, None, 4)
    with pytest.raises(ConfigError, match="max_model_len must be a whole number or empty"):
        read_form(BackendConfig, names, ["long", "", 4])


# --- refusals -----------------------------------------------------------------------------------------

def test_launch_without_accepted_samples_is_refused_and_writes_nothing(empty_run, tmp_path):
    studio = studio_for(empty_run)
    message, command = train.start_training(studio, "r", "both", True, *preset_values())
    assert message == "**Not started:** iteration 0 of run 'r' has no accepted samples: review first"
    assert command.startswith("python -m selflengthen train --db ") and "iterate" in command
    assert not (tmp_path / "checkpoints").exists() and empty_run.list_jobs(1) == []
    assert studio.worker.state()["commands"] == []
    assert train.start_training(studio, None, "both", True, *preset_values())[0] == "**Not started:** pick a run first"


def test_launch_refusals_name_the_reason(tmp_path):
    store, run, iteration = make_store_with_accepted_samples(tmp_path / "studio.db", n_instructions=1)
    studio = studio_for(store)
    message, _ = train.start_training(studio, "r", "both", False, *preset_values(batch_size=0))
    assert message == "**Not started:** batch_size must be >= 1 (got 0)"
    job = store.start_job("iterate", run_id=run["id"])  # this process is alive: the job counts as running
    message, _ = train.start_training(studio, "r", "both", False, *preset_values())
    assert message.startswith("**Not started:** cannot start training: job") and "(iterate)" in message
    store.finish_job(job, "done")
    store.update_iteration(iteration["id"], status="trained")
    message, _ = train.start_training(studio, "r", "both", False, *preset_values())
    assert "iteration 0 is already trained" in message
    assert not (tmp_path / "checkpoints").exists()


def test_cancel_when_idle_refuses_nothing_and_asks_a_live_job_to_stop(empty_run):
    studio = studio_for(empty_run)
    assert train.cancel_training(studio) == "Nothing is running."
    job = empty_run.start_job("train:generator", run_id=1)
    assert train.cancel_training(studio).startswith(f"Asked job {job} to stop")
    assert empty_run.cancel_requested(job)


@pytest.mark.slow
def test_a_command_that_fails_before_its_job_shows_the_workers_output(tmp_path):
    store, run, _ = make_store_with_accepted_samples(tmp_path / "studio.db", n_instructions=1,
                                                     model=str(tmp_path / "gone"))
    studio = studio_for(store)
    assert train.start_training(studio, "r", "generator", True, *preset_values())[0].startswith("Started")
    assert studio.worker.wait(60)
    progress, figure, log = train.train_progress(studio, "r")
    missing = f"the generator checkpoint is missing on disk: {tmp_path / 'gone'}"
    assert progress == f"No training yet for this run.\n\n**Stopped at step 1 of 2:** {missing}"
    assert f"error: {missing}" in log and figure.data == ()
    assert len(store.list_iterations(run["id"])) == 1  # the iterate after it never ran


def test_form_examples_hold():
    import doctest

    import ui.forms

    assert doctest.testmod(ui.forms, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


@pytest.mark.slow
def test_chat_is_refused_while_a_job_runs(empty_run, untrained_model_dir):
    studio = studio_for(empty_run)
    empty_run.start_job("iterate", run_id=1)
    history, text, status, twin = try_it.chat_send(studio, str(untrained_model_dir), [], "hello", 8)
    assert history == [] and text == "hello" and status.startswith("**Not now:** job 1 (iterate)")
    assert twin == f"python -m selflengthen chat --model {untrained_model_dir} --message hello --max-new-tokens 8"
    assert chat.loaded_model() is None


@pytest.mark.slow
def test_the_chat_keeps_the_conversation_and_its_twin_replays_it(empty_run, untrained_model_dir):
    studio, model = studio_for(empty_run), str(untrained_model_dir)
    history, _, status, _ = try_it.chat_send(studio, model, [], "hello", 8)
    history, _, status, twin = try_it.chat_send(studio, model, history, "and then?", 8)
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
    assert status == f"Answered by {model}, with the 2 earlier messages as context."
    assert history[-1]["content"] == chat.chat_reply(model, history[:3], max_new_tokens=8)
    assert twin.count("--message") == 3 and twin.index("hello") < twin.index("'and then?'")


# --- a real short training --------------------------------------------------------------------------------

def follow(studio, run_name: str, timeout: float = 240) -> list[str]:
    """Tick the timer's handler until the worker's chain ends, as a browser would; the progress texts seen."""
    seen, key, deadline = [], train.poll(studio, run_name, "both", False, None)[-1], time.monotonic() + timeout
    untouched = (gr.skip(),) * (2 + len(FIELDS))
    while time.monotonic() < deadline:
        out = train.poll(studio, run_name, "both", False, key)
        if out[-1] != gr.skip():  # something changed: the live view is redrawn, the user's form left alone
            assert out[1:3 + len(FIELDS)] == untouched
            seen.append(out[3 + len(FIELDS)])
            key = out[-1]
        if studio.worker.wait(0.5):
            return seen
    raise AssertionError(f"training did not end in {timeout} s: {seen[-1:]}")


@pytest.mark.slow
def test_training_through_the_worker_then_chat_with_a_checkpoint(tmp_path, untrained_model_dir):
    store, run, _ = make_store_with_accepted_samples(tmp_path / "studio.db", n_instructions=3,
                                                     model=str(untrained_model_dir))
    studio = studio_for(store)
    message, command = train.start_training(studio, "r", "both", False, *preset_values(epochs=1))
    assert message == "Started training the generator and extender on iteration 0." and "iterate" not in command
    saved = tmp_path / "checkpoints" / "r" / "iteration-0" / "train-config.json"
    assert f"--config {saved} --quiet" in command and json.loads(saved.read_text()) == {"epochs": 1.0}
    seen = follow(studio, "r")
    assert studio.worker.state()["error"] == "", studio.worker.state()["output"]

    progress, figure, log = train.train_progress(studio, "r")
    assert "**generator** (job" in progress and "**extender** (job" in progress
    assert progress.count(" · done · step ") == 2 and "(100%)" in progress and "Finished (1 command)" in progress
    assert any("running" in text for text in seen)
    names = [trace.name for trace in figure.data]
    assert any(n.startswith("generator train") for n in names) and any(n.startswith("extender eval") for n in names)
    assert all(len(trace.x) == len(trace.y) > 0 for trace in figure.data)
    assert "--- train:generator" in log and "step 1/" in log

    rows = train.checkpoint_rows(studio, "r")
    assert [(r[0], r[1], r[2]) for r in rows] == [(0, "extender", "full"), (0, "generator", "full")]
    assert all(r[4] == 6 and r[5] > 0 for r in rows)
    assert len(store.list_iterations(run["id"])) == 1  # then-iterate was off
    assert "already trained" in train.start_training(studio, "r", "both", False, *preset_values())[0]

    first = train.poll(studio, "r", "both", False, None)  # a page load: the whole tab, form included
    assert first[3:3 + len(FIELDS)] == tuple(preset_values()) and first[-2]["value"] == str(untrained_model_dir)
    assert train.poll(studio, "r", "both", False, first[-1]) == (gr.skip(),) * (len(FIELDS) + 9)  # nothing new
    models = try_it.chat_models(studio, "r")
    assert models[1] == (f"iteration 0 · extender · {rows[0][3]}", rows[0][3])
    history, text, status, _ = try_it.chat_send(studio, rows[1][3], [], "Write an essay about tea.", 8)
    assert [m["role"] for m in history] == ["user", "assistant"] and text == "" and status.startswith("Answered")
    chat.release()


# --- through a Gradio server ------------------------------------------------------------------------------

@pytest.mark.slow
def test_handlers_through_a_gradio_server(empty_run):
    studio = studio_for(empty_run)
    with gr.Blocks() as demo:
        run = gr.Dropdown(choices=["r"], value="r")
        train.build_tab(studio, run)
    demo.launch(prevent_thread_lock=True)
    try:
        client = Client(demo.local_url, verbose=False)
        message, command = client.predict("r", "generator", False, *preset_values(), api_name="/train_start")
        assert message.endswith("has no accepted samples: review first")
        assert "--role generator" in command and "iterate" not in command
        out = client.predict("r", "both", True, api_name="/train_refresh")
        assert out[0].startswith("Iteration 0 (created): 0 accepted samples")
        assert out[3:3 + len(FIELDS)] == tuple(preset_values())
        assert client.predict(api_name="/train_cancel") == "Nothing is running."
    finally:
        demo.close()
