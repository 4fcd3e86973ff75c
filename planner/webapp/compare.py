"""The Compare page's engine side: one result per machine option (fit, memory, single-stream speed,
simulated serving, power, price, derived cost), its labels, the summary and per-request tables and the
one-page Markdown summary.  The default scenario and presets live in `planner.webapp.defaults`, the load
sweep in `planner.webapp.sweep`.  No Streamlit here: the app calls these through its cache, the tests
call them directly.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any, Callable

from planner.catalog.loader import Catalog, load_catalog, short_hardware
from planner.catalog.support import format_note
from planner.econ import costs as econ
from planner.errors import CatalogError, ScenarioError
from planner.model.predict import predict
from planner.sim.engine import simulate_scenario
from planner.sim.scenario import Lengths, Machine, Scenario, scenario_catalog
from planner.webapp.defaults import preset_scenario
from planner.webapp.verdict import classify, tight


def _capex(cat: Catalog, m, memory_gb: float) -> econ.Capex:
    """econ.capex of one option's machine (its devices, nodes, replicas, link, host, offload and quote)."""
    return econ.capex(
        cat,
        m.hardware,
        memory_gb,
        devices=m.devices,
        nodes=m.nodes,
        replicas=m.replicas,
        link=m.link,
        host=m.host,
        offload=m.offload,
        quote_usd=m.price_usd,
    )


def preset_caption(name: str) -> str:
    """The preset's caption, generated from its scenario (so it always names the machines it loads):
    'Llama 3.1 70B: M3 Ultra 60c 96 GB (MLX 4-bit), RTX PRO 6000 (vLLM FP8), ...'."""
    cat = _base_catalog()
    hit = _CAPTIONS.get(name)
    if hit and hit[0] is cat:  # the app shows every preset's caption on each re-run
        return hit[1]
    sc = preset_scenario(name)
    m = cat.models.get(sc.model)
    opts = []
    for i, o in enumerate(sc.options()):
        lab = option_label(i, o, cat, sc).split(": ", 1)[1]
        machine, _, stack = lab.partition(" · ")
        opts.append(f"{machine} ({stack.replace(' · ', ' ')})" if stack else machine)
    text = f"{m.name.split(' (')[0] if m else sc.model}: " + ", ".join(opts)
    _CAPTIONS[name] = (cat, text)
    return text


_CAPTIONS: dict[str, tuple[Catalog, str]] = {}  # preset -> (the catalog it was made from, caption)


COST_FORMULA = econ.FORMULA
# an option without a sourced price has no full $ per million output tokens (usd_per_mtok stays None: it is
# never the energy share alone, which would read as the cheapest option); its energy share is shown apart
ENERGY_ONLY_NOTE = "no sourced price for this configuration: $/Mtok not known, energy share only"


def typical_length(ln: Lengths, fallback: int) -> int:
    """One representative length for a single-stream prediction."""
    if ln.dist in ("fixed", "lognormal") and ln.mean:
        return max(1, round(ln.mean))
    if ln.dist == "uniform" and ln.max:
        return max(1, round((ln.min + ln.max) / 2))
    return fallback


def scale_out_text(m: Machine) -> str:
    """The option's scale-out fields in words ('' when it is one box with the engine's usual split), e.g.
    'thunderbolt5', 'pp=2', 'experts in host RAM' (the host is in the results' offload column)."""
    parts = []
    if m.link:
        parts.append(m.link)
    if m.parallel:
        parts.append(m.parallel.replace(" ", ""))
    if m.offload:
        parts.append(("experts" if m.offload == "experts" else f"{m.offload[7:]} layers") + " in host RAM")
    return ", ".join(parts)


def quant_label(q: str) -> str:
    """'fp8' -> 'FP8', 'q4_k_m' -> 'Q4_K_M', 'mlx-4bit' -> 'MLX 4-bit'."""
    m = re.fullmatch(r"mlx-(\d+)bit", q)
    return f"MLX {m.group(1)}-bit" if m else q.upper()


def engine_label(cat: Catalog | None, e: str) -> str:
    if cat is not None and e in cat.engines:
        return cat.engines[e].name.split(" (", 1)[0]
    return e


