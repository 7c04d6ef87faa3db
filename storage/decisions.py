"""Curator decisions: append-only; a sample's current verdict is its latest row."""

from __future__ import annotations

from storage.base import StoreError, dumps, loads, now

VERDICTS = ("accept", "reject", "pending")

_CURRENT = """
    SELECT d.* FROM decisions d
    JOIN (SELECT sample_id, max(id) AS id FROM decisions WHERE iteration_id = ? GROUP BY sample_id) latest
      ON d.id = latest.id
"""


def _decision(row: dict) -> dict:
    row["reasons"] = loads(row["reasons"], [])
    return row


class DecisionsMixin:
    def record_decisions(self, rows: list[dict], user: str = "") -> int:
        """Append decisions ({sample_id, verdict, reasons?, note?, edited_text?}) in one transaction.

        'pending' clears a verdict (undo); history is never rewritten.
        """
        stamp = now()
        with self.transaction() as db:
            for row in rows:
                if row["verdict"] not in VERDICTS:
                    raise StoreError(f"verdict must be one of {', '.join(VERDICTS)} (got {row['verdict']!r})")
                sample = db.execute("SELECT iteration_id FROM samples WHERE id = ?", [row["sample_id"]]).fetchone()
                if sample is None:
                    raise StoreError(f"no sample with id {row['sample_id']}")
                db.table("decisions").insert({
                    "sample_id": row["sample_id"], "iteration_id": sample[0], "verdict": row["verdict"],
                    "reasons": dumps(list(row.get("reasons", []))), "note": row.get("note", ""),
                    "edited_text": row.get("edited_text"), "user": row.get("user", user), "created_at": stamp,
                })
        return len(rows)

    def record_decision(self, sample_id: int, verdict: str, *, reasons=(), note: str = "",
                        edited_text: str | None = None, user: str = "") -> None:
        self.record_decisions([{"sample_id": sample_id, "verdict": verdict, "reasons": list(reasons),
                                "note": note, "edited_text": edited_text}], user=user)

    def current_decisions(self, iteration_id: int) -> dict[int, dict]:
        """{sample_id: latest decision} for the iteration's decided samples."""
        return {r["sample_id"]: _decision(r) for r in self.query(_CURRENT, [iteration_id])}

    def decision_history(self, sample_id: int) -> list[dict]:
        return [_decision(r) for r in self.query("SELECT * FROM decisions WHERE sample_id = ? ORDER BY id",
                                                 [sample_id])]

    def verdict_counts(self, iteration_id: int) -> dict[str, int]:
        """{'accept': n, 'reject': n} by current verdict ('pending' rows count as undecided)."""
        rows = self.query(f"SELECT verdict, count(*) AS n FROM ({_CURRENT}) GROUP BY verdict", [iteration_id])
        return {r["verdict"]: r["n"] for r in rows}

    def accepted_samples(self, iteration_id: int) -> list[dict]:
        """Training data: samples whose current verdict is accept, with the text to learn from.

        `final_text` is the curator's latest edit when there is one, else the final expansion (else, for a
        sample accepted without a kept expansion, its initial response); `edited` says which.
        """
        rows = self.query(
            f"""SELECT s.id AS sample_id, s.language, s.initial_response, s.final_expansion, i.text AS instruction,
                       (SELECT d2.edited_text FROM decisions d2 WHERE d2.sample_id = s.id
                          AND d2.edited_text IS NOT NULL ORDER BY d2.id DESC LIMIT 1) AS edited_text
                FROM ({_CURRENT}) d JOIN samples s ON s.id = d.sample_id JOIN instructions i ON i.id = s.instruction_id
                WHERE d.verdict = 'accept' ORDER BY s.id""", [iteration_id])
        for r in rows:
            r["edited"] = r["edited_text"] is not None
            r["final_text"] = r.pop("edited_text") or r["final_expansion"] or r["initial_response"]
        return rows

