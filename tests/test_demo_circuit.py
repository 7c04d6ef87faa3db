"""The demo model's hand-set heads (selflengthen.demo.circuit): what they do before any training, and that
pre-training leaves them as set. Measured on a model built with a single optimizer step, whose trained part
has barely moved: what it gets right, the set heads did."""

from __future__ import annotations

import json
import random

import pytest

from paths import SEEDS_EN
from selflengthen.demo import circuit
from selflengthen.demo import corpus as demo_corpus
from selflengthen.demo.model import build_demo_model, build_tokenizer, new_model, render_chatml_prompt
from selflengthen.method.generate import build_response_prompt

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def barely_trained(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = build_demo_model(tmp_path_factory.mktemp("circuit"), seed=0, steps=1)
    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager").eval()
    return model, AutoTokenizer.from_pretrained(path)


def _expansion_chats(tokenizer, n: int = 12):
    """(ids, length of the prompt) of expansion chats from the corpus, answers included (teacher forcing)."""
    rng = random.Random(3)
    for _ in range(n):
        prompt, answer = demo_corpus.make_chat(rng, {"expand_whole": 1.0})
        ids = tokenizer(render_chatml_prompt(list(prompt.messages)) + prompt.prefill, add_special_tokens=False)
        answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
        yield ids["input_ids"] + answer_ids, len(ids["input_ids"])


def test_the_set_heads_copy_the_input_and_resume_after_an_extra_sentence(barely_trained):
    import torch

    model, tokenizer = barely_trained
    copied, echoed = [], []
    for ids, start in _expansion_chats(tokenizer):
        with torch.no_grad():
            predicted = model(torch.tensor([ids])).logits[0].argmax(-1).tolist()
        prompt = ids[:start]
        followers = {}  # token -> the tokens that follow it in the prompt
        for a, b in zip(prompt, prompt[1:]):
            followers.setdefault(a, set()).add(b)
        for i in range(start - 1, len(ids) - 1):
            current, target = ids[i], ids[i + 1]
            if followers.get(current) == {target}:  # the input goes on unambiguously from here: a copy
                copied.append(predicted[i] == target)
            elif demo_corpus.ends_extra(tokenizer.decode([current])):  # an extra's last word: the echo is due
                echoed.append(predicted[i] == target)
    assert len(copied) > 200 and len(echoed) > 20
    assert sum(copied) >= 0.95 * len(copied) and sum(echoed) >= 0.9 * len(echoed), (
        sum(copied) / len(copied), sum(echoed) / len(echoed))


def test_the_topic_head_names_the_requests_first_topical_word(barely_trained):
    import torch

    model, tokenizer = barely_trained
    seeds = [json.loads(line)["instruction"] for line in SEEDS_EN.read_text().splitlines() if line.strip()]
    named = 0
    for seed in seeds:
        text = render_chatml_prompt(list(build_response_prompt(seed).messages)) + demo_corpus.OPENING_WORD + " "
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        topical = [i for i in ids if demo_corpus.is_topical(tokenizer.decode([i]))]
        with torch.no_grad():
            best = model(torch.tensor([ids])).logits[0, -1].argmax().item()
        named += bool(topical) and best == topical[0]
    assert named >= len(seeds) - 2  # (a seed may have no topical word)


def test_region_tells_the_users_turn_from_the_assistants(barely_trained):
    import torch

    model, tokenizer = barely_trained
    text = render_chatml_prompt([{"role": "user", "content": "Write an essay about bees."}]) + "Presenting bees"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        region = model(torch.tensor([ids]), output_hidden_states=True).hidden_states[1][0, :, circuit.REGION]
    assistant = ids.index(tokenizer("assistant\n", add_special_tokens=False)["input_ids"][0])
    assert region[:assistant].abs().max() < 1e-4 and region[assistant:].min() > 1.0


def test_pretraining_leaves_the_set_weights_as_set(tmp_path):
    from transformers import AutoModelForCausalLM

    trained = AutoModelForCausalLM.from_pretrained(build_demo_model(tmp_path / "m", seed=5, steps=4))
    fresh = new_model(build_tokenizer(), 5)
    masks = circuit.install(fresh, build_tokenizer(), 5)
    fresh_weights, trained_weights = dict(fresh.named_parameters()), dict(trained.named_parameters())
    moved = 0
    for name, mask in masks.items():
        kept = mask == 0
        assert (trained_weights[name][kept] == fresh_weights[name][kept]).all(), name
        moved += int((trained_weights[name][~kept] != fresh_weights[name][~kept]).any())
    assert moved > 10  # and the rest did train
