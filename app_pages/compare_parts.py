"""The Compare page's parts that are cached by what they show: the summary table and the chart views.

Defined here, not in the page script, so that their cache wrappers are made once (a page script runs anew on
every re-run).  `key` is the page's draw key: the scenario, and which options failed (a stopped simulation
leaves an option without results; the same scenario finished later must not replay it).  A cached function
that draws replays its elements on a hit: no frame, format or chart data is built again."""

import math

import streamlit as st

from app_pages import compare_charts
from planner.glossary import HELP
from planner.webapp import compare as cmp
from planner.webapp import verdict as vd


@st.cache_data(max_entries=64, show_spinner=False)
def chart_specs(key: str, ttft_s: float | None, tpot_ms: float | None, _results: list[dict]) -> dict:
    """Vega-Lite specs of the page's charts (compare_charts: plain dicts, the same spec when only the data
    changes, so the browser swaps the data in place), cached by the scenario (`key`)."""
    return compare_charts.page_charts(_results, ttft_s, tpot_ms)


@st.cache_data(max_entries=256, show_spinner=False)
def _draw(key: str, name: str, _spec: dict) -> None:
    """One chart of the page (replayed on a hit: Streamlit does not convert its datasets again)."""
    st.vega_lite_chart(_spec, width="stretch")


@st.cache_data(max_entries=64, show_spinner=False)
def verdict(key: str, _results: list[dict], _slo, load: str, concurrency: int | None) -> dict:
    """vd.verdict (the page's sentence: percentiles over every simulated request), cached by `key`."""
    return vd.verdict(_results, _slo, load, concurrency)


@st.cache_data(max_entries=64, show_spinner=False)
def summary_rows(key: str, _results: list[dict], _slo) -> list[dict]:
    """cmp.summary_rows, cached by `key` (the scenario and which options failed)."""
    return cmp.summary_rows(_results, _slo)


@st.cache_data(max_entries=64, show_spinner=False)
def summary_table(key: str, _rows: list[dict]) -> None:
    """Draws the summary table; cached by `key` (the scenario and which options failed): a re-run of the same
    scenario replays the element instead of building the frame and its formats again."""
    import pandas as pd  # heavy (0.5 s): imported on the first table, after the page's first parts are drawn

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
    for c in ("price_usd", "usd_per_month", "usd_per_user_month", "usd_per_mtok", "usd_per_mtok_energy"):  # None: —
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
        "usd_per_mtok_energy",
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
        "usd_per_mtok_energy": "${:,.2f}",
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
    # Streamlit's table draws a missing number as "None" whatever the Styler says: a number column with a
    # missing cell (an unpriced option's $ columns) is written as text, "—" where missing; a full one stays a
    # number (sortable)
    as_text = [c for c in FORMATS if c in shown and shown[c].isna().any()]
    for c in as_text:
        shown[c] = [FORMATS[c].format(v) if pd.notna(v) else "—" for v in shown[c]]
    as_text = _mark_energy_only(df, shown, as_text)
    numbers = {k: v for k, v in FORMATS.items() if k not in as_text}
    table = shown.style.format(numbers, na_rep="—").format(
        na_rep="—", subset=[c for c in show if c not in numbers and c != "fits"]
    )
    config = _summary_columns()
    for c in as_text:
        if c in config:
            config[c] = st.column_config.TextColumn(config[c].get("label"), help=config[c].get("help"))
    st.dataframe(table, hide_index=True, width="stretch", column_config=config)


def _mark_energy_only(df, shown, as_text: list[str]) -> list[str]:
    """An unpriced option has no $/Mtok (—) and its energy share alone: that cell is marked "energy only", so it
    is not read as a full cost (the column becomes text: added to `as_text`, which is returned)."""
    alone = [math.isnan(full) and not math.isnan(e) for full, e in zip(df["usd_per_mtok"], df["usd_per_mtok_energy"])]
    if not any(alone):
        return as_text
    shown["usd_per_mtok_energy"] = [
        "—" if math.isnan(e) else f"${e:,.2f}" + (" energy only" if a else "")
        for e, a in zip(df["usd_per_mtok_energy"], alone)
    ]
    return [*dict.fromkeys([*as_text, "usd_per_mtok_energy"])]


