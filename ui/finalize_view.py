"""The Final tab's view of the final set: its summary, the table of rows, the type-mix and length charts, and
one row opened in full with the curator's Accept / Reject / Save edit (the CLI's `final-decide`).

Model and curator text reaches the page only through Textboxes and default Dataframe cells; Markdown lines
are escaped. Every decision goes through `finalize.review.check_decision`, so a refused edit stores nothing
and says why in one line.
"""

from __future__ import annotations

import pandas as pd

from selflengthen.errors import InputError, SelfLengthenError
from selflengthen.evaluation.longen import TYPES
from selflengthen.finalize.commands import summary_line
from selflengthen.finalize.review import check_decision, final_query, final_response
from selflengthen.jobs.commands import cli_command, shown
from selflengthen.method.words import count_words
from selflengthen.shapes import Store
from ui.common import md_code, md_escape
from ui.jobs import stamp

CHAIN = "finalize"  # the worker's label for a build by the model
ROW_COLUMNS = ["id", "iteration", "source", "type", "constraint", "target", "words", "verdict", "query"]
VERDICT_FILTERS = {"all": None, "undecided": (None,), "accepted": ("accept",), "rejected": ("reject",)}
QUERY_CHARS = 90
NO_ROW = (None, "Pick a row: click it in the table or type its id.", "", "")


def run_rows(store: Store, run_name: str | None) -> list[dict]:
    run = store.get_run(run_name) if run_name else None
    return store.final_rows(run["id"]) if run else []


def shortened(text: str, limit: int = QUERY_CHARS) -> str:
    """One line of at most `limit` characters.

    >>> shortened("Write a poem.\\nUse 50 words.", 20)
    'Write a poem. Use 5…'
    """
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def edited(row: dict) -> bool:
    return bool(row.get("edited_query") or row.get("edited_response"))


def row_table(rows: list[dict]) -> pd.DataFrame:
    """The rows as the table shows them: the text that counts (an edit wins), the query cut to one line."""
    return pd.DataFrame([[r["id"], r["iteration_idx"], r["source"], r["type"], r["constraint"],
                          f"{r['target_low']:g}-{r['target_high']:g}", count_words(final_response(r)),
                          (r["verdict"] or "") + (" (edited)" if edited(r) else ""), shortened(final_query(r))]
                         for r in rows], columns=ROW_COLUMNS)


# --- the set: summary and charts ---------------------------------------------------------------------------

def counted(rows: list[dict]) -> list[dict]:
    """The rows that train and export: every one a curator has not rejected."""
    return [r for r in rows if r["verdict"] != "reject"]


def type_counts(rows: list[dict]) -> dict[str, int]:
    """
    >>> type_counts([{"type": "about"}, {"type": "below"}, {"type": "about"}])
    {'about': 2, 'range': 0, 'above': 0, 'below': 1}
    """
    return {t: sum(r["type"] == t for r in rows) for t in TYPES}


def type_figure(rows: list[dict]):
    import plotly.graph_objects as go

    counts = type_counts(rows)
    figure = go.Figure(go.Bar(x=list(counts), y=list(counts.values()), name="rows"))
    return _laid_out(figure, "Constraint types (rejected rows left out)", "type")


def length_figure(rows: list[dict]):
    import plotly.graph_objects as go

    figure = go.Figure(go.Histogram(x=[count_words(final_response(r)) for r in rows], nbinsx=20, name="rows"))
    return _laid_out(figure, "Response lengths (rejected rows left out)", "words")


def _laid_out(figure, title: str, x_title: str):
    figure.update_layout(title=title, xaxis_title=x_title, yaxis_title="rows", height=300,
                         margin={"l": 50, "r": 20, "t": 40, "b": 40})
    return figure


def summary_markdown(store: Store, run_name: str | None, rows: list[dict], state: dict) -> str:
    """What the last build made and with which settings, how far curation is, and a build still running."""
    run = store.get_run(run_name) if run_name else None
    if run is None:
        return "Pick a run."
    lines = _build_lines(store.finalization(run["id"]))
    if rows:
        decided = {v: sum(r["verdict"] == v for r in rows) for v in ("accept", "reject", None)}
        lines.append(f"Curated: {decided['accept']} accepted, {decided['reject']} rejected, {decided[None]} undecided"
                     f" ({sum(map(edited, rows))} edited).")
    if state["label"] == CHAIN and state["running"]:
        lines.append(f"Building with the model: {md_code(state['command'])} …")
    elif state["label"] == CHAIN and state["error"]:
        lines.append(f"**The last build by the model failed:** {md_escape(state['error'])}")
    return "\n\n".join(lines)


def _build_lines(done: dict | None) -> list[str]:
    if done is None:
        return ["No final set yet for this run: choose the settings and build it."]
    settings, spec = done["settings"], done["settings"]["spec"]
    stats = {**done["stats"], "types": {t: done["stats"]["types"].get(t, 0) for t in TYPES}}  # stored sorted
    return [f"**Final set** built {stamp(done['updated_at'])}: {md_escape(summary_line(stats, None))}.",
            md_escape(f"Settings: iterations {', '.join(map(str, settings['iterations']))}; sources "
                      f"{', '.join(settings['sources'])}; way {settings['way']}; {spec['min_words']}-"
                      f"{spec['max_words']} words, unit {spec['unit']}, seed {spec['seed']}.")]


