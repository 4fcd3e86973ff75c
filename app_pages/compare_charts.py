"""The Compare page's charts as plain Vega-Lite specs (dicts), built without Altair.

Two reasons, both measured with `python -m tests.e2e.bench_render`:
- building them takes about a millisecond, where Altair took about 0.3 s a re-run (and 0.5 s to import
  on the first load);
- each chart's data travels in `datasets` under a fixed name and nothing in the spec depends on the
  data (axis padding comes from a `pad` field), so after a widget change the spec is the same string
  and the browser swaps the data of the chart already drawn instead of compiling and drawing it anew.

Lines carry their option's label, every mark has a tooltip (as in charts.py)."""

from __future__ import annotations

import math

import numpy as np

from planner.webapp.compare import capacity_as_sold

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]  # machine options, on every page
MEM_COLORS = {"weights": "#4c78a8", "KV cache": "#f58518", "other": "#9d9d9d"}
SCHEMA = "https://vega.github.io/schema/vega-lite/v6.4.1.json"
CONFIG = {"view": {"continuousWidth": 300, "continuousHeight": 300}}
EMPTY = {"$schema": SCHEMA, "config": CONFIG, "mark": "point", "data": {"values": []}}


def _q(field: str, **kw) -> dict:
    return {"field": field, "type": "quantitative", **kw}


def _n(field: str, **kw) -> dict:
    return {"field": field, "type": "nominal", **kw}


def _color(labels: list[str], legend: bool = True) -> dict:
    """One colour per machine option, the same on every chart; the legend sits on top of the plot."""
    # one label a row: two columns cut the longer labels in a half-width chart
    lg = {"orient": "top", "title": None, "labelLimit": 280, "symbolStrokeWidth": 4, "columns": 1} if legend else None
    return _n("machine", scale={"domain": list(labels), "range": PALETTE[: len(labels)]}, legend=lg)


def _chart(datasets: dict, **spec) -> dict:
    return {"$schema": SCHEMA, "config": CONFIG, "datasets": datasets, **spec}


def _pad_layer(name: str) -> dict:
    """An invisible point at x = `pad` (a data field): room at the right of the bars for their labels,
    from the data and not from the spec (so the spec stays the same when the numbers change)."""
    return {
        "data": {"name": name},
        "mark": {"type": "point", "opacity": 0},
        "encoding": {"x": _q("pad"), "y": {"value": 0}},
    }


def memory_chart(results: list[dict]) -> dict:
    """Stacked memory (weights, KV cache, other) per option against its usable limit."""
    rows, limits = [], []
    for o in results:
        m = o.get("memory")
        if not m:
            continue
        for part, key in (("weights", "weights"), ("KV cache", "kv_cache"), ("other", "other")):
            rows.append({"machine": o["label"], "part": part, "GB": m[key], "total": m["total"], "usable": m["usable"]})
        sold = capacity_as_sold(o) or ""  # as sold ("96 GB card"), never the GiB arithmetic's "102 GB"
        limits.append(
            {
                "machine": o["label"],
                "usable": m["usable"],
                "total": m["total"],
                "label": (f"{sold}: {m['total'] / m['usable']:.0%} used" if m["usable"] else sold)
                + ("" if o.get("fits") else "  (does not fit)"),
            }
        )
    if not rows:
        return EMPTY
    pad = float(max(max(x["usable"], x["total"]) for x in limits)) * 1.3
    for x in limits:
        x["pad"] = pad
    order = list(dict.fromkeys(r["machine"] for r in rows))
    y = _n("machine", sort=order, title=None, axis={"labelLimit": 260, "labelOverlap": False})
    bars = {
        "data": {"name": "memory"},
        "mark": {"type": "bar"},
        "encoding": {
            "y": y,
            "x": _q("GB", aggregate="sum", title="memory, GB (10^9 bytes)", scale={"zero": True}),
            "color": _n(
                "part",
                scale={"domain": list(MEM_COLORS), "range": list(MEM_COLORS.values())},
                legend={"orient": "top", "title": None},
            ),
            "order": _n("part", sort="descending"),
            "tooltip": [
                _n("machine"),
                _n("part"),
                _q("GB", format=",.2f"),
                _q("total", format=",.1f"),
                _q("usable", format=",.1f"),
            ],
        },
    }
    tick = {
        "data": {"name": "limits"},
        "mark": {"type": "tick", "color": "black", "thickness": 3, "size": 26},
        "encoding": {
            "y": y,
            "x": _q("usable"),
            "tooltip": [_n("machine"), _q("usable", format=",.1f", title="usable GB")],
        },
    }
    text = {
        "data": {"name": "limits"},
        "mark": {"type": "text", "align": "left", "dx": 6, "fontSize": 11},
        "encoding": {"y": y, "x": _q("usable"), "text": _n("label")},
    }
    return _chart(
        {"memory": rows, "limits": limits}, layer=[bars, tick, text, _pad_layer("limits")], height=48 * len(order) + 30
    )


