"""The dashboard in a real browser: Playwright driving Debian's Chromium against `python app.py`.

One app server (with --auth) on a temp database serves every test here. Screenshots of each tab land in
the test output folder ($SELFLENGTHEN_TEST_OUTPUT, default ./test-output/screenshots).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from paths import ROOT
from scripted import make_responder, reviewed_run
from selflengthen.backends.fake import ScriptedBackend
from servers import free_port, wait_until_up
from storage import Store

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OUTPUT = Path(os.environ.get("SELFLENGTHEN_TEST_OUTPUT", ROOT / "test-output")) / "screenshots"
USERS = {"alice": "alice-pw", "bob": "bob-pw"}
PAYLOAD = ('<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'
           '[click](javascript:window.__xss=3) <b onmouseover="window.__xss=4">bold</b>'
           # malicious markdown: an image whose title breaks out into an attribute, an svg, a data: link
           ' ![x](x "a\" onerror=\"window.__xss=5") <svg onload="window.__xss=6"></svg>'
           ' [data](data:text/html,<script>window.__xss=7</script>)')

if not Path(CHROMIUM).exists():
    if os.environ.get("SELFLENGTHEN_REQUIRE_BROWSER"):
        raise RuntimeError(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`python app.py` on a temp database with two curators; yields (url, db path)."""
    data = tmp_path_factory.mktemp("browser-data")
    db, port = data / "studio.db", free_port()
    auth = [a for user, pw in USERS.items() for a in ("--auth", f"{user}:{pw}")]
    log = open(data / "app.log", "w")
    proc = subprocess.Popen([sys.executable, "app.py", "--db", str(db), "--port", str(port), "--no-demo", *auth],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, proc, "the dashboard", limit=90)
        yield url, db
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the app and any job it started
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


def login(browser, url: str, user: str):
    """A fresh browser context logged in as `user`; returns its page, with dialogs recorded."""
    page = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.set_default_timeout(30_000)
    page.goto(url)
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(USERS[user])
    page.get_by_role("button", name="Login").click()
    page.wait_for_selector("#run-select")
    return page


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def choose(page, elem_id: str, value: str) -> None:
    """Pick `value` in a Gradio dropdown."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=value, exact=True).click()


def text_of(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id}").inner_text()


def wait_for_text(page, elem_id: str, pattern: str, timeout: float = 30) -> str:
    """Wait until the element's text contains `pattern`; returns the text."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = text_of(page, elem_id)
        if pattern in text:
            return text
        page.wait_for_timeout(250)
    raise AssertionError(f"#{elem_id} never showed {pattern!r}; last text: {text[:500]!r}")


def press(page, key: str) -> None:
    """A shortcut key pressed with the focus outside any field (as a curator reading the page would)."""
    page.locator("#review-sample-info").click()
    page.keyboard.press(key)


def shoot(page, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


def seeded_run(db: Path, name: str, text: str, n_instructions: int = 6) -> None:
    """A run with one reviewed-ready iteration whose texts all contain `text` (scripted backend)."""
    store = Store(db)
    respond = make_responder()
    backend = ScriptedBackend(responder=lambda prompt: respond(prompt).replace("Answer", f"Answer {text}"))
    reviewed_run(store, name, seeds=(f"Write about the harbour {text}.", "Explain how cities grow over the centuries."),
                 n_instructions=n_instructions, backend=backend)
    store.close()


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
    wait_for_text(page, "review-message", f"sample {third}")
    press(page, "u")
    wait_for_text(page, "review-message", "undo")
    shoot(page, "review")

    # Bulk accept what passed the gates, after a confirmation with the count.
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
    deadline = time.monotonic() + 300
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


def test_model_output_renders_as_inert_text(server, browser):
    url, db = server
    seeded_run(db, "hostile", PAYLOAD)
    page = login(browser, url, "alice")
    choose(page, "run-select", "hostile")
    open_tab(page, "Review")
    wait_for_text(page, "review-sample-info", "Sample")
    page.locator("#review-diff-toggle input").check()
    page.wait_for_timeout(1500)
    for box in ("review-instruction", "review-initial", "review-final"):
        assert "<script>" in page.locator(f"#{box} textarea").input_value() or box == "review-instruction"
    assert "<img src=x" in page.locator("#review-initial textarea").input_value()
    page.locator("#review-list").hover()
    guidelines = '**Rules** ![pixel](http://127.0.0.1:9/p.gif) <img src="http://127.0.0.1:9/q.gif">'
    page.locator("#review-guidelines-edit textarea").fill(guidelines)
    page.locator("#review-guidelines-save").click()
    wait_for_text(page, "review-guidelines", "image: pixel")
    assert page.locator("#review-guidelines img").count() == 0
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src='x']").count() == 0 and page.locator("a[href^='javascript:']").count() == 0
    assert page.locator("a[href^='data:'], svg[onload], [onerror], [onmouseover]").count() == 0
    assert page.dialogs == []
    shoot(page, "review-hostile-text")


