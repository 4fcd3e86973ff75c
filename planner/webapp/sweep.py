"""The Load sweep page's engine side: throughput, p95 latencies and cost of one machine option against
offered load (concurrency or Poisson rate), with the saturation knee.  No Streamlit here."""

from __future__ import annotations

from typing import Callable

from planner.catalog.loader import Catalog
from planner.sim.engine import simulate_scenario
from planner.sim.scenario import Scenario, scenario_catalog
from planner.webapp.compare import option_costs


def sweep_loads(base: Catalog, sc: Scenario, i: int, points: int = 8) -> tuple[str, list[float]]:
    """The offered loads to sweep for option i: concurrencies (closed loop) or Poisson rates
    up to 1.5x the option's saturated request rate."""
    wl = sc.workload
    if wl.arrival == "closed":
        grid = sorted({1, 2, 4, 8, 16, 32, 64, wl.concurrency or 1})
        return "concurrency", [float(c) for c in grid]
    cat = scenario_catalog(base, sc)
    one = sc.for_option(i)
    e = cat.get("engines", one.engine, "engine")
    width = e.n_parallel if e.batching == "slots" else e.max_num_seqs
    users = max(4, min(512, 2 * width)) * one.machine.replicas
    probe = one.model_copy(
        update={
            "workload": wl.model_copy(
                update={
                    "arrival": "closed",
                    "concurrency": users,
                    "requests": min(wl.requests or 1000, 400),
                    "rate_rps": None,
                }
            )
        }
    )
    cap = simulate_scenario(cat, probe).summary["request_throughput_rps"] or 0.01
    fr = [0.1, 0.25, 0.5, 0.7, 0.85, 1.0, 1.2, 1.5]
    if points != len(fr):
        fr = [0.1 + 1.4 * k / (points - 1) for k in range(points)]
    return "rate_rps", [round(cap * f, 6) for f in fr]


def sweep_point(base: Catalog, sc: Scenario, i: int, kind: str, load: float) -> dict:
    cat = scenario_catalog(base, sc)
    one = sc.for_option(i)
    wl = one.workload
    if kind == "concurrency":
        upd = {"arrival": "closed", "concurrency": int(load)}
    else:
        upd = {"arrival": wl.arrival if wl.arrival in ("poisson", "gamma", "constant") else "poisson", "rate_rps": load}
    one = one.model_copy(update={"workload": wl.model_copy(update=upd)})
    s = simulate_scenario(cat, one).summary
    c = option_costs(cat, one, s)
    return {
        "option": i + 1,
        "load": load,
        "throughput_tok_s": s["throughput_tok_s"],
        "requests_per_s": s["request_throughput_rps"],
        "ttft_p95_ms": s["ttft_ms"]["p95"],
        "tpot_p95_ms": s["tpot_ms"]["p95"],
        "goodput": s["goodput"],
        "slo_met": s["slo_met"],  # the SLO's one meaning (planner.econ.slo), as the verdict reads it
        "rejected": s["rejected"],
        "usd_per_mtok": c["usd_per_mtok"],
        "tokens_per_joule": c["tokens_per_joule"],
    }


def knee(points: list[dict]) -> dict | None:
    """Saturation knee: the lowest load reaching 90% of the sweep's peak throughput."""
    pts = [p for p in points if p.get("throughput_tok_s")]
    if not pts:
        return None
    peak = max(p["throughput_tok_s"] for p in pts)
    return min((p for p in pts if p["throughput_tok_s"] >= 0.9 * peak), key=lambda p: p["load"])


def sweep(
    base: Catalog, sc: Scenario, i: int, points: int = 8, progress: Callable[[int, int], None] | None = None
) -> dict:
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
