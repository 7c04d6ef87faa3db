"""Configuration: one dataclass per concern, JSON round-trip, validated with messages that name the field.

Every field carries `help` and, where it has one, its allowed range (`min`, `max`, `choices`) in its
metadata; `validate_fields` checks them all, so a bad value is refused wherever the config comes from
(a preset, a JSON file, the dashboard's editor).
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from selflengthen.errors import ConfigError, InputError
from selflengthen.inputs import parse_json_object
from selflengthen.method.gates import STYLES
from selflengthen.method.split import SPLITS
from selflengthen.method.templates import NAMES as TEMPLATE_NAMES, check_template, load_templates


def _f(default, help, **limits):
    """A dataclass field with help text and optional limits (min, max, choices)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **limits})
    return field(default=default, metadata={"help": help, **limits})


def validate_fields(obj) -> None:
    """Check every field of a config dataclass against its type and limits."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        _check_type(f.name, value, hints[f.name])
        if value is None:
            continue
        meta = f.metadata
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{f.name} must be a finite number (got {value!r})")
        if "min" in meta and value < meta["min"]:
            raise ConfigError(f"{f.name} must be >= {meta['min']} (got {value!r})")
        if "max" in meta and value > meta["max"]:
            raise ConfigError(f"{f.name} must be <= {meta['max']} (got {value!r})")
        if "choices" in meta and value not in meta["choices"]:
            raise ConfigError(f"{f.name} must be one of {', '.join(meta['choices'])} (got {value!r})")


def _check_type(name: str, value, hint) -> None:
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, hint):
            raise ConfigError(f"{name} must be an object")
        return
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for t in allowed:
        if t is type(None) and value is None:
            return
        if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return
        if t in (str, bool) and isinstance(value, t):
            return
        if typing.get_origin(t) is list and isinstance(value, list):
            return
        if typing.get_origin(t) is dict and isinstance(value, dict):
            return
    names = " or ".join("null" if t is type(None) else getattr(t, "__name__", str(t)) for t in allowed)
    raise ConfigError(f"{name} must be {names} (got {value!r})")


@dataclass
class SamplingConfig:
    temperature: float = _f(0.7, "Sampling temperature; 0 means greedy decoding.", min=0.0, max=5.0)
    top_p: float = _f(0.8, "Nucleus sampling mass.", min=0.0, max=1.0)
    top_k: int = _f(20, "Sample among the k most likely tokens (0 = no limit).", min=0)
    repetition_penalty: float = _f(1.1, "Penalty on tokens already generated (1 = none).", min=0.5, max=3.0)
    stop: list[str] = _f([], "Generation ends before the first of these strings (every backend; not kept in the "
                             "text). paper: the reference's '---', '\\n---', '\\n\\n---' and '\\n\\n\\n'.")

    def __post_init__(self):
        validate_fields(self)
        if not all(isinstance(s, str) and s for s in self.stop):
            raise ConfigError(f"stop must be a list of non-empty strings (got {self.stop!r})")


@dataclass
class AugmentConfig:
    n_instructions: int = _f(
        5000, "Instructions answered per iteration; with answer_seeds the seeds count toward iteration 0 and "
        "augmentation tops up.", min=1
    )
    answer_seeds: bool = _f(True, "Answer the seed instructions too (the reference only learns from them).")
    few_shot: int = _f(2, "Pool instructions shown as examples for each new one.", min=1, max=8)
    min_words: int = _f(4, "Shortest instruction kept, in words.", min=1)
    max_words: int = _f(499, "Longest instruction kept, in words.", min=1)
    rouge_threshold: float = _f(0.7, "Drop a new instruction whose ROUGE-L F1 with any pool instruction is above this.",
                                min=0.0, max=1.0)
    dedup: bool = _f(True, "Drop near-duplicates of the pool (ROUGE-L above rouge_threshold); the reference has none.")
    language_check: bool = _f(True, "Drop a new instruction not in its examples' language.")
    judge: bool = _f(True, "Ask the model whether each new instruction is valid (yes/no).")
    judge_strict: bool = _f(False, "Accept only a reply that is exactly yes (any case) or 是, as the reference does; "
                                   "off: the first yes/no word of the reply counts.")
    pool: str = _f("run", "The few-shot examples come from: run (every accepted instruction of the run, seeds "
                          "included); seeds_and_batch (the reference: the seeds plus the instructions accepted in "
                          "the iteration's current batch of pool_batch).", choices=("run", "seeds_and_batch"))
    pool_batch: int = _f(500, "With pool seeds_and_batch: accepted instructions after which the pool goes back to "
                              "the seeds alone.", min=1)
    max_attempts_per_instruction: int = _f(
        20, "Give up after this many candidates per missing instruction (a model that never writes valid ones).", min=1
    )
    max_new_tokens: int = _f(512, "Token limit for one new instruction.", min=1)
    repetition_penalty: float | None = _f(None, "Repetition penalty for new instructions (null: sampling's).", min=0.5)

    def __post_init__(self):
        validate_fields(self)
        if self.min_words > self.max_words:
            raise ConfigError(f"min_words ({self.min_words}) must not exceed max_words ({self.max_words})")


@dataclass
class GenerateConfig:
    responses_per_instruction: int = _f(2, "Initial responses per instruction (samples).", min=1, max=64)
    max_retries: int = _f(20, "Regenerations of a response that fails a gate before the sample is given up.", min=0)
    ngram_words: int = _f(10, "A repeated word n-gram of this size rejects a non-Chinese text.", min=2)
    ngram_chars: int = _f(13, "A repeated character n-gram of this size rejects a Chinese text.", min=2)
    max_new_tokens: int = _f(8192, "Token limit of an initial response.", min=1)

    def __post_init__(self):
        validate_fields(self)


@dataclass
class ExpandConfig:
    mode: str = _f(
        "rounds", "rounds: each of `rounds` rounds is retried (up to max_retries) until it passes, then the next "
        "expands its result. attempts (the reference): one expansion is up to `rounds` attempts, a failed one "
        "skipped (the text stays as it was); the whole expansion is redone (up to `redo` times) while its result "
        "is not more than growth x the initial response.", choices=("rounds", "attempts"))
    rounds: int = _f(3, "Rounds (mode rounds) or attempts (mode attempts) per expansion; each: stage 1 on the first "
                        "half, stage 2 on the whole.", min=1, max=10)
    growth: float = _f(1.2, "A sample passes when final words >= growth x initial words (mode attempts: more than).",
                       min=1.0)
    max_retries: int = _f(20, "Mode rounds: retries of a round whose output fails a gate or is not longer.", min=0)
    retry_cut_off: bool = _f(False, "Mode rounds: retry a round whose output hit the token limit too (false: the "
                             "sample ends with the rounds it kept; a text past the limit is cut off on every retry).")
    redo: int = _f(20, "Mode attempts: whole expansions tried before the sample is given up.", min=1)
    per_response: int = _f(1, "Expansions of each initial response, each its own sample (the reference: 2).",
                           min=1, max=8)
    split: str = _f("nearest_middle", "Where stage 1's first half ends. nearest_middle: the paragraph (else line, "
                                      "sentence) boundary nearest the middle; pieces (the reference): the first "
                                      "half of the blank-line pieces (of the lines when there are two or fewer).",
                    choices=SPLITS)
    trim_stage1: bool = _f(False, "Cut the stage-1 expansion to its first 2/3 of paragraphs (dropping the early "
                                  "conclusion written for a half text) and prefill exactly that (the reference); "
                                  "off: prefill all of it and the separator that followed the first half.")
    max_new_tokens: int = _f(8192, "Token limit of each stage's answer.", min=1)
    gate_stage1: bool = _f(True, "Gate the stage-1 expansion (text gates and longer than the half it expands) "
                                 "before stage 2 runs on it; the reference gates only the finished text.")

    def __post_init__(self):
        validate_fields(self)


@dataclass
class GatesConfig:
    punctuation: str = _f(
        "default", "Which endings close a text. default: a sentence end of the text's language (closing quotes and "
        "brackets skipped); reference: the reference implementation's last characters (zh: 。！？…”’)]}>）】 or a "
        "backtick, an ASCII stop not; en: . ! ? , ; : - \" ' ) ] } > or a backtick).", choices=STYLES)
    ngram: str = _f(
        "default", "How the repeated n-gram gate counts. default: Chinese characters without whitespace, lower-cased "
        "words otherwise; reference: in Chinese each non-ASCII character and each run of ASCII characters is one "
        "unit, other text counts words as written.", choices=STYLES)
    meta_talk: bool = _f(False, "Reject English text with 'revised', 'revision', 'response', 'version' or "
                                "'paragraph' in its first 2 or last 3 lines (the reference's rewrite-talk filter).")
    padding: float = _f(0.0, "Padding guard: reject a text with more than this share of its 4-word runs or sentences "
                             "repeating earlier ones (0.25; 0: off, measured only).", min=0.0, max=1.0)

    def __post_init__(self):
        validate_fields(self)


@dataclass
class PromptsConfig:
    templates: str = _f("default", "Where the prompt templates come from: a bundled set (default, paper) or a folder "
                                   "of .md files (the reference's own files load unchanged).")
    text: dict[str, str] = _f({}, "The templates themselves, by name (filled from `templates` when a config is "
                                  "made, so every run keeps the prompts it used); placeholders are checked.")

    def __post_init__(self):
        validate_fields(self)
        for name, text in self.text.items():
            if not isinstance(text, str):
                raise ConfigError(f"text.{name} must be a string")
            check_template(name, text)

    def resolved(self) -> dict[str, str]:
        """Every template: the stored ones, and any missing from them out of `templates`."""
        if all(name in self.text for name in TEMPLATE_NAMES):
            return dict(self.text)
        return {**load_templates(self.templates), **self.text}


@dataclass
class FilterConfig:
    drop_short: bool = _f(True, "Randomly drop short expansions: keep with probability 1 - 2r^3, r = 1 - rank/N.")
    drop_short_initial: bool = _f(False, "Drop short initial responses the same way before any is expanded (the "
                                         "reference drops short ones twice: before and after expansion).")

    def __post_init__(self):
        validate_fields(self)


BACKEND_NAMES = ("transformers", "vllm", "openai")


@dataclass
class BackendConfig:
    name: str = _f("transformers", "Model backend.", choices=BACKEND_NAMES)
    batch_size: int = _f(8, "Prompts per generate() call (the transformers backend batches them).", min=1)
    driver: str = _f("stream", "How stages feed the backend: 'stream' keeps up to `concurrency` requests in flight "
                     "across samples (a finished request at once releases its sample's next step; batch backends "
                     "get waves of batch_size samples); 'batch' cuts each stage into batches that wait for their "
                     "slowest request.", choices=("stream", "batch"))
    device: str = _f("auto", "transformers: 'auto', 'cpu', 'cuda', 'cuda:1', ...")
    dtype: str = _f("auto", "transformers: weights dtype.", choices=("auto", "float32", "bfloat16", "float16"))
    base_url: str | None | list[str] = _f(None, "openai: server URL, e.g. http://127.0.0.1:8000/v1, or a list of "
                                          "servers of one model: each request goes to the least busy one that answers.")
    api_key_env: str = _f("OPENAI_API_KEY", "openai: environment variable that holds the API key (if any).")
    served_model: str | None = _f(None, "openai: model name on the server (default: the run's model).")
    served_generator: str | None = _f(None, "openai: the generator's name on the server when both roles are LoRA "
                                      "adapters of one served base (vllm serve --enable-lora --lora-modules "
                                      "generator=PATH extender=PATH); default: served_model.")
    served_extender: str | None = _f(None, "openai: the extender's served LoRA module name (see served_generator).")
    tokenizer: str | None = _f(None, "openai: tokenizer (hub id or path) for client-side chat templates.")
    concurrency: int | list[int] = _f(8, "openai: requests in flight per server (>= 1), or a list: one per base_url.")
    timeout: float = _f(600.0, "openai: seconds per request.", min=1.0)
    max_retries: int = _f(5, "openai: retries of a failed request, with exponential backoff.", min=0)
    retry_backoff: float = _f(1.0, "openai: seconds before the first retry; doubles each retry (with jitter).",
                              min=0.0)
    tensor_parallel_size: int = _f(1, "vllm: GPUs per model.", min=1)
    gpu_memory_utilization: float = _f(0.9, "vllm: share of GPU memory to use.", min=0.05, max=1.0)
    max_model_len: int | None = _f(None, "vllm: context length (default: the model's).")

    def __post_init__(self):
        validate_fields(self)
        urls, limits = (v if isinstance(v, list) else [v] for v in (self.base_url, self.concurrency))
        if isinstance(self.base_url, list) and not (urls and all(isinstance(u, str) and u for u in urls)
                                                    and len(set(urls)) == len(urls)):
            raise ConfigError(f"base_url must be a URL or a non-empty list of distinct URLs (got {self.base_url!r})")
        one_each = not isinstance(self.concurrency, list) or self.base_url is None or len(limits) == len(urls)
        if not (limits and one_each and all(type(n) is int and n >= 1 for n in limits)):
            raise ConfigError(f"concurrency must be >= 1, or a list of one per base_url (got {self.concurrency!r})")


class JsonConfig:
    """JSON round trip for a top-level config dataclass (validated on the way in)."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict):
        return build_dataclass(cls, data)

    @classmethod
    def from_json(cls, text: str):
        return cls.from_dict(parse_json_object(text, "config", error=ConfigError))


