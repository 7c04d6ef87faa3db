"""What every real backend shares: the prompt text a model sees, and the seed each request gets.

All backends render a prompt the same way, so a prefilled answer (stage 2 of expansion) continues
the same text whether it runs in-process (transformers, vllm) or on a server (openai).
"""

from __future__ import annotations

import zlib

from selflengthen.backends.base import GenerationParams, Prompt
from selflengthen.errors import BackendError


def render_prompt(tokenizer, prompt: Prompt) -> str:
    """The chat template with the assistant turn opened, followed by the prefill the model continues.

    With a ChatML template, ``Prompt.user("Hi", prefill="Well,")`` renders as
    ``<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\nWell,``.
    """
    try:
        opened = tokenizer.apply_chat_template(list(prompt.messages), tokenize=False, add_generation_prompt=True)
    except ValueError as e:  # transformers raises ValueError when the tokenizer has no chat template
        raise BackendError(f"cannot apply the tokenizer's chat template: {first_line(e)}") from None
    return opened + prompt.prefill


def request_seed(prompt: Prompt, params: GenerationParams, index: int) -> int | None:
    """The seed of one request: the prompt's own, else the call's seed offset by the prompt's position.

    Offsetting keeps identical prompts in one call from getting identical samples.

    >>> request_seed(Prompt.user("a"), GenerationParams(seed=10), 2)
    12
    >>> request_seed(Prompt.user("a", seed=7), GenerationParams(seed=10), 2)
    7
    """
    if prompt.seed is not None:
        return prompt.seed
    return None if params.seed is None else params.seed + index


def batch_seed(prompts: list[Prompt], params: GenerationParams, index: int) -> int | None:
    """The seed of batch `index`, for backends that sample a whole batch from one generator.

    The call's seed offset by the batch index; without one, a hash of the prompts' own seeds
    (when they all have one), so a pipeline that seeds every prompt is still reproducible.

    >>> batch_seed([Prompt.user("a")], GenerationParams(seed=3), 1)
    4
    >>> batch_seed([Prompt.user("a")], GenerationParams(), 0) is None
    True
    """
    if params.seed is not None:
        return params.seed + index
    seeds = [p.seed for p in prompts]
    if seeds and all(s is not None for s in seeds):
        return zlib.crc32(repr(seeds).encode())
    return None


def cut_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    """(the text before the earliest stop string, whether one was found): what every backend returns, whether
    the engine stopped there itself (vLLM, OpenAI-compatible servers) or generated past it (transformers).

    >>> cut_at_stop("Done.\\n\\n---\\nNotes", ("---", "\\n\\n\\n"))
    ('Done.\\n\\n', True)
    >>> cut_at_stop("No rule here.", ("---",))
    ('No rule here.', False)
    """
    found = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[:min(found)], True) if found else (text, False)


def first_line(error: BaseException | str, limit: int = 300) -> str:
    """The first non-empty line of an error message, shortened: error messages here stay one line.

    >>> first_line(OSError("not found\\nlong details"))
    'not found'
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
