"""The command-line flags of `train` and `pairs`; what `pairs` prints and how `train --stage preference` starts."""

from __future__ import annotations

import json


def add_train_parser(sub, db_name) -> None:
    """Add `train` to the CLI's subparsers; `db_name(c)` adds the --db and --name flags."""
    c = sub.add_parser("train", help="fine-tune generator and/or extender on the latest iteration's accepted samples"
                                     " (--stage preference: DPO, ORPO or KTO on pairs of its texts)")
    db_name(c)
    c.add_argument("--role", default="both", choices=("generator", "extender", "both"))
    c.add_argument("--final", action="store_true", help="train the run's final model on its final set (`finalize`)")
    c.add_argument("--base", help="--final: the model to fine-tune (default: the run's base model)")
    c.add_argument("--stage", default="sft", choices=("sft", "preference"),
                   help="sft: on the accepted texts; preference: on pairs (`pairs`), after SFT or instead of it")
    c.add_argument("--method", choices=("dpo", "orpo", "kto"), help="--stage preference: the trainer "
                   "(default: the config's preference_method, dpo)")
    c.add_argument("--kinds", help="--stage preference: the kinds of pairs (default: the config's preference_kinds)")
    c.add_argument("--config", help="JSON file of training settings merged over the run's preset")
    c.add_argument("--accelerate-config", help="run through `accelerate launch` with this config (multi-GPU)")
    c.add_argument("--quiet", action="store_true", help="do not mirror the trainer's output")


def preference_step(store, args, settings: dict) -> list[dict]:
    """`train --stage preference`: the generator's step (with --role both), or the extender's."""
    from selflengthen.errors import InputError
    from selflengthen.training.job import run_preference_job

    if args.final:
        raise InputError("--stage preference trains an iteration's role, not the final model")
    overrides = dict(settings.pop("config_overrides") or {})
    overrides.update({k: v for k, v in (("preference_method", args.method), ("preference_kinds", args.kinds)) if v})
    role = "generator" if args.role == "both" else args.role
    return [run_preference_job(store, args.db, args.name, role=role, config_overrides=overrides, **settings)]


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
    from selflengthen.training.pairs import collect_pairs, parse_kinds

    rows, counts = collect_pairs(store, args.name, parse_iterations(args.iterations), parse_kinds(args.kinds),
                                 kto=args.kto)
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
