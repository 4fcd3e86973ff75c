"""The one cost model: what a machine costs to buy and run, and per million output tokens.

Used by the Compare page (`compare.evaluate_option`), the Load sweep (`compare.sweep_point`) and the
Capacity plan (`plan.plan`), so the same machine, stack and load get the same $ per million output
tokens everywhere.

- **capex**: the user's quote for one replica as a working machine (`Machine.price_usd`) where given;
  else devices x the catalog's price for the memory option (or the user's per-device price), plus, for
  discrete cards, the machine around them: a chassis (`profiles/chassis/`: workstation or 8-GPU server
  with CPU, RAM, PSU, networking, each price sourced or derived from sourced figures) per node, or the
  CPU host where an option offloads to one and the catalog prices it, plus cluster extras (cables,
  switches) where a catalog system of the same shape (`profiles/systems/`) prices the whole cluster
  above its devices, plus a per-replica host/server cost the user gives (default 0).  Cards with no
  chassis in the catalog are priced as bare cards and `Capex.bare_cards` / `note` say so.
- **power**: at load = devices x (idle + (max - idle) x busy share) + the chassis per node (+ the offload
  host's power x busy share), at idle = devices x idle + the chassis.  Every catalog device has an idle
  figure, sourced or a stated estimate (`derived`, confidence low); 0 W only for a user's device without one;
  the chassis at its load figure where it has no idle one: both said in `power_note`.
- **energy** per year = (utilization x load + (1 - utilization) x idle) x 8,766 h x PUE.
- **TCO** = capex + years x energy cost; **$ per million output tokens** = TCO / output tokens served
  over the years at `utilization` x the served output rate; **output tokens per joule** at load
  (device power, before PUE).

Every default is an assumption the caller lists (`COST_DEFAULTS`), not a fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from planner.catalog.loader import Catalog

HOURS_PER_YEAR = 365.25 * 24

# defaults: inputs the user can change, not facts; each is printed as an assumption
COST_DEFAULTS = {
    "electricity_usd_per_kwh": (0.15, "electricity 0.15 $/kWh"),
    "pue": (1.3, "PUE 1.3 (cooling and power delivery overhead)"),
    "years": (3.0, "amortized over 3 years, no resale value"),
    "utilization": (0.5, "the fleet serves the peak rate 50% of the time and idles the rest"),
    "host_usd_per_replica": (
        0.0,
        "GPU cards are priced with the catalog's chassis (profiles/chassis); no rack, "
        "switch or other extra per replica unless given",
    ),
}

FORMULA = (
    "derived: TCO / output tokens served; TCO = capex + years x energy; energy = (utilization x power at "
    "load + (1 - utilization) x idle power) x 8,766 h/year x PUE x $/kWh; tokens = utilization x served "
    "output tok/s x years"
)


@dataclass
class Capex:
    usd: float | None  # None: no price for the devices
    parts: list[dict] = field(default_factory=list)  # {"what", "usd", "kind", "date", "source"}
    note: str | None = None
    bare_cards: bool = False  # discrete cards priced without the machine around them (said in `note`)
    chassis: str | None = None  # the chassis id priced around the cards


def chassis_for(cat: Catalog, hardware: str, devices_per_node: int):
    """The cheapest catalog chassis (profiles/chassis) that holds `devices_per_node` of `hardware`, or None."""
    fits = [
        c for c in getattr(cat, "chassis", {}).values() if hardware in c.hardware and c.max_devices >= devices_per_node
    ]
    return min(fits, key=lambda c: (c.prices[0].usd, c.id)) if fits else None


def device_price(cat: Catalog, hardware: str, memory_gb: float | None) -> dict | None:
    hw = cat.hardware[hardware]
    mem = memory_gb if memory_gb is not None else max(hw.memory_gb)
    p = hw.price_for(mem)
    if p is None:
        return None
    return {
        "usd": p.usd,
        "kind": p.kind,
        "date": p.date,
        "source": p.source,
        "confidence": p.confidence,
        "confidence_note": p.confidence_note,
    }


def _system_extra(
    cat: Catalog, hardware: str, memory_gb: float, devices: int, nodes: int, link: str | None, device_usd: float
) -> dict | None:
    """Cluster extras: a catalog system of this exact shape priced above its devices (e.g. the
    Thunderbolt 5 cable between two Mac Studios)."""
    if nodes <= 1:
        return None
    for s in sorted(getattr(cat, "systems", {}).values(), key=lambda s: s.id):
        if (s.hardware, s.memory_gb, s.devices, s.nodes, s.link or None) != (
            hardware,
            memory_gb,
            devices,
            nodes,
            link or None,
        ):
            continue
        for p in s.prices:
            extra = p.usd - device_usd * devices * nodes
            if extra > 0:
                return {
                    "what": f"cluster extras ({s.id})",
                    "usd": round(extra, 2),
                    "kind": p.kind,
                    "date": p.date,
                    "source": p.source or p.derived,
                }
    return None


def capex(
    cat: Catalog,
    hardware: str,
    memory_gb: float | None,
    devices: int = 1,
    nodes: int = 1,
    replicas: int = 1,
    link: str | None = None,
    host: str | None = None,
    offload: str | None = None,
    price_usd: float | None = None,
    host_usd_per_replica: float = 0.0,
    quote_usd: float | None = None,
) -> Capex:
    """What the machines cost to buy: devices, the chassis or host around discrete cards, cluster extras;
    `price_usd` replaces the catalog's per-device price; `quote_usd` (the user's quote for one replica as a
    working machine) replaces everything."""
    hw = cat.hardware[hardware]
    mem = memory_gb if memory_gb is not None else max(hw.memory_gb)
    units = devices * nodes
    if quote_usd is not None:
        parts: list[dict[str, Any]] = [
            {
                "what": "your quote for one replica (whole machine)",
                "usd": float(quote_usd),
                "kind": "quote",
                "date": None,
                "source": "your input",
            }
        ]
        if host_usd_per_replica:
            parts.append(
                {
                    "what": "host/server per replica",
                    "usd": host_usd_per_replica,
                    "kind": "user",
                    "date": None,
                    "source": "your input",
                }
            )
        return Capex(sum(p["usd"] for p in parts) * replicas, parts, None)
    if price_usd is not None:
        dp: dict[str, Any] | None = {"usd": price_usd, "kind": "user", "date": None, "source": "your input"}
    else:
        dp = device_price(cat, hardware, mem)
    if dp is None:
        return Capex(None, [], f"no sourced price for {hardware} at {mem:g} GB")
    parts = [{"what": f"{units} x {hw.name}", **dp, "usd": dp["usd"] * units}]
    if host and offload:
        h = cat.hosts.get(host)
        if h is not None and h.prices:
            hp = h.prices[0]
            parts.append(
                {"what": f"host {host}", "usd": hp.usd * nodes, "kind": hp.kind, "date": hp.date, "source": hp.source}
            )
    ch_id, bare = None, False
    if hw.memory == "discrete" and not any(p["what"].startswith("host ") for p in parts):
        ch = chassis_for(cat, hardware, devices)
        if ch is not None:
            cp = ch.prices[0]
            ch_id = ch.id
            parts.append(
                {
                    "what": f"{nodes} x {ch.name}",
                    "usd": cp.usd * nodes,
                    "kind": cp.kind,
                    "date": cp.date,
                    "source": cp.source or f"derived: {cp.derived}",
                    "chassis": ch.id,
                    "confidence": ch.confidence,
                    "confidence_note": "derived from one public system price less its cards"
                    if ch.confidence == "low"
                    else None,
                }
            )
        else:
            bare = True
    if price_usd is None:
        extra = _system_extra(cat, hardware, mem, devices, nodes, link, dp["usd"])
        if extra:
            parts.append(extra)
    if host_usd_per_replica:
        parts.append(
            {
                "what": "host/server per replica",
                "usd": host_usd_per_replica,
                "kind": "user",
                "date": None,
                "source": "your input",
            }
        )
    per_replica = sum(p["usd"] for p in parts)
    note = None
    if host and offload and not any(p["what"].startswith("host ") for p in parts):
        note = f"host {host} has no sourced price: not included"
    if bare:
        note = ((note + "; ") if note else "") + (
            f"bare cards: no catalog chassis holds {devices} x {hw.name}, so the machine around them (CPU, RAM, "
            f"PSU, networking) is not included; enter a quote for the whole machine as the option's price"
        )
    return Capex(per_replica * replicas, parts, note, bare_cards=bare, chassis=ch_id)


def power(
    cat: Catalog,
    hardware: str,
    units: int,
    busy: float,
    replicas: int = 1,
    host: str | None = None,
    offload: str | None = None,
    nodes: int = 1,
) -> dict:
    """Average power at a busy share (0-1) and at idle, all replicas, W; discrete cards include their
    chassis (`chassis_for`) per node."""
    hw = cat.hardware[hardware]
    idle = hw.power_idle_w.value if hw.power_idle_w else 0.0
    pmax = hw.power_max_w.value
    p_load = replicas * units * (idle + (pmax - idle) * busy)
    p_idle = replicas * units * idle
    h = cat.hosts.get(host) if host and offload else None
    if h is not None:
        p_load += replicas * h.power_w.value * busy
    ch = chassis_for(cat, hardware, max(1, units // max(1, nodes))) if hw.memory == "discrete" and h is None else None
    extra = ""
    if ch is not None:
        c_load = ch.power_w.value
        c_idle = ch.power_idle_w.value if ch.power_idle_w else c_load
        p_load += replicas * nodes * c_load
        p_idle += replicas * nodes * c_idle
        extra = f"; chassis {c_load:g} W per machine at load, " + (
            f"{c_idle:g} W idle" if ch.power_idle_w else "idle not sourced (counted at the load figure)"
        )
    elif hw.memory == "discrete" and h is None:
        extra = "; device power only (no chassis in the catalog)"
    fig = hw.power_idle_w
    note = (
        f"{hw.name}: max {pmax:g} W per device, idle "
        + (
            (
                f"{idle:g} W"
                + (" (a stated estimate, not measured: see the catalog)" if fig.derived and not fig.source else "")
            )
            if fig
            else "not in the catalog (0 W assumed: an underestimate)"
        )
        + extra
    )
    return {"power_load_w": p_load, "power_idle_w": p_idle, "power_note": note}


def max_power_w(hw, devices: int, host=None, replicas: int = 1) -> float:
    """The devices' maximum (board/package) power, W, plus each replica's offload host when it has one: the
    figure shown as "max power" (the sourced maximum; :func:`power` gives power at a busy share)."""
    return hw.power_max_w.value * devices + (host.power_w.value * replicas if host else 0)


def tco(
    capex_usd: float | None,
    power_load_w: float,
    power_idle_w: float,
    output_tok_s: float,
    utilization: float,
    pue: float,
    usd_per_kwh: float,
    years: float,
) -> dict:
    """Energy, TCO, $ per million output tokens (and its capex and energy shares), tokens per joule."""
    kwh_year = (utilization * power_load_w + (1 - utilization) * power_idle_w) * HOURS_PER_YEAR / 1000.0 * pue
    energy_usd_year = kwh_year * usd_per_kwh
    tokens = output_tok_s * utilization * HOURS_PER_YEAR * 3600 * years
    energy_total = energy_usd_year * years
    total = (capex_usd or 0.0) + energy_total
    per_m = (lambda x: x / tokens * 1e6) if tokens else (lambda x: None)
    return {
        "energy_kwh_per_year": kwh_year,
        "energy_usd_per_year": energy_usd_year,
        "tco_usd": total if capex_usd is not None else None,
        "usd_per_month": total / (years * 12) if capex_usd is not None else None,
        "usd_per_m_output_tokens": per_m(total) if capex_usd is not None else None,
        "usd_per_m_output_tokens_capex": per_m(capex_usd) if capex_usd is not None else None,
        "usd_per_m_output_tokens_energy": per_m(energy_total),
        "output_tokens_per_joule": output_tok_s / power_load_w if power_load_w else None,
    }


def pareto_front(points: list[tuple[float, float]]) -> list[bool]:
    """For each (a, b) point, both lower-is-better (e.g. $ per M tokens and p95 latency): whether it is on
    the Pareto front, i.e. no other point is at least as good on both and better on one."""
    return [not any(a2 <= a and b2 <= b and (a2 < a or b2 < b) for a2, b2 in points) for a, b in points]
