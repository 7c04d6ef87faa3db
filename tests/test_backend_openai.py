"""The openai backend against a real `transformers serve` (its answers match the in-process backend's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from selflengthen.backends import GenerationParams, Prompt, create_backend
from selflengthen.config import BackendConfig
from selflengthen.errors import BackendError
from servers import free_port, wait_until_up

pytestmark = pytest.mark.slow  # real servers, subprocesses or models

GREEDY = GenerationParams(max_new_tokens=12, temperature=0, repetition_penalty=3.0)
PROMPTS = [Prompt.user("hi"), Prompt.user("Write about the history of rivers. " * 8), Prompt.user("cats"),
           Prompt.user("Explain why the sky is blue."), Prompt.user("Describe a quiet morning by the sea. " * 3)]
CHAT_OK = {"choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
           "usage": {"completion_tokens": 1}}


@pytest.fixture(scope="module")
def served_model(untrained_model_dir, tmp_path_factory):
    """(base_url, model) of a real `transformers serve` on a free port, stopped after the module."""
    port, model = free_port(), str(untrained_model_dir)
    log = (tmp_path_factory.mktemp("serve") / "serve.log").open("w")
    command = [str(Path(sys.executable).parent / "transformers"), "serve", model, "--host", "127.0.0.1",
               "--port", str(port)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", process, "transformers serve")
        yield f"http://127.0.0.1:{port}/v1", model
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        log.close()


@pytest.fixture(scope="module")
def local(untrained_model_dir):
    """The in-process transformers backend on the same model: what the server should answer."""
    backend = create_backend("transformers", str(untrained_model_dir), BackendConfig(batch_size=1))
    yield backend
    backend.close()


def openai_backend(base_url: str, model: str = "m", **config) -> object:
    return create_backend("openai", model, BackendConfig(name="openai", base_url=base_url, **config))


# ---- a real server ----

def test_chat_completions_match_the_local_model(served_model, local):
    backend = openai_backend(*served_model)
    out = backend.generate(PROMPTS[:2], GREEDY)
    assert [c.text for c in out] == [c.text for c in local.generate(PROMPTS[:2], GREEDY)]
    assert [(c.finish_reason, c.n_tokens) for c in out] == [("length", 12), ("length", 12)]
    assert backend.style == "transformers"  # it refused vLLM's top_k (422) and took a generation_config


def test_prefilled_prompts_continue_through_the_completions_endpoint(served_model, local):
    backend = openai_backend(*served_model)
    prompt = Prompt.user("cats", prefill="Well, the")
    out = backend.generate([prompt], GREEDY)[0]
    assert out.text == local.generate([prompt], GREEDY)[0].text
    assert out.text != backend.generate([Prompt.user("cats")], GREEDY)[0].text


def test_concurrent_requests_keep_prompt_order(served_model, local):
    backend = openai_backend(*served_model, concurrency=4)
    prompts = PROMPTS + [Prompt.user("dogs", prefill="Dogs")]
    out = backend.generate(prompts, GREEDY)
    assert [c.text for c in out] == [local.generate([p], GREEDY)[0].text for p in prompts]
    assert len({c.text for c in out}) == len(prompts)


def test_sampling_with_a_seed_is_reproducible_one_request_at_a_time(served_model):
    # `transformers serve` seeds one global generator per request: reproducible only without overlap
    backend = openai_backend(*served_model, concurrency=1)
    params = GenerationParams(max_new_tokens=12, temperature=1.0, top_p=1.0, top_k=0, seed=3)
    first = backend.generate(PROMPTS[:2], params)
    assert backend.generate(PROMPTS[:2], params) == first
    assert first != backend.generate(PROMPTS[:2], GenerationParams(max_new_tokens=12, top_k=0, seed=4))


def test_wrong_served_model_name_is_the_servers_message(served_model):
    backend = openai_backend(served_model[0], "not-this-model", max_retries=0)
    with pytest.raises(BackendError, match="HTTP 400: Server is pinned to"):
        backend.generate(PROMPTS[:1], GREEDY)
