"""Timers tick only on the tab that shows them, and each event marks at most one component as loading.

Every tab that follows a job polls on a gr.Timer. Five of them ticking while a curator works in Review cost each key
press there: every answer a tick brings is applied by the page's front end, which copies the page's values as it
does, and the server recomputes what nobody looks at. So each timer starts inactive, and showing a tab activates
its own timers and stops the others (`pace_timers`); the page's load does the same for the tab its address names.

Gradio's front end keeps a loading status for every component that any event fired so far has output to, and on each
event's start and end it re-applies all of them, walking the page's component tree once per component
(`narrow_progress` keeps that list short: a key press in Review at 100,000 samples went from p50 ~190 ms to ~90 ms).
"""

from __future__ import annotations

import gradio as gr


def timers_by_tab(tabs: gr.Tabs) -> dict[str, list[gr.Timer]]:
    """Each tab's id -> the timers laid out inside it."""
    def inside(block) -> list[gr.Timer]:
        found = [block] if isinstance(block, gr.Timer) else []
        for child in getattr(block, "children", None) or []:
            found += inside(child)
        return found

    return {tab.id: inside(tab) for tab in tabs.children if isinstance(tab, gr.Tab)}


def pace_timers(tabs: gr.Tabs, shown_first: str | None = None) -> tuple[list[gr.Timer], callable]:
    """Wire each tab's select to (de)activate the timers; returns (every timer, `states(tab_id)`: their updates for
    a shown tab, for the page's load). Timers start active only in `shown_first`."""
    by_tab = timers_by_tab(tabs)
    timers = [timer for found in by_tab.values() for timer in found]

    def states(shown: str | None) -> list:
        return [gr.Timer(active=shown in by_tab and timer in by_tab[shown]) for timer in timers]

    for timer in timers:
        timer.active = timer in by_tab.get(shown_first, [])
    for tab in tabs.children:
        if isinstance(tab, gr.Tab) and timers:
            tab.select(lambda shown=tab.id: states(shown), None, timers, queue=False, show_progress="hidden",
                       api_visibility="private")
    return timers, states


def narrow_progress(blocks: gr.Blocks) -> int:
    """Show each event's progress on one component at most; returns how many events were narrowed.

    An event with hidden progress shows it on none; any other on its first output a curator can see (not a State,
    a Timer or a hidden component), the place its spinner already appeared first. Events that name their own
    `show_progress_on` keep it.
    """
    narrowed = 0
    for fn in blocks.fns.values():
        if fn.show_progress_on is not None:
            continue
        seen = [] if fn.show_progress == "hidden" else [
            block for block in fn.outputs
            if not isinstance(block, (gr.State, gr.Timer)) and getattr(block, "visible", True) is True]
        fn.show_progress_on = seen[:1]
        narrowed += 1
    return narrowed
