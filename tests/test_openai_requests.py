"""The openai backend against a scripted local HTTP server: what each request carries (sampling, seed, key, stop
strings), retries and errors."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from selflengthen.backends import GenerationParams, Prompt, create_backend
from selflengthen.config import BackendConfig
from selflengthen.errors import BackendError
from servers import free_port, send_json

GREEDY = GenerationParams(max_new_tokens=12, temperature=0, repetition_penalty=3.0)
PROMPTS = [Prompt.user("hi")]
CHAT_OK = {"choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
           "usage": {"completion_tokens": 1}}


def openai_backend(base_url: str, model: str = "m", **config) -> object:
    return create_backend("openai", model, BackendConfig(name="openai", base_url=base_url, **config))


class ScriptedServer:
    """Answers POSTs with `script` (status, body) in turn, repeating the last; records every request."""

    def __init__(self):
        self.script: list[tuple[int, dict]] = [(200, CHAT_OK)]
        self.requests: list[tuple[str, dict, dict]] = []
        self.delay = 0.0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append((self.path, dict(self.headers), body))
                status, reply = server.script[min(len(server.requests), len(server.script)) - 1]
                time.sleep(server.delay)
                send_json(self, status, reply)

            def log_message(self, *args):
                pass

        return Handler


@pytest.fixture
def scripted():
    server = ScriptedServer()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.mark.parametrize("status", [500, 503, 429])
def test_retries_server_errors_then_succeeds(scripted, status):
    scripted.script = [(status, {"error": {"message": "busy"}})] * 2 + [(200, CHAT_OK)]
    out = openai_backend(scripted.url, max_retries=3, retry_backoff=0.01).generate(PROMPTS[:1], GREEDY)
    assert out[0].text == "ok" and len(scripted.requests) == 3


def test_gives_up_after_the_last_retry_naming_url_and_error(scripted):
    scripted.script = [(500, {"error": {"message": "model crashed"}})]
    backend = openai_backend(scripted.url, max_retries=2, retry_backoff=0.01)
    with pytest.raises(BackendError, match=r"/v1/chat/completions failed after 3 attempt\(s\): HTTP 500: model crashed"):
        backend.generate(PROMPTS[:1], GREEDY)
    assert len(scripted.requests) == 3


def test_client_error_is_not_retried_and_shows_the_message(scripted):
    scripted.script = [(400, {"error": {"message": "max_tokens is too large"}})]
    backend = openai_backend(scripted.url, max_retries=3, retry_backoff=0.01)
    with pytest.raises(BackendError, match="HTTP 400: max_tokens is too large"):
        backend.generate(PROMPTS[:1], GREEDY)
    assert len(scripted.requests) == 1


def test_unreachable_server_fails_quickly():
    backend = openai_backend(f"http://127.0.0.1:{free_port()}/v1", max_retries=2, retry_backoff=0.01, timeout=2)
    start = time.monotonic()
    with pytest.raises(BackendError, match="failed after 3 attempt.*ConnectError"):
        backend.generate(PROMPTS[:1], GREEDY)
    assert time.monotonic() - start < 5


def test_slow_answer_times_out(scripted):
    scripted.delay = 1.5
    backend = openai_backend(scripted.url, max_retries=0, timeout=1)
    with pytest.raises(BackendError, match="ReadTimeout"):
        backend.generate(PROMPTS[:1], GREEDY)


def test_request_carries_model_sampling_seed_and_key(scripted, monkeypatch):
    monkeypatch.setenv("TEST_SERVER_KEY", "sk-test")
    backend = openai_backend(scripted.url, "base-model", served_model="served", api_key_env="TEST_SERVER_KEY")
    backend.generate([Prompt.user("a"), Prompt.user("b", seed=99)], GenerationParams(top_k=0, seed=5))
    requests = sorted(scripted.requests, key=lambda r: r[2]["messages"][0]["content"])
    path, headers, body = requests[0]
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer sk-test"
    assert body["model"] == "served" and body["messages"] == [{"role": "user", "content": "a"}]
    assert (body["top_k"], body["repetition_penalty"], body["max_tokens"], body["seed"]) == (-1, 1.1, 512, 5)
    assert requests[1][2]["seed"] == 99


def test_switches_to_a_generation_config_when_extra_fields_are_refused(scripted):
    scripted.script = [(422, {"detail": "Unexpected fields in the request: {'top_k'}"}), (200, CHAT_OK)]
    out = openai_backend(scripted.url, max_retries=0).generate(PROMPTS[:1], GenerationParams(top_k=0))
    assert out[0].text == "ok"
    body = scripted.requests[1][2]
    assert "top_k" not in body and json.loads(body["generation_config"])["top_k"] == 0


def test_malformed_answer_is_a_clear_error(scripted):
    scripted.script = [(200, {"unexpected": True})]
    with pytest.raises(BackendError, match="unexpected answer"):
        openai_backend(scripted.url).generate(PROMPTS[:1], GREEDY)


def test_base_url_is_required():
    with pytest.raises(BackendError, match="needs backend.base_url"):
        create_backend("openai", "m", BackendConfig(name="openai"))


def test_prefill_without_a_loadable_tokenizer_is_a_clear_error(scripted, tmp_path):
    backend = openai_backend(scripted.url, str(tmp_path / "missing"))
    with pytest.raises(BackendError, match=r"set backend.tokenizer.*model path not found"):
        backend.generate([Prompt.user("a", prefill="b")], GREEDY)
    assert scripted.requests == []


def test_stop_strings_reach_the_request_and_the_answer_ends_before_them(scripted):
    stop = ("---", "\n---", "\n\n---", "\n\n\n")
    scripted.script = [(200, {"choices": [{"message": {"content": "The end.\n\n---\nNotes", "role": "assistant"},
                                           "finish_reason": "length"}]})]
    [out] = openai_backend(scripted.url).generate(PROMPTS, GenerationParams(stop=stop))
    assert scripted.requests[0][2]["stop"] == list(stop)
    assert (out.text, out.finish_reason) == ("The end.", "stop")  # cut here too: the server may not honour it
    openai_backend(scripted.url).generate(PROMPTS, GenerationParams())
    assert "stop" not in scripted.requests[1][2]


def test_one_request_through_answer_is_counted_in_the_servers_figures(scripted):
    backend = openai_backend(scripted.url + "/")
    assert backend.streaming and backend.concurrency == 8
    out = backend.answer(Prompt.user("hi", seed=3), GREEDY)
    assert out.text == "ok" and scripted.requests[0][2]["seed"] == 3
    assert backend.stats() == [{"url": scripted.url, "in_flight": 0, "done": 1, "failed": 0, "up": True}]


def test_a_client_error_counts_as_failed_but_leaves_the_server_in(scripted):
    scripted.script = [(400, {"error": {"message": "bad request"}}), (200, CHAT_OK)]
    backend = openai_backend(scripted.url)
    with pytest.raises(BackendError, match="HTTP 400"):
        backend.answer(PROMPTS[0], GREEDY)
    assert backend.stats()[0] | {"url": ""} == {"url": "", "in_flight": 0, "done": 0, "failed": 1, "up": True}
    assert backend.answer(PROMPTS[0], GREEDY).text == "ok"


def test_a_prompt_that_fails_for_good_does_not_stop_the_next_one(scripted):
    scripted.script = [(500, {"error": {"message": "crashed"}})] * 2 + [(200, CHAT_OK)]
    backend = openai_backend(scripted.url, max_retries=1, retry_backoff=0.01)
    assert backend.answer(PROMPTS[0], GREEDY).error.endswith("failed after 2 attempt(s): HTTP 500: crashed")
    assert not backend.stats()[0]["up"]  # taken out; the next request probes it after a short backoff
    assert backend.answer(PROMPTS[0], GREEDY).text == "ok" and backend.stats()[0]["up"]
