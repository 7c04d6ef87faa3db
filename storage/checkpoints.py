"""Trained checkpoints, one per iteration and role, and the training metrics of jobs."""

from __future__ import annotations

from storage.base import dumps, loads, now

_COLUMNS = ("run_id", "iteration_id", "role", "path", "base_model", "kind", "adapter_path", "data_size",
            "train_loss", "eval_loss", "job_id", "config", "created_at")


def _checkpoint(row: dict | None) -> dict | None:
    if row is not None:
        row["config"] = loads(row["config"], {})
    return row


class CheckpointsMixin:
    def register_checkpoint(self, *, run_id: int, iteration_id: int, role: str, path: str, base_model: str,
                            kind: str, data_size: int, adapter_path: str | None = None,
                            train_loss: float | None = None, eval_loss: float | None = None,
                            job_id: int | None = None, config: dict | None = None) -> None:
        """Record (or replace) the checkpoint trained for an iteration and role."""
        row = {"run_id": run_id, "iteration_id": iteration_id, "role": role, "path": path,
               "base_model": base_model, "kind": kind, "adapter_path": adapter_path, "data_size": data_size,
               "train_loss": train_loss, "eval_loss": eval_loss, "job_id": job_id,
               "config": dumps(config or {}), "created_at": now()}
        updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c not in ("iteration_id", "role"))
        with self.transaction() as db:
            db.execute(f"INSERT INTO checkpoints ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)})"
                       f" ON CONFLICT (iteration_id, role) DO UPDATE SET {updates}", row)

    def iteration_checkpoints(self, iteration_id: int) -> dict[str, dict]:
        """{role: checkpoint} trained on this iteration's data."""
        rows = self.query("SELECT * FROM checkpoints WHERE iteration_id = ?", [iteration_id])
        return {r["role"]: _checkpoint(r) for r in rows}

    def run_checkpoints(self, run_id: int) -> list[dict]:
        return [_checkpoint(r) for r in self.query(
            "SELECT c.*, i.idx AS iteration FROM checkpoints c JOIN iterations i ON i.id = c.iteration_id"
            " WHERE c.run_id = ? ORDER BY i.idx, c.role", [run_id])]

    def record_metrics(self, job_id: int, *, step: int, train_loss=None, eval_loss=None, learning_rate=None,
                       tokens_per_second=None, reward_accuracy=None, reward_margin=None, eval_reward_accuracy=None,
                       eval_reward_margin=None) -> None:
        with self.transaction() as db:
            db.table("job_metrics").insert({
                "job_id": job_id, "step": step, "train_loss": train_loss, "eval_loss": eval_loss,
                "learning_rate": learning_rate, "tokens_per_second": tokens_per_second,
                "reward_accuracy": reward_accuracy, "reward_margin": reward_margin,
                "eval_reward_accuracy": eval_reward_accuracy, "eval_reward_margin": eval_reward_margin,
                "created_at": now()})

    def job_metrics(self, job_id: int) -> list[dict]:
        return self.query("SELECT * FROM job_metrics WHERE job_id = ? ORDER BY id", [job_id])
