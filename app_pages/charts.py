"""Altair charts of the app.  Plain functions from tables (pandas) to charts: no Streamlit here.
Lines carry their option's label at their end and every mark has a tooltip, so the charts read
without a legend hunt."""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from planner.compare import capacity_as_sold

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
MEM_COLORS = {"weights": "#4c78a8", "KV cache": "#f58518", "other": "#9d9d9d"}


def _color(labels: list[str], legend: bool = True) -> alt.Color:
    """One colour per machine option, the same on every chart; the legend sits on top of the plot."""
    # one label a row: two columns cut the longer labels in a half-width chart
    lg = alt.Legend(orient="top", title=None, labelLimit=280, symbolStrokeWidth=4, columns=1) if legend else None
    return alt.Color("machine:N", scale=alt.Scale(domain=labels, range=PALETTE[:len(labels)]), legend=lg)


def memory_chart(results: list[dict]) -> alt.Chart:
    """Stacked memory (weights, KV cache, other) per option against its usable limit."""
    rows, limits = [], []
    for o in results:
        m = o.get("memory")
        if not m:
            continue
        for part, key in (("weights", "weights"), ("KV cache", "kv_cache"), ("other", "other")):
            rows.append({"machine": o["label"], "part": part, "GB": m[key], "total": m["total"], "usable": m["usable"]})
        sold = capacity_as_sold(o) or ""
        limits.append({"machine": o["label"], "usable": m["usable"], "total": m["total"],  # as sold, never "102 GB"
                       "label": f"{sold}: {m['total'] / m['usable']:.0%} used" if m["usable"] else sold})
    df, lim = pd.DataFrame(rows), pd.DataFrame(limits)
    if df.empty:
        return alt.Chart(pd.DataFrame({"x": []})).mark_point()
    order = list(dict.fromkeys(df["machine"]))
    y = alt.Y("machine:N", sort=order, title=None, axis=alt.Axis(labelLimit=260, labelOverlap=False))
    bars = alt.Chart(df).mark_bar().encode(
        y=y, x=alt.X("sum(GB):Q", title="memory, GB (10^9 bytes)",
                     scale=alt.Scale(domain=[0, float(max(lim["usable"].max(), lim["total"].max())) * 1.3])),
        color=alt.Color("part:N", scale=alt.Scale(domain=list(MEM_COLORS), range=list(MEM_COLORS.values())),
                        legend=alt.Legend(orient="top", title=None)),
        order=alt.Order("part:N", sort="descending"),
        tooltip=["machine:N", "part:N", alt.Tooltip("GB:Q", format=",.2f"), alt.Tooltip("total:Q", format=",.1f"),
                 alt.Tooltip("usable:Q", format=",.1f")])
    tick = alt.Chart(lim).mark_tick(color="black", thickness=3, size=26).encode(
        y=y, x="usable:Q",
        tooltip=["machine:N", alt.Tooltip("usable:Q", format=",.1f", title="usable GB (10^9 bytes)")])
    text = alt.Chart(lim).mark_text(align="left", dx=6, fontSize=11).encode(
        y=y, x="usable:Q", text="label:N")
    return (bars + tick + text).properties(height=48 * len(order) + 30)


def speed_chart(results: list[dict]) -> alt.Chart:
    """Single-stream prefill and decode per option, each with its 80% band as an error bar."""
    rows = []
    for o in results:
        for k, name in (("prefill_tok_s", "prefill (tok/s)"), ("decode_tok_s", "decode (tok/s)")):
            if o.get(k):
                band = o.get(f"{k}_band80") or [None, None]
                rows.append({"machine": o["label"], "metric": name, "tok/s": o[k], "low": band[0], "high": band[1],
                             "end": band[1] if band[1] is not None else o[k], "range": band_text(o[k], band)})
    df = pd.DataFrame(rows)
    if df.empty:
        return alt.Chart(pd.DataFrame({"x": []})).mark_point()
    labels = list(dict.fromkeys(df["machine"]))
    base = alt.Chart(df).encode(
        y=alt.Y("machine:N", sort=labels, title=None, axis=alt.Axis(labelLimit=260)),
        x=alt.X("tok/s:Q", title="tokens/s, single stream (predict); bar: 80% band"),
        tooltip=["machine:N", "metric:N", alt.Tooltip("range:N", title="tok/s (80% band)")])
    bars = base.mark_bar().encode(color=_color(labels, legend=False))
    err = base.mark_rule(color="black", strokeWidth=2).encode(x="low:Q", x2="high:Q")
    text = base.mark_text(align="left", dx=3, fontSize=10).encode(x="end:Q", text="range:N")
    return alt.layer(bars, err, text).properties(height=34 * len(labels), width=210).facet(  # fits 1280 px
        column=alt.Column("metric:N", title=None)).resolve_scale(x="independent")


