"""The Compare and Load sweep pages' engine side: the app's default scenario, one result per
machine option (fit, memory, single-stream speed, simulated serving, power, price, derived cost)
and load sweeps with their saturation knee.  No Streamlit here: the app calls these through
its cache, the tests call them directly.
"""

from __future__ import annotations

import math
from typing import Callable

from .catalog import Catalog, CatalogError
from .perf import ScenarioError
from .predict import predict
from .scenario import Lengths, Machine, Scenario, parse_scenario, scenario_catalog
from .support import format_note

# The app opens on the article's machine, DeepSeek R1 671B Q4_K_M on a Mac Studio M3 Ultra 512 GB
# with llama.cpp, next to GPU machines that hold the same file with the same engine (llama.cpp
# splits the layers across the GPUs). 4x RTX PRO 6000 (408 GB usable) is 4.6 GB short of R1's
# 412.6 GB, so the workstation option has 8.
DEFAULT = {
    "model": "deepseek-r1", "quant": "q4_k_m", "engine": "llama.cpp",
    "machine": {"hardware": "apple-m3-ultra-80c", "memory_gb": 512},
    "compare": [{"hardware": "nvidia-h100-sxm", "devices": 8},
                {"hardware": "nvidia-h200-sxm", "devices": 4},
                {"hardware": "nvidia-rtx-pro-6000", "devices": 8}],
    "workload": {"arrival": "closed", "concurrency": 4, "requests": 400,
                 "prompt": {"mean": 512}, "output": {"mean": 256}},
    "slo": {"ttft_p95_s": 10, "tpot_p95_ms": 150},
}
# "DeepSeek R1 beyond one box" (project issue 6): one Mac, two Macs over Thunderbolt 5, the 8-GPU H100 and
# H200 servers and one RTX PRO 6000 with the experts in an EPYC host's RAM, all the same Q4_K_M file with
# llama.cpp so memory and speed compare like for like (all five fit; `python -m planner predict`).
PRESETS = {
    "r1-beyond-one-box": {
        "title": "DeepSeek R1 beyond one box",
        "note": ("All five run the same Q4_K_M file with llama.cpp, so memory and speed compare like for like. "
                 "The GPU servers would normally run FP8 with vLLM (tensor parallel): switch quantization and "
                 "engine in the sidebar to compare; at FP8 8x H100 (618.5 GB usable) does not hold R1's 685 GB, "
                 "8x H200 does. Offload speeds are uncalibrated upper bounds."),
        "scenario": {
            "model": "deepseek-r1", "quant": "q4_k_m", "engine": "llama.cpp",
            "machine": {"hardware": "apple-m3-ultra-80c", "memory_gb": 512},
            "compare": [{"hardware": "apple-m3-ultra-80c", "memory_gb": 512, "nodes": 2, "link": "thunderbolt5"},
                        {"hardware": "nvidia-h100-sxm", "devices": 8},
                        {"hardware": "nvidia-h200-sxm", "devices": 8},
                        {"hardware": "nvidia-rtx-pro-6000", "host": "amd-epyc-9004-genoa", "offload": "experts"}],
            "workload": {"arrival": "closed", "concurrency": 4, "requests": 400,
                         "prompt": {"mean": 512}, "output": {"mean": 256}},
            "slo": {"ttft_p95_s": 10, "tpot_p95_ms": 150},
        },
    },
}


def preset_scenario(name: str) -> Scenario:
    return parse_scenario(PRESETS[name]["scenario"])


def preset_of(sc: Scenario) -> str | None:
    """The preset whose model, quantization, engine and machine options `sc` has (None if none)."""
    for name in PRESETS:
        p = preset_scenario(name)
        if (sc.model, sc.quant, sc.engine, sc.options()) == (p.model, p.quant, p.engine, p.options()):
            return name
    return None


# options offered when the user adds one (the first not already present)
SPARE_OPTIONS = [{"hardware": "nvidia-b200", "devices": 4}, {"hardware": "nvidia-a100-80gb-sxm", "devices": 8},
                 {"hardware": "amd-mi300x", "devices": 4}, {"hardware": "nvidia-h200-sxm", "devices": 8},
                 {"hardware": "apple-m3-ultra-80c", "memory_gb": 256}]
