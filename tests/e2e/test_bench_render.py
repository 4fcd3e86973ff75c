"""`bench_render`'s in-page clock on the app: a first load and a re-render are timed by the page itself, each
after what it times happened and within the harness's own wall time (which adds Playwright's round trips)."""

import time

from tests.e2e.bench_render import INPAGE_LOAD, set_number
from tests.e2e.helpers import settle


def test_in_page_clock_times_a_first_load_and_a_re_render(page, app_url):
    page.add_init_script(INPAGE_LOAD)
    t0 = time.perf_counter()
    page.goto(app_url)
    settle(page)
    wall = time.perf_counter() - t0
    page.wait_for_function("() => window._painted !== null", timeout=10_000)
    seen, painted = page.evaluate("() => [window._seen, window._painted]")
    assert 0 < seen <= painted <= wall * 1000  # navigation start to the frame with the result
    assert "At 4 busy users" in page.get_by_test_id("stMain").text_content()

    wall, _server, _browser, _renderer, inpage = set_number(page, "Busy users", 5, 0)
    key, seen = page.evaluate("() => [window._key, window._seen]")
    assert key is not None and seen > key  # the key press, then the page showing the new value
    assert 0 < inpage <= wall
    assert "At 5 busy users" in page.get_by_test_id("stMain").text_content()
