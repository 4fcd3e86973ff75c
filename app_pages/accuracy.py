"""Accuracy: predicted against measured for the public measurements the model was calibrated on."""

import pandas as pd
import streamlit as st

from app_pages import charts, ui
from planner.calibration import DEFAULT_DATA, bind_rows, errors, read_rows
from planner.serve_validation import validate_serve

SERVE_REQUESTS = 500  # per row; the CLI's `validate` uses 2000


@st.cache_data(show_spinner="predicting the measured rows")
def predict_rows() -> pd.DataFrame:
    cat = ui.catalog()
    models, _ = bind_rows(cat, read_rows(DEFAULT_DATA), normal_only=True)
    out = []
    for m, pred, err in errors(models):
        r = m.row
        out.append({"id": r.id, "hardware": r.hardware_id, "vendor": m.sys.hw.vendor, "family": m.sys.hw.family,
                    "devices": r.devices, "model": r.model_id, "quant": r.quant_id, "engine": r.engine_id,
                    "metric": r.metric + (" *" if m.assumed else ""), "batch": r.batch, "measured": r.value,
                    "predicted": round(pred, 2), "error_pct": round(err, 1), "source": ui.first_url(r.source),
                    "source text": r.source})
    return pd.DataFrame(out)


@st.cache_data(show_spinner="simulating the serving load tests")
def serve_rows() -> pd.DataFrame:
    cat = ui.catalog()
    res = validate_serve(cat, read_rows(DEFAULT_DATA), requests=SERVE_REQUESTS)
    df = pd.DataFrame(res["rows"])
    if not df.empty:
        df["vendor"] = [cat.hardware[h].vendor for h in df["hardware"]]
    return df


ui.init_state()
st.title("Accuracy against public measurements")
st.caption("Each point is one public measurement (data/calibration.csv, confidence=normal) and the model's "
           "prediction of it with the committed calibration. On the dashed line the prediction is exact. "
           "`*`: the source gives no lengths, llama-bench's pp512/tg128 are assumed.")
df = predict_rows()
c1, c2, c3 = st.columns(3)
vendors = c1.multiselect("vendor", sorted(df["vendor"].unique()), key="acc_vendor")
engines = c2.multiselect("engine", sorted(df["engine"].unique()), key="acc_engine")
metrics = c3.multiselect("metric", sorted(df["metric"].unique()), key="acc_metric")
d = df
if vendors:
    d = d[d["vendor"].isin(vendors)]
if engines:
    d = d[d["engine"].isin(engines)]
if metrics:
    d = d[d["metric"].isin(metrics)]
k1, k2, k3 = st.columns(3)
k1.metric("rows", len(d))
k2.metric("median |error|", f"{d['error_pct'].abs().median():.1f}%" if len(d) else "–")
k3.metric("within ±25%", f"{(d['error_pct'].abs() <= 25).mean():.0%}" if len(d) else "–")
color = st.radio("colour by", ["vendor", "engine", "metric", "family"], horizontal=True, key="acc_color")
st.altair_chart(charts.accuracy_chart(d, color), width="stretch")
summ = (d.assign(abs_err=d["error_pct"].abs()).groupby(["engine", "family", "metric"])
        .agg(rows=("abs_err", "size"), median_abs_pct=("abs_err", "median"), max_abs_pct=("abs_err", "max"))
        .reset_index().round(1))
st.subheader("Error by engine, chip family and metric")
st.dataframe(summ, hide_index=True, width="stretch")
st.subheader("Every row")
st.dataframe(d.sort_values("error_pct", key=abs, ascending=False), hide_index=True, width="stretch",
             column_config={"source": st.column_config.LinkColumn("source", display_text="source"),
                            "error_pct": st.column_config.NumberColumn("error %", format="%+.1f")})

st.subheader("Serving load tests, simulated")
st.caption(f"The mode=serve rows run through the simulator ({SERVE_REQUESTS} requests each; "
           "`python -m planner validate` uses 2000).")
sv = serve_rows()
if sv.empty:
    st.info("No serving rows could be simulated.")
else:
    k1, k2 = st.columns(2)
    k1.metric("rows", len(sv))
    k2.metric("median |error|", f"{sv['error_pct'].abs().median():.1f}%")
    st.altair_chart(charts.accuracy_chart(sv, "hardware"), width="stretch")
    st.dataframe(sv, hide_index=True, width="stretch")
