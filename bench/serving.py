"""How busy does the pipeline keep a serving engine? One iteration against simulated OpenAI-compatible servers.

    python bench/serving.py [--slots K] [--instructions N] [--seconds-per-token S] [--drivers batch,stream]
                            [--servers 1,2] [--max-new-tokens T] [--workdir DIR]

For each configuration (driver x number of servers) it starts that many simulated engines (`simserver`: K slots
each, every request holds a slot for its tokens x S seconds, long-tailed output lengths), creates a run through
the CLI (default preset, openai backend, `concurrency` K per server, `batch_size` K x servers so a batch can
fill every slot) and times one whole `iterate` (augment, generate, expand, filter). Prints, per configuration: wall
seconds, slot utilisation = busy slot-seconds / (K x servers x the iterate's wall time), `ideal_s` (the wall time
of a perfectly packed engine: busy slot-seconds / slots), tokens/s, requests, tokens of answers cut at
max_tokens, when each kind of request ran (`windows_s`, from the iterate's start), the iterate's CPU seconds (a
client that spends its time computing cannot keep slots full) and the iteration's counts; then a one-line
summary. A configuration this checkout cannot run (a list of base URLs, a driver the config refuses, a failing
iterate) is reported as null with a note, not a crash.

Measured (2 CPU cores, K 64, 2 ms/token, 600 instructions -> 1,200 samples; README has the table): the stream
driver 257 s with 93 % of slots busy on one server, 136 s (89 %) on two: 1.92x the tokens/s. At 0.2 ms/token the
client's own CPU (gates, storing, HTTP) becomes the limit on 2 cores, and with 200 instructions the last samples'
chains of dependent requests are a large share of the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, report
from simserver import start_server, stop_server

SEEDS = ROOT / "selflengthen" / "data" / "demo_seeds.jsonl"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
COUNTS = ("instructions", "samples", "passed", "sample_status", "initial_words_mean", "final_words_mean")


class Unavailable(Exception):
    """A configuration this checkout cannot run yet (the message says why)."""


def cli(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "selflengthen", *args], cwd=ROOT, env=ENV, capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        lines = [line for line in out.stderr.splitlines() if line.strip()] or [f"exit code {out.returncode}"]
        raise Unavailable(f"{args[0]} failed: {lines[-1]}")
    return out.stdout


def save_tokenizer(folder: Path) -> Path:
    """The demo tokenizer (ChatML), built offline: the openai backend renders prefilled prompts with it."""
    from selflengthen.demo.model import build_tokenizer

    build_tokenizer().save_pretrained(folder)
    return folder


def check_support(driver: str, urls: list[str]) -> None:
    """Raise Unavailable when this checkout's config refuses the configuration (a list of base URLs, a driver)."""
    from selflengthen.config import BackendConfig
    from selflengthen.errors import ConfigError

    try:
        BackendConfig(name="openai", base_url=urls if len(urls) > 1 else urls[0], driver=driver)
    except (ConfigError, TypeError) as e:  # TypeError: a BackendConfig without a `driver` field
        raise Unavailable(str(e)) from None


