"""Samples (one initial response and its expansions) and their expansion rounds."""

from __future__ import annotations

from operator import itemgetter

from storage.base import dumps, loads, now

_SAMPLE_JSON = ("gates", "rejections")
_SAMPLE_COLUMNS = (
    "run_id", "iteration_id", "instruction_id", "slot", "language", "status", "reject_reason",
    "initial_response", "initial_words", "initial_attempts", "first_half", "stage1_expansion",
    "final_expansion", "final_words", "growth", "rounds", "expand_attempts", "response_of",
    "gates", "rejections",
)
_ROUND_COLUMNS = (
    "sample_id", "round", "source_text", "first_half", "separator", "stage1", "stage2", "result",
    "words_before", "words_after", "attempts", "kept", "gates",
)


def _sample(row: dict) -> dict:
    for key in _SAMPLE_JSON:
        row[key] = loads(row[key], {})
    return row


def _upsert_sql(table: str, columns: tuple[str, ...], conflict: tuple[str, ...]) -> str:
    """INSERT ... ON CONFLICT DO UPDATE of every column but the key and created_at; positional parameters
    in the order of `columns`.

    >>> _upsert_sql("t", ("k", "v", "created_at"), ("k",))
    'INSERT INTO t (k, v, created_at) VALUES (?, ?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v'
    """
    names = ", ".join(columns)
    values = ", ".join("?" for _ in columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in conflict and c != "created_at")
    return (f"INSERT INTO {table} ({names}) VALUES ({values}) "
            f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {updates}")


# Plain columns first, then the JSON ones: the order of the parameters _sample_params builds.
_SAMPLE_PLAIN_COLUMNS = tuple(c for c in _SAMPLE_COLUMNS if c not in _SAMPLE_JSON)
_SAMPLE_UPSERT = _upsert_sql("samples", _SAMPLE_PLAIN_COLUMNS + _SAMPLE_JSON + ("created_at", "updated_at"),
                             ("instruction_id", "slot"))
_ROUND_UPSERT = _upsert_sql("expansion_rounds", _ROUND_COLUMNS + ("created_at",), ("sample_id", "round"))

_SAMPLE_DEFAULTS = {
    "reject_reason": None, "first_half": None, "stage1_expansion": None, "final_expansion": None,
    "final_words": None, "growth": None, "rounds": 0, "expand_attempts": 0, "response_of": None,
    "gates": {}, "rejections": {},
}
_plain_values = itemgetter(*_SAMPLE_PLAIN_COLUMNS)  # one C-level call per row instead of a loop over columns


def _sample_params(row: dict, stamp: str) -> tuple:
    """One sample row as the upsert's parameters (defaults filled in; a missing required column is a KeyError)."""
    full = {**_SAMPLE_DEFAULTS, **row}
    return (*_plain_values(full), *(dumps(full[c]) for c in _SAMPLE_JSON), stamp, stamp)


def _round_params(row: dict, stamp: str) -> tuple:
    return (*(dumps(row[c]) if c == "gates" else row.get(c) for c in _ROUND_COLUMNS), stamp)


class SamplesMixin:
    def save_samples(self, rows: list[dict]) -> None:
        """Upsert samples by (instruction, slot) in one transaction: a re-run updates, never duplicates."""
        stamp = now()
        # Parameters are built before the write lock is taken and sent as one batch: per-row execute() calls
        # with named parameters cost about a tenth of recording 100,000 samples (SQLite's own writing is the rest).
        params = [_sample_params(row, stamp) for row in rows]
        with self.transaction() as db:
            db.conn.executemany(_SAMPLE_UPSERT, params)

    def save_expansion(self, samples: list[dict], rounds: list[dict]) -> None:
        """Record finished expansion rounds and the samples' new state together."""
        stamp = now()
        params = [_round_params(row, stamp) for row in rounds]
        with self.transaction() as db:
            db.conn.executemany(_ROUND_UPSERT, params)
            self.save_samples(samples)

    def save_selection(self, iteration_id: int, dropped: dict[int, tuple[str, str | None, dict]],
                       copies: list[dict], mark: str) -> None:
        """The selection before expansion, all or nothing: the dropped samples' new status, the new copies, and
        `mark` added to the iteration's steps_done (so it never runs twice)."""
        with self.transaction():
            self.update_sample_statuses(dropped)
            self.save_samples(copies)
            self.mark_step_done(iteration_id, mark)

    def update_sample_statuses(self, updates: dict[int, tuple[str, str | None, dict]]) -> None:
        """{sample_id: (status, reject_reason, gates)} written in one transaction."""
        stamp = now()
        params = [(status, reason, dumps(gates), stamp, sample_id)
                  for sample_id, (status, reason, gates) in updates.items()]
        with self.transaction() as db:
            db.conn.executemany(
                "UPDATE samples SET status = ?, reject_reason = ?, gates = ?, updated_at = ? WHERE id = ?", params)

    def iteration_samples(self, iteration_id: int, statuses: tuple[str, ...] | None = None) -> list[dict]:
        sql = "SELECT * FROM samples WHERE iteration_id = ?"
        params: list = [iteration_id]
        if statuses:
            sql += f" AND status IN ({', '.join('?' for _ in statuses)})"
            params.extend(statuses)
        return [_sample(r) for r in self.query(sql + " ORDER BY id", params)]

    def sample_numbers(self, iteration_id: int, limit: int) -> list[dict]:
        """The first `limit` samples of an iteration, by id, without their texts: id, status, word counts, growth,
        rounds and reject reason."""
        return self.query("SELECT id, status, initial_words, final_words, growth, rounds, reject_reason FROM samples"
                          " WHERE iteration_id = ? ORDER BY id LIMIT ?", [iteration_id, limit])

    def get_sample(self, sample_id: int) -> dict | None:
        row = self.one("SELECT * FROM samples WHERE id = ?", [sample_id])
        return _sample(row) if row else None

    def sample_at(self, instruction_id: int, slot: int) -> dict | None:
        """The sample of (instruction, slot): its stored row, id included."""
        row = self.one("SELECT * FROM samples WHERE instruction_id = ? AND slot = ?", [instruction_id, slot])
        return _sample(row) if row else None

    def sample_slots(self, iteration_id: int) -> set[tuple[int, int]]:
        rows = self.query("SELECT instruction_id, slot FROM samples WHERE iteration_id = ?", [iteration_id])
        return {(r["instruction_id"], r["slot"]) for r in rows}

    def expansion_rounds(self, sample_id: int) -> list[dict]:
        rows = self.query("SELECT * FROM expansion_rounds WHERE sample_id = ? ORDER BY round", [sample_id])
        for r in rows:
            r["gates"] = loads(r["gates"], [])
        return rows

    def sample_status_counts(self, iteration_id: int) -> dict[str, int]:
        rows = self.query("SELECT status, count(*) AS n FROM samples WHERE iteration_id = ? GROUP BY status",
                          [iteration_id])
        return {r["status"]: r["n"] for r in rows}

    def word_stats(self, iteration_id: int) -> dict:
        """Mean and median words of initial responses and of final expansions (expanded samples only), computed
        in SQL (an iteration of 20,000 samples in a few milliseconds, no rows loaded)."""
        (mi, di), (mf, df) = (self._mean_median("initial_words", "iteration_id = ?", iteration_id),
                              self._mean_median("final_words", "iteration_id = ? AND final_words IS NOT NULL"
                                                               " AND rounds > 0", iteration_id))
        return {"initial_words_mean": mi, "initial_words_median": di, "final_words_mean": mf,
                "final_words_median": df}

    def _mean_median(self, column: str, where: str, iteration_id: int) -> tuple[float | None, float | None]:
        """(mean rounded to 0.1, median) of a word-count column over the rows `where` selects; (None, None) for
        none. The median is statistics.median's: the middle value, or the mean of the two middle ones."""
        row = self.one(f"SELECT count(*) AS n, avg({column}) AS mean FROM samples WHERE {where}", [iteration_id])
        n = row["n"]
        if not n:
            return None, None
        middle = [r["v"] for r in self.query(f"SELECT {column} AS v FROM samples WHERE {where} ORDER BY {column}"
                                             f" LIMIT ? OFFSET ?", [iteration_id, 2 - n % 2, (n - 1) // 2])]
        return round(row["mean"], 1), middle[0] if n % 2 else (middle[0] + middle[1]) / 2

    def rejection_counts(self, iteration_id: int) -> dict[str, int]:
        """Gate rejections over every attempt of every sample, summed: {gate: n}."""
        rows = self.query("SELECT r.key AS gate, sum(r.value) AS n FROM samples s, json_each(s.rejections) r"
                          " WHERE s.iteration_id = ? AND json_valid(s.rejections) GROUP BY r.key ORDER BY r.key",
                          [iteration_id])
        return {r["gate"]: r["n"] for r in rows}
