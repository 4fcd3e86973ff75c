"""Shared Streamlit glue: the scenario state (URL <-> session), the sidebar editor and the cached
engine calls.  All numbers come from `planner`; this module only wires widgets to it."""

from __future__ import annotations

import contextvars
import json
import re
import time
from urllib.parse import urlencode

import streamlit as st

from planner.catalog.loader import load_catalog
from planner.errors import ScenarioError
from planner.plan import search as plan_mod
from planner.sim import budget as bud
from planner.sim.scenario import (
    MAX_COMPARE,
    MAX_REQUESTS,
    MAX_TOKENS,
    Machine,
    Scenario,
    parse_scenario,
    scenario_catalog,
)
from planner.webapp import compare as cmp
from planner.webapp import defaults as dflt
from planner.webapp import sweep as swp
from planner.webapp import verdict
from planner.webapp.clamps import clamp, sweep_plan
from planner.webapp.links import decode, decode_plan, encode, encode_params, encode_plan_params
from planner.webapp.plan_inputs import PlanInputs

KEY = "scenario"
WARN = "link_warnings"
PLAN = "plan_inputs"  # the Capacity plan page's inputs (plan.* in the URL)
PLAN_WARN = "plan_link_warnings"
NOTE = "note:"  # prefix of a link message that is information (a migrated v=1 link), not a warning
W = "w:"  # prefix of the editor's widget keys
PANEL = "panel:opt"  # key of machine option i's panel in the sidebar (its open state): PANEL + str(i)
PANEL_COST = "panel:cost"  # key of the cost assumptions' panel
URL_RE = re.compile(r"https?://[^\s)\],;]+")


_CATALOG: dict = {}


def _pair(where):
    """Two widgets side by side (in the order they are drawn): one horizontal block, not a block of two columns (fewer
    elements for the browser to draw on every run)."""
    return where.container(horizontal=True, wrap=False)


def catalog():
    """planner's catalog.  load_catalog checks the profile files' times on every call (it re-reads an edited
    profile); a page run asks for the catalog several times, so the check is done at most once a second."""
    now = time.monotonic()
    if _CATALOG.get("cat") is None or now - _CATALOG["at"] > 1.0:
        _CATALOG.update(cat=load_catalog(), at=now)
    return _CATALOG["cat"]


def scenario_cat(sc: Scenario):
    try:
        return scenario_catalog(catalog(), sc)
    except ScenarioError:
        return catalog()


# ------------------------------------------------------------------ state


def init_state() -> Scenario:
    """The session's scenario; on a session's first run it is read from the URL."""
    ss = st.session_state
    if KEY not in ss:
        sc, warnings = decode(st.query_params.to_dict(), catalog())
        ss[KEY] = sc
        ss[WARN] = [(NOTE if w.note else "") + str(w) for w in warnings]
        inp, pw = decode_plan(st.query_params.to_dict(), catalog())
        ss[PLAN] = inp
        # the plan fields the link carried: kept when the scenario first sets the plan's shared inputs
        ss["_plan_link_fields"] = {k[5:] for k in st.query_params.to_dict() if k.startswith("plan.")}
        ss[PLAN_WARN] = [str(w) for w in pw]
    return ss[KEY]


def set_scenario(sc: Scenario, clear_widgets: bool = True) -> None:
    ss = st.session_state
    ss[KEY] = sc
    if clear_widgets:
        for k in [k for k in ss if isinstance(k, str) and k.startswith(W)]:
            del ss[k]


def show_link_warnings() -> None:
    for w in st.session_state.get(WARN, []):
        if w.startswith(NOTE):
            st.info(f"Share link: {w[len(NOTE) :]}", icon=":material/info:")
        else:
            st.warning(f"Share link: {w}", icon="⚠️")


def url_params(sc: Scenario) -> dict[str, str]:
    """The address bar's query: the scenario's non-defaults and the plan page's (plan.*), one version key."""
    params = encode_params(sc)
    params.update(encode_plan_params(st.session_state.get(PLAN) or PlanInputs()))
    return params


