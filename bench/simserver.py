"""A simulated OpenAI-compatible serving engine: K slots, long-tailed output lengths, answers the pipeline accepts.

    python bench/simserver.py [--port P] [--slots K] [--seconds-per-token S]

What a GPU engine (vLLM) looks like from the client, without a GPU: a request waits for one of K slots (the
engine's batch), then holds it for `tokens x seconds_per_token` before the answer comes back. Output lengths are
log-normal (sigma 1) around a median per request kind, drawn from the request's `seed` (or, without one, its
prompt text): the same request always gets the same answer. The text is what the pipeline accepts:

- self-instruct prompts: one new instruction (a prefilled numbered list goes on to the next label, so `stop`
  strings are honoured, as a real engine's are);
- the instruction judge: "Yes." ("yes", exactly, for the paper preset's judge);
- an instruction: sentences of English (or Chinese) prose in paragraphs, ending with a stop, no repeated n-gram;
- expansion: stage 1 returns the half it was given with new sentences after each of its own (1.6-2.5x the words);
  stage 2 (a /completions request with the stage-1 text prefilled) finds the last sentence of the answer that
  the prefill covers and returns only the continuation: the rest of the answer, expanded the same way.

A request's kind is the bundled template (default or paper set) its user message matches; anything else is
answered as an instruction. Served over `ThreadingHTTPServer`: POST /v1/chat/completions, POST /v1/completions,
GET /v1/models, GET /stats (busy slot-seconds, requests, tokens) and GET /health.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
import sys
import threading
import time
import zlib
from dataclasses import asdict, dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/simserver.py` from anywhere

from selflengthen.backends.base import Prompt  # noqa: E402
from selflengthen.backends.chat import cut_at_stop  # noqa: E402
from selflengthen.method.augment import next_number_stop  # noqa: E402
from selflengthen.method.gates import repeated_ngram  # noqa: E402
from selflengthen.method.templates import SETS, as_prompt, bundled  # noqa: E402
from selflengthen.method.words import count_words, detect_language  # noqa: E402

from bench.simtext import (EXPANSION, KINDS, MEDIAN_ANSWER_SENTENCES, MEDIAN_INSTRUCTION_WORDS,  # noqa: E402
                           TOKENS_PER_WORD, Writer, continuation, expand_paragraphs, lognormal, paragraphs_of)

# ---- requests ----

def template_pattern(text: str) -> re.Pattern:
    """A template as a regular expression: its placeholders become named groups.

    >>> template_pattern("Q: {prompt}\\nA: {response}").fullmatch("Q: hi\\nA: yes").group("response")
    'yes'
    """
    parts, seen = [], set()
    for literal, name, _, _ in string.Formatter().parse(text):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.*?)")
            seen.add(name)
    return re.compile("".join(parts), re.DOTALL)


@cache
def known_prompts() -> list[tuple[str, str, str, re.Pattern]]:
    """(kind, language, template set, pattern of the user message) of every bundled template a stage sends."""
    known = []
    for set_name in SETS:
        for name, text in bundled(set_name).items():
            stem, _, language = name.rpartition("_")
            if stem in KINDS:
                user = [m["content"] for m in as_prompt(text).messages if m["role"] == "user"][-1]
                known.append((KINDS[stem], language, set_name, template_pattern(user)))
    return known


def classify(user: str) -> tuple[str, str, str, dict]:
    """(kind, language, template set, the template's fields) of a user message; an instruction to answer when it
    matches no template."""
    for kind, language, set_name, pattern in known_prompts():
        match = pattern.fullmatch(user)
        if match:
            return kind, language, set_name, match.groupdict()
    return "answer", detect_language(user), "", {}


_OPENERS = ("<|im_start|>assistant\n", "<|start_header_id|>assistant<|end_header_id|>\n\n")


def split_rendered(prompt: str) -> tuple[str, str]:
    """(the last user message, the prefill) of a prompt rendered by a ChatML or Llama 3 chat template.

    >>> split_rendered("<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\nWell,\\n")
    ('Hi', 'Well,\\n')
    """
    for opener in _OPENERS:
        at = prompt.rfind(opener)
        if at >= 0:
            users = [m["content"] for m in as_prompt(prompt[:at]).messages if m["role"] == "user"]
            return (users[-1] if users else ""), prompt[at + len(opener):]
    return prompt, ""


@dataclass
class Reply:
    """What the engine generates for one request: the text, why it ended, its tokens and the request's kind."""

    text: str
    finish_reason: str
    tokens: int
    prompt_tokens: int
    kind: str


class BadRequest(ValueError):
    """A request the server refuses (HTTP 400)."""


def tokens_of(text: str) -> int:
    return max(1, round(count_words(text) * TOKENS_PER_WORD))


def complete(body: dict, chat: bool) -> Reply:
    """The answer to one /v1/chat/completions (`chat`) or /v1/completions request body."""
    if chat:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("messages must be a non-empty list")
        users = [m.get("content", "") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        user, prefill, whole = (users[-1] if users else ""), "", json.dumps(messages)
    else:
        whole = body.get("prompt")
        whole = whole[0] if isinstance(whole, list) and whole else whole
        if not isinstance(whole, str):
            raise BadRequest("prompt must be a string")
        user, prefill = split_rendered(whole)
    key = body["seed"] if isinstance(body.get("seed"), int) else zlib.crc32(whole.encode())
    kind, language, set_name, fields = classify(user)
    rng = random.Random(f"{kind}:{key}")  # lengths: from the seed alone
    writer = Writer(random.Random(f"{kind}:{key}:{zlib.crc32(user.encode())}"), language)
    text = _write(kind, set_name, fields, user, prefill, rng, writer)
    text, _ = cut_at_stop(text, tuple(s for s in body.get("stop") or () if isinstance(s, str) and s))
    text, finish = _within(text, body.get("max_tokens"))
    return Reply(text, finish, tokens_of(text) if finish == "stop" else int(body["max_tokens"]),
                 tokens_of(whole), kind)


def _write(kind, set_name, fields, user, prefill, rng, writer) -> str:
    if kind == "judge":
        return ("是" if writer.language == "zh" else "yes") if set_name == "paper" else \
            ("是。" if writer.language == "zh" else "Yes.")
    if kind == "instruction":
        text = writer.instruction(lognormal(rng, MEDIAN_INSTRUCTION_WORDS))
        stop = next_number_stop(Prompt.user("", prefill=prefill))
        return text + (f"{stop[0]}: {writer.instruction(MEDIAN_INSTRUCTION_WORDS)}" if stop else "")
    if kind == "expand":
        factor = rng.uniform(*EXPANSION)
        for _ in range(5):  # a repeated n-gram is all but impossible; should one occur, write it again
            if prefill:
                text = continuation(fields["response"], prefill, factor, writer)
            else:
                text = expand_paragraphs(paragraphs_of(fields["response"]), factor, writer)
            if repeated_ngram(prefill + text, writer.language) is None:
                return text
        return text
    return writer.prose(lognormal(rng, MEDIAN_ANSWER_SENTENCES))


def _within(text: str, max_tokens) -> tuple[str, str]:
    """The text cut to `max_tokens` (finish_reason 'length') when it is longer, as an engine cuts it."""
    if not isinstance(max_tokens, int) or max_tokens <= 0 or tokens_of(text) <= max_tokens:
        return text, "stop"
    keep = int(len(text) * max_tokens / tokens_of(text))
    return text[:keep], "length"


def openai_answer(reply: Reply, model: str, chat: bool) -> dict:
    choice = {"index": 0, "finish_reason": reply.finish_reason}
    choice.update({"message": {"role": "assistant", "content": reply.text}} if chat else {"text": reply.text})
    return {"id": f"sim-{zlib.crc32(reply.text.encode()):08x}", "object": "chat.completion" if chat else
            "text_completion", "created": int(time.time()), "model": model, "choices": [choice],
            "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.tokens,
                      "total_tokens": reply.prompt_tokens + reply.tokens}}


# ---- the server ----

@dataclass
class Stats:
    """What the engine did: requests, tokens, slot-seconds held, time queued for a slot, the most in flight."""

    requests: int = 0
    completion_tokens: int = 0
    prompt_tokens: int = 0
    busy_slot_seconds: float = 0.0
    queued_seconds: float = 0.0
    truncated: int = 0
    truncated_tokens: int = 0  # tokens of answers cut at max_tokens (a retried one is decoded again)
    in_flight: int = 0
    peak_in_flight: int = 0
    kinds: dict = field(default_factory=dict)  # requests per kind
    busy_by_kind: dict = field(default_factory=dict)  # slot-seconds per kind
    window_by_kind: dict = field(default_factory=dict)  # kind -> [first slot taken, last given back] (monotonic)
    first_start: float | None = None  # time.monotonic() of the first slot taken
    last_end: float | None = None  # ... and of the last one given back

    def to_dict(self) -> dict:
        data = asdict(self)
        data["active_seconds"] = (self.last_end - self.first_start) if self.requests else 0.0
        return data


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the listen backlog: a burst of connections must not wait out a SYN retry

    def __init__(self, address, slots: int, seconds_per_token: float, model: str = "sim"):
        super().__init__(address, Handler)
        self.slots, self.seconds_per_token, self.model = slots, seconds_per_token, model
        self.stats = Stats()
        self._free = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def generate(self, reply: Reply) -> None:
        """Wait for a slot and hold it while the reply's tokens are 'decoded'."""
        asked = time.monotonic()
        with self._free:
            start = time.monotonic()
            with self._lock:
                s = self.stats
                s.in_flight += 1
                s.peak_in_flight = max(s.peak_in_flight, s.in_flight)
                s.first_start = start if s.first_start is None else s.first_start
            time.sleep(reply.tokens * self.seconds_per_token)
            end = time.monotonic()
            with self._lock:
                s.in_flight -= 1
                s.requests += 1
                s.completion_tokens += reply.tokens
                s.prompt_tokens += reply.prompt_tokens
                s.busy_slot_seconds += end - start
                s.queued_seconds += start - asked
                s.truncated += reply.finish_reason == "length"
                s.truncated_tokens += reply.tokens if reply.finish_reason == "length" else 0
                s.kinds[reply.kind] = s.kinds.get(reply.kind, 0) + 1
                s.busy_by_kind[reply.kind] = s.busy_by_kind.get(reply.kind, 0.0) + end - start
                window = s.window_by_kind.setdefault(reply.kind, [start, end])
                window[0], window[1] = min(window[0], start), max(window[1], end)
                s.last_end = end

    def stats_dict(self) -> dict:
        with self._lock:
            return {"slots": self.slots, "seconds_per_token": self.seconds_per_token, **self.stats.to_dict()}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses its connections
    server: SimServer

    def log_message(self, format, *args) -> None:  # one line per request would drown the benchmark's output
        pass

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": self.server.model, "object": "model"}]})
        elif path in ("/stats", "/v1/stats"):
            self._send(200, self.server.stats_dict())
        elif path == "/health":
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"error": {"message": f"no route {path}"}})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        if path not in ("/v1/chat/completions", "/v1/completions"):
            return self._send(404, {"error": {"message": f"no route {path}"}})
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
            if not isinstance(body, dict):
                raise BadRequest("the body must be a JSON object")
            reply = complete(body, chat=path.endswith("chat/completions"))
        except (ValueError, BadRequest) as e:  # JSONDecodeError is a ValueError
            return self._send(400, {"error": {"message": str(e)}})
        self.server.generate(reply)
        self._send(200, openai_answer(reply, body.get("model") or self.server.model, path.endswith("chat/completions")))

    def _send(self, status: int, data: dict) -> None:
        send_json(self, status, data)


def send_json(handler: BaseHTTPRequestHandler, status: int, payload) -> None:
    """Answer a request with `payload` as JSON (also the tests' stand-in servers' reply, tests/servers.py)."""
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def start_server(slots: int, seconds_per_token: float, port: int = 0, model: str = "sim") -> tuple[SimServer, str]:
    """A running server on 127.0.0.1 (a free port by default) in a daemon thread, and its base URL (.../v1)."""
    server = SimServer(("127.0.0.1", port), slots, seconds_per_token, model)
    threading.Thread(target=server.serve_forever, name=f"simserver-{server.server_address[1]}", daemon=True).start()
    return server, server.url


def stop_server(server: SimServer) -> None:
    server.shutdown()
    server.server_close()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--slots", type=int, default=64, help="requests decoded at once (the engine's batch)")
    parser.add_argument("--seconds-per-token", type=float, default=0.0002, help="decode time of one token")
    parser.add_argument("--model", default="sim", help="the name GET /v1/models lists (any name is answered)")
    args = parser.parse_args(argv)
    server = SimServer(("127.0.0.1", args.port), args.slots, args.seconds_per_token, args.model)
    print(f"simulated engine at {server.url}: {args.slots} slots, {args.seconds_per_token * 1000:g} ms/token",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
