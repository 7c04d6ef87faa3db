"""Jobs: long work with a row, durable progress, a log, a cancel flag and a heartbeat."""

from __future__ import annotations

import os

from storage.base import StoreError, dumps, now

MAX_LOG_CHARS = 200_000


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        """Create a running job unless another live job holds the run (check and insert in one transaction)."""
        with self.transaction():
            busy = self.running_jobs(run_id)
            if busy:
                job = busy[0]
                raise StoreError(f"job {job['id']} ({job['kind']}) is already running for this run (pid {job['pid']})")
            return self.create_job(kind, run_id=run_id, iteration_id=iteration_id, command=command)

    def get_job(self, job_id: int) -> dict | None:
        return self.one("SELECT * FROM jobs WHERE id = ?", [job_id])

    def update_job(self, job_id: int, **fields) -> None:
        """Progress (stage, done, total, metrics dict, pid) and a heartbeat, in one small write."""
        if "metrics" in fields:
            fields["metrics"] = dumps(fields["metrics"])
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
        rows = self.query("SELECT * FROM jobs WHERE run_id = ? AND status = 'running' ORDER BY id", [run_id])
        alive = []
        for job in rows:
            if pid_alive(job["pid"]):
                alive.append(job)
            else:
                self.finish_job(job["id"], "interrupted", "the process ended without finishing (killed or crashed)")
        return alive

    def list_jobs(self, run_id: int) -> list[dict]:
        return self.query("SELECT * FROM jobs WHERE run_id = ? ORDER BY id", [run_id])
