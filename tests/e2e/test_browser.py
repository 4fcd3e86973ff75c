"""End to end in Chromium: share links, URL updates, CSV download and upload, bad links, and a
screenshot of every page (test-artifacts/)."""

import csv
import io
from urllib.parse import parse_qsl, urlparse

from planner.catalog.loader import load_catalog
from planner.webapp.links import decode
from tests.e2e.helpers import ARTIFACTS, settle

LINK = (
    "v=2&workload.concurrency=12&workload.output.mean=500&compare.0.hardware=nvidia-b200&compare.0.devices=4"
    "&compare.0.engine=vllm&compare.0.quant=fp8"
)
V1_LINK = "v=1&workload.concurrency=12&workload.output.mean=500&compare.0.hardware=nvidia-b200&compare.0.devices=4"
# four options on four different stacks (Llama 3.1 8B)
FOUR = (
    "v=2&model=llama-3.1-8b&quant=mlx-4bit&engine=mlx"
    "&machine.hardware=apple-m4-max-40c&machine.memory_gb=128&machine.quant=mlx-4bit&machine.engine=mlx"
    "&compare.0.hardware=nvidia-rtx-5090&compare.0.quant=q4_k_m&compare.0.engine=llama.cpp"
    "&compare.1.hardware=nvidia-h100-sxm&compare.1.devices=2&compare.1.quant=fp8&compare.1.engine=vllm"
    "&compare.2.hardware=amd-mi300x&compare.2.quant=bf16&compare.2.engine=sglang"
)
FOUR_LABELS = [
    "1: M4 Max 40c 128 GB · MLX · 4-bit",
    "2: RTX 5090 · llama.cpp · Q4_K_M",
    "3: 2x H100 SXM5 · vLLM · FP8",
    "4: MI300X · SGLang · BF16",
]


def open_(page, url):
    page.goto(url)
    settle(page)


def scenario_of(page):
    sc, warnings = decode(urlparse(page.url).query, load_catalog())
    assert warnings == []
    return sc


def test_share_link_restores_the_scenario(page, app_url):
    open_(page, f"{app_url}/?{LINK}")
    assert page.get_by_label("Busy users", exact=True).input_value() == "12"
    assert page.get_by_label("Output tokens", exact=True).input_value() == "500"
    assert page.get_by_text("2: 4x B200 · vLLM · FP8").first.is_visible()
    assert page.get_by_label("How many (1-6)", exact=True).input_value() == "2"
    sc = scenario_of(page)
    assert sc.workload.concurrency == 12 and sc.compare[0].hardware == "nvidia-b200"


def test_an_edit_updates_the_url(page, app_url):
    open_(page, f"{app_url}/")
    box = page.get_by_label("Busy users", exact=True)
    box.fill("7")
    box.press("Enter")
    page.wait_for_url("**workload.concurrency=7**")
    settle(page)
    assert scenario_of(page).workload.concurrency == 7
    page.reload()  # the URL alone restores it
    settle(page)
    assert page.get_by_label("Busy users", exact=True).input_value() == "7"


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
    assert page.get_by_label("Busy users", exact=True).input_value() == "12"


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
    assert page.get_by_label("Busy users", exact=True).input_value() == "4"
    box = page.get_by_label("Busy users", exact=True)
    box.fill("9")
    box.press("Enter")
    page.wait_for_url("**workload.concurrency=9**")


def test_screenshot_every_page(browser, app_url):
    ctx = browser.new_context(viewport={"width": 1400, "height": 2600})
    p = ctx.new_page()
    p.set_default_timeout(90_000)
    for path, name in [
        ("", "compare"),
        ("load_sweep", "load_sweep"),
        ("catalog", "catalog"),
        ("accuracy", "accuracy"),
        ("claims", "claims"),
        ("measurements", "measurements"),
    ]:
        p.goto(f"{app_url}/{path}")
        settle(p)
        p.wait_for_timeout(1500)  # let Vega finish drawing
        assert not p.get_by_test_id("stException").count(), f"{name}: exception on the page"
        out = ARTIFACTS / f"page-{name}.png"
        p.screenshot(path=str(out), full_page=True)
        assert out.stat().st_size > 10_000
    ctx.close()


def _summary(page) -> list[dict]:
    with page.expect_download() as dl:
        page.get_by_test_id("stDownloadButton").filter(has_text="Summary CSV").get_by_role("button").click()
    return list(csv.DictReader(io.StringIO(open(dl.value.path()).read())))


def test_four_options_on_four_stacks_restore_from_a_link(page, app_url):
    open_(page, f"{app_url}/?{FOUR}")
    sc = scenario_of(page)
    assert [sc.stack(i)[:2] for i in range(4)] == [
        ("mlx-4bit", "mlx"),
        ("q4_k_m", "llama.cpp"),
        ("fp8", "vllm"),
        ("bf16", "sglang"),
    ]
    side = page.get_by_test_id("stSidebar")
    for label in FOUR_LABELS:  # every option's panel is labelled with its stack
        assert side.get_by_text(label).first.is_visible(), label
    rows = _summary(page)
    assert [r["machine"] for r in rows] == FOUR_LABELS
    assert [(r["engine"], r["quant"]) for r in rows] == [
        ("mlx", "mlx-4bit"),
        ("llama.cpp", "q4_k_m"),
        ("vllm", "fp8"),
        ("sglang", "bf16"),
    ]
    assert all(float(r["throughput_tok_s"]) > 0 for r in rows)
    assert page.get_by_test_id("stAppDeployButton").count() == 0  # client.toolbarMode = "minimal"
    url = page.get_by_test_id("stMain").get_by_role("link", name=app_url + "/?v=2&").first.get_attribute("href")
    assert url.startswith(app_url + "/?v=2&") and "compare.2.engine=sglang" in url  # the absolute link is shown


