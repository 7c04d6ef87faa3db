"""Runs, iterations and instructions."""

from __future__ import annotations

import sqlite3

from storage.base import StoreError, dumps, loads, now


def _run(row: dict | None) -> dict | None:
    if row is not None:
        row["config"] = loads(row["config"], {})
    return row


def _iteration(row: dict | None) -> dict | None:
    if row is not None:
        row["config"] = loads(row["config"], {})
        row["steps_done"] = loads(row["steps_done"], [])
        row["stats"] = loads(row["stats"], {})
    return row


def _instruction(row: dict) -> dict:
    row["parents"] = loads(row["parents"], [])
    return row


class RunsMixin:
    # -- runs ---------------------------------------------------------------------------------
    def create_run(self, name: str, generator_model: str, extender_model: str, backend: str,
                   preset: str, config: dict, seeds: list[dict]) -> dict:
        """Create a run, its iteration 0 and its seed instructions, in one transaction."""
        stamp = now()
        try:
            with self.transaction() as db:
                run_id = db.table("runs").insert({
                    "name": name, "generator_model": generator_model, "extender_model": extender_model,
                    "backend": backend, "preset": preset, "config": dumps(config), "created_at": stamp,
                }).last_pk
                iteration = self._insert_iteration(db, run_id, 0, generator_model, extender_model, config)
                self._upsert_instructions(db, run_id, [
                    {"key": f"seed:{i}", "text": s["text"], "language": s["language"], "source": "seed",
                     "iteration_id": iteration, "status": "accepted"}
                    for i, s in enumerate(seeds)
                ])
        except sqlite3.IntegrityError:
            raise StoreError(f"a run named '{name}' already exists") from None
        return self.get_run(name)

    def get_run(self, name: str) -> dict | None:
        return _run(self.one("SELECT * FROM runs WHERE name = ?", [name]))

    def require_run(self, name: str) -> dict:
        run = self.get_run(name)
        if run is None:
            raise StoreError(f"no run named '{name}' in {self.path}")
        return run

    def list_runs(self) -> list[dict]:
        return [_run(r) for r in self.query("SELECT * FROM runs ORDER BY id")]

    def set_curation(self, run_id: int, *, guidelines: str | None = None, overlap: int | None = None) -> None:
        """Curation settings of a run: the guidelines (markdown) and how many curators see each sample."""
        row = {k: v for k, v in {"guidelines": guidelines, "overlap": overlap}.items() if v is not None}
        if overlap is not None and not (isinstance(overlap, int) and 1 <= overlap <= 10):
            raise StoreError(f"overlap must be a whole number from 1 to 10 (got {overlap!r})")
        if row:
            with self.transaction() as db:
                db.table("runs").update(run_id, row)

    # -- iterations ---------------------------------------------------------------------------
    def _insert_iteration(self, db, run_id, idx, generator, extender, config) -> int:
        stamp = now()
        return db.table("iterations").insert({
            "run_id": run_id, "idx": idx, "status": "created", "generator_checkpoint": generator,
            "extender_checkpoint": extender, "config": dumps(config), "created_at": stamp, "updated_at": stamp,
        }).last_pk

    def create_iteration(self, run_id: int, idx: int, generator: str, extender: str, config: dict) -> dict:
        with self.transaction() as db:
            self._insert_iteration(db, run_id, idx, generator, extender, config)
        return self.get_iteration(run_id, idx)

    def get_iteration(self, run_id: int, idx: int) -> dict | None:
        return _iteration(self.one("SELECT * FROM iterations WHERE run_id = ? AND idx = ?", [run_id, idx]))

    def iteration_by_id(self, iteration_id: int) -> dict | None:
        return _iteration(self.one("SELECT * FROM iterations WHERE id = ?", [iteration_id]))

    def latest_iteration(self, run_id: int) -> dict | None:
        return _iteration(self.one("SELECT * FROM iterations WHERE run_id = ? ORDER BY idx DESC LIMIT 1", [run_id]))

    def list_iterations(self, run_id: int) -> list[dict]:
        return [_iteration(r) for r in self.query("SELECT * FROM iterations WHERE run_id = ? ORDER BY idx", [run_id])]

    def update_iteration(self, iteration_id: int, **fields) -> None:
        """Set status, steps_done (list), stats (dict) or config (dict) of an iteration."""
        row = {k: dumps(v) if k in ("steps_done", "stats", "config") else v for k, v in fields.items()}
        row["updated_at"] = now()
        with self.transaction() as db:
            db.table("iterations").update(iteration_id, row)

    def mark_step_done(self, iteration_id: int, step: str) -> None:
        steps = self.iteration_by_id(iteration_id)["steps_done"]
        if step not in steps:
            self.update_iteration(iteration_id, steps_done=steps + [step])

    # -- instructions -------------------------------------------------------------------------
    def _upsert_instructions(self, db, run_id: int, rows: list[dict]) -> None:
        stamp = now()
        for row in rows:
            db.execute(
                """INSERT INTO instructions (run_id, iteration_id, key, text, language, source, parents, judge,
                       judge_output, status, reject_reason, created_at)
                   VALUES (:run_id, :iteration_id, :key, :text, :language, :source, :parents, :judge,
                       :judge_output, :status, :reject_reason, :created_at)
                   ON CONFLICT (run_id, key) DO UPDATE SET text = excluded.text, language = excluded.language,
                       parents = excluded.parents, judge = excluded.judge, judge_output = excluded.judge_output,
                       status = excluded.status, reject_reason = excluded.reject_reason""",
                {"judge": None, "judge_output": None, "reject_reason": None, **row, "run_id": run_id,
                 "parents": dumps(row.get("parents", [])), "created_at": stamp},
            )

    def save_instructions(self, run_id: int, rows: list[dict]) -> None:
        """Upsert instruction candidates (by key) in one transaction; re-saving never duplicates."""
        with self.transaction() as db:
            self._upsert_instructions(db, run_id, rows)

    def instruction_pool(self, run_id: int) -> list[dict]:
        """Every accepted instruction of the run, seeds and augmented, oldest first."""
        rows = self.query("SELECT * FROM instructions WHERE run_id = ? AND status = 'accepted' ORDER BY id", [run_id])
        return [_instruction(r) for r in rows]

    def iteration_instructions(self, iteration_id: int, status: str | None = "accepted") -> list[dict]:
        sql = "SELECT * FROM instructions WHERE iteration_id = ?"
        params = [iteration_id]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        return [_instruction(r) for r in self.query(sql + " ORDER BY id", params)]

    def get_instruction(self, instruction_id: int) -> dict | None:
        row = self.one("SELECT * FROM instructions WHERE id = ?", [instruction_id])
        return _instruction(row) if row else None

    def instruction_counts(self, iteration_id: int) -> dict:
        """{'accepted': n, 'rejected': n, 'candidates': augmented candidates so far, 'reasons': {reason: n}}."""
        rows = self.query(
            """SELECT status, reject_reason, source, count(*) AS n FROM instructions
               WHERE iteration_id = ? GROUP BY status, reject_reason, source""", [iteration_id])
        out = {"accepted": 0, "rejected": 0, "candidates": 0, "reasons": {}}
        for r in rows:
            out[r["status"]] = out.get(r["status"], 0) + r["n"]
            if r["source"] == "augmented":
                out["candidates"] += r["n"]
            if r["reject_reason"]:
                out["reasons"][r["reject_reason"]] = out["reasons"].get(r["reject_reason"], 0) + r["n"]
        return out
