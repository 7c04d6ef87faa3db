"""Processes started by tests: local servers (transformers serve, the dashboard) with a free port and a wait
until one answers, and commands killed with SIGKILL at a chosen moment."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request


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
