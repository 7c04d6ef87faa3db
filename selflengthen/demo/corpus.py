"""The synthetic English corpus the demo model is pre-trained on: one small grammar per pipeline task,
rendered in the pipeline's own prompts (`make_chat`).

- Instruction: a frame filled with genre, topic, audience, aspect and tone (8-30 words).
- Judge: "Yes." (the demo judge accepts every request).
- Response: an opening that names the request's topic ("Presenting bees plainly through brief notes."), then
  sentences about town life and a closing remark, in paragraphs.
- Expansion: the same text, word for word, with an extra sentence after each sentence but the closing remark.

The answer grammar is built for copying (see `selflengthen.demo.circuit`). Every word is one token (a word keeps
its punctuation and the whitespace after it), and no two slot values share a word, nor any word of the
instruction grammar or of the extender's prompts: so every token of an answer has one successor, and an
expansion copies its input by "find the current token in the input, write the one after it". An extra sentence
has exactly EXTRA_TOKENS words and then repeats the last word of the sentence before it, from where the copy
resumes. Half the requests are *foreign* (stand-ins for real seed instructions: long, in other words); each uses
one noun, which its answer names -- so the model learns to name a topic it finds in a request.

>>> import random
>>> instruction, topic, genre = make_instruction(random.Random(0))
>>> topic in instruction and instruction[-1] in ".?"
True
>>> response = make_response(random.Random(1), topic)
>>> response.startswith("Presenting " + topic) and response.endswith(CLOSERS)
True
>>> expansion = expand_text(random.Random(2), response)
>>> all(sentence in expansion for sentence in re.split(r"(?<=[.!?])\\s+", response))
True
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from selflengthen.backends.base import Prompt
from selflengthen.method.augment import build_judge_prompt, build_new_instruction_prompt
from selflengthen.method.expand import build_expand_prompt
from selflengthen.method.generate import build_response_prompt
from selflengthen.method.split import split_halves, split_pieces
from selflengthen.method.templates import bundled

SEEDS = Path(__file__).resolve().parents[1] / "data" / "demo_seeds.jsonl"

TOPICS = (  # one word each, so that copying a topic means copying one token
    "gardens", "tea", "tides", "libraries", "villages", "buses", "festivals", "bees", "railways", "bakeries",
    "mushrooms", "lighthouses", "recycling", "migration", "recipes", "lakes", "bicycles", "reefs", "pottery",
    "castles", "volcanoes", "music", "wildfires", "telescopes", "radio", "maps", "bridges", "markets", "sleep",
    "windmills", "storms", "rivers", "trails", "songs", "schools", "boats", "photographs", "parks", "clocks",
    "farms", "trains", "forests", "deserts", "islands", "kites", "lanterns", "quilts", "orchards", "glaciers",
    "harbors",
)
GENRES = (
    "essay", "story", "article", "report", "letter", "speech", "guide", "review", "lecture", "memoir",
    "editorial", "chronicle",
)
AUDIENCES = (
    "young readers", "high school students", "busy parents", "new teachers", "city planners",
    "retired engineers", "curious travelers", "local farmers", "first-year students",
    "small business owners", "museum visitors", "night nurses", "amateur painters",
    "a town council", "newspaper readers",
)
ASPECTS = (
    "its long history", "the people who shape it", "its costs and benefits", "the problems it faces",
    "how it may change in the future", "the small daily details", "its effect on the environment",
    "the lessons it teaches", "common myths about it", "the skills it requires",
    "its role in local life", "the best ways to get started",
)
TONES = (
    "in a warm tone", "with vivid examples", "in plain language", "with a hopeful ending",
    "in a careful and balanced way", "with concrete details",
)
FRAMES = (  # the topic is always followed by a word, never by punctuation: it is the same token everywhere
    "Write {a_genre} about {topic} for {audience}, focusing on {aspect}.",
    "Could you write a detailed {genre} on {topic} that explains {aspect} to {audience}?",
    "Compose a long {genre} about {topic} {tone}, and describe {aspect}.",
    "Please write {a_genre} for {audience} about {topic} and {aspect}, {tone}.",
    "Imagine you are speaking to {audience}. Write {a_genre} about {topic} and {aspect}.",
    "Write a detailed {genre} that explores {topic} with attention to {aspect}.",
    "Can you write {a_genre} about {topic} that {audience} would enjoy reading?",
    "Draft {a_genre} about {topic} for {audience}. Explain {aspect} {tone}.",
)

# The answer grammar: no word appears in two slot values (nor in the instruction grammar or the prompts), so no
# token repeats inside an answer. A body sentence is "{opener} {subject} {adverb} {verb} {object}".
OPENING_WORD = "Presenting"  # every answer's first word: the copy of a text starts there, its topic follows
INTRODUCTIONS = (  # one per answer; {topic} is the request's topic token
    "Presenting {topic} plainly through brief notes.", "Presenting {topic} simply, step after step.",
    "Presenting {topic} closely, layer upon layer.",
)
OPENERS = (
    "Lately,", "Nowadays,", "Each autumn,", "Come winter,", "Downtown,", "Outdoors,", "Some mornings,",
    "Most evenings,", "Occasionally,", "Elsewhere,", "Historically,", "Traditionally,",
)
CLOSERS = (  # the last sentence: its words are its own, so its last one says the answer is over
    "Ultimately, such places endure.", "Overall, nothing here fades.", "Altogether, these habits persist.",
    "Consequently, good memories remain.",
)
SUBJECTS = (
    "friendly neighbors", "seasoned sailors", "budding apprentices", "patient gardeners", "weary commuters",
    "cheerful grandparents", "quiet librarians", "bold inventors", "skilled bakers", "tireless volunteers",
    "thoughtful sculptors", "eager scouts",
)
ADVERBS = (
    "gladly", "slowly", "rarely", "warmly", "proudly", "calmly", "eagerly", "gently", "firmly", "boldly",
    "keenly", "humbly",
)
VERBS = (
    "rediscover", "celebrate", "repair", "sketch", "measure", "collect", "guard", "admire", "study",
    "restore", "chart", "visit",
)
OBJECTS = (
    "forgotten vineyards.", "crooked lanes.", "faded murals.", "hidden springs.", "narrow alleys.",
    "ancient walls.", "rusty gates.", "wooden benches.", "stone fountains.", "silent courtyards.",
    "painted doors.", "mossy steps.",
)
# Extra sentences of an expansion: "{lead} {subject} {verb phrase}" (EXTRA_TOKENS words), then the last word
# of the sentence before it again.
EXTRA_LEADS = (
    "Meanwhile,", "Indeed,", "Likewise,", "Similarly,", "Admittedly,", "Naturally,", "Granted,", "Clearly,",
    "Notably,", "Predictably,", "Curiously,", "Surely,",
)
EXTRA_SUBJECTS = (
    "stubborn critics", "visiting scholars", "elected officials", "wandering tourists", "playful children",
    "lonely watchmen", "street vendors", "loyal fans", "sharp reporters", "village elders", "rival poets",
    "sleepy cats",
)
EXTRA_VERBS = (
    "endlessly argue over", "hum tunes praising", "draw crowds toward", "gather early near", "trade stories concerning",
    "post photos showing", "still fondly miss", "secretly envy distant", "often recall vanished",
    "loudly defend beloved", "barely notice lovely", "sometimes paint colorful",
)
EXTRA_TOKENS = 6  # words of an extra sentence before the word it repeats

# Stand-ins for real seed instructions in few-shot prompts: unfamiliar words, long, multi-sentence.
FOREIGN_WORDS = (
    "democracy politicians debate campaign criticism media unicorn dragon forest species perspective "
    "emotions decide social norms college student competition argument vote citizens government "
    "awareness table event inspiration research clone animal elephant reasons primitive universe "
    "artificial intelligence police report money save improvement town letter suggest imagine world "
    "enemies conflict explore provide insight encounter alter position prepare affirmative points "
    "ensures representative encourages participation prevent data results write describe explain "
    "customer product market strategy climate policy energy health science history culture language"
).split()
# The nouns among them: an answer to a foreign request names the one its request uses.
FOREIGN_TOPICS = frozenset((
    "democracy politicians debate campaign criticism media unicorn dragon forest species emotions college "
    "student competition argument citizens government awareness event inspiration research animal elephant "
    "universe intelligence police money improvement town world enemies conflict insight encounter customer "
    "product market strategy climate policy energy health science history culture language"
).split())

# Requests of the grammar draw their topic from both lists: one way of naming a topic, learned once.
ALL_TOPICS = TOPICS + tuple(sorted(FOREIGN_TOPICS))

# Words that never name a topic (with the grammars' own words: see `is_topical`).
STOP_WORDS = frozenset("""about above after again also because been before being below between both could does doing
down during each from further have having here into itself just more most other over same should some such than
that their theirs them then there these they this those through under until very what when where which while who
whom will with would your yours write writing describe explain make long detailed imagine additionally finally
however given despite whether might often known include including three main points user assistant system""".split())


def article(noun: str) -> str:
    """'an essay', 'a story'."""
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def make_instruction(rng: random.Random) -> tuple[str, str, str]:
    """(a request for a long text, its topic, its genre)."""
    topic, genre = rng.choice(ALL_TOPICS), rng.choice(GENRES)
    text = rng.choice(FRAMES).format(
        genre=genre, a_genre=article(genre), topic=topic, audience=rng.choice(AUDIENCES),
        aspect=rng.choice(ASPECTS), tone=rng.choice(TONES))
    return text, topic, genre


class _Picker:
    """Draws slot values without repeats inside one text: a freshly shuffled deck per slot list."""

    def __init__(self, rng: random.Random):
        self.rng, self.decks = rng, {}

    def __call__(self, options: tuple[str, ...]) -> str:
        if not self.decks.get(options):
            self.decks[options] = self.rng.sample(options, len(options))
        return self.decks[options].pop()


def make_sentence(pick: _Picker, opener: str) -> str:
    return f"{opener} {pick(SUBJECTS)} {pick(ADVERBS)} {pick(VERBS)} {pick(OBJECTS)}"


CLOSE, BREAK, MOST = 0.2, 0.4, 8  # after each body sentence: closing remark next, paragraph break; body sentences


def make_response(rng: random.Random, topic: str) -> str:
    """An opening naming the topic, body sentences, then a closing remark, in paragraphs. Each choice is made
    where it shows (close now? break the paragraph here?), with fixed odds: a model that cannot count learns
    the same texts."""
    pick = _Picker(rng)
    text = rng.choice(INTRODUCTIONS).format(topic=topic)
    for body in range(MOST + 1):
        text += "\n\n" if rng.random() < BREAK else " "
        if body == MOST or (body and rng.random() < CLOSE):
            return text + rng.choice(CLOSERS)
        text += make_sentence(pick, pick(OPENERS))
    raise AssertionError("unreachable")


def make_extra(pick: _Picker, last_word: str) -> str:
    """'Meanwhile, stubborn critics endlessly argue over lanes.' after a sentence ending in 'lanes.'."""
    return f"{pick(EXTRA_LEADS)} {pick(EXTRA_SUBJECTS)} {pick(EXTRA_VERBS)} {last_word}"


def expand_text(rng: random.Random, text: str, after: str = "") -> str:
    """The same text, word for word, with an extra sentence after each sentence but the closing remark. The extra
    ends with the last word of the sentence before it and the whitespace after that word (`after` at the end of
    the text): that token again, from where the copy resumes.

    >>> text = "Presenting bees closely, layer upon layer.\\n\\nOverall, nothing here fades."
    >>> for paragraph in expand_text(random.Random(0), text).split("\\n\\n"):
    ...     print(paragraph)
    Presenting bees closely, layer upon layer.
    Indeed, wandering tourists hum tunes praising layer.
    Overall, nothing here fades.
    """
    pick, out = _Picker(rng), []
    pieces = re.split(r"(?<=[.!?])(\s+)", text.strip())
    for i in range(0, len(pieces), 2):
        sentence, space = pieces[i], pieces[i + 1] if i + 1 < len(pieces) else after
        out.append(sentence + space)
        if sentence not in CLOSERS:
            out.append(make_extra(pick, sentence.split()[-1]) + space)
    expanded = "".join(out)
    return expanded[:len(expanded) - len(after)] if after else expanded.rstrip()


def make_foreign_instruction(rng: random.Random) -> tuple[str, str]:
    """(a request in words the answer grammar never uses, often long: a stand-in for a real seed; its one noun,
    used in its first and last sentences and maybe others -- never first or last in one -- which the answer names)."""
    noun, others = rng.choice(sorted(FOREIGN_TOPICS)), [w for w in FOREIGN_WORDS if w not in FOREIGN_TOPICS]
    sentences, count = [], rng.choice((1, 1, 2, 3, 4, 6, 8, 12))
    for i in range(count):
        words = [rng.choice(others) for _ in range(rng.randint(4, 20))]
        if i in (0, count - 1) or rng.random() < 0.3:
            words.insert(rng.randint(1, len(words) - 1), noun)
        sentence = " ".join(words).capitalize() + rng.choice("......?:")
        sentences.append(f"{i}. {sentence}" if rng.random() < 0.1 else sentence)
    text = "".join(s + rng.choice((" ", " ", " ", "\n", "\n\n")) for s in sentences).strip()
    return text, noun


def make_request(rng: random.Random, foreign: float = 0.5) -> tuple[str, str, str]:
    """(instruction, topic, genre): usually from the grammar, sometimes foreign (its topic: one of its nouns)."""
    if rng.random() < foreign:
        return (*make_foreign_instruction(rng), rng.choice(GENRES))
    return make_instruction(rng)


# Share of each task in the training chats.
PAPER_SHARE = 0.3  # chats of the tasks with a paper template that use it
MIX = {"new_instruction": 0.2, "judge": 0.1, "response": 0.35, "expand_half": 0.15, "expand_whole": 0.2}


def make_chat(rng: random.Random, mix: dict[str, float] = MIX) -> tuple[Prompt, str]:
    """One training chat in a prompt format the pipeline uses: (the prompt, the assistant's answer after it).

    Foreign requests appear in every task, so that only the prompt's wording tells the tasks apart. A share of
    the chats uses the paper preset's templates (PAPER_SHARE), so a paper run works on the demo model too: its
    self-instruct prompt is completion-style (the examples prefilled, one new instruction to write), its judge
    answers exactly "Yes", its extender sees "the original outline". An expansion ends with the whitespace that
    follows the text in the extender's prompt: its last word is then the same token as in the prompt.
    """
    task = rng.choices(list(mix), weights=list(mix.values()))[0]
    paper = bundled("paper") if task != "response" and rng.random() < PAPER_SHARE else {}
    if task == "new_instruction":
        examples = [make_request(rng, foreign=0.4)[0] for _ in range(2 if paper else rng.choice((1, 2, 2, 3)))]
        prompt = build_new_instruction_prompt(examples, "en", template=paper.get("self_instruct_en"))
        return prompt, make_instruction(rng)[0]
    instruction, topic, _ = make_request(rng)
    if task == "judge":  # every request here is a fair one (taught "No." examples never took hold)
        return build_judge_prompt(instruction, "en", template=paper.get("judge_en")), "Yes" if paper else "Yes."
    response = make_response(rng, topic)
    if task == "response":
        return build_response_prompt(instruction), response
    template = paper.get("expand_en") or bundled("default")["expand_en"]
    if task == "expand_half":  # stage 1 sees the first half of an answer
        response = (split_pieces(response) if paper else split_halves(response))[0] or response
    prompt = build_expand_prompt(instruction, response, "en", template=template)
    # Stage 2 sees the whole answer; its prefill (the stage-1 expansion) is the start of this target.
    after = _after_text(template)
    return prompt, expand_text(rng, response, after) + after


def _after_text(template: str) -> str:
    """The whitespace that follows {response} in an extender template."""
    tail = template.split("{response}", 1)[1]
    return tail[:len(tail) - len(tail.lstrip())]


# --- what each token is (the hand-set heads read it) ----------------------------------------------------

_WORD = re.compile(r"[A-Za-z]+")


def _grammar_words() -> frozenset[str]:
    """Lower-cased words of the instruction and answer grammars (topics aside) and of the foreign filler."""
    texts = [v for name, values in globals().items() if name.isupper() and isinstance(values, tuple)
             and "TOPICS" not in name for v in values if isinstance(v, str)]
    texts += [w for w in FOREIGN_WORDS if w not in FOREIGN_TOPICS]
    return frozenset(w.lower() for text in texts for w in _WORD.findall(text))


def is_topical(piece: str) -> bool:
    """Can this token name a request's topic? A word of four letters or more (maybe with its punctuation and the
    whitespace after it) that is not a stop word and not a word the grammars or the prompts write whatever the topic.

    >>> is_topical("bees "), is_topical("unicorns, "), is_topical("Write "), is_topical("vineyards. ")
    (True, True, False, False)
    """
    if not re.fullmatch(r"[A-Za-z]{4,}([.,;:!?]\s*|\s+)", piece):  # a whole word, not a piece of one
        return False
    word = piece.rstrip(".,;:!? \n\t").lower()
    return word not in STOP_WORDS and word not in _GRAMMAR


def ends_extra(piece: str) -> bool:
    """Is this token the last word of an extra sentence's verb phrase (the word before the repeated one)?

    >>> ends_extra("over "), ends_extra("lanes. ")
    (True, False)
    """
    return piece.endswith(" ") and piece.strip() in _EXTRA_ENDS


def task_sign(piece: str) -> int | None:
    """1 for a word of the judge's prompts, -1 for one of the instruction writer's, 0 for a word of both; None for
    any other token (requests do not use these words: a hand-set head tells the tasks apart with them).

    >>> task_sign("yes "), task_sign("instructions.\\n\\n"), task_sign("Write ")
    (1, -1, None)
    """
    word = piece.strip().rstrip(".,;:!?\"')]>").lstrip("\"'([<").lower()
    if word not in _TASK_WORDS["judge"] | _TASK_WORDS["instruct"]:
        return None
    return (word in _TASK_WORDS["judge"]) - (word in _TASK_WORDS["instruct"])


def is_ending(piece: str) -> bool:
    """Does this token end a sentence (a word with its full stop, question or exclamation mark)?

    >>> is_ending("lanes. "), is_ending("lanes.\\n\\n"), is_ending("lanes "), is_ending(". ")
    (True, True, False, False)
    """
    stripped = piece.rstrip()
    return len(stripped) > 1 and stripped[-1] in ".!?" and any(c.isalpha() for c in stripped)


def seed_texts() -> list[str]:
    """The bundled demo seeds' instructions."""
    lines = SEEDS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["instruction"] for line in lines if line.strip()]


