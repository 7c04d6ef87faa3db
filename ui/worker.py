"""The dashboard's one job worker: runs the CLI's own commands in a subprocess, one chain at a time.

Every long action the UI offers is the command-line twin run as `python -m selflengthen ...`, so the
exact command can be shown and re-run by hand. The commands write durable progress to the store (the UI
polls that); the worker only keeps what the store cannot know yet: the command being started, and the
output of one that failed before it created its job row (a bad argument, a missing model).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import deque
from pathlib import Path

from selflengthen.errors import InputError
from selflengthen.jobs.commands import shown
from selflengthen.shapes import Store

TAIL_LINES = 200
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Worker:
    """Runs chains of commands (e.g. train, then iterate) one command at a time, one chain at a time."""

    def __init__(self, store: Store, cwd: str | None = None):
        self.store, self.cwd = store, cwd
        self._lock = threading.Lock()
        self._proc_lock = threading.Lock()  # cancel and process start never interleave
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._cancel = False
        self.label, self.commands, self.step = "", [], 0
        self.output: deque[str] = deque(maxlen=TAIL_LINES)
        self.returncode: int | None = None  # of the last command run
        self.error = ""
        self.started_at: float | None = None
        self.finished_at: float | None = None

    def busy_reason(self) -> str | None:
        """Why nothing can start now (a chain of ours, or a live job of any process), else None."""
        live = self.store.live_jobs()
        job = live[0] if live else None
        running = f"job {job['id']} ({job['kind']}) of run '{job['run_name']}' is running" if job else None
        if self._thread is not None and self._thread.is_alive():
            # One job and one command, the same: the store's live job when it has started, else the chain's step.
            step = f", step {self.step + 1} of {len(self.commands)}" if len(self.commands) > 1 else ""
            what = running or f"'{self.label}' is starting"
            command = job["command"] if job and job.get("command") else shown(self.commands[self.step])
            return f"{what} ('{self.label}'{step}): {command}"
        if job:
            return f"{running} (pid {job['pid']}): {job.get('command') or 'started by another process'}"
        return None

    def launch(self, label: str, commands: list[list[str]]) -> None:
        """Start the chain in the background; refuses while anything else runs."""
        with self._lock:
            reason = self.busy_reason()
            if reason:
                raise InputError(f"cannot start '{label}': {reason}")
            self.label, self.commands, self.step = label, commands, 0
            self.output.clear()
            self.returncode, self.error, self._cancel = None, "", False
            self.started_at, self.finished_at = time.time(), None
            self._thread = threading.Thread(target=self._run_chain, name=f"worker:{label}", daemon=True)
            self._thread.start()

    def cancel(self) -> list[int]:
        """Stop after the current command and ask every live job to stop (cooperatively, so training keeps
        a loadable checkpoint); a command that has no job row yet is terminated. Returns the job ids asked."""
        with self._proc_lock:
            self._cancel = True
            proc = self._proc
        jobs = self.store.live_jobs()
        for job in jobs:
            self.store.request_cancel(job["id"])
        if not jobs and proc is not None and proc.poll() is None:
            proc.terminate()
        return [job["id"] for job in jobs]

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the chain to end; True when it has."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def state(self) -> dict:
        """What the UI shows about the chain (plain data)."""
        running = self._thread is not None and self._thread.is_alive()
        return {
            "label": self.label, "running": running, "step": self.step, "steps": len(self.commands),
            "command": shown(self.commands[self.step]) if self.commands else "",
            "commands": [shown(c) for c in self.commands], "returncode": self.returncode,
            "error": self.error, "output": "\n".join(self.output), "cancelled": self._cancel,
            "started_at": self.started_at, "finished_at": self.finished_at,
        }

    def _run_chain(self) -> None:
        try:
            for i, command in enumerate(self.commands):
                self.step = i
                self.returncode = self._run(command)
                if self.returncode is None:
                    self.error = "cancelled before this step started"
                    break
                if self.returncode != 0:
                    self.error = _last_error(self.output) or f"exited with code {self.returncode}"
                    break
        except OSError as e:  # the interpreter itself could not start
            self.returncode, self.error = -1, f"could not start: {e}"
        finally:
            self.finished_at = time.time()

    def _run(self, command: list[str]) -> int | None:
        """Run one command to its end; None when the chain was cancelled before it started."""
        # The commands run in the app's working directory (relative paths mean what the user meant) and
        # import this project wherever that is.
        path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}
        with self._proc_lock:
            if self._cancel:
                return None
            self.output.append(f"$ {shown(command)}")
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    bufsize=1, cwd=self.cwd, env=env, errors="replace")
            self._proc = proc
        for line in proc.stdout:
            # Progress bars redraw with carriage returns: keep the last redraw of each line.
            self.output.append(line.rstrip("\n").split("\r")[-1])
        return proc.wait()


def _last_error(lines) -> str:
    """The CLI's one-line `error: ...` message, if the output has one.

    >>> _last_error(["$ python -m selflengthen iterate", "error: no run named 'x' in db"])
    "no run named 'x' in db"
    """
    for line in reversed(list(lines)):
        if line.startswith("error: "):
            return line[len("error: "):]
    return ""
