"""Timers tick only on the tab that shows them, and events mark one component at most as loading (ui/pacing.py)."""

import gradio as gr

import app
from storage import Store
from ui.pacing import narrow_progress, pace_timers, timers_by_tab


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


def test_every_event_of_the_app_shows_its_progress_on_one_component_at_most(tmp_path):
    demo = app.build_app(Store(tmp_path / "studio.db"))
    config = demo.get_config_file()["dependencies"]
    assert len(config) == len(demo.fns) > 50
    assert all(d["show_progress_on"] is not None and len(d["show_progress_on"]) <= 1 for d in config)
    hidden = [fn for fn in demo.fns.values() if fn.show_progress == "hidden"]
    shown = [fn for fn in demo.fns.values() if fn.show_progress != "hidden" and fn.outputs]
    assert hidden and all(fn.show_progress_on == [] for fn in hidden)  # a key press in Review marks nothing
    assert shown and all(fn.show_progress_on == [] or fn.show_progress_on[0] in fn.outputs for fn in shown)
    assert sum(bool(fn.show_progress_on) for fn in shown) > 10  # the spinners a curator saw stay (on one output)
    assert narrow_progress(demo) == 0  # applied once, when the app was built


def test_progress_goes_to_the_first_output_a_curator_can_see():
    with gr.Blocks() as demo:
        state, timer = gr.State(), gr.Timer(1, active=False)
        hidden, text, other = gr.Textbox(visible=False), gr.Textbox(), gr.Textbox()
        button = gr.Button()
        button.click(lambda: (1, 2, 3, 4, 5), None, [state, timer, hidden, text, other])
        button.click(lambda: 1, None, text, show_progress="hidden")
        button.click(lambda: 1, None, [state, timer])
        button.click(lambda: (1, 2), None, [text, other], show_progress_on=other)
    assert narrow_progress(demo) == 3
    assert [fn.show_progress_on for fn in demo.fns.values()] == [[text], [], [], [other]]
