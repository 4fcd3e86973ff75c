"""Your measurements: paste or upload a benchmark tool's output, pick the machine, see measured against
predicted, download a calibration overlay for that machine (a --profiles directory, as a zip)."""

import io
import zipfile

import pandas as pd
import streamlit as st

from app_pages import ui
from planner.errors import ScenarioError
from planner.webapp.benchimport import TOOLS, BenchImportError, import_bench, overlay_files

st.title("Your measurements")
st.caption(
    "Paste or upload the output of "
    + ", ".join(f"`{t}`" for t in TOOLS)
    + " (llama-bench: markdown, `-o json`, `-o jsonl` or `-o csv`; vllm: the `--save-result` JSON). "
    "The planner reads each result, identifies the model from the file name, size and parameter count "
    "(confirm or change it below), and sets each figure against its prediction for the machine you pick."
)
cat = ui.catalog()
hw_ids = sorted(cat.hardware)
c1, c2, c3 = st.columns([2, 1, 1])
hw = c1.selectbox(
    "Machine it ran on",
    hw_ids,
    index=hw_ids.index("apple-m3-ultra-80c"),
    key="mb_hw",
    format_func=lambda h: cat.hardware[h].name,
)  # human names; ids in the Catalog
devices = c2.number_input("Devices", 1, 64, 1, key="mb_dev")
sizes = cat.hardware[hw].memory_gb
mem = c3.selectbox("Memory, GB", sizes, index=len(sizes) - 1, key=f"mb_mem:{hw}", format_func=lambda s: f"{s:g}")
up = st.file_uploader("Upload the output", type=["txt", "md", "json", "jsonl", "csv", "log"], key="mb_up")
text = st.text_area(
    "…or paste it here",
    height=180,
    key="mb_text",
    placeholder="| model | size | params | backend | ngl | test | t/s |\n| --- | ...",
)
data = up.getvalue() if up is not None else (text or "").strip()
if not data:
    st.info("Nothing to read yet.")
    st.stop()
c1, c2 = st.columns(2)
models = ["(from the file)", *sorted(cat.models)]
quants = ["(from the file)", *sorted(cat.quants)]
model = c1.selectbox("Model", models, key="mb_model", help="confirm the identified model or pick it")
quant = c2.selectbox("Quantization", quants, key="mb_quant")
try:
    res = import_bench(
        cat,
        data,
        hw,
        model=None if model == models[0] else model,
        quant=None if quant == quants[0] else quant,
        devices=int(devices),
        memory_gb=mem,
    )
except (BenchImportError, ScenarioError) as exc:
    st.error(f"{exc}")
    st.stop()
fits = res.pop("_fits")
rows = pd.DataFrame(res["rows"])
ident = sorted({(r["model"] or "?", r["quant"] or "?") for r in res["rows"]})
st.success(
    f"Read {len(rows)} results of **{res['tool']}**; model and quantization: "
    + ", ".join(f"{m} {q}" for m, q in ident)
    + f". {res['compared']} compared with the prediction"
    + (f", median |error| {res['median_abs_error_pct']:g}%." if res["median_abs_error_pct"] is not None else ".")
)
show = rows[["line", "test", "metric", "model", "quant", "engine", "measured", "predicted", "error_pct", "note"]]
st.dataframe(
    show.style.format({"measured": "{:,.1f}", "predicted": "{:,.1f}", "error_pct": "{:+.1f}%"}, na_rep="—"),
    hide_index=True,
    width="stretch",
)
if fits:
    st.subheader("Calibration overlay for this machine")
    for e, o in res["overlay"].items():
        st.markdown(
            f"- **{e}** on `{hw}`: bandwidth efficiency {o['bandwidth_efficiency']:.3g}, compute "
            f"efficiency {o['compute_efficiency']:.3g} (rescaled from `{o['base']}` to your {o['rows']} rows)"
        )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for rel, body in overlay_files(cat, hw, fits).items():
            z.writestr(f"overlay-{hw}/{rel}", body)
    st.download_button(
        "Download the overlay (zip)",
        buf.getvalue(),
        f"overlay-{hw}.zip",
        "application/zip",
        key="mb_dl",
        icon=":material/download:",
    )
    st.caption(
        f"Unzip it and run `python -m planner predict ... --profiles overlay-{hw}` (or start the app with "
        f"`PLANNER_PROFILES=overlay-{hw}`): predictions for {hw} then use your measurements, other machines "
        "are unchanged. The overlay travels as a file, not in a link."
    )
else:
    st.info("No row could be compared (identify the model and quantization above): no overlay.")
