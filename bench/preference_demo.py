"""The preference stage on the demo model, end to end from the command line.

    python bench/preference_demo.py [--model DIR] [--workdir DIR] [--method dpo|orpo|kto] [--seed S]

Iteration 0 of the demo preset (iterate), curated as a curator would: in each instruction with two passing
answers the first is rejected as repetitive, one answer is edited (its last paragraph dropped), the rest of what
passed is accepted; then SFT of both roles, the pairs counted by kind (`pairs`), the generator's preference step
(`train --stage preference`) and iteration 1 generated with the preference-tuned generator. Prints JSON: the pair
counts, the step's last held-out reward accuracy and margin, the padding measure (mean share of repeated 4-word
runs) of iteration 0's and 1's answers and expansions, their mean words, and each phase's seconds; then a summary.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path

from common import ROOT, cli, demo_model, report

from selflengthen.method.padding import repeated_ngram_share

SEEDS = ROOT / "selflengthen" / "data" / "demo_seeds.jsonl"


def curate(db: Path) -> dict:
    """Reject the first of each pair of passing siblings, edit one more, accept what else passed."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, instruction_id, final_expansion, initial_response FROM samples "
                            "WHERE status = 'kept' ORDER BY id").fetchall()
    by_instruction: dict[int, list] = {}
    for row in rows:
        by_instruction.setdefault(row[1], []).append(row)
    rejected = [group[0][0] for group in by_instruction.values() if len(group) >= 2]
    if rejected:
        cli("review", "--db", db, "--name", "demo", "--reject", *rejected, "--reason", "repetitive", "--user", "ann")
    edited = next((r for r in rows if r[0] not in rejected and (r[2] or r[3]).count("\n\n") >= 1), None)
    if edited is not None:
        text = (edited[2] or edited[3]).rsplit("\n\n", 1)[0]
        path = db.parent / "edit.txt"
        path.write_text(text, encoding="utf-8")
        cli("review", "--db", db, "--name", "demo", "--edit", edited[0], "--text-file", path, "--user", "ann")
    cli("review", "--db", db, "--name", "demo", "--accept-passing", "--user", "ann")
    return {"rejected": len(rejected), "edited": int(edited is not None)}


def texts(db: Path, idx: int) -> dict:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT s.initial_response, s.final_expansion FROM samples s JOIN iterations i "
                            "ON i.id = s.iteration_id WHERE i.idx = ?", [idx]).fetchall()
    measured = {}
    for name, column in (("initial", 0), ("final", 1)):
        found = [r[column] for r in rows if r[column]]
        measured[name] = {
            "n": len(found), "mean_words": round(sum(len(t.split()) for t in found) / max(1, len(found)), 1),
            "repeated_4gram_share": round(sum(map(repeated_ngram_share, found)) / max(1, len(found)), 3)}
    return measured


def last_rewards(db: Path) -> dict:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT eval_reward_accuracy, eval_reward_margin, step FROM job_metrics m JOIN jobs j "
                           "ON j.id = m.job_id WHERE j.stage LIKE 'preference:%' AND eval_reward_margin IS NOT NULL "
                           "ORDER BY m.id DESC LIMIT 1").fetchone()
    return dict(zip(("eval_reward_accuracy", "eval_reward_margin", "step"), row)) if row else {}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a built demo model (default: build one)")
    parser.add_argument("--workdir")
    parser.add_argument("--method", default="dpo", choices=("dpo", "orpo", "kto"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="sl-preference-"))
    work.mkdir(parents=True, exist_ok=True)
    db, seconds = work / "demo.db", {}
    start = time.perf_counter()
    model = demo_model(args.model)
    seconds["model"] = round(time.perf_counter() - start, 1)
    (work / "config.json").write_text(json.dumps({"seed": args.seed}))
    (work / "train.json").write_text(json.dumps({"eval_fraction": 0.2}))
    phases = [("init", ("init", "--db", db, "--name", "demo", "--model", model, "--seeds", SEEDS, "--preset", "demo",
                        "--config", work / "config.json")),
              ("iterate_0", ("iterate", "--db", db, "--name", "demo", "--quiet"))]
    for name, command in phases:
        t = time.perf_counter()
        cli(*command)
        seconds[name] = round(time.perf_counter() - t, 1)
    curated = curate(db)
    for name, command in (("sft", ("train", "--db", db, "--name", "demo", "--quiet")),
                          ("pairs", ("pairs", "--db", db, "--name", "demo", "--json")),
                          ("preference", ("train", "--db", db, "--name", "demo", "--stage", "preference", "--method",
                                          args.method, "--config", work / "train.json", "--quiet")),
                          ("iterate_1", ("iterate", "--db", db, "--name", "demo", "--quiet"))):
        t = time.perf_counter()
        out = cli(*command)
        seconds[name] = round(time.perf_counter() - t, 1)
        if name == "pairs":
            counts = json.loads(out)["per_iteration"]["0"]
    result = {"method": args.method, "seed": args.seed, "curated": curated, "pairs": counts,
              "rewards": last_rewards(db), "iteration_0": texts(db, 0), "iteration_1": texts(db, 1),
              "seconds": seconds}
    r = result["rewards"]
    return report(result, f"{args.method}: pairs {counts}; held-out reward accuracy {r.get('eval_reward_accuracy')}, "
                          f"margin {r.get('eval_reward_margin')}; repeated 4-word runs in final texts "
                          f"{result['iteration_0']['final']['repeated_4gram_share']} -> "
                          f"{result['iteration_1']['final']['repeated_4gram_share']}; "
                          f"{sum(seconds.values()):.0f} s")


if __name__ == "__main__":
    main()
