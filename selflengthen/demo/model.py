"""Build the offline demo model: a tiny Llama and a byte-level BPE tokenizer, pre-trained on the synthetic
corpus of `selflengthen.demo.corpus` so that it performs every task of the Self-Lengthen loop in the pipeline's own
prompt formats (new instruction, judge, response, two-stage expansion).

Everything is deterministic for a given seed. The BPE merges are computed here with a fixed tie-break
(the `tokenizers` trainer breaks ties differently from one process to the next), and training is a
plain torch loop seeded with `torch.manual_seed`. torch, transformers and tokenizers are imported
inside the functions that need them.
"""

from __future__ import annotations

import json
import pathlib
import random
from collections import Counter, defaultdict
from typing import Callable

from selflengthen.demo import circuit
from selflengthen.demo import corpus as demo_corpus

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
VOCAB_SIZE = 3072  # enough for every word of the corpus and of the bundled seeds to be one token
# A word keeps its punctuation and the whitespace after it ("lanes. "): one token that the copy heads match.
PRE_TOKENS = r"[\p{L}\p{M}]+[^\s\p{L}\p{N}]*\s*|\p{N}+[^\s\p{L}\p{N}]*\s*|[^\s\p{L}\p{N}]+\s*|\s+"

# Model: 2 layers of width 144 with 3 heads of 48; most heads and a part of the width are set by hand
# (`selflengthen.demo.circuit`). The trained weights start at std 0.1, larger than Llama's 0.02.
HIDDEN, MLP, HEADS, LAYERS, INIT_STD = circuit.HIDDEN, 288, circuit.HEADS, 2, 0.1

# Training: DEFAULT_STEPS AdamW steps of about BATCH_TOKENS padded tokens.
DEFAULT_STEPS = 600
BATCH_TOKENS = 1792
LEARNING_RATE = 1e-2

# ChatML. Each assistant message's content *and* its <|im_end|> sit inside {% generation %}, so trl's
# assistant_only_loss also trains the model to stop.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['role'] == 'assistant' %}"
    "{% generation %}{{- message['content'] + '<|im_end|>' }}{% endgeneration %}{{- '\\n' }}"
    "{%- else %}"
    "{{- message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

Log = Callable[[str], None]


def build_demo_model(out_dir, *, seed: int = 0, steps: int | None = None, log: Log | None = None) -> pathlib.Path:
    """Build, pre-train and save the demo model (weights, tokenizer, chat template) in `out_dir`.

    steps: optimizer steps (None = DEFAULT_STEPS; 0 = random weights, for plumbing tests).
    log: called with progress lines (tokenizer, training loss, saving).
    """
    log = log or (lambda message: None)
    out = pathlib.Path(out_dir)
    tokenizer = build_tokenizer()
    log(f"tokenizer: byte-level BPE, {len(tokenizer)} tokens")
    model = new_model(tokenizer, seed)
    steps = DEFAULT_STEPS if steps is None else steps
    if steps > 0:
        _pretrain(model, tokenizer, seed=seed, steps=steps, log=log)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    _name_generic_tokenizer_class(out / "tokenizer_config.json")
    log(f"saved to {out}")
    return out


def render_chatml_prompt(messages: list[dict]) -> str:
    """What CHAT_TEMPLATE renders with add_generation_prompt=True (a plain-Python twin, for speed)."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"


# --- tokenizer --------------------------------------------------------------------------------------

def build_tokenizer():
    """The demo tokenizer: byte-level BPE (any text encodes), ChatML special tokens and chat template."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(PRE_TOKENS), behavior="isolated"),
                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    words = Counter(piece for text in demo_corpus.tokenizer_corpus() for piece, _ in pre.pre_tokenize_str(text))
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())  # the 256 bytes: nothing is ever unknown
    merges = learn_merges(words, VOCAB_SIZE - len(alphabet) - len(SPECIAL_TOKENS))
    vocab = {symbol: i for i, symbol in enumerate(alphabet + [a + b for a, b in merges])}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    backend.pre_tokenizer = pre
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(list(SPECIAL_TOKENS))  # fixed ids, in this order, after the merges
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"], clean_up_tokenization_spaces=False, model_max_length=4096)
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def learn_merges(words: Counter, n_merges: int) -> list[tuple[str, str]]:
    """BPE merges over pre-tokenized words: the most frequent pair first, ties to the smallest pair.

    Pair counts are updated only for the words a merge touches, so 2,700 merges take a fraction of a second.

    >>> learn_merges(Counter({"abab": 2, "ab": 1}), 2)
    [('a', 'b'), ('ab', 'ab')]
    """
    ordered = sorted(words)
    pieces, counts = [list(word) for word in ordered], [words[word] for word in ordered]
    pairs, where = Counter(), defaultdict(set)  # pair -> count, pair -> indices of the words holding it
    for i, symbols in enumerate(pieces):
        for pair in zip(symbols, symbols[1:]):
            pairs[pair] += counts[i]
            where[pair].add(i)
    merges = []
    while len(merges) < n_merges and pairs:
        best = min(pairs, key=lambda p: (-pairs[p], p))
        if pairs[best] < 2:
            break
        merges.append(best)
        for i in sorted(where.pop(best)):
            for pair in zip(pieces[i], pieces[i][1:]):
                pairs[pair] -= counts[i]
                if pairs[pair] <= 0:
                    del pairs[pair]
            pieces[i] = _merge(pieces[i], best)
            for pair in zip(pieces[i], pieces[i][1:]):
                pairs[pair] += counts[i]
                where[pair].add(i)
    return merges


