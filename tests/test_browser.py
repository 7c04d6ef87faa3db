"""The dashboard in a real browser: Playwright driving Debian's Chromium against `python app.py`.

One app server (with --auth) on a temp database serves every test here (tests/browsing.py); the Review tab's own
tests are in test_browser_review.py. Screenshots of each tab land in the test output folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from browsing import (ROOT, Store, browser, choose, closed_pages_after, go_to, login, open_filters,  # noqa: F401
                      open_tab, opened, press, require_browser, seeded_run, server, shoot, text_of, wait_for_text)

require_browser()
pytestmark = pytest.mark.slow


def test_the_whole_loop_in_the_browser(server, browser, demo_model_dir):
    url, db = server
    page = login(browser, url, "alice")
    seeds = "\n".join((ROOT / "selflengthen" / "data" / "demo_seeds.jsonl").read_text().splitlines()[:8])

    # Runs: create a run on the demo model from pasted seeds, with a small iteration.
    open_tab(page, "Runs")
    page.locator("#runs-name textarea, #runs-name input").first.fill("browser")
    page.locator("#runs-generator textarea, #runs-generator input").first.fill(str(demo_model_dir))
    page.locator("#runs-seeds-text textarea").fill(seeds)
    page.locator("#runs-config textarea").fill(json.dumps({"augment": {"n_instructions": 4}}))
    page.locator("#runs-create").click()
    wait_for_text(page, "runs-message", "created")
    shoot(page, "runs")

    # Iterate: run iteration 0 on the demo model and follow it live.
    open_tab(page, "Iterate")
    page.locator("#iterate-start").click()
    wait_for_text(page, "iterate-progress", "done", timeout=300)
    shoot(page, "iterate")

    # Review with the keyboard: accept, reject with a reason, edit, undo.
    open_tab(page, "Review")
    info = wait_for_text(page, "review-sample-info", "Sample")
    first = int(info.split("Sample")[1].split()[0].strip("#·"))
    press(page, "a")
    wait_for_text(page, "review-message", f"accepted sample {first}")
    second = int(text_of(page, "review-sample-info").split("Sample")[1].split()[0].strip("#·"))
    assert second != first
    press(page, "1")  # too_short
    press(page, "r")
    wait_for_text(page, "review-message", f"rejected sample {second}")
    third = int(text_of(page, "review-sample-info").split("Sample")[1].split()[0].strip("#·"))
    press(page, "e")
    editor = page.locator("#review-final textarea")
    page.wait_for_function("document.activeElement && document.activeElement.closest('#review-final')")
    editor.press("End")
    editor.type(" A closing sentence the curator added.")
    page.keyboard.press("Control+Enter")
    page.wait_for_function("n => { const t = document.querySelector('#review-message').innerText;"
                           " return t.includes('check this edit') || t.includes('sample ' + n); }", arg=third)
    if "check this edit" in text_of(page, "review-message"):  # the demo's text may fail a gate: keep it anyway
        page.locator("#review-save-edit").click()
    wait_for_text(page, "review-message", f"sample {third}")
    press(page, "u")
    wait_for_text(page, "review-message", "undo")
    shoot(page, "review")

    # Bulk accept what passed the gates, after a confirmation with the count.
    open_filters(page)
    choose(page, "review-filter-status", "passed")
    page.locator("#review-apply").click()
    page.locator("#review-bulk-accept").click()
    confirm = wait_for_text(page, "review-bulk-message", "Accept")
    rejected_passed = Store(db).get_sample(second)["status"] == "kept"
    assert ("1 of them already have the other verdict" in confirm) == rejected_passed  # never overturned unseen
    page.locator("#review-bulk-confirm").click()
    wait_for_text(page, "review-message", "accepted")

    store = Store(db)
    run = store.require_run("browser")
    iteration = store.latest_iteration(run["id"])
    history = store.decision_history(first)
    assert [(d["verdict"], d["user"]) for d in history][0] == ("accept", "alice")
    assert store.decision_history(second)[0]["reasons"] == ["too_short"]
    edits = [d for d in store.decision_history(third) if d["edited_text"]]
    assert edits and edits[-1]["edited_text"].endswith("A closing sentence the curator added.")
    assert {d["user"] for s in (first, second, third) for d in store.decision_history(s)} == {"alice"}
    accepted = store.accepted_samples(iteration["id"])
    assert str(len([s for s in store.iteration_samples(iteration["id"], ("kept",))])) in confirm
    assert accepted

    # Train both roles, then (one click) the next iteration; the loss plot fills in.
    open_tab(page, "Train")
    page.locator("#train-start").click()
    wait_for_text(page, "train-progress", "extender", timeout=300)
    wait_for_text(page, "train-progress", "done", timeout=300)
    page.wait_for_selector("#train-loss .js-plotly-plot .scatterlayer .trace", timeout=60_000)
    shoot(page, "train")
    deadline = time.monotonic() + 100
    while store.latest_iteration(run["id"])["idx"] < 1 or store.latest_iteration(run["id"])["status"] != "review":
        assert time.monotonic() < deadline, "the next iteration did not finish"
        time.sleep(1)
    assert set(store.iteration_checkpoints(iteration["id"])) == {"generator", "extender"}

    # Insights and Compare render their charts and views.
    open_tab(page, "Insights")
    page.locator("#insights-refresh").click()
    for chart in ("insights-words", "insights-growth", "insights-acceptance", "insights-gates", "insights-distinct"):
        page.wait_for_selector(f"#{chart} .js-plotly-plot", timeout=30_000)
    shoot(page, "insights")
    open_tab(page, "Compare")
    shoot(page, "compare")

    # Evaluate the new generator on 3 LonGen items; Export the accepted samples.
    open_tab(page, "Evaluate")
    page.locator("#eval-limit textarea, #eval-limit input").fill("3")
    page.locator("#eval-max-new-tokens textarea, #eval-max-new-tokens input").fill("32")
    page.wait_for_function("s => document.querySelector('#eval-command textarea').value.includes(s)",
                           arg="--limit 3 --max-new-tokens 32", timeout=30_000)
    page.locator("#eval-start").click()
    wait_for_text(page, "eval-progress", "eval · done", timeout=120)
    page.wait_for_selector("#eval-scatter .js-plotly-plot .scatterlayer .trace .point", timeout=30_000)
    page.wait_for_selector("#eval-buckets .js-plotly-plot", timeout=30_000)
    [evaluation] = store.list_evaluations(run["id"])
    assert (evaluation["iteration_idx"], evaluation["answered"], evaluation["status"]) == (1, 3, "done")
    page.locator("#eval-items").get_by_role("gridcell").first.click()  # an item's query and answer open
    page.wait_for_function("q => document.querySelector('#eval-query textarea').value === q",
                           arg=store.eval_items(evaluation["id"])[0]["query"], timeout=30_000)
    shoot(page, "evaluate")
    open_tab(page, "Export")
    page.locator("#export-folder textarea, #export-folder input").first.fill("browser-messages")
    wait_for_text(page, "export-counts", f"{len(accepted)} rows")
    page.locator("#export-start").click()
    wait_for_text(page, "export-message", f"Exported {len(accepted)} rows")
    shoot(page, "export")
    assert (Path(db).parent / "exports" / "browser-messages" / "data.jsonl").is_file()
    assert page.dialogs == []
    store.close()


def test_evaluate_starts_with_its_defaults(server, browser):
    """Nothing touched: the empty item count means all items and the run's token limit applies."""
    url, db = server
    page = opened(browser, server, "defaults", "plain", "Evaluate")
    page.wait_for_function("() => document.querySelector('#eval-command textarea').value.includes('eval --db')")
    assert page.locator("#eval-limit textarea, #eval-limit input").input_value() == ""
    page.locator("#eval-start").click()
    message = wait_for_text(page, "eval-message", "Started")
    assert "Not started" not in message
    command = page.locator("#eval-command textarea").input_value()
    assert "--limit" not in command and "--max-new-tokens" not in command
    stop_what_runs(page, "eval-cancel")


