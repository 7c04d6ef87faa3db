"""Do outputs grow? The demo preset for 3 iterations (0, 1, 2) from scratch on the demo model.

    python bench/loop_growth.py [--workdir DIR] [--seed S]

Builds the demo model, runs iterations 0 and 1 unattended (iterate, accept what passed, fine-tune the
generator and the extender), then generates iteration 2 with the twice-trained generator. Prints, as
JSON, the mean and median words of the generator's initial responses per iteration, the ratio
iteration 2 / iteration 0 of the means, and the wall time; then a one-line summary.
Goal (fine-tuning issue): ratio >= 1.5 and the whole run <= 5 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "selflengthen" / "data" / "demo_seeds.jsonl"


def cli(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "selflengthen", *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{out.stderr[-3000:]}")
    return out.stdout


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="where the model, database and checkpoints go (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=0, help="run seed (sampling, few-shot picks, filter)")
    args = parser.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="sl-growth-"))
    work.mkdir(parents=True, exist_ok=True)
    db, model, config = work / "growth.db", work / "demo-model", work / "config.json"
    config.write_text(json.dumps({"seed": args.seed}))
    start = time.perf_counter()
    cli("demo-model", str(model))
    built = time.perf_counter()
    cli("init", "--db", str(db), "--name", "growth", "--model", str(model), "--seeds", str(SEEDS),
        "--preset", "demo", "--config", str(config))
    cli("loop", "--db", str(db), "--name", "growth", "--iterations", "2", "--auto-accept", "--quiet")
    cli("iterate", "--db", str(db), "--name", "growth", "--steps", "augment,generate", "--quiet")
    wall = time.perf_counter() - start
    iterations = json.loads(cli("status", "--db", str(db), "--name", "growth", "--json"))["iterations"]
    per = [{"iteration": it["index"], "samples": it["samples"], "initial_words_mean": it["initial_words_mean"],
            "initial_words_median": it["initial_words_median"], "accepted": it["accepted"]} for it in iterations]
    ratio = round(per[2]["initial_words_mean"] / per[0]["initial_words_mean"], 2)
    result = {"iterations": per, "ratio_mean_2_over_0": ratio, "wall_seconds": round(wall, 1),
              "demo_model_seconds": round(built - start, 1), "seed": args.seed}
    print(json.dumps(result))
    means = " -> ".join(str(p["initial_words_mean"]) for p in per)
    print(f"initial-response words per iteration {means}; ratio {ratio} (goal >= 1.5); "
          f"{result['wall_seconds']} s (goal <= 300 s)")


if __name__ == "__main__":
    main()
