"""The generate stage's pure piece: the prompt that asks the generator for an initial response."""

from __future__ import annotations

from selflengthen.backends.base import Prompt


def build_response_prompt(instruction: str, seed: int | None = None) -> Prompt:
    """The generator's prompt: the instruction itself as the user turn."""
    return Prompt.user(instruction.strip(), seed=seed)