def sync_url(sc: Scenario) -> None:
    params = url_params(sc)
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)


def share_query(sc: Scenario) -> str:
    return encode(sc)


PAGE_PATHS = ("load_sweep", "capacity_plan", "catalog", "measurements", "accuracy", "claims")


def absolute_url(query: str, page: str = "") -> str:
    """The full link: this server's address as the browser reached it (any base path kept), the page and the
    query."""
    from urllib.parse import urlsplit

    try:
        base = st.context.url
    except Exception:  # noqa: BLE001 - no browser context (AppTest)
        base = None
    parts = urlsplit(base or "http://localhost:8501/")
    path = parts.path or "/"
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if last in PAGE_PATHS:
        path = path.rstrip("/")[: -len(last)]
    if not path.endswith("/"):
        path += "/"
    return f"{parts.scheme or 'http'}://{parts.netloc or 'localhost:8501'}{path}{page}?{query}"


def plan_query() -> str:
    """The Capacity plan page's share link: the version key and its plan.* inputs."""
    params = {"v": encode_params(st.session_state[KEY])["v"]}
    params.update(encode_plan_params(st.session_state.get(PLAN) or PlanInputs()))
    return urlencode(params, safe=",:[]")


def linkify(text: str | None) -> str:
    """Markdown with every URL in a source string as a link."""
    if not text:
        return ""
    out, last = [], 0
    for m in URL_RE.finditer(text):
        out.append(text[last : m.start()].replace("[", "(").replace("]", ")"))
        url = m.group(0).rstrip(".")
        out.append(f"[{url}]({url})")
        last = m.start() + len(url)
    out.append(text[last:].replace("[", "(").replace("]", ")"))
    return "".join(out)


def first_url(text: str | None) -> str | None:
    m = URL_RE.search(text or "")
    return m.group(0).rstrip(".") if m else None


# ------------------------------------------------------------------ editor


def _init(key: str, value) -> str:
    if key not in st.session_state:
        st.session_state[key] = value
    return key


class _Closed:
    """Stands in for st in a closed panel: draws nothing; a widget returns the value its key would start with."""

    def _value(self, *args, key: str, **kwargs):
        return st.session_state.pop(key)  # set by _init just before: not kept (fewer keys, faster widgets)

    selectbox = number_input = text_input = _value

    def caption(self, *args, **kwargs) -> None:
        pass

    def container(self, **kwargs) -> "_Closed":
        return self


CLOSED = _Closed()


def _forget(prefixes: tuple[str, ...]) -> None:
    """Drops the widget values whose keys start with one of `prefixes` (the widgets of a closed panel, which are
    not drawn): opened again, they start from the scenario."""
    if prefixes:
        for k in [k for k in st.session_state if isinstance(k, str) and k.startswith(prefixes)]:
            del st.session_state[k]


