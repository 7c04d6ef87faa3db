"""One chat reply from a model or a trained checkpoint, in-process: what `chat` and the dashboard's "try it" run.

Loading a model takes seconds; a chat takes many turns. The last model loaded stays in a small module-level
cache, so the next turn with the same model only generates. `release()` frees it (the dashboard does so
before it starts training, which needs the memory and the cores).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from selflengthen.errors import BackendError, InputError

ROLES = ("system", "user", "assistant")
MAX_NEW_TOKENS_LIMIT = 32768

_lock = threading.Lock()  # one generation at a time, and the cache changes under it
_cached: dict = {"key": None, "backend": None}


def chat_reply(model: str, messages: list[dict], *, max_new_tokens: int = 256, temperature: float = 0.7,
               seed: int = 0, backend: str = "transformers") -> str:
    """The model's answer to the conversation `messages` ([{role, content}], ending with the user's turn).

    `model` is a model directory, a hub id, or a LoRA adapter directory (loaded on its own base model).
    The same model, messages and seed give the same reply.
    """
    from selflengthen.backends import GenerationParams, Prompt

    prompt = Prompt(messages=tuple(check_messages(messages)))
    params = GenerationParams(max_new_tokens=check_max_new_tokens(max_new_tokens),
                              temperature=check_temperature(temperature), seed=int(seed))
    with _lock:
        [completion] = _loaded(model, backend).generate([prompt], params)
    if completion.error:
        raise BackendError(f"the model could not answer: {completion.error}")
    return completion.text.strip()


def alternating_turns(texts: list[str]) -> list[dict]:
    """The CLI's repeated --message: yours, the model's, yours, ... ending with yours.

    >>> [m["role"] for m in alternating_turns(["Hi.", "Hello!", "Tell me more."])]
    ['user', 'assistant', 'user']
    >>> alternating_turns(["Hi.", "Hello!"])
    Traceback (most recent call last):
    ...
    selflengthen.errors.InputError: --message alternates yours and the model's and ends with yours (got 2)
    """
    if len(texts) % 2 == 0:
        raise InputError(f"--message alternates yours and the model's and ends with yours (got {len(texts)})")
    return [{"role": ("user", "assistant")[i % 2], "content": text} for i, text in enumerate(texts)]


def check_messages(messages) -> list[dict]:
    """The conversation as plain {role, content} dicts, refused with one line when malformed.

    >>> check_messages([{"role": "user", "content": "hi", "metadata": {}}])
    [{'role': 'user', 'content': 'hi'}]
    """
    if not isinstance(messages, list) or not messages:
        raise InputError("the conversation is empty: write a message first")
    clean = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise InputError(f"message {i + 1} must have a role ({', '.join(ROLES)}) and a text content")
        clean.append({"role": m["role"], "content": m["content"]})
    if clean[-1]["role"] != "user" or not clean[-1]["content"].strip():
        raise InputError("the conversation must end with a non-empty user message")
    return clean


def check_max_new_tokens(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or not (
            1 <= value <= MAX_NEW_TOKENS_LIMIT):
        raise InputError(f"max new tokens must be a whole number from 1 to {MAX_NEW_TOKENS_LIMIT} (got {value!r})")
    return int(value)


def check_temperature(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value <= 5):
        raise InputError(f"temperature must be a number from 0 (greedy) to 5 (got {value!r})")
    return float(value)


def model_and_adapter(model: str) -> tuple[str, str | None]:
    """(model to load, adapter on top): a LoRA adapter directory (adapter_config.json, no config.json) is
    loaded on the base model its config names; anything else is loaded as it is."""
    path = Path(model).expanduser()
    adapter_config = path / "adapter_config.json"
    if not adapter_config.is_file() or (path / "config.json").is_file():
        return model, None
    try:
        base = json.loads(adapter_config.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, json.JSONDecodeError) as e:
        raise BackendError(f"cannot read {adapter_config}: {e}") from None
    if not base:
        raise BackendError(f"{adapter_config} names no base model (base_model_name_or_path)")
    return base, str(path)


def _loaded(model: str, backend: str):
    """The backend for (backend, model), reusing the cached one; a different model replaces it."""
    from selflengthen.backends import create_backend
    from selflengthen.config import BACKEND_NAMES, BackendConfig

    if not isinstance(model, str) or not model.strip():
        raise InputError("choose a model: a model directory, a checkpoint or a hub id")
    key = (backend, model.strip())
    if _cached["key"] != key:
        _release_locked()
        base, adapter = model_and_adapter(model.strip())
        config = BackendConfig(name=backend, batch_size=1) if backend in BACKEND_NAMES else BackendConfig(batch_size=1)
        _cached["backend"] = create_backend(backend, base, config, adapter)
        _cached["key"] = key
    return _cached["backend"]


def loaded_model() -> str | None:
    """The model the cache holds (None when empty)."""
    return _cached["key"][1] if _cached["key"] else None


def generating() -> bool:
    """True while a reply is being generated (training should not start meanwhile)."""
    return _lock.locked()


def release() -> None:
    """Free the cached model (waits for a reply being generated)."""
    with _lock:
        _release_locked()


def _release_locked() -> None:
    if _cached["backend"] is not None:
        _cached["backend"].close()
    _cached["key"], _cached["backend"] = None, None
