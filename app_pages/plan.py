"""Capacity plan: how many of which machine serve a peak load within the SLOs, and at what cost
(planner.plan.search.plan).  Inputs in the sidebar (and in the URL under plan.*), the ranked table, the cost /
latency Pareto chart, the winner explained and the excluded candidates grouped by reason."""

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from app_pages import charts, ui
from planner.errors import PlannerError, first_validation_error
from planner.glossary import HELP
from planner.plan import report as rep
from planner.plan.search import csv_rows
from planner.webapp import defaults as dflt
from planner.webapp import verdict as vd
from planner.webapp.csvio import write_table
from planner.webapp.plan_inputs import PlanInputs, plan_inputs_from_scenario, scenario_from_plan_inputs

sc = ui.init_state()
cat = ui.catalog()
P = "p:"  # widget keys
# Compare, Load sweep and Capacity plan share one workload, SLO and cost assumptions: a scenario changed on
# another page (or carried by the link) sets the plan's shared inputs; the default scenario leaves the plan's own
if st.session_state.get("_plan_synced") != sc and sc != dflt.default_scenario():
    st.session_state[ui.PLAN] = plan_inputs_from_scenario(
        sc, st.session_state[ui.PLAN], st.session_state.pop("_plan_link_fields", set())
    )
    for key in [x for x in st.session_state if isinstance(x, str) and x.startswith(P)]:
        del st.session_state[key]
st.session_state["_plan_synced"] = sc
inp: PlanInputs = st.session_state[ui.PLAN]


def k(name: str, value) -> str:
    """A widget key, its value taken from the plan inputs when the widget is new."""
    key = P + name
    if key not in st.session_state:
        st.session_state[key] = value
    return key


