"""Catalog: hardware, models, quantizations and engines with their sources; add a custom machine."""

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from app_pages import ui
from planner.errors import PlannerError
from planner.model.arch import active_params, params
from planner.sim.scenario import CustomHardware, parse_scenario, scenario_catalog

sc = ui.init_state()
cat = ui.scenario_cat(sc)
st.title("Catalog")
st.caption(
    "Every figure carries its source (links open the page it was copied from). "
    "Derived figures say what arithmetic produced them."
)


def src(fig):
    return fig.source or f"derived: {fig.derived}" if fig is not None else ""


def weak(h) -> list[str]:
    """The hardware's low-confidence figures (profiles mark them confidence = "low", with why)."""
    figs = [
        ("bandwidth", h.memory_bandwidth_gbs),
        ("max power", h.power_max_w),
        ("idle power", h.power_idle_w),
        *((f"{k} TFLOPS", v) for k, v in h.tflops.items()),
        *(("price", p) for p in h.prices),
    ]
    return [what for what, f in figs if f is not None and f.confidence == "low"]


def flag(fig) -> str:
    return f" ⚠ **low confidence**: {fig.confidence_note}" if fig is not None and fig.confidence == "low" else ""


hw_rows = []
for h in cat.hardware.values():
    price = h.prices[0] if h.prices else None
    hw_rows.append(
        {
            "id": h.id,
            "name": h.name,
            "low confidence": ("⚠ " + ", ".join(dict.fromkeys(weak(h)))) if weak(h) else "",
            "vendor": h.vendor,
            "arch": h.arch.id if h.arch else "",
            "memory GB": ", ".join(f"{s:g}" for s in h.memory_gb),
            "bandwidth GB/s": h.memory_bandwidth_gbs.value,
            "bandwidth source": ui.first_url(src(h.memory_bandwidth_gbs)),
            "FP16 TFLOPS": (h.tflops.get("fp16") or h.tflops.get("bf16") or h.tflops.get("fp32")).value,
            "FP8 TFLOPS": h.tflops["fp8"].value if "fp8" in h.tflops else None,
            "max power W": h.power_max_w.value,
            "idle power W": h.power_idle_w.value if h.power_idle_w else None,
            "interconnect": h.interconnect.name if h.interconnect else "",
            "price $": price.usd if price else None,
            "price source": ui.first_url(price.source) if price else None,
            "sources (full text)": f"bandwidth: {src(h.memory_bandwidth_gbs)} | power: {src(h.power_max_w)}",
        }
    )
tabs = st.tabs(["Hardware", "Models", "Quantizations", "Engines", "Add a custom machine"])
with tabs[0]:
    st.dataframe(
        pd.DataFrame(hw_rows).sort_values("id"),
        hide_index=True,
        width="stretch",
        column_config={
            "bandwidth source": st.column_config.LinkColumn("bandwidth source", display_text="source"),
            "price source": st.column_config.LinkColumn("price source", display_text="source"),
            "price $": st.column_config.NumberColumn(format="dollar"),
            "low confidence": st.column_config.TextColumn(
                "low confidence",
                help="⚠ figures whose only sources are weak (a third-party estimate, an aggregator "
                "page, no vendor figure); the details below say why for each one",
            ),
            "idle power W": st.column_config.NumberColumn(
                "idle power W",
                help="sourced where the vendor publishes it (Apple); otherwise a stated estimate "
                "(derived, see the details)",
            ),
        },
    )
    pick = st.selectbox("Details of", sorted(cat.hardware), key="cat_hw")
    h = cat.hardware[pick]
    lines = [
        f"**{h.name}** ({h.vendor}, {h.family}, {h.memory} memory)",
        *([f"- architecture {h.arch.name} (`{h.arch.id}`): {ui.linkify(h.arch.source)}"] if h.arch else []),
        f"- memory {', '.join(f'{s:g}' for s in h.memory_gb)} GB: {ui.linkify(h.memory_source)}",
        f"- bandwidth {h.memory_bandwidth_gbs.value:g} GB/s: {ui.linkify(src(h.memory_bandwidth_gbs))}"
        + flag(h.memory_bandwidth_gbs),
    ]
    lines += [f"- {k} {v.value:g} TFLOPS: {ui.linkify(src(v))}{flag(v)}" for k, v in h.tflops.items()]
    lines.append(f"- max power {h.power_max_w.value:g} W: {ui.linkify(src(h.power_max_w))}{flag(h.power_max_w)}")
    if h.power_idle_w:
        f = h.power_idle_w
        lines.append(
            f"- idle power {f.value:g} W: "
            + (ui.linkify(f.source) if f.source else f"**estimate** — {ui.linkify(f.derived)}")
            + flag(f)
        )
    if h.interconnect:
        lines.append(
            f"- {h.interconnect.name} {h.interconnect.bandwidth_gbs.value:g} GB/s: "
            f"{ui.linkify(src(h.interconnect.bandwidth_gbs))}"
        )
    lines += [
        f"- price ${p.usd:,.0f} ({p.kind}, {p.date}{', ' + f'{p.memory_gb:g} GB' if p.memory_gb else ''}): "
        f"{ui.linkify(p.source)}{flag(p)}"
        for p in h.prices
    ]
    if h.notes:
        lines.append(f"- notes: {h.notes}")
    st.markdown("\n".join(lines))
with tabs[1]:
    rows = [
        {
            "id": m.id,
            "name": m.name,
            "arch": m.arch,
            "attention": m.attention,
            "params B": round(params(m).total / 1e9, 1),
            "active B": round(active_params(m) / 1e9, 1),
            "layers": m.num_layers,
            "max context": m.max_context,
            "source": ui.first_url(" ".join(m.sources)) or ", ".join(m.sources),
            "published params": src(m.published_total_params_b),
        }
        for m in cat.models.values()
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={"source": st.column_config.LinkColumn("source", display_text="source")},
    )