def set_view(studio, run_name: str | None, shown_verdicts: str = "all") -> tuple:
    """(summary, table, type chart, length chart) of the run's final set; the table shows the picked verdicts."""
    rows = run_rows(studio.store, run_name)
    wanted = VERDICT_FILTERS.get(shown_verdicts)
    listed = rows if wanted is None else [r for r in rows if r["verdict"] in wanted]
    kept = counted(rows)
    return (summary_markdown(studio.store, run_name, rows, studio.worker.state()), row_table(listed),
            type_figure(kept), length_figure(kept))


# --- one row -----------------------------------------------------------------------------------------------

def row_facts(row: dict) -> str:
    """The row's line of facts (Markdown, escaped: the curator's name is user text)."""
    decided = f"{row['verdict']} by {row['curator'] or 'someone'}" if row["verdict"] else "undecided"
    return md_escape(f"Row {row['id']} · iteration {row['iteration_idx']} · {row['source']} text · {row['type']}: "
                     f"{row['constraint']} (needs {row['target_low']:g}-{row['target_high']:g} words) · "
                     f"{count_words(final_response(row))} words · {decided}{' (edited)' if edited(row) else ''}")


def open_row(studio, run_name: str | None, row_id) -> tuple:
    """(row id, facts, query, response) of one row, the texts that count in full; a bad id says so."""
    if row_id in (None, ""):
        return NO_ROW
    try:
        row = _row(studio.store, run_name, row_id)
    except (SelfLengthenError, ValueError) as e:
        return row_id, f"**{md_escape(str(e))}**", "", ""
    return row["id"], row_facts(row), final_query(row), final_response(row)


def _row(store: Store, run_name: str | None, row_id) -> dict:
    run = store.require_run(run_name or "")
    if row_id in (None, ""):
        raise InputError("open a row first (click it in the table, or type its id)")
    return store.get_final_row(run["id"], int(float(row_id)))


def decide_command(studio, run_name: str, row_id: int, verdict: str, with_edit: bool = False) -> str:
    """The CLI twin of a decision (an edit's texts go in files)."""
    command = cli_command("final-decide", "--db", str(studio.db_path), "--name", run_name, "--row", str(row_id),
                          "--verdict", verdict)
    return shown(command) + (" --query QUERY.txt --response RESPONSE.txt" if with_edit else "")


def next_undecided(rows: list[dict], after: int) -> int:
    """The id of the first undecided row after `after` (in table order, wrapping), else `after`.

    >>> rows = [{"id": i, "verdict": v} for i, v in ((1, None), (2, "accept"), (3, "accept"))]
    >>> next_undecided(rows, 2), next_undecided(rows, 1)
    (1, 1)
    """
    ids = [r["id"] for r in rows]
    start = ids.index(after) + 1 if after in ids else 0
    for row in rows[start:] + rows[:start]:
        if row["verdict"] is None and row["id"] != after:
            return row["id"]
    return after


def decide(studio, run_name: str | None, row_id, verdict: str, user: str, shown_verdicts: str = "all") -> tuple:
    """Record accept/reject on the open row, then open the next undecided row: (message, row id, facts,
    query, response, summary, table, type chart, length chart)."""
    try:
        row = _row(studio.store, run_name, row_id)
        check_decision(row, verdict)
        studio.store.decide_final_row(row["id"], verdict, user)
    except (SelfLengthenError, ValueError) as e:
        return (f"**Not recorded:** {md_escape(str(e))}", *open_row(studio, run_name, row_id),
                *set_view(studio, run_name, shown_verdicts))
    following = next_undecided(run_rows(studio.store, run_name), row["id"])
    twin = md_code(decide_command(studio, run_name, row["id"], verdict))
    return (f"Row {row['id']} {verdict}ed. CLI twin: {twin}", *open_row(studio, run_name, following),
            *set_view(studio, run_name, shown_verdicts))


def save_edit(studio, run_name: str | None, row_id, query: str, response: str, user: str,
              shown_verdicts: str = "all") -> tuple:
    """Accept the open row with the curator's texts where they differ from what counts now; a refused edit
    stores nothing and leaves the texts as typed: (message, facts, summary, table, type chart, length chart)."""
    try:
        row = _row(studio.store, run_name, row_id)
        edits = {"query": query if query != final_query(row) else None,
                 "response": response if response != final_response(row) else None}
        if edits == {"query": None, "response": None}:
            raise SelfLengthenError("nothing changed: edit the query or the response first")
        check_decision(row, "accept", **edits)
        studio.store.decide_final_row(row["id"], "accept", user, **edits)
    except (SelfLengthenError, ValueError) as e:
        return (f"**Not saved:** {md_escape(str(e))}", open_row(studio, run_name, row_id)[1],
                *set_view(studio, run_name, shown_verdicts))
    twin = md_code(decide_command(studio, run_name, row["id"], "accept", with_edit=True))
    return (f"Row {row['id']} accepted with your edit. CLI twin: {twin}", open_row(studio, run_name, row_id)[1],
            *set_view(studio, run_name, shown_verdicts))
