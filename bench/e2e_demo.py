"""Time the whole demo loop through the CLI: demo-model -> init -> iterate -> review -> status.

    python bench/e2e_demo.py [--workdir DIR] [--model DIR]

Prints one JSON object (seconds per command, total, and the iteration's counts) and a summary line.
Goal (core issue): the whole loop in under 2 minutes on 2 CPU cores.
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


def timed(args: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "selflengthen", *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"command failed: {' '.join(args)}\n{out.stderr}")
    return time.perf_counter() - start, out.stdout


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="where to put the model and database (default: a temp dir)")
    parser.add_argument("--model", help="reuse a built demo model instead of timing its build")
    args = parser.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="sl-bench-"))
    db, model = work / "bench.db", Path(args.model) if args.model else work / "demo-model"
    seconds = {}
    if not args.model:
        seconds["demo_model"], _ = timed(["demo-model", str(model)])
    seconds["init"], _ = timed(["init", "--db", str(db), "--name", "bench", "--model", str(model),
                                "--seeds", str(SEEDS), "--preset", "demo"])
    seconds["iterate"], _ = timed(["iterate", "--db", str(db), "--name", "bench", "--quiet"])
    seconds["review"], _ = timed(["review", "--db", str(db), "--name", "bench", "--accept-passing"])
    seconds["status"], out = timed(["status", "--db", str(db), "--name", "bench", "--json"])
    iteration = json.loads(out)["iterations"][0]
    keys = ("instructions", "samples", "passed", "accepted", "initial_words_mean", "final_words_mean")
    result = {"seconds": {k: round(v, 1) for k, v in seconds.items()},
              "total_seconds": round(sum(seconds.values()), 1), **{k: iteration[k] for k in keys}}
    print(json.dumps(result))
    print(f"demo loop end to end: {result['total_seconds']} s (goal < 120 s); {iteration['instructions']} instructions,"
          f" {iteration['samples']} samples, {iteration['passed']} passed, words {iteration['initial_words_mean']}"
          f" -> {iteration['final_words_mean']}")


if __name__ == "__main__":
    main()
