"""The generate stage's pure piece: the prompt that asks the generator for an initial response."""

from __future__ import annotations

from selflengthen.backends.base import Prompt
from selflengthen.method.templates import as_prompt, bundled, fill


def build_response_prompt(instruction: str, seed: int | None = None, template: str | None = None) -> Prompt:
    """The generator's prompt: by default the instruction itself as the user turn (`template`: the run's generate
    template, {prompt} standing for the instruction).

    >>> build_response_prompt("  Write about tea. ").messages
    ({'role': 'user', 'content': 'Write about tea.'},)
    """
    return as_prompt(fill(template or bundled("default")["generate"], prompt=instruction.strip()), seed=seed)