# ------------------------------------------------------------------ inputs
sb = st.sidebar
sb.header("Plan inputs")
with sb.form("plan_form", border=False):
    models = sorted(cat.models)
    model = st.selectbox(
        "Model",
        models,
        key=k("model", inp.model if inp.model in models else models[0]),
        format_func=lambda i: cat.models[i].name,
    )
    quants = ["all", *sorted(cat.quants)]
    quant = st.selectbox(
        "Quantization",
        quants,
        key=k("quant", inp.quant or "all"),
        format_func=lambda q: (
            "all sensible (bf16, fp8, q8_0, q4_k_m, mlx, mxfp4 for MoE)" if q == "all" else f"{cat.quants[q].name}"
        ),
    )
    min_q = st.selectbox(
        "Lowest precision",
        ["any", "4bit", "8bit", "16bit"],
        key=k("minq", inp.min_quality),
        help="min_quality: formats below it are not considered (default 4bit); the table shows each "
        "format's quality note",
    )
    st.subheader("Load")
    load = st.radio(
        "Peak load from",
        ["team", "rate", "daily"],
        key=k("load", inp.load),
        horizontal=True,
        format_func=lambda x: {"team": "a team", "rate": "peak rate", "daily": "daily tokens x peak factor"}[x],
    )
    c1, c2 = st.columns(2)
    people = c1.number_input(
        "People", 1, 1_000_000, step=1, key=k("people", int(inp.people)), help="used with 'a team'"
    )
    every = c2.number_input(
        "A request every, min",
        0.1,
        1440.0,
        step=0.5,
        format="%.1f",
        key=k("every", float(inp.every_min)),
        help="used with 'a team': per person, at busy times (" + HELP["think"] + ")",
    )
    rate = st.number_input(
        "Peak requests per second",
        0.001,
        1e5,
        step=0.5,
        format="%.3f",
        key=k("rate", float(inp.rate_rps)),
        help="used with 'peak rate'",
    )
    c1, c2 = st.columns(2)
    daily = c1.number_input(
        "Tokens per day",
        1.0,
        1e15,
        step=1e8,
        format="%.3g",
        key=k("daily", float(inp.daily_tokens)),
        help="prompt + output tokens per day; used with 'daily tokens x peak factor'",
    )
    peak = c2.number_input(
        "Peak factor",
        1.0,
        1000.0,
        step=0.5,
        key=k("peak", float(inp.peak_factor)),
        help="peak rate / mean rate over the day",
    )
    c1, c2 = st.columns(2)
    prompt = c1.number_input("Prompt tokens", 1, 1_000_000, step=100, key=k("prompt", inp.prompt))
    output = c2.number_input("Output tokens", 1, 1_000_000, step=100, key=k("output", inp.output))
    st.subheader("SLO (p95, 0 = none)")
    c1, c2, c3 = st.columns(3)
    ttft = c1.number_input("TTFT, s", 0.0, 1e6, step=0.5, key=k("ttft", float(inp.ttft_p95_s or 0)), help=HELP["ttft"])
    tpot = c2.number_input(
        "TPOT, ms", 0.0, 1e6, step=10.0, key=k("tpot", float(inp.tpot_p95_ms or 0)), help=HELP["tpot"]
    )
    e2e = c3.number_input(
        "E2E, s",
        0.0,
        1e6,
        step=5.0,
        key=k("e2e", float(inp.e2e_p95_s or 0)),
        help="p95 time from sending the request to the end of the answer",
    )
    st.subheader("Candidates")
    hw_ids = sorted(cat.hardware)
    cands = st.multiselect(
        "Hardware (empty: the whole catalog)",
        hw_ids,
        key=k("cands", list(inp.candidates or [])),
        format_func=lambda h: cat.hardware[h].name,
    )
    st.subheader("Cost assumptions")
    c1, c2 = st.columns(2)
    kwh = c1.number_input(
        "Electricity, $/kWh", 0.0, 10.0, step=0.01, format="%.3f", key=k("kwh", float(inp.electricity_usd_per_kwh))
    )
    pue = c2.number_input("PUE", 1.0, 5.0, step=0.05, key=k("pue", float(inp.pue)), help=HELP["pue"])
    c1, c2 = st.columns(2)
    years = c1.number_input("Years", 0.5, 20.0, step=0.5, key=k("years", float(inp.years)))
    util = c2.number_input(
        "Utilization, % (0 = default)",
        0.0,
        100.0,
        step=5.0,
        key=k("util", float((inp.utilization or 0) * 100)),
        help="share of the time the fleet serves the peak; 0: 50%, or 1 / peak factor with daily tokens",
    )
    submitted = st.form_submit_button("Plan", type="primary", icon=":material/play_arrow:", width="stretch")

if submitted:
    try:
        new = PlanInputs(
            model=model,
            quant=None if quant == "all" else quant,
            min_quality=min_q,
            load=load,
            rate_rps=rate,
            people=int(people),
            every_min=float(every),
            daily_tokens=daily,
            peak_factor=peak,
            prompt=int(prompt),
            output=int(output),
            ttft_p95_s=ttft or None,
            tpot_p95_ms=tpot or None,
            e2e_p95_s=e2e or None,
            candidates=list(cands) or None,
            electricity_usd_per_kwh=kwh,
            pue=pue,
            years=years,
            utilization=(util / 100) or None,
        )
    except ValidationError as exc:
        field, msg = first_validation_error(exc, "plan", unknown=None, indices=True)
        sb.error(f"{field}: {msg} (the previous inputs are kept)")
    else:
        if new != inp:
            st.session_state[ui.PLAN] = inp = new
            st.session_state[ui.PLAN_WARN] = []
            try:  # the shared workload, SLO and costs go back to Compare and the Load sweep
                sc = scenario_from_plan_inputs(sc, new)
            except ValidationError:
                pass
            else:
                ui.set_scenario(sc)
                st.session_state["_plan_synced"] = sc

