"""The Review tab in a real browser: hostile text stays inert, two curators at once, the address keeps the
place, and the sample with its actions fits the first screen (Playwright and Chromium, tests/browsing.py).
"""

from __future__ import annotations

import time

import pytest

from browsing import (OUTPUT, PAYLOAD, USERS, Store, browser, choose, closed_pages_after, login,  # noqa: F401
                      open_filters, open_tab, opened, press, require_browser, seeded_run, server, shoot,
                      shown_sample, text_of, wait_for_text)

require_browser()
pytestmark = pytest.mark.slow


def test_model_output_renders_as_inert_text(server, browser):
    url, db = server
    page = opened(browser, server, "hostile", PAYLOAD, "Review")
    wait_for_text(page, "review-sample-info", "Sample")
    page.locator("#review-diff-toggle input").check()
    page.wait_for_timeout(1500)
    for box in ("review-instruction", "review-initial", "review-final"):
        assert "<script>" in page.locator(f"#{box} textarea").input_value() or box == "review-instruction"
    assert "<img src=x" in page.locator("#review-initial textarea").input_value()
    open_filters(page)
    page.locator("#review-list").hover()
    guidelines = '**Rules** ![pixel](http://127.0.0.1:9/p.gif) <img src="http://127.0.0.1:9/q.gif">'
    page.get_by_text("Curation settings and agreement").click()
    page.get_by_text("Guidelines", exact=True).click()
    page.locator("#review-guidelines-edit textarea").fill(guidelines)
    page.locator("#review-guidelines-save").click()
    wait_for_text(page, "review-guidelines", "image: pixel")
    assert page.locator("#review-guidelines img").count() == 0
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src='x']").count() == 0 and page.locator("a[href^='javascript:']").count() == 0
    assert page.locator("a[href^='data:'], svg[onload], [onerror], [onmouseover]").count() == 0
    assert page.dialogs == []
    shoot(page, "review-hostile-text")


def duo_decisions(db, run: str, expected: int) -> list[dict]:
    """The run's decision rows (user, sample, verdict), once `expected` of them are stored (or 30 s passed)."""
    store, deadline = Store(db), time.monotonic() + 30
    while True:
        rows = store.query("SELECT d.user, d.sample_id, d.verdict FROM decisions d JOIN samples s"
                           " ON s.id = d.sample_id JOIN runs r ON r.id = s.run_id WHERE r.name = ?", [run])
        if len(rows) >= expected or time.monotonic() > deadline:
            store.close()
            return rows
        time.sleep(0.25)


def open_review(pages: dict, db, run: str) -> None:
    """Each page on the run's Review tab, showing one of its samples."""
    store = Store(db)
    total = len(store.iteration_samples(store.latest_iteration(store.require_run(run)["id"])["id"]))
    store.close()
    for page in pages.values():
        choose(page, "run-select", run)
        open_tab(page, "Review")
        wait_for_text(page, "review-sample-info", f" of {total} ")


def test_two_curators_at_once_get_disjoint_queues_and_lose_no_decision(server, browser):
    url, db = server
    seeded_run(db, "duo", "shared", n_instructions=8)
    pages = {user: login(browser, url, user) for user in USERS}
    open_review(pages, db, "duo")
    alice, bob = pages["alice"], pages["bob"]
    # Overlap 1: each curator is handed a sample the other does not hold, as fast as the keys go.
    for _ in range(4):
        for page in pages.values():
            press(page, "a")
    rows = duo_decisions(db, "duo", 8)
    assert {user: len([r for r in rows if r["user"] == user]) for user in USERS} == {"alice": 4, "bob": 4}
    decided = [r["sample_id"] for r in rows]
    assert len(decided) == len(set(decided))  # no sample decided twice: two disjoint streams
    # A conflict can still happen when a curator opens another's sample on purpose: held back, then overridden.
    shown = shown_sample(alice)
    bob.goto(f"{url}?run=duo&tab=review&sample={shown}")
    wait_for_text(bob, "review-sample-info", f"Sample {shown} ·")
    press(alice, "a")
    wait_for_text(alice, "review-message", f"accepted sample {shown}")
    press(bob, "1")
    press(bob, "r")
    assert "after you opened it" in wait_for_text(bob, "review-message", "alice")
    press(bob, "r")  # pressing again records the override, knowingly
    wait_for_text(bob, "review-message", f"rejected sample {shown}")