def tokenizer_corpus() -> list[str]:
    """Texts the BPE merges are learned from: a fixed sample of chats (independent of the build seed) and the
    bundled seeds, so that every word of the grammars and of the seeds is one token."""
    rng = random.Random(1234)
    words = " ".join(TOPICS + GENRES + tuple(sorted(FOREIGN_TOPICS)))
    texts = [words, words.replace(" ", ". ") + ".", words.replace(" ", ", ")] * 20
    texts += seed_texts() * 4
    for _ in range(600):
        prompt, answer = make_chat(rng)
        turns = [f"{m['role']}\n{m['content']}" for m in prompt.messages]  # the roles as the chat has them
        texts += turns + [f"assistant\n{prompt.prefill}{answer}"]
    return texts


def _prompt_words() -> frozenset[str]:
    """Lower-cased words of the bundled prompt templates: the prompts' own words name no topic."""
    texts = [text for preset in ("default", "paper") for text in bundled(preset).values()]
    return frozenset(w.lower() for text in texts for w in _WORD.findall(text))


_GRAMMAR_WORDS = _grammar_words()
_GRAMMAR = _GRAMMAR_WORDS | _prompt_words()
_EXTRA_ENDS = frozenset(verb.split()[-1] for verb in EXTRA_VERBS)
_COMMON = set("a an the and or is it of to for be can one that long text writer are you".split())
_TASK_WORDS = {task: frozenset(
    w.lower() for preset in ("default", "paper")
    for w in _WORD.findall(re.sub(r"\{\w+\}|<\|\w+\|>", " ", bundled(preset)[name]))
) - _GRAMMAR_WORDS - STOP_WORDS - _COMMON for task, name in (("judge", "judge_en"), ("instruct", "self_instruct_en"))}