def stack_text(cat: Catalog | None, quant: str, engine: str, kv_dtype: str | None = None) -> str:
    """'SGLang · FP8', 'MLX · 4-bit' (plus ' · KV fp8' when the KV cache dtype is set)."""
    q = quant_label(quant)
    if engine == "mlx" and q.startswith("MLX "):
        q = q[4:]
    return f"{engine_label(cat, engine)} · {q}" + (f" · KV {kv_dtype}" if kv_dtype else "")


def option_label(i: int, m: Machine, cat: Catalog | None = None, sc: Scenario | None = None) -> str:
    """Short label naming the machine and its stack, e.g. '3: 8x H200 SXM · SGLang · FP8',
    '1: M3 Ultra 80c 512 GB · llama.cpp · Q4_K_M' or '2: 2 nodes x M3 Ultra 80c 512 GB, thunderbolt5 ·
    llama.cpp · Q4_K_M'.  Without a scenario the option's own stack fields are used (if set)."""
    mem = f" {m.memory_gb:g} GB" if m.memory_gb else ""
    name = m.hardware
    if cat is not None and m.hardware in cat.hardware:
        hw = cat.hardware[m.hardware]
        name = short_hardware(hw)
        if m.memory_gb is None:
            sizes = hw.memory_gb
            mem = f" {max(sizes):g} GB" if len(sizes) > 1 else ""
    dev = f"{m.devices}x " if m.devices > 1 else ""
    nodes = getattr(m, "nodes", 1) or 1
    if nodes > 1:
        dev = f"{nodes} nodes x {dev}"
    rep = f" x{m.replicas} replicas" if m.replicas > 1 else ""
    extra = scale_out_text(m)
    quant: str | None
    engine: str | None
    if sc is not None:
        quant, engine, kv = sc.stack(i)
    else:
        quant, engine, kv = m.quant, m.engine, m.kv_dtype
    stack = f" · {stack_text(cat, quant, engine, kv)}" if quant and engine else ""
    return f"{i + 1}: {dev}{name}{mem}{rep}" + (f", {extra}" if extra else "") + stack


def evaluate_option(base: Catalog, sc: Scenario, i: int) -> dict:
    """Everything the Compare page shows for option i, run with the option's own stack. Never raises for a
    bad option: the problem is returned in `error` (the field and the fix)."""
    m = sc.options()[i]
    quant, engine, kv = sc.stack(i)
    out: dict = {
        "option": i + 1,
        "label": option_label(i, m, None, sc),
        "hardware": m.hardware,
        "devices": m.devices,
        "replicas": m.replicas,
        "quant": quant,
        "engine": engine,
        "kv_dtype": kv,
        "error": None,
        "sim_error": None,
        "sim": None,
    }
    try:
        cat = scenario_catalog(base, sc)
        out["label"] = option_label(i, m, cat, sc)
        hw = cat.get("hardware", m.hardware, "hardware")
        wl = sc.workload
        prompt, gen = typical_length(wl.prompt, 512), typical_length(wl.output, 256)
        pr = predict(
            cat,
            hardware=m.hardware,
            model=sc.model,
            quant=quant,
            engine=engine,
            memory_gb=m.memory_gb,
            usable_memory_gb=m.usable_memory_gb,
            devices=m.devices,
            prompt=prompt,
            gen=gen,
            kv_dtype=kv,
            nodes=m.nodes,
            link=m.link,
            parallel=m.parallel,
            host=m.host,
            offload=m.offload,
            host_memory_gb=m.host_memory_gb,
        )
    except (CatalogError, ScenarioError) as exc:
        out["error"] = f"option {i + 1}: {exc}"
        return out
    mem_opt = pr["memory_gb_option"]
    boxes = m.devices * m.nodes * m.replicas  # devices bought and powered
    host = cat.hosts.get(m.host) if m.host else None
    out.update(
        {
            "nodes": m.nodes,
            "link": m.link,
            "parallel": pr["parallel"],
            "host": m.host,
            "offload": m.offload,
            "host_memory": pr["host_memory_gb"],
            "name": hw.name,
            "vendor": hw.vendor,
            "memory_gb_option": mem_opt,
            "memory_kind": hw.memory,
            "fits": pr["fits"],
            "reason": pr["reason"],
            "memory": pr["memory_gb"],
            "prompt": prompt,
            "gen": gen,
            "prefill_tok_s": pr["prefill_tok_s"],
            "decode_tok_s": pr["decode_tok_s"],
            "ttft_s": pr["ttft_s"],
            "prefill_tok_s_band80": pr.get("prefill_tok_s_band80"),
            "decode_tok_s_band80": pr.get("decode_tok_s_band80"),
            "tpot_s": pr["tpot_s"],
            "max_concurrent_sequences": pr["max_concurrent_sequences"],
            "calibration": pr["calibration"],
            "bandwidth_gbs": hw.memory_bandwidth_gbs.value,
            "bandwidth_source": hw.memory_bandwidth_gbs.source or hw.memory_bandwidth_gbs.derived,
            "power_max_w": econ.max_power_w(hw, boxes, host if m.offload else None, m.replicas),
            "power_source": hw.power_max_w.source or hw.power_max_w.derived,
        }
    )
    out["format"] = format_note(cat, pr["quant"], pr.get("support"))  # quality note; "(emulated)" per the matrix
    cap = _capex(cat, m, mem_opt)
    out["price"] = econ.device_price(cat, m.hardware, mem_opt)
    out["price_usd"] = cap.usd
    out["capex_parts"] = cap.parts
    out["capex_note"] = cap.note
    out["bare_cards"] = cap.bare_cards
    out["chassis"] = cap.chassis
    out["price_is_quote"] = m.price_usd is not None
    if pr["fits"]:
        try:
            res = simulate_scenario(cat, sc.for_option(i))
            out["sim"] = res.summary
            out["requests"] = {k: list(v) for k, v in res.columns.items() if k != "reason"}
            out["timeline"] = res.timeline
        except (CatalogError, ScenarioError) as exc:
            out["sim_error"] = f"option {i + 1}: {exc}"
    else:
        out["sim_error"] = "does not fit: not simulated"
    out.update(cost(out, sc, cat))
    return out


