"""Instruction augmentation: parsing the model's new instruction and the judge's verdict, ROUGE-L near-duplicates."""

import random

import pytest
from rouge_score import rouge_scorer

from selflengthen.method.augment import (
    build_judge_prompt, build_new_instruction_prompt, parse_judgement, parse_new_instruction)
from selflengthen.method.generate import build_response_prompt
from selflengthen.method.rouge import NearDuplicateIndex, RougeTokenizer


@pytest.mark.parametrize("reply, expected", [
    ("Write a poem about rain.", "Write a poem about rain."),
    ('Instruction 3: "Write a poem about rain."', "Write a poem about rain."),
    ("Instruction 3:\nWrite an essay on trade.\n", "Write an essay on trade."),
    ("  new instruction: Describe a city.  ", "Describe a city."),
    ("INSTRUCTION: Describe a city.", "Describe a city."),
    ("**Instruction 3:** Write a story.", "Write a story."),
    ("**Instruction 3**: Write a story.", "Write a story."),
    ("### New instruction: Write a story.", "Write a story."),
    ("Instruction #4: Write a story.", "Write a story."),
    ("指令3：\n写一篇关于春天的文章。", "写一篇关于春天的文章。"),
    ("新指令：写一首诗。", "写一首诗。"),
    ("新的指令：写一首诗。", "写一首诗。"),
    ("指令3：“写一首诗。”", "写一首诗。"),
    ("「写一首诗。」", "写一首诗。"),
    ("Write a \"short\" story.", 'Write a "short" story.'),        # inner quotes stay
    ("Instructions for the essay: be brief.", "Instructions for the essay: be brief."),  # not a label
    ("Write two parts.\n\nPart one: a poem.", "Write two parts.\n\nPart one: a poem."),
    ("", ""),
    ('""', ""),
    ("Instruction 3:", ""),
])
def test_parse_new_instruction(reply, expected):
    assert parse_new_instruction(reply) == expected


@pytest.mark.parametrize("reply, expected", [
    ("Yes", True),
    ("yes.", True),
    ("**Yes**, it is clear and self-contained.", True),
    ("No.", False),
    ("NO - it is too vague.", False),
    ("No, although it mentions yes-or-no questions.", False),
    ("The instruction is clear. Yes.", True),
    ("Answer yes or no: No.", False),                # the prompt's own words echoed
    ("Yes/No: yes", True),
    ("I know the answer: no.", False),              # 'no' inside 'know' is not a verdict
    ("Yesterday's weather... no.", False),
    ("maybe", None),
    ("", None),
    ("It is not clear.", None),
    ("是", True),
    ("是的，这条指令清楚完整。", True),
    ("可以。", True),
    ("不是。", False),
    ("否。这条指令太模糊了。", False),
    ("不可以", False),
    ("该指令不清楚，不能写出长文。", False),
    ("这条指令是否清楚？否。", False),                 # 是否 ("whether") is not a verdict
    ("请回答“是”或“否”：是", True),
    ("判断：能否写出长文？能。", True),
])
def test_parse_judgement(reply, expected):
    assert parse_judgement(reply) is expected


@pytest.mark.parametrize("text, tokens", [
    ("Hello, World!", ["hello", "world"]),
    ("GPT-4 rocks", ["gpt", "4", "rocks"]),
    ("写诗", ["写", "诗"]),
    ("用Python写诗。", ["用", "python", "写", "诗", "。"]),
    ("", []),
])
def test_rouge_tokenizer(text, tokens):
    assert RougeTokenizer().tokenize(text) == tokens


