"""The simulated serving engine (bench/simserver.py): every request kind gets text the pipeline's parsers and gates
accept, the same request the same answer, log-normal lengths, at most K requests decoded at once, and stats that
add up."""

from __future__ import annotations

import json
import math
import re
import statistics
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.simserver import (MEDIAN_ANSWER_SENTENCES, MEDIAN_INSTRUCTION_WORDS, classify, complete, start_server,
                             stop_server)
from selflengthen.demo.model import render_chatml_prompt
from selflengthen.method.augment import (build_judge_prompt, build_new_instruction_prompt, next_number_stop,
                                         parse_judgement, parse_judgement_strictly, parse_new_instruction)
from selflengthen.method.expand import build_expand_prompt, join_stage2, stage2_prefill
from selflengthen.method.gates import GateRules, check_text, first_failure
from selflengthen.method.generate import build_response_prompt
from selflengthen.method.split import split_text
from selflengthen.method.templates import bundled
from selflengthen.method.words import count_words, detect_language

RULES = {"default": GateRules(), "paper": GateRules("reference", "reference", meta_talk=True)}
SPLIT = {"default": "nearest_middle", "paper": "pieces"}
INSTRUCTION = {"en": "Write an essay about the rivers of a small country.", "zh": "请写一篇关于家乡河流的长文。"}


def ask(prompt, seed=None, **fields):
    """The reply to a prompt as the openai backend sends it: chat, or the ChatML-rendered text plus the prefill."""
    if prompt.prefill:
        body = {"prompt": render_chatml_prompt(list(prompt.messages)) + prompt.prefill, **fields}
    else:
        body = {"messages": list(prompt.messages), **fields}
    return complete(body if seed is None else {**body, "seed": seed}, chat=not prompt.prefill)


def passes(text: str, language: str, rules: GateRules) -> bool:
    failure = first_failure(check_text(text, language, rules=rules))
    assert failure is None, (failure, text[-200:])
    return True


@pytest.mark.parametrize("set_name", ["default", "paper"])
@pytest.mark.parametrize("seed", range(5))
def test_self_instruct_gets_one_new_english_instruction(set_name, seed):
    prompt = build_new_instruction_prompt(["Write a story about a lost key.", "Describe a storm at sea in detail."],
                                          "en", template=bundled(set_name)["self_instruct_en"])
    stop = next_number_stop(prompt)
    reply = ask(prompt, seed, stop=list(stop))
    text = parse_new_instruction(reply.text)
    assert reply.kind == "instruction" and reply.finish_reason == "stop"
    assert 4 <= count_words(text) <= 499 and detect_language(text) == "en" and text.endswith(".")
    assert "\n" not in text
    if stop:  # the paper's numbered list: without the stop string the model writes on into the next label
        assert stop[0] in ask(prompt, seed).text


def test_new_instructions_differ_by_seed():
    prompt = build_new_instruction_prompt(["Write about tea.", "Write about rain."], "en")
    texts = {ask(prompt, seed).text for seed in range(50)}
    assert len(texts) == 50


@pytest.mark.parametrize("set_name,language", [("default", "en"), ("default", "zh"), ("paper", "en"),
                                               ("paper", "zh")])
def test_the_judge_says_yes_as_each_parser_wants_it(set_name, language):
    prompt = build_judge_prompt(INSTRUCTION[language], language, template=bundled(set_name)[f"judge_{language}"])
    reply = ask(prompt, 1)
    assert reply.kind == "judge"
    parse = parse_judgement_strictly if set_name == "paper" else parse_judgement
    assert parse(reply.text) is True


@pytest.mark.parametrize("set_name", ["default", "paper"])
@pytest.mark.parametrize("language", ["en", "zh"])
def test_answers_and_two_stage_expansions_pass_the_gates(set_name, language):
    templates, rules, instruction = bundled(set_name), RULES[set_name], INSTRUCTION[language]
    for seed in range(4):
        answer = ask(build_response_prompt(instruction, template=templates["generate"]), seed)
        assert answer.kind == "answer" and passes(answer.text, language, rules)
        text = answer.text
        for round_ in range(3):  # each round expands the last one's result, as the expand stage does
            first, separator, _ = split_text(text, SPLIT[set_name])
            stage1 = ask(build_expand_prompt(instruction, first, language, template=templates[f"expand_{language}"]),
                         seed * 10 + round_)
            assert stage1.kind == "expand" and count_words(stage1.text) >= 1.6 * count_words(first)
            prefill = stage2_prefill(stage1.text, separator, trim=set_name == "paper")
            stage2 = ask(build_expand_prompt(instruction, text, language, prefill=prefill,
                                             template=templates[f"expand_{language}"]), seed * 10 + round_ + 5)
            # The continuation only (a trimmed one-paragraph stage 1 leaves no prefill: then the whole answer).
            assert not prefill.strip() or not stage2.text.startswith(prefill.strip()[:40])
            result = join_stage2(prefill, stage2.text)
            assert passes(result, language, rules) and count_words(result) >= 1.2 * count_words(text)
            assert _in_order(_sentences(text), result)  # every sentence kept, in its order
            text = result


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.。])\s*", text) if s.strip()]


def _in_order(sentences: list[str], text: str) -> bool:
    at = 0
    for sentence in sentences:
        at = text.find(sentence, at)
        if at < 0:
            return False
        at += len(sentence)
    return True


def _prompt_of(stem: str, language: str, template: str):
    """A prompt of one stage built with `template`, as the stage builds it."""
    if stem == "self_instruct":
        return build_new_instruction_prompt(["A b c d.", "E f g h."], language, template=template)
    if stem == "judge":
        return build_judge_prompt("Write.", language, template=template)
    return build_expand_prompt("Write.", "Text.", language, template=template)