def served_output_tok_s(s: dict | None, wl) -> float | None:
    """Output tokens per second the option serves at the scenario's load.  Open-loop arrivals at a rate
    that the simulation kept up with (nothing rejected, at least 90% of the offered requests per second
    completed per second) serve the offered rate x the mean output length, as the Capacity plan counts
    it; otherwise (closed loop, overload, other arrivals) the simulated throughput."""
    if not s or not s.get("throughput_tok_s"):
        return None
    if (
        wl.arrival in ("poisson", "gamma", "constant")
        and wl.rate_rps
        and wl.output.dist == "fixed"
        and not s.get("rejected")
        and (s.get("request_throughput_rps") or 0) >= 0.9 * wl.rate_rps
    ):
        return wl.rate_rps * wl.output.mean
    return s["throughput_tok_s"]


def option_costs(cat: Catalog, one: Scenario, s: dict | None) -> dict:
    """Costs of `one` (a one-option scenario, `Scenario.for_option`) at its simulated load, from the one cost
    model (planner.econ.costs): capex, power at load and idle, energy with PUE, $ per million output tokens (with
    its capex and energy shares), output tokens per joule."""
    res: dict[str, Any] = {
        "avg_power_w": None,
        "power_idle_w": None,
        "usd_per_mtok": None,
        "usd_per_mtok_capex": None,
        "usd_per_mtok_energy": None,
        "tokens_per_joule": None,
        "tco_usd": None,
        "energy_kwh_per_year": None,
        "served_output_tok_s": None,
        "cost_note": None,
        "usd_per_month": None,
        "usd_per_user_month": None,
    }
    tok_s = served_output_tok_s(s, one.workload)
    if s is None or tok_s is None:
        res["cost_note"] = "no simulated throughput"
        return res
    m = one.machine
    hw = cat.hardware[m.hardware]
    mem = m.memory_gb if m.memory_gb is not None else max(hw.memory_gb)
    cap = _capex(cat, m, mem)
    pw = econ.power(
        cat,
        m.hardware,
        m.devices * m.nodes,
        s.get("utilization") or 0.0,
        replicas=m.replicas,
        host=m.host,
        offload=m.offload,
        nodes=m.nodes,
    )
    c = one.cost
    t = econ.tco(
        cap.usd, pw["power_load_w"], pw["power_idle_w"], tok_s, c.utilization, c.pue, c.usd_per_kwh, c.amortize_years
    )
    res.update(
        avg_power_w=round(pw["power_load_w"], 1),
        power_idle_w=round(pw["power_idle_w"], 1),
        power_note=pw["power_note"],
        usd_per_mtok=t["usd_per_m_output_tokens"],
        usd_per_mtok_capex=t["usd_per_m_output_tokens_capex"],
        usd_per_mtok_energy=t["usd_per_m_output_tokens_energy"],
        tokens_per_joule=t["output_tokens_per_joule"],
        tco_usd=t["tco_usd"],
        energy_kwh_per_year=t["energy_kwh_per_year"],
        served_output_tok_s=tok_s,
        usd_per_month=t["usd_per_month"],
    )
    wl = one.workload
    if wl.arrival == "closed" and wl.concurrency and t["usd_per_month"] is not None:
        res["usd_per_user_month"] = t["usd_per_month"] / wl.concurrency
    if cap.usd is None:  # no full $/Mtok (econ.tco leaves it None): the energy share alone is usd_per_mtok_energy
        res["cost_note"] = ENERGY_ONLY_NOTE
    return res


