"""Helpers of the browser tests: start the app (as `make run` does) or another Streamlit script on a free port,
launch Debian's Chromium with Playwright, wait for a Streamlit page to settle."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, script: Path | str | None = None) -> subprocess.Popen:
    """The app as `make run` starts it (`python -m app_pages.serve`: `streamlit run app.py` with the app's imports
    and the default scenario's tables warm), or `streamlit run script` on the same server settings (`python -m
    app_pages.nodelay script`: TCP_NODELAY, nothing else), on `port`; returns once its health check answers."""
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            *(("app_pages.nodelay", str(script)) if script else ("app_pages.serve",)),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--server.fileWatcherType",
            "none",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited: {proc.stdout.read().decode(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("streamlit did not answer its health check within 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def launch(pw):
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def settle(page, timeout_ms: int = 90_000) -> None:
    """Wait until the script run is over, no element is a loading skeleton, and the browser has
    painted (two animation frames: Vega renders on the main thread)."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_ms)
    page.wait_for_function(
        """() => document.querySelector('[data-testid="stApp"]').getAttribute('data-test-script-state') === 'notRunning'
              && !document.querySelector('[data-testid="stSkeleton"]')
              && document.querySelector('h1') !== null""",
        timeout=timeout_ms,
    )
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
