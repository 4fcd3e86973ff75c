"""Compare (default page): 1-6 machine options for one model, quantization, engine and workload."""

import math

import pandas as pd
import streamlit as st

from app_pages import compare_charts, ui
from planner.errors import CSVError
from planner.glossary import HELP
from planner.webapp import compare as cmp
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

cols = st.columns(len(cmp.PRESETS))
for col, (name, p) in zip(cols, cmp.PRESETS.items()):
    if col.button(
        p["title"],
        key=f"preset:{name}",
        icon=":material/hub:",
        width="stretch",
        help=cmp.preset_caption(name) + " (replaces the scenario; the address bar keeps a link to it)",
    ):
        ui.set_scenario(cmp.preset_scenario(name))
        st.session_state[ui.WARN] = []
        st.rerun()
preset = cmp.preset_of(sc)
if preset:
    st.info(f"**{cmp.preset_caption(preset)}.** {cmp.PRESETS[preset]['note']}", icon=":material/info:")

bar = st.empty()


def _progress(k, n):
    if n > 1:
        bar.progress(k / n, text=f"simulating option {k} of {n}")


results = ui.evaluate(sc, _progress)
bar.empty()
labels = [r["label"] for r in results]
wl = sc.workload
load = vd.load_text(wl)
verdict = vd.verdict(results, sc.slo, load, wl.concurrency if wl.arrival == "closed" else None)
(st.success if verdict["ok"] else st.error)(verdict["sentence"], icon=":material/gavel:")
for name, t in verdict["tight"]:
    st.warning(f"{name}: {t}", icon=":material/warning:")


@st.cache_data(max_entries=64, show_spinner=False)
def chart_specs(key: str, ttft_s: float | None, tpot_ms: float | None, _results: list[dict]) -> dict:
    """Vega-Lite specs of the page's charts (compare_charts: plain dicts, the same spec when only the data
    changes, so the browser swaps the data in place), cached by the scenario (`key`)."""
    return compare_charts.page_charts(_results, ttft_s, tpot_ms)


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


@st.cache_data(max_entries=64, show_spinner=False)
def summary_rows(key: str, _results: list[dict], _slo) -> list[dict]:
    """cmp.summary_rows, cached by `key` (the scenario and which options failed)."""
    return cmp.summary_rows(_results, _slo)


