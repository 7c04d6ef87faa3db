"""Curation queries for the Review tab: filtered sample ids, list pages, the queue, agreement data.

Filters run in SQL (one query per apply) so an iteration of 20,000 samples filters in milliseconds; the
per-action queries touch only the samples at hand.
"""

from __future__ import annotations

import time

from selflengthen.curation.filters import ReviewFilter
from selflengthen.curation.rules import effective_decision, latest_per_curator, needs_decision
from storage.base import loads
from storage.decisions import EFFECTIVE_VERDICTS_SQL, PER_CURATOR_SQL

LIST_COLUMNS = ("id", "status", "reject_reason", "language", "initial_words", "final_words", "growth")
LIST_SNIPPET = 90  # characters of the instruction and of the final text a list row shows
QUEUE_CHUNK = 200
HOLD_SECONDS = 300.0  # a sample shown to a curator is theirs this long, or until they move on
_STATUS_SQL = {"passed": "s.status = 'kept'", "failed gates": "s.reject_reason IS NOT NULL"}


def _in(ids) -> tuple[str, list]:
    """An `IN (SELECT value FROM json_each(?))` clause: one parameter, however many ids."""
    return "(SELECT value FROM json_each(?))", [f"[{','.join(str(int(i)) for i in ids)}]"]


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _filter_sql(f: ReviewFilter) -> tuple[str, list]:
    """The FROM ... WHERE of a filter, with its parameters in order."""
    joins, where, params = [], ["s.iteration_id = ?"], [f.iteration_id]
    if f.verdict != "all":
        joins.append(f"LEFT JOIN ({EFFECTIVE_VERDICTS_SQL}) e ON e.sample_id = s.id")
        params.insert(0, f.iteration_id)
        where.append("coalesce(e.verdict, 'pending') = ?")
        params.append(f.verdict)
    if f.status != "all":
        where.append(_STATUS_SQL.get(f.status, "s.status = ?"))
        params += [] if f.status in _STATUS_SQL else [f.status]
    for column, value in (("s.reject_reason", f.gate), ("s.language", f.language)):
        if value != "all":
            where.append(f"{column} = ?")
            params.append(value)
    for expression, low, high in (("coalesce(s.final_words, s.initial_words)", f.min_words, f.max_words),
                                  ("s.growth", f.min_growth, f.max_growth)):
        if low is not None:
            where.append(f"{expression} >= ?")
            params.append(low)
        if high is not None:
            where.append(f"{expression} <= ?")
            params.append(high)
    if f.search:
        joins.append("JOIN instructions i ON i.id = s.instruction_id")
        where.append("(i.text LIKE ? ESCAPE '\\' OR s.initial_response LIKE ? ESCAPE '\\'"
                     " OR s.final_expansion LIKE ? ESCAPE '\\')")
        params += [_like(f.search)] * 3
    return f"FROM samples s {' '.join(joins)} WHERE {' AND '.join(where)}", params