def stop_what_runs(page, cancel: str) -> None:
    """Press a tab's Cancel while it can be pressed (it is dimmed once nothing runs: the job may be over)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if page.locator(f"#{cancel}").is_enabled():
            try:  # the job may end, and the button dim, between the look and the click
                page.locator(f"#{cancel}").click(timeout=1_000)
                return
            except PlaywrightTimeout:
                pass
        page.wait_for_timeout(250)  # (the tab's timer re-reads it every 2 s)


def test_the_final_set_is_built_and_curated_in_the_browser(server, browser):
    from curated import make_store_with_accepted_samples

    url, db = server
    store, run, _ = make_store_with_accepted_samples(db, n_instructions=4)  # the run 'r', demo preset
    page = login(browser, url, "alice")
    # Opened by its address, so the page loads run 'r' once: picking it after the load let a late refresh of the
    # Final tab (for the run the page first showed, then 'r') land after the row below was opened, and close it.
    go_to(page, url, "r", "finalize")
    page.wait_for_function("s => !!document.querySelector('#final-command textarea')?.value.endsWith(s)",
                           arg="finalize --db " + str(db) + " --name r", timeout=30_000)
    page.locator("#final-build").click()
    wait_for_text(page, "final-message", "Built:")
    wait_for_text(page, "final-summary", "pooled texts kept")
    rows = store.final_rows(run["id"])
    assert rows and str(len(rows)) in text_of(page, "final-summary")
    page.locator("#final-rows").get_by_role("gridcell").first.click()  # the first row opens in full
    page.wait_for_function("q => document.querySelector('#final-query textarea').value === q",
                           arg=rows[0]["query"], timeout=30_000)
    wait_for_text(page, "final-row-facts", f"Row {rows[0]['id']} ·")  # Accept acts on the row opened
    page.locator("#final-accept").click()
    wait_for_text(page, "final-row-message", f"Row {rows[0]['id']} accepted")
    page.wait_for_function("r => document.querySelector('#final-response textarea').value === r",
                           arg=rows[1]["response"], timeout=30_000)  # the next undecided row opened
    page.locator("#final-reject").click()
    wait_for_text(page, "final-row-message", f"Row {rows[1]['id']} rejected")
    wait_for_text(page, "final-summary", "Curated: 1 accepted, 1 rejected")
    for chart in ("final-types", "final-lengths"):
        page.wait_for_selector(f"#{chart} .js-plotly-plot", timeout=30_000)
    shoot(page, "final")
    decided = {r["id"]: (r["verdict"], r["curator"]) for r in store.final_rows(run["id"])}
    assert decided[rows[0]["id"]] == ("accept", "alice") and decided[rows[1]["id"]] == ("reject", "alice")
    assert page.dialogs == []
    store.close()


def test_the_smaller_rough_edges_a_new_user_hit(server, browser):
    """Sample stages unfold on a click; a long config scrolls in its own box down to its last line; Cancel is
    dimmed while nothing runs; Next iteration on an iteration waiting for review asks first; the word diff wraps
    between words."""
    from ui.runs import BACKEND_NAMES, effective_config

    page = opened(browser, server, "rough", "plain", "Runs")
    page.locator("#runs-samples").get_by_role("gridcell").first.click()
    page.locator("#runs-sample-initial textarea").wait_for(state="visible")
    assert "plain" in page.locator("#runs-sample-initial textarea").input_value()
    lines = len(effective_config("demo", BACKEND_NAMES[0], "{}").splitlines())
    scroller = page.locator("#runs-effective .cm-scroller")
    scroller.scroll_into_view_if_needed()
    assert 100 < scroller.bounding_box()["height"] < 600 and lines > 40
    box = scroller.bounding_box()
    page.mouse.move(box["x"] + 100, box["y"] + 100)
    for _ in range(8):
        page.mouse.wheel(0, 400)
        page.wait_for_timeout(150)
    page.wait_for_function("n => [...document.querySelectorAll('#runs-effective .cm-lineNumbers .cm-gutterElement')]"
                           ".some(e => e.innerText.trim() === String(n))", arg=lines)

    open_tab(page, "Evaluate")
    assert page.locator("#eval-cancel").is_disabled()
    open_tab(page, "Iterate")
    assert page.locator("#iterate-cancel").is_disabled()
    page.locator("#iterate-start").click()
    wait_for_text(page, "iterate-message", "waiting for review")
    assert "Press Next iteration again" in text_of(page, "iterate-message")
    assert "starting" not in text_of(page, "iterate-progress")

    open_tab(page, "Review")
    page.locator("#review-diff-toggle input").check()
    page.locator("#review-diff .textfield").wait_for(state="visible")
    assert page.locator("#review-diff .textfield").evaluate("e => getComputedStyle(e).wordBreak") == "normal"


COUNT_CALLS = """() => { window.__calls = 0; const send = window.fetch;
  window.fetch = (...args) => { if (String(args[0]?.url || args[0]).includes('queue/join')) { window.__calls++; (window.__bodies = window.__bodies || []).push(String(args[1]?.body).slice(0, 120)); }
                                return send(...args); }; }"""


def calls_in(page, ms: int) -> int:
    page.evaluate(COUNT_CALLS)
    page.wait_for_timeout(ms)
    return page.evaluate("() => window.__calls")


def test_only_the_shown_tab_polls(server, browser):
    """A curator in Review is not slowed by other tabs' timers; a tab opened by the address polls at once."""
    page = opened(browser, server, "quiet", "plain", "Review")
    wait_for_text(page, "review-sample-info", "Sample")
    page.wait_for_timeout(4000)  # the picked run's one-off refreshes of every tab are over
    n = calls_in(page, 5000)
    assert n == 0, page.evaluate("() => window.__bodies")
    open_tab(page, "Iterate")
    assert calls_in(page, 4000) >= 2  # its progress, every 1.5 s
    open_tab(page, "Runs")
    page.wait_for_timeout(500)
    assert calls_in(page, 4000) == 0
    go_to(page, server[0], "quiet", "train")
    page.wait_for_selector("#train-start")
    assert calls_in(page, 5000) >= 2


