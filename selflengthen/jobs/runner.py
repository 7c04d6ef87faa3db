"""Running long work as a job: a row with durable progress, a log, a heartbeat and a cancel flag.

`JobReporter` writes a stage's progress into the job row; `run_as_job` ends the job the way its work went;
`run_iterate_job` runs the run's current iteration as one (what `iterate` does).
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone

from selflengthen.errors import SelfLengthenError
from selflengthen.shapes import Store
from selflengthen.stages.pipeline import current_iteration, parse_steps, run_iteration
from selflengthen.stages.reporter import Cancelled, Reporter


class JobReporter(Reporter):
    """Writes progress to the job row (at most about once a second) and, optionally, a terminal bar."""

    def __init__(self, store: Store, job_id: int, show_progress: bool = False):
        self.store, self.job_id, self.show = store, job_id, show_progress
        self.name, self.done, self.total, self._bar, self._last = "", 0, 0, None, 0.0
        self._endpoints: list[dict] = []
        self._wave: dict | None = None  # {"done", "total", "started"} of the requests the model works on now
        self._metrics = False  # whether this job row's metrics were written (so a cleared wave is cleared there)

    def stage(self, name: str, total: int, done: int = 0) -> None:
        self._close_bar()
        self.name, self.total, self.done, self._wave = name, total, done, None
        if self.show:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=done, desc=name, unit="item", file=sys.stderr, leave=True)
        self._write(force=True)

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._wave = None
        if self._bar is not None:
            self._bar.set_postfix_str("", refresh=False)
            self._bar.update(n)
        self._write()

    def written(self, done: int, total: int) -> None:
        if self._wave is None or done < self._wave["done"] or total != self._wave["total"]:  # a new wave
            self._wave = {"done": done, "total": total, "started": datetime.now(timezone.utc).isoformat()}
        self._wave["done"] = done
        if self._bar is not None:
            self._bar.set_postfix_str(f"{done}/{total} of this batch written", refresh=False)
        self._write()

    def log(self, message: str) -> None:
        self.store.log_job(self.job_id, f"{time.strftime('%H:%M:%S')} {message}")

    def endpoints(self, stats: list[dict]) -> None:
        self._endpoints = stats
        self._write()

    def cancelled(self) -> bool:
        return self.store.cancel_requested(self.job_id)

    def close(self) -> None:
        self._write(force=True)
        self._close_bar()

    def _write(self, force: bool = False) -> None:
        if force or time.monotonic() - self._last >= 1.0:
            metrics = {key: value for key, value in (("endpoints", self._endpoints), ("written", self._wave)) if value}
            extra = {"metrics": metrics} if metrics or self._metrics else {}
            self._metrics = self._metrics or bool(metrics)
            self.store.update_job(self.job_id, stage=self.name, done=self.done, total=self.total, **extra)
            if self._bar is not None:
                self._bar.refresh()
            self._last = time.monotonic()

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def run_iterate_job(store: Store, run_name: str, *, steps: str | None = None, n_instructions: int | None = None,
                    command: str = "", show_progress: bool = False, factory=None) -> dict:
    """Run the run's current iteration as a job; refuses while another job of the run is alive."""
    run = store.require_run(run_name)
    wanted = parse_steps(steps)
    if n_instructions is not None and n_instructions < 1:
        raise SelfLengthenError("--n-instructions must be at least 1")
    iteration = current_iteration(store, run)
    job_id = store.start_job("iterate", run_id=run["id"], iteration_id=iteration["id"], command=command)
    reporter = JobReporter(store, job_id, show_progress)
    kwargs = {} if factory is None else {"factory": factory}
    return run_as_job(store, job_id, reporter, lambda: run_iteration(
        store, run, iteration, wanted, reporter, n_instructions=n_instructions, **kwargs))


def run_as_job(store: Store, job_id: int, reporter: JobReporter, work):
    """Run `work()` for a started job and end the job the way it went: done; cancelled (raised as a one-line
    error, since the finished part is kept); or failed (the error re-raised)."""
    try:
        result = work()
    except Cancelled as e:
        reporter.close()
        store.finish_job(job_id, "cancelled", str(e))
        raise SelfLengthenError(str(e)) from None
    except BaseException as e:
        reporter.close()
        store.finish_job(job_id, "failed", f"{type(e).__name__}: {e}")
        raise
    reporter.close()
    store.finish_job(job_id, "done")
    return result