def ok_number(x) -> bool:
    """A number to show: not None and not NaN (a missing cell in a table)."""
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def band_text(value: float | None, band: list | None, fmt: str = ",.0f") -> str:
    """'52 (44-61)': a figure with its 80% band, or the figure alone where it has no band (None, NaN)."""
    ok = ok_number
    if not ok(value):
        return "—"
    if not band or not ok(band[0]) or not ok(band[1]):
        return format(value, fmt)
    return f"{format(value, fmt)} ({format(band[0], fmt)}-{format(band[1], fmt)})"


def speed_chart(results: list[dict]) -> dict:
    """Single-stream prefill and decode per option, each with its 80% band as an error bar."""
    rows = []
    for o in results:
        for k, name in (("prefill_tok_s", "prefill (tok/s)"), ("decode_tok_s", "decode (tok/s)")):
            if o.get(k):
                band = o.get(f"{k}_band80") or [None, None]
                rows.append(
                    {
                        "machine": o["label"],
                        "metric": name,
                        "tok/s": o[k],
                        "low": band[0],
                        "high": band[1],
                        "end": band[1] if band[1] is not None else o[k],
                        "range": band_text(o[k], band),
                    }
                )
    if not rows:
        return EMPTY
    labels = list(dict.fromkeys(r["machine"] for r in rows))
    enc = {
        "y": _n("machine", sort=labels, title=None, axis={"labelLimit": 260}),
        "x": _q("tok/s", title="tokens/s, single stream (predict); bar: 80% band"),
        "tooltip": [_n("machine"), _n("metric"), _n("range", title="tok/s (80% band)")],
    }
    bars = {"mark": {"type": "bar"}, "encoding": {**enc, "color": _color(labels, legend=False)}}
    err = {
        "mark": {"type": "rule", "color": "black", "strokeWidth": 2},
        "encoding": {**enc, "x": _q("low"), "x2": {"field": "high"}},
    }
    text = {
        "mark": {"type": "text", "align": "left", "dx": 3, "fontSize": 10},
        "encoding": {**enc, "x": _q("end"), "text": _n("range")},
    }
    return _chart(
        {"speed": rows},
        data={"name": "speed"},
        facet={"column": _n("metric", title=None)},
        spec={"layer": [bars, err, text], "height": 34 * len(labels), "width": 200},  # fits 1280 px with the band text
        resolve={"scale": {"x": "independent"}},
    )


def latency_rows(results: list[dict], points: int = 80) -> list[dict]:
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
                for qq, v in zip(q.tolist(), np.quantile(x, q).tolist()):
                    rows.append({"machine": o["label"], "metric": name, "latency": v, "fraction": qq})
    return rows


def cdf_chart(rows: list[dict], metric: str, slo: float | None, labels: list[str]) -> dict:
    d = [r for r in rows if r["metric"] == metric]
    if not d:
        return EMPTY
    line = {
        "data": {"name": "cdf"},
        "mark": {"type": "line", "interpolate": "step-after"},
        "encoding": {
            "x": _q("latency", title=f"{metric}, log scale", scale={"type": "log"}),
            "y": _q("fraction", title="share of requests", axis={"format": "%"}),
            "color": _color(labels),
            "tooltip": [
                _n("machine"),
                _q("latency", format=",.3f", title=metric),
                _q("fraction", format=".0%", title="quantile"),
            ],
        },
    }
    layers = [line]
    if slo:
        s = {"values": [{"latency": slo, "label": f"SLO p95 {slo:g}"}]}
        layers.append(
            {
                "data": s,
                "mark": {"type": "rule", "color": "red", "strokeDash": [5, 3]},
                "encoding": {"x": _q("latency"), "tooltip": [_n("label")]},
            }
        )
        layers.append(
            {
                "data": s,
                "mark": {"type": "text", "color": "red", "align": "left", "dx": 4, "dy": -6, "y": 8},
                "encoding": {"x": _q("latency"), "text": _n("label")},
            }
        )
        layers.append(
            {
                "data": {"values": [{"fraction": 0.95}]},
                "mark": {"type": "rule", "color": "gray", "strokeDash": [2, 2]},
                "encoding": {"y": _q("fraction")},
            }
        )
    return _chart({"cdf": d}, layer=layers, height=420, title=f"{metric}: cumulative distribution per option")