HOURS_PER_YEAR = 365.25 * 24
COST_FORMULA = ("derived: (price / (amortize_years x 8766 h) + average power x $/kWh) / simulated output "
                "tokens per hour; price = sourced price per device x devices x replicas")


def default_scenario() -> Scenario:
    return parse_scenario(DEFAULT)


def spare_option(sc: Scenario) -> Machine:
    have = {(m.hardware, m.devices) for m in sc.options()}
    for o in SPARE_OPTIONS:
        if (o["hardware"], o.get("devices", 1)) not in have:
            return Machine(**o)
    return sc.options()[-1].model_copy()


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


def option_label(i: int, m: Machine, cat: Catalog | None = None) -> str:
    """Short label, e.g. '1: 8x nvidia-h100-sxm', '2: apple-m3-ultra-80c 512 GB' or
    '3: 2 nodes x apple-m3-ultra-80c 512 GB, thunderbolt5'."""
    mem = f" {m.memory_gb:g} GB" if m.memory_gb else ""
    if cat is not None and m.memory_gb is None and m.hardware in cat.hardware:
        sizes = cat.hardware[m.hardware].memory_gb
        mem = f" {max(sizes):g} GB" if len(sizes) > 1 else ""
    dev = f"{m.devices}x " if m.devices > 1 else ""
    nodes = getattr(m, "nodes", 1) or 1
    if nodes > 1:
        dev = f"{nodes} nodes x {dev}"
    rep = f" x{m.replicas} replicas" if m.replicas > 1 else ""
    extra = scale_out_text(m)
    return f"{i + 1}: {dev}{m.hardware}{mem}{rep}" + (f", {extra}" if extra else "")


def _price(hw, memory_gb: float) -> dict | None:
    p = hw.price_for(memory_gb)
    if p is None:
        return None
    return {"usd": p.usd, "kind": p.kind, "date": p.date, "source": p.source}


def evaluate_option(base: Catalog, sc: Scenario, i: int) -> dict:
    """Everything the Compare page shows for option i. Never raises for a bad option: the
    problem is returned in `error` (the field and the fix)."""
    m = sc.options()[i]
    out: dict = {"option": i + 1, "label": option_label(i, m), "hardware": m.hardware, "devices": m.devices,
                 "replicas": m.replicas, "error": None, "sim_error": None, "sim": None}
    try:
        cat = scenario_catalog(base, sc)
        out["label"] = option_label(i, m, cat)
        hw = cat.get("hardware", m.hardware, "hardware")
        wl = sc.workload
        prompt, gen = typical_length(wl.prompt, 512), typical_length(wl.output, 256)
        pr = predict(cat, hardware=m.hardware, model=sc.model, quant=sc.quant, engine=sc.engine,
                     memory_gb=m.memory_gb, usable_memory_gb=m.usable_memory_gb, devices=m.devices,
                     prompt=prompt, gen=gen, kv_dtype=sc.kv_dtype, nodes=m.nodes, link=m.link,
                     parallel=m.parallel, host=m.host, offload=m.offload, host_memory_gb=m.host_memory_gb)
    except (CatalogError, ScenarioError) as exc:
        out["error"] = f"option {i + 1}: {exc}"
        return out
    mem_opt = pr["memory_gb_option"]
    boxes = m.devices * m.nodes * m.replicas  # devices bought and powered
    host = cat.hosts.get(m.host) if m.host else None
    out.update({
        "nodes": m.nodes, "link": m.link, "parallel": pr["parallel"], "host": m.host, "offload": m.offload,
        "host_memory": pr["host_memory_gb"],
        "name": hw.name, "vendor": hw.vendor, "memory_gb_option": mem_opt, "fits": pr["fits"],
        "reason": pr["reason"], "memory": pr["memory_gb"], "prompt": prompt, "gen": gen,
        "prefill_tok_s": pr["prefill_tok_s"], "decode_tok_s": pr["decode_tok_s"], "ttft_s": pr["ttft_s"],
        "tpot_s": pr["tpot_s"], "max_concurrent_sequences": pr["max_concurrent_sequences"],
        "calibration": pr["calibration"],
        "bandwidth_gbs": hw.memory_bandwidth_gbs.value,
        "bandwidth_source": hw.memory_bandwidth_gbs.source or hw.memory_bandwidth_gbs.derived,
        "power_max_w": hw.power_max_w.value * boxes + (host.power_w.value * m.replicas if host and m.offload else 0),
        "power_source": hw.power_max_w.source or hw.power_max_w.derived,
    })
    out["format"] = format_note(cat, pr["quant"], pr.get("support"))  # quality note; "(emulated)" per the matrix
    price = _price(hw, mem_opt)
    out["price"] = price
    out["price_usd"] = price["usd"] * boxes if price else None
    if pr["fits"]:
        try:
            from .sim import simulate_scenario

            res = simulate_scenario(cat, sc.for_option(i))
            out["sim"] = res.summary
            out["requests"] = {k: list(v) for k, v in res.columns.items() if k != "reason"}
            out["timeline"] = res.timeline
        except (CatalogError, ScenarioError) as exc:
            out["sim_error"] = f"option {i + 1}: {exc}"
    else:
        out["sim_error"] = "does not fit: not simulated"
    out.update(cost(out, sc))
    return out


