"""The dashboard's composition root: every tab served by a real in-process Gradio server, --auth parsing, the
exposure warning, and the demo run made on first start."""

import re

import pytest
from gradio_client import Client

import app
from scripted import reviewed_run
from storage import Store


@pytest.fixture
def store_with_iteration(tmp_path):
    store = Store(tmp_path / "studio.db")
    reviewed_run(store)
    return store


@pytest.mark.slow
def test_app_serves_every_tab_and_their_handlers(store_with_iteration):
    demo = app.build_app(store_with_iteration)
    demo.launch(prevent_thread_lock=True)
    try:
        client = Client(demo.local_url, verbose=False)
        tabs = [c["props"].get("id") for c in client.config["components"] if c["type"] == "tabitem"]
        assert tabs == list(app.TABS)
        listing, _, status, samples = client.predict("r", api_name="/runs_show")
        assert listing["data"][0][:6] == ["r", "demo", "transformers", "m", 1, "review"]
        assert status["data"][0][:4] == [0, "review", 4, 8] and len(samples["data"]) == 8
        preflight, config, command, progress, _, jobs = client.predict("r", None, api_name="/iterate_poll")
        assert "iteration 0 is already waiting for review" in preflight and '"n_instructions": 4' in config
        assert command.endswith("iterate --db " + str(store_with_iteration.path) + " --name r --quiet")
        assert progress == "no iteration job yet for this run" and jobs["data"] in ([], [[""] * 8])
        message, *_ = client.predict("new", "Qwen/Qwen2.5-0.5B-Instruct", "", "openai", "demo", None,
                                     "Write a poem about the moon.", "{}", api_name="/runs_create")
        assert message == "run 'new' created with 1 seed instructions (demo preset)"
        assert store_with_iteration.get_run("new")["backend"] == "openai"
        progress, *_ = client.predict("r", "longen", "type", None, [], api_name="/eval_poll")
        assert progress == "No evaluation yet for this run."
        iterations, _ = client.predict("r", api_name="/export_refresh")  # as opening the tab: the choices
        assert iterations["choices"] == [["iteration 0", 0]] and iterations["value"] == [0]
        refused, _ = client.predict("r", [0], "messages", "jsonl", "mine", False, "other", "", False, "",
                                    api_name="/export_start")
        assert refused.startswith("**Not exported**: nothing to export")
        [first, *_] = store_with_iteration.iteration_samples(store_with_iteration.latest_iteration(1)["id"])
        store_with_iteration.record_decision(first["id"], "accept", user="alice")
        message, listing = client.predict("r", [0], "messages", "jsonl", "mine", False, "other", "", False, "",
                                          api_name="/export_start")
        assert message.startswith("Exported 1 rows to `") and listing["data"][0][0] == "mine"
        assert (store_with_iteration.path.parent / "exports" / "mine" / "data.jsonl").is_file()
    finally:
        demo.close()


def test_parse_auth_reads_pairs_and_refuses_malformed_ones():
    assert app.parse_auth(["alice:a:b", "bob:pw, carol:x"]) == [("alice", "a:b"), ("bob", "pw"), ("carol", "x")]
    assert app.parse_auth([""]) == []
    for bad in ("alice", "alice:", ":pw"):
        with pytest.raises(SystemExit, match=re.escape("--auth needs USER:PASS")):
            app.parse_auth([bad])


def test_exposure_warning_only_for_a_public_address_without_login():
    assert app.exposure_warning("127.0.0.1", []) is None and app.exposure_warning("localhost", []) is None
    assert app.exposure_warning("0.0.0.0", [("alice", "pw")]) is None
    warning = app.exposure_warning("0.0.0.0", [])
    assert warning.startswith("WARNING: the dashboard listens on 0.0.0.0 WITHOUT --auth")


@pytest.mark.slow
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
