"""The LLM judge: its prompt, and the parser on well-formed and captured-looking malformed outputs."""

import json

import pytest

from selflengthen.errors import InputError
from selflengthen.evaluation.judge import DIMENSIONS, JudgeParseError, build_judge_prompt, parse_judge_output

SCORES = dict(zip(DIMENSIONS, (8, 7, 9, 8, 6, 5, 7)))
PLAIN = json.dumps(SCORES)


def test_the_prompt_names_every_dimension_and_asks_for_json():
    prompt = build_judge_prompt("  Write about the sea.\n", "The sea is wide.")
    text = prompt.messages[0]["content"]
    assert prompt.messages[0]["role"] == "user" and prompt.prefill == ""
    assert all(f"- {d}:" in text for d in DIMENSIONS)
    assert "[Request]\nWrite about the sea.\n\n[Answer]\nThe sea is wide." in text
    assert "1 (very poor) to 10 (excellent)" in text and "JSON object" in text
    example = json.loads(text[text.rindex("{"):])
    assert list(example) == list(DIMENSIONS)


@pytest.mark.parametrize("output", [
    PLAIN,
    f"```json\n{PLAIN}\n```",
    f"```\n{PLAIN}\n```\n",
    f"Here is my evaluation of the answer:\n\n{PLAIN}\n\nOverall a solid piece of writing.",
    f"评分如下：{PLAIN}。",
    json.dumps({d.lower(): v for d, v in SCORES.items()}),
    json.dumps({d.upper(): str(v) for d, v in SCORES.items()}),
    json.dumps({f" {d} ": f"{v}/10" for d, v in SCORES.items()}),
    json.dumps({d: f"{v} / 10" for d, v in SCORES.items()}),
    json.dumps({d: float(v) for d, v in SCORES.items()}),
    json.dumps({d: f"{v}.0" for d, v in SCORES.items()}),
    json.dumps({d: {"score": v, "reason": "fine"} for d, v in SCORES.items()}),
    json.dumps({"scores": SCORES, "comment": "good"}),
    json.dumps({**SCORES, "Comment": "Vivid, but the ending is rushed."}),
    PLAIN.replace("}", ",\n}"),                       # a trailing comma
    str(SCORES),                                      # a Python dict: single quotes
    'Example format: {"a": 1}. My scores: ' + PLAIN,  # an object without scores comes first
    "{\n  " + ",\n  ".join(f'"{d}": {v}' for d, v in SCORES.items()) + "\n}",
])
def test_readable_outputs(output):
    assert parse_judge_output(output) == SCORES


def test_halves_round_up_and_bounds_are_inclusive():
    scores = parse_judge_output(json.dumps({**SCORES, "Relevance": 7.5, "Clarity": 10, "Creativity": 1}))
    assert (scores["Relevance"], scores["Clarity"], scores["Creativity"]) == (8, 10, 1)
    assert all(type(v) is int for v in scores.values())


@pytest.mark.parametrize("output, reason", [
    ("", "empty output"),
    ("   \n\t", "empty output"),
    ("I think this answer is quite good overall. Relevance: 8, Coherence: 7.", "no JSON object found"),
    ("The scores are [8, 7, 9, 8, 6, 5, 7].", "no JSON object found"),
    ('{"Relevance": 8, "Coherence": 7, "Accuracy": 9, "Consis', "cut off"),
    ('```json\n{"Relevance": 8, "Coherence": 7,\n', "cut off"),
    (json.dumps({k: v for k, v in SCORES.items() if k != "Accuracy"}), "missing Accuracy"),
    ('{"Relevance": 8}', "missing Coherence, Accuracy, Consistency, Clarity, Creativity, Engagement"),
    ('{"quality": 8, "style": 7}', "none of the dimensions"),
    (json.dumps({**SCORES, "Clarity": 11}), "Clarity score 11 is outside 1-10"),
    (json.dumps({**SCORES, "Relevance": 0}), "Relevance score 0 is outside 1-10"),
    (json.dumps({**SCORES, "Relevance": -3}), "outside 1-10"),
    (json.dumps({**SCORES, "Engagement": "11/10"}), "outside 1-10"),
    (json.dumps({**SCORES, "Coherence": "eight"}), "Coherence is not a number \\('eight'\\)"),
    (json.dumps({**SCORES, "Coherence": None}), "Coherence is not a number"),
    (json.dumps({**SCORES, "Coherence": True}), "Coherence is not a number"),
    (json.dumps({**SCORES, "Coherence": [8]}), "Coherence is not a number"),
    (json.dumps({**SCORES, "Coherence": "8 out of 5"}), "Coherence is not a number"),
    (PLAIN.replace("8", "NaN", 1), "not a number"),
    ("<|im_start|>assistant\nThe sea is wide and deep.<|im_end|>", "no JSON object found"),
])
def test_unreadable_outputs_are_refused_with_a_reason(output, reason):
    with pytest.raises(JudgeParseError, match=reason) as caught:
        parse_judge_output(output)
    assert isinstance(caught.value, InputError) and "\n" not in str(caught.value)


def test_huge_or_brace_heavy_outputs_are_refused_quickly():
    import time

    start = time.perf_counter()
    for output in ("{" * 20_000, "{'a': " * 5_000, "x" * 1_000_000 + PLAIN):
        with pytest.raises(JudgeParseError):
            parse_judge_output(output)
    assert time.perf_counter() - start < 5
