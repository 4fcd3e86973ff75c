"""The Compare page's parts that are cached by what they show: the summary table and the chart views.

Defined here, not in the page script, so that their cache wrappers are made once (a page script runs anew on
every re-run).  `key` is the page's draw key: the scenario, and which options failed (a stopped simulation
leaves an option without results; the same scenario finished later must not replay it).  A cached function
that draws replays its elements on a hit: no frame, format or chart data is built again."""

import math

import numpy as np
import pyarrow as pa
import streamlit as st

from app_pages import compare_charts
from planner.glossary import HELP
from planner.webapp import compare as cmp
from planner.webapp import verdict as vd


@st.cache_resource(max_entries=64, show_spinner=False)  # the specs themselves on a hit (not unpickled); read only
def chart_specs(key: str, ttft_s: float | None, tpot_ms: float | None, _results: list[dict]) -> dict:
    """Vega-Lite specs of the page's charts (compare_charts: plain dicts, the same spec when only the data
    changes, so the browser swaps the data in place), cached by the scenario (`key`)."""
    return compare_charts.page_charts(_results, ttft_s, tpot_ms)


def _buffers(values: list):
    """An Arrow array of `values` (None: missing) made from its buffers, where every value is a bool, or every
    one an int, or every one a number, or every one a text (or None); else None.  pyarrow's own conversion of
    Python values (`pa.array`) imports pandas to look for pandas objects: 0.6-1.1 s of a server's first session
    here, on the page's first load, where nothing else needs pandas."""
    n = len(values)
    known = [v for v in values if v is not None]
    valid = None if len(known) == n else pa.py_buffer(np.packbits([v is not None for v in values], bitorder="little"))
    kinds = {bool if isinstance(v, bool) else int if isinstance(v, int) else type(v) for v in known}
    try:
        if not known:
            return pa.nulls(n)
        if kinds == {bool}:
            data = np.packbits([bool(v) for v in values], bitorder="little")
            return pa.Array.from_buffers(pa.bool_(), n, [valid, pa.py_buffer(data)], n - len(known))
        if kinds <= {int, float}:
            dtype = np.int64 if kinds == {int} else np.float64
            data = np.array([0 if v is None else v for v in values], dtype=dtype)
            return pa.Array.from_buffers(pa.from_numpy_dtype(dtype), n, [valid, pa.py_buffer(data)], n - len(known))
        if kinds == {str}:
            text = [b"" if v is None else v.encode() for v in values]
            offsets = np.zeros(n + 1, dtype=np.int32)
            np.cumsum([len(t) for t in text], out=offsets[1:])
            data = pa.py_buffer(b"".join(text))
            return pa.Array.from_buffers(pa.string(), n, [valid, pa.py_buffer(offsets), data], n - len(known))
    except OverflowError:  # an int beyond 64 bits, text beyond 2 GB
        return None
    return None


def arrow_table(cols: dict[str, list], types: dict | None = None):
    """Columns (name -> values) as an Arrow table without pandas (_buffers), a column of no value of the type
    `types` names for it; a column _buffers cannot make is converted by pyarrow."""
    arrays = []
    for name, values in cols.items():
        a = _buffers(values)
        if a is None:
            a = pa.array(values)
        elif (types or {}).get(name) is not None and pa.types.is_null(a.type):
            a = pa.nulls(len(values), types[name])  # type: ignore[index]
        arrays.append(a)
    return pa.Table.from_arrays(arrays, names=list(cols))


