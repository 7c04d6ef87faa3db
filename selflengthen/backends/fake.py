"""A scripted backend for logic tests: enqueue replies or give a responder function; inspect `history`.

>>> b = ScriptedBackend()
>>> b.enqueue("Hello.", "Bye.")
>>> [c.text for c in b.generate([Prompt.user("hi"), Prompt.user("go")], GenerationParams())]
['Hello.', 'Bye.']
>>> b.history[0].messages[0]["content"]
'hi'
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from selflengthen.backends.base import Backend, Completion, GenerationParams, Prompt
from selflengthen.errors import BackendError

Reply = str | Completion


class ScriptedBackend(Backend):
    name = "fake"

    def __init__(self, model: str = "fake", config=None, adapter: str | None = None,
                 responder: Callable[[Prompt], Reply] | None = None):
        self.model = model
        self.adapter = adapter
        self.responder = responder
        self.queue: deque[Reply] = deque()
        self.history: list[Prompt] = []
        self.calls = 0

    def enqueue(self, *replies: Reply) -> None:
        self.queue.extend(replies)

    def generate(self, prompts: list[Prompt], params: GenerationParams, written=None) -> list[Completion]:
        """The replies in order; `written` is told after each one, as a local model tells each finished row."""
        self.calls += 1
        out = []
        for prompt in prompts:
            self.history.append(prompt)
            if self.queue:
                reply = self.queue.popleft()
            elif self.responder is not None:
                reply = self.responder(prompt)
            else:
                raise BackendError("scripted backend has no reply queued")
            out.append(reply if isinstance(reply, Completion) else Completion(text=reply))
            if written is not None:
                written(len(out))
        return out

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model, "adapter": self.adapter}
