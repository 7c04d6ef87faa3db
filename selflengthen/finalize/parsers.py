"""The command-line flags of `finalize` and `final-decide` (cheap to import: the CLI builds its parser at start)."""

from __future__ import annotations


def add_finalize_parsers(sub, db_name) -> None:
    """Add the two commands to the CLI's subparsers; `db_name(c)` adds the --db and --name flags."""
    c = sub.add_parser("finalize", help="the final dataset: the curated texts pooled, each query given a length "
                                        "constraint its own response meets (stored, reviewable)")
    db_name(c)
    c.add_argument("--iterations", help="iteration indexes, e.g. 0,1 (default: every iteration)")
    c.add_argument("--sources", default="initial,final", help="which texts of each accepted sample to pool")
    c.add_argument("--way", default="template", choices=("template", "model"),
                   help="write the constraint in by template, or have a model rewrite the query (checked)")
    c.add_argument("--rewrite-model", help="the model of --way model (default: the run's generator model)")
    for flag, kind in (("--min-words", int), ("--max-words", int), ("--unit", int), ("--seed", int),
                       ("--zh-numerals", float), ("--floor", float)):
        c.add_argument(flag, type=kind)
    c.add_argument("--top-up", type=int, metavar="N", help="first answer N more instructions with the last "
                   "trained generator (augment and generate of the next iteration); its gate-passing answers are pooled")
    c.add_argument("--mix", help='constraint type weights as JSON, e.g. {"about": 0.4, "range": 0.25, ...}')
    c.add_argument("--out", help="also write the rows, LonGen format (what `score` reads), to this JSONL file")
    c.add_argument("--json", action="store_true")

    c = sub.add_parser("final-decide", help="accept, reject or edit one row of the run's final set")
    db_name(c)
    c.add_argument("--row", type=int, required=True)
    c.add_argument("--verdict", required=True, choices=("accept", "reject"))
    c.add_argument("--query", metavar="FILE", help="file holding the edited query")
    c.add_argument("--response", metavar="FILE", help="file holding the edited response")
    c.add_argument("--user", default="cli")