def _scale_out(i: int, m: Machine, cat, w=st) -> dict:
    """Widgets of an option's scale-out fields (nodes joined by a link, the parallel split, a CPU host
    holding offloaded weights); returns them as Machine fields."""
    w.caption("Scale-out: machines joined by a link, the split, offload to host RAM")
    row = _pair(w)
    nodes = row.number_input(
        "Nodes",
        1,
        256,
        step=1,
        key=_init(f"{W}opt{i}:nodes", m.nodes),
        help="machines per replica, joined by the link (e.g. Mac Studios over Thunderbolt 5)",
    )
    par = row.text_input(
        "Parallel",
        key=_init(f"{W}opt{i}:par", m.parallel or ""),
        placeholder="default",
        help="split over all devices, e.g. tp=8, pp=2, tp=4,pp=2 or tp=8,ep=8; empty: the "
        "engine's usual split (llama.cpp: layers, pp)",
    )
    links = ["none", *sorted(cat.interconnects)]
    link = w.selectbox(
        "Link",
        links,
        key=_init(f"{W}opt{i}:link", m.link if m.link in links else "none"),
        help="interconnect between the nodes",
    )
    hosts = ["none", *sorted(cat.hosts)]
    host = w.selectbox(
        "Host",
        hosts,
        key=_init(f"{W}opt{i}:host", m.host if m.host in hosts else "none"),
        help="CPU host whose RAM holds offloaded weights",
    )
    modes = ["none", "experts", "layers"]
    cur = "none" if not m.offload else ("experts" if m.offload == "experts" else "layers")
    row = _pair(w)
    mode = row.selectbox(
        "Offload",
        modes,
        key=_init(f"{W}opt{i}:off", cur),
        help="llama.cpp: MoE experts (-ot exps=CPU) or N layers in host RAM, computed by the CPU",
    )
    off = None if mode == "none" else mode
    if mode == "layers":
        n0 = int(m.offload[7:]) if m.offload and m.offload.startswith("layers:") else 8
        off = f"layers:{int(row.number_input('Layers', 1, 1000, step=1, key=_init(f'{W}opt{i}:offn', n0)))}"
    return {
        "nodes": int(nodes),
        "link": None if link == "none" else link,
        "parallel": par.strip() or None,
        "host": None if host == "none" else host,
        "offload": off,
    }


ENGINE_QUANT = {"vllm": "fp8", "sglang": "fp8", "tensorrt-llm": "fp8", "llama.cpp": "q4_k_m", "mlx": "mlx-4bit"}


def _stack(i: int, m: Machine, hw: str, sc: Scenario, cat, new_opt: bool, w=st) -> dict:
    """Widgets of an option's own stack (engine, quantization, KV-cache dtype).  A field equal to what the
    option already runs stays as it was (None: the scenario's), so only a real change is written."""
    if i < len(sc.options()) and hw == m.hardware and not new_opt:
        cur_q, cur_e, cur_kv = sc.stack(i)
    else:  # a new option, or new hardware: what a buyer would run on it
        d = dflt.default_stack(cat, sc, m.model_copy(update={"hardware": hw, "memory_gb": None}))
        cur_q, cur_e, cur_kv = d["quant"], d["engine"], None
    engines = sorted(cat.engines)
    row = _pair(w)
    engine = row.selectbox(
        "Engine",
        engines,
        key=_init(f"{W}opt{i}:engine:{hw}", cur_e if cur_e in engines else engines[0]),
        format_func=lambda e: cmp.engine_label(cat, e),
    )
    quants = [q for q in sorted(cat.quants) if engine in cat.quants[q].engines] or sorted(cat.quants)
    q0 = cur_q if cur_q in quants else ENGINE_QUANT.get(engine, quants[0])
    quant = row.selectbox(
        "Quantization",
        quants,
        key=_init(f"{W}opt{i}:quant:{hw}:{engine}", q0 if q0 in quants else quants[0]),
        format_func=cmp.quant_label,
    )
    kvs = ["default", *sorted(cat.kv_dtypes)]
    kv = w.selectbox(
        "KV cache",
        kvs,
        key=_init(f"{W}opt{i}:kv", cur_kv if cur_kv in kvs else "default"),
        help="KV-cache dtype (default: the engine's)",
    )
    kv = None if kv == "default" else kv
    out = {}
    own = m.model_dump(mode="json") if hw == m.hardware and not new_opt else {}
    for field, v, cur in (("engine", engine, cur_e), ("quant", quant, cur_q), ("kv_dtype", kv, cur_kv)):
        out[field] = own.get(field) if (v == cur and own) else v
    return out


