"""Prompt wording and rendering: what the extender is asked, and how stage 2's prefill reaches the model."""

import pytest

from selflengthen.backends.chat import render_prompt
from selflengthen.method.expand import build_expand_prompt, join_stage2, stage2_prefill
from selflengthen.method.templates import bundled
from selflengthen.method.split import split_halves

TEXT = "The harbor wakes early.\n\nBoats leave at dawn.\n\nBy noon the market is full.\n\nEvening is quiet."


@pytest.mark.parametrize("language, musts", [
    ("en", ["much longer and richer", "Keep its order and its structure", "do not repeat yourself",
            "do not continue past the end"]),
    ("zh", ["更长、更丰富", "保持原有的顺序和结构", "不要重复", "不要在回答的结尾之后续写"]),
])
def test_extender_is_asked_to_enrich_not_continue(language, musts):
    content = build_expand_prompt("Describe a harbor.", TEXT, language).messages[0]["content"]
    for phrase in musts:
        assert phrase in bundled("default")[f"expand_{language}"] and phrase in content
    assert "Describe a harbor." in content and TEXT in content


def test_stage_prompts_carry_the_half_then_the_whole_with_the_prefill():
    first, separator, second = split_halves(TEXT)
    stage1 = build_expand_prompt("Describe a harbor.", first, "en")
    assert first in stage1.messages[0]["content"] and second not in stage1.messages[0]["content"]
    expanded = "The harbor wakes early, long before the sun.\n\nBoats leave at dawn with nets and lamps."
    prefill = stage2_prefill(expanded, separator)
    stage2 = build_expand_prompt("Describe a harbor.", TEXT, "en", prefill=prefill)
    assert TEXT in stage2.messages[0]["content"] and stage2.prefill == expanded + "\n\n"
    assert join_stage2(prefill, "By noon the market is loud.") == expanded + "\n\nBy noon the market is loud."


@pytest.mark.slow
def test_prefill_is_rendered_after_the_opened_assistant_turn(untrained_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(untrained_model_dir)
    prompt = build_expand_prompt("Describe a harbor.", TEXT, "en", prefill="The harbor wakes early,")
    text = render_prompt(tokenizer, prompt)
    assert text.endswith("<|im_start|>assistant\nThe harbor wakes early,")
    assert text.count("<|im_start|>assistant") == 1 and "<|im_end|>" not in text.split("assistant\n", 1)[1]