def cost(o: dict, sc: Scenario, cat: Catalog | None = None) -> dict:
    """Costs of option `o["option"]` of `sc` at its simulated load (see `option_costs`)."""
    cat = cat or scenario_catalog(_base_catalog(), sc)
    return option_costs(cat, sc.for_option((o.get("option") or 1) - 1), o.get("sim"))


_BASE: dict = {}


def _base_catalog() -> Catalog:
    """load_catalog(), its check of the profile files' times done at most once a second (the app asks for it
    several times a run: the presets' captions, costs)."""
    now = time.monotonic()
    if _BASE.get("cat") is None or now - _BASE["at"] > 1.0:
        _BASE.update(cat=load_catalog(), at=now)
    return _BASE["cat"]


def compare(base: Catalog, sc: Scenario, progress: Callable[[int, int], None] | None = None) -> list[dict]:
    n = len(sc.options())
    out = []
    for i in range(n):
        out.append(evaluate_option(base, sc, i))
        if progress:
            progress(i + 1, n)
    return out


def _r(x, nd=1):
    return None if x is None else round(x, nd)


def _band(o: dict, key: str, i: int) -> float | None:
    """One end of a speed's 80% band ([low, high] in `<key>_band80`), None where there is none."""
    b = o.get(f"{key}_band80")
    return _r(b[i]) if b else None


def capacity_as_sold(o: dict) -> str | None:
    """The option's memory as the vendor sells it: "96 GB card", "2 x 96 GB cards", "512 GB Mac" (GB as sold =
    GiB, 2^30 bytes); None when unknown."""
    mem = o.get("memory_gb_option")
    if not mem:
        return None
    n = (o.get("devices") or 1) * (o.get("nodes") or 1)
    unit = "card" if o.get("memory_kind") == "discrete" else "Mac" if o.get("vendor") == "apple" else "machine"
    return f"{mem:g} GB {unit}" if n == 1 else f"{n} x {mem:g} GB {unit}s"


CAPACITY_HELP = (
    "memory as sold, in the vendor's GB: memory is sold in binary GB (GiB, 2^30 bytes), so a '96 GB' "
    "card holds 96 GiB = 96 x 1.074 = 103.1 GB of 10^9 bytes; the runtime keeps about 1 GiB of it "
    "(a Mac's GPU may use only part of its memory by default)"
)


def price_confidence(o: dict) -> str | None:
    """Why the option's price is weak (a part priced from a low-confidence source), or None; a quote is the user's."""
    if o.get("price_is_quote"):
        return None
    notes = [
        f"{p['what']}: {p.get('confidence_note') or 'low confidence'}"
        for p in o.get("capex_parts") or []
        if p.get("confidence") == "low"
    ]
    return "; ".join(notes) or None


def _split(p: dict | None) -> str | None:
    """{'tp': 1, 'pp': 8, 'ep': 1} -> 'pp=8' (the split predict used; None for one device)."""
    if not p:
        return None
    return ",".join(f"{k}={v}" for k, v in p.items() if v > 1) or None


def _offload(o: dict) -> str | None:
    if not o.get("offload"):
        return None
    hm = o.get("host_memory") or {}
    what = "experts" if o["offload"] == "experts" else o["offload"]
    gb = f", {hm['weights']:.0f} GB in host RAM" if hm.get("weights") else ""
    return f"{what} -> {o.get('host')}{gb}"


