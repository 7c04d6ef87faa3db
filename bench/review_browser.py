"""Review at scale as a curator feels it: key press -> the next sample's texts, in Chromium, against the real app.

    python bench/review_browser.py [--samples 100000] [--iterations 5] [--words 600] [--presses 12]
                                   [--db EXISTING.db]

Builds the store of bench/review_scale.py (100,000 samples in 5 iterations, 600-word texts) unless --db names
one, starts `python app.py` on it, opens the Review tab of its latest iteration in Debian's Chromium at
1440x900 (Playwright), and presses `j` (next), `a` (accept, then the next sample opens) and `r` (reject with a
ticked reason) --presses times each, a second apart. Each press is timed in the page, from the keydown to the
moment both the headline and the final text show a sample other than the one on screen before. Prints JSON (p50,
p95 and max per key, in ms) and a summary line. Goal (review issue): p95 <= 200 ms.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import ROOT, report
from review_scale import percentile, seed

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# Installed in the page: the time of the last keydown, then a wait for the view to show another sample.
ARM = """() => { window.__pressedAt = null;
  document.addEventListener('keydown', () => { window.__pressedAt = performance.now(); }, {capture: true, once: true});
}"""
CHANGED = """([before, text]) => {
  const info = document.querySelector('#review-sample-info')?.innerText || '';
  const final = document.querySelector('#review-final textarea')?.value || '';
  const sample = (info.match(/Sample (\\d+)/) || [])[1];
  if (!window.__pressedAt || !sample || sample === before || final === text) return false;
  return performance.now() - window.__pressedAt;
}"""


def start_app(db: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "app.py", "--db", str(db), "--port", str(port), "--no-demo"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit("the app did not start")


def shown_sample(page) -> tuple[str, str]:
    info = page.locator("#review-sample-info").inner_text()
    return re.search(r"Sample (\d+)", info).group(1), page.locator("#review-final textarea").input_value()


def time_presses(page, key: str, presses: int) -> list[float]:
    times = []
    for _ in range(presses):
        before, text = shown_sample(page)
        if key == "r":
            page.locator("#review-sample-info").click()
            page.keyboard.press("1")  # a reason to reject with
            page.wait_for_timeout(300)
        page.evaluate(ARM)
        page.locator("#review-sample-info").click()
        page.keyboard.press(key)
        handle = page.wait_for_function(CHANGED, arg=[before, text], timeout=60_000, polling="raf")
        times.append(round(handle.json_value(), 1))  # (the next sample opens with no reason ticked)
        page.wait_for_timeout(1000)
    return times


def measure(db: Path, args) -> dict:
    from playwright.sync_api import sync_playwright

    port = 7800 + os.getpid() % 100
    app = start_app(db, port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            started = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/?run=big&tab=review")
            page.wait_for_function("() => /Sample \\d+/.test(document.querySelector('#review-sample-info')"
                                   "?.innerText || '')", timeout=120_000)
            opened = time.perf_counter() - started
            page.wait_for_timeout(3000)  # the page's first refreshes of the other tabs are over
            figures = {}
            for key in ("j", "a", "r"):
                times = time_presses(page, key, args.presses)
                figures[key] = {"p50_ms": statistics.median(times), "p95_ms": percentile(times, 0.95),
                                "max_ms": max(times), "times_ms": times}
            browser.close()
    finally:
        os.killpg(app.pid, signal.SIGTERM)
        app.wait(30)
    return {"samples": args.samples, "page_open_s": round(opened, 2), "keys": figures}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--words", type=int, default=600)
    parser.add_argument("--presses", type=int, default=12, help="presses of each key")
    parser.add_argument("--db", help="a store built before (its run named 'big'), instead of building one")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sl-bench-browser-") as work:  # ~0.8 GB at the default size
        db = Path(args.db) if args.db else Path(work) / "studio.db"
        if not args.db:
            from storage import Store

            store = Store(db)
            seed(store, args.samples, args.iterations, args.words)
            store.close()
        result = measure(db, args)
    keys = result["keys"]
    return report(result, f"review in Chromium at {args.samples:,} samples: key press -> next sample's texts "
                          + "; ".join(f"{k} p50 {v['p50_ms']:.0f} ms, p95 {v['p95_ms']:.0f} ms" for k, v in keys.items())
                          + " (goal p95 <= 200 ms)")


if __name__ == "__main__":
    main()
