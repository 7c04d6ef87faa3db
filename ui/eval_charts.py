"""Evaluate tab's charts and tables: plain functions of stored evaluation rows.

Charts plot numbers and labels the program makes (iteration, role, bucket names from the benchmark file);
the benchmark's own labels are escaped before they reach a figure, like every other text from a file.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from ui.common import escape
from ui.insights import chart_layout, empty_figure

METRICS = {"longen": "LonGen length score (0–1)", "sl": "S_l length score (0–100)"}
GROUPS = {"type": "by_type", "language": "by_language", "range": "by_range"}
TABLE_COLUMNS = ["id", "iteration", "role", "benchmark", "answered", "status", "LonGen", "S_l", "judge", "words",
                 "model"]
ITEM_COLUMNS = ["item", "type", "language", "range", "constraint", "target", "words", "LonGen", "S_l", "judge",
                "note"]
TYPE_COLORS = {"about": "#4c78a8", "range": "#f58518", "above": "#54a24b", "below": "#e45756"}


def evaluation_label(evaluation: dict) -> str:
    """'iteration 2 · generator · LonGen' (the label of a chart trace and a picker choice)."""
    return f"iteration {evaluation['iteration_idx']} · {evaluation['role']} · {evaluation['benchmark']}"


def _rounded(value, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def table_rows(evaluations: list[dict]) -> pd.DataFrame:
    """One row per stored evaluation: what answered, how far it got, and its headline scores."""
    rows = []
    for e in evaluations:
        summary = e["summary"] or {}
        judge = summary.get("judge") or {}
        rows.append([e["id"], e["iteration_idx"], e["role"], e["benchmark"], f"{e['answered']}/{e['total']}",
                     e["status"], _rounded((summary.get("longen") or {}).get("overall"), 3),
                     _rounded((summary.get("sl") or {}).get("overall"), 1), _rounded(judge.get("overall"), 2),
                     _rounded((summary.get("words") or {}).get("mean"), 1), e["model"]])
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def bucket_figure(evaluations: list[dict], metric: str, group: str) -> go.Figure:
    """Grouped bars: the metric per bucket (type, language or range), one bar per evaluation."""
    title = f"{METRICS[metric]} by {group}"
    scored = [e for e in evaluations if ((e["summary"] or {}).get(metric) or {}).get(GROUPS[group])]
    if not scored:
        return empty_figure(title, "no scored evaluation yet")
    fig = go.Figure()
    for e in scored:
        buckets = e["summary"][metric][GROUPS[group]]
        keys = sorted(buckets)
        fig.add_trace(go.Bar(x=[escape(k) or "(none)" for k in keys], y=[buckets[k] for k in keys],
                             name=escape(evaluation_label(e))))
    top = 1.05 if metric == "longen" else 105
    return chart_layout(fig, title, group, METRICS[metric], barmode="group", yaxis={"range": [0, top]})


def scatter_figure(evaluation: dict | None, items: list[dict]) -> go.Figure:
    """Output length against target: each item's target interval as a vertical bar, its answer as a dot."""
    title = "Output length vs target" + (f" · {escape(evaluation_label(evaluation))}" if evaluation else "")
    answered = [i for i in items if i.get("response") is not None and not i.get("error")
                and i.get("target_low") is not None]
    if not answered:
        return empty_figure(title, "no answered item yet")
    fig = go.Figure()
    xs, ys = [], []
    for item in answered:
        middle = (item["target_low"] + item["target_high"]) / 2
        xs += [middle, middle, None]
        ys += [item["target_low"], item["target_high"], None]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="target interval",
                             line={"color": "rgba(120,120,120,0.5)", "width": 6}, hoverinfo="skip"))
    for kind in sorted({i["type"] for i in answered}):
        group = [i for i in answered if i["type"] == kind]
        fig.add_trace(go.Scatter(
            x=[(i["target_low"] + i["target_high"]) / 2 for i in group], y=[i["words"] for i in group],
            mode="markers", name=escape(kind), marker={"color": TYPE_COLORS.get(kind), "size": 8},
            text=[f"item {i['item_idx']}: {i['words']} words" for i in group], hoverinfo="text"))
    top = max(max(i["target_high"] for i in answered), max(i["words"] for i in answered))
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", name="output = target",
                             line={"dash": "dot", "color": "#888"}))
    return chart_layout(fig, title, "target words (interval middle)", "output words")


def item_rows(items: list[dict]) -> pd.DataFrame:
    """The evaluation's items: the constraint, the length reached and the scores (texts show on click)."""
    rows = []
    for i in items:
        judge = i.get("judge_scores")
        note = i.get("error") or i.get("judge_error") or ("not answered yet" if i.get("response") is None else
                                                          "cut off at the token limit" if i.get("truncated") else "")
        rows.append([i["item_idx"], i["type"], i["language"], i["length_range"], i["constraint_text"],
                     _rounded(i.get("target"), 0), i.get("words"), _rounded(i.get("length_score"), 3),
                     _rounded(i.get("sl_score"), 1),
                     _rounded(sum(judge.values()) / len(judge), 2) if judge else None, note])
    return pd.DataFrame(rows, columns=ITEM_COLUMNS)
