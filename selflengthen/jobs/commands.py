"""The processes of long work: the `python -m selflengthen ...` command lines, how they are shown (one way,
everywhere: the dashboard, job rows, the log), and whether a process still runs."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path


def cli_command(*args: str) -> list[str]:
    """The argument list of a `python -m selflengthen` command run with this interpreter.

    >>> cli_command("status", "--db", "x.db")[1:]
    ['-m', 'selflengthen', 'status', '--db', 'x.db']
    """
    return [sys.executable, "-m", "selflengthen", *args]


def shown(command: list[str]) -> str:
    """A command as a user would type it (this interpreter's path shortened to `python`).

    >>> shown([sys.executable, "-m", "selflengthen", "iterate", "--name", "my run"])
    "python -m selflengthen iterate --name 'my run'"
    """
    head = ["python"] if command and command[0] == sys.executable else command[:1]
    return " ".join(shlex.quote(part) for part in head + command[1:])


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this id is running (this one included); no id means no process.

    >>> pid_alive(os.getpid()), pid_alive(None), pid_alive(0)
    (True, False, False)
    """
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by another user (EPERM)
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed process whose parent died too stays a zombie until something reaps it (in a container, often
    nothing does): it answers signals but runs no more."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (not Linux), or it is gone
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]