def test_a_preference_step_runs_from_the_train_tab(server, browser, untrained_model_dir):
    """Curated samples → the pair counts → DPO started from the dashboard → rewards drawn, checkpoint replaced."""
    from curated import make_store_with_accepted_samples

    url, db = server
    store, run, iteration = make_store_with_accepted_samples(db, n_instructions=4, model=str(untrained_model_dir),
                                                             name="prefer")
    first = store.iteration_samples(iteration["id"])[0]["id"]
    store.record_decisions([{"sample_id": first, "verdict": "reject", "reasons": ["too_short"]}], user="alice")
    page = login(browser, url, "alice")
    go_to(page, url, "prefer", "train")
    page.locator("#train-preference").get_by_text("Preference step").click()
    wait_for_text(page, "pref-counts-line", "Iteration 0: ")
    assert "for the generator's DPO step" in text_of(page, "pref-counts-line")
    page.locator("#pref-start").click()
    wait_for_text(page, "pref-message", "Started the generator's DPO step")
    assert "--stage preference" in page.locator("#pref-command textarea").input_value()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and "generator" not in Store(db).iteration_checkpoints(iteration["id"]):
        page.wait_for_timeout(1000)
    checkpoint = Store(db).iteration_checkpoints(iteration["id"])["generator"]
    assert checkpoint["config"]["stage"] == "preference" and checkpoint["config"]["train"]["preference_method"] == "dpo"
    page.wait_for_function("() => document.querySelector('#pref-rewards')?.innerText.includes('held-out')",
                           timeout=30_000)
    shoot(page, "train-preference")


