"""Load sweep: throughput and p95 latencies against offered load, per machine option."""

import pandas as pd
import streamlit as st

from app_pages import charts, ui
from planner.glossary import HELP
from planner.webapp import verdict as vd

sc = ui.editor(ui.init_state(), "sweep")
st.title("Load sweep")
ui.show_link_warnings()
closed = sc.workload.arrival == "closed"
x_title = "concurrent users" if closed else "offered load, requests/s"
st.caption(
    "Each point is one simulation of the scenario's workload at that load "
    f"({sc.workload.requests or 1000:,} requests). "
    + (
        "Closed loop: the sweep varies the number of users."
        if closed
        else "Poisson arrivals up to 1.5x each option's saturated request rate."
    )
    + " Knee (◆): the lowest load reaching 90% of the option's peak throughput.",
    help=HELP["knee"],
)
results = ui.evaluate(sc)
wl = sc.workload
_v = vd.verdict(results, sc.slo, vd.load_text(wl), wl.concurrency if closed else None)
(st.success if _v["ok"] else st.error)(
    _v["sentence"] + " The sweep below shows how each option fares as the load grows.", icon=":material/gavel:"
)
fits = [r for r in results if r.get("fits") and not r["error"]]
skipped = [r["label"] for r in results if r not in fits]
if skipped:
    st.info("Not swept (does not fit or invalid): " + ", ".join(skipped))
bar = st.progress(0.0, text="sweeping")
frames = []
for k, r in enumerate(fits):
    i = r["option"] - 1
    bar.progress(k / max(len(fits), 1), text=f"sweeping {r['label']}")
    sw = ui.sweep(sc, i)
    if sw is None:  # stopped at its wall-clock limit (the message is on the page)
        continue
    d = pd.DataFrame(sw["rows"])
    d["machine"] = r["label"]
    frames.append(d)
bar.empty()
if not frames:
    st.warning("No option fits: nothing to sweep.")
    st.stop()
df = pd.concat(frames, ignore_index=True)
labels = list(dict.fromkeys(df["machine"]))
c1, c2 = st.columns(2)
c1.altair_chart(
    charts.sweep_chart(df, "throughput_tok_s", "throughput, output tok/s", x_title, labels, log_x=closed),
    width="stretch",
)
c2.altair_chart(
    charts.tradeoff_chart(df, labels, sc.slo.ttft_p95_s * 1000 if sc.slo.ttft_p95_s else None), width="stretch"
)
c1, c2 = st.columns(2)
df["ttft_p95_s"] = df["ttft_p95_ms"] / 1000.0
c1.altair_chart(
    charts.sweep_chart(
        df,
        "ttft_p95_s",
        "p95 wait for the first token, s",
        x_title,
        labels,
        slo=sc.slo.ttft_p95_s or None,
        log_y=True,
        log_x=closed,
    ),
    width="stretch",
)
c2.altair_chart(
    charts.sweep_chart(df, "tpot_p95_ms", "p95 TPOT, ms", x_title, labels, slo=sc.slo.tpot_p95_ms, log_x=closed),
    width="stretch",
)
if "usd_per_mtok" in df and df["usd_per_mtok"].notna().any():
    st.subheader("Cost per million output tokens against load")
    st.altair_chart(
        charts.sweep_chart(
            df.dropna(subset=["usd_per_mtok"]),
            "usd_per_mtok",
            "$ per million output tokens",
            x_title,
            labels,
            log_y=True,
            log_x=closed,
        ),
        width="stretch",
    )
    st.caption(
        "The same cost model as Compare and the Capacity plan (planner.econ.costs): capex amortised over "
        f"{sc.cost.amortize_years:g} years + energy at ${sc.cost.usd_per_kwh:g}/kWh, PUE {sc.cost.pue:g}, "
        f"serving this load {sc.cost.utilization:.0%} of the time. A machine at low load costs more per token."
        + (
            " An option without a sourced price has no $/Mtok (its energy alone is not a cost): not drawn; enter "
            "a quote in its panel."
            if df["usd_per_mtok"].isna().any()
            else ""
        )
    )
knees = df[df["knee"]][
    ["machine", "load", "throughput_tok_s", "ttft_p95_ms", "tpot_p95_ms", "goodput", "slo_met"]
].round({"throughput_tok_s": 1, "ttft_p95_ms": 0, "tpot_p95_ms": 1, "goodput": 3})
st.subheader("Saturation knee per option")
knees["ttft_p95_ms"] = [vd.fmt_duration(x / 1e3) for x in knees["ttft_p95_ms"]]  # the unit that reads best
st.dataframe(
    knees.rename(columns={"load": x_title}),
    hide_index=True,
    width="stretch",
    column_config={
        "throughput_tok_s": st.column_config.NumberColumn("output tok/s"),
        "ttft_p95_ms": st.column_config.TextColumn("first token p95", help=HELP["ttft"]),
        "tpot_p95_ms": st.column_config.NumberColumn("per token p95, ms", help=HELP["tpot"]),
        "goodput": st.column_config.NumberColumn("on target", help=HELP["goodput"], format="percent"),
        "slo_met": st.column_config.CheckboxColumn("meets the target", help=HELP["meets"]),
    },
)
with st.expander("All sweep points"):
    st.dataframe(df, hide_index=True, width="stretch")
