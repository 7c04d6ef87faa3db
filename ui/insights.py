"""Insights tab: how a run changes across iterations, in six charts and a summary table.

The charts plot numbers and fixed labels only; the one label a person writes (a curator's reject reason)
is escaped before it reaches the figure. Everything is computed by `selflengthen.runs.insights` from stored
rows, so the handler is a plain function of (store, run name).
"""

from __future__ import annotations

import statistics
from functools import partial

import gradio as gr
import pandas as pd
import plotly.graph_objects as go

from selflengthen.runs import insights as data
from ui.common import escape

FIGURES = ("words", "growth", "acceptance", "reasons", "gates", "distinct")
COLORS = {"initial": "#4c78a8", "final": "#f58518", "accept": "#54a24b", "reject": "#e45756", "pending": "#bab0ac"}
MAX_LABEL = 48


def empty_figure(title: str, message: str = "no data yet") -> go.Figure:
    """A blank chart that says why it is blank (a run with no samples yet is not an error)."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font={"size": 16})
    fig.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False}, height=360)
    return fig


def chart_layout(fig: go.Figure, title: str, x: str, y: str, **extra) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=360, legend={"orientation": "h", "y": -0.2},
                      margin={"t": 50, "b": 40}, **extra)
    return fig


def words_figure(insights: list[dict]) -> go.Figure:
    """Word-count distributions per iteration: initial responses beside final expansions, as boxes drawn from
    their quartiles (a few numbers per box, however many samples: the page gets no per-sample data)."""
    title = "Word counts per iteration"
    if not data.has_samples(insights):
        return empty_figure(title)
    fig = go.Figure()
    for kind, label in (("initial", "initial response"), ("final", "final expansion")):
        boxes = [(f"iteration {item['iteration']}", box_stats(item[f"{kind}_words"])) for item in insights]
        boxes = [(x, b) for x, b in boxes if b]
        fig.add_trace(go.Box(x=[x for x, _ in boxes], name=label, marker_color=COLORS[kind],
                             **{k: [b[k] for _, b in boxes] for k in ("q1", "median", "q3", "lowerfence",
                                                                      "upperfence", "mean")}))
    return chart_layout(fig, title, "", "words", boxmode="group")


def box_stats(values: list[int]) -> dict | None:
    """Quartiles, Tukey's fences (the most extreme values within 1.5 IQR) and the mean of a list; None if empty.

    >>> box_stats([1, 2, 3, 4, 100])
    {'q1': 1.5, 'median': 3, 'q3': 52.0, 'lowerfence': 1, 'upperfence': 100, 'mean': 22.0}
    """
    if not values:
        return None
    ordered = sorted(values)
    q1, median, q3 = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else (ordered[0],) * 3
    reach = 1.5 * (q3 - q1)
    inside = [v for v in ordered if q1 - reach <= v <= q3 + reach] or ordered
    return {"q1": q1, "median": statistics.median(ordered), "q3": q3, "lowerfence": inside[0],
            "upperfence": inside[-1], "mean": round(statistics.fmean(ordered), 1)}


def growth_figure(insights: list[dict]) -> go.Figure:
    """The method's headline curve: mean and median words of initial responses and final expansions."""
    title = "Growth across iterations"
    if not data.has_samples(insights):
        return empty_figure(title)
    fig = go.Figure()
    xs = [item["iteration"] for item in insights]
    for kind, label in (("initial", "initial response"), ("final", "final expansion")):
        for stat, dash in (("mean", "solid"), ("median", "dot")):
            fig.add_trace(go.Scatter(x=xs, y=[item[f"{kind}_{stat}"] for item in insights], mode="lines+markers",
                                     name=f"{label} ({stat})", line={"color": COLORS[kind], "dash": dash}))
    return chart_layout(fig, title, "iteration", "words", xaxis={"dtick": 1})


def acceptance_figure(insights: list[dict]) -> go.Figure:
    """Share of each iteration's samples accepted, rejected and still pending (counts on hover)."""
    title = "Curation per iteration"
    if not data.has_samples(insights):
        return empty_figure(title)
    fig = go.Figure()
    xs = [f"iteration {item['iteration']}" for item in insights]
    for verdict, key in (("accept", "accepted"), ("reject", "rejected"), ("pending", "pending")):
        counts = [item[key] for item in insights]
        shares = [round(100 * n / item["samples"], 1) if item["samples"] else None for n, item in zip(counts, insights)]
        fig.add_trace(go.Bar(x=xs, y=shares, name=key, marker_color=COLORS[verdict], customdata=counts,
                             hovertemplate="%{y}% (%{customdata} samples)"))
    return chart_layout(fig, title, "", "% of samples", barmode="stack")


def reason_label(source: str, reason: str) -> str:
    """A short, escaped axis label: curator reasons are typed by people."""
    text = str(reason)
    text = text if len(text) <= MAX_LABEL else text[:MAX_LABEL - 1] + "…"
    return escape(f"{source}: {text}")


def reasons_figure(insights: list[dict]) -> go.Figure:
    """Why samples were lost, per iteration: curator reject reasons and the pipeline's gate rejections."""
    title = "Reject reasons"
    if not data.has_samples(insights):
        return empty_figure(title)
    if not any(item["curator_reasons"] or item["gate_reasons"] for item in insights):
        return empty_figure(title, "no rejections yet")
    fig = go.Figure()
    for item in insights:
        pairs = [(reason_label("curator", r), n) for r, n in item["curator_reasons"].items()]
        pairs += [(reason_label("gate", r), n) for r, n in item["gate_reasons"].items()]
        fig.add_trace(go.Bar(y=[p[0] for p in pairs], x=[p[1] for p in pairs], orientation="h",
                             name=f"iteration {item['iteration']}"))
    return chart_layout(fig, title, "samples", "", barmode="group", yaxis={"automargin": True})


