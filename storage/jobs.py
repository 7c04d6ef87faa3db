"""Jobs: long work with a row, durable progress, a log, a cancel flag and a heartbeat."""

from __future__ import annotations

import os

from selflengthen.jobs.commands import pid_alive
from storage.base import StoreError, dumps, now

MAX_LOG_CHARS = 200_000


class JobsMixin:
    def create_job(self, kind: str, *, run_id: int | None = None, iteration_id: int | None = None,
                   command: str = "", pid: int | None = None) -> int:
        stamp = now()
        with self.transaction() as db:
            return db.table("jobs").insert({
                "run_id": run_id, "iteration_id": iteration_id, "kind": kind, "status": "running",
                "command": command, "pid": pid if pid is not None else os.getpid(), "created_at": stamp,
                "started_at": stamp, "heartbeat_at": stamp,
            }).last_pk

    def start_job(self, kind: str, *, run_id: int, iteration_id: int | None = None, command: str = "") -> int:
        """Create a running job unless another live job exists (check and insert in one transaction).

        One job at a time for the whole store: generation, expansion and training share the machine.
        """
        with self.transaction():
            busy = self.live_jobs()
            if busy:
                job = busy[0]
                where = "this run" if job["run_id"] == run_id else f"run {job['run_name']!r}"
                raise StoreError(f"job {job['id']} ({job['kind']}) is already running for {where} (pid {job['pid']});"
                                 " wait for it or cancel it")
            return self.create_job(kind, run_id=run_id, iteration_id=iteration_id, command=command)

    def get_job(self, job_id: int) -> dict | None:
        return self.one("SELECT * FROM jobs WHERE id = ?", [job_id])

    def update_job(self, job_id: int, **fields) -> None:
        """Progress (stage, done, total, metrics dict, pid) and a heartbeat, in one small write."""
        if "metrics" in fields:
            fields["metrics"] = dumps(fields["metrics"])
        if "stage" in fields:  # a new stage restarts the clock its ETA is measured from
            current = self.one("SELECT stage FROM jobs WHERE id = ?", [job_id])
            if current is not None and current["stage"] != fields["stage"]:
                fields.setdefault("stage_started_at", now())
                fields.setdefault("stage_start_done", fields.get("done", 0))
        with self.transaction() as db:
            db.table("jobs").update(job_id, {**fields, "heartbeat_at": now()})

    def log_job(self, job_id: int, line: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE jobs SET log = substr(log || ? || char(10), -?), heartbeat_at = ? WHERE id = ?",
                [line, MAX_LOG_CHARS, now(), job_id])

    def finish_job(self, job_id: int, status: str, error: str | None = None) -> None:
        with self.transaction() as db:
            db.table("jobs").update(job_id, {"status": status, "error": error, "finished_at": now()})

    def request_cancel(self, job_id: int) -> None:
        with self.transaction() as db:
            db.table("jobs").update(job_id, {"cancel_requested": 1})

    def cancel_requested(self, job_id: int) -> bool:
        row = self.one("SELECT cancel_requested FROM jobs WHERE id = ?", [job_id])
        return bool(row and row["cancel_requested"])

    def running_jobs(self, run_id: int) -> list[dict]:
        """Jobs of the run still marked running; ones whose process died are marked 'interrupted' first."""
        return [job for job in self.live_jobs() if job["run_id"] == run_id]

    def live_jobs(self) -> list[dict]:
        """Every job still marked running whose process is alive (dead ones become 'interrupted')."""
        rows = self.query("SELECT j.*, r.name AS run_name FROM jobs j LEFT JOIN runs r ON r.id = j.run_id"
                          " WHERE j.status = 'running' ORDER BY j.id")
        alive = []
        for job in rows:
            if pid_alive(job["pid"]):
                alive.append(job)
            else:
                self.finish_job(job["id"], "interrupted", "the process ended without finishing (killed or crashed)")
        return alive

    def latest_job(self, run_id: int, kind_prefix: str = "") -> dict | None:
        """The run's most recent job (of kinds starting with `kind_prefix`), after marking dead ones."""
        self.live_jobs()
        return self.one("SELECT * FROM jobs WHERE run_id = ? AND kind LIKE ? ORDER BY id DESC LIMIT 1",
                        [run_id, kind_prefix + "%"])

    def list_jobs(self, run_id: int) -> list[dict]:
        return self.query("SELECT * FROM jobs WHERE run_id = ? ORDER BY id", [run_id])
