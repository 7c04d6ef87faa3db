"""The padding guard: repeated sentences and word runs, distinct pairs, compression, and the verdict's reasons."""

import dataclasses
import math
import zlib

import pytest

from selflengthen.method.padding import (
    PaddingMeasures, compression_ratio, distinct_n, measure_padding, padding_verdict, repeated_ngram_share,
    repeated_sentence_share, sentences)

VARIED = (
    "Honeybees live in colonies that can hold tens of thousands of workers. Each worker changes jobs as she "
    "ages: first she cleans cells, then she feeds larvae, later she builds comb and guards the entrance, and "
    "only in her last weeks does she fly out to forage. Foragers tell each other where flowers are by dancing "
    "on the comb; the angle of the dance points toward the sun. Honey is nectar that has been concentrated by "
    "fanning wings until most of its water is gone."
)


@pytest.mark.parametrize("text, expected", [
    ("", []),
    ("One sentence", ["One sentence"]),
    ("Bees buzz. Do they sleep?  Yes!", ["Bees buzz", "Do they sleep", "Yes"]),
    ("Wait... what?!", ["Wait", "what"]),                       # runs of end marks are one break
    ("First line\n\nsecond line", ["First line", "second line"]),
    ('He said "Stop." Then he left.', ['He said "Stop', '" Then he left']),  # a lone quote stays with the next
    ('"."', []),                                                 # punctuation alone is no sentence
    ("蜜蜂酿蜜。蚂蚁筑巢！真的吗？", ["蜜蜂酿蜜", "蚂蚁筑巢", "真的吗"]),
])
def test_sentences(text, expected):
    assert sentences(text) == expected


@pytest.mark.parametrize("text", [
    "Bees make honey. Ants build nests. Birds sing at dawn.",
    "蜜蜂酿蜜。蚂蚁筑巢。鸟儿清晨歌唱。",
    VARIED,
])
def test_a_text_without_repeats_scores_zero(text):
    assert repeated_sentence_share(text) == 0.0
    assert repeated_ngram_share(text) == 0.0
    assert distinct_n(text) == 1.0


@pytest.mark.parametrize("text", [
    "Bees make honey. " * 4,
    "Bees make honey. bees  make HONEY! Bees make honey?\nBees make honey,",  # case, spaces, end marks ignored
    "我喜欢春天。" * 4,
])
def test_the_same_sentence_four_times_is_three_quarters_repeated(text):
    assert repeated_sentence_share(text) == 0.75


def test_a_varied_sentence_is_not_a_repeat():
    assert repeated_sentence_share("Bees make honey. Bees make wax. Bees make honey.") == pytest.approx(1 / 3)


def test_repeated_ngram_share_by_hand():
    # 12 words, so 9 runs of 4:
    #   the cat sat on | cat sat on the | sat on the mat | on the mat the | the mat the cat | mat the cat sat
    #   the cat sat on (again) | cat sat on the (again) | sat on the rug
    # 2 of the 9 occurred earlier: 2/9.
    text = "The cat sat on the mat the cat sat on the rug"
    assert repeated_ngram_share(text) == pytest.approx(2 / 9)
    assert measure_padding(text).repeated_ngrams == 0.222


def test_chinese_counts_each_character_as_a_word():
    # 我 喜 欢 春 天 。 twice: 12 words, 9 runs of 4. The last three (我喜欢春, 喜欢春天, 欢春天。) repeat the
    # first three; the three that straddle the join (春天。我, 天。我喜, 。我喜欢) are new: 3/9.
    text = "我喜欢春天。我喜欢春天。"
    assert repeated_ngram_share(text) == pytest.approx(1 / 3)
    assert repeated_sentence_share(text) == 0.5


@pytest.mark.parametrize("text, n", [("", 4), ("only three words", 4), ("one", 2)])
def test_repeated_ngram_share_is_zero_below_n_words(text, n):
    assert repeated_ngram_share(text, n) == 0.0


def test_ngram_size_must_be_positive():
    with pytest.raises(ValueError, match="n must be at least 1, got 0"):
        repeated_ngram_share("a b c", n=0)


