"""Benchmark: many browser sessions opening the app at once (not a timed test: it prints figures).

    python -m tests.e2e.bench_concurrency [--sessions 20]

Starts the app as `make run` does (`python -m app_pages.serve`) on a free port, then opens N pages in Debian's
Chromium at the same moment, each on the default Compare page with a different number of users (a different
scenario, so every session needs its own simulations; the catalog, the shared machine options and the chart
building are shared through the caches).  For each session it records the time from navigation to the first
result (the summary table on the page) and to the finished page (script run over, browser painted), and prints
the median and max.

With ``--clients ws`` the sessions are plain websocket clients speaking Streamlit's protocol (a ``rerun_script``
message with the link's query string, then the page's messages until ``script_finished``): the server's own
figures, without 20 Chromium renderers competing with it for the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from playwright.async_api import async_playwright

from tests.e2e.helpers import CHROMIUM, CHROMIUM_ARGS, free_port, start_server, stop_server

SETTLED = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return app && app.getAttribute('data-test-script-state') === 'notRunning'
      && !document.querySelector('[data-testid="stSkeleton"]') && document.querySelector('h1') !== null;
}"""


async def session(browser, url: str, t0: float, timeout_ms: int) -> tuple[float, float, bool]:
    ctx = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await ctx.new_page()
    await page.goto(url, timeout=timeout_ms, wait_until="commit")
    await page.wait_for_selector('[data-testid="stDataFrame"]', timeout=timeout_ms)
    first = time.perf_counter() - t0
    await page.wait_for_function(SETTLED, timeout=timeout_ms)
    done = time.perf_counter() - t0
    errors = await page.locator('[data-testid="stException"]').count()
    await ctx.close()
    return first, done, errors == 0


async def run(port: int, n: int, timeout_ms: int) -> list[tuple[float, float, bool]]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        # warm the server once (imports, catalog): what a running server has already done
        warm = await browser.new_page()
        await warm.goto(f"http://127.0.0.1:{port}/?v=1", timeout=timeout_ms)
        await warm.wait_for_function(SETTLED, timeout=timeout_ms)
        await warm.close()
        t0 = time.perf_counter()
        urls = [f"http://127.0.0.1:{port}/?v=1&workload.concurrency={5 + k}" for k in range(n)]
        out = await asyncio.gather(*(session(browser, u, t0, timeout_ms) for u in urls))
        await browser.close()
        return out


async def ws_session(port: int, query: str, t0: float, timeout_s: float) -> tuple[float, float, bool]:
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from tornado.websocket import websocket_connect

    ws = await websocket_connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"])
    msg = BackMsg()
    msg.rerun_script.query_string = query
    await ws.write_message(msg.SerializeToString(), binary=True)
    first, ok = None, True
    while True:
        raw = await asyncio.wait_for(ws.read_message(), timeout_s)
        if raw is None:
            ok = False
            break
        fwd = ForwardMsg()
        fwd.ParseFromString(raw)
        kind = fwd.WhichOneof("type")
        if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
            el = fwd.delta.new_element.WhichOneof("type")
            if el == "dataframe" and first is None:
                first = time.perf_counter() - t0
            if el == "exception":
                ok = False
        if kind == "script_finished":
            break
    ws.close()
    done = time.perf_counter() - t0
    return (first if first is not None else done), done, ok and first is not None


async def run_ws(port: int, n: int, timeout_s: float) -> list[tuple[float, float, bool]]:
    await ws_session(port, "v=1", time.perf_counter(), timeout_s)  # warm the server (imports, catalog)
    t0 = time.perf_counter()
    return await asyncio.gather(
        *(ws_session(port, f"v=1&workload.concurrency={5 + k}", t0, timeout_s) for k in range(n))
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=300, help="per session, seconds")
    ap.add_argument(
        "--clients",
        choices=["chromium", "ws"],
        default="chromium",
        help="Chromium pages (default) or websocket clients (the server alone)",
    )
    args = ap.parse_args()
    port = free_port()
    proc = start_server(port)
    load0 = os.getloadavg()[0]
    try:
        if args.clients == "ws":
            res = asyncio.run(run_ws(port, args.sessions, args.timeout))
        else:
            res = asyncio.run(run(port, args.sessions, int(args.timeout * 1000)))
    finally:
        stop_server(proc)
    first = [r[0] for r in res]
    done = [r[1] for r in res]
    print(
        f"{args.sessions} concurrent {args.clients} sessions, each a different scenario (users 5-{4 + args.sessions}):"
    )
    print(
        f"  first result (summary table shown): median {statistics.median(first):.1f} s, "
        f"min {min(first):.1f} s, max {max(first):.1f} s"
    )
    print(
        f"  page finished (all charts drawn):   median {statistics.median(done):.1f} s, "
        f"min {min(done):.1f} s, max {max(done):.1f} s"
    )
    print(f"  sessions with an error: {sum(not r[2] for r in res)}")
    print(
        f"  machine load average (1 min) before / after: {load0:.1f} / {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
