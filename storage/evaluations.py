"""Evaluations: a checkpoint's answers to a LonGen-format benchmark, their scores and judge verdicts.

An evaluation is identified by (run, iteration, role, model, benchmark digest, max_new_tokens): running the
same one again finds its row and fills in only what is missing. Its items are upserted by position, so a
re-run never duplicates them. `total` is the number of leading benchmark items the latest run asked for;
items stored beyond it (from an earlier, larger --limit) are kept but left out until the limit grows again.
"""

from __future__ import annotations

from storage.base import dumps, loads, now

MAX_JUDGE_OUTPUT_CHARS = 4_000  # the judge's raw reply is kept to show why it failed, not as data

_IDENTITY = ("run_id", "iteration_idx", "role", "model", "digest", "max_new_tokens")
_ANSWER_COLUMNS = ("language", "length_range", "type", "constraint_text", "query", "response", "words", "truncated",
                   "n_tokens", "error", "target_low", "target_high", "target", "length_score", "sl_score",
                   "lifebench_score")
_ITEM_COLUMNS = ("item_idx", *_ANSWER_COLUMNS, "judge_model", "judge_scores", "judge_error", "judge_output")
# A row counts as answered when it has a response and no error (selflengthen.evaluation.metrics.is_answered).
_ANSWERED = ("(SELECT COUNT(*) FROM eval_items i WHERE i.evaluation_id = e.id AND i.item_idx < e.total"
             " AND i.response IS NOT NULL AND i.error IS NULL) AS answered")


def _evaluation(row: dict | None) -> dict | None:
    if row is not None:
        row["summary"] = loads(row["summary"], {})
    return row


def _item(row: dict) -> dict:
    row["truncated"] = bool(row["truncated"])
    row["judge_scores"] = loads(row["judge_scores"])
    return row


class EvaluationsMixin:
    def find_or_create_evaluation(self, *, run_id: int, iteration_idx: int, role: str, model: str, benchmark: str,
                                  digest: str, total: int, max_new_tokens: int, seed: int,
                                  job_id: int | None) -> dict:
        """The evaluation with this identity, created if new; a re-run updates its total and job."""
        stamp = now()
        row = {"run_id": run_id, "iteration_idx": iteration_idx, "role": role, "model": model,
               "benchmark": benchmark, "digest": digest, "total": total, "max_new_tokens": max_new_tokens,
               "seed": seed, "job_id": job_id, "created_at": stamp, "updated_at": stamp}
        with self.transaction() as db:
            db.execute(f"INSERT INTO evaluations ({', '.join(row)}) VALUES ({', '.join(':' + c for c in row)})"
                       f" ON CONFLICT ({', '.join(_IDENTITY)}) DO UPDATE SET total = excluded.total,"
                       " job_id = excluded.job_id, updated_at = excluded.updated_at", row)
        found = self.one(f"SELECT id FROM evaluations WHERE {' AND '.join(c + ' = ?' for c in _IDENTITY)}",
                         [row[c] for c in _IDENTITY])
        return self.get_evaluation(found["id"])

    def save_eval_items(self, evaluation_id: int, rows: list[dict]) -> None:
        """Store answered (or failed) items in one transaction; a new answer clears the item's old verdict."""
        stamp = now()
        columns = ("evaluation_id", "item_idx", *_ANSWER_COLUMNS, "created_at", "updated_at")
        updates = ", ".join(f"{c} = excluded.{c}" for c in (*_ANSWER_COLUMNS, "updated_at"))
        sql = (f"INSERT INTO eval_items ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
               f" ON CONFLICT (evaluation_id, item_idx) DO UPDATE SET {updates}, judge_model = NULL,"
               " judge_scores = NULL, judge_error = NULL, judge_output = NULL")
        with self.transaction() as db:
            for row in rows:
                values = {c: row.get(c) for c in _ANSWER_COLUMNS}
                db.execute(sql, {**values, "truncated": int(bool(row.get("truncated"))),
                                 "evaluation_id": evaluation_id, "item_idx": row["item_idx"],
                                 "created_at": stamp, "updated_at": stamp})

    def save_judgements(self, evaluation_id: int, judged: dict[int, dict]) -> None:
        """{item_idx: {judge_model, judge_scores, judge_error, judge_output}} in one transaction."""
        stamp = now()
        with self.transaction() as db:
            for item_idx, verdict in judged.items():
                output = verdict.get("judge_output")
                scores = verdict.get("judge_scores")
                db.execute("UPDATE eval_items SET judge_model = ?, judge_scores = ?, judge_error = ?,"
                           " judge_output = ?, updated_at = ? WHERE evaluation_id = ? AND item_idx = ?",
                           [verdict["judge_model"], None if scores is None else dumps(scores),
                            verdict.get("judge_error"), None if output is None else output[:MAX_JUDGE_OUTPUT_CHARS],
                            stamp, evaluation_id, item_idx])

    def eval_items(self, evaluation_id: int) -> list[dict]:
        """The evaluation's items within its total, by position."""
        rows = self.query(f"SELECT {', '.join('i.' + c for c in _ITEM_COLUMNS)} FROM eval_items i"
                          " JOIN evaluations e ON e.id = i.evaluation_id"
                          " WHERE i.evaluation_id = ? AND i.item_idx < e.total ORDER BY i.item_idx",
                          [evaluation_id])
        return [_item(r) for r in rows]

    def set_evaluation_summary(self, evaluation_id: int, summary: dict, status: str) -> None:
        """Store the summary and status ('done' or 'incomplete')."""
        with self.transaction() as db:
            db.table("evaluations").update(evaluation_id, {"summary": dumps(summary), "status": status,
                                                           "updated_at": now()})

    def list_evaluations(self, run_id: int) -> list[dict]:
        """The run's evaluations by iteration (then oldest first), with their answered counts."""
        return [_evaluation(r) for r in self.query(
            f"SELECT e.*, {_ANSWERED} FROM evaluations e WHERE e.run_id = ? ORDER BY e.iteration_idx, e.id",
            [run_id])]

    def get_evaluation(self, evaluation_id: int) -> dict | None:
        return _evaluation(self.one(f"SELECT e.*, {_ANSWERED} FROM evaluations e WHERE e.id = ?", [evaluation_id]))
