"""Altair charts of the app.  Plain functions from tables (pandas) to charts: no Streamlit here.
Lines carry their option's label at their end and every mark has a tooltip, so the charts read
without a legend hunt."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

# the palette's home; the Compare page's charts are plain Vega-Lite specs there
from app_pages.compare_charts import PALETTE, band_text, ok_number  # noqa: F401  (band_text: the one home is there)


def _color(labels: list[str], legend: bool = True) -> alt.Color:
    """One colour per machine option, the same on every chart; the legend sits on top of the plot."""
    # one label a row: two columns cut the longer labels in a half-width chart
    lg = alt.Legend(orient="top", title=None, labelLimit=280, symbolStrokeWidth=4, columns=1) if legend else None
    return alt.Color("machine:N", scale=alt.Scale(domain=labels, range=PALETTE[: len(labels)]), legend=lg)


def sweep_chart(
    df: pd.DataFrame,
    y: str,
    title: str,
    x_title: str,
    labels: list[str],
    slo: float | None = None,
    log_y: bool = False,
    log_x: bool = False,
) -> alt.Chart:
    d = df.dropna(subset=[y])
    if d.empty:
        return alt.Chart(pd.DataFrame({"x": []})).mark_point()
    tip = [
        "machine:N",
        alt.Tooltip("load:Q", format=",.3f", title=x_title),
        alt.Tooltip("throughput_tok_s:Q", format=",.1f", title="tok/s"),
        alt.Tooltip("ttft_p95_ms:Q", format=",.0f", title="p95 TTFT ms"),
        alt.Tooltip("tpot_p95_ms:Q", format=",.1f", title="p95 TPOT ms"),
        alt.Tooltip("goodput:Q", format=".0%"),
    ]
    ysc = alt.Scale(type="log") if log_y else alt.Scale(zero=True)
    xsc = alt.Scale(type="log", base=2) if log_x else alt.Scale(zero=True)
    enc = dict(
        x=alt.X("load:Q", title=x_title + (", log scale" if log_x else ""), scale=xsc),
        y=alt.Y(f"{y}:Q", title=title, scale=ysc),
        color=_color(labels),
        tooltip=tip,
    )
    layers = [alt.Chart(d).mark_line(point=True).encode(**enc)]
    kn = d[d["knee"]]
    if not kn.empty:
        layers.append(
            alt.Chart(kn)
            .mark_point(shape="diamond", size=160, filled=True, color="black")
            .encode(x="load:Q", y=f"{y}:Q", tooltip=tip)
        )  # the diamond is the knee (the caption says so; text overlaps)
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
    enc = dict(
        x=alt.X("throughput_tok_s:Q", title="throughput, output tok/s"),
        y=alt.Y("ttft_p95_s:Q", title="p95 wait for the first token, s", scale=alt.Scale(type="log")),
        color=_color(labels),
        order="load:Q",
        tooltip=[
            "machine:N",
            alt.Tooltip("load:Q", format=",.3f"),
            alt.Tooltip("throughput_tok_s:Q", format=",.1f"),
            alt.Tooltip("ttft_p95_s:Q", format=",.2f"),
        ],
    )
    layers = [alt.Chart(d).mark_line(point=True).encode(**enc)]
    if slo_ms:
        s = pd.DataFrame({"v": [slo_ms / 1000.0], "label": [f"SLO p95 TTFT {slo_ms / 1000:g} s"]})
        layers.append(alt.Chart(s).mark_rule(color="red", strokeDash=[5, 3]).encode(y="v:Q", tooltip=["label:N"]))
    return alt.layer(*layers).properties(height=460, title="Throughput against latency")


def accuracy_chart(df: pd.DataFrame, color: str = "vendor") -> alt.Chart:
    """Predicted against measured (log-log) with the y = x line."""
    if df.empty:
        return alt.Chart(pd.DataFrame({"x": []})).mark_point()
    lo, hi = (
        float(min(df["measured"].min(), df["predicted"].min())),
        float(max(df["measured"].max(), df["predicted"].max())),
    )
    line = pd.DataFrame({"measured": [lo * 0.8, hi * 1.25], "predicted": [lo * 0.8, hi * 1.25]})
    sc = alt.Scale(type="log")
    pts = (
        alt.Chart(df)
        .mark_circle(size=55, opacity=0.75)
        .encode(
            x=alt.X("measured:Q", scale=sc, title="measured"),
            y=alt.Y("predicted:Q", scale=sc, title="predicted"),
            color=alt.Color(f"{color}:N", legend=alt.Legend(orient="top", title=None)),
            tooltip=[
                "id:N",
                "hardware:N",
                "model:N",
                "quant:N",
                "engine:N",
                "metric:N",
                alt.Tooltip("measured:Q", format=",.1f"),
                alt.Tooltip("predicted:Q", format=",.1f"),
                alt.Tooltip("error_pct:Q", format="+.1f", title="error %"),
            ],
        )
    )
    diag = alt.Chart(line).mark_line(color="gray", strokeDash=[4, 4]).encode(x="measured:Q", y="predicted:Q")
    lab = (
        alt.Chart(line.tail(1))
        .mark_text(align="right", dx=-4, dy=-8, color="gray")
        .encode(x="measured:Q", y="predicted:Q", text=alt.value("y = x (perfect)"))
    )
    layers = [diag, lab]
    if {"band_lo", "band_hi"} <= set(df.columns) and df["band_lo"].notna().any():
        # the 80% band of each prediction (where the measurement should lie): a bar that crosses the
        # dashed line holds its measurement
        bars = (
            alt.Chart(df[df["band_lo"].notna()])
            .mark_rule(opacity=0.45)
            .encode(
                x=alt.X("measured:Q", scale=sc),
                y=alt.Y("band_lo:Q", scale=sc),
                y2="band_hi:Q",
                color=alt.Color(f"{color}:N", legend=None),
                tooltip=[
                    "id:N",
                    alt.Tooltip("band_lo:Q", format=",.1f", title="80% band low"),
                    alt.Tooltip("band_hi:Q", format=",.1f", title="80% band high"),
                ],
            )
        )
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
    tip = [
        alt.Tooltip("rank:Q", title="rank"),
        alt.Tooltip("candidate:N"),
        alt.Tooltip("set:N", title="point"),
        alt.Tooltip("usd_per_m_output_tokens:Q", format="$,.3f", title="$ / M output tokens"),
        alt.Tooltip("latency:Q", format=",.3g", title=latency_title),
        alt.Tooltip("tco_usd:Q", format="$,.0f", title="TCO"),
        alt.Tooltip("replicas:Q"),
    ]
    x = alt.X("latency:Q", title=latency_title, scale=alt.Scale(type="log", nice=False, padding=12))
    y = alt.Y(
        "usd_per_m_output_tokens:Q",
        title="$ per million output tokens (TCO)",
        scale=alt.Scale(type="log", nice=False, padding=12),
    )
    front = df[df["on_front"]].sort_values("latency")
    line = (
        alt.Chart(front)
        .mark_line(color="#2ca02c", strokeDash=[5, 3], point=False, interpolate="step-after")
        .encode(x=x, y=y)
    )
    pts = (
        alt.Chart(df)
        .mark_point(filled=True, size=110, opacity=0.9)
        .encode(
            x=x,
            y=y,
            tooltip=tip,
            color=alt.Color(
                "set:N",
                scale=alt.Scale(domain=sets, range=["#d62728", "#2ca02c", "#9d9d9d"]),
                legend=alt.Legend(orient="top", title=None),
            ),
            shape=alt.Shape("set:N", scale=alt.Scale(domain=sets, range=["diamond", "circle", "circle"]), legend=None),
        )
    )
    text = (
        alt.Chart(df[df["on_front"]])
        .mark_text(align="left", dx=8, dy=-6, fontSize=11)
        .encode(x=x, y=y, text="candidate:N")
    )
    return (line + pts + text).properties(height=420)