def test_with_overlap_two_both_curators_decide_each_sample_and_see_their_agreement(server, browser):
    url, db = server
    seeded_run(db, "pair", "both", n_instructions=8)
    store = Store(db)
    store.set_curation(store.require_run("pair")["id"], overlap=2)
    store.close()
    pages = {user: login(browser, url, user) for user in USERS}
    open_review(pages, db, "pair")
    alice = pages["alice"]
    for _ in range(3):
        for page in pages.values():
            press(page, "a")
    rows = duo_decisions(db, "pair", 6)
    assert {r["user"] for r in rows} == set(USERS)
    assert {r["sample_id"] for r in rows if r["user"] == "alice"} == {r["sample_id"] for r in rows
                                                                       if r["user"] == "bob"}  # shared
    alice.reload()  # the agreement is counted when the run loads
    wait_for_text(alice, "review-sample-info", "Sample")
    alice.get_by_text("Curation settings and agreement").click()
    assert "Cohen's kappa" in wait_for_text(alice, "review-agreement", "over 3 samples (alice, bob)")


def test_the_address_keeps_run_tab_and_sample_through_a_reload_and_a_copied_link(server, browser):
    url, db = server
    page = opened(browser, server, "linked", "addr", "Review", pick=True)  # the picked run reaches the address
    wait_for_text(page, "review-sample-info", " · 1 of ")
    press(page, "j")
    press(page, "j")
    wait_for_text(page, "review-sample-info", " · 3 of ")
    sample = shown_sample(page)
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


def test_review_shows_the_sample_and_its_actions_on_the_first_screen_whatever_its_length(server, browser):
    """At 1440x900 the texts and Accept are in the first viewport for a short and a 5,000-word sample, and
    Accept stays at one place; the help floats over the sample and Esc closes it; an edit is measured as the
    text that counts."""
    url, db = server
    seeded_run(db, "layout", "lay")
    store = Store(db)
    [long_id, short_id] = [r["id"] for r in store.query(
        "SELECT s.id FROM samples s JOIN runs r ON r.id = s.run_id WHERE r.name = 'layout' ORDER BY s.id LIMIT 2")]
    long_text = "\n\n".join(" ".join(f"Word{i}x{j} and more." for j in range(50)) for i in range(34))
    with store.transaction() as tx:
        tx.execute("UPDATE samples SET final_expansion = ?, final_words = 5100 WHERE id = ?", [long_text, long_id])
    store.close()
    page = login(browser, url, "alice")
    page.set_viewport_size({"width": 1440, "height": 900})
    places = {}
    for sample in (short_id, long_id):
        page.goto(f"{url}?run=layout&tab=review&iteration=0&sample={sample}")
        wait_for_text(page, "review-sample-info", f"Sample {sample} ·")
        for box in ("#review-instruction", "#review-initial", "#review-stage1", "#review-final", "#review-accept"):
            rect = page.locator(box).bounding_box()
            assert rect and rect["y"] >= 0 and rect["y"] + min(rect["height"], 60) <= 900, (sample, box, rect)
        places[sample] = page.locator("#review-accept").bounding_box()
        shoot(page, f"review-{'long' if sample == long_id else 'short'}-sample")
    assert places[short_id] == places[long_id]
    press(page, "?")
    help_box = page.locator("#review-help-text")
    help_box.wait_for(state="visible")
    rect = help_box.bounding_box()
    assert 0 <= rect["y"] < 900 and rect["y"] + rect["height"] <= 900  # over the sample, in the window
    page.screenshot(path=str(OUTPUT / "review-help-overlay.png"))
    page.keyboard.press("Escape")
    help_box.wait_for(state="hidden")
    open_filters(page)
    shoot(page, "review-list")
    press(page, "e")
    page.locator("#review-final textarea").fill("Short.")
    page.locator("#review-save-edit").click()
    wait_for_text(page, "review-message", "check this edit")
    page.locator("#review-save-edit").click()
    wait_for_text(page, "review-message", "with your edit")
    page.goto(f"{url}?run=layout&tab=review&iteration=0&sample={long_id}")
    wait_for_text(page, "review-sample-info", f"Sample {long_id} ·")
    page.locator("#review-diff-toggle input").check()
    page.locator("#review-diff").wait_for(state="visible")
    assert "edited" in page.locator("#review-final").inner_text()
    shoot(page, "review-edited-sample")
