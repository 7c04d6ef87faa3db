"""The status of a run, per iteration, as plain data (what `status --json` prints), and as a terminal table."""

from __future__ import annotations

import json

from selflengthen.shapes import Iteration, Run, Store



def iteration_status(store: Store, iteration: Iteration) -> dict:
    """Counts, curation progress, word statistics and checkpoints of one iteration."""
    iid = iteration["id"]
    statuses = store.sample_status_counts(iid)
    verdicts = store.verdict_counts(iid)
    samples = sum(statuses.values())
    accepted, rejected = verdicts.get("accept", 0), verdicts.get("reject", 0)
    instructions = store.instruction_counts(iid)
    return {
        "index": iteration["idx"],
        "status": iteration["status"],
        "steps_done": iteration["steps_done"],
        "instructions": instructions["accepted"],
        "samples": samples,
        "passed": statuses.get("kept", 0),
        "accepted": accepted,
        "rejected": rejected,
        "pending": samples - accepted - rejected,
        "sample_status": statuses,
        **store.word_stats(iid),
        "gate_rejections": store.rejection_counts(iid),
        "instruction_rejections": instructions["reasons"],
        "generator_checkpoint": iteration["generator_checkpoint"],
        "extender_checkpoint": iteration["extender_checkpoint"],
        "trained": {role: {k: ck[k] for k in ("path", "kind", "data_size", "train_loss", "eval_loss")}
                    for role, ck in store.iteration_checkpoints(iid).items()},
    }


def run_status(store: Store, run: Run) -> dict:
    """The run and every iteration; an iteration left 'running' by a killed process shows as 'interrupted'."""
    live = store.running_jobs(run["id"])
    iterations = [iteration_status(store, it) for it in store.list_iterations(run["id"])]
    for it in iterations:
        if it["status"] == "running" and not live:
            it["status"] = "interrupted"
    return {
        "run": run["name"],
        "preset": run["preset"],
        "generator_model": run["generator_model"],
        "extender_model": run["extender_model"],
        "backend": run["backend"],
        "iterations": iterations,
        "endpoints": live_endpoints(live),
    }


def live_endpoints(jobs: list[dict]) -> list[dict]:
    """The serving endpoints of the run's running job, as its stage last reported them (in flight, done,
    failed, up); [] when no job streams to a server.

    >>> live_endpoints([{"metrics": '{"endpoints": [{"url": "u", "in_flight": 3, "up": true}]}'}])
    [{'url': 'u', 'in_flight': 3, 'up': True}]
    """
    for job in jobs:
        metrics = job.get("metrics") or {}
        metrics = json.loads(metrics) if isinstance(metrics, str) else metrics
        if metrics.get("endpoints"):
            return metrics["endpoints"]
    return []


def format_status(status: dict) -> str:
    """A plain-text table of `run_status` for terminals."""
    cols = ["index", "status", "instructions", "samples", "passed", "failed", "accepted", "rejected", "pending",
            "initial_words_mean", "final_words_mean"]
    heads = ["iter", "status", "instr", "samples", "passed", "failed", "accept", "reject", "pending", "init_w",
             "final_w"]
    rows = [[("-" if value is None else str(value)) for value in (_with_failed(it)[c] for c in cols)]
            for it in status["iterations"]]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(heads)]
    lines = [f"run {status['run']} ({status['preset']}; generator {status['generator_model']})",
             "  ".join(h.rjust(w) for h, w in zip(heads, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows]
    lines += [f"endpoint {e['url']}: {'up' if e['up'] else 'DOWN'}, {e['in_flight']} in flight, {e['done']} done, "
              f"{e['failed']} failed" for e in status.get("endpoints", [])]
    return "\n".join(lines)


def _with_failed(iteration: Iteration) -> dict:
    """The iteration with `failed`: samples whose generation or expansion failed (gates or backend errors);
    `iterate` retries those whose request failed."""
    counts = iteration.get("sample_status") or {}
    return {**iteration, "failed": sum(n for status, n in counts.items() if status.startswith("failed_"))}


