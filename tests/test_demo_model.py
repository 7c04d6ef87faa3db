"""The demo model: built offline and deterministically, loadable through the Auto classes, and able to do
every task of the loop in the pipeline's own prompt formats (measured with plain `model.generate`)."""

from __future__ import annotations

import hashlib
import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from paths import SEEDS_EN
from selflengthen.config import preset_config
from selflengthen.demo import corpus as demo_corpus
from selflengthen.demo.model import CHAT_TEMPLATE, build_demo_model, build_tokenizer, render_chatml_prompt
from selflengthen.method.augment import build_judge_prompt, build_new_instruction_prompt, parse_new_instruction
from selflengthen.method.expand import build_expand_prompt, join_stage2, stage2_prefill
from selflengthen.method.gates import ends_with_punctuation, repeated_ngram
from selflengthen.method.generate import build_response_prompt
from selflengthen.method.split import split_halves
from selflengthen.method.words import count_words

TEXTS = ["Write an essay about city gardens for young readers.", "写一篇关于春天的文章，不少于两千字。",
         "Mixed: naïve café — 東京 🙂\n\n  tabs\tand  spaces"]
N = 48  # samples per behaviour check
DEMO = preset_config("demo")


# --- tokenizer and files (fast) -------------------------------------------------------------------

@pytest.mark.slow
def test_auto_tokenizer_gives_the_built_ids(untrained_model_dir):
    from transformers import AutoTokenizer

    loaded, built = AutoTokenizer.from_pretrained(untrained_model_dir), build_tokenizer()
    for text in TEXTS:
        ids = built(text, add_special_tokens=False)["input_ids"]
        assert loaded(text, add_special_tokens=False)["input_ids"] == ids
        assert loaded.decode(ids) == text


