"""The synthetic English corpus the demo model is pre-trained on: one small grammar per pipeline task,
rendered in the pipeline's own prompts (`make_chat`).

- Instruction: a frame filled with genre, topic, audience, aspect and tone (8-30 words).
- Judge: "Yes." (the demo judge accepts every request).
- Response: 2-4 paragraphs, 3-6 sentences: "Here is an essay about bees." naming the request's genre and
  topic, clauses about the topic, and a closing remark.
- Expansion: the same paragraphs with an extra sentence after each sentence (about twice the words).

Slots are drawn without repeats inside a text, so an answer never repeats a 10-word run (the gates'
check). Topics and genres are single words that never start a sentence: one token each, always the
same, so the model copies the request's topic by copying one token. Half the requests are *foreign*
(stand-ins for real seed instructions: long, in other words); each uses one noun, once or more, and its
answer names that noun -- so the model learns to name a topic it finds in a request, not one of a list.

>>> import random
>>> instruction, topic, genre = make_instruction(random.Random(0))
>>> topic in instruction and instruction[-1] in ".?"
True
>>> response = make_response(random.Random(1), topic, genre)
>>> 2 <= len(response.split("\\n\\n")) <= 4
True
>>> expansion = expand_text(random.Random(2), response, topic)
>>> expansion.count("\\n\\n") == response.count("\\n\\n")
True
"""

from __future__ import annotations

import random

from selflengthen.backends.base import Prompt
from selflengthen.method.augment import build_judge_prompt, build_new_instruction_prompt
from selflengthen.method.expand import build_expand_prompt
from selflengthen.method.generate import build_response_prompt
from selflengthen.method.split import split_halves, split_pieces
from selflengthen.method.templates import bundled

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
FRAMES = (
    "Write {a_genre} about {topic} for {audience}, focusing on {aspect}.",
    "Could you write a detailed {genre} on {topic} that explains {aspect} to {audience}?",
    "Compose a long {genre} about {topic} {tone}, and describe {aspect}.",
    "Please write {a_genre} for {audience} about {topic}, covering {aspect} {tone}.",
    "Imagine you are speaking to {audience}. Write {a_genre} about {topic} and {aspect}.",
    "Write a detailed {genre} that explores {topic}, with attention to {aspect}.",
    "Can you write {a_genre} about {topic} that {audience} would enjoy reading?",
    "Draft {a_genre} about {topic} for {audience}. Explain {aspect} {tone}.",
)

# Answer clauses: every slot is a few words long and a sentence has three or more slots, so a 10-word run
# repeats only when several slots repeat together. Verbs carry a modal, so they fit any topic.
LEADS = (
    "Many people believe", "Teachers often say", "Old records suggest", "Visitors quickly learn",
    "Local experts agree", "It is easy to forget how", "Anyone can see how", "Careful observers note how",
    "Historians remind us how", "Most families know",
)
MODAL_VERBS = (
    "can shape", "will change", "may connect", "could strengthen", "must protect", "can teach",
    "might reflect", "should support", "can surprise", "will outlast", "may inspire", "can transform",
)
OBJECTS = (
    "daily life", "whole towns", "young and old", "local habits", "the people nearby", "our sense of place",
    "family traditions", "quiet streets", "the next generation", "small businesses", "shared memories",
    "public spaces",
)
MANNERS = (
    "", "", " in quiet ways", " over many years", " more than expected", " for a long time",
    " without much notice", " in surprising ways", " step by step", " for good",
)
OPENERS = (
    "In many towns", "Over the last decade", "On a quiet morning", "For most families", "In small schools",
    "During long winters", "Across the region", "After a hard year", "Every spring", "In busy cities",
)
SUBJECTS = (
    "young people", "local groups", "careful writers", "neighbors", "volunteers", "older residents",
    "students", "visitors", "shop owners", "researchers",
)
VERBS = (
    "have learned to value", "often talk about", "keep coming back to", "slowly rediscover",
    "quietly depend on", "like to argue about", "make time for", "write letters about",
)
TAILS = ("", "", " with real enthusiasm", " more than ever", " as a shared habit", " without much fuss")
GENERIC = (
    "find new reasons to care", "share what they have learned", "notice small changes that matter",
    "ask better questions each year", "see the value of patient work", "save a little for the future",
)
INTRODUCTIONS = (
    "Here is {a_genre} about {topic}.", "This {genre} is about {topic}.", "What follows is {a_genre} on {topic}.",
)
CLOSERS = ("In the end,", "Above all,", "For these reasons,", "Taken together,", "Looking ahead,")