def _summary_columns() -> dict:
    """The summary table's column labels and help."""
    return {
        "machine": st.column_config.TextColumn("machine option · engine · quantization", width="medium"),
        "meets": st.column_config.TextColumn("meets target", help=HELP["meets"]),
        "verdict": st.column_config.TextColumn("why", width="medium"),
        "ttft_p95": st.column_config.TextColumn("first token p95", help=HELP["ttft"]),
        "tpot_p95": st.column_config.TextColumn("per token p95", help=HELP["tpot"]),
        "ttft_p50": st.column_config.TextColumn("first token p50", help=HELP["ttft"]),
        "tpot_p50": st.column_config.TextColumn("per token p50", help=HELP["tpot"]),
        "usd_per_month": st.column_config.NumberColumn("$/month", help="(price + energy over the years) / months"),
        "usd_per_user_month": st.column_config.NumberColumn("$/person/month", help="$/month / people (closed loop)"),
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
        "decode_tok_s": st.column_config.TextColumn("decode tok/s", help="single stream (predict), with its 80% band"),
        "throughput_tok_s": st.column_config.NumberColumn("sim. tok/s"),
        "goodput": st.column_config.NumberColumn("on target", help=HELP["goodput"]),
        "power_max_w": st.column_config.NumberColumn("max power W"),
        "price_usd": st.column_config.NumberColumn(
            "price $", help="whole machine: cards + chassis (CPU, RAM, PSU, networking), or your quote"
        ),
        "usd_per_mtok": st.column_config.NumberColumn(
            "$/Mtok (derived)", help=HELP["usd_per_mtok"] + ". — where the option has no sourced price"
        ),
        "usd_per_mtok_energy": st.column_config.NumberColumn(
            "of which energy $/Mtok",
            help="the energy share of $/Mtok. An option without a sourced price has no $/Mtok (—) and only "
            "this share, marked 'energy only': not a full cost, not comparable with the $/Mtok of priced options",
        ),
        "tokens_per_joule": st.column_config.NumberColumn(
            "tokens/J", help="output tokens per joule at the load (device power, before PUE)"
        ),
    }


VIEWS = ("Memory", "Cost", "Single-stream speed", "Latency", "Batch and KV cache over time")


@st.fragment
def charts(key: str, results: list[dict], sc) -> None:
    """The charts, one view at a time (tracked tabs: only the open tab is drawn, and switching tabs re-runs this
    fragment alone)."""
    specs = chart_specs(key, sc.slo.ttft_p95_s, sc.slo.tpot_p95_ms, results)
    tabs = st.tabs(VIEWS, key="compare_view", on_change="rerun")
    if tabs[0].open:
        with tabs[0]:
            _draw(key, "memory", specs["memory"])
            ok0 = next((r for r in results if r.get("prompt")), {})
            st.caption(
                f"Memory against the usable limit. One sequence of {ok0.get('prompt', '?')} + {ok0.get('gen', '?')} "
                "tokens; the KV cache grows with each concurrent sequence. Black tick: usable memory (GPU runtime "
                "reserve, or the macOS GPU limit on a Mac)."
            )
    if tabs[1].open:
        with tabs[1]:
            _draw(key, "cost", specs["cost"])
            st.caption(
                f"Cost per million output tokens: {cmp.COST_FORMULA}; at ${sc.cost.usd_per_kwh:g}/kWh, PUE "
                f"{sc.cost.pue:g}, {sc.cost.amortize_years:g} years, serving this load {sc.cost.utilization:.0%} "
                "of the time (the same cost model as the Capacity plan). GPU cards are priced with the machine "
                "around them (a workstation or 8-GPU server chassis from the catalog, see Sources) or your quote."
            )
    if tabs[2].open:
        with tabs[2]:
            _draw(key, "speed", specs["speed"])
    for tab, (left, right) in ((tabs[3], ("ttft", "tpot")), (tabs[4], ("batch", "kv"))):
        if tab.open:
            with tab:
                for col, name in zip(st.columns(2), (left, right)):
                    with col:
                        _draw(key, name, specs[name])
