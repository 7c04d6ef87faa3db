"""What the browser tests share: the app server (`python app.py` with --auth on a temp database, one per test
module), Debian's Chromium through Playwright, logging in, and small helpers. Test modules import the fixtures
they use by name. Screenshots land in $SELFLENGTHEN_TEST_OUTPUT (default ./test-output/screenshots).
"""

from __future__ import annotations

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


def require_browser() -> None:
    """Skip the module without Chromium (CI sets SELFLENGTHEN_REQUIRE_BROWSER: there it is a failure)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("SELFLENGTHEN_REQUIRE_BROWSER"):
            raise RuntimeError(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
        pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)


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


@pytest.fixture(autouse=True)
def closed_pages_after(request):
    """Each test's pages close when it ends: an open dashboard keeps polling the server, and a dozen of them
    slow the next test's clicks."""
    yield
    if "browser" in request.fixturenames:
        for context in request.getfixturevalue("browser").contexts:
            context.close()


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


def open_filters(page) -> None:
    """Unfold "Filters and the list of samples" (folded away below the sample) once."""
    if not page.locator("#review-list").is_visible():
        page.locator("#review-filters").get_by_text("Filters and the list of samples").click()
        page.locator("#review-list").wait_for(state="visible")


def opened(browser, server, run: str, text: str, tab: str, pick: bool = False):
    """A new run seeded with `text` (see `seeded_run`), opened on `tab` by alice; her page. The page opens at
    the run's address (?run=...&tab=...): picked in the run list after the page loaded another run instead
    (`pick`), a tab's late refresh for the first run can land after the test's first click."""
    from ui.address import TAB_LABELS

    url, db = server
    seeded_run(db, run, text)
    page = login(browser, url, "alice")
    if pick:
        choose(page, "run-select", run)
        open_tab(page, tab)
    else:
        go_to(page, url, run, TAB_LABELS[tab])
    return page


def go_to(page, url: str, run: str, tab: str) -> None:
    """Open `run` on `tab` (its address key, e.g. 'train') by the page's address, and wait until it is picked."""
    page.goto(f"{url.rstrip('/')}/?run={run}&tab={tab}")
    page.wait_for_function("r => document.querySelector('#run-select input')?.value === r", arg=run)


def shown_sample(page) -> str:
    """The id of the sample the Review tab shows."""
    import re

    return re.search(r"Sample (\d+)", text_of(page, "review-sample-info")).group(1)


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
