"""The command line as a user runs it, from tests: `python -m selflengthen ...` in a real subprocess."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

from paths import ROOT


def cli(*args, check=False, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "selflengthen", *map(str, args)], capture_output=True,
                            text=True, cwd=ROOT, env=env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}: {result.stderr[-2000:]}")
    return result


def start(*args) -> subprocess.Popen:
    """The command running in the background (to kill it at a chosen moment)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "selflengthen", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def dump(db) -> list[str]:
    """Everything in the database, for before/after comparisons."""
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return list(conn.iterdump())