# Extra sentences of an expansion: other words than the answer's, built the same way.
EXTRA_LEADS = (
    "For example,", "In practice,", "This matters because", "As one teacher put it,", "Seen up close,",
    "According to local records,", "On closer inspection,", "What stands out is that", "Put simply,",
    "Year after year,",
)
EXTRA_VERBS = (
    "can be traced through", "may depend on", "can be shaped by", "will always need", "can be explained by",
    "might grow out of", "could not exist without", "can be measured by",
)
EXTRA_OBJECTS = (
    "old letters and photographs", "one stubborn person", "weather, money and luck", "trust between neighbors",
    "the work of volunteers", "careful record keeping", "a few simple tools", "ordinary daily choices",
    "the patience of experts", "small public grants",
)
EXTRA_SUBJECTS = (
    "small details", "family stories", "old habits", "careful plans", "shared meals", "simple tools",
    "patient efforts", "written records", "modest steps", "community meetings", "hand-drawn maps",
    "local songs",
)
EXTRA_PREDICATES = (
    "carry the biggest lessons", "keep the memory alive", "spread from street to street", "matter more than money",
    "make the work lighter", "help everyone take part", "outlast any single season", "tell a longer story",
    "connect young and old", "reward careful attention", "cost less than expected", "turn mistakes into lessons",
)

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
# The nouns among them: an answer to a foreign request names one of those its request uses.
FOREIGN_TOPICS = frozenset((
    "democracy politicians debate campaign criticism media unicorn dragon forest species emotions college "
    "student competition argument citizens government awareness event inspiration research animal elephant "
    "universe intelligence police money improvement town world enemies conflict insight encounter customer "
    "product market strategy climate policy energy health science history culture language"
).split())


# Requests of the grammar draw their topic from both lists: one way of naming a topic, learned once.
ALL_TOPICS = TOPICS + tuple(sorted(FOREIGN_TOPICS))


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


def make_sentence(pick: _Picker, topic: str) -> str:
    form = pick.rng.random()
    if form < 0.4:
        return f"{pick(LEADS)} {topic} {_claim(pick)}."
    if form < 0.75:
        return f"{pick(OPENERS)}, {pick(SUBJECTS)} {pick(VERBS)} {topic}{pick(TAILS)}."
    return f"{pick(OPENERS)}, {pick(SUBJECTS)} {pick(GENERIC)}."


def make_response(rng: random.Random, topic: str, genre: str) -> str:
    """2-4 paragraphs, 3-6 sentences: one naming the genre and topic, then the body, then a closing remark."""
    pick = _Picker(rng)
    n_sentences = rng.randint(3, 6)
    n_paragraphs = rng.randint(2, min(4, n_sentences))
    sentences = [pick(INTRODUCTIONS).format(genre=genre, a_genre=article(genre), topic=topic)]
    sentences += [make_sentence(pick, topic) for _ in range(n_sentences - 2)]
    sentences.append(f"{pick(CLOSERS)} {topic} {_claim(pick)}.")
    cuts = sorted(rng.sample(range(1, n_sentences), n_paragraphs - 1))
    bounds = [0, *cuts, n_sentences]
    return "\n\n".join(" ".join(sentences[a:b]) for a, b in zip(bounds, bounds[1:]))


def _claim(pick: _Picker) -> str:
    """'can shape daily life in quiet ways'."""
    return f"{pick(MODAL_VERBS)} {pick(OBJECTS)}{pick(MANNERS)}"


def make_extra(pick: _Picker, topic: str) -> str:
    if pick.rng.random() < 0.4:
        return f"{pick(EXTRA_LEADS)} {topic} {pick(EXTRA_VERBS)} {pick(EXTRA_OBJECTS)}."
    return f"{pick(EXTRA_LEADS)} {pick(EXTRA_SUBJECTS)} {pick(EXTRA_PREDICATES)}."


def expand_text(rng: random.Random, text: str, topic: str) -> str:
    """The same paragraphs, each sentence followed by an extra one (a closing remark stays last)."""
    pick, paragraphs = _Picker(rng), []
    for paragraph in text.split("\n\n"):
        out = []
        for sentence in _sentences(paragraph):
            if sentence.startswith(CLOSERS):
                out += [make_extra(pick, topic), sentence]
            else:
                out += [sentence, make_extra(pick, topic)]
        paragraphs.append(" ".join(out))
    return "\n\n".join(paragraphs)