@pytest.mark.parametrize("text, n, expected", [
    ("a b a b a", 2, 2 / 4),              # ab ba ab ba
    ("a b a b a", 3, 2 / 3),              # aba bab aba
    ("The cat saw the dog", 1, 4 / 5),    # "The" and "the" are one word
    ("我们的我们的", 2, 3 / 5),            # 我们 们的 的我 我们 们的
    ("one", 2, 1.0),                      # too short to repeat anything
    ("", 2, 1.0),
])
def test_distinct_n(text, n, expected):
    assert distinct_n(text, n) == pytest.approx(expected)


def test_a_repeated_text_compresses_far_better_than_a_varied_one():
    repeated = "Bees make honey in the summer. " * 15
    assert abs(len(repeated) - len(VARIED)) < 50          # similar lengths, so the ratios compare
    assert compression_ratio(repeated) < compression_ratio(VARIED) / 4
    assert 0.4 < compression_ratio(VARIED) < 1.0


def test_compression_ratio_of_empty_text_is_one():
    assert compression_ratio("") == 1.0


def test_compression_ratio_counts_utf8_bytes():
    text = "春" * 300  # 300 characters, 900 bytes: the ratio is over the bytes
    assert compression_ratio(text) == len(zlib.compress(text.encode("utf-8"), 9)) / 900


def test_measure_padding_rounds_and_converts_to_a_dict():
    measures = measure_padding("Bees make honey. " * 3)
    # 9 words, 6 runs of 4, the last 3 repeats: 0.5. Pairs: 9 - 1 = 8, of which 3 distinct: 0.375.
    assert measures.to_dict() == {"repeated_sentences": 0.667, "repeated_ngrams": 0.5, "distinct_2": 0.375,
                                  "compression": measures.compression}
    assert measures.compression == round(measures.compression, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        measures.compression = 0.0


def test_an_empty_text_measures_as_unpadded():
    assert measure_padding("") == PaddingMeasures(0.0, 0.0, 1.0, 1.0)
    assert padding_verdict(measure_padding("")) == (True, "")


@pytest.mark.parametrize("measures, kwargs, expected", [
    (PaddingMeasures(0.0, 0.0, 1.0, 0.5), {}, (True, "")),
    (PaddingMeasures(0.2, 0.25, 0.8, 0.5), {}, (True, "")),  # a share equal to its limit passes
    (PaddingMeasures(0.1, 0.38, 0.8, 0.5), {}, (False, "38% of its 4-word runs repeat earlier ones (limit 25%)")),
    (PaddingMeasures(0.3, 0.1, 0.8, 0.5), {}, (False, "30% of its sentences repeat earlier ones (limit 20%)")),
    (PaddingMeasures(0.5, 0.6, 0.4, 0.2), {},
     (False, ("60% of its 4-word runs repeat earlier ones (limit 25%); "
              "50% of its sentences repeat earlier ones (limit 20%)"))),
    (PaddingMeasures(0.0, 0.252, 0.8, 0.5), {},                # whole percentages would both read 25%
     (False, "25.2% of its 4-word runs repeat earlier ones (limit 25.0%)")),
    (PaddingMeasures(0.1, 0.38, 0.8, 0.5), {"max_repeated_ngrams": 0.4}, (True, "")),
    (PaddingMeasures(0.1, 0.0, 0.8, 0.5), {"max_repeated_sentences": 0.0},
     (False, "10% of its sentences repeat earlier ones (limit 0%)")),
])
def test_padding_verdict(measures, kwargs, expected):
    assert padding_verdict(measures, **kwargs) == expected


def test_verdict_on_measured_texts():
    assert padding_verdict(measure_padding(VARIED)) == (True, "")
    assert padding_verdict(measure_padding("Bees make honey. " * 4)) == (
        False, ("67% of its 4-word runs repeat earlier ones (limit 25%); "
                "75% of its sentences repeat earlier ones (limit 20%)"))


@pytest.mark.parametrize("kwargs, message", [
    ({"max_repeated_ngrams": 1.5}, "max_repeated_ngrams must be a share between 0 and 1, got 1.5"),
    ({"max_repeated_sentences": 1.5}, "max_repeated_sentences must be a share between 0 and 1, got 1.5"),
    ({"max_repeated_ngrams": -0.1}, "max_repeated_ngrams must be a share between 0 and 1, got -0.1"),
    ({"max_repeated_sentences": math.nan}, "max_repeated_sentences must be a share between 0 and 1, got nan"),
])
def test_thresholds_outside_zero_to_one_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        padding_verdict(PaddingMeasures(0.0, 0.0, 1.0, 0.5), **kwargs)