def _option(i: int, m: Machine, sc: Scenario, cat, new_opt: bool, w=st) -> dict:
    """Machine option i's widgets (hardware, memory, devices, replicas, quote, scale-out, stack); returns its
    Machine fields.  `w` is st inside the option's open panel, or CLOSED: no widget is drawn and each field is
    what its widget would start with (so an option reads the same whether its panel is open or not)."""
    hw_ids = sorted(cat.hardware)
    hw = w.selectbox(
        "Hardware",
        hw_ids,
        key=_init(f"{W}opt{i}:hw", m.hardware if m.hardware in cat.hardware else hw_ids[0]),
        format_func=lambda h: cmp.short_hardware(cat.hardware[h]),
        help="the machine or card; its full name and sources are on the Catalog page",
    )
    sizes = cat.hardware[hw].memory_gb
    mem = None
    if len(sizes) > 1:
        start = m.memory_gb if hw == m.hardware and m.memory_gb in sizes else max(sizes)
        mem = w.selectbox(
            "Memory, GB", sizes, key=_init(f"{W}opt{i}:mem:{hw}", start), format_func=lambda s: f"{s:g} GB"
        )
    else:
        w.caption(f"{sizes[0]:g} GB per device")
    row = _pair(w)
    dev = row.number_input(
        "Devices",
        1,
        1024,
        step=1,
        key=_init(f"{W}opt{i}:dev", m.devices),
        help="per replica: tensor parallel (llama.cpp: layer split)",
    )
    rep = row.number_input("Replicas", 1, 1024, step=1, key=_init(f"{W}opt{i}:rep", m.replicas))
    quote = w.number_input(
        "Your quote, $ (0 = catalog prices)",
        0.0,
        1e9,
        step=500.0,
        format="%.0f",
        key=_init(f"{W}opt{i}:quote", float(m.price_usd or 0.0)),
        help="price of ONE replica as a working machine (cards, chassis, CPU, RAM, "
        "networking, all its nodes); replaces the catalog's prices and travels "
        "in the link and the CSV",
    )
    keep = m.model_dump(mode="json") if hw == m.hardware else {}  # fields the editor does not show
    keep.update(hardware=hw, memory_gb=mem, devices=int(dev), replicas=int(rep), **_scale_out(i, m, cat, w))
    keep["price_usd"] = float(quote) or None
    keep.update(_stack(i, m, hw, sc, cat, new_opt, w))
    return keep  # validated with the scenario below (a bad field is named there)


def _cost_widgets(cost: dict, sc: Scenario, w=st) -> None:
    """The cost assumptions' widgets (in their open panel; `w`: st, or CLOSED); writes the Scenario's cost fields into `cost`."""
    cost["usd_per_kwh"] = w.number_input(
        "Electricity, $/kWh", 0.0, 10.0, step=0.01, format="%.3f", key=_init(W + "kwh", sc.cost.usd_per_kwh)
    )
    cost["amortize_years"] = w.number_input(
        "Amortise hardware over, years", 0.5, 20.0, step=0.5, key=_init(W + "years", sc.cost.amortize_years)
    )
    cost["pue"] = w.number_input(
        "PUE",
        1.0,
        5.0,
        step=0.05,
        key=_init(W + "pue", sc.cost.pue),
        help="energy x PUE (cooling, power delivery); 1.0 at home",
    )
    cost["utilization"] = w.number_input(
        "Share of the time at this load",
        0.01,
        1.0,
        step=0.05,
        key=_init(W + "util", sc.cost.utilization),
        help="the machine serves the simulated load this share of the time and idles the rest (as in the "
        "Capacity plan)",
    )


