"""The status of a run, per iteration, as plain data (what `status --json` prints)."""

from __future__ import annotations

from datetime import datetime, timezone


def iteration_status(store, iteration: dict) -> dict:
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


def run_status(store, run: dict) -> dict:
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
    }


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
    return "\n".join(lines)


def _with_failed(iteration: dict) -> dict:
    """The iteration with `failed`: samples whose generation or expansion failed (gates or backend errors);
    `iterate` retries those whose request failed."""
    counts = iteration.get("sample_status") or {}
    return {**iteration, "failed": sum(n for status, n in counts.items() if status.startswith("failed_"))}


def job_progress(job: dict, now: datetime | None = None) -> dict:
    """Stage, counts, percent, elapsed seconds and ETA of a job row, as plain data.

    The ETA extrapolates the current stage's own rate (items done since the stage started, see the
    row's stage_started_at / stage_start_done), so a resumed stage's stored items do not inflate it.

    >>> job = {"status": "running", "stage": "expand", "done": 12, "total": 32, "stage_start_done": 2,
    ...        "started_at": "2026-01-01T10:00:00+00:00", "stage_started_at": "2026-01-01T10:00:10+00:00",
    ...        "finished_at": None}
    >>> job_progress(job, datetime(2026, 1, 1, 10, 0, 30, tzinfo=timezone.utc))
    {'stage': 'expand', 'done': 12, 'total': 32, 'percent': 38, 'elapsed': 30.0, 'stage_elapsed': 20.0, 'eta': 40.0}
    """
    now = now or datetime.now(timezone.utc)
    started, finished = _parse_time(job.get("started_at")), _parse_time(job.get("finished_at"))
    stage_started = _parse_time(job.get("stage_started_at"))
    end = finished or _aware(now)
    done, total = job.get("done") or 0, job.get("total") or 0
    stage_elapsed = (end - stage_started).total_seconds() if stage_started else None
    return {
        "stage": job.get("stage") or "",
        "done": done,
        "total": total,
        "percent": round(100 * done / total) if total else None,
        "elapsed": (end - started).total_seconds() if started else None,
        "stage_elapsed": stage_elapsed,
        "eta": _eta(job, done, total, stage_elapsed),
    }


def _eta(job: dict, done: int, total: int, stage_elapsed: float | None) -> float | None:
    """Seconds left in the stage at its rate so far; None until an item of the stage is done."""
    if job.get("status") != "running" or not total:
        return None
    if done >= total:
        return 0.0
    progressed = done - (job.get("stage_start_done") or 0)
    if progressed <= 0 or not stage_elapsed or stage_elapsed <= 0:
        return None
    return round(stage_elapsed / progressed * (total - done), 1)


def _parse_time(stamp: str | None) -> datetime | None:
    return _aware(datetime.fromisoformat(stamp)) if stamp else None


def _aware(moment: datetime) -> datetime:
    """Stored stamps are UTC; a naive datetime is read as UTC too."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
