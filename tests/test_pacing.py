"""Timers tick only on the tab that shows them (ui/pacing.py): built into the real app, and switched per tab."""

import gradio as gr

import app
from storage import Store
from ui.pacing import pace_timers, timers_by_tab


def test_every_timer_of_the_app_sits_in_a_tab_and_starts_stopped(tmp_path):
    demo = app.build_app(Store(tmp_path / "studio.db"))
    [tabs] = [b for b in demo.blocks.values() if isinstance(b, gr.Tabs)]
    by_tab = timers_by_tab(tabs)
    placed = [t for found in by_tab.values() for t in found]
    everywhere = [b for b in demo.blocks.values() if isinstance(b, gr.Timer)]
    assert sorted(map(id, placed)) == sorted(map(id, everywhere)) and len(placed) >= 5
    assert {tab for tab, found in by_tab.items() if found} >= {"iterate", "train", "evaluate"}
    assert by_tab["review"] == [] and by_tab["runs"] == []
    assert not any(t.active for t in placed)  # the first tab (Runs) polls nothing


def test_showing_a_tab_starts_its_timers_and_stops_the_others():
    with gr.Blocks():
        with gr.Tabs() as tabs:
            with gr.Tab("A", id="a"), gr.Row():
                a = gr.Timer(1)
            with gr.Tab("B", id="b"):
                b1, b2 = gr.Timer(1), gr.Timer(2)
            with gr.Tab("C", id="c"):
                gr.Markdown("no timer")
        timers, states = pace_timers(tabs, shown_first="b")
    assert timers == [a, b1, b2] and [t.active for t in timers] == [False, True, True]
    assert [u.active for u in states("a")] == [True, False, False]
    assert [u.active for u in states("c")] == [False, False, False]
    assert [u.active for u in states("nonsense")] == [False, False, False]