def _sentences(paragraph: str) -> list[str]:
    parts = paragraph.replace(". ", ".\x00").split("\x00")
    return [p for p in parts if p]


def make_foreign_instruction(rng: random.Random) -> tuple[str, str]:
    """(a request in words the answer grammar never uses, often long: a stand-in for a real seed; its one noun,
    used once or more inside its sentences, which the answer names as its topic)."""
    noun, others = rng.choice(sorted(FOREIGN_TOPICS)), [w for w in FOREIGN_WORDS if w not in FOREIGN_TOPICS]
    sentences = []
    for i in range(rng.choice((1, 1, 2, 3, 4, 6, 8, 12))):
        words = [rng.choice(others) for _ in range(rng.randint(4, 20))]
        if i == 0 or rng.random() < 0.3:  # never the capitalised first word
            words.insert(rng.randint(1, len(words)), noun)
        sentence = " ".join(words).capitalize() + rng.choice("......?:")
        sentences.append(f"{i}. {sentence}" if rng.random() < 0.1 else sentence)
    text = "".join(s + rng.choice((" ", " ", " ", "\n", "\n\n")) for s in sentences).strip()
    return text, noun


def make_request(rng: random.Random, foreign: float = 0.5) -> tuple[str, str, str]:
    """(instruction, topic, genre): usually from the grammar, sometimes foreign (its topic: one of its nouns)."""
    if rng.random() < foreign:
        return (*make_foreign_instruction(rng), rng.choice(GENRES))
    return make_instruction(rng)


# Share of each task in the training chats. Answers to a plain request come first in training (WARMUP_MIX):
# the tiny model learns to copy the request's topic there before the long expansion prompts arrive.
PAPER_SHARE = 0.3  # chats of the tasks with a paper template that use it
MIX = {"new_instruction": 0.25, "judge": 0.1, "response": 0.25, "expand_half": 0.18, "expand_whole": 0.22}
WARMUP_MIX = {"new_instruction": 0.05, "judge": 0.05, "response": 0.9}


def make_chat(rng: random.Random, mix: dict[str, float] = MIX) -> tuple[Prompt, str]:
    """One training chat in a prompt format the pipeline uses: (the prompt, the assistant's answer after it).

    Foreign requests appear in every task, so that only the prompt's wording tells the tasks apart. A share of
    the chats uses the paper preset's templates (PAPER_SHARE), so a paper run works on the demo model too: its
    self-instruct prompt is completion-style (the examples prefilled, one new instruction to write), its judge
    answers exactly "Yes", its extender sees "the original outline".
    """
    task = rng.choices(list(mix), weights=list(mix.values()))[0]
    paper = bundled("paper") if task != "response" and rng.random() < PAPER_SHARE else {}
    if task == "new_instruction":
        examples = [make_request(rng, foreign=0.4)[0] for _ in range(2 if paper else rng.choice((1, 2, 2, 3)))]
        prompt = build_new_instruction_prompt(examples, "en", template=paper.get("self_instruct_en"))
        return prompt, make_instruction(rng)[0]
    instruction, topic, genre = make_request(rng)
    if task == "judge":  # every request here is a fair one (taught "No." examples never took hold)
        return build_judge_prompt(instruction, "en", template=paper.get("judge_en")), "Yes" if paper else "Yes."
    response = make_response(rng, topic, genre)
    if task == "response":
        return build_response_prompt(instruction), response
    template = paper.get("expand_en")
    if task == "expand_half":  # stage 1 sees the first half of an answer
        first = (split_pieces(response) if paper else split_halves(response))[0]
        return build_expand_prompt(instruction, first, "en", template=template), expand_text(rng, first, topic)
    # Stage 2 sees the whole answer; its prefill (the stage-1 expansion) is the start of this target.
    return build_expand_prompt(instruction, response, "en", template=template), expand_text(rng, response, topic)


def tokenizer_corpus() -> list[str]:
    """Texts the BPE merges are learned from: a fixed sample of chats (independent of the build seed)."""
    rng = random.Random(1234)
    texts = [" ".join(TOPICS + GENRES + tuple(sorted(FOREIGN_TOPICS)))] * 20  # each topic and genre: one token
    for _ in range(400):
        prompt, answer = make_chat(rng)
        texts += [m["content"] for m in prompt.messages] + [prompt.prefill + answer]
    return texts
