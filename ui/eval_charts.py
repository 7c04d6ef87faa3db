"""Evaluate tab's charts and tables: plain functions of stored evaluation rows.

Charts plot numbers and labels the program makes (iteration, role, bucket names from the benchmark file);
the benchmark's own labels are escaped before they reach a figure, like every other text from a file.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from selflengthen.evaluation.job import ROLES
from selflengthen.evaluation.metrics import bucket_order
from selflengthen.method.padding import repeated_ngram_share
from ui.common import escape
from ui.insights import chart_layout, empty_figure

METRICS = {"longen": "LonGen length score (0–1)", "sl": "S_l length score (0–100)",
           "lifebench": "LIFEBench length score (0–100)"}
# Each summary score: its column title and the digits it is shown with (LonGen is 0-1, the others 0-100).
SCORES = {"longen": ("LonGen", 3), "sl": ("S_l", 1), "lifebench": ("LIFEBench", 1)}
GROUPS = {"type": "by_type", "language": "by_language", "range": "by_range"}
TABLE_COLUMNS = ["id", "iteration", "role", "benchmark", "answered", "status", "LonGen", "S_l", "LIFEBench", "judge",
                 "words", "model"]
BUCKET_COLUMNS = ["bucket", "evaluation", "LonGen", "S_l", "LIFEBench"]
ITEM_COLUMNS = ["item", "type", "language", "range", "constraint", "target", "words", "LonGen", "S_l", "LIFEBench",
                "judge", "repeats", "note"]
TYPE_COLORS = {"about": "#4c78a8", "range": "#f58518", "above": "#54a24b", "below": "#e45756"}


def evaluation_label(evaluation: dict) -> str:
    """The label of a chart trace, a table row and a picker choice; the run's base and final models belong to
    no iteration.

    >>> evaluation_label({"iteration_idx": 2, "role": "generator", "benchmark": "LonGen"})
    'iteration 2 · generator · LonGen'
    >>> evaluation_label({"iteration_idx": 2, "role": "final", "benchmark": "LonGen"})
    'final model · LonGen'
    """
    if evaluation["role"] not in ROLES:
        return f"{evaluation['role']} model · {evaluation['benchmark']}"
    return f"iteration {evaluation['iteration_idx']} · {evaluation['role']} · {evaluation['benchmark']}"


def _rounded(value, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _scores(summary: dict, bucket: str | None = None, label: str | None = None) -> list[float | None]:
    """LonGen, S_l and LIFEBench of a summary: overall, or of one bucket (None where a summary lacks it:
    an evaluation stored before LIFEBench has no such score until it is run again).

    >>> _scores({"longen": {"overall": 0.51234, "by_type": {"about": 1.0}}, "sl": {"overall": 50.04}})
    [0.512, 50.0, None]
    >>> _scores({"longen": {"overall": 0.5, "by_type": {"about": 1.0}}}, "by_type", "about")
    [1.0, None, None]
    """
    values = []
    for metric, (_, digits) in SCORES.items():
        scores = summary.get(metric) or {}
        values.append(_rounded(scores.get("overall") if bucket is None else (scores.get(bucket) or {}).get(label),
                               digits))
    return values


def table_rows(evaluations: list[dict]) -> pd.DataFrame:
    """One row per stored evaluation: what answered, how far it got, and its headline scores."""
    rows = []
    for e in evaluations:
        summary = e["summary"] or {}
        judge = summary.get("judge") or {}
        rows.append([e["id"], e["iteration_idx"], e["role"], e["benchmark"], f"{e['answered']}/{e['total']}",
                     e["status"], *_scores(summary), _rounded(judge.get("overall"), 2),
                     _rounded((summary.get("words") or {}).get("mean"), 1), e["model"]])
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def bucket_rows(evaluations: list[dict], group: str) -> pd.DataFrame:
    """The three length scores side by side per bucket (type, language or range), one row per evaluation
    within a bucket, so base and final models sit next to each other."""
    labels = {label for e in evaluations for metric in SCORES
              for label in (((e["summary"] or {}).get(metric) or {}).get(GROUPS[group]) or {})}
    rows = [[label, evaluation_label(e), *_scores(e["summary"] or {}, GROUPS[group], label)]
            for label in sorted(labels, key=bucket_order) for e in evaluations]
    return pd.DataFrame([r for r in rows if r[2:] != [None] * len(SCORES)], columns=BUCKET_COLUMNS)


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


def lengths_figure(evaluations: list[dict]) -> go.Figure:
    """Per length range, one bar per evaluation: its mean output words, inside an outline of the mean target
    (LIFEBench's T: the number, or a range's middle) its items aimed at."""
    title = "Mean output words vs target per length range"
    shown = [e for e in evaluations if (e["summary"] or {}).get("length_by_range")]
    if not shown:
        return empty_figure(title, "no answered evaluation yet")
    fig = go.Figure()
    for n, e in enumerate(shown):
        lengths = e["summary"]["length_by_range"]
        labels, name = [escape(k) for k in lengths], escape(evaluation_label(e))
        fig.add_trace(go.Bar(x=labels, y=[v["words"] for v in lengths.values()], name=name, offsetgroup=str(n),
                             customdata=[v["n"] for v in lengths.values()],
                             hovertemplate="%{x}: %{y:.0f} words (%{customdata} items)"))
        fig.add_trace(go.Bar(x=labels, y=[v["target"] for v in lengths.values()], name="target", offsetgroup=str(n),
                             legendgroup="target", showlegend=n == 0, marker={"color": "rgba(0,0,0,0)",
                             "line": {"color": "#444", "width": 2}}, hovertemplate="target %{y:.0f}<extra></extra>"))
    return chart_layout(fig, title, "length range", "words", barmode="group")


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


def _repeats(response: str | None) -> str | None:
    """The padding guard's measure of an answer: the share of its 4-word runs that repeat earlier ones.

    >>> _repeats("The sea is calm. The sea is calm."), _repeats(None)
    ('20%', None)
    """
    return None if response is None else f"{repeated_ngram_share(response):.0%}"


def item_rows(items: list[dict]) -> pd.DataFrame:
    """The evaluation's items: the constraint, the length reached and the scores (texts show on click)."""
    rows = []
    for i in items:
        judge = i.get("judge_scores")
        note = i.get("error") or i.get("judge_error") or ("not answered yet" if i.get("response") is None else
                                                          "cut off at the token limit" if i.get("truncated") else "")
        rows.append([i["item_idx"], i["type"], i["language"], i["length_range"], i["constraint_text"],
                     _rounded(i.get("target"), 0), i.get("words"), _rounded(i.get("length_score"), 3),
                     _rounded(i.get("sl_score"), 1), _rounded(i.get("lifebench_score"), 1),
                     _rounded(sum(judge.values()) / len(judge), 2) if judge else None, _repeats(i.get("response")),
                     note])
    return pd.DataFrame(rows, columns=ITEM_COLUMNS)