def _merge(symbols: list[str], pair: tuple[str, str]) -> list[str]:
    """
    >>> _merge(["a", "b", "a", "b", "c"], ("a", "b"))
    ['ab', 'ab', 'c']
    """
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def _name_generic_tokenizer_class(path: pathlib.Path) -> None:
    """Record the class as PreTrainedTokenizerFast: transformers 5 writes TokenizersBackend, which
    transformers 4 (and so vLLM or an older server) does not know."""
    config = json.loads(path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")


# --- model and training -----------------------------------------------------------------------------

def new_model(tokenizer, seed: int):
    """A tiny Llama with random weights: tied embeddings, room for 4k-token texts, stops at <|im_end|>."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    eos, pad = tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=HIDDEN, intermediate_size=MLP, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=HEADS, max_position_embeddings=4096,
        initializer_range=INIT_STD, tie_word_embeddings=True, bos_token_id=None, eos_token_id=eos, pad_token_id=pad,
        rope_theta=circuit.ROPE_THETA)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad)
    return model


def _pretrain(model, tokenizer, *, seed: int, steps: int, log: Log) -> None:
    """`steps` AdamW steps on fresh synthetic chats, the loss on the answers only (prompts masked); the hand-set
    heads stay as set."""
    import torch

    hooks = circuit.freeze(model, circuit.install(model, tokenizer, seed))
    final = {}  # the residual stream the output norm reads
    hooks.append(model.model.norm.register_forward_pre_hook(lambda module, args: final.update({"in": args[0]})))
    batches = _phase(tokenizer, random.Random(seed), steps, demo_corpus.MIX, BATCH_TOKENS)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, betas=(0.9, 0.98), weight_decay=0.0)
    warmup = max(1, steps // 10)  # linear warm-up, then linear decay to 5 %
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.05, (steps - s) / (steps - warmup + 1))))
    model.train()
    for step, (ids, mask, labels) in enumerate(batches, start=1):
        out = model.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        targets = labels[:, 1:]
        scored = targets != -100  # the output layer runs on the answers' positions only: the prompts are most tokens
        logits = model.lm_head(out.last_hidden_state[:, :-1][scored])
        loss = (torch.nn.functional.cross_entropy(logits, targets[scored])
                + circuit.overflow(out.hidden_states[1], mask) + circuit.overflow(final["in"], mask))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 50 == 0 or step == steps:
            log(f"step {step}/{steps} loss {loss.item():.3f}")
    for hook in hooks:
        hook.remove()
    model.eval()


def _phase(tokenizer, rng: random.Random, steps: int, mix: dict, batch_tokens: int) -> list:
    """`steps` shuffled batches of chats of similar length, each at most `batch_tokens` once padded."""
    import torch

    if steps <= 0:
        return []
    examples = sorted(_examples(tokenizer, rng, int(steps * batch_tokens * 1.1), mix), key=lambda e: len(e[0]))
    groups, start = [], 0
    while start < len(examples):
        end = start + 1
        while end < len(examples) and (end + 1 - start) * len(examples[end][0]) <= batch_tokens:
            end += 1
        groups.append(examples[start:end])
        start = end
    rng.shuffle(groups)
    batches = []
    for group in groups[:steps]:
        width = max(len(ids) for ids, _ in group)
        ids = torch.tensor([i + [tokenizer.pad_token_id] * (width - len(i)) for i, _ in group])
        mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in group])
        labels = torch.tensor([label + [-100] * (width - len(label)) for _, label in group])
        batches.append((ids, mask, labels))
    return batches


def _examples(tokenizer, rng: random.Random, n_tokens: int, mix: dict) -> list[tuple[list[int], list[int]]]:
    """(token ids, labels with -100 over the prompt) of fresh chats, at least `n_tokens` tokens in all.

    Prompt and answer are tokenized apart: the prompt ends with a newline, so no token spans the seam; a
    completion-style prompt ends with its prefill, tokenized as the pipeline's rendering of it is.
    """
    examples, total = [], 0
    while total < n_tokens:
        chats = [demo_corpus.make_chat(rng, mix) for _ in range(256)]
        prompts = tokenizer([render_chatml_prompt(list(p.messages)) + p.prefill for p, _ in chats],
                            add_special_tokens=False)["input_ids"]
        answers = tokenizer([a + tokenizer.eos_token for _, a in chats], add_special_tokens=False)["input_ids"]
        for prompt, answer in zip(prompts, answers):
            examples.append((prompt + answer, [-100] * len(prompt) + answer))
            total += len(prompt) + len(answer)
    return examples