# ------------------------------------------------------------------ plan
m = cat.models.get(inp.model)
st.title("Capacity plan")
load_text = (
    f"{inp.rate_rps:g} req/s peak"
    if inp.load == "rate"
    else f"{inp.people} people each sending a request every {inp.every_min:g} min "
    f"(at most {inp.team_rate_rps():.3g} req/s)"
    if inp.load == "team"
    else f"{inp.daily_tokens:,.0f} tokens/day x peak factor {inp.peak_factor:g}"
)
slo = ", ".join(
    t
    for t in (
        f"p95 TTFT <= {inp.ttft_p95_s:g} s" if inp.ttft_p95_s else "",
        f"TPOT <= {inp.tpot_p95_ms:g} ms" if inp.tpot_p95_ms else "",
        f"end-to-end <= {inp.e2e_p95_s:g} s" if inp.e2e_p95_s else "",
    )
    if t
)
st.caption(
    f"How many of which machine serve **{m.name if m else inp.model}** "
    f"({inp.quant or 'every sensible quantization'}) at {load_text}, {inp.prompt:,}-token prompts and "
    f"{inp.output:,}-token outputs, within {slo}, and at what cost — "
    + (
        "the whole catalog"
        if not inp.candidates
        else ", ".join(cat.hardware[h].name if h in cat.hardware else h for h in inp.candidates)
    )  # human names
    + ". Each candidate's maximum "
    "rate per replica and replica count come from the serving simulator (`python -m planner plan`)."
)
if inp.load == "team":
    st.caption(
        f"A team's load as arrivals: {inp.people} people / ({inp.every_min:g} min x 60 s) = "
        f"{inp.team_rate_rps():.3g} requests/s at busy times, planned as random (Poisson) arrivals at that "
        "rate: an upper bound, since people also wait for each answer (Compare simulates that closed loop)."
    )
for w in st.session_state.get(ui.PLAN_WARN, []):
    st.warning(f"Share link: {w}", icon="⚠️")
verdict_box = st.empty()

bar = st.progress(0.0, text="planning: screening the candidates")


def _progress(done: int, total: int) -> None:
    bar.progress(done / max(total, 1), text=f"simulating candidate {min(done + 1, total)} of {total}")


try:
    result = ui.run_plan(inp.spec(), _progress)
except PlannerError as exc:  # bad input only: a defect shows Streamlit's exception box
    bar.empty()
    st.error(f"No plan: {exc}")
    st.stop()
bar.empty()

rows = rep.ranked_rows(result)
stats = result["stats"]
st.caption(
    f"{stats['candidates']:,} candidates, {stats['meets_slo']} meet the SLO, {stats['simulated']} simulated "
    f"({stats['simulations']} simulations, {stats['wall_s']:.1f} s when first computed); peak "
    f"{result['workload']['rate_rps']:g} req/s, {result['workload']['output_tok_s_at_peak']:,.0f} output tok/s."
)

win = rows[0]
reps = f"{win['replicas']} replica{'s' if win['replicas'] > 1 else ''} of "
verdict_box.markdown(f"**{vd.plan_sentence(result, rows, load_text)}**")
st.success(f"**Winner: {reps}{win['candidate']}** — {win['why']}", icon=":material/trophy:")
c = st.columns(5)
c[0].metric("replicas", win["replicas"])
c[1].metric("capex", f"${win['capex_usd']:,.0f}")
c[2].metric(f"TCO, {result['cost_inputs']['years']:g} years", f"${win['tco_usd']:,.0f}")
c[3].metric("$ / M output tokens", f"${win['usd_per_m_output_tokens']:.3g}")
c[4].metric("headroom at peak", f"{win['headroom']:+.0%}")
if len(rows) > 1:
    st.markdown(
        "**Runners-up**\n\n" + "\n".join(f"- #{r['rank']} **{r['candidate']}** — {r['why']}" for r in rows[1:4])
    )

