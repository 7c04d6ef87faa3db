"""What every tab shares: the studio context (store, database path, job worker) and small helpers."""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from selflengthen.errors import InputError
from selflengthen.worker import Worker


@dataclass
class Studio:
    """The composition root's parts, handed to every tab builder."""

    store: object
    db_path: Path
    worker: Worker
    auth: bool = False


def user_of(request: gr.Request | None) -> str:
    """The logged-in curator (with --auth), else '' (decisions then carry no user)."""
    return (getattr(request, "username", None) or "") if request is not None else ""


def run_names(store) -> list[str]:
    return [r["name"] for r in store.list_runs()]


def escape(text) -> str:
    """Model text made inert for gr.HTML: every <, >, &, quote escaped.

    >>> escape('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    """
    return html.escape("" if text is None else str(text), quote=True)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~])")


def md_escape(text: str) -> str:
    r"""Plain text made literal in Markdown (no emphasis, links or tags from names and paths).

    >>> md_escape("my_run <b>")
    'my\\_run \\<b\\>'
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


def optional_whole(value, what: str) -> int | None:
    """A Number field as an optional whole number of at least 1 (empty means 'not given').

    >>> [optional_whole(v, "max new tokens") for v in (None, "", 16.0, "8")]
    [None, None, 16, 8]
    >>> optional_whole(2.5, "the item limit")
    Traceback (most recent call last):
    ...
    selflengthen.errors.InputError: the item limit must be a whole number of at least 1 (got 2.5)
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a whole number (got {value!r})") from None
    if not math.isfinite(number) or not number.is_integer() or number < 1:
        raise InputError(f"{what} must be a whole number of at least 1 (got {value})")
    return int(number)


def launch_lines(state: dict, label: str, job: dict | None, starting: str, what: str) -> list[str]:
    """What the worker knows that the job row cannot yet: the command of `label` still starting (no running
    job yet), or its failure before the job existed (an error the job row does not already show)."""
    if state["label"] != label:
        return []
    lines = []
    if state["running"] and (job is None or job["status"] != "running"):
        lines.append(starting)
    if state["error"] and (job is None or state["error"] not in (job["error"] or "")):
        lines.append(f"The last {what} command failed: {md_escape(state['error'])}")
    return lines


def md_code(text) -> str:
    """Text shown literally as inline code (backslash escapes do not work inside backticks, so a backtick in
    the text becomes a quote rather than ending the span).

    >>> md_code("data/my_run`s export")
    "`data/my_run's export`"
    """
    return "`" + str(text).replace("`", "'") + "`"


def format_seconds(seconds: float | None) -> str:
    """A short duration for progress lines.

    >>> [format_seconds(s) for s in (None, 42, 125, 7300)]
    ['-', '42 s', '2 min 5 s', '2 h 1 min']
    """
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