def editor(sc: Scenario, page: str) -> Scenario:
    """The scenario editor in the sidebar; returns the edited scenario (the old one if invalid).
    Widgets of the same key on two pages are different widgets to Streamlit, so on a page change
    the editor's widgets start again from the stored scenario."""
    if st.session_state.get("_editor_page") != page:
        set_scenario(sc)
        st.session_state["_editor_page"] = page
    cat = scenario_cat(sc)
    sb = st.sidebar
    sb.header("Scenario")
    models = sorted(cat.models)
    model = sb.selectbox("Model", models, key=_init(W + "model", sc.model), format_func=lambda i: cat.models[i].name)
    sb.caption("Each machine option runs its own engine and quantization (in its panel below).")
    wl = sc.workload
    data = sc.model_dump(mode="json")
    data.update(model=model)
    w = data["workload"]
    sb.subheader("Workload")
    kinds = ["team", "concurrency", "rate"]
    cur = {"poisson": "rate"}.get(wl.arrival, wl.arrival)
    if wl.arrival == "closed":
        cur = "team" if wl.think_time_s > 0 else "concurrency"
    if cur not in kinds:
        kinds.append(cur)
    kind = sb.radio(
        "Load",
        kinds,
        key=_init(W + "load", cur),
        horizontal=True,
        format_func=lambda k: {"team": "a team", "concurrency": "busy users", "rate": "requests/s"}.get(
            k, f"{k} (from the scenario)"
        ),
        help="a team: N people, each sending a request every T minutes at busy times (think time); "
        "busy users: each sends the next request as soon as the answer ends (closed loop, no "
        "think time); requests/s: random arrivals at a mean rate (Poisson)",
    )
    if kind == "team":
        row = _pair(sb)
        w["arrival"] = "closed"
        people = row.number_input("People", 1, 100_000, step=1, key=_init(W + "people", wl.concurrency or 30))
        every = row.number_input(
            "A request every, min",
            0.1,
            1440.0,
            step=0.5,
            format="%.1f",
            key=_init(W + "every", round(wl.think_time_s / 60, 2) if wl.think_time_s else 2.0),
            help="at busy times, per person: the mean think time between reading an answer "
            "and sending the next request",
        )
        w["concurrency"], w["think_time_s"] = int(people), float(every) * 60.0
        sb.caption(verdict.team_load_text(int(people), float(every)))
    elif kind == "concurrency":
        w["arrival"] = "closed"
        w["think_time_s"] = 0.0
        w["concurrency"] = sb.number_input(
            "Busy users",
            1,
            100_000,
            step=1,
            key=_init(W + "concurrency", wl.concurrency or 4),
            help="closed loop with no think time: each user sends the next request the moment the previous answer ends",
        )
    elif kind == "rate":
        w["arrival"] = "poisson"
        w["rate_rps"] = sb.number_input(
            "Requests per second",
            0.001,
            1e6,
            step=0.05,
            format="%.3f",
            key=_init(W + "rate", float(wl.rate_rps or 0.1)),
            help="random (Poisson) arrivals at this mean rate",
        )
    row = _pair(sb)
    for name, label in (("prompt", "Prompt tokens"), ("output", "Output tokens")):
        ln = getattr(wl, name)
        if ln.dist == "fixed":
            w[name]["mean"] = row.number_input(
                label, 1, MAX_TOKENS, step=64, key=_init(W + name, int(round(ln.mean or 1)))
            )
        else:
            row.caption(f"{label}: {ln.dist} distribution (from the scenario)")
    row = _pair(sb)
    w["requests"] = row.number_input(
        "Requests simulated",
        1,
        MAX_REQUESTS,
        step=100,
        key=_init(W + "requests", wl.requests or 1000),
        help="per machine option; more = smoother percentiles, slower",
    )
    w["seed"] = row.number_input("Seed", 0, 2**31 - 1, step=1, key=_init(W + "seed", wl.seed))
    sb.subheader("SLO (p95)")
    row = _pair(sb)
    ttft = row.number_input(
        "TTFT, s (0 = none)", 0.0, 1e6, step=1.0, key=_init(W + "slo_ttft", sc.slo.ttft_p95_s or 0.0)
    )
    tpot = row.number_input(
        "TPOT, ms (0 = none)", 0.0, 1e6, step=10.0, key=_init(W + "slo_tpot", sc.slo.tpot_p95_ms or 0.0)
    )
    data["slo"]["ttft_p95_s"] = ttft or None
    data["slo"]["tpot_p95_ms"] = tpot or None

    sb.subheader("Machine options")
    opts = sc.options()
    n = sb.number_input("How many (1-6)", 1, MAX_COMPARE + 1, step=1, key=_init(W + "n", len(opts)))
    machines = []
    panels = [
        sb.expander(  # tracked: a closed panel's widgets are not drawn, so a re-run redraws far less
            cmp.option_label(
                i, opts[i] if i < len(opts) else dflt.spare_option(sc, cat), cat, sc if i < len(opts) else None
            ),
            expanded=False,
            key=f"{PANEL}{i}",
            on_change="rerun",
        )
        for i in range(int(n))
    ]
    closed = [i for i, p in enumerate(panels) if i < len(opts) and not p.open]
    _forget(tuple(f"{W}opt{i}:" for i in closed))
    for i in range(int(n)):
        new_opt = i >= len(opts)
        m = opts[i] if not new_opt else dflt.spare_option(sc, cat)
        if i in closed:
            machines.append(_option(i, m, sc, cat, new_opt, CLOSED))
        else:
            with panels[i]:
                machines.append(_option(i, m, sc, cat, new_opt))
    data["machine"], data["compare"] = machines[0], machines[1:]
    costs = sb.expander("Cost assumptions", key=PANEL_COST, on_change="rerun")
    if costs.open:
        with costs:
            _cost_widgets(data["cost"], sc)
    else:  # closed: not drawn, the scenario's values stay
        _forget((W + "kwh", W + "years", W + "pue", W + "util"))
        _cost_widgets(data["cost"], sc, CLOSED)
    try:
        new = parse_scenario(data)
    except ScenarioError as exc:
        sb.error(f"{exc} (the previous value is kept)")
        return sc
    if new != sc:
        st.session_state[KEY] = new
        st.session_state[WARN] = []
    return new