with tabs[2]:
    rows = [
        {
            "id": q.id,
            "name": q.name,
            "family": q.family,
            "bits/weight": q.bits_per_weight.value,
            "applies to": q.applies_to,
            "engines": ", ".join(q.engines),
            "quality vs 16-bit": q.quality.note if q.quality else "none known",
            "source": ui.first_url(src(q.bits_per_weight)),
            "source (full text)": src(q.bits_per_weight),
        }
        for q in cat.quants.values()
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={"source": st.column_config.LinkColumn("source", display_text="source")},
    )
with tabs[3]:
    rows = [
        {
            "id": e.id,
            "name": e.name,
            "batching": e.batching,
            "paged KV": e.paged_kv,
            "vendors": ", ".join(e.vendors),
            "calibrated for": ", ".join(sorted(e.calibration))
            or (f"borrows {e.calibration_from}" if e.calibration_from else "uncalibrated"),
            "source": e.source,
        }
        for e in cat.engines.values()
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={"source": st.column_config.LinkColumn("source", display_text="source")},
    )
    # the support matrix (profiles/support): which formats each engine runs on which GPU architecture
    sup = [
        {
            "engine": sm.engine,
            "table": table,
            "architectures": ", ".join(r.archs),
            "formats": ", ".join(getattr(r, "formats", [])) or "(runs on)",
            "support": getattr(r, "support", "runs"),
            "models": getattr(r, "models", "any"),
            "min version": r.min_version or "",
            "source": r.source,
        }
        for sm in cat.support.values()
        for table in ("runs_on", "weights", "kv_cache")
        for r in getattr(sm, table)
    ]
    st.caption(
        "Support matrix (profiles/support): native = the GPU does the format's math; emulated = stored in the "
        "format, dequantized and multiplied at 16-bit; unsupported or not listed = refused, with the nearest "
        "supported alternative."
    )
    st.dataframe(pd.DataFrame(sup), hide_index=True, width="stretch")
with tabs[4]:
    st.markdown(
        "Describe a machine that is not in the catalog. It joins this scenario (and its share link and "
        "CSV) and can then be picked as a machine option on the Compare page."
    )
    with st.form("custom_hw"):
        c1, c2 = st.columns(2)
        hid = c1.text_input("id", "my-gpu", help="lower-case letters, digits, '.', '_' or '-'")
        name = c2.text_input("name", "My GPU")
        vendor = c1.selectbox("vendor (picks the calibration)", ["nvidia", "amd", "apple"])
        memory = c2.selectbox("memory", ["discrete", "unified"])
        mem = c1.number_input("memory per device, GB", 1.0, 100_000.0, 96.0)
        bw = c2.number_input("memory bandwidth, GB/s", 1.0, 1e6, 1800.0)
        f16 = c1.number_input("dense FP16 TFLOPS", 0.1, 1e6, 500.0)
        f8 = c2.number_input("dense FP8 TFLOPS (0 = none)", 0.0, 1e6, 0.0)
        pw = c1.number_input("max power, W", 1.0, 100_000.0, 600.0)
        price = c2.number_input("price per device, $ (0 = unknown)", 0.0, 1e9, 0.0)
        link = c1.number_input("device-to-device bandwidth, GB/s (0 = none)", 0.0, 1e6, 0.0)
        source = c2.text_input("source of these figures", "entered by the user")
        also = st.checkbox("add it as a machine option on the Compare page", True)
        ok = st.form_submit_button("Add machine")
    if ok:
        entry = {
            "id": hid.strip(),
            "name": name.strip() or hid,
            "vendor": vendor,
            "memory": memory,
            "memory_gb": mem,
            "bandwidth_gbs": bw,
            "fp16_tflops": f16,
            "fp8_tflops": f8 or None,
            "power_w": pw,
            "price_usd": price or None,
            "interconnect_gbs": link or None,
            "source": source or "entered by the user",
        }
        data = sc.model_dump(mode="json")
        data["custom_hardware"] = [h for h in data["custom_hardware"] if h["id"] != entry["id"]] + [entry]
        if also and len(data["compare"]) < 5:
            data["compare"].append({"hardware": entry["id"]})
        try:
            CustomHardware(**entry)
            new = parse_scenario(data)
            scenario_catalog(ui.catalog(), new)
        except (PlannerError, ValidationError) as exc:  # bad input only: a defect shows its traceback
            st.error(f"Not added: {exc}")
        else:
            ui.set_scenario(new)
            st.session_state["_custom_ok"] = f"Added {entry['id']}."
            st.rerun()
    if st.session_state.get("_custom_ok"):
        st.success(st.session_state.pop("_custom_ok"))
    if sc.custom_hardware:
        st.markdown("**Custom machines in this scenario**")
        for i, h in enumerate(sc.custom_hardware):
            c1, c2 = st.columns([5, 1])
            c1.markdown(
                f"`{h.id}` {h.name}: {h.memory_gb:g} GB, {h.bandwidth_gbs:g} GB/s, {h.fp16_tflops:g} FP16 "
                f"TFLOPS, {h.power_w:g} W — source: {h.source}"
            )
            if c2.button("Remove", key=f"rm_custom_{i}"):
                data = sc.model_dump(mode="json")
                data["custom_hardware"].pop(i)
                data["compare"] = [m for m in data["compare"] if m["hardware"] != h.id]
                if data["machine"]["hardware"] == h.id:
                    st.error("It is option 1's machine: pick another hardware for option 1 first.")
                else:
                    ui.set_scenario(parse_scenario(data))
                    st.rerun()
