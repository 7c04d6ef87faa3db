"""The final stage on the demo model: does a model trained on length-constrained rows follow lengths better?

    python bench/final_demo.py [--workdir DIR] [--model DIR] [--seed S] [--items N] [--iterations K]

Builds the demo model (or reuses --model), runs K (default 2) unattended iterations of the demo preset (iterate, accept
what passed, train), builds the final set with the demo bounds (`finalize`), trains the final model from the
run's base model (`train --final`), then evaluates three models on the same two benchmarks and token limit:
the base model, the last iteration's generator and the final model. The benchmarks: a demo-sized one (N
held-out grammar requests, each asking for a length the demo model can write: 60-300 words, LonGen's four
constraint types, written in by the finalize templates) and the first N items of the bundled LonGen (2,000-8,000
words: far beyond the demo model, so every model scores near 0 there).
Prints one JSON object (finalize figures, per model and benchmark: LonGen score, S_l, LIFEBench, mean words
against mean target) and a summary line.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from common import ROOT, cli, machine

from selflengthen.demo.corpus import make_instruction
from selflengthen.finalize.constraints import ConstraintSpec, make_constraint
from selflengthen.finalize.insert import insert_template

SEEDS = ROOT / "selflengthen" / "data" / "demo_seeds.jsonl"
TARGETS = (60, 300)  # words the demo model can write (its iteration-2 expansions reach ~150-250)
MAX_NEW_TOKENS = 512  # ~390 words of the demo tokenizer: room above the longest target


def demo_benchmark(path: Path, n: int, seed: int = 4242) -> Path:
    """N held-out grammar requests with a demo-sized length constraint each, as a LonGen-format file."""
    rng, spec = random.Random(seed), ConstraintSpec(min_words=40, max_words=400, unit=20)
    lines = []
    while len(lines) < n:
        query = make_instruction(rng)[0]
        constraint = make_constraint(rng.randint(*TARGETS), "en", rng, spec)
        if constraint is None:
            continue
        lines.append(json.dumps({"type": constraint.type, "constraint": constraint.constraint, "language": "en",
                                 "range": "60-300", "query": insert_template(query, constraint, "en", rng)}))
    path.write_text("\n".join(lines) + "\n")
    return path


def scores(evaluation: dict) -> dict:
    s = evaluation["summary"]
    targets = [r["target"] * r["n"] for r in s["length_by_range"].values()]
    n = sum(r["n"] for r in s["length_by_range"].values())
    return {"items": s["items"], "longen": _round(s["longen"]["overall"], 3), "sl": _round(s["sl"]["overall"], 1),
            "lifebench": _round(s["lifebench"]["overall"], 1), "mean_words": _round(s["words"]["mean"], 1),
            "mean_target": _round(sum(targets) / n if n else None, 1), "truncated": s["truncated"]}


def _round(value, digits):
    return None if value is None else round(value, digits)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="where the model, database and checkpoints go (default: a temp dir)")
    parser.add_argument("--model", help="reuse a built demo model")
    parser.add_argument("--seed", type=int, default=0, help="run seed")
    parser.add_argument("--items", type=int, default=40, help="items of each benchmark")
    parser.add_argument("--iterations", type=int, default=2, help="unattended iterations before finalize")
    args = parser.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="sl-final-"))
    work.mkdir(parents=True, exist_ok=True)
    db, config = work / "final.db", work / "config.json"
    model = Path(args.model) if args.model else work / "demo-model"
    config.write_text(json.dumps({"seed": args.seed}))
    start = time.perf_counter()
    if not args.model:
        cli("demo-model", model)
    cli("init", "--db", db, "--name", "final", "--model", model, "--seeds", SEEDS, "--preset", "demo",
        "--config", config)
    cli("loop", "--db", db, "--name", "final", "--iterations", args.iterations, "--auto-accept", "--quiet")
    finalized = json.loads(cli("finalize", "--db", db, "--name", "final", "--json"))
    trained = cli("train", "--db", db, "--name", "final", "--final", "--quiet").strip()
    benchmarks = {"demo": demo_benchmark(work / "demo_bench.jsonl", args.items), "LonGen": "LonGen"}
    models = {"base": ["--role", "base"], "generator": ["--role", "generator", "--iteration", str(args.iterations)],
              "final": ["--role", "final"]}
    results = {}
    for bench, source in benchmarks.items():
        for name, role in models.items():
            evaluation = json.loads(cli("eval", "--db", db, "--name", "final", *role, "--benchmark", source,
                                        "--limit", args.items, "--max-new-tokens", MAX_NEW_TOKENS, "--json", "--quiet"))
            results[f"{bench}/{name}"] = scores(evaluation)
    result = {"finalize": finalized, "final_model": trained, "evaluations": results,
              "wall_seconds": round(time.perf_counter() - start, 1), "seed": args.seed, "machine": machine()}
    print(json.dumps(result, ensure_ascii=False))
    demo = {name: results[f"demo/{name}"] for name in models}
    print(f"final set {finalized['kept']} rows of {finalized['pooled']}; demo benchmark LonGen score base "
          f"{demo['base']['longen']} / last generator {demo['generator']['longen']} / final {demo['final']['longen']}"
          f" (mean words {demo['base']['mean_words']} / {demo['generator']['mean_words']} / "
          f"{demo['final']['mean_words']}); bundled LonGen {results['LonGen/base']['longen']} / "
          f"{results['LonGen/generator']['longen']} / {results['LonGen/final']['longen']}; {result['wall_seconds']} s")


if __name__ == "__main__":
    main()