def test_the_export_tab_writes_preference_pairs(server, browser):
    """Format `pairs`: the preview counts pairs per kind, and the export holds the rows the preference step uses."""
    from selflengthen.training.pairs import collect_pairs

    url, db = server
    seeded_run(db, "prefs", "pairs")
    store = Store(db)
    run = store.get_run("prefs")
    [first, second, *_] = store.preference_samples(store.latest_iteration(run["id"])["id"])
    store.record_decisions([{"sample_id": first["sample_id"], "verdict": "accept", "edited_text": "Better."},
                            {"sample_id": second["sample_id"], "verdict": "reject", "reasons": ["other"]}], user="bob")
    expected, counts = collect_pairs(store, "prefs")
    page = login(browser, url, "alice")
    go_to(page, url, "prefs", "export")
    choose(page, "export-format", "pairs")
    wait_for_text(page, "export-counts", f"{len(expected)} rows")
    page.wait_for_function("() => document.querySelector('#export-stats').innerText.includes('verdict')",
                           timeout=30_000)
    assert counts[0]["edit"] == 1 and len(expected) > 1
    page.locator("#export-folder textarea, #export-folder input").first.fill("browser-pairs")
    page.wait_for_function("() => document.querySelector('#export-command textarea').value.includes('--format pairs')",
                           timeout=30_000)
    page.locator("#export-start").click()
    wait_for_text(page, "export-message", f"Exported {len(expected)} rows")
    shoot(page, "export-pairs")
    rows = [json.loads(line) for line in
            (Path(db).parent / "exports" / "browser-pairs" / "data.jsonl").read_text().splitlines()]
    assert [r["chosen"] for r in rows] == [e["chosen"] for e in expected]
    assert any(r["provenance"]["kind"] == "edit" and r["chosen"][0]["content"] == "Better." for r in rows)
    assert page.dialogs == []
    store.close()