@pytest.mark.slow
def test_tokenizer_files_name_a_generic_fast_tokenizer(untrained_model_dir):
    config = json.loads((untrained_model_dir / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert json.loads((untrained_model_dir / "config.json").read_text())["model_type"] == "llama"
    assert (untrained_model_dir / "model.safetensors").exists()


@pytest.mark.slow
def test_special_tokens_and_generation_config(untrained_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(untrained_model_dir)
    model = AutoModelForCausalLM.from_pretrained(untrained_model_dir)
    im_end, pad = tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    assert (tokenizer.eos_token_id, tokenizer.pad_token_id) == (im_end, pad)
    assert tokenizer("<|im_start|>user")["input_ids"][0] == tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert (model.generation_config.eos_token_id, model.generation_config.pad_token_id) == (im_end, pad)
    assert model.config.max_position_embeddings >= 2048 and model.config.tie_word_embeddings


@pytest.mark.slow
def test_chat_template_is_chatml_with_generation_marks(untrained_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(untrained_model_dir)
    assert "{% generation %}" in tokenizer.chat_template == CHAT_TEMPLATE
    chat = [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Yes."}]
    assert tokenizer.apply_chat_template(chat, tokenize=False) == (
        "<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\nYes.<|im_end|>\n")
    prompt = tokenizer.apply_chat_template(chat[:1], tokenize=False, add_generation_prompt=True)
    assert prompt == render_chatml_prompt(chat[:1]) == "<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\n"
    encoded = tokenizer.apply_chat_template(chat, return_dict=True, return_assistant_tokens_mask=True)
    trained = [i for i, m in zip(encoded["input_ids"], encoded["assistant_masks"]) if m]
    assert tokenizer.decode(trained) == "Yes.<|im_end|>"


@pytest.mark.slow
def test_training_tokens_match_the_chat_template(untrained_model_dir):
    """Training tokenizes prompt and answer apart; together they must equal the template's tokens."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(untrained_model_dir)
    rng = random.Random(0)
    chats = [demo_corpus.make_chat(rng) for _ in range(40)]
    assert any(prompt.prefill for prompt, _ in chats)  # completion-style prompts are trained as run: prefill in the prompt
    for prompt, answer in (chat for chat in chats if not chat[0].prefill):
        messages = list(prompt.messages)
        apart = (tokenizer(render_chatml_prompt(messages), add_special_tokens=False)["input_ids"]
                 + tokenizer(answer + "<|im_end|>", add_special_tokens=False)["input_ids"])
        chat = messages + [{"role": "assistant", "content": answer}]
        whole = tokenizer.apply_chat_template(chat, return_dict=True)["input_ids"]
        assert apart + tokenizer("\n", add_special_tokens=False)["input_ids"] == whole


@pytest.mark.slow
def test_untrained_build_is_fast(tmp_path):
    import transformers  # noqa: F401  (import cost is not build cost)

    start = time.perf_counter()
    out = build_demo_model(tmp_path / "m", steps=0)
    assert time.perf_counter() - start < 10
    assert out == tmp_path / "m" and (out / "tokenizer.json").exists()


@pytest.mark.slow
def test_same_seed_same_model(tmp_path):
    a, b = (build_demo_model(tmp_path / name, seed=3, steps=3) for name in "ab")
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()
    assert _weights_hash(a) == _weights_hash(b)
    assert _weights_hash(a) != _weights_hash(build_demo_model(tmp_path / "c", seed=4, steps=3))


@pytest.mark.slow
def test_tokenizer_is_the_same_in_a_fresh_process():
    """The merges must not depend on hash seeds or dict order (the `tokenizers` trainer's do)."""
    code = "from selflengthen.demo.model import build_tokenizer; print(build_tokenizer().backend_tokenizer.to_str())"
    fresh = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                           capture_output=True, text=True, check=True).stdout
    assert fresh.strip() == build_tokenizer().backend_tokenizer.to_str()


def _weights_hash(path: Path) -> str:
    from safetensors.torch import load_file

    digest = hashlib.sha256()
    for name, tensor in sorted(load_file(path / "model.safetensors").items()):
        digest.update(name.encode() + tensor.numpy().tobytes())
    return digest.hexdigest()


# --- behaviour of the trained model (slow: uses the session's demo model) --------------------------

def _generate(model, tokenizer, prompts, max_new_tokens: int,
              repetition_penalty: float = DEMO.sampling.repetition_penalty) -> list[tuple[str, bool, int]]:
    """(text after the prefill, stopped by itself, new tokens) per prompt, sampled as the demo preset does."""
    import torch

    texts = [tokenizer.apply_chat_template(list(p.messages), tokenize=False, add_generation_prompt=True) + p.prefill
             for p in prompts]
    tokenizer.padding_side = "left"
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.generate(**batch, do_sample=True, temperature=0.8, top_p=0.95, top_k=0,
                             repetition_penalty=repetition_penalty, max_new_tokens=max_new_tokens)
    results = []
    for row in out[:, batch["input_ids"].shape[1]:].tolist():
        stopped = tokenizer.eos_token_id in row
        row = row[:row.index(tokenizer.eos_token_id)] if stopped else row
        results.append((tokenizer.decode(row, skip_special_tokens=True), stopped, len(row)))
    return results


@pytest.fixture(scope="module")
def demo(demo_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(demo_model_dir).eval(), AutoTokenizer.from_pretrained(demo_model_dir)


@pytest.fixture(scope="module")
def real_seeds() -> list[str]:
    return [json.loads(line)["instruction"] for line in SEEDS_EN.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def new_instructions(demo, real_seeds):
    """Outputs for few-shot prompts of two real seeds, or of a real seed and a synthetic instruction."""
    rng = random.Random(1)
    synthetic = [demo_corpus.make_instruction(rng)[0] for _ in range(N)]
    prompts = [build_new_instruction_prompt(
        rng.sample(real_seeds, 2) if i % 2 else [rng.choice(real_seeds), synthetic[i]], "en") for i in range(N)]
    return _generate(*demo, prompts, max_new_tokens=64, repetition_penalty=DEMO.augment.repetition_penalty)


@pytest.fixture(scope="module")
def responses(demo, new_instructions, real_seeds):
    """(instructions, outputs): answers to the model's own well-formed instructions and to real seeds."""
    own = [parse_new_instruction(text) for text, _, _ in new_instructions if _good_instruction(text)]
    instructions = (own * N)[:N - len(real_seeds)] + real_seeds
    return instructions, _generate(*demo, [build_response_prompt(i) for i in instructions], max_new_tokens=192)


def _good_instruction(text: str) -> bool:
    instruction = parse_new_instruction(text)
    return 4 <= count_words(instruction) <= 499 and instruction.endswith((".", "?"))


def _good_response(text: str, stopped: bool) -> bool:
    return stopped and text.strip().endswith(".") and repeated_ngram(text, "en") is None


@pytest.mark.slow
def test_new_instructions_are_well_formed(new_instructions):
    good = [stopped and _good_instruction(text) for text, stopped, _ in new_instructions]
    assert sum(good) >= 0.8 * N, [text for text, _, _ in new_instructions]


@pytest.mark.slow
def test_judge_accepts_new_instructions(demo, new_instructions):
    prompts = [build_judge_prompt(parse_new_instruction(text), "en") for text, _, _ in new_instructions]
    verdicts = _generate(*demo, prompts, max_new_tokens=8)
    assert sum(text.startswith("Yes") for text, _, _ in verdicts) >= 0.9 * N, verdicts


@pytest.mark.slow
def test_responses_stop_and_pass_the_gates(responses):
    _, outputs = responses
    good = [_good_response(text, stopped) for text, stopped, _ in outputs]
    assert sum(good) >= 0.7 * N, [text for text, _, _ in outputs]
    assert all(ends_with_punctuation(text, "en") for text, stopped, _ in outputs if stopped)
    # Moderately short at first (the loop is there to lengthen them), and more than a sentence.
    assert 20 <= sum(count_words(text) for text, _, _ in outputs) / N <= 120


@pytest.mark.slow
def test_responses_keep_the_requested_topic(demo):
    rng = random.Random(2)
    requests = [demo_corpus.make_instruction(rng) for _ in range(N)]
    outputs = _generate(*demo, [build_response_prompt(text) for text, _, _ in requests], max_new_tokens=192)
    on_topic = [re.search(rf"\b{topic}\b", text) is not None for (_, topic, _), (text, _, _) in zip(requests, outputs)]
    assert sum(on_topic) >= 0.5 * N, [(topic, text) for (_, topic, _), (text, _, _) in zip(requests, outputs)]


@pytest.mark.slow
def test_two_stage_expansion_lengthens(demo, responses):
    instructions, outputs = responses
    pairs = [(i, text) for i, (text, stopped, _) in zip(instructions, outputs) if _good_response(text, stopped)]
    pairs = (pairs * N)[:N]
    halves = [split_halves(text) for _, text in pairs]
    stage1 = _generate(*demo, [build_expand_prompt(i, first, "en") for (i, _), (first, _, _) in zip(pairs, halves)],
                       max_new_tokens=384)
    prefills = [stage2_prefill(text, sep) for (text, _, _), (_, sep, _) in zip(stage1, halves)]
    stage2 = _generate(*demo, [build_expand_prompt(i, text, "en", prefill=p) for (i, text), p in zip(pairs, prefills)],
                       max_new_tokens=384)
    longer = [first[1] and second[1] and count_words(join_stage2(p, second[0])) >= 1.2 * count_words(text)
              for (_, text), p, first, second in zip(pairs, prefills, stage1, stage2)]
    assert sum(longer) >= 0.5 * N, [join_stage2(p, c) for p, (c, _, _) in zip(prefills, stage2)]
    # Expanded, not rewritten: the input's sentences are still there, in order (bench/demo_method.py's measure).
    kept = total = 0
    for (_, text), p, (continuation, _, _) in zip(pairs, prefills, stage2):
        expansion, at = join_stage2(p, continuation), 0
        for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
            total += 1
            if (found := expansion.find(sentence, at)) >= 0:
                kept, at = kept + 1, found + len(sentence)
    assert kept >= 0.6 * total, (kept, total)


@pytest.mark.slow
def test_answers_to_real_seeds_name_a_word_of_theirs(demo, real_seeds):
    outputs = _generate(*demo, [build_response_prompt(seed) for seed in real_seeds], max_new_tokens=64)
    named = [any(demo_corpus.is_topical(word + " ") and re.search(rf"\b{word}\b", text)
                 for word in re.findall(r"[A-Za-z]+", seed)) for seed, (text, _, _) in zip(real_seeds, outputs)]
    assert sum(named) >= 0.7 * len(real_seeds), [text for text, _, _ in outputs]
