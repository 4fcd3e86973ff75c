"""Benchmark: the Compare page's re-render time in the browser after a widget change.

    python -m tests.e2e.bench_render [--runs 5]

Starts `streamlit run app.py` on a free port, opens the default page in Debian's Chromium, then
changes the number of busy users (closed loop) (4 -> 5 -> 4 ...) and times from the key press until the
script run is over and the browser has painted.  The first change of each value is a cache miss
(4 simulations); later ones hit st.cache_data.
"""

from __future__ import annotations

import argparse
import statistics
import time

from playwright.sync_api import sync_playwright

from tests.e2e.helpers import free_port, launch, settle, start_server, stop_server


# records the app's script-state changes: a fast re-run can start and end between two polls of
# wait_for_selector, so the start is caught by a MutationObserver set up before the key press
WATCH = """() => { window._states = []; const app = document.querySelector('[data-testid="stApp"]');
  if (!window._watching) { window._watching = true; new MutationObserver(() => window._states.push(
    app.getAttribute('data-test-script-state'))).observe(app, {attributes: true,
    attributeFilter: ['data-test-script-state']}); } }"""
# ... or, where the browser drew the whole run at once, the page's verdict names the new value and no run is on
RAN = """(v) => (window._states.includes('running') && window._states.at(-1) === 'notRunning')
  || (document.querySelector('[data-testid="stApp"]').getAttribute('data-test-script-state') === 'notRunning'
      && document.querySelector('[data-testid="stMain"]').textContent.includes(`At ${v} busy users`))"""


def set_number(page, label: str, value: int) -> float:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    page.evaluate(WATCH)
    t0 = time.perf_counter()
    box.press("Enter")
    page.wait_for_function(RAN, arg=value, timeout=90_000)
    settle(page)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    port = free_port()
    proc = start_server(port)
    try:
        with sync_playwright() as pw:
            browser = launch(pw)
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            t0 = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/")
            settle(page)
            print(f"first load (cold caches): {time.perf_counter() - t0:.2f} s")
            miss, hit = [], []
            for k in range(args.runs):
                v = 5 + k  # new value: cache miss
                miss.append(set_number(page, "Busy users", v))
                hit.append(set_number(page, "Busy users", 4))  # back to the default: cache hit
            print(f"re-render after a change, cache miss (4 options simulated): median {statistics.median(miss):.2f} s, "
                  f"max {max(miss):.2f} s over {len(miss)}")
            print(f"re-render after a change, cached: median {statistics.median(hit):.2f} s, max {max(hit):.2f} s "
                  f"over {len(hit)}")
            browser.close()
    finally:
        stop_server(proc)


if __name__ == "__main__":
    main()
