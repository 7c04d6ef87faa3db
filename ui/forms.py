"""A form built from a flat config dataclass, and the way back: component values -> a validated config.

One component per field, chosen from its type and metadata: bool -> Checkbox, a field with `choices` ->
Dropdown, int / float -> Number, str -> Textbox, an Optional or a str-or-list field -> Textbox (empty = None,
a list written comma-separated). The field's `help` becomes the component's `info`, with its allowed range.

Ranges are checked by the dataclass, not by the Number component: Gradio's own bound check would answer
"Value 0 is less than minimum value 1" without saying which field; the dataclass names it.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import os
import tempfile
import types
import typing
from pathlib import Path

import gradio as gr

from selflengthen.config import build_dataclass
from selflengthen.errors import ConfigError


def field_types(cls) -> dict[str, object]:
    """{field name: type hint} of a config dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def union_members(hint) -> tuple:
    """The members of `A | B` (a plain type gives itself).

    >>> union_members(int | None)
    (<class 'int'>, <class 'NoneType'>)
    """
    return typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)


def is_textual(hint) -> bool:
    """Fields edited as free text: str, any Optional, and unions with a list (e.g. str | list[str])."""
    members = union_members(hint)
    return hint is str or len(members) > 1


def help_text(f: dataclasses.Field) -> str:
    """The field's help with its allowed range, e.g. 'Rows per pass. (at least 1)'."""
    meta, limits = f.metadata, []
    if "min" in meta and "max" in meta:
        limits.append(f"{meta['min']} to {meta['max']}")
    elif "min" in meta:
        limits.append(f"at least {meta['min']}")
    elif "max" in meta:
        limits.append(f"at most {meta['max']}")
    hint = meta.get("help", "")
    return f"{hint} ({limits[0]})" if limits else hint


def number_step(value) -> float:
    """A stepper increment that suits the default: 1 for whole numbers, a power of ten for fractions.

    >>> [number_step(v) for v in (4.0, 5e-4, 0.1, 0.0)]
    [1, 0.0001, 0.1, 0.01]
    """
    if value == 0:
        return 0.01
    if float(value).is_integer():
        return 1
    return 10.0 ** math.floor(math.log10(abs(value)))


def to_component_value(hint, value):
    """A config value as its component shows it (None -> '', a list -> 'a, b').

    >>> to_component_value(str | list[str], ["q_proj", "v_proj"]), to_component_value(int | None, None)
    ('q_proj, v_proj', '')
    """
    if is_textual(hint):
        if value is None:
            return ""
        return ", ".join(value) if isinstance(value, list) else str(value)
    return value


def field_component(f: dataclasses.Field, hint, value, elem_id: str):
    """The component that edits one field, showing `value`."""
    label, info = f.name.replace("_", " "), help_text(f)
    shown = to_component_value(hint, value)
    if hint is bool:
        return gr.Checkbox(value=bool(shown), label=label, info=info, elem_id=elem_id)
    if "choices" in f.metadata:
        return gr.Dropdown(choices=list(f.metadata["choices"]), value=shown, label=label, info=info,
                           elem_id=elem_id, interactive=True)
    if hint in (int, float):
        return gr.Number(value=shown, label=label, info=info, elem_id=elem_id,
                         precision=0 if hint is int else None, step=1 if hint is int else number_step(shown))
    return gr.Textbox(value=shown, label=label, info=info, elem_id=elem_id, lines=1)


def build_form(cls, config, *, elem_prefix: str, names: list[str], per_row: int = 4) -> list:
    """Lay out one component per named field of `cls` (rows of `per_row`), showing `config`'s values.

    Call inside a Blocks context (and inside an Accordion for advanced fields); returns the components
    in the order of `names`.
    """
    fields, hints = {f.name: f for f in dataclasses.fields(cls)}, field_types(cls)
    components = []
    for start in range(0, len(names), per_row):
        with gr.Row():
            for name in names[start:start + per_row]:
                components.append(field_component(fields[name], hints[name], getattr(config, name),
                                                  f"{elem_prefix}{name}"))
    return components


def form_values(config, names: list[str]) -> list:
    """The components' values showing `config` (what a refresh returns to the form)."""
    hints = field_types(type(config))
    return [to_component_value(hints[name], getattr(config, name)) for name in names]


def parse_value(name: str, hint, raw):
    """A component's value as the field's type; text that cannot be read is refused naming the field.

    >>> parse_value("lora_target_modules", str | list[str], "q_proj, v_proj")
    ['q_proj', 'v_proj']
    >>> parse_value("max_model_len", int | None, " "), parse_value("batch_size", int, 2.0)
    (None, 2)
    """
    if is_textual(hint):
        return _parse_text(name, hint, "" if raw is None else str(raw))
    if hint is int and isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if hint is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    return raw


def _parse_text(name: str, hint, text: str):
    members = union_members(hint)
    text = text.strip()
    if not text and type(None) in members:
        return None
    if any(typing.get_origin(m) is list for m in members) and ("," in text or text.startswith("[")):
        return _parse_list(name, text)
    for kind in (int, float):
        if kind in members and str not in members:
            try:
                return kind(text)
            except ValueError:
                raise ConfigError(f"{name} must be {'a whole number' if kind is int else 'a number'} "
                                  f"or empty (got {text!r})") from None
    return text


def _parse_list(name: str, text: str) -> list[str]:
    """'a, b' or "['a', 'b']" -> ['a', 'b']."""
    if text.startswith("["):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise ConfigError(f"{name} must be a list such as q_proj, v_proj (got {text!r})") from None
        return value if isinstance(value, list) else [value]
    return [part.strip() for part in text.split(",") if part.strip()]


def read_form(cls, names: list[str], values: list, base: dict | None = None):
    """The config the form describes: `base` (e.g. the preset) with the form's values on top, validated by
    the dataclass itself, so a bad value raises ConfigError naming the field."""
    if len(values) != len(names):
        raise ConfigError(f"the form sent {len(values)} values for {len(names)} fields")
    hints = field_types(cls)
    data = dict(base or {})
    for name, raw in zip(names, values):
        data[name] = parse_value(name, hints[name], raw)
    return build_dataclass(cls, data)


def changed_fields(config, reference) -> dict:
    """The fields whose value differs from `reference` (what an override file needs to hold)."""
    mine, theirs = config.to_dict(), reference.to_dict()
    return {key: value for key, value in mine.items() if theirs.get(key) != value}


def save_changes(path: Path, config, reference) -> dict:
    """Save the fields that differ from `reference` as a JSON override file (what `--config` reads), so a
    reader never sees half a file: a temporary file in the same folder, then os.replace. Returns them."""
    changes = changed_fields(config, reference)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(changes, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return changes
