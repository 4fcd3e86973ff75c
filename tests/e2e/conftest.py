"""Browser tests: the app as `make run` starts it (`python -m app_pages.serve`) on a free port, driven by
Playwright with Debian's Chromium (/usr/bin/chromium, installed by `make test` / .ci/run when missing).

Outside CI a missing Chromium or Playwright skips these tests; with CI=true it fails them."""

import os
import shutil

import pytest

from tests.e2e.helpers import ARTIFACTS, CHROMIUM, free_port, launch, start_server, stop_server

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return f"{CHROMIUM} is missing (apt-get install chromium; `make test` does it as root)"
    return None


@pytest.fixture(scope="session")
def app_url():
    why = _missing()
    if why:
        if IN_CI:
            pytest.fail(f"browser tests cannot run in CI: {why}")
        pytest.skip(why)
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    proc = start_server(port)
    yield f"http://127.0.0.1:{port}"
    stop_server(proc)


@pytest.fixture(scope="session")
def browser(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch(pw)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    p = ctx.new_page()
    p.set_default_timeout(60_000)
    yield p
    ctx.close()