st.subheader("Candidates that meet the SLO, cheapest first")
st.dataframe(
    pd.DataFrame(rows).drop(columns=["why", "id"]),
    hide_index=True,
    width="stretch",
    column_config={
        "rank": st.column_config.NumberColumn("#", width="small"),
        "candidate": st.column_config.TextColumn("candidate", width="medium"),
        "max_rps_per_replica": st.column_config.NumberColumn("max req/s per replica", format="%.2f"),
        "capex_usd": st.column_config.NumberColumn("capex", format="dollar"),
        "power_load_w": st.column_config.NumberColumn("power at load W", format="%.0f"),
        "power_idle_w": st.column_config.NumberColumn("power idle W", format="%.0f"),
        "energy_kwh_per_year": st.column_config.NumberColumn("kWh / year", format="%.0f"),
        "tco_usd": st.column_config.NumberColumn("TCO", format="dollar"),
        "usd_per_m_output_tokens": st.column_config.NumberColumn("$ / M out tok", format="$%.3f"),
        "output_tokens_per_joule": st.column_config.NumberColumn("out tok / J", format="%.3f"),
        "headroom": st.column_config.NumberColumn("headroom", format="percent"),
        "ttft_p95_s": st.column_config.NumberColumn("TTFT p95 s", format="%.3f"),
        "tpot_p95_ms": st.column_config.NumberColumn("TPOT p95 ms", format="%.1f"),
        "e2e_p95_s": st.column_config.NumberColumn("E2E p95 s", format="%.2f"),
        "price_kind": st.column_config.TextColumn("price kind", help="list, street or estimate (see the catalog)"),
        "quality": st.column_config.TextColumn("format quality", help="the format's quality note against 16-bit"),
        "single_replica_max_rps": None,
    },
)
st.caption(
    "Headroom: the largest peak rate the chosen replicas sustain within the SLO (simulated) over the planned "
    "peak. 'max req/s per replica' is one replica facing the whole Poisson stream; N replicas behind a "
    "round-robin router each see every N-th request, a much more regular stream, so together they carry more "
    "than N times it. '(emulated)': the engine stores that format but computes at 16-bit on this GPU."
)

st.subheader("Cost against latency")
lat = st.radio(
    "Latency", list(rep.LATENCIES), key="plan_latency", horizontal=True, format_func=lambda x: rep.LATENCIES[x]
)
st.vega_lite_chart(
    charts.pareto_chart(rep.pareto_points(result, lat), rep.LATENCIES[lat]).to_dict(validate=False), width="stretch"
)
st.caption(
    "Each point a candidate that meets the SLO at the peak rate with its replica count; green: the Pareto "
    "front (no other candidate is both cheaper and faster), red diamond: the winner (lowest TCO). Log scales."
)

st.subheader("Cost assumptions")
ci = result["cost_inputs"]
st.markdown(
    f"Used: electricity **${ci['electricity_usd_per_kwh']:g}/kWh**, PUE **{ci['pue']:g}**, "
    f"**{ci['years']:g} years**, utilization **{ci['utilization']:.0%}** (edit them in the sidebar); GPU "
    "cards are priced with the machine around them (the catalog's workstation or 8-GPU server chassis). "
    "Inputs, not facts:\n\n" + "\n".join(f"- {a}" for a in result["assumptions"])
)
st.caption(
    "The same cost model as the Compare page and the Load sweep (`planner.econ.costs`): set Compare's cost "
    "assumptions to these and its load to the peak rate, and it shows the same $ per million output tokens."
)

st.subheader("Excluded candidates")
groups = rep.excluded_groups(result)
st.dataframe(pd.DataFrame([{"reason": g["heading"], "candidates": len(g["rows"])} for g in groups]), hide_index=True)
for g in groups:
    with st.expander(f"{g['heading']} ({len(g['rows'])})"):
        st.dataframe(
            pd.DataFrame(g["rows"]).drop(columns=["id"]),
            hide_index=True,
            width="stretch",
            column_config={"reason": st.column_config.TextColumn("reason", width="large")},
        )

st.subheader("Share and files")
st.markdown("Link to this plan (the address bar holds the same, with the Compare scenario):")
st.code(ui.absolute_url(ui.plan_query(), "capacity_plan"), language=None, wrap_lines=True)
st.download_button(
    "Plan CSV",
    write_table(list(csv_rows(result))),
    "plan.csv",
    "text/csv",
    key="dl_plan",
    help="every candidate, ranked, with the excluded ones and their reasons",
)
