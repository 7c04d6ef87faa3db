"""Accepted samples with the text that counts and the provenance every exported row carries: the data of
both training and export."""

from __future__ import annotations

from selflengthen.curation.rules import final_text
from selflengthen.method.words import count_words
from storage.base import loads
from storage.decisions import _CURRENT

# One statement per iteration, whatever its size: the effective decisions (storage.decisions), the sample
# and its instruction joined in, and the latest edit by any curator looked up through the
# decisions_by_sample index (an edit wins over the expansion).
# No ORDER BY: SQLite would sort the wide rows in a temporary b-tree (over half the query's time at
# 100,000 samples); sorting the finished rows by id in Python costs milliseconds.
_EXPORT_SQL = f"""
    SELECT s.id AS sample_id, s.language, i.text AS instruction, s.initial_response, s.final_expansion,
           s.initial_words, s.final_words AS expansion_words, s.gates, d.user AS curator,
           d.created_at AS decided_at,
           (SELECT d2.edited_text FROM decisions d2 WHERE d2.sample_id = s.id AND d2.edited_text IS NOT NULL
              ORDER BY d2.id DESC LIMIT 1) AS edited_text
    FROM ({_CURRENT}) d JOIN samples s ON s.id = d.sample_id JOIN instructions i ON i.id = s.instruction_id
    WHERE d.verdict = 'accept'
"""


def _export_sample(row: dict, gates_as_json: bool) -> dict:
    """Fold the edit into final_text / final_words: the text that counts (curation.rules.final_text) and its
    words (the stored count of an unedited expansion, so 100,000 texts need not be counted again)."""
    edited_text, expansion_words = row.pop("edited_text"), row.pop("expansion_words")
    row["edited"] = edited_text is not None
    if not gates_as_json:
        row["gates"] = loads(row["gates"], {})
    row["final_text"] = final_text(row, edited_text)
    if edited_text or (row["final_expansion"] and expansion_words is None):
        row["final_words"] = count_words(row["final_text"])
    else:
        row["final_words"] = expansion_words if row["final_expansion"] else row["initial_words"]
    return row


class ExportsMixin:
    def export_samples(self, iteration_id: int, gates_as_json: bool = False) -> list[dict]:
        """The iteration's accepted samples (effective verdict), ordered by sample id, in one query.

        Each row: sample_id, language, instruction, initial_response, final_expansion, final_text (latest
        edit, else final expansion, else initial response), edited, gates (dict; with `gates_as_json` the
        stored JSON text, sorted keys, which spares an export a parse and a re-dump per row), curator and
        decided_at (of the decision that counts), initial_words and final_words (words of final_text).
        """
        rows = [_export_sample(row, gates_as_json) for row in self.query(_EXPORT_SQL, [iteration_id])]
        rows.sort(key=lambda row: row["sample_id"])
        return rows

    def accepted_samples(self, iteration_id: int) -> list[dict]:
        """Training data: the same rows as an export (`final_text` is what the models learn from)."""
        return self.export_samples(iteration_id)
