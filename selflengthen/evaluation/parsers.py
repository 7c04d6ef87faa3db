"""The command-line flags of `eval` and `score` (cheap to import: the CLI builds its parser at start)."""

from __future__ import annotations


def add_eval_parser(sub, db_name) -> None:
    """Add `eval` to the CLI's subparsers; `db_name(c)` adds the --db and --name flags."""
    c = sub.add_parser("eval", help="answer a LonGen-format benchmark with an iteration's model and score it")
    db_name(c)
    c.add_argument("--iteration", type=int, help="the iteration whose model answers (base and final: the latest)")
    c.add_argument("--role", default="generator", choices=("generator", "extender", "base", "final"),
                   help="an iteration's generator or extender, the run's base model, or its final model")
    c.add_argument("--benchmark", help="LonGen-format JSONL file or hub dataset id (default: the bundled LonGen)")
    c.add_argument("--limit", type=int, help="answer K items, spread evenly over language, type and range (drawn "
                   "with the run's seed; a larger K answers more of the same items)")
    c.add_argument("--language", help="answer only the items of this language (e.g. en or zh)")
    c.add_argument("--max-new-tokens", type=int, help="default: the run's generate.max_new_tokens")
    c.add_argument("--judge-model", help="score quality with this model as an LLM judge (hub id, path or served name)")
    c.add_argument("--judge-backend", default="openai", choices=("openai", "transformers", "vllm"))
    c.add_argument("--judge-base-url", help="openai judge: server URL, e.g. http://127.0.0.1:8000/v1")
    c.add_argument("--json", action="store_true")
    c.add_argument("--quiet", action="store_true", help="no progress bars")

    c = sub.add_parser("score", help="LonGen length-following score of a JSONL file (type, constraint, response)")
    c.add_argument("file")
    c.add_argument("--json", action="store_true")


def score_command(args) -> None:
    """`score`: the LonGen scores of a scored file, one line each (or JSON)."""
    import json

    from selflengthen.evaluation.longen import load_scored_file, score_items

    result = score_items(load_scored_file(args.file))
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    for key in ("about", "range", "above", "below", "overall"):
        value = result[key]
        print(f"{key:>8}: {'-' if value is None else f'{value:.4f}'}")