def summary_rows(results: list[dict], slo=None) -> list[dict]:
    """The summary table, one flat row per option (what the app shows and the CSV holds); with the
    scenario's `slo`, each row says whether the option meets the target and why not (planner.webapp.verdict)."""
    rows = []
    for o in results:
        s = o.get("sim") or {}
        mem = o.get("memory") or {}
        ttft, tpot = s.get("ttft_ms") or {}, s.get("tpot_ms") or {}
        rows.append(
            {
                "option": o["option"],
                "machine": o["label"],
                "hardware": o.get("hardware"),
                "engine": o.get("engine"),
                "quant": o.get("quant"),
                "kv_dtype": o.get("kv_dtype"),
                "nodes": o.get("nodes"),
                "link": o.get("link"),
                "parallel": _split(o.get("parallel")),
                "offload": _offload(o),
                "fits": o.get("fits") if not o["error"] else None,
                "reason": o["error"] or o.get("reason") or "",
                "memory_total_gb": _r(mem.get("total")),
                "memory_usable_gb": _r(mem.get("usable")),
                "weights_gb": _r(mem.get("weights")),
                "kv_cache_gb": _r(mem.get("kv_cache"), 2),
                "other_gb": _r(mem.get("other"), 2),
                "prefill_tok_s": _r(o.get("prefill_tok_s")),
                "decode_tok_s": _r(o.get("decode_tok_s")),
                # the 80% bands of the two speeds (planner.model.bands), flat for the CSV export
                "prefill_tok_s_low": _band(o, "prefill_tok_s", 0),
                "prefill_tok_s_high": _band(o, "prefill_tok_s", 1),
                "decode_tok_s_low": _band(o, "decode_tok_s", 0),
                "decode_tok_s_high": _band(o, "decode_tok_s", 1),
                "throughput_tok_s": _r(s.get("throughput_tok_s")),
                "requests_per_s": _r(s.get("request_throughput_rps"), 3),
                "ttft_p50_ms": _r(ttft.get("p50")),
                "ttft_p95_ms": _r(ttft.get("p95")),
                "ttft_p99_ms": _r(ttft.get("p99")),
                "tpot_p50_ms": _r(tpot.get("p50")),
                "tpot_p95_ms": _r(tpot.get("p95")),
                "tpot_p99_ms": _r(tpot.get("p99")),
                "goodput": _r(s.get("goodput"), 3),
                "rejected": s.get("rejected"),
                "power_max_w": o.get("power_max_w"),
                "avg_power_w": o.get("avg_power_w"),
                "price_usd": o.get("price_usd"),
                "usd_per_mtok": _r(o.get("usd_per_mtok"), 2),
                # the energy share of $/Mtok: the only cost figure of an unpriced option, never in usd_per_mtok
                "usd_per_mtok_energy": _r(o.get("usd_per_mtok_energy"), 2),
                "tokens_per_joule": _r(o.get("tokens_per_joule"), 3),
                "calibration": o.get("calibration"),
                "usd_per_month": _r(o.get("usd_per_month"), 0),
                "usd_per_user_month": _r(o.get("usd_per_user_month"), 0),
                "price_is_quote": o.get("price_is_quote"),
                "bare_cards": o.get("bare_cards"),
                "capacity": capacity_as_sold(o),
                "memory_used_share": _r(mem["total"] / mem["usable"], 3)
                if mem.get("total") and mem.get("usable")
                else None,
                "price_low_confidence": price_confidence(o),
            }
        )
        if slo is not None:
            ok, why = classify(o, slo)
            rows[-1].update(meets_target=ok, verdict=why, tight=tight(o))
    return rows


def request_rows(results: list[dict]) -> list[dict]:
    """Per-request simulation records of every simulated option, with an `option` column."""
    rows = []
    for o in results:
        cols = o.get("requests")
        if not cols:
            continue
        keys = list(cols)
        for vals in zip(*(cols[k] for k in keys)):
            r = {"option": o["option"]}
            r.update({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in zip(keys, vals)})
            rows.append(r)
    return rows


# --------------------------------------------------------------------------- load sweep


# --------------------------------------------------------------------------- one-page Markdown summary


def _md(v, fmt: str = "{:,.1f}") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        return fmt.format(v)
    return str(v).replace("|", "/") or "—"


