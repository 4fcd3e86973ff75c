"""Layout in Chromium (issue 11): every page st.navigation lists, at 1280x800 and 1920x1080, without an
exception or a box wider than the page; the share link wraps inside its box; the Tab key moves focus into the
page's inputs.  Screenshots go to test-artifacts/size-<w>x<h>-<page>.png (the viewport) and
size-<w>x<h>-<page>-full.png (the whole page)."""

import re
from urllib.parse import urlencode

from planner.sim.scenario import parse_scenario
from planner.webapp.links import encode_params
from tests.e2e.helpers import ARTIFACTS, REPO, settle
from tests.e2e.test_buyer import BUYER

SIZES = ((1280, 800), (1920, 1080))


def pages() -> list[tuple[str, str]]:
    """(url path, title) of every page app.py's st.navigation lists (the default page has path '')."""
    src = (REPO / "app.py").read_text()
    out = []
    for m in re.finditer(r"st\.Page\((.*?)\)(?=,\s*(?:st\.Page|\]))", src, re.S):
        args = m.group(1)
        title = re.search(r'title="([^"]+)"', args).group(1)
        path = re.search(r'url_path="([^"]+)"', args)
        out.append(("" if "default=True" in args else path.group(1) if path else "", title))
    return out


def _overflow(p) -> list[str]:
    """Elements of the main area whose right edge runs past the viewport (boxes that overflow the page)."""
    return p.evaluate("""() => {
        const w = document.documentElement.clientWidth, bad = [];
        const kinds = ['stCode', 'stAlert', 'stMarkdown', 'stVegaLiteChart', 'stDataFrame'];
        const sel = kinds.map(k => '[data-testid="stMain"] [data-testid="' + k + '"]').join(', ');
        for (const el of document.querySelectorAll(sel)) {
            const r = el.getBoundingClientRect();
            if (r.width > 0 && r.right > w + 1)
                bad.push(el.getAttribute('data-testid') + ' ' + Math.round(r.right) + '>' + w);
        }
        return bad; }""")


def test_every_page_lists_in_navigation():
    names = [t for _, t in pages()]
    assert len(names) >= 8 and names[0] == "Compare"
    assert {"Load sweep", "Capacity plan", "Catalog", "Accuracy", "Your measurements", "Claims", "Glossary"} <= set(
        names
    )


def test_screenshots_of_every_page_at_two_sizes(browser, app_url):
    q = urlencode(encode_params(parse_scenario(BUYER)))
    problems = []
    for w, h in SIZES:
        ctx = browser.new_context(viewport={"width": w, "height": h})
        p = ctx.new_page()
        p.set_default_timeout(300_000)
        for path, title in pages():
            name = path or "compare"
            p.goto(f"{app_url}/{path}?{q}")
            settle(p)
            p.wait_for_timeout(1500)  # let Vega finish drawing
            assert not p.get_by_test_id("stException").count(), f"{title}: exception on the page"
            if _overflow(p):
                problems.append(f"{title} at {w}x{h}: {_overflow(p)}")
            out = ARTIFACTS / f"size-{w}x{h}-{name}.png"
            p.screenshot(path=str(out))
            assert out.stat().st_size > 5_000
            # the whole page: Streamlit scrolls its main area, not the document, so grow the viewport to it
            tall = p.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
            p.set_viewport_size({"width": w, "height": max(h, min(int(tall), 12_000))})
            p.wait_for_timeout(1500)
            if _overflow(p):
                problems.append(f"{title} at {w} wide, whole page: {_overflow(p)}")
            p.screenshot(path=str(ARTIFACTS / f"size-{w}x{h}-{name}-full.png"))
            p.set_viewport_size({"width": w, "height": h})
        ctx.close()
    assert not problems, problems


def test_share_link_wraps_inside_its_box(browser, app_url):
    """The long share link wraps: its text is no wider than the main column and nothing scrolls sideways."""
    q = urlencode(encode_params(parse_scenario(BUYER)))
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    p = ctx.new_page()
    p.set_default_timeout(300_000)
    p.goto(f"{app_url}/?{q}")
    settle(p)
    link = p.get_by_test_id("stMain").get_by_role("link", name=f"{app_url}/?v=2&").first
    link.scroll_into_view_if_needed()
    box = link.locator("xpath=ancestor::*[@data-testid='stMarkdownContainer'][1]")  # the text holding the link
    dims = link.evaluate("""el => { const box = el.closest('[data-testid="stMarkdownContainer"]'); const main =
        document.querySelector('[data-testid="stMainBlockContainer"]') || document.body;
        const r = el.getBoundingClientRect(), m = main.getBoundingClientRect();
        return {scroll: box.scrollWidth, client: box.clientWidth, right: r.right, mainRight: m.right,
                height: r.height}; }""")
    assert len(link.inner_text()) > 300  # a long link: it would overflow unwrapped
    assert dims["scroll"] <= dims["client"] + 1, dims  # no horizontal scrolling inside the box
    assert dims["right"] <= dims["mainRight"] + 1, dims  # the box stays inside the main column
    assert dims["height"] > 40, dims  # wrapped onto several lines
    box.screenshot(path=str(ARTIFACTS / "share-link-1280.png"))
    ctx.close()


def test_tab_moves_focus_into_the_page_inputs(page, app_url):
    """Keyboard use: pressing Tab from the top of the page walks through focusable widgets and reaches the
    sidebar's and the main area's number inputs and select boxes."""
    page.goto(app_url)
    settle(page)
    page.evaluate("() => { if (document.activeElement) document.activeElement.blur(); }")
    seen: list[str] = []
    for _ in range(60):
        page.keyboard.press("Tab")
        seen.append(
            page.evaluate("""() => { const a = document.activeElement; if (!a) return '';
            const w = a.closest('[data-testid^="st"]');
            return (a.tagName + ':' + (a.getAttribute('aria-label') || a.getAttribute('type') || '') + '@'
                    + (w ? w.getAttribute('data-testid') : '')); }""")
        )
    inputs = [s for s in seen if s.startswith("INPUT:")]
    assert len(set(inputs)) >= 3, seen  # focus moved through several different inputs
    assert any("stNumberInput" in s for s in seen), seen
    assert any("stSelectbox" in s for s in seen), seen
    assert len(set(seen)) > 10, seen  # it moves on, it does not stick on one element


def test_long_hardware_names_are_not_cut_in_the_sidebar(browser, app_url):
    """The Capacity plan's hardware chips show the whole name (they wrap) at 1280x800."""
    q = urlencode(encode_params(parse_scenario(BUYER)))
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    p = ctx.new_page()
    p.set_default_timeout(300_000)
    p.goto(f"{app_url}/capacity_plan?{q}")
    settle(p)
    cut = p.evaluate("""() => [...document.querySelectorAll('[data-testid="stSidebar"] [data-tag] > span[title]')]
        .filter(s => s.scrollWidth > s.clientWidth + 1).map(s => s.title)""")
    names = p.evaluate("""() => [...document.querySelectorAll('[data-testid="stSidebar"] [data-tag] > span[title]')]
        .map(s => s.title)""")
    assert any(n.startswith("Apple M3 Ultra (32-core CPU") for n in names), names
    assert not cut, cut
    ctx.close()
