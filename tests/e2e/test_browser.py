"""End to end in Chromium: share links, URL updates, CSV download and upload, bad links, and a
screenshot of every page (test-artifacts/)."""

import csv
import io
from urllib.parse import urlparse

from planner.catalog import load_catalog
from planner.links import decode
from tests.e2e.helpers import ARTIFACTS, settle

LINK = "v=1&workload.concurrency=12&workload.output.mean=500&compare.0.hardware=nvidia-b200&compare.0.devices=4"


def open_(page, url):
    page.goto(url)
    settle(page)


def scenario_of(page):
    sc, warnings = decode(urlparse(page.url).query, load_catalog())
    assert warnings == []
    return sc


def test_share_link_restores_the_scenario(page, app_url):
    open_(page, f"{app_url}/?{LINK}")
    assert page.get_by_label("Concurrent users", exact=True).input_value() == "12"
    assert page.get_by_label("Output tokens", exact=True).input_value() == "500"
    assert page.get_by_text("2: 4x nvidia-b200").first.is_visible()
    assert page.get_by_label("How many (1-6)", exact=True).input_value() == "2"
    sc = scenario_of(page)
    assert sc.workload.concurrency == 12 and sc.compare[0].hardware == "nvidia-b200"


def test_an_edit_updates_the_url(page, app_url):
    open_(page, f"{app_url}/")
    box = page.get_by_label("Concurrent users", exact=True)
    box.fill("7")
    box.press("Enter")
    page.wait_for_url("**workload.concurrency=7**")
    settle(page)
    assert scenario_of(page).workload.concurrency == 7
    page.reload()  # the URL alone restores it
    settle(page)
    assert page.get_by_label("Concurrent users", exact=True).input_value() == "7"


def test_csv_download_parses_and_upload_restores(page, app_url):
    open_(page, f"{app_url}/?{LINK}")
    want = scenario_of(page)
    with page.expect_download() as dl:
        page.get_by_test_id("stDownloadButton").filter(has_text="Scenario CSV").get_by_role("button").click()
    path = ARTIFACTS / "scenario.csv"
    dl.value.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [r["machine.hardware"] for r in rows] == ["apple-m3-ultra-80c", "nvidia-b200"]
    assert rows[1]["workload.concurrency"] == "12"
    with page.expect_download() as dl2:
        page.get_by_test_id("stDownloadButton").filter(has_text="Per-request CSV").get_by_role("button").click()
    req = list(csv.DictReader(io.StringIO(open(dl2.value.path()).read())))
    assert len(req) == 2 * 400 and "first_token_s" in req[0]

    open_(page, f"{app_url}/")  # a fresh default page, then restore from the file
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.wait_for_url("**workload.concurrency=12**")
    settle(page)
    assert scenario_of(page) == want
    assert page.get_by_label("Concurrent users", exact=True).input_value() == "12"


def test_bad_csv_changes_nothing(page, app_url, tmp_path):
    open_(page, f"{app_url}/?{LINK}")
    before = page.url
    bad = tmp_path / "bad.csv"
    bad.write_text("option,machine.hardware,machine.devices\n1,apple-m3-ultra-80c,0\n")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(bad))
    page.get_by_text("Nothing was changed").wait_for()
    assert "machine.devices" in page.get_by_test_id("stAlert").filter(has_text="Nothing was changed").inner_text()
    settle(page)
    assert page.url == before


def test_malformed_link_warns_and_the_page_works(page, app_url):
    open_(page, f"{app_url}/?v=1&workload.concurrency=-5&model=zzz&compare.0.devices=abc")
    text = page.get_by_test_id("stMain").inner_text()
    assert "Share link: workload.concurrency" in text and "Share link: model" in text
    assert page.get_by_test_id("stDataFrame").count() >= 1
    assert page.get_by_label("Concurrent users", exact=True).input_value() == "4"
    box = page.get_by_label("Concurrent users", exact=True)
    box.fill("9")
    box.press("Enter")
    page.wait_for_url("**workload.concurrency=9**")


def test_screenshot_every_page(browser, app_url):
    ctx = browser.new_context(viewport={"width": 1400, "height": 2600})
    p = ctx.new_page()
    p.set_default_timeout(90_000)
    for path, name in [("", "compare"), ("load_sweep", "load_sweep"), ("catalog", "catalog"),
                       ("accuracy", "accuracy"), ("claims", "claims")]:
        p.goto(f"{app_url}/{path}")
        settle(p)
        p.wait_for_timeout(1500)  # let Vega finish drawing
        assert not p.get_by_test_id("stException").count(), f"{name}: exception on the page"
        out = ARTIFACTS / f"page-{name}.png"
        p.screenshot(path=str(out), full_page=True)
        assert out.stat().st_size > 10_000
    ctx.close()


def test_screenshot_beyond_one_box_preset(browser, app_url):
    """The preset button loads the five-way DeepSeek R1 comparison; its scale-out fields are in the URL."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 2600})
    p = ctx.new_page()
    p.set_default_timeout(90_000)
    open_(p, f"{app_url}/")
    p.get_by_role("button", name="DeepSeek R1 beyond one box").click()
    p.wait_for_url("**compare.0.link=thunderbolt5**")
    settle(p)
    sc = scenario_of(p)
    assert [m.nodes for m in sc.options()] == [1, 2, 1, 1, 1] and sc.compare[3].offload == "experts"
    p.get_by_test_id("stSidebar").get_by_text("2: 2 nodes x apple-m3-ultra-80c").click()  # open its panel
    p.wait_for_timeout(1500)
    assert not p.get_by_test_id("stException").count()
    text = p.get_by_test_id("stMain").inner_text()
    assert "FP8 with vLLM" in text and "does not fit" not in text
    out = ARTIFACTS / "page-compare-beyond-one-box.png"
    p.screenshot(path=str(out), full_page=True)
    assert out.stat().st_size > 10_000
    ctx.close()


def test_screenshot_capacity_plan(browser, app_url):
    """The Capacity plan page: a plan.* link restores its inputs; the default plan's winner, table, Pareto
    chart and excluded groups render."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 2600})
    p = ctx.new_page()
    p.set_default_timeout(120_000)
    open_(p, f"{app_url}/capacity_plan?v=1&plan.rate_rps=3")
    assert p.get_by_label("Peak requests per second", exact=True).input_value() == "3.000"
    p.get_by_text("Winner:").first.wait_for()
    p.wait_for_timeout(1500)  # let Vega finish drawing
    assert not p.get_by_test_id("stException").count()
    text = p.get_by_test_id("stMain").inner_text()
    assert "Excluded candidates" in text and "does not fit" in text and "ASSUMPTION" in text
    assert "plan.rate_rps=3" in p.url
    out = ARTIFACTS / "page-capacity_plan.png"
    p.screenshot(path=str(out), full_page=True)
    assert out.stat().st_size > 10_000
    ctx.close()
