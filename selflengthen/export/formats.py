"""Row builders of the export formats, and the length statistics an export reports. Pure data, cheap to import.

Every format's rows end with the same `provenance` column (fixed keys, so every format has one schema):
which run, iteration and sample the row came from, the models that produced it, its gate results (as a
JSON string, whose schema never varies), and the curator decision that let it in.
"""

from __future__ import annotations

import json

from selflengthen.runs.insights import mean_median
from selflengthen.shapes import Iteration, Sample
from selflengthen.training.data import extender_rows

FORMATS = ("messages", "prompt-completion", "alpaca", "sharegpt", "extender", "dpo")
PROVENANCE_KEYS = ("run", "iteration", "sample_id", "generator_checkpoint", "extender_checkpoint", "gates",
                   "curator", "decided_at", "edited")
# The data columns of each format, before `provenance` (the dataset card describes them).
COLUMNS = {
    "messages": {"messages": "the user turn (the instruction) and the assistant turn (the accepted text)"},
    "prompt-completion": {"prompt": "the user turn (the instruction), as a one-message list",
                          "completion": "the assistant turn (the accepted text), as a one-message list"},
    "alpaca": {"instruction": "the instruction", "input": "always empty",
               "output": "the accepted text"},
    "sharegpt": {"conversations": "a `human` turn (the instruction) and a `gpt` turn (the accepted text)"},
    "extender": {"prompt": "the expansion prompt around the initial response (every line kept)",
                 "completion": "the assistant turn (the accepted text)"},
    "dpo": {"prompt": "the user turn (the instruction)", "chosen": "the accepted text (assistant turn)",
            "rejected": "the initial response (assistant turn)"},
}


def provenance(run_name: str, iteration: Iteration, sample: Sample) -> dict:
    """Where an exported row came from (PROVENANCE_KEYS, in that order). The sample's gates may be a dict or
    already the JSON text the store keeps (sorted keys, the same text this would write).

    >>> p = provenance("r", {"idx": 1, "generator_checkpoint": "g", "extender_checkpoint": "e"},
    ...                {"sample_id": 7, "gates": {"filter": {"kept": True}}, "curator": "ann",
    ...                 "decided_at": "2026-01-01T00:00:00", "edited": False})
    >>> p["iteration"], p["sample_id"], p["gates"], p["edited"]
    (1, 7, '{"filter": {"kept": true}}', False)
    """
    gates = sample["gates"]
    return {"run": run_name, "iteration": iteration["idx"], "sample_id": sample["sample_id"],
            "generator_checkpoint": iteration["generator_checkpoint"],
            "extender_checkpoint": iteration["extender_checkpoint"],
            "gates": gates if isinstance(gates, str) else json.dumps(gates, ensure_ascii=False, sort_keys=True),
            "curator": sample["curator"], "decided_at": sample["decided_at"], "edited": bool(sample["edited"])}


def _user(instruction: str) -> dict:
    """The generator's prompt (`build_response_prompt`) as its one plain message, built directly: making
    100,000 Prompt objects took a tenth of a 100k-row export.

    >>> from selflengthen.method.generate import build_response_prompt
    >>> [_user(" Write. ")] == list(build_response_prompt(" Write. ").messages)
    True
    """
    return {"role": "user", "content": instruction.strip()}


def _assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


def _messages(s: dict) -> dict:
    return {"messages": [_user(s["instruction"]), _assistant(s["final_text"])]}


def _prompt_completion(s: dict) -> dict:
    return {"prompt": [_user(s["instruction"])], "completion": [_assistant(s["final_text"])]}


def _alpaca(s: dict) -> dict:
    return {"instruction": s["instruction"].strip(), "input": "", "output": s["final_text"]}


def _sharegpt(s: dict) -> dict:
    return {"conversations": [{"from": "human", "value": s["instruction"].strip()},
                              {"from": "gpt", "value": s["final_text"]}]}


def _dpo(s: dict) -> dict:
    return {"prompt": [_user(s["instruction"])],
            "chosen": [_assistant(s["final_text"])], "rejected": [_assistant(s["initial_response"])]}


_BUILDERS = {"messages": _messages, "prompt-completion": _prompt_completion, "alpaca": _alpaca,
             "sharegpt": _sharegpt, "dpo": _dpo}


def is_pair(sample: Sample) -> bool:
    """A DPO pair needs two different texts: a sample accepted without an expansion (its final text is its
    initial response) teaches no preference.

    >>> is_pair({"final_text": "Long.", "initial_response": "Short."}), is_pair({"final_text": "Same. ",
    ...                                                                          "initial_response": "Same."})
    (True, False)
    """
    return sample["final_text"].strip() != sample["initial_response"].strip()


def build_rows(fmt: str, samples: list[dict]) -> list[dict]:
    """The data columns of `fmt` for each sample (dpo: the caller leaves out samples that are no pair).

    >>> build_rows("alpaca", [{"instruction": " Write about tea. ", "final_text": "Tea is old."}])
    [{'instruction': 'Write about tea.', 'input': '', 'output': 'Tea is old.'}]
    >>> build_rows("sharegpt", [{"instruction": "Hi?", "final_text": "Hello."}])[0]["conversations"][1]
    {'from': 'gpt', 'value': 'Hello.'}
    """
    if fmt == "extender":  # the training code's own extender rows, with every line of the response kept
        return extender_rows(samples, line_keep=1.0)
    return [_BUILDERS[fmt](s) for s in samples]


def word_stats(values: list[int]) -> dict:
    """mean (rounded to 0.1), median, min and max of word counts; all None for none.

    >>> word_stats([10, 20, 60])
    {'mean': 30.0, 'median': 20, 'min': 10, 'max': 60}
    >>> word_stats([])
    {'mean': None, 'median': None, 'min': None, 'max': None}
    """
    mean, median = mean_median(values)
    return {"mean": mean, "median": median, "min": min(values, default=None), "max": max(values, default=None)}


def iteration_stats(exported: list[dict], skipped: int) -> dict:
    """Counts and length statistics of one iteration's exported samples."""
    return {"rows": len(exported), "edited": sum(1 for s in exported if s["edited"]), "skipped": skipped,
            "words": word_stats([s["final_words"] for s in exported]),
            "initial_words": word_stats([s["initial_words"] for s in exported])}
