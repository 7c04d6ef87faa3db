"""What every tab shares: the studio context (store, database path, job worker) and small helpers."""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from selflengthen.errors import InputError
from selflengthen.shapes import Store
from ui.worker import Worker


@dataclass
class Studio:
    """The composition root's parts, handed to every tab builder."""

    store: Store
    db_path: Path
    worker: Worker
    auth: bool = False


CURATOR_COOKIE = "selflengthen_curator"  # a display name a curator gives without --auth (Review tab)
MAX_NAME = 40


def user_of(request: gr.Request | None) -> str:
    """The logged-in curator (with --auth); without a login, the display name this browser gave (a cookie the
    Review tab sets); else '' (decisions then carry no user). A login always wins over a name."""
    if request is None:
        return ""
    username = getattr(request, "username", None)
    if username:
        return username
    try:
        cookies = request.cookies or {}
    except (AttributeError, KeyError, TypeError):  # a request object without cookies (tests, API calls)
        return ""
    return display_name(cookies.get(CURATOR_COOKIE, ""))


def display_name(text) -> str:
    """A curator's display name as stored: URL-decoded, one line of printable text, at most MAX_NAME characters.

    >>> display_name("Ann%20Lee"), display_name(" x  y "), display_name(None)
    ('Ann Lee', 'x y', '')
    """
    from urllib.parse import unquote

    name = " ".join(unquote(str(text or "")).split())
    return "".join(ch for ch in name if ch.isprintable())[:MAX_NAME]


def run_names(store: Store) -> list[str]:
    return [r["name"] for r in store.list_runs()]


def escape(text) -> str:
    """Model text made inert for gr.HTML: every <, >, &, quote escaped.

    >>> escape('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    """
    return html.escape("" if text is None else str(text), quote=True)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~])")


_IMAGE = re.compile(r"!\[([^\]]*)\]")  # the start of a Markdown image, inline or by reference


def curator_markdown(text: str) -> str:
    r"""Markdown a curator wrote, shown to the others: formatting and links stay, but nothing loads by itself --
    an image becomes a link to it (no tracking pixel, no remote resource) and HTML shows as text.

    >>> curator_markdown('**Accept** on topic ![pixel](http://x/p.gif) <img src="http://x/q.gif">')
    '**Accept** on topic [image: pixel](http://x/p.gif) &lt;img src="http://x/q.gif"&gt;'
    """
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _IMAGE.sub(lambda m: f"[image: {m.group(1) or 'no description'}]", text)


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


def md_code(text) -> str:
    """Text shown literally as inline code (backslash escapes do not work inside backticks, so a backtick in
    the text becomes a quote rather than ending the span).

    >>> md_code("data/my_run`s export")
    "`data/my_run's export`"
    """
    return "`" + str(text).replace("`", "'") + "`"