def test_every_bundled_template_is_recognised():
    for set_name in ("default", "paper"):
        for name, template in bundled(set_name).items():
            stem, _, language = name.rpartition("_")
            if stem not in ("self_instruct", "judge", "expand"):
                continue
            prompt = _prompt_of(stem, language, template)
            user = [m["content"] for m in prompt.messages if m["role"] == "user"][-1]
            assert classify(user)[:3] == ({"self_instruct": "instruction"}.get(stem, stem), language, set_name)
    assert classify("Write about tea.")[0] == "answer"


def test_the_same_request_gets_the_same_answer():
    prompt = build_response_prompt("Write about tea.")
    assert ask(prompt, 7) == ask(prompt, 7)
    assert ask(prompt, 7).text != ask(prompt, 8).text
    assert ask(prompt) == ask(prompt)  # no seed: from the prompt text
    assert ask(prompt).text != ask(build_response_prompt("Write about coffee.")).text


def test_lengths_are_log_normal_around_each_kind_median():
    answers = [len(_sentences(ask(build_response_prompt("Write about tea."), seed).text)) for seed in range(600)]
    instruction = build_new_instruction_prompt(["Write about tea.", "Write about rain."], "en")
    words = [count_words(ask(instruction, seed).text) for seed in range(600)]
    assert abs(statistics.median(answers) / MEDIAN_ANSWER_SENTENCES - 1) < 0.15
    assert abs(statistics.pstdev(math.log(n) for n in answers) - 1.0) < 0.12  # sigma 1 (a little less: rounding)
    # An instruction never has fewer words than its opening clause, so only the upper half keeps the median.
    assert abs(statistics.median(words) / MEDIAN_INSTRUCTION_WORDS - 1) < 0.25
    assert max(answers) > 5 * MEDIAN_ANSWER_SENTENCES  # a long tail


def test_an_answer_longer_than_max_tokens_is_cut():
    reply = ask(build_response_prompt("Write about tea."), 3, max_tokens=20)
    assert reply.finish_reason == "length" and reply.tokens == 20 and count_words(reply.text) <= 16


def test_tokens_count_about_1_3_per_word():
    reply = ask(build_response_prompt("Write about tea."), 3)
    assert reply.tokens == round(count_words(reply.text) * 1.3)


# ---- over HTTP ----

@pytest.fixture
def server():
    running, url = start_server(slots=2, seconds_per_token=0.0005)
    yield running, url
    stop_server(running)


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def test_slots_limit_concurrency_and_stats_add_up(server):
    running, url = server
    bodies = [{"model": "m", "messages": [{"role": "user", "content": "Write about tea."}], "seed": i}
              for i in range(6)]
    start = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda b: post(url + "/chat/completions", b), bodies))
    wall = time.monotonic() - start
    tokens = [a["usage"]["completion_tokens"] for a in answers]
    assert all(a["choices"][0]["finish_reason"] == "stop" and a["choices"][0]["message"]["content"] for a in answers)
    stats = get(url.removesuffix("/v1") + "/stats")
    assert stats == running.stats_dict()
    assert stats["requests"] == 6 and stats["completion_tokens"] == sum(tokens) and stats["kinds"] == {"answer": 6}
    assert stats["peak_in_flight"] == 2 and stats["in_flight"] == 0
    assert stats["busy_slot_seconds"] >= sum(tokens) * 0.0005 * 0.99
    assert stats["busy_slot_seconds"] < sum(tokens) * 0.0005 + 6 * 0.05  # sleep overshoot only
    assert wall >= sum(tokens) * 0.0005 / 2 * 0.99  # two slots: no faster than half the decode time
    assert stats["queued_seconds"] > 0  # six requests, two slots: some waited


def test_completions_continue_the_prefill_and_models_list(server):
    _, url = server
    prompt = build_expand_prompt("Write.", "One sentence here. Another one here.", "en", prefill="One sentence here. ")
    body = {"model": "m", "prompt": render_chatml_prompt(list(prompt.messages)) + prompt.prefill, "seed": 1}
    answer = post(url + "/completions", body)
    text = answer["choices"][0]["text"]
    assert text.startswith("Another one here.") and answer["object"] == "text_completion"
    assert get(url + "/models")["data"][0]["id"] == "sim"


def test_bad_requests_are_refused(server):
    _, url = server
    with pytest.raises(urllib.error.HTTPError) as refused:
        post(url + "/chat/completions", {"messages": []})
    assert refused.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as missing:
        post(url + "/embeddings", {"input": "x"})
    assert missing.value.code == 404


def test_the_openai_backend_is_served(server, tmp_path):
    from selflengthen.backends import GenerationParams, Prompt, create_backend
    from selflengthen.config import BackendConfig
    from selflengthen.demo.model import build_tokenizer

    build_tokenizer().save_pretrained(tmp_path)
    running, url = server
    backend = create_backend("openai", "sim", BackendConfig(name="openai", base_url=url, tokenizer=str(tmp_path),
                                                            concurrency=4))
    try:
        prompts = [Prompt.user("Write about tea."), Prompt.user("Write about tea.", prefill="Tea matters. ")]
        outputs = backend.generate(prompts, GenerationParams(seed=1, max_new_tokens=4000))
    finally:
        backend.close()
    assert [o.finish_reason for o in outputs] == ["stop", "stop"] and all(o.n_tokens > 0 for o in outputs)
    assert running.stats.requests == 2