@st.cache_data(max_entries=64, show_spinner=False)
def summary_table(key: str, _rows: list[dict]) -> None:
    """Draws the summary table; cached by `key` (the scenario and which options failed): a re-run of the same
    scenario replays the element instead of building the frame and its formats again."""
    df = pd.DataFrame(_rows)
    for c, unit in (("ttft_p95_ms", 1e-3), ("tpot_p95_ms", 1e-3), ("ttft_p50_ms", 1e-3), ("tpot_p50_ms", 1e-3)):
        df[c.replace("_ms", "")] = [
            vd.fmt_duration(x * unit) if x is not None and not math.isnan(x) else "—" for x in df[c]
        ]
    df["meets"] = ["✓ meets" if x else "✗" for x in df["meets_target"]]
    for c, fmt in (("prefill_tok_s", ",.0f"), ("decode_tok_s", ",.1f")):  # a speed with its 80% band: "52 (44-61)"
        df[c] = [
            compare_charts.band_text(v, [lo, hi], fmt) if compare_charts.ok_number(v) else "—"
            for v, lo, hi in zip(df[c], df[f"{c}_low"], df[f"{c}_high"])
        ]
    for c in ("price_usd", "usd_per_month", "usd_per_user_month", "usd_per_mtok"):  # None -> NaN: shown as —
        df[c] = pd.to_numeric(df[c], errors="coerce")
    df["price_flag"] = [
        "⚠ low confidence" if isinstance(x, str) and x else ""  # NaN: no weak part
        for x in df["price_low_confidence"]
    ]
    show = [
        "machine",
        "meets",
        "verdict",
        "ttft_p95",
        "tpot_p95",
        "goodput",
        "price_usd",
        "price_flag",
        "usd_per_month",
        "usd_per_user_month",
        "usd_per_mtok",
        "fits",
        "capacity",
        "memory_used_share",
        "nodes",
        "link",
        "parallel",
        "offload",
        "prefill_tok_s",
        "decode_tok_s",
        "throughput_tok_s",
        "ttft_p50",
        "tpot_p50",
        "power_max_w",
        "tokens_per_joule",
    ]
    FORMATS = {
        "nodes": "{:.0f}",
        "memory_total_gb": "{:,.1f}",
        "memory_usable_gb": "{:,.1f}",
        "throughput_tok_s": "{:,.1f}",
        "ttft_p50_ms": "{:,.0f}",
        "ttft_p95_ms": "{:,.0f}",
        "tpot_p50_ms": "{:,.1f}",
        "tpot_p95_ms": "{:,.1f}",
        "goodput": "{:.0%}",
        "memory_used_share": "{:.0%}",
        "power_max_w": "{:,.0f}",
        "price_usd": "${:,.0f}",
        "usd_per_mtok": "${:,.2f}",
        "tokens_per_joule": "{:.3f}",
        "usd_per_month": "${:,.0f}",
        "usd_per_user_month": "${:,.0f}",
    }
    shown = df[show].copy()
    for c in FORMATS:  # number columns: None (no sourced figure) as NaN, which the table shows as —, not "None"
        if c in shown:
            shown[c] = pd.to_numeric(shown[c], errors="coerce")
    for c in ("machine", "link", "parallel", "offload", "verdict", "capacity"):  # text columns: an empty cell reads —
        shown[c] = shown[c].astype(object).where(shown[c].notna(), "—")
    table = shown.style.format({k: v for k, v in FORMATS.items()}, na_rep="—").format(
        na_rep="—", subset=[c for c in show if c not in FORMATS and c != "fits"]
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "machine": st.column_config.TextColumn("machine option · engine · quantization", width="medium"),
            "meets": st.column_config.TextColumn("meets target", help=HELP["meets"]),
            "verdict": st.column_config.TextColumn("why", width="medium"),
            "ttft_p95": st.column_config.TextColumn("first token p95", help=HELP["ttft"]),
            "tpot_p95": st.column_config.TextColumn("per token p95", help=HELP["tpot"]),
            "ttft_p50": st.column_config.TextColumn("first token p50", help=HELP["ttft"]),
            "tpot_p50": st.column_config.TextColumn("per token p50", help=HELP["tpot"]),
            "usd_per_month": st.column_config.NumberColumn("$/month", help="(price + energy over the years) / months"),
            "usd_per_user_month": st.column_config.NumberColumn(
                "$/person/month", help="$/month / people (closed loop)"
            ),
            "nodes": st.column_config.NumberColumn("nodes", help="machines per replica joined by the link"),
            "link": st.column_config.TextColumn("link"),
            "parallel": st.column_config.TextColumn("split", help="tp / pp / ep over all devices (predict's choice)"),
            "offload": st.column_config.TextColumn("offload", width="medium"),
            "fits": st.column_config.CheckboxColumn("fits"),
            "capacity": st.column_config.TextColumn("memory", help=cmp.CAPACITY_HELP),
            "memory_used_share": st.column_config.NumberColumn(
                "memory used",
                help="memory the option needs (weights, KV cache, other) / the memory it may use (all devices "
                "together, less the runtime's reserve or the macOS GPU limit)",
            ),
            "price_flag": st.column_config.TextColumn(
                "price source",
                help="⚠ low confidence: a part of this price rests on a weak source (no vendor list price, "
                "a third-party estimate); the reason is under 'Sources and accuracy of each option'. "
                "Enter your quote to replace it.",
            ),
            "prefill_tok_s": st.column_config.TextColumn(
                "prefill tok/s", help="single stream (predict), with its 80% band"
            ),
            "decode_tok_s": st.column_config.TextColumn(
                "decode tok/s", help="single stream (predict), with its 80% band"
            ),
            "throughput_tok_s": st.column_config.NumberColumn("sim. tok/s"),
            "goodput": st.column_config.NumberColumn("on target", help=HELP["goodput"]),
            "power_max_w": st.column_config.NumberColumn("max power W"),
            "price_usd": st.column_config.NumberColumn(
                "price $", help="whole machine: cards + chassis (CPU, RAM, PSU, networking), or your quote"
            ),
            "usd_per_mtok": st.column_config.NumberColumn("$/Mtok (derived)"),
            "tokens_per_joule": st.column_config.NumberColumn(
                "tokens/J", help="output tokens per joule at the load (device power, before PUE)"
            ),
        },
    )


