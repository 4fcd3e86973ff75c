"""Accuracy: predicted against measured for the public measurements the model was calibrated on."""

import json

import pandas as pd
import streamlit as st

from app_pages import charts, ui
from planner.model.calibration import (
    DEFAULT_DATA,
    OUTLIER_PCT,
    REPO,
    bind_rows,
    errors,
    file_digest,
    read_rows,
    stated_reasons,
)
from planner.validate.serve import validate_serve

SERVE_REQUESTS = 500  # per row; the CLI's `validate` uses 2000


@st.cache_data(show_spinner="predicting the measured rows")
def predict_rows() -> pd.DataFrame:
    cat = ui.catalog()
    models, _ = bind_rows(cat, read_rows(DEFAULT_DATA), normal_only=True)
    out = []
    for m, pred, err in errors(models):
        r = m.row
        out.append(
            {
                "id": r.id,
                "hardware": r.hardware_id,
                "vendor": m.sys.deployment.hw.vendor,
                "family": m.sys.deployment.hw.family,
                "devices": r.devices,
                "model": r.model_id,
                "quant": r.quant_id,
                "engine": r.engine_id,
                "metric": r.metric + (" *" if m.assumed else ""),
                "batch": r.batch,
                "measured": r.value,
                "predicted": round(pred, 2),
                "error_pct": round(err, 1),
                "source": ui.first_url(r.source),
                "source text": r.source,
            }
        )
    return pd.DataFrame(out)


@st.cache_data(show_spinner="simulating the serving load tests")
def serve_rows() -> pd.DataFrame:
    cat = ui.catalog()
    res = validate_serve(cat, read_rows(DEFAULT_DATA), requests=SERVE_REQUESTS)
    df = pd.DataFrame(res["rows"])
    if not df.empty:
        df["vendor"] = [cat.hardware[h].vendor for h in df["hardware"]]
    return df


@st.cache_data(show_spinner=False)
def held_out() -> dict | None:
    """The held-out predictions written by `python -m planner validate --loo --write-bands`."""
    path = REPO / "profiles" / "calibration_bands" / "held_out.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


ui.init_state()
st.title("Accuracy against public measurements")
st.subheader("Where nothing was measured: leave-one-source-out")
ho = held_out()
if ho is None:
    st.info("No held-out results yet: run `python -m planner validate --loo --write-bands`.")
else:
    st.caption(
        "Each public source's rows predicted by a calibration fitted without that source: the nearest "
        "thing to a question the calibration set never saw. Leave-one-family-out does the same per chip "
        "family; band coverage is the share of rows whose measurement lies inside the 80% band built "
        "from the other sources' held-out errors (target 75-85%). "
        + (
            ""
            if ho["data"].endswith(file_digest(DEFAULT_DATA))
            else "**These results are from an older data file: re-run the command.**"
        )
    )
    summ = ho["summary"]
    table = []
    for metric in ("decode_tok_s", "prefill_tok_s", "e2e_latency_s", "ttft_ms"):
        rec = {"metric": metric}
        for part in ("leave_one_source_out", "leave_one_family_out", "calibration_set"):
            e = summ.get(part, {}).get(metric)
            rec[part.replace("_", "-") + " median |error| %"] = e["median_abs_pct"] if e else None
        cov = summ.get("band_coverage", {}).get(metric)
        rec["rows"] = summ.get("leave_one_source_out", {}).get(metric, {}).get("rows")
        rec["80% band coverage %"] = cov["coverage_pct"] if cov else None
        table.append(rec)
    st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")
    hdf = pd.DataFrame(ho["rows"])
    loso_df = hdf[hdf["kind"] == "leave-one-source-out"].copy()
    if "band80" in loso_df:  # each held-out prediction's 80% band, as an error bar
        loso_df["band_lo"] = [b[0] if isinstance(b, list) else None for b in loso_df["band80"]]
        loso_df["band_hi"] = [b[1] if isinstance(b, list) else None for b in loso_df["band80"]]
    st.caption(
        "Vertical bars: each prediction's 80% band (where the measurement should lie); a bar that "
        "crosses the dashed line holds its measurement."
    )
    st.altair_chart(charts.accuracy_chart(loso_df, "engine"), width="stretch")
    reasons = stated_reasons()
    over = loso_df[loso_df["error_pct"].abs() > OUTLIER_PCT]
    with st.expander(f"{len(over)} held-out rows off by more than {OUTLIER_PCT:.0f}%, each with its stated reason"):
        st.dataframe(
            over.assign(reason=[reasons.get(i, "") for i in over["id"]])[
                ["id", "source", "hardware", "model", "metric", "measured", "predicted", "error_pct", "reason"]
            ].sort_values("error_pct", key=abs, ascending=False),
            hide_index=True,
            width="stretch",
        )
    with st.expander("every held-out prediction"):
        st.dataframe(hdf.sort_values("error_pct", key=abs, ascending=False), hide_index=True, width="stretch")

st.subheader("On the calibration set")
st.caption(
    "Each point is one public measurement (data/calibration.csv, confidence=normal) and the model's "
    "prediction of it with the committed calibration. On the dashed line the prediction is exact. "
    "`*`: the source gives no lengths, llama-bench's pp512/tg128 are assumed."
)
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
summ = (
    d.assign(abs_err=d["error_pct"].abs())
    .groupby(["engine", "family", "metric"])
    .agg(rows=("abs_err", "size"), median_abs_pct=("abs_err", "median"), max_abs_pct=("abs_err", "max"))
    .reset_index()
    .round(1)
)
st.subheader("Error by engine, chip family and metric")
st.dataframe(summ, hide_index=True, width="stretch")
st.subheader("Every row")
st.dataframe(
    d.sort_values("error_pct", key=abs, ascending=False),
    hide_index=True,
    width="stretch",
    column_config={
        "source": st.column_config.LinkColumn("source", display_text="source"),
        "error_pct": st.column_config.NumberColumn("error %", format="%+.1f"),
    },
)

st.subheader("Serving load tests, simulated")
st.caption(
    f"The mode=serve rows run through the simulator ({SERVE_REQUESTS} requests each; "
    "`python -m planner validate` uses 2000)."
)
sv = serve_rows()
if sv.empty:
    st.info("No serving rows could be simulated.")
else:
    k1, k2 = st.columns(2)
    k1.metric("rows", len(sv))
    k2.metric("median |error|", f"{sv['error_pct'].abs().median():.1f}%")
    st.altair_chart(charts.accuracy_chart(sv, "hardware"), width="stretch")
    st.dataframe(sv, hide_index=True, width="stretch")