def test_changing_option_2s_engine_changes_only_option_2(page, app_url):
    open_(page, f"{app_url}/?{FOUR}")
    before, before_sc, q_before = _summary(page), scenario_of(page), dict(parse_qsl(urlparse(page.url).query))
    panel = page.get_by_test_id("stSidebar").get_by_test_id("stExpander").filter(has_text="2: RTX 5090")
    box = panel.get_by_test_id("stSelectbox").filter(has_text="Engine").locator("input")
    for _ in range(8):  # open the panel, type into the engine box, pick vLLM (retried: a rerun may close the list,
        # even between the option showing and the click, so every step has a short timeout and the page settles)
        try:
            if not box.is_visible():
                panel.get_by_text("2: RTX 5090").first.click(timeout=10_000)
                box.wait_for(state="visible", timeout=20_000)
            box.click(timeout=10_000)
            box.fill("vLLM", timeout=10_000)
            option = page.get_by_role("option", name="vLLM", exact=True)
            option.wait_for(state="visible", timeout=10_000)
            option.click(timeout=10_000)
        except Exception:  # noqa: BLE001 - the list closed or never opened: let the rerun finish, try again
            try:
                box.press("Escape", timeout=5_000)
            except Exception:  # noqa: BLE001
                pass
            settle(page)
            continue
        break
    else:
        raise AssertionError("could not pick vLLM in option 2's engine box in 8 tries")
    page.wait_for_url("**compare.0.engine=vllm**", timeout=120_000)
    settle(page)
    after, after_sc = _summary(page), scenario_of(page)
    assert after_sc.stack(1)[1] == "vllm" and after_sc.compare[0].quant == "fp8"  # vLLM's usual format
    for i in (0, 2, 3):
        assert after_sc.options()[i] == before_sc.options()[i]
        assert after[i] == before[i]  # the same numbers, to the last digit
    assert after[1]["machine"] == "2: RTX 5090 · vLLM · FP8" and after[1] != before[1]
    q_after = dict(parse_qsl(urlparse(page.url).query))
    changed = {k for k in set(q_before) | set(q_after) if q_before.get(k) != q_after.get(k)}
    assert changed == {"compare.0.engine", "compare.0.quant"}


def test_csv_round_trip_keeps_each_options_stack(page, app_url):
    open_(page, f"{app_url}/?{FOUR}")
    want = scenario_of(page)
    with page.expect_download() as dl:
        page.get_by_test_id("stDownloadButton").filter(has_text="Scenario CSV").get_by_role("button").click()
    path = ARTIFACTS / "scenario-four-stacks.csv"
    dl.value.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [(r["machine.engine"], r["machine.quant"]) for r in rows] == [
        ("mlx", "mlx-4bit"),
        ("llama.cpp", "q4_k_m"),
        ("vllm", "fp8"),
        ("sglang", "bf16"),
    ]
    open_(page, f"{app_url}/")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.wait_for_url("**compare.2.engine=sglang**")
    settle(page)
    got = scenario_of(page)
    assert got == want and [got.stack(i) for i in range(4)] == [want.stack(i) for i in range(4)]


def test_a_version_1_link_still_opens(page, app_url):
    open_(page, f"{app_url}/?{V1_LINK}")
    text = page.get_by_test_id("stMain").inner_text()
    assert "migrated to version 2" in text
    sc = scenario_of(page)  # the address bar now holds the v=2 link
    assert "v=2" in page.url and [m.hardware for m in sc.options()] == ["apple-m3-ultra-80c", "nvidia-b200"]
    assert sc.workload.concurrency == 12 and sc.stack(1)[:2] == ("q4_k_m", "llama.cpp")  # one stack, as in v1
    assert page.get_by_text("2: 4x B200 · llama.cpp · Q4_K_M").first.is_visible()


def test_screenshots_default_and_presets(browser, app_url):
    """The default page and each preset: every option labelled with its stack, all fit, no error."""
    from planner.webapp.defaults import PRESETS, preset_scenario

    ctx = browser.new_context(viewport={"width": 1400, "height": 2600})
    p = ctx.new_page()
    p.set_default_timeout(120_000)
    open_(p, f"{app_url}/")
    p.wait_for_timeout(1500)
    p.screenshot(path=str(ARTIFACTS / "compare-default.png"), full_page=True)
    for name, pre in PRESETS.items():
        p.get_by_role("button", name=pre["title"]).click()
        settle(p)
        p.wait_for_timeout(1500)
        want = preset_scenario(name)
        if name != "r1":  # the default is the R1 preset: its link is just the version
            p.wait_for_url(f"**model={want.model}**")
        sc = scenario_of(p)
        assert [sc.stack(i) for i in range(len(sc.options()))] == [want.stack(i) for i in range(len(want.options()))]
        assert not p.get_by_test_id("stException").count()
        text = p.get_by_test_id("stMain").inner_text()
        from planner.webapp.compare import preset_caption

        assert "does not fit" not in text and preset_caption(name) in text
        p.get_by_test_id("stSidebar").get_by_test_id("stExpander").first.get_by_text("1: ").first.click()
        p.wait_for_timeout(800)
        out = ARTIFACTS / f"compare-preset-{name}.png"
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
