"""Comparisons: one instruction answered by two iterations' generators, kept so they can be looked at again."""

from __future__ import annotations

from storage.base import now

_COLUMNS = ("run_id", "job_id", "instruction", "iteration_a", "iteration_b", "model_a", "model_b",
            "response_a", "response_b", "words_a", "words_b")


class ComparisonsMixin:
    def save_comparison(self, row: dict) -> int:
        """Store one finished comparison; returns its id."""
        with self.transaction() as db:
            return db.table("comparisons").insert({
                **{c: row.get(c) for c in _COLUMNS}, "created_at": now(),
            }).last_pk

    def list_comparisons(self, run_id: int, limit: int = 50) -> list[dict]:
        """The run's comparisons, newest first."""
        return self.query("SELECT * FROM comparisons WHERE run_id = ? ORDER BY id DESC LIMIT ?", [run_id, limit])

    def get_comparison(self, comparison_id: int) -> dict | None:
        return self.one("SELECT * FROM comparisons WHERE id = ?", [comparison_id])
