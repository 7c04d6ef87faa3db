"""Curator decisions: append-only rows; what counts is each sample's effective verdict.

Effective verdict (selflengthen.curation.rules.effective_decision, here in SQL): take each curator's latest
decision on the sample; the most recent non-pending one among those wins; when all are 'pending' (undone),
the sample is pending. So one curator's undo withdraws only their own verdict.
"""

from __future__ import annotations

from storage.base import StoreError, dumps, loads, now

VERDICTS = ("accept", "reject", "pending")

# Each curator's latest decision per sample of an iteration. SQLite returns the bare columns of the row
# holding max(id) (documented for a lone min/max aggregate); the index (iteration_id, user, sample_id, id)
# feeds the grouping in order.
PER_CURATOR_SQL = """
    SELECT sample_id, user, max(id) AS id, verdict FROM decisions WHERE iteration_id = ? GROUP BY user, sample_id
"""
# One row per decided sample: the id of the decision that counts (the newest non-pending one among the
# curators' latest, else the newest of them).
EFFECTIVE_IDS_SQL = f"""
    SELECT sample_id, coalesce(max(CASE WHEN verdict != 'pending' THEN id END), max(id)) AS id
    FROM ({PER_CURATOR_SQL}) GROUP BY sample_id
"""
_CURRENT = f"SELECT d.* FROM decisions d JOIN ({EFFECTIVE_IDS_SQL}) effective ON d.id = effective.id"
# The effective verdict alone, in one pass: the newest non-pending id is found with its verdict folded into
# the lowest bit (id * 2 + 1 for accept), so no second lookup per sample is needed.
EFFECTIVE_VERDICTS_SQL = f"""
    SELECT sample_id, CASE WHEN best IS NULL THEN 'pending' WHEN best % 2 = 1 THEN 'accept' ELSE 'reject' END
        AS verdict
    FROM (SELECT sample_id, max(CASE WHEN verdict != 'pending' THEN id * 2 + (verdict = 'accept') END) AS best
          FROM ({PER_CURATOR_SQL}) GROUP BY sample_id)
"""
_INSERT = """
    INSERT INTO decisions (sample_id, iteration_id, verdict, reasons, note, edited_text, user, created_at)
    SELECT id, iteration_id, ?, ?, ?, ?, ?, ? FROM samples WHERE id = ?
"""


def _decision(row: dict) -> dict:
    row["reasons"] = loads(row["reasons"], [])
    return row


def _insert_params(row: dict, user: str, stamp: str) -> tuple:
    if row["verdict"] not in VERDICTS:
        raise StoreError(f"verdict must be one of {', '.join(VERDICTS)} (got {row['verdict']!r})")
    return (row["verdict"], dumps(list(row.get("reasons", []))), row.get("note", "") or "", row.get("edited_text"),
            row.get("user", user), stamp, row["sample_id"])


class DecisionsMixin:
    def record_decisions(self, rows: list[dict], user: str = "") -> int:
        """Append decisions ({sample_id, verdict, reasons?, note?, edited_text?}) in one transaction.

        'pending' clears a verdict (undo); history is never rewritten. One statement per row, run as a
        batch, so a 10,000-sample bulk accept is a single short write.
        """
        stamp = now()
        params = [_insert_params(row, user, stamp) for row in rows]
        with self.transaction() as db:
            inserted = db.conn.executemany(_INSERT, params).rowcount
            if inserted != len(params):
                known = {r[0] for r in db.execute(
                    "SELECT id FROM samples WHERE id IN (SELECT value FROM json_each(?))",
                    [dumps([p[-1] for p in params])]).fetchall()}
                missing = next(p[-1] for p in params if p[-1] not in known)
                raise StoreError(f"no sample with id {missing}")
        return len(rows)

    def record_decision(self, sample_id: int, verdict: str, *, reasons=(), note: str = "",
                        edited_text: str | None = None, user: str = "") -> None:
        self.record_decisions([{"sample_id": sample_id, "verdict": verdict, "reasons": list(reasons),
                                "note": note, "edited_text": edited_text}], user=user)

    def record_unless_overtaken(self, rows: list[dict], seen: dict[int, int], user: str = "") -> dict | None:
        """Record the rows in one transaction unless another curator decided one of their samples differently
        after `seen[sample_id]` (the newest decision id on it when this curator looked). Returns that newer
        decision and records nothing; returns None once every row is recorded. The check and the write share
        the transaction, so no decision can slip in between them."""
        with self.transaction() as db:
            for row in rows:
                cursor = db.execute("SELECT * FROM decisions WHERE sample_id = ? AND id > ? AND user != ? "
                                    "ORDER BY id DESC LIMIT 1", [row["sample_id"], seen.get(row["sample_id"], 0), user])
                newer = cursor.fetchone()
                if newer is not None:
                    newer = _decision(dict(zip([c[0] for c in cursor.description], newer)))
                    if newer["verdict"] != row["verdict"]:
                        return newer
            self.record_decisions(rows, user=user)
        return None

    def current_decisions(self, iteration_id: int) -> dict[int, dict]:
        """{sample_id: the decision that counts} for the iteration's samples with a standing verdict."""
        rows = self.query(f"SELECT * FROM ({_CURRENT}) WHERE verdict != 'pending'", [iteration_id])
        return {r["sample_id"]: _decision(r) for r in rows}

    def decision_history(self, sample_id: int) -> list[dict]:
        return [_decision(r) for r in self.query("SELECT * FROM decisions WHERE sample_id = ? ORDER BY id",
                                                 [sample_id])]

    def last_decision_id(self, iteration_ids: list[int]) -> int:
        """The newest decision row of these iterations (0 for none): decisions are only ever appended, so a
        view derived from them is current while this number stays the same."""
        if not iteration_ids:
            return 0
        marks = ", ".join("?" for _ in iteration_ids)
        row = self.one(f"SELECT max(id) AS id FROM decisions WHERE iteration_id IN ({marks})", list(iteration_ids))
        return row["id"] or 0

    def verdict_counts(self, iteration_id: int) -> dict[str, int]:
        """{'accept': n, 'reject': n, 'pending': n} by effective verdict; 'pending' counts samples whose
        every verdict was undone (samples never decided are not counted)."""
        rows = self.query(f"SELECT verdict, count(*) AS n FROM ({EFFECTIVE_VERDICTS_SQL}) GROUP BY verdict",
                          [iteration_id])
        return {r["verdict"]: r["n"] for r in rows}
