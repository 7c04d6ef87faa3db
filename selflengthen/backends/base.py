"""The one interface every model backend implements.

A backend turns chat prompts into completions. A prompt may carry a *prefill*: text the assistant's
answer must start with (stage 2 of expansion continues from the stage-1 expansion). Backends apply the
tokenizer's chat template with ``add_generation_prompt=True`` and append the prefill, so the model
continues it; the returned text is the continuation only, without the prefill.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Prompt:
    """One request: chat messages, optional assistant prefill, and an optional per-request seed."""

    messages: tuple[dict, ...]
    prefill: str = ""
    seed: int | None = None

    @classmethod
    def user(cls, content: str, prefill: str = "", seed: int | None = None) -> "Prompt":
        return cls(messages=({"role": "user", "content": content},), prefill=prefill, seed=seed)


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings of one generate() call."""

    max_new_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 0.8
    top_k: int = 20
    repetition_penalty: float = 1.1
    seed: int | None = None
    stop: tuple[str, ...] = ()  # generation ends before the first of these strings; it is not in the text

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


@dataclass(frozen=True)
class Completion:
    """The continuation a backend produced. finish_reason: 'stop' (ended by itself) or 'length' (cut off)."""

    text: str
    finish_reason: str = "stop"
    n_tokens: int = 0
    error: str | None = field(default=None)

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


class Backend(ABC):
    """Generate completions for a batch of prompts; output i answers prompt i.

    A *streaming* backend (a server behind HTTP) also answers one request at a time from many threads
    (`answer`), so a scheduler keeps `concurrency` requests in flight; the others get waves of prompts
    through `generate` (a local model batches them itself).
    """

    name: str = "base"
    streaming: bool = False
    whole_stage: bool = False  # schedules any number of prompts itself (vLLM): give it every ready one at once
    # A backend whose generate() also takes `written` (a callback told how many of the call's requests are finished
    # each time another one is) lets a stage's progress move within a wave (see stages.common.generate_wave).

    @abstractmethod
    def generate(self, prompts: list[Prompt], params: GenerationParams) -> list[Completion]:
        """Answer every prompt. Must return exactly len(prompts) completions, in order."""

    def answer(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """One request (thread-safe on a streaming backend); a request that failed for good comes back with
        `error` set, and a backend that cannot answer at all raises BackendError."""
        return self.generate([prompt], params)[0]

    @property
    def concurrency(self) -> int:
        """Requests a scheduler keeps in flight on a streaming backend."""
        return 1

    def shares_endpoints(self, other: "Backend") -> bool:
        """Whether `other` sends its requests to the same servers and slots (a scheduler counts them once)."""
        return other is self

    def stats(self) -> list[dict]:
        """Per-endpoint figures of a served backend ({"url", "in_flight", "done", "failed", "up"}); [] otherwise."""
        return []

    def close(self) -> None:
        """Release the model (GPU memory, HTTP clients). Safe to call twice."""

    def describe(self) -> dict:
        """What produced the outputs (backend, model, adapter), stored with each iteration."""
        return {"backend": self.name}
