"""Run configuration: presets' values, JSON round trip, and every bad value refused with its field named."""

import dataclasses
import json

import pytest

from selflengthen.config import PRESETS, RunConfig, SamplingConfig, build_dataclass, merge, preset_config
from selflengthen.errors import ConfigError
from selflengthen.method.templates import bundled


@pytest.mark.parametrize("path, expected", [
    ("sampling.temperature", 0.7),
    ("sampling.top_p", 0.8),
    ("sampling.top_k", 20),
    ("sampling.repetition_penalty", 1.1),
    ("generate.responses_per_instruction", 2),
    ("generate.max_retries", 20),
    ("augment.min_words", 4),
    ("augment.max_words", 499),
    ("augment.n_instructions", 5000),
    ("augment.rouge_threshold", 0.7),
    ("expand.growth", 1.2),
    ("expand.max_retries", 20),
    ("expand.rounds", 3),
    ("filter.drop_short", True),
    ("preset", "paper"),
])
def test_paper_preset(path, expected):
    value = preset_config("paper")
    for name in path.split("."):
        value = getattr(value, name)
    assert value == expected


def test_the_default_preset_is_the_fields_defaults_with_its_prompts_read():
    expected = RunConfig()
    expected.prompts.text = bundled("default")
    assert preset_config("default") == expected and len(expected.prompts.text) == 8


@pytest.mark.parametrize("path, expected", [
    ("preset", "demo"),
    ("augment.n_instructions", 16),
    ("expand.rounds", 1),
    ("sampling.top_k", 0),
    ("generate.responses_per_instruction", 2),     # not overridden: the paper's value
])
def test_demo_preset(path, expected):
    value = preset_config("demo")
    for name in path.split("."):
        value = getattr(value, name)
    assert value == expected


def test_overrides_merge_into_the_preset():
    config = preset_config("demo", {"expand": {"rounds": 2}, "seed": 5})
    assert (config.expand.rounds, config.expand.max_retries, config.seed) == (2, 2, 5)


def test_merge_is_deep_and_copies():
    base = {"a": {"x": 1, "y": 2}, "b": 1}
    assert merge(base, {"a": {"y": 3}, "c": 4}) == {"a": {"x": 1, "y": 3}, "b": 1, "c": 4}
    assert base == {"a": {"x": 1, "y": 2}, "b": 1}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_json_round_trip(name):
    config = preset_config(name, {"seed": 11})
    assert RunConfig.from_json(config.to_json()) == config
    assert RunConfig.from_dict(json.loads(config.to_json())).to_dict() == config.to_dict()


def test_every_field_has_help():
    """Every leaf field explains itself (the dashboard's editor shows the help text)."""
    concerns = [getattr(RunConfig(), f.name) for f in dataclasses.fields(RunConfig)]
    for obj in [RunConfig(), *(c for c in concerns if dataclasses.is_dataclass(c))]:
        for f in dataclasses.fields(obj):
            if not dataclasses.is_dataclass(getattr(obj, f.name)):
                assert f.metadata.get("help"), f"{type(obj).__name__}.{f.name}"


@pytest.mark.parametrize("override, message", [
    ({"sampling": {"temperature": -0.1}}, "sampling.temperature must be >= 0.0"),
    ({"sampling": {"temperature": "hot"}}, "sampling.temperature must be float"),
    ({"sampling": {"top_p": 1.5}}, "sampling.top_p must be <= 1.0"),
    ({"sampling": {"top_p": float("nan")}}, "sampling.top_p must be a finite number"),
    ({"sampling": {"top_k": -1}}, "sampling.top_k must be >= 0"),
    ({"sampling": {"top_k": 2.5}}, "sampling.top_k must be int"),
    ({"sampling": {"top_k": True}}, "sampling.top_k must be int"),
    ({"sampling": {"repetition_penalty": 9}}, "sampling.repetition_penalty must be <= 3.0"),
    ({"sampling": 5}, "sampling must be a JSON object"),
    ({"sampling": {"topp": 0.5}}, "unknown config key 'sampling.topp'"),
    ({"augment": {"n_instructions": 0}}, "augment.n_instructions must be >= 1"),
    ({"augment": {"few_shot": 9}}, "augment.few_shot must be <= 8"),
    ({"augment": {"min_words": 10, "max_words": 5}}, "augment.min_words (10) must not exceed max_words (5)"),
    ({"augment": {"rouge_threshold": 1.1}}, "augment.rouge_threshold must be <= 1.0"),
    ({"augment": {"judge": "yes"}}, "augment.judge must be bool"),
    ({"generate": {"responses_per_instruction": 0}}, "generate.responses_per_instruction must be >= 1"),
    ({"generate": {"max_retries": -1}}, "generate.max_retries must be >= 0"),
    ({"generate": {"ngram_words": 1}}, "generate.ngram_words must be >= 2"),
    ({"expand": {"rounds": 0}}, "expand.rounds must be >= 1"),
    ({"expand": {"rounds": 11}}, "expand.rounds must be <= 10"),
    ({"expand": {"growth": 0.9}}, "expand.growth must be >= 1.0"),
    ({"expand": {"growth": float("inf")}}, "expand.growth must be a finite number"),
    ({"filter": {"drop_short": 1}}, "filter.drop_short must be bool"),
    ({"backend": {"name": "nope"}}, "backend.name must be one of"),
    ({"backend": {"dtype": "int3"}}, "backend.dtype must be one of"),
    ({"backend": {"batch_size": 0}}, "backend.batch_size must be >= 1"),
    ({"backend": {"gpu_memory_utilization": 0}}, "backend.gpu_memory_utilization must be >= 0.05"),
    ({"backend": {"base_url": 5}}, "backend.base_url must be str or null"),
    ({"seed": "zero"}, "seed must be int"),
    ({"bogus": 1}, "unknown config key 'bogus'"),
])
def test_bad_values_name_their_field(override, message):
    with pytest.raises(ConfigError) as info:
        preset_config("paper", override)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text, message", [
    ("{not json", "config: invalid JSON"),
    ("[1, 2]", "config: expected a JSON object, got list"),
    ('{"sampling": {"temperature": NaN}}', "sampling.temperature must be a finite number"),
])
def test_bad_json(text, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        RunConfig.from_json(text)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset 'huge' \\(choose from: default, paper, demo\\)"):
        preset_config("huge")


def test_build_dataclass_builds_one_concern():
    assert build_dataclass(SamplingConfig, {"top_k": 5}) == SamplingConfig(top_k=5)
