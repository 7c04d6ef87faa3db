"""The dashboard's composition root and Overview handlers, on a real store and a real Gradio server."""

import pytest
from gradio_client import Client

from scripted import scripted_backend
from selflengthen.config import preset_config
from selflengthen.pipeline import STEPS, run_iteration
from storage import Store
from ui.overview import sample_detail, sample_rows, status_rows

import app

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


@pytest.fixture
def store_with_iteration(tmp_path):
    store = Store(tmp_path / "studio.db")
    config = preset_config("demo", {"augment": {"n_instructions": 4}})
    run = store.create_run("r", "m", "m", "transformers", "demo", config.to_dict(),
                           [{"text": f"Write about {XSS} and the sea.", "language": "en"},
                            {"text": "Explain how cities grow over the centuries.", "language": "en"}])
    backend = scripted_backend()
    run_iteration(store, run, store.latest_iteration(run["id"]), list(STEPS), factory=lambda *a: backend)
    return store


def test_overview_handlers_show_counts_and_raw_text(store_with_iteration):
    store = store_with_iteration
    [row] = status_rows(store, "r")
    assert row[:4] == [0, "review", 4, 8]
    samples = sample_rows(store, "r")
    assert len(samples) == 8
    instruction, initial, half, stage1, final = sample_detail(store, samples[0][0])
    assert XSS in instruction  # returned as plain text for a Textbox, not rendered
    assert final.startswith(stage1) and initial.startswith(half)
    assert status_rows(store, "missing") == [] and sample_detail(store, "") == ("",) * 5


def test_app_serves_the_overview(store_with_iteration):
    demo = app.build_app(store_with_iteration)
    demo.launch(prevent_thread_lock=True)
    try:
        client = Client(demo.local_url, verbose=False)
        endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
        name = next(n for n in endpoints if n.startswith("/show"))
        run_update, status, samples = client.predict("r", api_name=name)
        assert status["data"][0][:4] == [0, "review", 4, 8] and len(samples["data"]) == 8
    finally:
        demo.close()


def test_first_start_creates_the_demo_run_once(tmp_path, untrained_model_dir, monkeypatch):
    data = tmp_path / "data"
    (data / "demo-model").parent.mkdir(parents=True)
    (data / "demo-model").symlink_to(untrained_model_dir)
    store = Store(data / "studio.db")
    app.ensure_demo_run(store, data)
    app.ensure_demo_run(store, data)
    run = store.get_run("demo")
    assert run["preset"] == "demo" and len(store.list_runs()) == 1
    assert store.instruction_counts(store.latest_iteration(run["id"])["id"])["accepted"] == 10
