"""What a preference stage learns from, read in two statements per iteration: every sample with its instruction,
the verdict that counts and the latest edit; and every expansion attempt with the text it started from."""

from __future__ import annotations

from storage.decisions import _CURRENT

# The verdict that counts (storage.decisions) joined to every sample, decided or not, with the latest edit by any
# curator through the decisions_by_sample index (an edit wins over the model's text).
_SAMPLES_SQL = f"""
    SELECT s.id AS sample_id, s.iteration_id, s.instruction_id, s.language, s.status, i.text AS instruction,
           s.initial_response, s.final_expansion, d.verdict, d.user AS curator,
           (SELECT d2.edited_text FROM decisions d2 WHERE d2.sample_id = s.id AND d2.edited_text IS NOT NULL
              ORDER BY d2.id DESC LIMIT 1) AS edited_text
    FROM samples s JOIN instructions i ON i.id = s.instruction_id
    LEFT JOIN ({_CURRENT}) d ON d.sample_id = s.id
    WHERE s.iteration_id = ?
"""
_ATTEMPTS_SQL = """
    SELECT r.sample_id, r.round, r.source_text, r.result, r.kept
    FROM expansion_rounds r JOIN samples s ON s.id = r.sample_id
    WHERE s.iteration_id = ? AND r.result IS NOT NULL
"""


class PreferencesMixin:
    def preference_samples(self, iteration_id: int) -> list[dict]:
        """Every sample of the iteration (by id): instruction, texts, `verdict` (accept, reject or None while
        undecided), `curator` and `edited_text` (the latest edit, or None)."""
        rows = self.query(_SAMPLES_SQL, [iteration_id, iteration_id])
        return sorted((dict(r) for r in rows), key=lambda r: r["sample_id"])

    def expansion_attempts(self, iteration_id: int) -> list[dict]:
        """The iteration's expansion rounds that produced a text: sample_id, round, source_text, result and
        kept (1 when the round's text was taken, 0 when it failed and the text stayed as it was)."""
        rows = self.query(_ATTEMPTS_SQL, [iteration_id])
        return sorted((dict(r) for r in rows), key=lambda r: (r["sample_id"], r["round"]))
