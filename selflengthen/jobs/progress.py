"""Progress of a job row as plain data: stage, counts, percent, elapsed time and ETA."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from selflengthen.shapes import Job


def job_progress(job: Job, now: datetime | None = None) -> dict:
    """Stage, counts, percent, elapsed seconds and ETA of a job row, as plain data.

    The ETA extrapolates the current stage's own rate (items done since the stage started, see the
    row's stage_started_at / stage_start_done), so a resumed stage's stored items do not inflate it.
    `written` is the wave of requests a local model works on now ({"done", "total", "eta"}; None when none is
    reported): its items are stored when the wave ends, so a wave that holds the whole stage still shows progress.

    >>> job = {"status": "running", "stage": "expand", "done": 12, "total": 32, "stage_start_done": 2,
    ...        "started_at": "2026-01-01T10:00:00+00:00", "stage_started_at": "2026-01-01T10:00:10+00:00",
    ...        "finished_at": None}
    >>> job_progress(job, datetime(2026, 1, 1, 10, 0, 30, tzinfo=timezone.utc))["eta"]
    40.0
    >>> job["metrics"] = '{"written": {"done": 4, "total": 16, "started": "2026-01-01T10:00:22+00:00"}}'
    >>> job_progress(job, datetime(2026, 1, 1, 10, 0, 30, tzinfo=timezone.utc))["written"]
    {'done': 4, 'total': 16, 'eta': 24.0}
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
        "written": _written(job, end),
    }


def _written(job: Job, now: datetime) -> dict | None:
    """The wave a running job's model works on: requests written of its total, and the seconds left in it."""
    if job.get("status") != "running":
        return None
    try:
        wave = (json.loads(job.get("metrics") or "{}") or {}).get("written")
    except (TypeError, ValueError):
        return None
    if not wave or not wave.get("total"):
        return None
    done, total = wave.get("done") or 0, wave["total"]
    started = _parse_time(wave.get("started"))
    elapsed = (now - started).total_seconds() if started else None
    eta = round(elapsed / done * (total - done), 1) if done and elapsed and elapsed > 0 else None
    return {"done": done, "total": total, "eta": eta}


def _eta(job: Job, done: int, total: int, stage_elapsed: float | None) -> float | None:
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