def _arrow(rows: list[dict]):
    """A chart's dataset (a list of rows) as an Arrow table, column by column (Streamlit would convert the rows
    through pandas); the rows as they are where a column mixes types."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    if not keys:
        return rows
    try:
        return arrow_table({k: [r.get(k) for r in rows] for k in keys})
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return rows


@st.cache_data(max_entries=256, show_spinner=False)
def _draw(key: str, name: str, _spec: dict) -> None:
    """One chart of the page (replayed on a hit: Streamlit does not convert its datasets again)."""
    spec = dict(_spec, datasets={k: _arrow(v) for k, v in _spec.get("datasets", {}).items()})
    st.vega_lite_chart(spec, width="stretch")


@st.cache_data(max_entries=64, show_spinner=False)
def verdict(key: str, _results: list[dict], _slo, load: str, concurrency: int | None) -> dict:
    """vd.verdict (the page's sentence: percentiles over every simulated request), cached by `key`."""
    return vd.verdict(_results, _slo, load, concurrency)


@st.cache_data(max_entries=64, show_spinner=False)
def summary_rows(key: str, _results: list[dict], _slo) -> list[dict]:
    """cmp.summary_rows, cached by `key` (the scenario and which options failed)."""
    return cmp.summary_rows(_results, _slo)


# the summary table's columns, in order
SHOW = (
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
)
# its number columns: (Streamlit's number format, step: the decimals it shows, the same as Python text for a column
# with a missing cell).  Streamlit formats them in the browser: no pandas Styler, no second table of display values
NUMBERS = {
    "nodes": ("%d", 1, "{:.0f}"),
    "throughput_tok_s": ("localized", 0.1, "{:,.1f}"),
    "goodput": ("percent", 0.01, "{:.0%}"),
    "memory_used_share": ("percent", 0.01, "{:.0%}"),
    "power_max_w": ("localized", 1, "{:,.0f}"),
    "price_usd": ("dollar", 1, "${:,.0f}"),
    "usd_per_month": ("dollar", 1, "${:,.0f}"),
    "usd_per_user_month": ("dollar", 1, "${:,.0f}"),
    "usd_per_mtok": ("dollar", 0.01, "${:,.2f}"),
    "usd_per_mtok_energy": ("dollar", 0.01, "${:,.2f}"),
    "tokens_per_joule": ("%.3f", 0.001, "{:.3f}"),
}


def _number(x) -> float | None:
    """A finite number, or None (no figure: None, NaN, text)."""
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def _column(c: str, col) -> list:
    """Summary column `c`'s values; `col(k)`: field k of every row."""
    if c in ("ttft_p95", "tpot_p95", "ttft_p50", "tpot_p50"):
        return [vd.fmt_duration(x * 1e-3) if _number(x) is not None else "—" for x in col(c + "_ms")]
    if c == "meets":
        return ["✓ meets" if x else "✗" for x in col("meets_target")]
    if c in ("prefill_tok_s", "decode_tok_s"):  # a speed with its 80% band: "52 (44-61)"
        fmt = ",.0f" if c == "prefill_tok_s" else ",.1f"
        return [
            compare_charts.band_text(v, [lo, hi], fmt) if compare_charts.ok_number(v) else "—"
            for v, lo, hi in zip(col(c), col(f"{c}_low"), col(f"{c}_high"))
        ]
    if c == "price_flag":
        return ["⚠ low confidence" if isinstance(x, str) and x else "" for x in col("price_low_confidence")]
    if c in NUMBERS:
        return [_number(x) for x in col(c)]
    if c == "fits":
        return [None if x is None else bool(x) for x in col(c)]
    return ["—" if x is None or x == "" else str(x) for x in col(c)]  # text: an empty cell reads —


def summary_columns(rows: list[dict]) -> tuple[dict[str, list], list[str]]:
    """The summary table's columns (name -> values, in SHOW's order) from cmp.summary_rows, and the number
    columns written as text.  Streamlit's table draws a missing number as "None": a number column with a missing
    cell (an unpriced option's $ columns) is text, "—" where missing; a full one stays a number (sortable).  An
    unpriced option has no $/Mtok (—) and its energy share alone, marked "energy only" (not a full cost)."""
    out = {c: _column(c, lambda k: [r.get(k) for r in rows]) for c in SHOW}
    as_text = [c for c in NUMBERS if None in out[c]]
    alone = [full is None and e is not None for full, e in zip(out["usd_per_mtok"], out["usd_per_mtok_energy"])]
    if any(alone) and "usd_per_mtok_energy" not in as_text:
        as_text.append("usd_per_mtok_energy")
    for c in as_text:
        text = NUMBERS[c][2]
        out[c] = ["—" if v is None else text.format(v) for v in out[c]]
    if any(alone):
        out["usd_per_mtok_energy"] = [
            v + (" energy only" if a else "") for v, a in zip(out["usd_per_mtok_energy"], alone)
        ]
    return out, as_text


@st.cache_data(max_entries=64, show_spinner=False)
def summary_table(key: str, _rows: list[dict]) -> None:
    """Draws the summary table; cached by `key` (the scenario and which options failed): a re-run of the same
    scenario replays the element instead of building the table again.  An Arrow table made here (no pandas: the
    page's first load does not import it for the table)."""
    cols, as_text = summary_columns(_rows)
    config = _summary_columns()
    for c, (fmt, step, _) in NUMBERS.items():
        if c in as_text:
            config[c] = st.column_config.TextColumn(config[c].get("label"), help=config[c].get("help"))
        else:
            config[c] = st.column_config.NumberColumn(
                config[c].get("label"), help=config[c].get("help"), format=fmt, step=step
            )
    table = arrow_table(cols, {"fits": pa.bool_()})  # a checkbox column, also where no option has a value
    # lazy=False: a table of a few rows is sent whole anyway; Streamlit's check for a lazy source imports pandas
    st.dataframe(table, hide_index=True, width="stretch", column_config=config, lazy=False)


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