def markdown_summary(cat: Catalog, sc: Scenario, results: list[dict], url: str | None = None) -> str:
    """One page for a procurement thread: the scenario, the table, the assumptions, and each option's
    sources and accuracy."""
    m = cat.models.get(sc.model)
    wl = sc.workload
    load = (
        (
            f"{wl.concurrency} users in a closed loop"
            + (f", {wl.think_time_s:g} s think time" if wl.think_time_s else "")
        )
        if wl.arrival == "closed"
        else (f"{wl.rate_rps:g} requests/s ({wl.arrival})" if wl.rate_rps else wl.arrival)
    )
    ln = lambda x, d: typical_length(x, d)  # noqa: E731
    slo = ", ".join(f"{k} {v:g}" for k, v in sc.slo.model_dump().items() if v is not None) or "none"
    out = [f"# {m.name if m else sc.model}: {len(results)} machine options", ""]
    if url:
        out += [f"Scenario link: {url}", ""]
    out += [
        "## Scenario",
        "",
        f"- model: {m.name if m else sc.model} (`{sc.model}`)",
        f"- workload: {load}; prompts {ln(wl.prompt, 512):,} tokens, answers {ln(wl.output, 256):,} tokens "
        f"({wl.prompt.dist}/{wl.output.dist}); {wl.requests or 1000:,} requests simulated per option, seed {wl.seed}",
        f"- SLO (p95): {slo}",
        "",
    ]
    out += [
        "## Results",
        "",
        "| option | fits | prefill tok/s | decode tok/s | sim. tok/s | TTFT p95 ms | TPOT p95 ms | goodput | "
        "price $ | $/M output tokens | of which energy $/M | tokens/J |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary_rows(results):
        out.append(
            "| "
            + " | ".join(
                [
                    _md(r["machine"]),
                    _md(r["fits"]),
                    _md(r["prefill_tok_s"], "{:,.0f}"),
                    _md(r["decode_tok_s"]),
                    _md(r["throughput_tok_s"]),
                    _md(r["ttft_p95_ms"], "{:,.0f}"),
                    _md(r["tpot_p95_ms"]),
                    _md(r["goodput"], "{:.0%}"),
                    _md(r["price_usd"], "{:,.0f}"),
                    _md(r["usd_per_mtok"], "{:,.2f}"),
                    _md(r["usd_per_mtok_energy"], "{:,.2f}")
                    + (" (energy only: no price)" if r["usd_per_mtok"] is None and r["usd_per_mtok_energy"] else ""),
                    _md(r["tokens_per_joule"], "{:.3f}"),
                ]
            )
            + " |"
        )
    c = sc.cost
    out += [
        "",
        "## Assumptions",
        "",
        f"- $ per million output tokens is **derived**: {econ.FORMULA}.",
        f"- electricity {c.usd_per_kwh:g} $/kWh, PUE {c.pue:g}, amortised over {c.amortize_years:g} years (no "
        f"resale), the machine serves this load {c.utilization:.0%} of the time and idles the rest.",
        "- GPU prices are per card where the catalog has no system price: the host server is not included "
        "unless the option offloads to a priced host.",
        "- Speeds are predictions (`predict`) and simulations (`simulate`), not measurements; see each option's "
        "calibration below.",
        "",
    ]
    out += ["## Each option's sources and accuracy", ""]
    for r in results:
        out.append(f"### {r['label']}")
        if r.get("error"):
            out += ["", f"- {r['error']}", ""]
            continue
        if not r.get("fits"):
            out.append(f"- does not fit: {r.get('reason')}")
        out.append(
            f"- hardware: {r.get('name')} — memory bandwidth {r.get('bandwidth_gbs'):g} GB/s "
            f"({r.get('bandwidth_source')})"
        )
        out.append(f"- max power {_md(r.get('power_max_w'), '{:,.0f}')} W: {r.get('power_source')}")
        p = r.get("price")
        out.append(
            f"- price: ${p['usd']:,.0f} per device ({p['kind']}, {p['date']}): {p['source']}"
            if p
            else "- price: no sourced price for this configuration"
        )
        for part in r.get("capex_parts") or []:
            if not part["what"][0].isdigit():
                out.append(f"- {part['what']}: ${part['usd']:,.0f} ({part.get('source')})")
        out.append(
            f"- calibration `{r.get('calibration')}` (the Accuracy page and `python -m planner validate` "
            "show how predictions for this engine and hardware class compare with public measurements)"
        )
        if r.get("cost_note"):
            out.append(f"- cost: {r['cost_note']}")
        out.append("")
    return "\n".join(out)