def ok_number(x) -> bool:
    """A number to show: not None and not NaN (a missing cell in a table)."""
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def band_text(value: float | None, band: list | None, fmt: str = ",.0f") -> str:
    """'52 (44-61)': a figure with its 80% band, or the figure alone where it has no band."""
    def ok(x) -> bool:
        return x is not None and not (isinstance(x, float) and math.isnan(x))  # None and NaN (a missing band in a table) have no band

    if not ok(value):
        return "—"
    if not band or not ok(band[0]) or not ok(band[1]):
        return format(value, fmt)
    return f"{format(value, fmt)} ({format(band[0], fmt)}-{format(band[1], fmt)})"


def latency_frame(results: list[dict], points: int = 80) -> pd.DataFrame:
    """Empirical CDF points of TTFT and TPOT per option (down-sampled quantiles)."""
    rows = []
    q = np.linspace(0, 1, points)
    for o in results:
        c = o.get("requests")
        if not c:
            continue
        arr, first, fin = (np.asarray(c[k], dtype=float) for k in ("arrival_s", "first_token_s", "finish_s"))
        out = np.asarray(c["output_tokens"], dtype=float)
        ok = ~np.isnan(fin)
        ttft = (first - arr)[ok]
        multi = ok & (out > 1)
        tpot = ((fin - first)[multi] / (out[multi] - 1)) * 1e3
        for name, x in (("TTFT (s)", ttft), ("TPOT (ms)", tpot)):
            if len(x):
                for qq, v in zip(q, np.quantile(x, q)):
                    rows.append({"machine": o["label"], "metric": name, "latency": float(v), "fraction": float(qq)})
    return pd.DataFrame(rows)


def cdf_chart(df: pd.DataFrame, metric: str, slo: float | None, labels: list[str]) -> alt.Chart:
    d = df[df["metric"] == metric] if "metric" in df else df
    if d.empty:
        return alt.Chart(pd.DataFrame({"x": []})).mark_point()
    line = alt.Chart(d).mark_line(interpolate="step-after").encode(
        x=alt.X("latency:Q", title=f"{metric}, log scale", scale=alt.Scale(type="log")),
        y=alt.Y("fraction:Q", title="share of requests", axis=alt.Axis(format="%")), color=_color(labels),
        tooltip=["machine:N", alt.Tooltip("latency:Q", format=",.3f", title=metric),
                 alt.Tooltip("fraction:Q", format=".0%", title="quantile")])
    layers = [line]
    if slo:
        s = pd.DataFrame({"latency": [slo], "label": [f"SLO p95 {slo:g}"]})
        layers.append(alt.Chart(s).mark_rule(color="red", strokeDash=[5, 3]).encode(x="latency:Q",
                                                                                     tooltip=["label:N"]))
        layers.append(alt.Chart(s).mark_text(color="red", align="left", dx=4, dy=-6, y=8).encode(
            x="latency:Q", text="label:N"))
        p95 = pd.DataFrame({"fraction": [0.95]})
        layers.append(alt.Chart(p95).mark_rule(color="gray", strokeDash=[2, 2]).encode(y="fraction:Q"))
    # the height holds the legend (one option a row) and the plot
    return alt.layer(*layers).properties(height=420, title=f"{metric}: cumulative distribution per option")


