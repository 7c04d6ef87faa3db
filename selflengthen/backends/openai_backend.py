"""Any OpenAI-compatible server: vllm serve, llama.cpp's server, TGI, `transformers serve` -- or several
servers of one model (backend.base_url a list): `endpoints.EndpointPool` sends each request to the least
busy one, takes out a server that stops answering and puts it back once it answers again.

Plain prompts go to /chat/completions and the server applies its chat template. Prefilled prompts
go to /completions as raw text: the chat template is applied here (`render_prompt`), with the
model's tokenizer, so the model continues the prefill instead of answering from scratch.

Servers disagree on the sampling knobs beyond the OpenAI schema. vLLM (and llama.cpp, TGI) take
`top_k` and `repetition_penalty` as extra fields; `transformers serve` refuses unknown fields (422
"Unexpected fields") but takes a JSON `generation_config`, which is also the only way to make it
sample rather than decode greedily. The backend starts with vLLM's fields and switches for good
when a server refuses them.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from selflengthen.backends.base import Backend, Completion, GenerationParams, Prompt
from selflengthen.backends.chat import cut_at_stop, first_line, render_prompt, request_seed
from selflengthen.backends.endpoints import Endpoint, EndpointPool, Lease, endpoint_limits
from selflengthen.errors import BackendError

CHAT, COMPLETIONS = "/chat/completions", "/completions"
MAX_BACKOFF = 60.0  # seconds: the longest wait between two attempts (and between two trials of a down server)
MIN_TRIAL_BACKOFF = 0.01  # seconds: with retry_backoff 0, a down server is still not probed by every request


class RetriesExhausted(BackendError):
    """A request still failed (refused, reset, timed out, 429 or 5xx) after its last retry."""

    def __init__(self, url: str, attempts: int, error: str):
        super().__init__(f"{url} failed after {attempts} attempt(s): {error}")
        self.url, self.attempts, self.error = url, attempts, error


class OpenAIBackend(Backend):
    name = "openai"
    streaming = True

    def __init__(self, model: str, config=None, adapter: str | None = None):
        import httpx

        from selflengthen.config import BackendConfig

        self.config = config or BackendConfig(name="openai")
        if not self.config.base_url:
            raise BackendError("the openai backend needs backend.base_url, e.g. http://127.0.0.1:8000/v1")
        if adapter:
            raise BackendError("the openai backend cannot load an adapter: serve it on the server "
                               "(e.g. vllm serve --lora-modules NAME=PATH) and set backend.served_model to NAME")
        self.httpx = httpx
        self.model_name = model
        self.served_model = self.config.served_model or model
        self.style = "vllm"  # which extra sampling fields the server takes; see the module docstring
        self._tokenizer, self._render_lock = None, threading.Lock()
        base = max(self.config.retry_backoff, MIN_TRIAL_BACKOFF)
        self.pool = EndpointPool(endpoint_limits(self.config.base_url, self.config.concurrency),
                                 delay=lambda failures: backoff(base, failures),
                                 trials=self.config.max_retries)
        self.client = httpx.Client(
            headers=auth_headers(self.config.api_key_env),
            timeout=httpx.Timeout(self.config.timeout),
            limits=httpx.Limits(max_connections=self.pool.capacity),
        )

    @property
    def concurrency(self) -> int:
        return self.pool.concurrency

    def stats(self) -> list[dict]:
        return self.pool.stats()

    def generate(self, prompts: list[Prompt], params: GenerationParams) -> list[Completion]:
        """One completion per prompt. A prompt whose every retry failed comes back as Completion(error=...),
        which the caller stores as failed (a re-run retries it); when every prompt failed the server is down
        or refuses the requests, and that is a BackendError. So is an answer no retry can mend (HTTP 4xx)."""
        # Render in this thread (the tokenizer loads lazily, once), then keep every server's slots busy.
        requests = [self._request(p) for p in prompts]
        seeds = [request_seed(p, params, i) for i, p in enumerate(prompts)]
        with ThreadPoolExecutor(max_workers=self.pool.capacity) as pool:
            futures = [pool.submit(self._dispatch, path, payload, params, seed)
                       for (path, payload), seed in zip(requests, seeds)]
            try:
                outputs = [f.result() for f in futures]
            except BaseException:
                for f in futures:  # the backend cannot answer (HTTP 4xx, every server down): do not start the rest
                    f.cancel()
                raise
        if outputs and all(out.error for out in outputs):
            raise BackendError(outputs[0].error)
        return outputs

    def answer(self, prompt: Prompt, params: GenerationParams) -> Completion:
        return self._dispatch(*self._request(prompt), params, request_seed(prompt, params, 0))

    def _dispatch(self, path: str, payload: dict, params: GenerationParams, seed: int | None) -> Completion:
        """Send one request to the least busy server, moving on to another when one fails it; a Completion with
        `error` once every server failed it; BackendError when no server answers at all any more."""
        tried: set[Endpoint] = set()
        errors: dict[str, str] = {}
        spent: dict[Endpoint, int] = {}  # attempts on each server, retries and trials together
        owner = object()  # this request, to the pool
        while (lease := self.pool.acquire(exclude=tried, owner=owner)) is not None:
            try:
                budget = 1 if lease.trial else self.config.max_retries + 1 - spent.get(lease.endpoint, 0)
                completion = self._complete(lease, tried, budget, path, payload, params, seed)
            except RetriesExhausted as e:
                self.pool.failed(lease, str(e))
                spent[lease.endpoint] = spent.get(lease.endpoint, 0) + e.attempts
                errors[lease.endpoint.url] = str(RetriesExhausted(e.url, spent[lease.endpoint], e.error))
                # A failed trial is one attempt on a server already down, not yet the prompt's fault: the request
                # waits for the server, until it spent as many attempts on it as a request may (with its retries).
                if not lease.trial or spent[lease.endpoint] > self.config.max_retries:
                    tried.add(lease.endpoint)
                continue
            except BaseException as e:  # HTTP 4xx or an unreadable answer (the server answered), or interrupted
                self.pool.failed(lease, first_line(e), answered=True)
                raise
            self.pool.done(lease)
            return completion
        if self.pool.dead():
            raise BackendError(self.pool.down_message())
        return Completion(text="", error="; ".join(errors.values()) or "no server left to try")

    def _request(self, prompt: Prompt) -> tuple[str, dict]:
        if prompt.prefill:
            return COMPLETIONS, {"model": self.served_model, "prompt": self._render(prompt)}
        return CHAT, {"model": self.served_model, "messages": list(prompt.messages)}

    def _render(self, prompt: Prompt) -> str:
        with self._render_lock:  # answer() runs in many threads; the tokenizer loads once
            if self._tokenizer is None:
                self._tokenizer = load_tokenizer(self.config.tokenizer or self.model_name)
            return strip_auto_bos(self._tokenizer, render_prompt(self._tokenizer, prompt))

    def _complete(self, lease: Lease, tried: set, budget: int, path: str, payload: dict, params: GenerationParams,
                  seed: int | None) -> Completion:
        style = self.style
        response = self._send(lease, tried, budget, path, {**payload, **sampling_fields(params, seed, style)})
        if response.status_code == 422 and style == "vllm" and "Unexpected fields" in response.text:
            self.style = "transformers"  # `transformers serve`: pass the knobs as a generation_config
            response = self._send(lease, tried, budget, path,
                                  {**payload, **sampling_fields(params, seed, self.style)})
        url = lease.endpoint.url + path
        if response.status_code >= 400:
            hint = " (does base_url end in /v1?)" if response.status_code == 404 else ""
            raise BackendError(f"{url} answered HTTP {response.status_code}: {server_message(response)}{hint}")
        completion = parse_completion(response, url, chat=path == CHAT)
        # Servers honour `stop` (vLLM, llama.cpp, TGI); cutting here too makes the answer the same on one that
        # does not, and an answer that reached a stop string ended by itself.
        text, stopped = cut_at_stop(completion.text, params.stop)
        return replace(completion, text=text, finish_reason="stop") if stopped else completion

    def _send(self, lease: Lease, tried: set, attempts: int, path: str, body: dict):
        """POST, trying at most `attempts` times on connection errors, timeouts, 429 and 5xx (a trial of a down
        server: once); return any other response. A request leaves early when another took its server out and
        one is up."""
        url = lease.endpoint.url + path
        last_error, wait = "", 0.0
        for attempt in range(attempts):
            if attempt and self.pool.should_leave(lease.endpoint, tried):
                attempts = attempt
                break
            if attempt:
                time.sleep(wait or backoff(self.config.retry_backoff, attempt))
            try:
                response = self.client.post(url, json=body)
            except self.httpx.TransportError as e:  # refused, reset, timed out, ...
                last_error, wait = f"{type(e).__name__}: {first_line(e)}", 0.0
                continue
            if response.status_code != 429 and response.status_code < 500:
                return response
            last_error = f"HTTP {response.status_code}: {server_message(response)}"
            wait = retry_after(response)
        raise RetriesExhausted(url, attempts, last_error)

    def share_endpoints(self, other: Backend) -> None:
        """Send requests through `other`'s servers and slot counts when both name the same servers (two served
        names of one base, e.g. generator and extender as LoRA modules): one server's slots are counted once."""
        if isinstance(other, OpenAIBackend) and other.config.base_url == self.config.base_url:
            self.pool = other.pool

    def shares_endpoints(self, other: Backend) -> bool:
        return other is self or getattr(other, "pool", None) is self.pool

    def close(self) -> None:
        self.client.close()

    def describe(self) -> dict:
        urls = [e.url for e in self.pool.endpoints]
        return {"backend": self.name, "model": self.model_name, "adapter": None, "served_model": self.served_model,
                "base_url": urls if isinstance(self.config.base_url, list) else urls[0]}


