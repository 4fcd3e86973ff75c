"""Profile of a first load in the browser: where the time between `goto` and the settled page goes.

    python -m tests.e2e.profile_load [--script PATH] [--top 15]

Starts the app as `make run` does (`python -m app_pages.serve`), or `--script` (e.g. a floor in tests/e2e/floor/)
under `streamlit run` with TCP_NODELAY (`python -m app_pages.nodelay`), on a free port, opens it in a fresh Chromium with a CPU profile of the
page (Chrome DevTools Protocol) and prints: the times the page's script state changed (the frontend loaded and asked for the
first run; the server's run ended), when each script was fetched, and the page's CPU time by script file (self
time), with V8's garbage collection, the parser/compiler ("(program)") and idle apart.  For a second session on
the same server (its imports, catalog and caches warm, the browser's cache cold): `--second`; for cached re-runs
(busy users 5, 4, 5, ...) instead: `--rerun N`.
"""

from __future__ import annotations

import argparse
import collections
import os
import time

from playwright.sync_api import sync_playwright

from tests.e2e.bench_render import set_number
from tests.e2e.helpers import free_port, launch, settle, start_server, stop_server

WATCH = """() => { window._t = []; const obs = () => { const app = document.querySelector('[data-testid="stApp"]');
  if (!app) { requestAnimationFrame(obs); return; }
  window._t.push(['stApp', performance.now()]);
  new MutationObserver(() => window._t.push([app.getAttribute('data-test-script-state'), performance.now()]))
    .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']}); }; obs(); }"""


def profile(page, url: str, top: int, rerun: int = 0) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Profiler.enable")
    cdp.send("Profiler.setSamplingInterval", {"interval": 200})
    page.add_init_script(f"({WATCH})()")
    if rerun:  # the page loaded, each value seen once: then `rerun` cached re-runs profiled
        page.goto(url)
        settle(page)
        for v in (5, 4):
            set_number(page, "Busy users", v, 0)
        cdp.send("Profiler.start")
        t0 = time.perf_counter()
        for k in range(rerun):
            set_number(page, "Busy users", 5 - k % 2, 0)
        wall = time.perf_counter() - t0
        prof = cdp.send("Profiler.stop")["profile"]
        n = page.evaluate("() => document.querySelectorAll('[data-testid=stElementContainer]').length")
        print(f"{url}: {rerun} cached re-runs in {wall:.2f} s; {n} elements on the page")
    else:
        cdp.send("Profiler.start")
        t0 = time.perf_counter()
        page.goto(url)
        settle(page)
        wall = time.perf_counter() - t0
        prof = cdp.send("Profiler.stop")["profile"]
        marks = page.evaluate("() => window._t")
        res = page.evaluate(
            "() => performance.getEntriesByType('resource').map(r => [r.name, r.startTime, r.responseEnd, "
            "r.encodedBodySize])"
        )
        print(f"{url}: settled after {wall:.2f} s")
        for state, t in marks:
            print(f"  {t / 1000:6.2f} s  script state {state}")
        js = [r for r in res if r[0].endswith(".js")]
        print(
            f"  {len(js)} scripts, {sum(r[3] for r in js) / 1e6:.1f} MB; the last fetched at "
            f"{max(r[2] for r in js) / 1000:.2f} s"
        )
        for name, start, end, size in sorted(js, key=lambda r: -r[3])[:8]:
            print(f"    {start / 1000:6.2f}-{end / 1000:5.2f} s {size / 1e3:7.0f} kB {name.rsplit('/', 1)[-1]}")
    nodes = {n["id"]: n for n in prof["nodes"]}
    dt = collections.Counter()
    for nid, d in zip(prof["samples"], prof["timeDeltas"]):
        dt[nid] += d
    by_url: collections.Counter = collections.Counter()
    by_fn: collections.Counter = collections.Counter()
    for nid, us in dt.items():
        cf = nodes[nid]["callFrame"]
        name = cf["url"].rsplit("/", 1)[-1] or cf["functionName"] or "?"
        by_url[name] += us
        by_fn[f"{cf['functionName'] or '(anonymous)'} {name}:{cf['lineNumber']}"] += us
    busy = sum(v for k, v in by_url.items() if k != "(idle)")
    print(f"  main thread busy {busy / 1e6:.2f} s of {(prof['endTime'] - prof['startTime']) / 1e6:.2f} s profiled")
    for k, v in by_url.most_common(top):
        print(f"    {v / 1e6:6.3f} s  {k}")
    print("  functions:")
    for k, v in by_fn.most_common(top):
        print(f"    {v / 1e6:6.3f} s  {k}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--script")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--second", action="store_true", help="profile a second session (the first one unprofiled)")
    ap.add_argument("--rerun", type=int, default=0, help="profile this many cached re-runs instead of the load")
    args = ap.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    port = free_port()
    proc = start_server(port, args.script and os.path.abspath(args.script))
    url = f"http://127.0.0.1:{port}/"
    try:
        with sync_playwright() as pw:
            browser = launch(pw)
            if args.second:
                first = browser.new_context().new_page()
                first.goto(url)
                settle(first)
            page = browser.new_context(viewport={"width": 1500, "height": 1000}).new_page()
            profile(page, url, args.top, args.rerun)
            browser.close()
    finally:
        stop_server(proc)


if __name__ == "__main__":
    main()
