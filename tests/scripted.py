"""A scripted model for logic tests: answers each kind of pipeline prompt in a plausible, checkable way."""

from __future__ import annotations

import itertools
import random

from selflengthen.backends.base import Prompt
from selflengthen.backends.fake import ScriptedBackend

VOCABULARY = [f"topic{i}" for i in range(300)]


def make_responder(judge: str = "Yes.", response_suffix: str = "."):
    """A responder(prompt) -> reply; every new instruction differs enough from the others to be kept."""
    counter = itertools.count()

    def respond(prompt: Prompt):
        content = prompt.messages[-1]["content"]
        n = next(counter)
        if "Write one new instruction" in content:
            words = random.Random(n).sample(VOCABULARY, 8)
            return f"Write at length about {' '.join(words)}."
        if content.startswith("Here is an instruction"):
            return judge
        if content.startswith("A writer answered the request below"):
            if prompt.prefill:
                return " Plus a longer second part, with extra detail and one more example for the reader."
            return "An expanded first part, now with many more words, details and clear examples."
        return f"Answer {n} opens here with a point.\n\nAnswer {n} closes with another point{response_suffix}"

    return respond


def scripted_backend(**kwargs) -> ScriptedBackend:
    return ScriptedBackend(responder=make_responder(**kwargs))


def reviewed_run(store, name: str = "r", seeds: list[str] = ("Write about the sea.",
                                                            "Explain how cities grow over the centuries."),
                 n_instructions: int = 4, backend: ScriptedBackend | None = None) -> dict:
    """A run (demo preset) whose iteration 0 went through every step with a scripted model, ready for review."""
    from selflengthen.config import preset_config
    from selflengthen.stages.pipeline import STEPS, run_iteration

    config = preset_config("demo", {"augment": {"n_instructions": n_instructions}})
    run = store.create_run(name, "m", "m", "transformers", "demo", config.to_dict(),
                           [{"text": text, "language": "en"} for text in seeds])
    backend = backend or scripted_backend()
    run_iteration(store, run, store.latest_iteration(run["id"]), list(STEPS), factory=lambda *a: backend)
    return run
