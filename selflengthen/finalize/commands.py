"""The `finalize` and `final-decide` commands over an open store: settings from the flags, the LonGen file,
the summary line."""

from __future__ import annotations

import json
import os
from pathlib import Path

from selflengthen.errors import InputError
from selflengthen.finalize.constraints import ConstraintSpec
from selflengthen.finalize.job import preset_spec, run_finalize
from selflengthen.finalize.review import check_decision, longen_item
from selflengthen.inputs import parse_iterations, parse_json_object
from selflengthen.shapes import Store


def finalize(store: Store, args) -> None:
    run = store.require_run(args.name)
    sources = tuple(s.strip() for s in args.sources.split(",") if s.strip())
    _, stats = run_finalize(store, args.name, finalize_spec(run["preset"], args), way=args.way, sources=sources,
                            iterations=parse_iterations(args.iterations), rewrite_model=args.rewrite_model,
                            floor=0.6 if args.floor is None else args.floor, top_up_n=args.top_up)
    if args.out:
        write_longen(store.final_rows(run["id"], verdicts=(None, "accept")), Path(args.out))
    print(json.dumps(stats, ensure_ascii=False) if args.json else summary_line(stats, args.out))


def final_decide(store: Store, args) -> None:
    run = store.require_run(args.name)
    row = store.get_final_row(run["id"], args.row)
    query, response = (_read_text(path) if path else None for path in (args.query, args.response))
    check_decision(row, args.verdict, query=query, response=response)
    store.decide_final_row(row["id"], args.verdict, args.user, query=query, response=response)
    print(f"final row {row['id']}: {args.verdict}" + (" (edited)" if query or response else ""))


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read {path}: {e}") from None


def finalize_spec(preset: str, args) -> ConstraintSpec:
    """The constraint spec of the run's preset with the command's flags over it."""
    mix = parse_json_object(args.mix, "--mix", error=InputError) if args.mix else None
    return preset_spec(preset, min_words=args.min_words, max_words=args.max_words, unit=args.unit, seed=args.seed,
                       chinese_numeral_share=args.zh_numerals, mix=mix)


def write_longen(rows: list[dict], path: Path) -> int:
    """Write the rows in LonGen's format through a temporary file: a reader never sees half a file."""
    import orjson

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as f:
        for row in rows:
            f.write(orjson.dumps(longen_item(row)) + b"\n")
    os.replace(partial, path)
    return len(rows)


def summary_line(stats: dict, out: str | None) -> str:
    """
    >>> summary_line({"pooled": 4, "kept": 3, "dropped": {"outside length bounds": 1},
    ...               "types": {"about": 2, "range": 1, "above": 0, "below": 0},
    ...               "insertion": {"way": "template", "rewritten": 0, "template": 3, "fallback": {}}}, None)
    '3 of 4 pooled texts kept (dropped: outside length bounds 1); types: about 2, range 1, above 0, below 0; by template 3'
    """
    dropped = ", ".join(f"{k} {v}" for k, v in stats["dropped"].items()) or "none"
    types = ", ".join(f"{k} {v}" for k, v in stats["types"].items())
    insertion = stats["insertion"]
    how = f"by template {insertion['template']}"
    if insertion["way"] == "model":
        fallbacks = ", ".join(f"{k} {v}" for k, v in insertion["fallback"].items()) or "none"
        how = f"rewritten by the model {insertion['rewritten']}, {how} (fallbacks: {fallbacks})"
    line = f"{stats['kept']} of {stats['pooled']} pooled texts kept (dropped: {dropped}); types: {types}; {how}"
    return line + (f"; written to {out}" if out else "")