# the cache key of what the page draws from the results: the scenario, and which options failed (a stopped
# simulation leaves an option without results; the same scenario finished later must not replay it)
draw_key = sc.model_dump_json() + "|" + "".join("x" if r.get("error") else "." for r in results)
rows = summary_rows(draw_key, results, sc.slo)
st.subheader("Summary")
st.caption(
    f"Simulated: {wl.requests or 1000:,} requests per option at {load}, seed {wl.seed}. "
    "Single-stream prefill and decode from `predict`; throughput and percentiles from the simulator; "
    "$/Mtok is **derived** (see the cost assumptions in the sidebar). An empty cell (—) has no value: not "
    "simulated, or no sourced figure."
)
summary_table(draw_key, rows)


VIEWS = ("Memory", "Cost", "Single-stream speed", "Latency", "Batch and KV cache over time")


@st.fragment
def charts(key: str, results: list[dict], sc) -> None:
    """The charts, one view at a time (tracked tabs: only the open tab is drawn, and switching tabs re-runs this
    fragment alone)."""
    specs = chart_specs(key, sc.slo.ttft_p95_s, sc.slo.tpot_p95_ms, results)
    tabs = st.tabs(VIEWS, key="compare_view", on_change="rerun")
    if tabs[0].open:
        with tabs[0]:
            st.vega_lite_chart(specs["memory"], width="stretch")
            ok0 = next((r for r in results if r.get("prompt")), {})
            st.caption(
                f"Memory against the usable limit. One sequence of {ok0.get('prompt', '?')} + {ok0.get('gen', '?')} "
                "tokens; the KV cache grows with each concurrent sequence. Black tick: usable memory (GPU runtime "
                "reserve, or the macOS GPU limit on a Mac)."
            )
    if tabs[1].open:
        with tabs[1]:
            st.vega_lite_chart(specs["cost"], width="stretch")
            st.caption(
                f"Cost per million output tokens: {cmp.COST_FORMULA}; at ${sc.cost.usd_per_kwh:g}/kWh, PUE "
                f"{sc.cost.pue:g}, {sc.cost.amortize_years:g} years, serving this load {sc.cost.utilization:.0%} "
                "of the time (the same cost model as the Capacity plan). GPU cards are priced with the machine "
                "around them (a workstation or 8-GPU server chassis from the catalog, see Sources) or your quote."
            )
    if tabs[2].open:
        with tabs[2]:
            st.vega_lite_chart(specs["speed"], width="stretch")
    for tab, (left, right) in ((tabs[3], ("ttft", "tpot")), (tabs[4], ("batch", "kv"))):
        if tab.open:
            with tab:
                c1, c2 = st.columns(2)
                c1.vega_lite_chart(specs[left], width="stretch")
                c2.vega_lite_chart(specs[right], width="stretch")


st.subheader("Charts")
charts(draw_key, results, sc)

sources = st.expander("Sources and accuracy of each option", key="panel:sources", on_change="rerun")
if sources.open:  # tracked: drawn only while open
    parts = []
    for r in results:
        if r["error"]:
            continue
        parts.append(f"**{r['label']}** — {r.get('name', '')}")
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
        parts.append("\n".join(lines))
    sources.markdown("\n\n".join(parts))  # one element for all options

st.subheader("Share and files")
q = ui.share_query(sc)
url = ui.absolute_url(q)
st.markdown("Link to this scenario (the address bar holds the same; copy it with the button at the right of the box):")
st.code(url, language=None, wrap_lines=True)
st.download_button(
    "One-page summary (Markdown)",
    lambda: cmp.markdown_summary(cat, sc, results, url),  # made on the click (deferred), not on every run
    "summary.md",
    "text/markdown",
    key="dl_markdown",
    icon=":material/description:",
    help="the scenario, the table, the assumptions, and each option's sources and accuracy",
)
c1, c2, c3 = st.columns(3)
c1.download_button(
    "Scenario CSV",
    lambda: scenario_csv(sc),
    "scenario.csv",
    "text/csv",
    key="dl_scenario",
    help="one row per machine option, columns named as in the share link",
)
c2.download_button("Summary CSV", lambda: write_table(rows), "summary.csv", "text/csv", key="dl_summary")
c3.download_button(
    "Per-request CSV", lambda: write_table(cmp.request_rows(results)), "requests.csv", "text/csv", key="dl_requests"
)
up = st.file_uploader("Restore a scenario from a scenario CSV", type=["csv"], key="upload")
if up is not None and st.session_state.get("_uploaded") != up.file_id:
    st.session_state["_uploaded"] = up.file_id
    notes: list[str] = []
    try:
        new = read_scenario_csv(up.getvalue(), ui.catalog(), notes)
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
