"""The transformers backend on real (tiny) models: batching, order, prefill, seeds, stop reasons, errors."""

from __future__ import annotations

import pytest

from selflengthen.backends import GenerationParams, Prompt, create_backend
from selflengthen.config import BackendConfig
from selflengthen.errors import BackendError

pytestmark = pytest.mark.slow  # real servers, subprocesses or models

# Greedy with a strong repetition penalty: a random-weights model then writes a different text per prompt.
GREEDY = GenerationParams(max_new_tokens=12, temperature=0, repetition_penalty=3.0)
PROMPTS = [
    Prompt.user("hi"),
    Prompt.user("Write about the history of rivers and mountains in great detail. " * 8),
    Prompt.user("cats"),
    Prompt.user("Explain why the sky is blue, with two examples."),
    Prompt.user("Describe a quiet morning by the sea. " * 3),
]


@pytest.fixture(scope="module")
def backend(untrained_model_dir):
    b = create_backend("transformers", str(untrained_model_dir), BackendConfig(batch_size=2))
    yield b
    b.close()


def test_batched_outputs_come_back_in_prompt_order(backend):
    batched = backend.generate(PROMPTS, GREEDY)
    one_by_one = [backend.generate([p], GREEDY)[0] for p in PROMPTS]
    assert [c.text for c in batched] == [c.text for c in one_by_one]
    assert len({c.text for c in batched}) == len(PROMPTS)  # distinct, so a permutation would show


def test_prefill_is_excluded_and_conditions_the_output(backend):
    plain = backend.generate([Prompt.user("cats")], GREEDY)[0]
    prefilled = backend.generate([Prompt.user("cats", prefill="Well, the")], GREEDY)[0]
    assert prefilled.text != plain.text
    assert not prefilled.text.startswith("Well, the")
    assert prefilled.n_tokens == GREEDY.max_new_tokens  # only new tokens counted, prefill excluded


def test_same_seed_same_samples_other_seed_other_samples(backend):
    params = GenerationParams(max_new_tokens=16, temperature=1.0, top_p=1.0, top_k=0, seed=7)
    first = backend.generate(PROMPTS, params)
    assert backend.generate(PROMPTS, params) == first
    other = backend.generate(PROMPTS, GenerationParams(max_new_tokens=16, temperature=1.0, top_k=0, seed=8))
    assert [c.text for c in other] != [c.text for c in first]


def test_tiny_token_limit_reports_length(backend):
    out = backend.generate(PROMPTS[:2], GenerationParams(max_new_tokens=2, temperature=0))
    assert [(c.finish_reason, c.n_tokens) for c in out] == [("length", 2), ("length", 2)]


