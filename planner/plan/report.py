"""The Capacity plan page's tables from a `planner.plan.search.plan` result (no Streamlit): the ranked table,
the cost/latency points with their Pareto front, and the excluded candidates grouped by reason."""

from __future__ import annotations

from planner.econ.costs import pareto_front
from planner.errors import UsageError

REASONS = {  # reason_code -> heading (plan.py's codes, in its order)
    "slo_load": "meets the SLO alone but not at the peak rate",
    "too_many_replicas": "needs more replicas than search.max_replicas",
    "dominated": "analytically dominated (not simulated)",
    "slo_physics": "a single request on an idle machine already misses the SLO",
    "no_price": "no sourced price (give one to include it)",
    "does_not_fit": "does not fit",
    "unsupported": "not supported",
}
LATENCIES = {"e2e_p95_s": "p95 end-to-end, s", "ttft_p95_s": "p95 TTFT, s", "tpot_p95_ms": "p95 TPOT, ms"}


def label(r: dict) -> str:
    """'2x MI325X 256 GB, mxfp4, vllm' (plus nodes; the short human name where the row has one); bare cards
    (no machine around them in the price) are marked."""
    dev = f"{r['devices']}x " if r.get("devices", 1) > 1 else ""
    nodes = f"{r['nodes']} nodes x " if (r.get("nodes") or 1) > 1 else ""
    emu = " (emulated)" if r.get("emulated") else ""
    bare = " [bare cards: machine not priced]" if r.get("bare_cards") else ""
    return f"{nodes}{dev}{r.get('name') or r['hardware']} {r['memory_gb']:g} GB, {r['quant']}{emu}, {r['engine']}{bare}"


def ranked_rows(result: dict) -> list[dict]:
    """The candidates that meet the SLO, winner first, flat."""
    rows = []
    for r in result["candidates"]:
        if r["verdict"] not in ("winner", "meets"):
            continue
        s, price = r.get("sim") or {}, r.get("price") or {}
        rows.append(
            {
                "rank": r["rank"],
                "candidate": label(r),
                "id": r["id"],
                "replicas": r["replicas"],
                "max_rps_per_replica": r["max_rate_per_replica_rps"],
                "capex_usd": r["capex_usd"],
                "power_load_w": r["power_load_w"],
                "power_idle_w": r["power_idle_w"],
                "energy_kwh_per_year": r["energy_kwh_per_year"],
                "tco_usd": r["tco_usd"],
                "usd_per_m_output_tokens": r["usd_per_m_output_tokens"],
                "output_tokens_per_joule": r["output_tokens_per_joule"],
                "headroom": r["headroom"],
                "ttft_p95_s": s.get("ttft_p95_s"),
                "tpot_p95_ms": s.get("tpot_p95_ms"),
                "e2e_p95_s": s.get("e2e_p95_s"),
                "price_kind": price.get("kind"),
                "quality": (r.get("format") or {}).get("quality"),
                "single_replica_max_rps": r.get("single_replica_max_rps"),
                "why": r["why"],
            }
        )
    return rows


def pareto_points(result: dict, latency: str = "e2e_p95_s") -> list[dict]:
    """One point per candidate meeting the SLO: $ per M output tokens against a p95 latency, with
    `on_front` (no other candidate is at least as cheap and as fast, and better in one)."""
    if latency not in LATENCIES:
        raise UsageError(f"latency must be one of {', '.join(LATENCIES)}")
    pts = [
        {
            "candidate": label(r),
            "id": r["id"],
            "rank": r["rank"],
            "usd_per_m_output_tokens": r["usd_per_m_output_tokens"],
            "tco_usd": r["tco_usd"],
            "replicas": r["replicas"],
            "latency": (r.get("sim") or {}).get(latency),
            "winner": r["verdict"] == "winner",
        }
        for r in result["candidates"]
        if r["verdict"] in ("winner", "meets")
    ]
    pts = [p for p in pts if p["latency"] is not None and p["usd_per_m_output_tokens"] is not None]
    for p, on in zip(pts, pareto_front([(p["latency"], p["usd_per_m_output_tokens"]) for p in pts])):
        p["on_front"] = on
    return pts


def excluded_groups(result: dict) -> list[dict]:
    """Excluded candidates grouped by reason code, in plan.py's order: code, heading, rows."""
    groups: dict[str, list[dict]] = {}
    for r in result["candidates"]:
        if r["verdict"] != "excluded":
            continue
        groups.setdefault(r["reason_code"], []).append({"candidate": label(r), "id": r["id"], "reason": r["reason"]})
    order = list(REASONS)
    return [
        {"code": c, "heading": REASONS.get(c, c), "rows": rows}
        for c, rows in sorted(groups.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)
    ]
