"""Both roles on one OpenAI-compatible server: each role's requests carry its served name (a real local HTTP server
records them), and the pre-flight shows the `vllm serve` command that serves a LoRA-trained run's adapters on one
base, or says why no single command can."""

from __future__ import annotations

import json
import shlex
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scripted import make_responder
from servers import send_json
from selflengthen.backends.base import Prompt
from selflengthen.config import preset_config
from selflengthen.jobs.preflight import run_preflight
from selflengthen.jobs.serving import ServingError, next_serve_command, serving_command
from selflengthen.stages.pipeline import STEPS, Backends, default_backend_factory, planned_iteration, run_iteration
from studios import studio_for
from ui.iterate import iterate_preview

SEEDS = [{"text": "Write an essay about the sea and its tides.", "language": "en"},
         {"text": "Explain how cities grow over the centuries.", "language": "en"}]
NAMES = {"served_generator": "generator", "served_extender": "extender"}


class RecordingServer:
    """A local OpenAI-compatible server that answers like the scripted model and records (stage, model) of every
    request; the stage is read from the prompt (a prefilled /completions request is expansion stage 2)."""

    def __init__(self):
        self.requests: list[tuple[str, str]] = []
        self.respond = make_responder()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def answer(self, path: str, body: dict) -> dict:
        if path.endswith("/chat/completions"):
            content = body["messages"][-1]["content"]
            self.requests.append((stage_of(content), body["model"]))
            text = self.respond(Prompt(messages=tuple(body["messages"])))
            return {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
        self.requests.append(("expand", body["model"]))
        text = self.respond(Prompt.user("A writer answered the request below", prefill="..."))
        return {"choices": [{"text": text, "finish_reason": "stop"}]}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                send_json(self, 200, server.answer(self.path, body))

            def log_message(self, *args):
                pass

        return Handler

    def models(self, stage: str) -> set[str]:
        return {model for s, model in self.requests if s == stage}


def stage_of(content: str) -> str:
    if "Write one new instruction" in content or content.startswith("Here is an instruction"):
        return "augment"
    return "expand" if content.startswith("A writer answered the request below") else "generate"


@pytest.fixture
def server():
    recording = RecordingServer()
    yield recording
    recording.httpd.shutdown()
    recording.httpd.server_close()


def openai_run(store, base_url, model: str = "base-model", **backend):
    config = preset_config("demo", {"augment": {"n_instructions": 4}, "generate": {"max_retries": 0},
                                    "expand": {"max_retries": 0},
                                    "backend": {"name": "openai", "base_url": base_url, **backend}})
    return store.create_run("r", model, model, "openai", "demo", config.to_dict(), SEEDS)


# -- requests carry each role's served name ----------------------------------------------------------------------
def test_each_role_reaches_its_own_served_name_on_one_server(store, server, untrained_model_dir):
    run = openai_run(store, server.url, served_model="base", tokenizer=str(untrained_model_dir), **NAMES)
    iteration = run_iteration(store, run, store.latest_iteration(run["id"]), list(STEPS))
    assert iteration["status"] == "review"
    assert server.models("augment") == {"base"}  # new instructions: the run's base model
    assert server.models("generate") == {"generator"}
    assert server.models("expand") == {"extender"}


def test_without_role_names_every_request_goes_to_the_served_model(store, server):
    run = openai_run(store, server.url, served_model="base")
    backends = Backends(run, store.latest_iteration(run["id"]), preset_config("demo", {"backend": {
        "name": "openai", "base_url": server.url, "served_model": "base"}}), default_backend_factory)
    for role in ("augmenter", "generator", "extender"):
        backends.get(role).generate([Prompt.user("hi")], params())
    backends.close()
    assert server.models("generate") == {"base"}


def test_describe_records_the_served_name_of_each_role(store, server):
    run = openai_run(store, server.url, **NAMES)
    config = preset_config("demo", {"backend": {"name": "openai", "base_url": server.url, **NAMES}})
    backends = Backends(run, store.latest_iteration(run["id"]), config, default_backend_factory)
    # Iteration 0: both roles are the same model, yet two backends, one per served name.
    assert backends.get("generator") is not backends.get("extender")
    assert {role: d["served_model"] for role, d in backends.describe().items()} == {
        "generator": "generator", "extender": "extender"}
    # ... which share the server's slots: the scheduler counts them once, and so do the endpoint figures.
    generator, extender = backends.get("generator"), backends.get("extender")
    assert generator.shares_endpoints(extender) and extender.concurrency == generator.concurrency
    extender.generate([Prompt.user("hi")], params())
    assert [row["done"] for row in generator.stats()] == [1]
    backends.close()


def params():
    from selflengthen.backends.base import GenerationParams

    return GenerationParams(max_new_tokens=8)


# -- the serve command after LoRA training -----------------------------------------------------------------------
@pytest.fixture
def base_dir(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    return base


def adapter_dir(tmp_path, name: str):
    folder = tmp_path / name / "adapter"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": 8}))
    return str(folder)


def trained(store, run, checkpoints: dict[str, dict]) -> None:
    """Register iteration 0's checkpoints ({role: fields}) and mark it trained, as `train` does."""
    first = store.latest_iteration(run["id"])
    for role, fields in checkpoints.items():
        store.register_checkpoint(run_id=run["id"], iteration_id=first["id"], role=role, data_size=4,
                                  **{"config": {"train": {"lora_r": 8}}, **fields})
    store.update_iteration(first["id"], status="trained")


def lora_trained(store, run, tmp_path, base, kind: str = "adapter") -> dict[str, str]:
    adapters = {role: adapter_dir(tmp_path, role) for role in ("generator", "extender")}
    paths = {role: path if kind == "adapter" else path.replace("adapter", "merged") for role, path in adapters.items()}
    trained(store, run, {role: {"path": paths[role], "base_model": str(base), "kind": kind,
                                "adapter_path": adapters[role]} for role in adapters})
    return adapters


def serving_checks(store, run, db_path):
    return [c for c in run_preflight(store, run, db_path, None) if c.name == "serving"]


@pytest.mark.parametrize("kind", ["adapter", "merged"])
def test_preflight_shows_the_command_that_serves_the_new_adapters_on_one_base(store, tmp_path, base_dir, kind):
    run = openai_run(store, "http://127.0.0.1:8011/v1", str(base_dir), tensor_parallel_size=2,
                     tokenizer=str(base_dir), **NAMES)
    adapters = lora_trained(store, run, tmp_path, base_dir, kind)
    expected = ["vllm", "serve", str(base_dir), "--enable-lora", "--max-lora-rank", "8", "--lora-modules",
                f"generator={adapters['generator']}", f"extender={adapters['extender']}",
                "--tensor-parallel-size", "2", "--host", "127.0.0.1", "--port", "8011"]
    assert serving_command(store, run, planned_iteration(store, run), run_config(run)) == expected
    assert shlex.split(next_serve_command(store, "r")) == expected
    [check] = serving_checks(store, run, store.path)
    assert check.ok and check.warning and "iteration 1 uses the adapters trained in iteration 0" in check.message
    assert shlex.split(check.command) == expected
    preflight = iterate_preview(studio_for(store), "r", None)[0]
    assert f"```\n  {check.command}\n  ```" in preflight


def test_served_model_names_the_base_and_a_list_of_servers_has_no_port(store, tmp_path, base_dir):
    if not list_urls_allowed():
        pytest.skip("backend.base_url takes one URL here")
    run = openai_run(store, ["http://gpu-1:8000/v1", "http://gpu-2:8000/v1"], str(base_dir), served_model="base",
                     **NAMES)
    lora_trained(store, run, tmp_path, base_dir)
    command = serving_command(store, run, planned_iteration(store, run), run_config(run))
    assert command[3:5] == ["--served-model-name", "base"] and "--port" not in command
    [check] = serving_checks(store, run, store.path)
    assert "restart each server" in check.message


def test_iteration_0_serves_the_base_under_both_role_names(store, base_dir):
    run = openai_run(store, "http://gpu-1:8000/v1", str(base_dir), **NAMES)
    assert shlex.split(next_serve_command(store, "r")) == [
        "vllm", "serve", str(base_dir), "--served-model-name", str(base_dir), "generator", "extender",
        "--port", "8000"]
    [check] = serving_checks(store, run, store.path)
    assert check.ok and not check.warning and check.command


@pytest.mark.parametrize("fields, reason", [
    ({"kind": "full"}, "is a full fine-tune, not a LoRA adapter"),
    ({"kind": "merged"}, "is a merged model with no adapter"),
])
def test_no_command_for_checkpoints_that_are_not_adapters(store, tmp_path, base_dir, fields, reason):
    run = openai_run(store, "http://127.0.0.1:8000/v1", str(base_dir), **NAMES)
    trained(store, run, {role: {"path": str(tmp_path / role / "final"), "base_model": str(base_dir), **fields}
                         for role in ("generator", "extender")})
    with pytest.raises(ServingError, match=reason):
        next_serve_command(store, "r")
    [check] = serving_checks(store, run, store.path)
    assert check.ok and check.warning and not check.command
    assert check.message.startswith("no single vllm command serves both roles: the generator checkpoint of "
                                    "iteration 0") and reason in check.message


def test_no_command_for_adapters_of_different_bases(store, tmp_path, base_dir):
    run = openai_run(store, "http://127.0.0.1:8000/v1", str(base_dir), **NAMES)
    trained(store, run, {"generator": {"path": adapter_dir(tmp_path, "g"), "base_model": str(base_dir),
                                       "kind": "adapter", "adapter_path": adapter_dir(tmp_path, "g2")},
                         "extender": {"path": adapter_dir(tmp_path, "e"), "base_model": "/elsewhere/base",
                                      "kind": "adapter", "adapter_path": adapter_dir(tmp_path, "e2")}})
    with pytest.raises(ServingError, match="not adapters of one base"):
        next_serve_command(store, "r")


def test_adapters_whose_requests_would_all_reach_the_base_are_a_warning(store, tmp_path, base_dir):
    run = openai_run(store, "http://127.0.0.1:8000/v1", str(base_dir), served_model="base")
    lora_trained(store, run, tmp_path, base_dir)
    [check] = serving_checks(store, run, store.path)
    assert check.warning and "its requests would go to the base model (base)" in check.message
    assert "backend.served_generator" in check.message


def test_no_serving_check_without_a_server_or_role_names(store, base_dir):
    run = openai_run(store, "http://127.0.0.1:8000/v1", str(base_dir))
    assert serving_checks(store, run, store.path) == []


def run_config(run):
    from selflengthen.config import RunConfig

    return RunConfig.from_dict(run["config"]).backend


def list_urls_allowed() -> bool:
    """Whether backend.base_url takes a list of URLs yet (the openai backend is gaining several endpoints)."""
    from selflengthen.config import BackendConfig
    from selflengthen.errors import SelfLengthenError

    try:
        BackendConfig(name="openai", base_url=["http://a:1/v1", "http://b:1/v1"])
    except SelfLengthenError:
        return False
    return True