def gates_figure(insights: list[dict]) -> go.Figure:
    """Pass rate of each recorded check per iteration, over the samples that reached it."""
    title = "Gate pass rates"
    if not any(item["gates"] for item in insights):
        return empty_figure(title)
    fig = go.Figure()
    for item in insights:
        checks = item["gates"]
        fig.add_trace(go.Bar(y=list(checks), x=[round(100 * c["rate"], 1) for c in checks.values()],
                             orientation="h", customdata=[[c["passed"], c["seen"]] for c in checks.values()],
                             hovertemplate="%{x}% (%{customdata[0]} of %{customdata[1]})",
                             name=f"iteration {item['iteration']}"))
    return chart_layout(fig, title, "% passed", "", barmode="group", xaxis={"range": [0, 105]},
                   yaxis={"automargin": True, "autorange": "reversed"})


def distinct_figure(insights: list[dict]) -> go.Figure:
    """Distinct-2 (solid) and the padding guard's repeated 4-word runs (dashed) of initial responses and of final
    expansions: longer should not mean more repetitive."""
    title = f"Distinct-2 and repeated 4-word runs per iteration (up to {data.DISTINCT_SAMPLE} samples each)"
    if not data.has_samples(insights):
        return empty_figure(title)
    fig = go.Figure()
    xs = [item["iteration"] for item in insights]
    for kind, label in (("initial", "initial responses"), ("final", "final expansions")):
        fig.add_trace(go.Scatter(x=xs, y=[item[f"distinct2_{kind}"] for item in insights], mode="lines+markers",
                                 name=f"distinct-2, {label}", line={"color": COLORS[kind]}))
        fig.add_trace(go.Scatter(x=xs, y=[item[f"repeats_{kind}"] for item in insights], mode="lines+markers",
                                 name=f"repeated 4-word runs, {label}", line={"color": COLORS[kind], "dash": "dash"}))
    return chart_layout(fig, title, "iteration", "share", xaxis={"dtick": 1}, yaxis={"range": [0, 1.05]})


BUILDERS = {"words": words_figure, "growth": growth_figure, "acceptance": acceptance_figure,
            "reasons": reasons_figure, "gates": gates_figure, "distinct": distinct_figure}


_CACHE: dict[tuple, tuple] = {}  # (database, run) -> (data version, the drawn view); a few runs at most
_CACHE_RUNS = 8


def data_version(store, run_name: str | None) -> tuple | None:
    """What the insights of a run depend on, read cheaply: each iteration's row (an iterate job rewrites it when
    its samples change) and the newest decision. None while an iteration is running (its samples are moving)."""
    run = store.get_run(run_name) if run_name else None
    if run is None:
        return None
    iterations = store.list_iterations(run["id"])
    if any(it["status"] == "running" for it in iterations):
        return None
    return (tuple((it["id"], it["status"], it["updated_at"]) for it in iterations),
            store.last_decision_id([it["id"] for it in iterations]))


def gathered(store, run_name: str | None) -> tuple:
    """The tab's figures and table of the run, from `data.gather`, drawn again only when its data version
    changed (a run of 100,000 samples takes over a second to gather; an unchanged one is a few small queries)."""
    version, key = data_version(store, run_name), (str(getattr(store, "path", id(store))), run_name)
    cached = _CACHE.get(key)
    if version is not None and cached and cached[0] == version:
        return cached[1]
    view = _view(data.gather(store, run_name))
    if version is not None:
        _CACHE.pop(key, None)
        _CACHE[key] = (version, view)
        while len(_CACHE) > _CACHE_RUNS:
            _CACHE.pop(next(iter(_CACHE)))
    return view


def insights_view(studio, run_name: str | None, shown: bool = True) -> tuple:
    """The six figures (in FIGURES order) and the summary table of a run; nothing while the tab is not shown
    (`shown` False: a run picked on another tab is drawn when this tab opens)."""
    if not shown:
        return tuple(gr.skip() for _ in range(len(FIGURES) + 1))
    return gathered(studio.store, run_name)


def _view(insights: list[dict]) -> tuple:
    table = pd.DataFrame(data.summary_rows(insights), columns=data.SUMMARY_COLUMNS)
    return (*(BUILDERS[name](insights) for name in FIGURES), table)


def build_tab(studio, run) -> None:
    with gr.Tab("Insights", id="insights") as tab:
        with gr.Row():
            gr.Markdown("How the run changes across iterations. Word counts count each Chinese character as a word.")
            refresh = gr.Button("Refresh", elem_id="insights-refresh", scale=0)
        plots = []
        for pair in (FIGURES[0:2], FIGURES[2:4], FIGURES[4:6]):
            with gr.Row():
                plots += [gr.Plot(elem_id=f"insights-{name}", show_label=False) for name in pair]
        table = gr.Dataframe(headers=data.SUMMARY_COLUMNS, label="Per iteration", interactive=False,
                             elem_id="insights-table")
        shown = gr.Checkbox(False, visible=False, elem_id="insights-shown")  # filled in the page, see below
    handler = partial(insights_view, studio)
    outputs = [*plots, table]
    refresh.click(handler, run, outputs, api_name="insights_refresh")
    # A run picked on another tab is not drawn there and then: the page says whether this tab is the one shown.
    run.change(handler, [run, shown], outputs, api_name=False,
               js="(run, shown) => [run, !!document.querySelector('#insights-refresh')?.getClientRects().length]")
    tab.select(handler, run, outputs, api_name=False)