def sampling_fields(params: GenerationParams, seed: int | None, style: str) -> dict:
    """Request fields for `params`: the OpenAI ones, plus top_k / repetition_penalty in the server's dialect.

    >>> sampling_fields(GenerationParams(top_k=0), 1, "vllm")["top_k"]
    -1
    >>> json.loads(sampling_fields(GenerationParams(), None, "transformers")["generation_config"])["do_sample"]
    True
    """
    fields = {"max_tokens": params.max_new_tokens, "temperature": params.temperature, "top_p": params.top_p}
    if seed is not None:
        fields["seed"] = seed
    if params.stop:
        fields["stop"] = list(params.stop)
    if style == "vllm":
        fields.update(top_k=params.top_k or -1, repetition_penalty=params.repetition_penalty)
    else:
        config = {"do_sample": not params.greedy, "repetition_penalty": params.repetition_penalty,
                  "max_new_tokens": params.max_new_tokens}
        if not params.greedy:
            config.update(temperature=params.temperature, top_p=params.top_p, top_k=params.top_k)
        fields["generation_config"] = json.dumps(config)
    return fields


def parse_completion(response, url: str, chat: bool) -> Completion:
    """The first choice of a (chat) completion response; finish_reason 'length' or 'stop'."""
    try:
        data = response.json()
        choice = data["choices"][0]
        text = choice["message"]["content"] if chat else choice["text"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise BackendError(f"{url} sent an unexpected answer: {first_line(response.text, 200)}") from None
    usage = data.get("usage") or {}
    return Completion(text=text or "", finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
                      n_tokens=int(usage.get("completion_tokens") or 0))


def server_message(response) -> str:
    """The error text a server sent: OpenAI's {"error": {"message"}}, FastAPI's {"detail"}, or the raw body."""
    try:
        data = response.json()
    except ValueError:
        return first_line(response.text or response.reason_phrase, 300)
    error = data.get("error", data.get("detail", data)) if isinstance(data, dict) else data
    if isinstance(error, dict):
        error = error.get("message", error)
    return first_line(str(error), 300)


def backoff(base: float, attempt: int) -> float:
    """Exponential backoff with jitter: about base, 2*base, 4*base, ... (each 50-100% of that), capped."""
    return min(MAX_BACKOFF, base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def retry_after(response) -> float:
    """Seconds a 429/503 asks us to wait (Retry-After), capped; 0 when absent."""
    try:
        return min(MAX_BACKOFF, max(0.0, float(response.headers.get("retry-after", 0))))
    except ValueError:
        return 0.0


def auth_headers(api_key_env: str | None) -> dict:
    key = os.environ.get(api_key_env) if api_key_env else None
    return {"Authorization": f"Bearer {key}"} if key else {}


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    from selflengthen.backends.hf import resolve_model

    try:
        return AutoTokenizer.from_pretrained(resolve_model(name))
    except Exception as e:  # any failure means the same to the user: this tokenizer cannot be used
        raise BackendError(f"prefilled prompts need the model's tokenizer (set backend.tokenizer): "
                           f"cannot load '{name}': {first_line(e)}") from None


def strip_auto_bos(tokenizer, text: str) -> str:
    """Drop a template's leading BOS when the server's tokenizer will add one itself (no double BOS)."""
    bos = tokenizer.bos_token
    if bos and text.startswith(bos) and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]:
        return text[len(bos):]
    return text