def timeline_rows(results: list[dict], points: int = 160) -> list[dict]:
    """Replica 1's step timeline per option, thinned to about `points` rows (keeping each window's
    peak batch and KV use, so no spike disappears)."""
    rows = []
    for o in results:
        tl = [r for r in (o.get("timeline") or []) if r["replica"] == 0]
        k = max(1, -(-len(tl) // points))
        for j in range(0, len(tl), k):
            w = tl[j : j + k]
            rows.append(
                {
                    "machine": o["label"],
                    "time_s": w[0]["time_s"],
                    "batch": max(x["batch"] for x in w),
                    "KV use": max(x["kv_fraction"] for x in w),
                    "waiting": max(x["waiting"] for x in w),
                }
            )
    return rows


def timeline_chart(rows: list[dict], field: str, labels: list[str], title: str, fmt: str = "") -> dict:
    """Small multiples: one row per option (its own time axis), labelled in the row header."""
    if not rows:
        return EMPTY
    d = [{"machine": r["machine"], "time_s": r["time_s"], field: r[field], "waiting": r["waiting"]} for r in rows]
    axis = {"format": fmt, "tickCount": 3} if fmt else {"tickCount": 3}
    area = {
        "mark": {"type": "area", "interpolate": "step-after", "line": True, "opacity": 0.8},
        "encoding": {
            "x": _q("time_s", title=None),
            "y": _q(field, title=None, axis=axis),
            "color": _color(labels, legend=False),
            "tooltip": [
                _n("machine"),
                _q("time_s", format=",.1f"),
                _q(field, format=fmt or ",.0f"),
                _q("waiting", title="queued requests"),
            ],
        },
        "height": 55,
        "width": 330,
    }  # two side by side fit 1280 px
    header = {"labelAngle": 0, "labelAlign": "left", "labelAnchor": "start", "labelOrient": "top", "labelFontSize": 12}
    return _chart(
        {"timeline": d},
        data={"name": "timeline"},
        facet={"row": _n("machine", sort=labels, title=None, header=header)},
        spec=area,
        resolve={"scale": {"x": "independent"}},
        title=f"{title} against simulated time, s (replica 1)",
    )


def cost_chart(results: list[dict]) -> dict:
    rows = []
    for o in results:
        for part, key in (("hardware (amortised)", "usd_per_mtok_capex"), ("energy", "usd_per_mtok_energy")):
            if o.get(key) is not None:
                rows.append({"machine": o["label"], "part": part, "usd": o[key], "total": o.get("usd_per_mtok")})
    if not rows:
        return EMPTY
    labels = list(dict.fromkeys(r["machine"] for r in rows))
    tot = {m: 0.0 for m in labels}
    for r in rows:
        tot[r["machine"]] += r["usd"]
    # an option without a price has its energy share alone: its label says so (it is not a full $/Mtok)
    full = {o["label"]: o.get("usd_per_mtok") is not None for o in results}
    pad = max(float(v) * (1.2 if full.get(m) else 1.9) for m, v in tot.items())  # room for the longest label
    totals = [
        {
            "machine": m,
            "usd": v,
            "pad": pad,
            "text": f"${v:,.2f}" if full.get(m) else f"${v:,.2f} energy only (no price)",
        }
        for m, v in tot.items()
    ]
    y = _n("machine", sort=labels, title=None, axis={"labelLimit": 260, "labelOverlap": False})
    bars = {
        "data": {"name": "cost"},
        "mark": {"type": "bar"},
        "encoding": {
            "y": y,
            "x": _q("usd", aggregate="sum", title="$ per million output tokens (derived)", scale={"zero": True}),
            "color": _n(
                "part",
                scale={"domain": ["hardware (amortised)", "energy"], "range": ["#72b7b2", "#eeca3b"]},
                legend={"orient": "top", "title": None},
            ),
            "tooltip": [
                _n("machine"),
                _n("part"),
                _q("usd", format="$,.2f"),
                _q("total", format="$,.2f", title="total $/Mtok"),
            ],
        },
    }
    text = {
        "data": {"name": "totals"},
        "mark": {"type": "text", "align": "left", "dx": 4},
        "encoding": {"y": y, "x": _q("usd"), "text": _n("text")},
    }
    return _chart(
        {"cost": rows, "totals": totals}, layer=[bars, text, _pad_layer("totals")], height=48 * len(labels) + 30
    )


def page_charts(results: list[dict], slo_ttft_s: float | None, slo_tpot_ms: float | None) -> dict[str, dict]:
    """All the Compare page's charts, by name."""
    labels = [r["label"] for r in results]
    lat, tl = latency_rows(results), timeline_rows(results)
    return {
        "memory": memory_chart(results),
        "cost": cost_chart(results),
        "speed": speed_chart(results),
        "ttft": cdf_chart(lat, "TTFT (s)", slo_ttft_s, labels),
        "tpot": cdf_chart(lat, "TPOT (ms)", slo_tpot_ms, labels),
        "batch": timeline_chart(tl, "batch", labels, "batch size"),
        "kv": timeline_chart(tl, "KV use", labels, "KV cache use", fmt="%"),
    }
