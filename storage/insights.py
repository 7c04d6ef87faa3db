"""What the Insights charts read: per-sample numbers of a whole run, and a bounded subset of texts.

Verdicts and curator reasons are not read here: the effective verdict is the decisions module's to
define, so the charts go through `verdict_counts` and `current_decisions`.
"""

from __future__ import annotations

from storage.base import loads

# Multiplicative hashing of the id (Knuth's constant): a fixed pseudo-random order, the same on every refresh.
_SHUFFLED = "(s.id * 2654435761) % 4294967296"


class InsightsMixin:
    def insight_samples(self, run_id: int) -> list[dict]:
        """Every sample of the run with its iteration index, word counts, status, reject reason and gates."""
        rows = self.query(
            """SELECT it.idx AS iteration, s.iteration_id, s.id, s.language, s.status, s.reject_reason,
                      s.initial_words, s.final_words, s.rounds, s.gates
               FROM samples s JOIN iterations it ON it.id = s.iteration_id
               WHERE s.run_id = ? ORDER BY it.idx, s.id""", [run_id])
        for row in rows:
            row["gates"] = loads(row["gates"], {})
        return rows

    def insight_texts(self, iteration_id: int, limit: int = 300) -> list[dict]:
        """Initial responses and final expansions (None when never expanded) of at most `limit` samples.

        The subset is a fixed pseudo-random one, so a diversity figure computed on it is stable across
        refreshes and does not cost a pass over every text of a large iteration.
        """
        return self.query(
            f"""SELECT s.initial_response,
                       CASE WHEN s.rounds > 0 THEN s.final_expansion END AS final_expansion
                FROM samples s WHERE s.iteration_id = ? ORDER BY {_SHUFFLED}, s.id LIMIT ?""",
            [iteration_id, limit])