def cost(o: dict, sc: Scenario) -> dict:
    """Derived cost per million output tokens at the simulated load (capex + energy)."""
    s = o.get("sim")
    res = {"avg_power_w": None, "usd_per_mtok": None, "usd_per_mtok_capex": None, "usd_per_mtok_energy": None,
           "cost_note": None}
    if not s or not s.get("throughput_tok_s"):
        res["cost_note"] = "no simulated throughput"
        return res
    tps = s["throughput_tok_s"]
    jpt = s.get("energy_j_per_token")
    if jpt is not None:
        res["avg_power_w"] = round(jpt * tps, 1)
        res["usd_per_mtok_energy"] = jpt * 1e6 / 3.6e6 * sc.cost.usd_per_kwh
    if o.get("price_usd"):
        per_s = o["price_usd"] / (sc.cost.amortize_years * HOURS_PER_YEAR * 3600)
        res["usd_per_mtok_capex"] = per_s / tps * 1e6
    else:
        res["cost_note"] = "no sourced price for this configuration: energy only"
    parts = [v for v in (res["usd_per_mtok_capex"], res["usd_per_mtok_energy"]) if v is not None]
    res["usd_per_mtok"] = sum(parts) if parts else None
    return res


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


def summary_rows(results: list[dict]) -> list[dict]:
    """The summary table, one flat row per option (what the app shows and the CSV holds)."""
    rows = []
    for o in results:
        s = o.get("sim") or {}
        mem = o.get("memory") or {}
        ttft, tpot = s.get("ttft_ms") or {}, s.get("tpot_ms") or {}
        rows.append({
            "option": o["option"], "machine": o["label"], "nodes": o.get("nodes"), "link": o.get("link"),
            "parallel": _split(o.get("parallel")), "offload": _offload(o),
            "fits": o.get("fits") if not o["error"] else None,
            "reason": o["error"] or o.get("reason") or "",
            "memory_total_gb": _r(mem.get("total")), "memory_usable_gb": _r(mem.get("usable")),
            "weights_gb": _r(mem.get("weights")), "kv_cache_gb": _r(mem.get("kv_cache"), 2),
            "other_gb": _r(mem.get("other"), 2),
            "prefill_tok_s": _r(o.get("prefill_tok_s")), "decode_tok_s": _r(o.get("decode_tok_s")),
            "throughput_tok_s": _r(s.get("throughput_tok_s")), "requests_per_s": _r(s.get("request_throughput_rps"), 3),
            "ttft_p50_ms": _r(ttft.get("p50")), "ttft_p95_ms": _r(ttft.get("p95")), "ttft_p99_ms": _r(ttft.get("p99")),
            "tpot_p50_ms": _r(tpot.get("p50")), "tpot_p95_ms": _r(tpot.get("p95")), "tpot_p99_ms": _r(tpot.get("p99")),
            "goodput": _r(s.get("goodput"), 3), "rejected": s.get("rejected"),
            "power_max_w": o.get("power_max_w"), "avg_power_w": o.get("avg_power_w"),
            "price_usd": o.get("price_usd"), "usd_per_mtok": _r(o.get("usd_per_mtok"), 2),
            "calibration": o.get("calibration"),
        })
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
            r.update({k: (None if isinstance(v, float) and v != v else v) for k, v in zip(keys, vals)})
            rows.append(r)
    return rows