def test_two_curators_at_once_lose_no_decision(server, browser):
    url, db = server
    seeded_run(db, "duo", "shared", n_instructions=8)
    pages = {user: login(browser, url, user) for user in USERS}
    for page in pages.values():
        choose(page, "run-select", "duo")
        open_tab(page, "Review")
        wait_for_text(page, "review-sample-info", "Sample")
    alice, bob = pages["alice"], pages["bob"]
    # Both opened the same first sample; alice accepts it, then bob's reject is held back as a conflict.
    press(alice, "a")
    wait_for_text(alice, "review-message", "accepted sample")
    press(bob, "1")
    press(bob, "r")
    conflict = wait_for_text(bob, "review-message", "alice")
    assert "after you opened it" in conflict
    press(bob, "r")  # pressing again records the override, knowingly
    wait_for_text(bob, "review-message", "rejected sample")
    # Then both curate in turns, as fast as the keys go, each from their own place in the queue.
    for _ in range(3):
        for page in pages.values():
            press(page, "a")
    store = Store(db)
    deadline = time.monotonic() + 30
    while True:
        rows = store.query("SELECT d.user, d.verdict FROM decisions d JOIN samples s ON s.id = d.sample_id"
                           " JOIN runs r ON r.id = s.run_id WHERE r.name = 'duo'")
        counts = {user: len([r for r in rows if r["user"] == user]) for user in USERS}
        if counts == {"alice": 4, "bob": 4} or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert counts == {"alice": 4, "bob": 4}
    assert sorted(r["verdict"] for r in rows) == ["accept"] * 7 + ["reject"]
    store.close()


def test_the_address_keeps_run_tab_and_sample_through_a_reload_and_a_copied_link(server, browser):
    url, db = server
    seeded_run(db, "linked", "addr")
    page = login(browser, url, "alice")
    choose(page, "run-select", "linked")
    open_tab(page, "Review")
    wait_for_text(page, "review-sample-info", "Sample")
    press(page, "j")
    press(page, "j")
    info = wait_for_text(page, "review-sample-info", "3 of")
    sample = info.split()[1]
    page.wait_for_function("s => window.location.search.includes('sample=' + s)", arg=sample)
    address = page.url
    assert "run=linked" in address and "tab=review" in address and "iteration=0" in address
    page.reload()
    wait_for_text(page, "review-sample-info", f"Sample {sample} ·")
    assert page.locator("#run-select input").input_value() == "linked"
    other = login(browser, url, "bob")  # another curator opens the copied link
    other.goto(address)
    wait_for_text(other, "review-sample-info", f"Sample {sample} ·")
    other.goto(address.replace("tab=review", "tab=evaluate"))
    other.wait_for_selector("#eval-start", state="visible")


def test_evaluate_starts_with_its_defaults(server, browser):
    """Nothing touched: the empty item count means all items and the run's token limit applies."""
    url, db = server
    seeded_run(db, "defaults", "plain")
    page = login(browser, url, "alice")
    choose(page, "run-select", "defaults")
    open_tab(page, "Evaluate")
    page.wait_for_function("() => document.querySelector('#eval-command textarea').value.includes('eval --db')")
    assert page.locator("#eval-limit textarea, #eval-limit input").input_value() == ""
    page.locator("#eval-start").click()
    message = wait_for_text(page, "eval-message", "Started")
    assert "Not started" not in message
    command = page.locator("#eval-command textarea").input_value()
    assert "--limit" not in command and "--max-new-tokens" not in command
    page.locator("#eval-cancel").click()


def test_the_final_set_is_built_and_curated_in_the_browser(server, browser):
    from curated import make_store_with_accepted_samples

    url, db = server
    store, run, _ = make_store_with_accepted_samples(db, n_instructions=4)  # the run 'r', demo preset
    page = login(browser, url, "alice")
    choose(page, "run-select", "r")
    open_tab(page, "Final")
    page.wait_for_function("s => document.querySelector('#final-command textarea').value.endsWith(s)",
                           arg="finalize --db " + str(db) + " --name r", timeout=30_000)
    page.locator("#final-build").click()
    wait_for_text(page, "final-message", "Built:")
    wait_for_text(page, "final-summary", "pooled texts kept")
    rows = store.final_rows(run["id"])
    assert rows and str(len(rows)) in text_of(page, "final-summary")
    page.locator("#final-rows").get_by_role("gridcell").first.click()  # the first row opens in full
    page.wait_for_function("q => document.querySelector('#final-query textarea').value === q",
                           arg=rows[0]["query"], timeout=30_000)
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