def test_a_stop_string_ends_the_answer_before_it(backend):
    params = GenerationParams(max_new_tokens=24, temperature=0, repetition_penalty=3.0)
    [free] = backend.generate(PROMPTS[:1], params)
    stop = free.text[len(free.text) // 2:][:3]  # a piece of what the model writes anyway
    [stopped] = backend.generate(PROMPTS[:1], GenerationParams(**{**vars(params), "stop": ("zzqq", stop)}))
    assert stopped.text == free.text[:free.text.find(stop)] and stopped.finish_reason == "stop"
    assert stop and stop not in stopped.text


def test_empty_batch(backend):
    assert backend.generate([], GREEDY) == []


def test_describe(backend, untrained_model_dir):
    assert backend.describe() == {"backend": "transformers", "model": str(untrained_model_dir), "adapter": None,
                                  "device": "cpu", "dtype": "float32"}


def test_missing_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(BackendError, match="model path not found: .*nowhere"):
        create_backend("transformers", str(tmp_path / "nowhere"))


def test_missing_adapter_is_a_clear_error(untrained_model_dir, tmp_path):
    with pytest.raises(BackendError, match="adapter not found"):
        create_backend("transformers", str(untrained_model_dir), adapter=str(tmp_path))


def test_unavailable_device_is_a_clear_error(untrained_model_dir):
    with pytest.raises(BackendError, match="CUDA is not available|unknown device"):
        create_backend("transformers", str(untrained_model_dir), BackendConfig(device="cuda:7"))


def test_lora_adapter_changes_the_outputs(untrained_model_dir, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(untrained_model_dir)
    # init_lora_weights=False: random B too, so the adapter is not a no-op
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    base = create_backend("transformers", str(untrained_model_dir))
    tuned = create_backend("transformers", str(untrained_model_dir), adapter=str(tmp_path / "adapter"))
    assert tuned.describe()["adapter"] == str(tmp_path / "adapter")
    assert tuned.generate(PROMPTS[:1], GREEDY)[0].text != base.generate(PROMPTS[:1], GREEDY)[0].text


@pytest.mark.slow
def test_demo_model_stops_by_itself_and_batches_like_singles(demo_model_dir):
    backend = create_backend("transformers", str(demo_model_dir), BackendConfig(batch_size=4))
    prompts = [Prompt.user("Write about rivers."), Prompt.user("Tell me about the history of bread in detail."),
               Prompt.user("Describe winter.")]
    # Greedy, with the demo preset's repetition penalty: without one the demo model never picks its closing remark
    # (its answers end where sampling picks it, at odds of one in five after each sentence).
    params = GenerationParams(max_new_tokens=256, temperature=0, repetition_penalty=1.3)
    batched = backend.generate(prompts, params)
    assert [c.text for c in batched] == [backend.generate([p], params)[0].text for p in prompts]
    assert any(c.finish_reason == "stop" and 0 < c.n_tokens < 256 for c in batched)
    assert all(c.text.strip() and "<|im_end|>" not in c.text for c in batched)


@pytest.mark.slow
def test_demo_model_continues_a_prefill(demo_model_dir):
    backend = create_backend("transformers", str(demo_model_dir))
    prefill = "Rivers are"
    params = GenerationParams(max_new_tokens=64, temperature=0, repetition_penalty=1.0)
    out = backend.generate([Prompt.user("Write about rivers.", prefill=prefill)], params)[0]
    assert out.text and not out.text.startswith(prefill)
    assert out.text != backend.generate([Prompt.user("Write about rivers.")], params)[0].text


@pytest.mark.slow
def test_each_finished_row_is_told_while_its_batch_still_runs(demo_model_dir):
    backend = create_backend("transformers", str(demo_model_dir), BackendConfig(batch_size=4))
    prompts = [Prompt.user(text) for text in ("Write about rivers.", "Tell me about the history of bread in detail.",
                                              "Describe winter.", "Write a story about bees.", "Explain tides.",
                                              "Write a letter about lanterns for young readers.")]
    params = GenerationParams(max_new_tokens=256, temperature=0.8, top_p=0.95, seed=3)
    told = []
    out = backend.generate(prompts, params, written=told.append)
    assert out == backend.generate(prompts, params)  # listening changes nothing
    assert told == sorted(told) and told[-1] == len(prompts) and len(set(told)) == len(told)
    assert any(0 < n < 4 for n in told)  # a row of the first batch, told before that batch ended
    stopped = [c for c in out if c.finish_reason == "stop"]
    assert stopped and len(told) > 2  # rows that ended by themselves, at different steps


@pytest.mark.slow
def test_a_row_ended_by_a_stop_string_is_told_too(backend):
    params = GenerationParams(max_new_tokens=24, temperature=0, repetition_penalty=3.0)
    [free] = backend.generate(PROMPTS[:1], params)
    stop = free.text[:len(free.text) // 3][-3:]  # early in what the model writes anyway
    told = []
    [stopped] = backend.generate(PROMPTS[:1], GenerationParams(**{**vars(params), "stop": (stop,)}),
                                 written=told.append)
    assert stopped.finish_reason == "stop" and told == [1]
