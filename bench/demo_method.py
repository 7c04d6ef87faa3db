"""Does the demo model show the method? One demo iteration from scratch, then two measures of its samples.

    python bench/demo_method.py [--workdir DIR] [--seed S]

Builds the demo model (timed), runs one iteration of the demo preset (self-instruct, answers, two-stage
expansion) and measures, over the samples the iteration made:
- topic named: the share of initial responses that copy a content word of their instruction: a word of
  four letters or more that is not a stop word and not one the demo's answer grammar writes by itself;
- sentences kept: the share of the initial responses' sentences that reappear verbatim, in order, in
  their expansions (what a curator sees as "expanded, not rewritten").
Prints one JSON object and a summary line. Goals (paper-preset issue): topic named >= 80 %, sentences
kept >= 60 %, demo model built in <= 60 s.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import tempfile
import time
from pathlib import Path

from common import ROOT, cli, machine

from selflengthen.demo import corpus

SEEDS = ROOT / "selflengthen" / "data" / "demo_seeds.jsonl"
STOP_WORDS = set("""about above after again also because been before being below between both could does doing
down during each from further have having here into itself just more most other over same should some such than
that their theirs them then there these they this those through under until very what when where which while who
whom will with would your yours write writing describe explain make long detailed""".split())


def grammar_words() -> set[str]:
    """Words the answer grammar writes whatever the request: copying one of them names no topic."""
    slots = [value for name, values in vars(corpus).items() if name.isupper() and isinstance(values, tuple)
             and "TOPICS" not in name for value in values]
    return {w for text in slots for w in words(text)}


def words(text: str) -> list[str]:
    """Lower-cased alphabetic words.

    >>> words("Write an essay about Bees, please.")
    ['write', 'an', 'essay', 'about', 'bees', 'please']
    """
    return re.findall(r"[a-z]+", text.lower())


def content_words(instruction: str, generic: set[str]) -> set[str]:
    return {w for w in words(instruction) if len(w) >= 4 and w not in STOP_WORDS and w not in generic}


def names_topic(instruction: str, response: str, generic: set[str]) -> bool:
    return bool(content_words(instruction, generic) & set(words(response)))


def sentences(text: str) -> list[str]:
    """
    >>> sentences("One two. Three? Four!\\n\\nFive")
    ['One two.', 'Three?', 'Four!', 'Five']
    """
    return [s for s in re.split(r"(?<=[.!?])\s+|\n+", text.strip()) if s.strip()]


def kept_in_order(source: str, target: str) -> tuple[int, int]:
    """(sentences of source found verbatim in target after the previous one found, sentences of source).

    >>> kept_in_order("A b. C d. E f.", "A b. New. E f. C d.")
    (2, 3)
    """
    found, at = 0, 0
    parts = sentences(source)
    for sentence in parts:
        position = target.find(sentence, at)
        if position >= 0:
            found, at = found + 1, position + len(sentence)
    return found, len(parts)


def samples(db: Path) -> list[dict]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT i.text AS instruction, s.initial_response, s.final_expansion, s.status "
                            "FROM samples s JOIN instructions i ON i.id = s.instruction_id ORDER BY s.id")
        return [dict(r) for r in rows]


def measure(rows: list[dict]) -> dict:
    generic = grammar_words()
    named = sum(names_topic(r["instruction"], r["initial_response"], generic) for r in rows)
    expanded = [r for r in rows if r["final_expansion"]]
    pairs = [kept_in_order(r["initial_response"], r["final_expansion"]) for r in expanded]
    kept, total = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
    return {"samples": len(rows), "topic_named": named, "topic_named_share": round(named / max(1, len(rows)), 3),
            "expansions": len(expanded), "sentences": total, "sentences_kept": kept,
            "sentences_kept_share": round(kept / max(1, total), 3)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="where the model and database go (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=0, help="run seed (sampling and few-shot picks)")
    parser.add_argument("--model", help="reuse a built demo model instead of timing its build")
    args = parser.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="sl-method-"))
    work.mkdir(parents=True, exist_ok=True)
    db, config = work / "method.db", work / "config.json"
    model = Path(args.model) if args.model else work / "demo-model"
    config.write_text(json.dumps({"seed": args.seed}))
    start = time.perf_counter()
    if not args.model:
        cli("demo-model", str(model))
    built = time.perf_counter() - start
    cli("init", "--db", str(db), "--name", "method", "--model", str(model), "--seeds", str(SEEDS),
        "--preset", "demo", "--config", str(config))
    cli("iterate", "--db", str(db), "--name", "method", "--quiet")
    result = {**measure(samples(db)), "demo_model_seconds": None if args.model else round(built, 1),
              "seed": args.seed, "machine": machine()}
    print(json.dumps(result))
    print(f"topic named in {result['topic_named_share']:.0%} of {result['samples']} answers (goal >= 80 %); "
          f"{result['sentences_kept_share']:.0%} of {result['sentences']} sentences kept in "
          f"{result['expansions']} expansions (goal >= 60 %); demo model built in {result['demo_model_seconds']} s "
          f"(goal <= 60 s)")


if __name__ == "__main__":
    main()
