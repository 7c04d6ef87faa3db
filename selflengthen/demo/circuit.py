"""Attention heads set by hand in the demo model, so that it copies: a tiny model trained for a minute on a CPU
does not grow induction heads by itself, and an expansion that keeps its input's sentences needs one.

The residual stream is split. The first CIRCUIT dimensions belong to the heads below and are written by nothing
trained: a token's code (fixed random vector), the previous token's code, a few flags and a constant. The rest
(FREE) is an ordinary tiny Llama's, trained on the corpus. During pre-training gradient hooks keep the set weights
as they are (`freeze`); the loop's fine-tunes later train every weight, at a learning rate that leaves them close.

Layer 0
- head 0, *previous token*: attends one position back (rotary phases that peak at distance 1) and writes that
  token's code into PREVIOUS;
- head 1, *region and task*: averages flags over the ChatML role tokens seen so far and the words of the judge's
  and the instruction writer's prompts: REGION is 0 inside the user's turn and positive once the assistant's
  turn has begun; TASK is positive for the judge's prompt, negative for the instruction writer's, 0 otherwise;
- head 2: trained.
Layer 1 (each head writes the code of the token it attends to into TOKEN, which the tied output embedding reads;
each has a sink at the sequence's first token and a trained query besides the set one)
- head 0, *induction*: finds where the current token occurred in the user's turn and copies the token that
  followed it there (query: the token's code; key: the previous token's code); its trained query can favour the
  sink, holding the copy back;
- head 1, *echo*: copies the sentence-ending token exactly EXTRA_TOKENS positions back, opened on the last word
  of an extra sentence's verb phrase (the corpus's extra sentences end by repeating the word before them: from
  there the copy resumes);
- head 2, *topic*: copies the first topical token of the user's turn, opened on the answer's first word.

Rotary embeddings turn pairs of a head's dimensions by position; with base 1e16 the first pairs turn fast (the
position-sensitive scores use them: FAST, PRIMACY_PAIR) and pairs GATE and up barely turn over 4,096 positions,
so scores there do not depend on distance.
"""

from __future__ import annotations

import math

from selflengthen.demo import corpus as demo_corpus

HIDDEN, HEADS, HEAD_DIM = 144, 3, 48
ROPE_THETA = 1e16
CODE = 44
TOKEN = slice(0, CODE)
PREVIOUS = slice(CODE, 2 * CODE)
(ENDING, TOPICAL, ROLE, ASSISTANT, REGION, SINK, OPENING, RESUME, TASK_WORD, TASK_SIGN, TASK,
 CONSTANT) = range(2 * CODE, 2 * CODE + 12)
CIRCUIT = CONSTANT + 1  # dimensions below this are the heads'; the rest are FREE
FREE = slice(CIRCUIT, HIDDEN)

