"""Compare (default page): 1-6 machine options for one model, quantization, engine and workload."""

import time

import streamlit as st

from app_pages import compare_parts as parts
from app_pages import ui
from planner.errors import CSVError
from planner.webapp import compare as cmp
from planner.webapp import defaults as dflt
from planner.webapp import verdict as vd
from planner.webapp.csvio import read_scenario_csv, scenario_csv, write_table

sc = ui.editor(ui.init_state(), "compare")
cat = ui.scenario_cat(sc)
m = cat.models.get(sc.model)
st.title("Compare machines")
st.caption(
    f"{m.name if m else sc.model}, each machine with its own engine and quantization — does it fit, how "
    "fast, at what cost. Edit the scenario in the sidebar; the address bar always holds a link to it."
)
ui.show_link_warnings()

row = st.container(horizontal=True)  # (one block, not a column per button: fewer elements for the browser to draw)
for name, p in dflt.PRESETS.items():
    if row.button(
        p["title"],
        key=f"preset:{name}",
        icon=":material/hub:",
        width="stretch",
        help=cmp.preset_caption(name) + " (replaces the scenario; the address bar keeps a link to it)",
    ):
        ui.set_scenario(dflt.preset_scenario(name))
        st.session_state[ui.WARN] = []
        st.rerun()
preset = dflt.preset_of(sc)
if preset:
    st.info(f"**{cmp.preset_caption(preset)}.** {dflt.PRESETS[preset]['note']}", icon=":material/info:")

# the results (verdict, summary, charts, sources) and, below them, the share section: the share section needs no
# results, so it is drawn first (on a first load or a cache miss the browser loads the buttons' scripts while the
# options are simulated; an uploaded CSV restores its scenario before any simulation)
top, bottom = st.container(), st.container()
with bottom:
    q = ui.share_query(sc)
    url = ui.absolute_url(q)
    # the heading, its text and the link in one element; a link, not a code box: the code box's syntax highlighter
    # was the largest script a first load ran (about 1 s of the browser's CPU here)
    st.markdown(
        "### Share and files\n\nLink to this scenario (the address bar holds the same; right-click it to copy it, or "
        f"open the box below for a copy button):\n\n<{url}>"
    )
    # the code box with its copy button only on demand (tracked: drawn while open, so its script loads then)
    copy = st.expander("Copy the link", key="panel:copylink", on_change="rerun")
    if copy.open:
        copy.code(url, language=None, wrap_lines=True)
    st.download_button(
        "One-page summary (Markdown)",
        lambda: cmp.markdown_summary(cat, sc, results, url),  # made on the click (deferred), not on every run
        "summary.md",
        "text/markdown",
        key="dl_markdown",
        on_click="ignore",  # a download re-runs nothing
        icon=":material/description:",
        help="the scenario, the table, the assumptions, and each option's sources and accuracy",
    )
    row = st.container(horizontal=True)
    row.download_button(
        "Scenario CSV",
        lambda: scenario_csv(sc),
        "scenario.csv",
        "text/csv",
        key="dl_scenario",
        on_click="ignore",
        help="one row per machine option, columns named as in the share link",
    )
    row.download_button(
        "Summary CSV", lambda: write_table(rows), "summary.csv", "text/csv", key="dl_summary", on_click="ignore"
    )
    row.download_button(
        "Per-request CSV",
        lambda: write_table(cmp.request_rows(results)),
        "requests.csv",
        "text/csv",
        key="dl_requests",
        on_click="ignore",
    )
    up = st.file_uploader("Restore a scenario from a scenario CSV", type=["csv"], key="upload")
    if up is not None and st.session_state.get("_uploaded") != up.file_id:
        st.session_state["_uploaded"] = up.file_id
        notes: list[str] = []
        try:
            new = read_scenario_csv(up.getvalue(), ui.catalog(), notes, ui.server_budget().upload_bytes)
        except CSVError as exc:
            st.session_state["_upload_error"] = f"{up.name}: {exc}. Nothing was changed."
        else:
            st.session_state["_upload_error"] = None
            st.session_state["_upload_ok"] = f"Restored the scenario from {up.name}." + "".join(f" {n}." for n in notes)
            ui.set_scenario(new)
            st.rerun()
    if st.session_state.get("_upload_error"):
        st.error(st.session_state["_upload_error"])
    elif st.session_state.get("_upload_ok"):
        st.success(st.session_state.pop("_upload_ok"))

