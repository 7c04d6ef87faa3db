"""The rows each role learns from, the eval split, and the JSONL files the trainer reads. Pure data."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from selflengthen.method.expand import build_expand_prompt
from selflengthen.method.generate import build_response_prompt


def generator_rows(samples: list[dict], templates: dict[str, str] | None = None) -> list[dict]:
    """Prompt/completion rows that teach the generator to answer an instruction with the accepted text.

    >>> generator_rows([{"instruction": " Write about tea. ", "final_text": "Tea is old."}])
    [{'prompt': [{'role': 'user', 'content': 'Write about tea.'}],
      'completion': [{'role': 'assistant', 'content': 'Tea is old.'}]}]
    """
    template = (templates or {}).get("generate")
    return [{"prompt": list(build_response_prompt(s["instruction"], template=template).messages),
             "completion": [{"role": "assistant", "content": s["final_text"]}]} for s in samples]


def extender_rows(samples: list[dict], line_keep: float = 1.0, seed: int = 0, drop_blank_lines: bool = False,
                  templates: dict[str, str] | None = None) -> list[dict]:
    """Rows that teach the extender to turn the initial response (some lines dropped) into the accepted text.

    The prompt is the pipeline's own expansion prompt (the run's `templates`); with `line_keep` < 1 each line of
    the initial response stays with that probability (one seeded RNG over the samples in order).

    >>> row = extender_rows([{"instruction": "Write about tea.", "language": "en",
    ...                       "initial_response": "Tea is old.", "final_text": "Tea is very old."}])[0]
    >>> "Answer:\\nTea is old.\\n" in row["prompt"][0]["content"], row["completion"][0]["content"]
    (True, 'Tea is very old.')
    """
    rng = random.Random(seed)
    rows = []
    for s in samples:
        text = drop_lines(s["initial_response"], line_keep, rng, drop_blank_lines)
        language = s.get("language") or "en"
        prompt = build_expand_prompt(s["instruction"], text, language,
                                     template=(templates or {}).get(f"expand_{language}"))
        rows.append({"prompt": list(prompt.messages),
                     "completion": [{"role": "assistant", "content": s["final_text"]}]})
    return rows


def drop_lines(text: str, keep: float, rng: random.Random, drop_blank_lines: bool = False) -> str:
    """Keep each non-blank line with probability `keep`, never dropping all of them. Blank lines stay, so
    paragraphs stay paragraphs; with `drop_blank_lines` (the reference) only the kept lines remain, each set
    apart by a blank line.

    >>> drop_lines("a\\n\\nb\\nc", 0.5, random.Random(3))
    'a\\n\\nc'
    >>> drop_lines("only one line", 0.01, random.Random(0))
    'only one line'
    >>> drop_lines("a\\n\\nb\\nc", 1.0, random.Random(0), drop_blank_lines=True)
    'a\\n\\nb\\n\\nc'
    """
    lines = text.split("\n")
    content = [i for i, line in enumerate(lines) if line.strip()]
    kept = {i for i in content if keep >= 1.0 or rng.random() < keep}
    if content and not kept:
        kept = {rng.choice(content)}
    if drop_blank_lines:
        return "\n\n".join(lines[i] for i in content if i in kept)
    if keep >= 1.0:
        return text
    out = "\n".join(line for i, line in enumerate(lines) if i in kept or not line.strip())
    return re.sub(r"\n{3,}", "\n\n", out).strip()


def split_eval(rows: list, fraction: float, seed: int) -> tuple[list, list]:
    """(train, eval): a seeded share of the rows held out, at least one when fraction > 0 and there are
    two rows or more, never all of them.

    >>> split_eval(list(range(10)), 0.2, seed=0)
    ([0, 1, 2, 3, 4, 5, 7, 8], [6, 9])
    >>> split_eval([1], 0.5, seed=0)
    ([1], [])
    """
    if fraction <= 0 or len(rows) < 2:
        return list(rows), []
    n_eval = min(len(rows) - 1, max(1, round(fraction * len(rows))))
    held = set(random.Random(seed).sample(range(len(rows)), n_eval))
    return ([r for i, r in enumerate(rows) if i not in held], [r for i, r in enumerate(rows) if i in held])


def write_training_data(rows: list[dict], path) -> Path:
    """Write rows as JSONL (the subprocess trains on this file, not on the store's current state)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def read_training_data(path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