# Raw values are SCALE times what the heads read: after RMS normalization over 144 dimensions the constant reads
# about 12 and a code about CODE_NORM whatever the trained dimensions hold, as long as they stay small next to it.
SCALE = 4.0
NORMAL = 12.0  # the constant, as the heads read it
CODE_NORM, CONSTANT_VALUE = 2.0, NORMAL * SCALE
FAST = range(4)  # rotary pairs that turn fast: position-sensitive scores
GATE, SINK_PAIR = 7, 8  # static pairs: the trained gates and the sink
MATCH = range(9, HEAD_DIM // 2)  # static pairs: token matching
PAIR = HEAD_DIM // 2

PREVIOUS_SCORE = 25.0  # per fast pair, at the peak (one position back); a neighbour scores 12 less
ROLE_SCORE = 30.0
MATCH_GAIN = 11.0  # the induction score of an exact match is about 0.4 * MATCH_GAIN**2
SINK_SHARE = 0.6  # the induction sink scores this share of an exact match
ECHO_SCORE = 12.0  # per fast pair, at the peak: a sentence end EXTRA_TOKENS back
ECHO_SINK = 54.0  # the echo head's sink: above an ungated echo (4 * ECHO_SCORE)
TOPIC_KEY, REGION_PENALTY, TOPIC_SINK = 4.0, 12.0, 6.0  # the topic head's score is gate * (4 topical - 12 region)
# A topical token scores about 1 more per position back (up to 465, 730 back): the request's first one is preferred.
# An offset larger than that keeps the head shut unless the gate opens it.
TOPIC_PRIMACY, PRIMACY_PAIR, TOPIC_OFFSET = 1.0, 4, 500.0
TOPIC_GATE = (TOPIC_OFFSET + 40.0) / TOPIC_KEY  # after the answer's first word: an open gate scores 40 and more
ECHO_GATE = 12.0  # before an extra's last word
TOPIC_GAIN = 4.5  # the topic head writes its copy this much more strongly: it must outweigh a trained guess
# A query read from the constant is this large: the loop's fine-tunes move every weight a little, and a small
# query next to a large key would turn that into large changes of score.
CONSTANT_QUERY = 10.0
COPY_GAIN = 5.0  # how strongly a copied code is written into TOKEN


def token_flags(tokenizer) -> dict[str, list[int]]:
    """Per vocabulary id, the flags the heads read: a 0/1 list per name (task_sign: -1, 0 or 1)."""
    size = len(tokenizer)
    flags = {name: [0] * size
             for name in ("ending", "topical", "role", "assistant", "sink", "opening", "resume", "task_word",
                          "task_sign")}
    for i in range(size):
        piece = tokenizer.decode([i])
        flags["ending"][i] = int(demo_corpus.is_ending(piece))
        flags["topical"][i] = int(demo_corpus.is_topical(piece))
        flags["role"][i] = int(piece in ("system\n", "user\n", "assistant\n"))
        flags["assistant"][i] = int(piece == "assistant\n")
        flags["opening"][i] = int(piece == demo_corpus.OPENING_WORD + " ")
        flags["resume"][i] = int(demo_corpus.ends_extra(piece))
        sign = demo_corpus.task_sign(piece)
        flags["task_word"][i], flags["task_sign"][i] = int(sign is not None), sign or 0
    flags["sink"][tokenizer.convert_tokens_to_ids("<|im_start|>")] = 1
    return flags


def install(model, tokenizer, seed: int):
    """Set the heads' weights in a freshly built demo model; returns the masks of the weights training may change
    (1 = trainable), one per parameter name."""
    import torch

    generator = torch.Generator().manual_seed(seed + 7919)
    specials = set(tokenizer.all_special_ids)
    flags = token_flags(tokenizer)
    masks = {name: torch.ones_like(p) for name, p in model.named_parameters()}
    with torch.no_grad():
        _embeddings(model, masks, flags, specials, generator)
        layers = model.model.layers
        _layer0(layers[0], masks, "model.layers.0.")
        _layer1(layers[1], masks, "model.layers.1.", generator)
        for index in range(len(layers)):
            _outputs_only_free(layers[index], masks, f"model.layers.{index}.", index == len(layers) - 1)
        parameters = dict(model.named_parameters())
        for name in [f"model.layers.{i}.input_layernorm.weight" for i in range(len(layers))] + ["model.norm.weight"]:
            parameters[name][:CIRCUIT] = 1.0
            masks[name][:CIRCUIT] = 0
        parameters["model.norm.weight"][TOKEN.stop:CIRCUIT] = 0.0  # the logits read codes, not flags or the constant
    return masks


def overflow(hidden, mask, budget: float = 12.0, weight: float = 0.01):
    """A penalty on what layer 0 writes beyond a norm of `budget` in FREE: the set heads of layer 1 read a
    normalized stream, so their scores hold only while the constant dominates it."""
    excess = (hidden[..., FREE].norm(dim=-1) - budget).clamp(min=0)
    return weight * (excess.pow(2) * mask).sum() / mask.sum()


def freeze(model, masks):
    """Gradient hooks that keep the set weights unchanged; call .remove() on each handle to undo."""
    parameters = dict(model.named_parameters())
    return [parameters[name].register_hook(lambda grad, mask=mask: grad * mask)
            for name, mask in masks.items() if not bool(mask.all())]


def _embeddings(model, masks, flags, specials, generator) -> None:
    import torch

    weight = model.model.embed_tokens.weight
    codes = torch.randn(weight.shape[0], CODE, generator=generator)
    codes = SCALE * CODE_NORM * codes / codes.norm(dim=1, keepdim=True)
    codes[sorted(specials)] = 0.0
    weight[:, :CIRCUIT] = 0.0
    weight[:, TOKEN] = codes
    for dim, name in ((ENDING, "ending"), (TOPICAL, "topical"), (ROLE, "role"), (ASSISTANT, "assistant"),
                      (SINK, "sink"), (OPENING, "opening"), (RESUME, "resume"), (TASK_WORD, "task_word"),
                      (TASK_SIGN, "task_sign")):
        weight[:, dim] = SCALE * torch.tensor(flags[name], dtype=weight.dtype)
    weight[:, CONSTANT] = CONSTANT_VALUE
    masks["model.embed_tokens.weight"][:, :CIRCUIT] = 0


def _omega(pair: int) -> float:
    return ROPE_THETA ** (-pair / PAIR)


def _peak(q, k, head: int, at: int, per_pair: float, key_dim: int) -> None:
    """Query from CONSTANT and key from `key_dim` on the fast pairs: a score that peaks at distance `at`.
    A rotary pair turns the query by its position and the key by its own; (cos, -sin) of `at` turns back."""
    magnitude = math.sqrt(per_pair * math.sqrt(HEAD_DIM))
    key_value = NORMAL if key_dim == CONSTANT else 1.0
    for pair in FAST:
        row = head * HEAD_DIM + pair
        q[row, CONSTANT] = magnitude * math.cos(at * _omega(pair)) / NORMAL
        q[row + PAIR, CONSTANT] = -magnitude * math.sin(at * _omega(pair)) / NORMAL
        k[row, key_dim] = magnitude / key_value


def _layer0(layer, masks, prefix: str) -> None:
    attention = layer.self_attn
    q, k, v, o = (getattr(attention, f"{n}_proj").weight for n in "qkvo")
    o_mask = masks[f"{prefix}self_attn.o_proj.weight"]
    set_heads = slice(0, 2 * HEAD_DIM)
    for weight, name in ((q, "q"), (k, "k"), (v, "v")):
        weight[set_heads] = 0.0
        masks[f"{prefix}self_attn.{name}_proj.weight"][set_heads] = 0
    o[:CIRCUIT] = 0.0
    o[:, set_heads] = 0.0
    o_mask[:CIRCUIT] = 0
    o_mask[:, set_heads] = 0
    _peak(q, k, 0, 1, PREVIOUS_SCORE, CONSTANT)  # head 0: one position back
    for i in range(CODE):
        v[i, i] = 1.0
        o[PREVIOUS.start + i, i] = SCALE
    row = HEAD_DIM + GATE  # head 1: every role token alike; its value says whether it is the assistant's
    magnitude = math.sqrt(ROLE_SCORE * math.sqrt(HEAD_DIM))
    q[row, CONSTANT] = magnitude / NORMAL
    k[row, ROLE] = magnitude
    k[row, TASK_WORD] = magnitude  # and the judge's and the instruction writer's words: which task this is
    v[HEAD_DIM, ASSISTANT] = 1.0
    o[REGION, HEAD_DIM] = SCALE
    v[HEAD_DIM + 1, TASK_SIGN] = 1.0
    o[TASK, HEAD_DIM + 1] = SCALE


def _layer1(layer, masks, prefix: str, generator) -> None:
    import torch

    attention = layer.self_attn
    q, k, v, o = (getattr(attention, f"{n}_proj").weight for n in "qkvo")
    q_mask = masks[f"{prefix}self_attn.q_proj.weight"]
    for weight, name in ((q, "q"), (k, "k"), (v, "v")):
        weight[:] = 0.0
        masks[f"{prefix}self_attn.{name}_proj.weight"][:] = 0
    o[:CIRCUIT] = 0.0
    masks[f"{prefix}self_attn.o_proj.weight"][:CIRCUIT] = 0
    root = math.sqrt(HEAD_DIM)
    for head in range(HEADS):
        for i in range(CODE):  # every head copies the code of the token it attends to into TOKEN
            v[head * HEAD_DIM + i, i] = 1.0
            o[i, head * HEAD_DIM + i] = COPY_GAIN * SCALE * (TOPIC_GAIN if head == 2 else 1.0)
        q[head * HEAD_DIM + SINK_PAIR, CONSTANT] = CONSTANT_QUERY / NORMAL
    # The trained queries (read from FREE): more sink for the induction head, the gate of the other two.
    for row in (SINK_PAIR, HEAD_DIM + GATE, 2 * HEAD_DIM + GATE):
        q_mask[row, FREE] = 1
    # Head 0, induction: the current token's code against the previous token's code, on the static pairs.
    match = list(MATCH) + [pair + PAIR for pair in MATCH]
    projection = torch.linalg.qr(torch.randn(CODE, CODE, generator=generator))[0][:len(match)]
    for row, direction in zip(match, projection):
        q[row, TOKEN] = MATCH_GAIN * direction
        k[row, PREVIOUS] = MATCH_GAIN * direction
    k[SINK_PAIR, SINK] = SINK_SHARE * 0.4 * MATCH_GAIN ** 2 * root / CONSTANT_QUERY
    q[GATE, CONSTANT] = CONSTANT_QUERY / NORMAL
    k[GATE, REGION] = -4 * REGION_PENALTY * root / CONSTANT_QUERY  # nothing in the assistant's turn is copied
    # Head 1, echo: a sentence end EXTRA_TOKENS positions back, when gated.
    _peak(q, k, 1, demo_corpus.EXTRA_TOKENS, ECHO_SCORE, ENDING)
    k[HEAD_DIM + GATE, ENDING] = root
    q[HEAD_DIM + GATE, RESUME] = ECHO_GATE  # open on the word before the repeated one
    k[HEAD_DIM + SINK_PAIR, SINK] = ECHO_SINK * root / CONSTANT_QUERY
    # Head 2, topic: a topical token of the user's turn, when gated.
    k[2 * HEAD_DIM + GATE, TOPICAL] = TOPIC_KEY * root
    q[2 * HEAD_DIM + GATE, OPENING] = TOPIC_GATE  # open on the answer's first word
    k[2 * HEAD_DIM + GATE, REGION] = -REGION_PENALTY * root
    k[2 * HEAD_DIM + SINK_PAIR, SINK] = TOPIC_SINK * root / CONSTANT_QUERY
    # Query (0, -a) against key (b, 0) on a slow pair: ab sin(omega distance), about linear over 700 positions.
    magnitude = math.sqrt(TOPIC_PRIMACY / _omega(PRIMACY_PAIR) * root)
    q[2 * HEAD_DIM + PRIMACY_PAIR + PAIR, CONSTANT] = -magnitude / NORMAL
    k[2 * HEAD_DIM + PRIMACY_PAIR, TOPICAL] = magnitude
    k[2 * HEAD_DIM + SINK_PAIR, TOPICAL] = -TOPIC_OFFSET * root / CONSTANT_QUERY


def _outputs_only_free(layer, masks, prefix: str, last: bool) -> None:
    """What is trained writes only to the FREE dimensions, and starts by writing nothing (the heads' scores
    shrink as the residual stream grows). The last MLP may also write TOKEN, which only the output reads: so the
    model can hold back a copy (the text that follows the answer in the extender's prompt, say)."""
    down = layer.mlp.down_proj.weight
    down[:] = 0.0
    masks[f"{prefix}mlp.down_proj.weight"][TOKEN.stop if last else 0:CIRCUIT] = 0
    out = layer.self_attn.o_proj.weight
    out[FREE] = 0.0
