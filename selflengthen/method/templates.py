"""Prompt templates: every prompt the loop sends is a template with named placeholders, kept with the run.

Two sets are bundled in `selflengthen/data/prompts/`: `default` (this project's wording) and `paper` (the reference
implementation's prompts, in its semantics and our words). A run can also take a folder of its own `.md` files:
files named as below, or the reference's own files (`self_instruct.md`, `judge_prompt.md`, `extend_response.md`,
`quality_eval.md`), which load unchanged and serve both languages.

| template | placeholders (required ones first) |
|---|---|
| self_instruct_en, _zh | {prompt1} ... {prompt8} (the examples, one each), or {examples} (all, numbered), {k} |
| judge_en, judge_zh | {prompt} (the new instruction) |
| generate | {prompt} (the instruction) |
| expand_en, expand_zh | {prompt} (the instruction), {response} (the text to expand) |
| quality_judge | {query}, {response}; {questions} and {example} (the dimensions asked and a JSON example) |

A template may be a whole chat in ChatML (`<|im_start|>role ... <|im_end|>`) or Llama 3 headers, ending inside
an assistant turn: it then becomes those messages with the assistant's text prefilled (a completion-style prompt),
rendered by each model's own chat template.
"""

from __future__ import annotations

import re
import string
from functools import cache
from pathlib import Path

from selflengthen.backends.base import Prompt
from selflengthen.errors import ConfigError

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "prompts"
SETS = ("default", "paper")
_EXAMPLES = {f"prompt{i}" for i in range(1, 9)}
# name -> (alternatives of required placeholders: one group must be present in full, allowed placeholders)
SPECS = {
    **{f"self_instruct_{lang}": (({"prompt1"}, {"examples"}), _EXAMPLES | {"examples", "k"}) for lang in ("en", "zh")},
    **{f"judge_{lang}": (({"prompt"},), {"prompt"}) for lang in ("en", "zh")},
    "generate": (({"prompt"},), {"prompt"}),
    **{f"expand_{lang}": (({"prompt", "response"},), {"prompt", "response"}) for lang in ("en", "zh")},
    "quality_judge": (({"query", "response"},), {"query", "response", "questions", "example"}),
}
NAMES = tuple(SPECS)
REFERENCE_FILES = {"self_instruct": ("self_instruct_en", "self_instruct_zh"), "judge_prompt": ("judge_en", "judge_zh"),
                   "extend_response": ("expand_en", "expand_zh"), "quality_eval": ("quality_judge",)}


def placeholders(text: str) -> set[str]:
    """The named fields of a template ({{ and }} are literal braces).

    >>> sorted(placeholders("Q: {prompt} {{not one}} A: {response}"))
    ['prompt', 'response']
    """
    try:
        return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError as e:
        raise ConfigError(f"not a valid template ({e}): write a literal brace as {{{{ or }}}}") from None


def check_template(name: str, text: str) -> None:
    """Refuse an unknown template, an unknown placeholder or a missing required one, naming it.

    >>> check_template("expand_en", "Expand {response}.")
    Traceback (most recent call last):
    selflengthen.errors.ConfigError: template expand_en: missing placeholder {prompt}
    """
    if name not in SPECS:
        raise ConfigError(f"unknown template '{name}' (templates: {', '.join(NAMES)})")
    alternatives, allowed = SPECS[name]
    found = placeholders(text)
    unknown = sorted(found - allowed)
    if unknown:
        raise ConfigError(f"template {name}: unknown placeholder {{{unknown[0]}}} (it may use "
                          f"{', '.join('{' + p + '}' for p in sorted(allowed, key=_natural))})")
    if not any(group <= found for group in alternatives):
        missing = sorted(alternatives[0] - found, key=_natural)
        raise ConfigError(f"template {name}: missing placeholder {{{missing[0]}}}")


def _natural(name: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


@cache
def bundled(set_name: str) -> dict[str, str]:
    """The bundled set's templates by name (files read once)."""
    if set_name not in SETS:
        raise ConfigError(f"unknown template set '{set_name}' (bundled: {', '.join(SETS)}; or a folder path)")
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted((BUNDLED / set_name).glob("*.md"))}


def load_templates(source: str) -> dict[str, str]:
    """A bundled set by name, or the templates of a folder: `NAME.md` files (the reference's file names count for
    both languages; a file named for one language wins), each checked. Templates the folder lacks come from the
    default set."""
    if source in SETS:
        return dict(bundled(source))
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"prompts.templates: '{source}' is neither a bundled set ({', '.join(SETS)}) nor a folder")
    found: dict[str, str] = {}
    for path in sorted(folder.glob("*.md")):
        names = REFERENCE_FILES.get(path.stem, (path.stem,) if path.stem in SPECS else ())
        for name in names:
            if name not in found or path.stem in SPECS:
                found[name] = _read(path)
    if not found:
        raise ConfigError(f"prompts.templates: no template file in {folder} (expected e.g. expand_en.md)")
    for name, text in found.items():
        check_template(name, text)
    return {**bundled("default"), **found}


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read template {path}: {e}") from None


def fill(text: str, **values) -> str:
    """The template with its placeholders filled (placeholders it does not use are ignored)."""
    return text.format_map({name: values.get(name, "") for name in placeholders(text)})


_CHATML = re.compile(r"<\|im_start\|>(\w+)\n(.*?)(?:<\|im_end\|>\n?|$)", re.S)
_LLAMA3 = re.compile(r"<\|start_header_id\|>(\w+)<\|end_header_id\|>\n\n?(.*?)(?:<\|eot_id\|>|$)", re.S)


def as_prompt(text: str, seed: int | None = None) -> Prompt:
    """A filled template as a request: the user's message, or, for a chat-formatted template, its messages with an
    unfinished assistant turn as the prefill.

    >>> as_prompt("Hi there").messages
    ({'role': 'user', 'content': 'Hi there'},)
    >>> p = as_prompt("<|im_start|>system\\nBe brief.<|im_end|>\\n<|im_start|>user\\nList.<|im_end|>\\n"
    ...               "<|im_start|>assistant\\n1: a\\n2: ")
    >>> [m["role"] for m in p.messages], p.prefill
    (['system', 'user'], '1: a\\n2: ')
    """
    pattern = _CHATML if "<|im_start|>" in text else _LLAMA3 if "<|start_header_id|>" in text else None
    if pattern is None:
        return Prompt.user(text, seed=seed)
    turns = [(m.group(1), m.group(2), m.group(0).endswith(("<|im_end|>", "<|im_end|>\n", "<|eot_id|>")))
             for m in pattern.finditer(text)]
    prefill = ""
    if turns and turns[-1][0] == "assistant" and not turns[-1][2]:
        prefill = turns.pop()[1]
    messages = tuple({"role": role, "content": content} for role, content, _ in turns)
    if not messages:
        raise ConfigError("a chat-formatted template needs at least one message before the assistant's turn")
    return Prompt(messages=messages, prefill=prefill, seed=seed)