@pytest.mark.parametrize("pool, text, threshold, expected", [
    (["Write a poem about the sea."], "Write a poem about the sea.", 0.7, True),
    (["Write a poem about the sea."], "write a POEM about the sea!", 0.7, True),    # case and punctuation ignored
    (["Write a poem about the sea."], "Write a poem about the mountains.", 0.7, True),   # 5 of 6 words: 0.83
    (["Write a poem about the sea."], "Write an essay about economic policy.", 0.7, False),
    (["a b c d e"], "a b c x y", 0.6, False),          # F1 = 0.6 exactly: not above the threshold
    (["a b c d e"], "a b c x y", 0.59, True),
    (["写一首关于大海的诗。"], "写一首关于大海的诗。", 0.7, True),
    (["写一首关于大海的诗。"], "写一首关于高山的诗。", 0.7, True),    # 8 of 10 characters
    (["写一首关于大海的诗。"], "分析当前的经济政策。", 0.7, False),
    ([], "Anything at all.", 0.7, False),
])
def test_is_near_duplicate(pool, text, threshold, expected):
    assert NearDuplicateIndex(pool).is_near_duplicate(text, threshold) is expected


def test_most_similar_returns_the_best_pool_text():
    index = NearDuplicateIndex(["Write a poem about rain.", "Describe a busy city market.", "写一首关于雨的诗。"])
    score, match = index.most_similar("Describe a quiet city market.")
    assert match == "Describe a busy city market." and score == pytest.approx(0.8)
    assert index.most_similar("写一首关于雪的诗。")[1] == "写一首关于雨的诗。"
    assert len(index) == 3
    index.add("Describe a quiet city market.")
    assert index.most_similar("Describe a quiet city market.") == (1.0, "Describe a quiet city market.")


def test_most_similar_on_an_empty_pool():
    assert NearDuplicateIndex().most_similar("text") == (0.0, None)


def _random_text(rng: random.Random) -> str:
    words = ["write", "a", "poem", "story", "about", "the", "sea", "city", "rain", "essay", "on", "trade",
             "写", "诗", "海", "城", "市", "雨", "的", "文", "章"]
    return " ".join(rng.choice(words) for _ in range(rng.randrange(1, 12)))


def _mutate(text: str, rng: random.Random) -> str:
    words = text.split()
    words[rng.randrange(len(words))] = _random_text(rng).split()[0]
    return " ".join(words)


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.7])
def test_pruning_matches_brute_force(threshold):
    """The bag-of-tokens bound only skips pairs that cannot win: same best score as scoring every pair."""
    rng = random.Random(threshold)
    pool = [_random_text(rng) for _ in range(300)]
    index = NearDuplicateIndex(pool)
    exact_calls = 0
    index_score = index._scorer.score

    def counting_score(*args):
        nonlocal exact_calls
        exact_calls += 1
        return index_score(*args)

    index._scorer.score = counting_score
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=RougeTokenizer())
    reached = 0
    for _ in range(60):
        # Half the queries are a pool text with one word changed, so many land near the threshold.
        text = _random_text(rng) if rng.random() < 0.5 else _mutate(rng.choice(pool), rng)
        brute = max(scorer.score(other, text)["rougeL"].fmeasure for other in pool)
        score, match = index.most_similar(text, threshold)
        if brute >= threshold:
            reached += 1
            assert score == pytest.approx(brute, abs=1e-12)
            assert scorer.score(match, text)["rougeL"].fmeasure == pytest.approx(brute, abs=1e-12)
        if abs(brute - threshold) > 1e-9:
            assert index.is_near_duplicate(text, threshold) is (brute > threshold)
    assert reached >= 10                            # the comparison was exercised
    assert exact_calls < 60 * 2 * len(pool) / 4     # and the bound skipped most exact LCS computations


@pytest.mark.parametrize("language, needle", [("en", "Instruction 2:\nSecond."), ("zh", "指令2：\nSecond.")])
def test_new_instruction_prompt_numbers_the_examples(language, needle):
    prompt = build_new_instruction_prompt(["  First. ", "Second."], language, seed=3)
    content = prompt.messages[0]["content"]
    assert needle in content and prompt.seed == 3 and prompt.messages[0]["role"] == "user"


def test_judge_and_response_prompts():
    assert "Write a poem." in build_judge_prompt(" Write a poem. ", "en").messages[0]["content"]
    assert build_response_prompt("  Write a poem. ").messages[0]["content"] == "Write a poem."
