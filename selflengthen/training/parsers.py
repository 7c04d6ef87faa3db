"""The command-line flags of `pairs` and what it prints (cheap to import: the CLI builds its parser at start)."""

from __future__ import annotations

import json


def add_pairs_parser(sub, db_name) -> None:
    """Add `pairs` to the CLI's subparsers; `db_name(c)` adds the --db and --name flags."""
    c = sub.add_parser("pairs", help="preference pairs from the run's samples and curator decisions (trl's "
                                     "prompt/chosen/rejected columns; --kto: prompt/completion/label)")
    db_name(c)
    c.add_argument("--iterations", help="comma-separated iteration indexes (default: every iteration)")
    c.add_argument("--kinds", default="expansion,edit,verdict,attempt",
                   help="which pairs: expansion (≻ the initial response), edit (≻ the model's text), verdict "
                        "(accepted ≻ rejected, same instruction), attempt (kept ≻ failed expansion attempt)")
    c.add_argument("--kto", action="store_true", help="unpaired accept/reject verdicts as KTO rows instead")
    c.add_argument("--out", help="write the rows to this JSONL file (refused if it exists)")
    c.add_argument("--json", action="store_true", help="print the counts as JSON")


def pairs_command(store, args) -> None:
    """Count (and with --out write) the pairs; prints one line per iteration, or the counts as JSON."""
    from pathlib import Path

    from selflengthen.errors import InputError
    from selflengthen.inputs import parse_iterations
    from selflengthen.training.pairs import collect_pairs

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    rows, counts = collect_pairs(store, args.name, parse_iterations(args.iterations), kinds, kto=args.kto)
    if args.out:
        out = Path(args.out)
        if out.exists():
            raise InputError(f"{out} exists: choose another file (nothing was written)")
        partial = out.with_name(out.name + ".partial")
        partial.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        partial.replace(out)  # whole or not at all
    if args.json:
        print(json.dumps({"rows": len(rows), "per_iteration": counts, "out": args.out}, ensure_ascii=False))
        return
    for idx, per_kind in counts.items():
        print(f"iteration {idx}: " + ", ".join(f"{kind} {n}" for kind, n in per_kind.items()))
    print(f"{len(rows)} rows" + (f" written to {args.out}" if args.out else ""))