# ------------------------------------------------------------------ cached engine calls


def server_budget() -> bud.Budget:
    """The server's compute budget (planner.sim.budget: $PLANNER_BUDGET / $PLANNER_BUDGET_FILE)."""
    return bud.load_budget()


def _stopped() -> bool:
    """True once this session asked to stop the run in flight (the toolbar's Stop, or a widget change
    that will re-run the page anyway).  Streamlit has no public API for it: read defensively."""
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

        req = getattr(get_script_run_ctx(suppress_warning=True), "script_requests", None)
        return req is not None and getattr(req._state, "name", "CONTINUE") != "CONTINUE"
    except Exception:  # noqa: BLE001 - a Streamlit internals change must not break the page
        return False


def within_budget(sc: Scenario) -> Scenario:
    """The scenario the page may compute: fields over the server's budget are lowered to it, each with
    a warning naming the field and the budget.  The URL keeps what the link asked for."""
    run, clamps = clamp(sc, server_budget())
    for c in clamps:
        st.warning(f"Compute budget: {c}", icon="⏱️")
    return run


def stop_button() -> bool:
    """The Stop button (clickable while the page computes); True on the run its click caused, when
    nothing new is simulated.  Streamlit's own Stop (top right while running) works too."""
    return bool(
        st.button(
            "Stop",
            key="_stop",
            icon=":material/stop_circle:",
            type="tertiary",
            help="stop the simulations in flight; results computed before stay cached",
        )
    )


# st.cache_resource, not st.cache_data: a hit returns the stored result itself, not a copy unpickled on every re-run
# (37-70 kB for a simulated option, 0.2-0.6 ms each here); the callers copy its top level (`dict(...)`) and change
# nothing below it. Live objects are 5-6x their pickle (about 1-2.4 MB for an option at the budget's requests), so
# the cache keeps 64 of them (about 150 MB at most; a share link can ask for a new key each time)
@st.cache_resource(max_entries=64, ttl=3600, show_spinner=False)
def _evaluate(one_json: str) -> dict:
    # runs under the caller's planner.sim.budget.deadline: the wall-clock limit and Stop raise BudgetError,
    # which is not cached (options finished before it are; a re-run continues from there)
    return cmp.evaluate_option(catalog(), Scenario.model_validate_json(one_json), 0)


