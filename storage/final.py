"""The final stage's rows: saved by `finalize` (a re-run upserts; a curator's work survives it), decided and
edited by curators, read for training and export."""

from __future__ import annotations

from storage.base import StoreError, dumps, loads, now

_GENERATED = ("sample_id", "iteration_idx", "source", "language", "instruction", "query", "response", "words",
              "type", "constraint", "target_low", "target_high")
_COLUMNS = ", ".join(f'"{c}"' for c in ("run_id", "key", *_GENERATED, "created_at", "updated_at"))
_UPSERT = (f"INSERT INTO final_rows ({_COLUMNS}) VALUES ({', '.join('?' * (len(_GENERATED) + 4))}) "
           "ON CONFLICT (run_id, key) DO UPDATE SET "
           + ", ".join(f'"{c}" = excluded."{c}"' for c in _GENERATED) + ", updated_at = excluded.updated_at")
_MODEL_COLUMNS = ("run_id, path, base_model, kind, adapter_path, data_size, train_loss, eval_loss, job_id, config, "
                  "created_at")
# A row a curator has touched: a re-run that no longer pools it keeps it (nothing a curator did is lost).
_UNTOUCHED = "verdict IS NULL AND edited_query IS NULL AND edited_response IS NULL"


class FinalMixin:
    def save_final_rows(self, run_id: int, rows: list[dict], settings: dict, stats: dict) -> None:
        """Replace the run's final set in one transaction: upsert by key, drop untouched rows no longer pooled."""
        stamp = now()
        params = [(run_id, r["key"], r["sample_id"], r["iteration"], *(r[c] for c in _GENERATED[2:]), stamp, stamp)
                  for r in rows]
        keys = [r["key"] for r in rows]
        with self.transaction() as db:
            db.conn.executemany(_UPSERT, params)
            db.conn.execute(f"DELETE FROM final_rows WHERE run_id = ? AND {_UNTOUCHED} AND key NOT IN "
                            f"(SELECT value FROM json_each(?))", [run_id, dumps(keys)])
            db.conn.execute("INSERT INTO finalizations (run_id, settings, stats, updated_at) VALUES (?, ?, ?, ?) "
                            "ON CONFLICT (run_id) DO UPDATE SET settings = excluded.settings, "
                            "stats = excluded.stats, updated_at = excluded.updated_at",
                            [run_id, dumps(settings), dumps(stats), stamp])

    def final_rows(self, run_id: int, verdicts: tuple | None = None) -> list[dict]:
        """The run's final rows in key order; `verdicts` picks by verdict (None in it: undecided)."""
        rows = self.query("SELECT * FROM final_rows WHERE run_id = ? ORDER BY iteration_idx, sample_id, source",
                          [run_id])
        return rows if verdicts is None else [r for r in rows if r["verdict"] in verdicts]

    def finalization(self, run_id: int) -> dict | None:
        row = self.one("SELECT * FROM finalizations WHERE run_id = ?", [run_id])
        return None if row is None else {**row, "settings": loads(row["settings"]), "stats": loads(row["stats"])}

    def get_final_row(self, run_id: int, row_id: int) -> dict:
        row = self.one("SELECT * FROM final_rows WHERE run_id = ? AND id = ?", [run_id, row_id])
        if row is None:
            raise StoreError(f"no final row {row_id} in this run")
        return row

    def decide_final_row(self, row_id: int, verdict: str, user: str, *, query: str | None = None,
                         response: str | None = None) -> None:
        """Record a verdict (and edits, where given) on one final row; checked by the caller's rule first."""
        with self.transaction() as db:
            db.conn.execute("UPDATE final_rows SET verdict = ?, curator = ?, decided_at = ?, updated_at = ?, "
                            "edited_query = COALESCE(?, edited_query), edited_response = COALESCE(?, edited_response) "
                            "WHERE id = ?", [verdict, user, now(), now(), query, response, row_id])

    def register_final_model(self, *, run_id: int, path: str, base_model: str, kind: str, data_size: int,
                             adapter_path: str | None = None, train_loss: float | None = None,
                             eval_loss: float | None = None, job_id: int | None = None,
                             config: dict | None = None) -> None:
        """Record (or replace) the run's final model."""
        row = [run_id, path, base_model, kind, adapter_path, data_size, train_loss, eval_loss, job_id,
               dumps(config or {}), now()]
        with self.transaction() as db:
            db.conn.execute(f"INSERT OR REPLACE INTO final_models ({_MODEL_COLUMNS}) VALUES "
                            f"({', '.join('?' * len(row))})", row)

    def final_model(self, run_id: int) -> dict | None:
        row = self.one("SELECT * FROM final_models WHERE run_id = ?", [run_id])
        return None if row is None else {**row, "config": loads(row["config"])}