def timeline_frame(results: list[dict], points: int = 160) -> pd.DataFrame:
    """Replica 1's step timeline per option, thinned to about `points` rows (keeping each window's
    peak batch and KV use, so no spike disappears)."""
    rows = []
    for o in results:
        tl = [r for r in (o.get("timeline") or []) if r["replica"] == 0]
        k = max(1, -(-len(tl) // points))
        thinned = []
        for j in range(0, len(tl), k):
            w = tl[j:j + k]
            thinned.append({**w[0], "batch": max(x["batch"] for x in w),
                            "kv_fraction": max(x["kv_fraction"] for x in w), "waiting": max(x["waiting"] for x in w)})
        for r in thinned:
            rows.append({"machine": o["label"], "time_s": r["time_s"], "batch": r["batch"],
                         "KV use": r["kv_fraction"], "waiting": r["waiting"], "replica": r["replica"]})
    return pd.DataFrame(rows)


def timeline_chart(df: pd.DataFrame, field: str, labels: list[str], title: str, fmt: str = "") -> alt.Chart:
    """Small multiples: one row per option (its own time axis), labelled in the row header."""
    if df.empty:
        return alt.Chart(pd.DataFrame({"x": []})).mark_point()
    d = df[df["replica"] == 0]
    y = alt.Y(f"{field}:Q", title=None, axis=alt.Axis(format=fmt, tickCount=3) if fmt else alt.Axis(tickCount=3))
    line = alt.Chart(d).mark_area(interpolate="step-after", opacity=0.8, line=True).encode(
        x=alt.X("time_s:Q", title=None), y=y, color=_color(labels, legend=False),
        tooltip=["machine:N", alt.Tooltip("time_s:Q", format=",.1f"), alt.Tooltip(f"{field}:Q", format=fmt or ",.0f"),
                 alt.Tooltip("waiting:Q", title="queued requests")])
    return line.properties(height=55, width=330).facet(  # two side by side fit 1280 px
        row=alt.Row("machine:N", sort=labels, title=None, header=alt.Header(labelAngle=0, labelAlign="left",
                                                                            labelAnchor="start", labelOrient="top",
                                                                            labelFontSize=12))
    ).resolve_scale(x="independent").properties(title=f"{title} against simulated time, s (replica 1)")


def cost_chart(results: list[dict], years: float, kwh: float) -> alt.Chart:
    rows = []
    for o in results:
        for part, key in (("hardware (amortised)", "usd_per_mtok_capex"), ("energy", "usd_per_mtok_energy")):
            if o.get(key) is not None:
                rows.append({"machine": o["label"], "part": part, "usd": o[key], "total": o.get("usd_per_mtok")})
    df = pd.DataFrame(rows)
    if df.empty:
        return alt.Chart(pd.DataFrame({"x": []})).mark_point()
    labels = list(dict.fromkeys(df["machine"]))
    y = alt.Y("machine:N", sort=labels, title=None, axis=alt.Axis(labelLimit=260, labelOverlap=False))
    top = float(df.groupby("machine")["usd"].sum().max()) * 1.2
    bars = alt.Chart(df).mark_bar().encode(
        y=y, x=alt.X("sum(usd):Q", title="$ per million output tokens (derived)",
                     scale=alt.Scale(domain=[0, top])),
        color=alt.Color("part:N", scale=alt.Scale(domain=["hardware (amortised)", "energy"],
                                                  range=["#72b7b2", "#eeca3b"]),
                        legend=alt.Legend(orient="top", title=None)),
        tooltip=["machine:N", "part:N", alt.Tooltip("usd:Q", format="$,.2f"),
                 alt.Tooltip("total:Q", format="$,.2f", title="total $/Mtok")])
    tot = df.groupby("machine", as_index=False)["usd"].sum()
    text = alt.Chart(tot).mark_text(align="left", dx=4).encode(y=y, x="usd:Q", text=alt.Text("usd:Q", format="$,.2f"))
    return (bars + text).properties(height=48 * len(labels) + 30)


def sweep_chart(df: pd.DataFrame, y: str, title: str, x_title: str, labels: list[str],
                slo: float | None = None, log_y: bool = False, log_x: bool = False) -> alt.Chart:
    d = df.dropna(subset=[y])
    if d.empty:
        return alt.Chart(pd.DataFrame({"x": []})).mark_point()
    tip = ["machine:N", alt.Tooltip("load:Q", format=",.3f", title=x_title),
           alt.Tooltip("throughput_tok_s:Q", format=",.1f", title="tok/s"),
           alt.Tooltip("ttft_p95_ms:Q", format=",.0f", title="p95 TTFT ms"),
           alt.Tooltip("tpot_p95_ms:Q", format=",.1f", title="p95 TPOT ms"),
           alt.Tooltip("goodput:Q", format=".0%")]
    ysc = alt.Scale(type="log") if log_y else alt.Scale(zero=True)
    xsc = alt.Scale(type="log", base=2) if log_x else alt.Scale(zero=True)
    enc = dict(x=alt.X("load:Q", title=x_title + (", log scale" if log_x else ""), scale=xsc),
               y=alt.Y(f"{y}:Q", title=title, scale=ysc), color=_color(labels),
               tooltip=tip)
    layers = [alt.Chart(d).mark_line(point=True).encode(**enc)]
    kn = d[d["knee"]]
    if not kn.empty:
        layers.append(alt.Chart(kn).mark_point(shape="diamond", size=160, filled=True, color="black").encode(
            x="load:Q", y=f"{y}:Q", tooltip=tip))  # the diamond is the knee (the caption says so; text overlaps)
    if slo:
        s = pd.DataFrame({"v": [slo], "label": [f"SLO {slo:g}"]})
        layers.append(alt.Chart(s).mark_rule(color="red", strokeDash=[5, 3]).encode(y="v:Q", tooltip=["label:N"]))
        layers.append(alt.Chart(s).mark_text(color="red", align="left", x=4, dy=-6).encode(y="v:Q", text="label:N"))
    return alt.layer(*layers).properties(height=460, title=title)  # room for the legend above the plot


def tradeoff_chart(df: pd.DataFrame, labels: list[str], slo_ms: float | None) -> alt.Chart:
    """Throughput-latency curve: p95 TTFT against achieved throughput."""
    d = df.dropna(subset=["ttft_p95_ms"]).copy()
    if d.empty:
        return alt.Chart(pd.DataFrame({"x": []})).mark_point()
    d["ttft_p95_s"] = d["ttft_p95_ms"] / 1000.0  # seconds read better than 1,000,000 ms
    enc = dict(x=alt.X("throughput_tok_s:Q", title="throughput, output tok/s"),
               y=alt.Y("ttft_p95_s:Q", title="p95 wait for the first token, s", scale=alt.Scale(type="log")),
               color=_color(labels), order="load:Q",
               tooltip=["machine:N", alt.Tooltip("load:Q", format=",.3f"), alt.Tooltip("throughput_tok_s:Q", format=",.1f"),
                        alt.Tooltip("ttft_p95_s:Q", format=",.2f")])
    layers = [alt.Chart(d).mark_line(point=True).encode(**enc)]
    if slo_ms:
        s = pd.DataFrame({"v": [slo_ms / 1000.0], "label": [f"SLO p95 TTFT {slo_ms / 1000:g} s"]})
        layers.append(alt.Chart(s).mark_rule(color="red", strokeDash=[5, 3]).encode(y="v:Q", tooltip=["label:N"]))
    return alt.layer(*layers).properties(height=460, title="Throughput against latency")


def accuracy_chart(df: pd.DataFrame, color: str = "vendor") -> alt.Chart:
    """Predicted against measured (log-log) with the y = x line."""
    if df.empty:
        return alt.Chart(pd.DataFrame({"x": []})).mark_point()
    lo, hi = float(min(df["measured"].min(), df["predicted"].min())), float(max(df["measured"].max(),
                                                                                   df["predicted"].max()))
    line = pd.DataFrame({"measured": [lo * 0.8, hi * 1.25], "predicted": [lo * 0.8, hi * 1.25]})
    sc = alt.Scale(type="log")
    pts = alt.Chart(df).mark_circle(size=55, opacity=0.75).encode(
        x=alt.X("measured:Q", scale=sc, title="measured"), y=alt.Y("predicted:Q", scale=sc, title="predicted"),
        color=alt.Color(f"{color}:N", legend=alt.Legend(orient="top", title=None)),
        tooltip=["id:N", "hardware:N", "model:N", "quant:N", "engine:N", "metric:N",
                 alt.Tooltip("measured:Q", format=",.1f"), alt.Tooltip("predicted:Q", format=",.1f"),
                 alt.Tooltip("error_pct:Q", format="+.1f", title="error %")])
    diag = alt.Chart(line).mark_line(color="gray", strokeDash=[4, 4]).encode(x="measured:Q", y="predicted:Q")
    lab = alt.Chart(line.tail(1)).mark_text(align="right", dx=-4, dy=-8, color="gray").encode(
        x="measured:Q", y="predicted:Q", text=alt.value("y = x (perfect)"))
    layers = [diag, lab]
    if {"band_lo", "band_hi"} <= set(df.columns) and df["band_lo"].notna().any():
        # the 80% band of each prediction (where the measurement should lie): a bar that crosses the
        # dashed line holds its measurement
        bars = alt.Chart(df[df["band_lo"].notna()]).mark_rule(opacity=0.45).encode(
            x=alt.X("measured:Q", scale=sc), y=alt.Y("band_lo:Q", scale=sc), y2="band_hi:Q",
            color=alt.Color(f"{color}:N", legend=None),
            tooltip=["id:N", alt.Tooltip("band_lo:Q", format=",.1f", title="80% band low"),
                     alt.Tooltip("band_hi:Q", format=",.1f", title="80% band high")])
        layers.append(bars)
    return alt.layer(*layers, pts).properties(height=420)


def pareto_chart(points: list[dict], latency_title: str) -> alt.Chart:
    """Capacity plan: $ per million output tokens against a p95 latency, one point per candidate that
    meets the SLO; the Pareto front is a line through its points, the winner a star, every point a tooltip."""
    df = pd.DataFrame(points)
    if df.empty:
        return alt.Chart(pd.DataFrame({"x": []})).mark_point()
    df["set"] = np.where(df["winner"], "winner", np.where(df["on_front"], "on the Pareto front", "dominated"))
    sets = ["winner", "on the Pareto front", "dominated"]
    tip = [alt.Tooltip("rank:Q", title="rank"), alt.Tooltip("candidate:N"), alt.Tooltip("set:N", title="point"),
           alt.Tooltip("usd_per_m_output_tokens:Q", format="$,.3f", title="$ / M output tokens"),
           alt.Tooltip("latency:Q", format=",.3g", title=latency_title),
           alt.Tooltip("tco_usd:Q", format="$,.0f", title="TCO"), alt.Tooltip("replicas:Q")]
    x = alt.X("latency:Q", title=latency_title, scale=alt.Scale(type="log", nice=False, padding=12))
    y = alt.Y("usd_per_m_output_tokens:Q", title="$ per million output tokens (TCO)",
              scale=alt.Scale(type="log", nice=False, padding=12))
    front = df[df["on_front"]].sort_values("latency")
    line = alt.Chart(front).mark_line(color="#2ca02c", strokeDash=[5, 3], point=False, interpolate="step-after").encode(
        x=x, y=y)
    pts = alt.Chart(df).mark_point(filled=True, size=110, opacity=0.9).encode(
        x=x, y=y, tooltip=tip,
        color=alt.Color("set:N", scale=alt.Scale(domain=sets, range=["#d62728", "#2ca02c", "#9d9d9d"]),
                        legend=alt.Legend(orient="top", title=None)),
        shape=alt.Shape("set:N", scale=alt.Scale(domain=sets, range=["diamond", "circle", "circle"]), legend=None))
    text = alt.Chart(df[df["on_front"]]).mark_text(align="left", dx=8, dy=-6, fontSize=11).encode(
        x=x, y=y, text="candidate:N")
    return (line + pts + text).properties(height=420)