@dataclass
class RunConfig(JsonConfig):
    preset: str = _f("default", "Preset this config started from.")
    seed: int = _f(0, "Seed of every random choice (few-shot picks, sampling, drop-short).")
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    expand: ExpandConfig = field(default_factory=ExpandConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    gates: GatesConfig = field(default_factory=GatesConfig)
    prompts: PromptsConfig = field(default_factory=PromptsConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)

    def __post_init__(self):
        validate_fields(self)


def build_dataclass(cls, data, path: str = ""):
    """Build a (nested) config dataclass from plain data; errors name the dotted field path.

    >>> build_dataclass(SamplingConfig, {"top_k": 5}).top_k
    5
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{path.rstrip('.') or 'config'} must be a JSON object")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown config key '{path}{unknown[0]}'")
    kwargs = {}
    for key, value in data.items():
        if dataclasses.is_dataclass(hints[key]):
            value = build_dataclass(hints[key], value, f"{path}{key}.")
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{path}{e}") from None


def merge(base: dict, override: dict) -> dict:
    """Deep-merge `override` into a copy of `base` (nested dicts merge, other values replace)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


# The demo preset: the method sized for a 2-core CPU and the demo model; 384 tokens let the trained generator finish
# longer answers. A repetition penalty keeps answers from repeating a word, which makes the copy jump (README).
_DEMO = {
    "preset": "demo",
    "sampling": {"temperature": 0.8, "top_p": 0.95, "top_k": 0, "repetition_penalty": 1.3},
    "augment": {"n_instructions": 16, "max_attempts_per_instruction": 8, "max_new_tokens": 64,
                "repetition_penalty": 1.0},
    "generate": {"max_retries": 3, "max_new_tokens": 384},
    "expand": {"rounds": 1, "max_retries": 2, "max_new_tokens": 512, "retry_cut_off": True},
    "backend": {"batch_size": 32},
}
# The reference implementation, step for step (README, "Method fidelity"): its sampling and stop strings, its
# self-instruct, gates, split, trimmed stage 1, attempts and redos, two expansions per response, drop-short
# before and after expansion, and its prompts.
_PAPER = {
    "preset": "paper",
    "sampling": {"temperature": 0.7, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.1,
                 "stop": ["---", "\n---", "\n\n---", "\n\n\n"]},
    "augment": {"answer_seeds": False, "dedup": False, "language_check": False, "judge_strict": True,
                "pool": "seeds_and_batch", "max_attempts_per_instruction": 10},
    "generate": {"responses_per_instruction": 2, "max_retries": 20, "max_new_tokens": 16384},
    "expand": {"mode": "attempts", "rounds": 3, "redo": 20, "per_response": 2, "split": "pieces", "trim_stage1": True,
               "gate_stage1": False, "max_new_tokens": 16384},
    "gates": {"punctuation": "reference", "ngram": "reference", "meta_talk": True},
    "filter": {"drop_short": True, "drop_short_initial": True},
    "prompts": {"templates": "paper"},
}
PRESETS = {"default": {"preset": "default"}, "paper": _PAPER, "demo": _DEMO}


def resolve_config(preset: str | None, overrides: dict) -> RunConfig:
    """The preset named by `preset`, else by the overrides' own "preset" key, else demo, with the overrides merged
    over it; the two names must agree when both are given."""
    named = overrides.get("preset")
    if preset and named and named != preset:
        raise ConfigError(f"the config file says preset '{named}' but --preset is '{preset}'")
    return preset_config(preset or named or "demo", overrides)


def flat_fields(config, prefix: str = "") -> list[tuple[str, object, str]]:
    """(dotted name, value, help) of every field of a config, nested sections flattened, in declaration order.

    >>> flat_fields(SamplingConfig())[0]
    ('temperature', 0.7, 'Sampling temperature; 0 means greedy decoding.')
    """
    rows = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            rows += flat_fields(value, f"{prefix}{f.name}.")
        else:
            rows.append((prefix + f.name, value, f.metadata.get("help", "")))
    return rows


def preset_config(name: str, overrides: dict | None = None) -> RunConfig:
    """The named preset, optionally with a (partial) override dict merged on top; its prompt templates are read in
    full (`prompts.text`), so the config says exactly what the model is asked."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset '{name}' (choose from: {', '.join(PRESETS)})")
    config = RunConfig.from_dict(merge(PRESETS[name], overrides or {}))
    config.prompts.text = config.prompts.resolved()
    return config


def load_config_file(path: str) -> dict:
    """The JSON object of a config file (overrides merged over a preset)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read config file {path}: {e}") from None
    return parse_json_object(text, path, error=ConfigError)
