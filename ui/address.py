"""The page's address keeps what the curator looks at: ?run=...&tab=...&iteration=...&sample=...

A small page script (in `launch(head=...)`, with the keyboard shortcuts) writes the run picker's value, the
shown tab and, on the Review tab, the iteration and the open sample into the address bar (history.replaceState:
no new history entry per sample). Reloading, or opening a copied link, restores them: the app's load event reads
the query (`app.address_state`) and the Review tab opens that iteration and sample (`wanted`).
"""

from __future__ import annotations

import json

import gradio as gr

from ui.common import run_names

TAB_LABELS = {"Runs": "runs", "Iterate": "iterate", "Review": "review", "Train": "train", "Insights": "insights",
              "Compare": "compare", "Evaluate": "evaluate", "Final": "finalize", "Export": "export"}

_SCRIPT = """
(() => {
  if (window.__selflengthenAddress) return;  // installed once per page
  window.__selflengthenAddress = true;
  const TABS = %(tabs)s;
  const value = (selector) => { const el = document.querySelector(selector); return el ? el.value : ""; };
  const sync = () => {
    const run = value("#run-select input");
    if (!run) return;  // the page is still loading: the address keeps what it asked for
    const params = new URLSearchParams({run});
    const shown = document.querySelector("#tabs button[role=tab][aria-selected=true]");
    const tab = shown ? TABS[shown.textContent.trim()] : "";
    if (tab) params.set("tab", tab);
    if (tab === "review") {
      const info = document.querySelector("#review-sample-info");
      const text = info ? info.textContent : "";
      const sample = text.match(/Sample (\\d+)/), iteration = text.match(/iteration (\\d+)/);
      if (iteration) params.set("iteration", iteration[1]);
      if (sample) params.set("sample", sample[1]);
    }
    const query = "?" + params.toString();
    if (query !== window.location.search) history.replaceState(null, "", query + window.location.hash);
  };
  setInterval(sync, 300);
  // The curator's display name (no login), kept in a cookie: shown again in its field when the page opens.
  const named = setInterval(() => {
    const field = document.querySelector("#review-name textarea, #review-name input");
    if (!field) return;
    clearInterval(named);
    const kept = (document.cookie.match(/(?:^|; )selflengthen_curator=([^;]*)/) || [])[1];
    if (kept && !field.value) field.value = decodeURIComponent(kept);
  }, 500);
})();
"""

def address_state(query: dict, runs: list[str]) -> dict:
    """The state a page address asks for, each part kept only when it names something that exists.

    >>> address_state({"run": "demo", "tab": "review", "iteration": "1", "sample": "812"}, ["demo"])
    {'run': 'demo', 'tab': 'review', 'iteration': '1', 'sample': '812'}
    >>> address_state({"run": "gone", "tab": "nope", "sample": "x"}, ["demo"])
    {}
    """
    state = {"run": query.get("run") if query.get("run") in runs else None,
             "tab": query.get("tab") if query.get("tab") in TAB_LABELS.values() else None}
    state.update({key: query[key] for key in ("iteration", "sample") if str(query.get(key, "")).isdigit()})
    return {key: value for key, value in state.items() if value is not None}


def restorer(store, first_run, timer_states=lambda tab: []):
    """The page load's handler: (run picker, tabs, wanted, *timers) from the address, else the first run
    (`first_run()`); `timer_states(tab)`: the timers' updates with that tab shown (ui/pacing.py)."""
    def restore(current, request: gr.Request):
        names = run_names(store)
        asked = address_state(dict(request.query_params) if request else {}, names)
        return (gr.update(choices=names, value=current or asked.get("run") or first_run()),
                gr.update(selected=asked["tab"]) if asked.get("tab") else gr.update(), asked,
                *timer_states(asked.get("tab") or "runs"))

    return restore


HEAD = "<script>" + _SCRIPT % {"tabs": json.dumps(TAB_LABELS)} + "</script>"
