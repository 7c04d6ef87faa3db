"""Model references: a local directory or a hub id. Local paths are checked before anything is stored."""

from __future__ import annotations

import re
from pathlib import Path

from selflengthen.errors import InputError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def looks_like_path(model: str) -> bool:
    """True for references that can only be a filesystem path.

    >>> looks_like_path("./demo-model"), looks_like_path("Qwen/Qwen2.5-7B-Instruct")
    (True, False)
    """
    return model.startswith(("/", "./", "../", "~")) or not _HUB_ID.match(model)


def check_model(model: str, backend: str) -> str:
    """The model reference, checked: an existing model directory, or (for remote use) a hub id / served name."""
    if not model.strip():
        raise InputError("model must not be empty")
    path = Path(model).expanduser()
    if path.exists():
        if backend != "openai" and not (path / "config.json").exists():
            raise InputError(f"model path {model} has no config.json: not a transformers model directory")
        return str(path.resolve())
    if looks_like_path(model):
        raise InputError(f"model path not found: {model}")
    return model