class ReviewMixin:
    def filter_sample_ids(self, review_filter: ReviewFilter) -> list[int]:
        """Ids of the iteration's samples that match the filter, in id order."""
        sql, params = _filter_sql(review_filter)
        with self._lock:
            return [r[0] for r in self.db.execute(f"SELECT s.id {sql} ORDER BY s.id", params).fetchall()]

    def review_choices(self, iteration_id: int) -> dict[str, list[str]]:
        """The gate reasons and languages present in an iteration, for the filter dropdowns."""
        rows = self.query("SELECT DISTINCT reject_reason, language FROM samples WHERE iteration_id = ?",
                          [iteration_id])
        return {"gates": sorted({r["reject_reason"] for r in rows if r["reject_reason"]}),
                "languages": sorted({r["language"] for r in rows})}

    def sample_count(self, iteration_id: int) -> int:
        return self.one("SELECT count(*) AS n FROM samples WHERE iteration_id = ?", [iteration_id])["n"]

    def curator_latest(self, sample_ids) -> dict[int, list[dict]]:
        """{sample_id: each curator's latest decision (id, user, verdict, reasons as stored JSON, created_at)} for a
        few samples."""
        clause, params = _in(sample_ids)
        rows = self.query(f"""SELECT sample_id, user, max(id) AS id, verdict, reasons, created_at FROM decisions
                              WHERE sample_id IN {clause} GROUP BY sample_id, user""", params)
        out: dict[int, list[dict]] = {}
        for row in rows:
            out.setdefault(row["sample_id"], []).append(row)
        return out

    def review_rows(self, sample_ids) -> list[dict]:
        """List-view rows of the given samples, in the order given: the first words of the instruction and of the
        final text (LIST_SNIPPET characters), the numbers, and the verdict that counts with its reasons and who
        gave it (`decided_by`, `verdict_reasons`)."""
        clause, params = _in(sample_ids)
        rows = self.query(f"""SELECT {', '.join('s.' + c for c in LIST_COLUMNS)},
                                     substr(i.text, 1, {LIST_SNIPPET}) AS instruction_start,
                                     substr(coalesce(s.final_expansion, s.initial_response), 1, {LIST_SNIPPET})
                                         AS final_start
                              FROM samples s JOIN instructions i ON i.id = s.instruction_id
                              WHERE s.id IN {clause}""", params)
        latest = self.curator_latest(sample_ids)
        for row in rows:
            decision = effective_decision(latest.get(row["id"], []))
            row["verdict"] = decision["verdict"] if decision else "pending"
            row["decided_by"] = decision["user"] if decision else None
            row["verdict_reasons"] = loads(decision["reasons"], []) if decision else []
        by_id = {r["id"]: r for r in rows}
        return [by_id[i] for i in sample_ids if i in by_id]

    def review_sample(self, sample_id: int) -> dict | None:
        """One sample with its instruction text, its iteration's number and its decision history (oldest first)."""
        row = self.one("""SELECT s.*, i.text AS instruction, it.idx AS iteration_idx FROM samples s
                          JOIN instructions i ON i.id = s.instruction_id JOIN iterations it ON it.id = s.iteration_id
                          WHERE s.id = ?""", [sample_id])
        if row is None:
            return None
        row["gates"] = loads(row["gates"], {})
        row["siblings"] = self.response_siblings(row)
        row["history"] = self.decision_history(sample_id)
        row["latest_per_curator"] = latest_per_curator(row["history"])
        return row

    def response_siblings(self, sample: dict) -> list[int]:
        """Ids of the other samples that expand the same initial response (expand.per_response > 1)."""
        root = sample["response_of"] or sample["id"]
        rows = self.query("SELECT id FROM samples WHERE (id = ? OR response_of = ?) AND id != ? ORDER BY id",
                          [root, root, sample["id"]])
        return [r["id"] for r in rows]

    def effective_verdict(self, sample_id: int) -> str | None:
        """The verdict that counts for one sample now (None when nobody decided it)."""
        decision = effective_decision(self.curator_latest([sample_id]).get(sample_id, []))
        return decision["verdict"] if decision else None

    def next_needing_decision(self, ids: list[int], start: int, user: str, overlap: int,
                              wrap: bool = False) -> int | None:
        """The first position >= start in `ids` whose sample still needs `user`'s decision (with wrap, then
        the first before start), else None.

        Looks ahead a chunk at a time, so the usual case (the next sample) costs one small query.
        """
        spans = [(max(start, 0), len(ids))] + ([(0, min(start, len(ids)))] if wrap else [])
        for first, end in spans:
            for begin in range(first, end, QUEUE_CHUNK):
                chunk = ids[begin:min(begin + QUEUE_CHUNK, end)]
                latest, holders = self.curator_latest(chunk), self.holders(chunk) if user else {}
                for offset, sample_id in enumerate(chunk):
                    if needs_decision(latest.get(sample_id, []), user, overlap, holders.get(sample_id, set())):
                        return begin + offset
        return None

    # -- holds: who has a sample open now, so "next" hands each curator a sample nobody else is deciding -----

    def hold(self, sample_id: int, user: str, seconds: float = HOLD_SECONDS) -> None:
        """`user` has `sample_id` open for the next `seconds`; their hold on any other sample ends (they moved
        on). An anonymous curator ('') holds nothing: without names, curators cannot be told apart."""
        if not user:
            return
        with self.transaction() as db:
            db.execute("DELETE FROM holds WHERE user = ? AND sample_id != ?", [user, sample_id])
            db.execute("INSERT INTO holds (sample_id, user, until) VALUES (?, ?, ?) ON CONFLICT (sample_id, user)"
                       " DO UPDATE SET until = excluded.until", [sample_id, user, time.time() + seconds])

    def holders(self, sample_ids: list[int]) -> dict[int, set[str]]:
        """{sample_id: the curators holding it open now} (expired holds do not count)."""
        clause, params = _in(sample_ids)
        rows = self.query(f"SELECT sample_id, user FROM holds WHERE sample_id IN {clause} AND until > ?",
                          [*params, time.time()])
        out: dict[int, set[str]] = {}
        for row in rows:
            out.setdefault(row["sample_id"], set()).add(row["user"])
        return out

    def withdrawable(self, sample_ids: list[int], user: str) -> tuple[int, str] | None:
        """(sample, verdict) of the first of `sample_ids` on which `user` has a standing verdict (to undo)."""
        latest = self.curator_latest(sample_ids)
        for sample_id in sample_ids:
            mine = [r for r in latest.get(sample_id, []) if r["user"] == user]
            if mine and mine[0]["verdict"] != "pending":
                return sample_id, mine[0]["verdict"]
        return None

    def curator_verdicts(self, iteration_id: int) -> dict[int, dict[str, str]]:
        """{sample_id: {curator: their latest verdict}} over standing (non-pending) verdicts, for agreement."""
        out: dict[int, dict[str, str]] = {}
        for row in self.query(PER_CURATOR_SQL, [iteration_id]):
            if row["verdict"] != "pending":
                out.setdefault(row["sample_id"], {})[row["user"]] = row["verdict"]
        return out
