"""Processes started by tests: local servers (transformers serve, the dashboard) with a free port and a wait
until one answers, commands killed with SIGKILL at a chosen moment, and a small OpenAI-compatible server in a
thread that can crash and come back."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.simserver import send_json  # noqa: F401 (the stand-in servers' reply; tests import it from here)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, what: str, limit: float = 60.0) -> None:
    """Return once `url` answers 200; fail early if the server process exits, or after `limit` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:  # refused, reset, or an HTTP error status: not up yet
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} not up at {url} after {limit:.0f} s")


def kill_when(proc: subprocess.Popen, moment, deadline: float = 120, every: float = 0.005) -> bool:
    """SIGKILL `proc` as soon as moment() is true (checked every `every` s); False when the process ended (or
    time ran out) first."""
    start_at = time.monotonic()
    try:
        while proc.poll() is None and time.monotonic() - start_at < deadline:
            if moment():
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(every)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class StubOpenAIServer:
    """/v1/chat/completions in a thread: answers "<name>: <last message>" after `delay` seconds (HTTP 500 when
    `refuse(message)` is true), and counts the requests it got, answered and held at once (`max_active`). stop()
    is a crash: requests in flight are dropped without a reply and new connections refused; start() serves
    again on the same port."""

    def __init__(self, name: str, delay: float = 0.0):
        self.name, self.delay, self.port = name, delay, free_port()
        self.refuse = lambda message: False
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.lock = threading.Lock()
        self.received = self.answered = self.active = self.max_active = 0
        self.start()

    def start(self) -> None:
        self.stopping = threading.Event()  # one per life: a request remembers the life it arrived in
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self):
        server, stopping = self, self.stopping

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.received += 1
                    server.active += 1
                    server.max_active = max(server.max_active, server.active)
                crashed = stopping.wait(server.delay)
                with server.lock:  # no longer held before the reply goes out: the client may send the next at once
                    server.active -= 1
                    server.answered += not crashed
                if crashed:
                    self.close_connection = True  # no reply
                    return
                message = body["messages"][-1]["content"]
                status, reply = (500, {"error": {"message": "cannot answer this"}}) if server.refuse(message) else (
                    200, {"choices": [{"message": {"role": "assistant", "content": f"{server.name}: {message}"},
                                       "finish_reason": "stop"}], "usage": {"completion_tokens": 2}})
                send_json(self, status, reply)

            def log_message(self, *args):
                pass

        return Handler
