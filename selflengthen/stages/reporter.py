"""How a long-running stage reports progress and learns it should stop."""

from __future__ import annotations


class Cancelled(Exception):
    """Raised between batches when the job was asked to stop; the work done so far is already stored."""


class Reporter:
    """Silent by default; the CLI and the dashboard subclass it to show bars and write job rows."""

    def stage(self, name: str, total: int, done: int = 0) -> None:
        """A stage starts (or resumes with `done` items already stored)."""

    def advance(self, n: int = 1) -> None:
        """`n` more items of the current stage are stored."""

    def written(self, done: int, total: int) -> None:
        """Of the `total` requests the model works on now (one wave of a batch loop), `done` are written; the
        items they belong to are stored (and `advance`d) when the wave ends."""

    def log(self, message: str) -> None:
        """A line for the job's log."""

    def endpoints(self, stats: list[dict]) -> None:
        """The serving endpoints' figures (in flight, done, failed, up), while a stage streams to them."""

    def cancelled(self) -> bool:
        return False

    def check_cancel(self) -> None:
        if self.cancelled():
            raise Cancelled("stopped on request; finished work is kept")