def run_config(driver: str, n_servers: int, args, tokenizer: Path, work: Path) -> dict:
    """Start the servers, create a run, time one iterate; the figures of this configuration."""
    started = [start_server(args.slots, args.seconds_per_token) for _ in range(n_servers)]
    servers, urls = [s for s, _ in started], [u for _, u in started]
    try:
        check_support(driver, urls)
        config = {"preset": "default", "augment": {"n_instructions": args.instructions},
                  "generate": {"max_new_tokens": args.max_new_tokens},
                  "expand": {"max_new_tokens": args.max_new_tokens},
                  "backend": {"name": "openai", "base_url": urls if n_servers > 1 else urls[0], "driver": driver,
                              "concurrency": args.slots, "batch_size": args.batch_size or args.slots * n_servers,
                              "tokenizer": str(tokenizer), "max_retries": 2}}
        name = f"{driver}-{n_servers}"
        db, config_file = work / f"{name}.db", work / f"{name}.json"
        config_file.write_text(json.dumps(config))
        cli("init", "--db", str(db), "--name", name, "--model", "sim", "--backend", "openai", "--config",
            str(config_file), "--seeds", str(SEEDS))
        cpu_before, server_cpu_before = _children_cpu(), time.process_time()
        start = time.monotonic()
        cli("iterate", "--db", str(db), "--name", name, "--quiet")
        wall = time.monotonic() - start
        cpu, server_cpu = _children_cpu() - cpu_before, time.process_time() - server_cpu_before
        stats = [s.stats_dict() for s in servers]
    finally:
        for server in servers:
            stop_server(server)
    iteration = json.loads(cli("status", "--db", str(db), "--name", name, "--json"))["iterations"][0]
    result = figures(driver, n_servers, args.slots, wall, stats, iteration, cpu, server_cpu)
    return {**result, "windows_s": windows(stats, start)}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def figures(driver, n_servers, slots, wall, stats, iteration, cpu, server_cpu) -> dict:
    busy = sum(s["busy_slot_seconds"] for s in stats)
    tokens = sum(s["completion_tokens"] for s in stats)
    kinds: dict[str, int] = {}
    for s in stats:
        for kind, n in s["kinds"].items():
            kinds[kind] = kinds.get(kind, 0) + n
    return {
        "driver": driver, "servers": n_servers, "wall_s": round(wall, 2),
        "slot_utilisation": round(busy / (slots * n_servers * wall), 4),
        "tokens_per_s": round(tokens / wall), "requests": sum(s["requests"] for s in stats), "tokens": tokens,
        "busy_slot_s": round(busy, 2), "ideal_s": round(busy / (slots * n_servers), 2),
        "peak_in_flight": [s["peak_in_flight"] for s in stats],
        "queued_s": round(sum(s["queued_seconds"] for s in stats), 2),
        "truncated": sum(s["truncated"] for s in stats),
        "truncated_tokens": sum(s["truncated_tokens"] for s in stats), "requests_by_kind": kinds,
        "busy_slot_s_by_kind": {k: round(sum(s["busy_by_kind"].get(k, 0.0) for s in stats), 1) for k in kinds},
        "iterate_cpu_s": round(cpu, 1), "server_cpu_s": round(server_cpu, 1),
        "iteration": {k: iteration.get(k) for k in COUNTS},
    }


def windows(stats: list[dict], start: float) -> dict:
    """Per request kind, [first slot taken, last given back] in seconds from the iterate's start, over all servers:
    where the wall time went (augment = instruction + judge, generate = answer, expand)."""
    spans: dict[str, list[float]] = {}
    for s in stats:
        for kind, (first, last) in s["window_by_kind"].items():
            span = spans.setdefault(kind, [first, last])
            span[0], span[1] = min(span[0], first), max(span[1], last)
    return {kind: [round(first - start, 1), round(last - start, 1)] for kind, (first, last) in spans.items()}


def describe(result: dict) -> str:
    if result.get("wall_s") is None:
        return f"{result['driver']} x{result['servers']}: unavailable ({result['note']})"
    return (f"{result['driver']} x{result['servers']}: {result['wall_s']} s, slots "
            f"{result['slot_utilisation']:.0%} busy, {result['tokens_per_s']} tok/s, {result['requests']} requests")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=64, help="slots (requests decoded at once) per server")
    parser.add_argument("--instructions", type=int, default=200, help="augment.n_instructions of the run")
    parser.add_argument("--seconds-per-token", type=float, default=0.0002, help="decode time of one token")
    parser.add_argument("--drivers", default="batch,stream", help="comma-separated: batch, stream")
    parser.add_argument("--servers", default="1,2", help="comma-separated server counts")
    parser.add_argument("--batch-size", type=int, help="backend.batch_size (default: slots x servers)")
    parser.add_argument("--max-new-tokens", type=int, default=8192,
                        help="generate.max_new_tokens and expand.max_new_tokens (default: the default preset's)")
    parser.add_argument("--workdir", help="where the databases and the tokenizer go (default: a temp dir)")
    args = parser.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="sl-serving-"))
    work.mkdir(parents=True, exist_ok=True)
    tokenizer = save_tokenizer(work / "tokenizer")
    results = []
    for n_servers in (int(n) for n in args.servers.split(",")):
        for driver in args.drivers.split(","):
            try:
                results.append(run_config(driver, n_servers, args, tokenizer, work))
            except Unavailable as e:
                results.append({"driver": driver, "servers": n_servers, "wall_s": None, "slot_utilisation": None,
                                "tokens_per_s": None, "requests": None, "note": str(e)})
    report({"slots": args.slots, "seconds_per_token": args.seconds_per_token, "instructions": args.instructions,
            "configs": results},
           f"serving {args.instructions} instructions on {args.slots}-slot engines: "
           + "; ".join(describe(r) for r in results))
    if all(r["wall_s"] is None for r in results):
        sys.exit("no configuration could run")


if __name__ == "__main__":
    main()