def _option_key(sc: Scenario, i: int) -> str:
    """`_evaluate`'s argument for option `i` of `sc` (a scenario within the server's budget)."""
    return sc.for_option(i).model_dump_json()


def warm_options(sc: Scenario) -> None:
    """Evaluates `sc`'s options into `_evaluate`'s cache as `evaluate` looks them up, drawing nothing and with no
    time limit (the launcher's warm-up, before the server starts: `app_pages/serve.py`)."""
    run, _ = clamp(sc, server_budget())
    for i in range(len(run.options())):
        _evaluate(_option_key(run, i))


def _stopped_result(i: int, m: Machine, message: str) -> dict:
    return {
        "option": i + 1,
        "hardware": m.hardware,
        "devices": m.devices,
        "replicas": m.replicas,
        "error": f"option {i + 1}: {message}",
        "sim_error": None,
        "sim": None,
    }


def evaluate(sc: Scenario, progress=None) -> list[dict]:
    """One result per option, cached by the option's own scenario (changing one option
    re-runs only that one).  Runs within the server's compute budget (warnings on the page), the
    simulations under one wall-clock limit, with a Stop button while it computes."""
    sc = within_budget(sc)
    cat = scenario_cat(sc)
    out = []
    n = len(sc.options())
    # after a click on Stop: only what is cached is shown (a limit of 0 s stops any new simulation)
    seconds = 0 if stop_button() else server_budget().sim_seconds
    with bud.deadline(seconds, _stopped, "the simulations of this page"):
        for i in range(n):
            m = sc.options()[i]
            try:
                r = dict(_evaluate(_option_key(sc, i)))
            except bud.BudgetError as exc:
                r = _stopped_result(i, m, str(exc))
            r["option"] = i + 1
            r["label"] = cmp.option_label(i, m, cat, sc)
            for k in ("error", "sim_error"):
                if r.get(k):
                    r[k] = r[k].replace("option 1:", f"option {i + 1}:")
            out.append(r)
            if progress:
                progress(i + 1, n)
    return out


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def _sweep(one_json: str, points: int) -> dict:
    with bud.deadline(server_budget().sim_seconds, _stopped, "the load sweep"):
        return swp.sweep(catalog(), Scenario.model_validate_json(one_json), 0, points)


def sweep(sc: Scenario, i: int, points: int = 8) -> dict | None:
    """The load sweep of option i, within the budget: `sc` should come from `within_budget`; the points
    per option are lowered so that all options together stay within the budget's sweep points."""
    sc, _ = clamp(sc, server_budget())  # its warnings were shown by `evaluate`
    pts, req, clamps = sweep_plan(len(sc.options()), points, sc.workload.requests, server_budget())
    for c in clamps if i == 0 else []:
        st.warning(f"Compute budget: {c}", icon="⏱️")
    one = sc.for_option(i)
    one = one.model_copy(update={"workload": one.workload.model_copy(update={"requests": req})})
    try:
        return _sweep(one.model_dump_json(), pts)
    except bud.BudgetError as exc:
        st.error(f"{cmp.option_label(i, sc.options()[i])}: {exc}")
        return None


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def _plan(spec_json: str, _progress=None) -> dict:
    # serial: a process pool forked from Streamlit's threaded server is not reliable (and a spawned one
    # re-imports the app); R1 on the whole catalog takes about 13-15 s on a shared 2-core machine
    return plan_mod.plan(catalog(), json.loads(spec_json), executor="serial", progress=_progress)


def run_plan(spec: dict, progress=None) -> dict:
    """planner.plan.search.plan, cached by the spec.  `progress(done, total)` runs in the caller's context, outside
    the cache's element recording (a progress bar is not part of the cached result)."""
    cb = None
    if progress:
        ctx = contextvars.copy_context()
        cb = lambda done, total: ctx.run(progress, done, total)  # noqa: E731
    return _plan(json.dumps(spec, sort_keys=True), cb)