with top:
    bar = st.empty()

    started, drawn = time.monotonic(), []

    def _progress(k, n):
        # a bar only while the run is slow: cached or quick options would draw it and take it away at once
        if 1 < n and k < n and time.monotonic() - started > 0.25:
            bar.progress(k / n, text=f"simulating option {k} of {n}")
            drawn.append(k)

    results = ui.evaluate(sc, _progress)
    if drawn:  # else the placeholder is still empty: no message to send
        bar.empty()
    labels = [r["label"] for r in results]
    wl = sc.workload
    load = vd.load_text(wl)
    # the cache key of what the page draws from the results: the scenario, and which options failed (a stopped
    # simulation leaves an option without results; the same scenario finished later must not replay it)
    draw_key = sc.model_dump_json() + "|" + "".join("x" if r.get("error") else "." for r in results)
    verdict = parts.verdict(draw_key, results, sc.slo, load, wl.concurrency if wl.arrival == "closed" else None)
    (st.success if verdict["ok"] else st.error)(verdict["sentence"], icon=":material/gavel:")
    for name, t in verdict["tight"]:
        st.warning(f"{name}: {t}", icon=":material/warning:")

    for r in results:
        if r["error"]:
            st.error(r["error"])
        elif not r.get("fits"):
            st.warning(f"**{r['label']} does not fit**: {r['reason']}")
        elif r.get("sim_error"):
            st.warning(f"{r['label']}: {r['sim_error']}")
        elif (r.get("sim") or {}).get("rejected"):
            s_ = r["sim"]
            st.warning(
                f"{r['label']}: {s_['rejected']:,} of {s_['requests']:,} requests rejected: "
                + "; ".join(s_.get("rejection_reasons") or [])
            )
        for w in (r.get("sim") or {}).get("warnings", []):  # settings that starve the workload
            st.warning(f"{r['label']}: {w}")
    formats = [f"{r['label']}: {r['format']['text']}" for r in results if r.get("format")]
    if formats:  # each option's format with its quality note, "(emulated)" where the support matrix says so
        st.caption("  \n".join(formats))

    rows = parts.summary_rows(draw_key, results, sc.slo)
    st.subheader("Summary")
    st.caption(
        f"Simulated: {wl.requests or 1000:,} requests per option at {load}, seed {wl.seed}. "
        "Single-stream prefill and decode from `predict`; throughput and percentiles from the simulator; "
        "$/Mtok is **derived** (see the cost assumptions in the sidebar). An empty cell (—) has no value: not "
        "simulated, or no sourced figure."
    )
    parts.summary_table(draw_key, rows)

    st.subheader("Charts")
    parts.charts(draw_key, results, sc)

    sources = st.expander("Sources and accuracy of each option", key="panel:sources", on_change="rerun")
    if sources.open:  # tracked: drawn only while open
        blocks = []
        for r in results:
            if r["error"]:
                continue
            blocks.append(f"**{r['label']}** — {r.get('name', '')}")
            price = r.get("price")
            lines = [
                f"- memory bandwidth {r['bandwidth_gbs']:g} GB/s: {ui.linkify(r['bandwidth_source'])}",
                f"- max power {r['power_max_w']:g} W (all devices): {ui.linkify(r['power_source'])}",
                (
                    f"- price ${price['usd']:,.0f} per device ({price['kind']}, {price['date']}): "
                    f"{ui.linkify(price['source'])}"
                )
                if price
                else "- price: no sourced price for this configuration",
                *(
                    f"- {p['what']}: ${p['usd']:,.0f} ({p['kind']}"
                    + (f", {p['date']}" if p.get("date") else "")
                    + f"): {ui.linkify(p['source'])}"
                    + (
                        f" — ⚠ low confidence: {p.get('confidence_note') or 'weak source'}"
                        if p.get("confidence") == "low"
                        else ""
                    )
                    for p in r.get("capex_parts") or []
                ),
                *([f"- ⚠ {r['capex_note']}"] if r.get("capex_note") else []),
                f"- calibration `{r.get('calibration')}`: see the Accuracy page for how predictions of this "
                "hardware and engine compare with public measurements",
            ]
            blocks.append("\n".join(lines))
        sources.markdown("\n\n".join(blocks))  # one element for all options