# --------------------------------------------------------------------------- load sweep

def sweep_loads(base: Catalog, sc: Scenario, i: int, points: int = 8) -> tuple[str, list[float]]:
    """The offered loads to sweep for option i: concurrencies (closed loop) or Poisson rates
    up to 1.5x the option's saturated request rate."""
    wl = sc.workload
    if wl.arrival == "closed":
        grid = sorted({1, 2, 4, 8, 16, 32, 64, wl.concurrency or 1})
        return "concurrency", [float(c) for c in grid]
    cat = scenario_catalog(base, sc)
    from .sim import simulate_scenario

    one = sc.for_option(i)
    e = cat.get("engines", sc.engine, "engine")
    width = e.n_parallel if e.batching == "slots" else e.max_num_seqs
    users = max(4, min(512, 2 * width)) * one.machine.replicas
    probe = one.model_copy(update={"workload": wl.model_copy(update={
        "arrival": "closed", "concurrency": users, "requests": min(wl.requests or 1000, 400), "rate_rps": None})})
    cap = simulate_scenario(cat, probe).summary["request_throughput_rps"] or 0.01
    fr = [0.1, 0.25, 0.5, 0.7, 0.85, 1.0, 1.2, 1.5]
    if points != len(fr):
        fr = [0.1 + 1.4 * k / (points - 1) for k in range(points)]
    return "rate_rps", [round(cap * f, 6) for f in fr]


def sweep_point(base: Catalog, sc: Scenario, i: int, kind: str, load: float) -> dict:
    from .sim import simulate_scenario

    cat = scenario_catalog(base, sc)
    one = sc.for_option(i)
    wl = one.workload
    if kind == "concurrency":
        upd = {"arrival": "closed", "concurrency": int(load)}
    else:
        upd = {"arrival": wl.arrival if wl.arrival in ("poisson", "gamma", "constant") else "poisson",
               "rate_rps": load}
    one = one.model_copy(update={"workload": wl.model_copy(update=upd)})
    s = simulate_scenario(cat, one).summary
    return {"option": i + 1, "load": load, "throughput_tok_s": s["throughput_tok_s"],
            "requests_per_s": s["request_throughput_rps"], "ttft_p95_ms": s["ttft_ms"]["p95"],
            "tpot_p95_ms": s["tpot_ms"]["p95"], "goodput": s["goodput"], "rejected": s["rejected"]}


def knee(points: list[dict]) -> dict | None:
    """Saturation knee: the lowest load reaching 90% of the sweep's peak throughput."""
    pts = [p for p in points if p.get("throughput_tok_s")]
    if not pts:
        return None
    peak = max(p["throughput_tok_s"] for p in pts)
    return min((p for p in pts if p["throughput_tok_s"] >= 0.9 * peak), key=lambda p: p["load"])


def sweep(base: Catalog, sc: Scenario, i: int, points: int = 8,
          progress: Callable[[int, int], None] | None = None) -> dict:
    """Throughput and p95 latencies against offered load for option i, with the knee."""
    kind, loads = sweep_loads(base, sc, i, points)
    rows = []
    for k, load in enumerate(loads):
        rows.append(sweep_point(base, sc, i, kind, load))
        if progress:
            progress(k + 1, len(loads))
    kn = knee(rows)
    for r in rows:
        r["knee"] = kn is not None and r["load"] == kn["load"]
    return {"kind": kind, "rows": rows, "knee": kn}


def finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
