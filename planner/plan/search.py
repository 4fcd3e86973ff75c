"""Capacity planning: how many of which machine serve a workload within its SLOs, and at what cost.

``plan(catalog, spec, executor=None, progress=None) -> dict`` (the web app calls this too):

1. **Candidates**: every (hardware, memory option, quantization, engine, devices) the spec allows;
   by default every catalog machine, each default quantization with the first engine that loads
   it on that vendor, and for discrete GPUs the smallest device count in {1, 2, 4, 8} that holds
   the model plus the next one.
2. **Screening** (analytic, no simulation): does not fit, no price, an SLO that a single request
   on an idle machine already misses (physics), and a throughput-bound cost so far above the
   cheapest analytic estimate that simulation is pointless.
3. **Search** (simulation, ``run_points`` over candidates): the largest arrival rate one replica
   sustains within the SLOs (bisection on the rate), then the smallest replica count that meets
   the SLOs at the peak rate, starting from the rate search's estimate and confirmed by
   simulating that count and the one below it.
4. **Costs**: capex from the catalog's sourced prices (or the user's), power at load and idle,
   energy per year, total cost of ownership, $ per million output tokens, output tokens per
   joule, headroom; optional cloud $/hour for comparison.  Every default cost input is an
   assumption, listed as such in the output.

Every simulation of a plan uses the same workload seed (common random numbers), so candidates
are compared on the same requests and the same spec gives the same plan on every executor.
"""

from __future__ import annotations

import json
import math
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from planner.catalog.loader import Catalog, load_catalog, short_hardware
from planner.catalog.support import (
    ENGINE_ORDER,
    QUALITY_LEVELS,
    format_note,
    meets_quality,
    quality_tier,
    supported_engines,
)
from planner.econ import costs as econ
from planner.econ.slo import check_columns
from planner.errors import CatalogError, PlanError, ScenarioError, first_validation_error
from planner.model.deployment import Deployment, resolve_deployment
from planner.model.memory import MemoryModel, largest
from planner.model.perf import System, compose
from planner.model.predict import fit_reason
from planner.sim.engine import simulate_scenario
from planner.sim.executors import run_points
from planner.sim.scenario import Lengths, Workload, parse_scenario
from planner.sim.workload import make_requests

DEVICE_COUNTS = (1, 2, 4, 8)
DEFAULT_QUANTS = ("bf16", "fp8", "q8_0", "q4_k_m", "mlx-8bit", "mlx-4bit")
MOE_QUANTS = ("mxfp4",)  # formats that only make sense for mixture-of-experts models (they quantize the experts)
# default engine: the first of support.ENGINE_ORDER that the support matrix lets run the quant natively, else emulated
HEADROOM_NOTE = (
    "headroom = the largest peak rate the chosen replicas sustain within the SLO (simulated, same search "
    "as the replica count) / the planned peak - 1; single_replica_max_rps is one replica facing the whole "
    "Poisson stream. N replicas can carry more than N x that: with round-robin routing each replica gets "
    "every N-th request, arrivals far more regular than a Poisson stream of the same rate (inter-arrival "
    "CV 1/sqrt(N) instead of 1), so queues and latency tails are shorter at the same load per replica"
)
MAX_REPLICAS = 1024


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanWorkload(_Part):
    """The load to plan for: a peak arrival rate, or daily tokens with a peak factor."""

    rate_rps: float | None = Field(None, gt=0, le=1e5, description="peak arrival rate, requests/s")
    daily_tokens: float | None = Field(None, gt=0, description="prompt + output tokens per day (with peak_factor)")
    peak_factor: float | None = Field(
        None, ge=1, le=1000, description="peak rate / mean daily rate (needed with daily_tokens)"
    )
    arrival: Literal["poisson", "gamma"] = "poisson"
    cv: float = Field(1.0, gt=0, le=100, description="gamma: coefficient of variation of inter-arrival times")
    prompt: Lengths = Lengths(mean=1000)
    output: Lengths = Lengths(mean=500)

    @model_validator(mode="after")
    def _load(self) -> "PlanWorkload":
        if (self.rate_rps is None) == (self.daily_tokens is None):
            raise ValueError("give either rate_rps (peak requests/s) or daily_tokens with peak_factor")
        if self.daily_tokens is not None and self.peak_factor is None:
            raise ValueError("daily_tokens needs peak_factor (peak rate / mean rate over the day)")
        for k in ("prompt", "output"):
            if getattr(self, k).dist == "csv":
                raise ValueError(
                    f"{k}: csv lengths are not supported by the planner yet; use fixed, uniform or lognormal"
                )
        return self


class PlanSLO(_Part):
    ttft_p95_s: float | None = Field(None, gt=0)
    ttft_p99_s: float | None = Field(None, gt=0)
    tpot_p95_ms: float | None = Field(None, gt=0, description="per-request mean time per output token, p95")
    tpot_p99_ms: float | None = Field(None, gt=0)
    e2e_p95_s: float | None = Field(None, gt=0)
    e2e_p99_s: float | None = Field(None, gt=0)
    goodput_min: float | None = Field(
        None,
        gt=0,
        le=1,
        description="share of requests that must meet every "
        "per-request limit set (the p95 values read as per-request limits)",
    )

    @model_validator(mode="after")
    def _some(self) -> "PlanSLO":
        if all(v is None for v in self.model_dump().values()):
            raise ValueError("set at least one SLO (e.g. ttft_p95_s, tpot_p95_ms)")
        return self


class Costs(_Part):
    electricity_usd_per_kwh: float | None = Field(None, ge=0, le=10)
    pue: float | None = Field(None, ge=1, le=5, description="data-centre power usage effectiveness")
    years: float | None = Field(None, gt=0, le=20, description="amortization period")
    utilization: float | None = Field(
        None,
        gt=0,
        le=1,
        description="share of the time the fleet serves the "
        "peak load (the rest it idles); sets tokens served and energy",
    )
    host_usd_per_replica: float | None = Field(
        None,
        ge=0,
        description="extra cost per replica (rack, switch, "
        "support); discrete GPUs already include the catalog's chassis",
    )
    price_usd: dict[str, float] = Field(
        {}, description="your price per device, by hardware id or hardware@memory_gb; replaces the catalog's"
    )
    cloud_usd_per_device_hour: dict[str, float] = Field(
        {}, description="cloud price per device-hour by hardware id, for comparison"
    )

    @model_validator(mode="after")
    def _prices(self) -> "Costs":
        for name in ("price_usd", "cloud_usd_per_device_hour"):
            for k, v in getattr(self, name).items():
                if not math.isfinite(v) or v <= 0:
                    raise ValueError(f"{name}.{k} must be a positive number of US dollars, got {v}")
        return self


COST_DEFAULTS = econ.COST_DEFAULTS  # defaults: assumptions, printed with every plan (one home: planner.econ.costs)


class CandidateSpec(_Part):
    """One option to consider; unset fields expand to the defaults (every memory option, default quants, ...)."""

    hardware: str
    memory_gb: float | None = Field(None, gt=0)
    quant: str | None = None
    engine: str | None = None
    devices: int | None = Field(None, ge=1, le=1024)
    price_usd: float | None = Field(None, gt=0, description="price per device (replaces the catalog's)")
    cloud_usd_per_hour: float | None = Field(None, gt=0, description="cloud price of one replica per hour")


class Search(_Part):
    requests: int = Field(400, ge=50, le=20_000, description="requests per simulation (one replica)")
    requests_per_replica: int = Field(60, ge=10, le=10_000, description="with N replicas at least N x this")
    seed: int = Field(0, ge=0, le=2**63 - 1)
    rate_tolerance: float = Field(0.05, gt=0.001, le=0.5, description="relative width of the max-rate bracket")
    screen_factor: float | None = Field(
        4.0,
        ge=1,
        description="skip simulating candidates whose throughput-bound "
        "cost exceeds this multiple of the cheapest analytic estimate; null: "
        "simulate all",
    )
    max_replicas: int = Field(256, ge=1, le=MAX_REPLICAS)
    router: Literal["round_robin", "least_outstanding", "shortest_queue"] = "round_robin"


class PlanSpec(_Part):
    model: str
    quants: list[str] | None = Field(
        None,
        description="quantizations to consider (default: " + ", ".join(DEFAULT_QUANTS) + ", plus mxfp4 for MoE models)",
    )
    engines: list[str] | None = Field(
        None,
        description="engines to consider (default: the first of "
        + ", ".join(ENGINE_ORDER)
        + " that the support matrix lets run each quant "
        "on each machine, native before emulated)",
    )
    min_quality: Literal["any", "4bit", "8bit", "16bit"] = Field(
        "4bit",
        description="lowest weight precision to consider: any, 4bit (default: drops the 1-2 bit GGUF "
        "formats), 8bit or 16bit; each format's quality note is in the output",
    )
    candidates: list[CandidateSpec] | None = Field(
        None, description="options to consider (default: every catalog machine)"
    )
    workload: PlanWorkload
    slo: PlanSLO
    costs: Costs = Costs()
    search: Search = Search()

    @field_validator("candidates", "quants", "engines")
    @classmethod
    def _not_empty(cls, v):
        if v is not None and not v:
            raise ValueError("is empty: list at least one, or leave it out for the defaults (the whole catalog)")
        return v


def parse_plan(data: dict) -> PlanSpec:
    """Validate a dict; raises PlanError('field: message')."""
    try:
        return PlanSpec.model_validate(data)
    except ValidationError as exc:
        loc, msg = first_validation_error(exc, "plan")
        raise PlanError(f"{loc}: {msg}" if msg.startswith("is ") is False else f"{loc} {msg}") from None


def load_plan(path) -> PlanSpec:
    p = Path(path)
    try:
        text = p.read_bytes()
    except OSError as exc:
        raise PlanError(f"plan: cannot read {p}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text.decode()) if p.suffix.lower() == ".toml" else json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PlanError(
            f"plan: {p} is not valid {'TOML' if p.suffix.lower() == '.toml' else 'JSON'}: {str(exc).splitlines()[0]}"
        ) from None
    if not isinstance(data, dict):
        raise PlanError(f"plan: {p} must hold an object")
    return parse_plan(data)


# --------------------------------------------------------------------------- candidates


@dataclass(frozen=True)
class Candidate:
    hardware: str
    memory_gb: float
    quant: str
    engine: str
    devices: int
    price_usd: float | None = None  # user's, per device
    cloud_usd_per_hour: float | None = None  # user's, per replica
    nodes: int = 1  # machines per replica (a cluster of unified-memory machines)
    link: str | None = None

    @property
    def id(self) -> str:
        base = f"{self.hardware}@{self.memory_gb:g}/{self.quant}/{self.engine}/x{self.devices}"
        return base + (f"/{self.nodes}nodes" if self.nodes > 1 else "")

    @property
    def units(self) -> int:
        """Priced, powered devices per replica."""
        return self.devices * self.nodes


@dataclass
class ResolvedLoad:
    """The resolved load: peak rate and the lengths the analytic screen uses (from the spec's
    PlanWorkload; the simulations themselves run a scenario.Workload)."""

    rate_rps: float
    prompt_mean: float
    output_mean: float
    prompt_p95: int
    prompt_max: int
    output_max: int
    assumptions: list[str]


def resolve_workload(spec: PlanSpec) -> ResolvedLoad:
    wl = spec.workload
    notes = []
    # sample the lengths once (same seed as the simulations) for the analytic figures
    probe = make_requests(
        Workload(
            arrival="constant", rate_rps=1.0, requests=2000, prompt=wl.prompt, output=wl.output, seed=spec.search.seed
        )
    )
    p, o = probe.prompt, probe.output
    if wl.rate_rps is not None:
        rate = wl.rate_rps
    else:  # (PlanWorkload's validator: daily_tokens comes with peak_factor)
        assert wl.daily_tokens is not None and wl.peak_factor is not None
        per_req = float(p.mean() + o.mean())
        rate = wl.daily_tokens / 86_400.0 / per_req * wl.peak_factor
        notes.append(
            f"peak rate {rate:.4g} req/s = {wl.daily_tokens:,.0f} tokens/day / 86,400 s / "
            f"{per_req:,.0f} tokens per request x peak factor {wl.peak_factor:g}"
        )
    return ResolvedLoad(
        rate, float(p.mean()), float(o.mean()), int(np.percentile(p, 95)), int(p.max()), int(o.max()), notes
    )


def _quants_for(spec: PlanSpec, catalog: Catalog) -> list[str]:
    model = catalog.get("models", spec.model, "model")
    if spec.quants is not None:
        qs = [catalog.resolve("quants", q, "quant") for q in spec.quants]
    else:
        qs = [
            q for q in list(DEFAULT_QUANTS) + (list(MOE_QUANTS) if model.arch == "moe" else []) if q in catalog.quants
        ]
    kept = [q for q in qs if meets_quality(catalog.quants[q], spec.min_quality)]
    if qs and not kept:
        tiers = ", ".join(f"{q} ({quality_tier(catalog.quants[q])})" for q in qs)
        raise PlanError(
            f"min_quality: {spec.min_quality} excludes every quantization considered ({tiers}); "
            f"lower it (one of {', '.join(QUALITY_LEVELS)}) or list other quants"
        )
    return kept


def _engines_for(spec: PlanSpec, catalog: Catalog, hw, model, quant: str, engine: str | None) -> list[str]:
    """Engines for one (hardware, quant): only what the support matrix lets run there (native before emulated)."""
    if engine is not None:
        return [catalog.resolve("engines", engine, "engine")]
    order = ENGINE_ORDER + tuple(sorted(set(catalog.engines) - set(ENGINE_ORDER)))
    found = supported_engines(catalog, hw, model, catalog.quants[quant], order)
    ok = [e for e, st in found if st != "emulated"] + [e for e, st in found if st == "emulated"]
    if spec.engines is not None:
        wanted = {catalog.resolve("engines", e, "engine") for e in spec.engines}
        return [e for e in ok if e in wanted]
    return ok[:1]


def enumerate_candidates(catalog: Catalog, spec: PlanSpec, wl: ResolvedLoad) -> list[Candidate]:
    """Every option the spec allows (see the module docstring); a device count is kept only when the smallest
    in {1, 2, 4, 8} that fits is known, plus the next one."""
    model = catalog.resolve("models", spec.model, "model")
    model_p = catalog.models[model]
    prices = spec.costs.price_usd
    cloud = spec.costs.cloud_usd_per_device_hour
    ctx = wl.prompt_max + wl.output_max
    entries = spec.candidates or [CandidateSpec(hardware=h) for h in catalog.hardware]
    out: list[Candidate] = []
    seen = set()
    for ent in entries:
        hw = catalog.get("hardware", ent.hardware, "hardware")
        mems = [ent.memory_gb] if ent.memory_gb is not None else list(hw.memory_gb)
        quants = [catalog.resolve("quants", ent.quant, "quant")] if ent.quant else _quants_for(spec, catalog)
        for mem in mems:
            for q in quants:
                engines = _engines_for(spec, catalog, hw, model_p, q, ent.engine)
                if not engines and ent.quant:  # the user asked for this quant: keep it to report why not
                    engines = [ent.engine or next(iter(catalog.quants[q].engines))]
                for e in engines:
                    if ent.devices is not None:
                        counts = [ent.devices]
                    elif hw.memory == "unified":
                        counts = [1]
                    else:
                        counts = _device_counts(catalog, hw.id, mem, model, q, e, ctx)
                    for d in counts:
                        price = ent.price_usd or prices.get(f"{hw.id}@{mem:g}") or prices.get(hw.id)
                        hourly = ent.cloud_usd_per_hour or (cloud[hw.id] * d if hw.id in cloud else None)
                        c = Candidate(hw.id, float(mem), q, e, d, price, hourly)
                        if c.id not in seen:
                            seen.add(c.id)
                            out.append(c)
    if spec.candidates is None:
        out += _unified_pairs(catalog, model, out, ctx)
    return out


CLUSTER_LINK = "thunderbolt5"  # how unified-memory machines (Mac Studios) are clustered by default
CLUSTER_SIZES = (2, 4)


def machine_fields(c: Candidate) -> dict:
    """build_system / Scenario.machine fields of a candidate."""
    if c.nodes > 1:
        return {"devices": c.devices, "nodes": c.nodes, "link": c.link}
    return {"devices": c.devices}


def _unified_pairs(catalog: Catalog, model: str, cands: list[Candidate], ctx: int) -> list[Candidate]:
    """For each unified-memory machine that holds the model in no option: clusters of 2 and 4 such
    machines over Thunderbolt 5 (its largest memory option, the largest format that then fits)."""
    extra = []
    by_hw: dict[str, list[Candidate]] = {}
    for c in cands:
        by_hw.setdefault(c.hardware, []).append(c)
    for hw_id, cs in by_hw.items():
        if catalog.hardware[hw_id].memory != "unified":
            continue
        fits = False
        for c in cs:
            try:
                fits = _sized(catalog, hw_id, model, c.quant, c.engine, memory_gb=c.memory_gb).max_sequences(ctx) >= 1
            except (ScenarioError, CatalogError):
                continue
            if fits:
                break
        if not fits and CLUSTER_LINK in catalog.interconnects:
            top = max(c.memory_gb for c in cs)
            for n in CLUSTER_SIZES:
                for c in cs:
                    if c.memory_gb == top:
                        extra.append(
                            Candidate(hw_id, top, c.quant, c.engine, 1, c.price_usd, nodes=n, link=CLUSTER_LINK)
                        )
    return extra


@dataclass(frozen=True)
class _Sized:
    """A deployment and its memory model, without the step-time model (predict.Sized)."""

    deployment: Deployment
    memory: MemoryModel


def _sized(catalog: Catalog, hw: str, model: str, quant: str, engine: str, **machine) -> MemoryModel:
    """The memory model of an option after build_system's deployment checks (the same errors):
    whether it fits needs no step-time model, whose first build for an NVIDIA part reads its
    measured-kernel tables."""
    return MemoryModel.of(resolve_deployment(catalog, hw, model, quant, engine, **machine))


def _device_counts(catalog, hw, mem, model, quant, engine, ctx) -> list[int]:
    for i, d in enumerate(DEVICE_COUNTS):
        try:
            memory = _sized(catalog, hw, model, quant, engine, memory_gb=mem, devices=d)
        except (ScenarioError, CatalogError):
            return [1]  # reported as unsupported by screening
        if memory.max_sequences(ctx) >= 1:
            return list(DEVICE_COUNTS[i : i + 2])
    return [DEVICE_COUNTS[-1]]  # does not fit even on the largest count: reported


# --------------------------------------------------------------------------- analytic screen


@dataclass
class Screen:
    """What the analytic model says about one candidate (no simulation)."""

    ok: bool
    code: str = ""  # why excluded: unsupported, does_not_fit, no_price, slo_physics, dominated
    reason: str = ""
    price: dict | None = None
    single_ttft_s: float | None = None
    single_tpot_ms: float | None = None
    max_batch: int = 0
    slo_batch: int = 0  # sequences one replica can decode together within the TPOT/e2e SLO (analytic)
    capacity_rps: float = 0.0  # throughput of one replica kept full (no SLO)
    slo_rate_rps: float = 0.0  # rate one replica sustains with its TPOT/e2e SLO met (analytic)
    replicas_lo: int = 0
    replicas_est: int = 0
    cost_lo: float = 0.0
    cost_est: float = 0.0
    support: dict | None = None  # the support matrix's verdict (native / emulated / unchecked)


def _short_name(catalog: Catalog, hardware: str) -> str:
    """The hardware's short human name ('RTX 5090', 'M3 Ultra 80c'): ids stay in the Catalog and the CLI."""
    return short_hardware(catalog.hardware[hardware])


def _price(catalog: Catalog, c: Candidate) -> dict | None:
    if c.price_usd is not None:
        return {"usd": c.price_usd, "date": None, "kind": "user", "source": "your input"}
    hw = catalog.hardware[c.hardware]
    p = hw.price_for(c.memory_gb)
    if p is None:
        return None
    return {"usd": p.usd, "date": p.date, "kind": p.kind, "source": p.source}


def _decode_step(s: System, b: int, ctx: float) -> float:
    kv, attn = s.seq_terms(1, ctx)
    return s.step_time_agg(b, b, b * kv, b * attn)


def screen(catalog: Catalog, spec: PlanSpec, wl: ResolvedLoad, c: Candidate) -> Screen:
    try:
        dep = resolve_deployment(
            catalog, c.hardware, spec.model, c.quant, c.engine, memory_gb=c.memory_gb, **machine_fields(c)
        )
    except ScenarioError as exc:
        v = getattr(exc, "verdict", None)
        return Screen(False, "unsupported", str(exc), support=v.as_dict() if v else None)
    ctx = wl.prompt_max + wl.output_max
    if ctx > dep.model.max_context:
        return Screen(
            False,
            "does_not_fit",
            f"prompt + output up to {ctx:,} tokens exceeds the model's context window of {dep.model.max_context:,}",
        )
    memory = MemoryModel.of(dep)
    if memory.max_sequences(ctx) < 1:
        return Screen(
            False,
            "does_not_fit",
            "does not fit: " + (fit_reason(_Sized(dep, memory), 1, ctx) or "no room for the KV cache"),
            support=dep.support.as_dict() if dep.support else None,
        )
    s = compose(dep)  # the step-time model: only for an option that fits (build_system = checks + compose)
    price = _price(catalog, c)
    slo = spec.slo
    # one request alone on an idle machine: the best any load can do
    ttft1 = s.step.prefill_time(wl.prompt_p95)
    steps = s.step.decode_times(round(wl.prompt_mean), max(2, round(wl.output_mean)))
    tpot1 = float(steps[:-1].mean())
    e2e1 = ttft1 + tpot1 * max(wl.output_mean - 1, 0)
    scr = Screen(
        True,
        price=price,
        single_ttft_s=ttft1,
        single_tpot_ms=tpot1 * 1e3,
        support=s.deployment.support.as_dict() if s.deployment.support else None,
    )
    ttft_lim = min(x for x in (slo.ttft_p95_s, slo.ttft_p99_s, math.inf) if x is not None)
    tpot_lim = min(x for x in (slo.tpot_p95_ms, slo.tpot_p99_ms, math.inf) if x is not None) / 1e3
    e2e_lim = min(x for x in (slo.e2e_p95_s, slo.e2e_p99_s, math.inf) if x is not None)
    if ttft1 > ttft_lim:
        scr.ok, scr.code = False, "slo_physics"
        scr.reason = (
            f"cannot meet TTFT at any load: a {wl.prompt_p95:,}-token prompt (p95) alone takes "
            f"{ttft1:.3g} s to prefill, above the {ttft_lim:g} s SLO"
        )
        return scr
    if tpot1 > tpot_lim:
        scr.ok, scr.code = False, "slo_physics"
        scr.reason = (
            f"cannot meet TPOT at any load: single-stream TPOT is already {tpot1 * 1e3:.1f} ms, "
            f"above the {tpot_lim * 1e3:g} ms SLO"
        )
        return scr
    if e2e1 > e2e_lim:
        scr.ok, scr.code = False, "slo_physics"
        scr.reason = (
            f"cannot meet end-to-end latency at any load: one request alone takes {e2e1:.3g} s, "
            f"above the {e2e_lim:g} s SLO"
        )
        return scr
    # steady state with b sequences decoding: a cycle of G decode steps plus b prefills serves b requests
    e = s.deployment.engine
    kv_seqs = s.memory.max_sequences(ctx)
    b_cap = max(1, min(e.n_parallel if e.batching == "slots" else e.max_num_seqs, kv_seqs, e.max_num_batched_tokens))
    g = max(wl.output_mean, 1.0)
    mid = wl.prompt_mean + g / 2
    tpf = s.step.prefill_time(round(wl.prompt_mean))

    def cycle(b: int) -> float:
        return g * _decode_step(s, b, mid) + b * tpf

    def ok(b: int) -> bool:
        tp = cycle(b) / g
        return tp <= tpot_lim and tpf + g * tp <= e2e_lim

    lo = largest(ok, 1, b_cap)  # largest b meeting the per-token SLO (cycle/g grows with b)
    scr.max_batch = b_cap
    scr.slo_batch = lo
    scr.capacity_rps = b_cap / cycle(b_cap)
    scr.slo_rate_rps = lo / cycle(lo)
    if price is None:
        scr.ok, scr.code = False, "no_price"
        hw = catalog.hardware[c.hardware]
        scr.reason = (
            f"no sourced price for {hw.id} ({c.memory_gb:g} GB) in the catalog: give one with "
            f'costs.price_usd {{"{hw.id}@{c.memory_gb:g}": USD}} (or --price {hw.id}=USD)'
        )
        return scr
    unit = (
        econ.capex(
            catalog,
            c.hardware,
            c.memory_gb,
            devices=c.devices,
            nodes=c.nodes,
            link=c.link,
            price_usd=c.price_usd,
            host_usd_per_replica=spec.costs.host_usd_per_replica or 0.0,
        ).usd
        or 0.0
    )
    scr.replicas_lo = max(1, math.ceil(spec_rate(wl) / scr.capacity_rps))
    scr.replicas_est = max(1, math.ceil(spec_rate(wl) / (0.8 * scr.slo_rate_rps)))
    scr.cost_lo = scr.replicas_lo * unit
    scr.cost_est = scr.replicas_est * unit
    return scr


def _or_inf(x: float | None) -> float:
    return math.inf if x is None else x


def spec_rate(wl: ResolvedLoad) -> float:
    return wl.rate_rps


# --------------------------------------------------------------------------- simulation search


def _meets(cols: dict, slo: PlanSLO) -> tuple[bool, dict]:
    """Whether a simulation meets the SLO (`econ.slo.check_slo`, the one meaning simulate and the app use too),
    and its metrics: the percentiles and goodput on all requests, and the rejected count."""
    chk = check_columns(slo, cols)
    return chk.met, {**chk.figures, "rejected": chk.rejected}


def sim_requests(spec: PlanSpec, replicas: int, batch: int) -> int:
    """Requests to simulate: at least search.requests, requests_per_replica per replica, and 4 x the batch
    one replica runs within the SLO per replica (a shorter run lets a burst that fits one batch pass at any
    rate); at most 50,000."""
    sr = spec.search
    return min(max(sr.requests, replicas * max(sr.requests_per_replica, 4 * batch)), 50_000)


def candidate_scenario(spec: PlanSpec, c: Candidate, rate_rps: float, replicas: int, requests: int) -> dict:
    """The simulation scenario (a dict for ``parse_scenario``) of a candidate at a rate and replica count."""
    wl = spec.workload
    sr = spec.search
    n = requests
    slo = {k: getattr(spec.slo, k) for k in ("ttft_p95_s", "tpot_p95_ms", "e2e_p95_s")}
    w = {
        "arrival": wl.arrival,
        "rate_rps": rate_rps,
        "requests": n,
        "seed": sr.seed,
        "prompt": wl.prompt.model_dump(exclude_none=True),
        "output": wl.output.model_dump(exclude_none=True),
    }
    if wl.arrival == "gamma":
        w["cv"] = wl.cv
    return {
        "model": spec.model,
        "quant": c.quant,
        "engine": c.engine,
        "machine": {"hardware": c.hardware, "memory_gb": c.memory_gb, **machine_fields(c), "replicas": replicas},
        "workload": w,
        "router": sr.router,
        "slo": slo,
    }


@dataclass
class CandidatePoint:
    """One candidate's simulation search; a sweep point (picklable, pure)."""

    spec: dict
    candidate: Candidate
    rate_rps: float
    capacity_rps: float
    slo_rate_rps: float
    slo_batch: int
    profiles: str | None = None

    def run(self) -> dict:
        return search_candidate(
            load_catalog(self.profiles),
            parse_plan(self.spec),
            self.candidate,
            self.rate_rps,
            self.capacity_rps,
            self.slo_rate_rps,
            self.slo_batch,
        )


def search_candidate(
    catalog: Catalog, spec: PlanSpec, c: Candidate, rate: float, capacity: float, slo_rate: float, slo_batch: int
) -> dict:
    cache: dict[tuple[float, int], tuple[bool, dict]] = {}
    sims = 0

    def sim(r: float, n: int) -> tuple[bool, dict]:
        nonlocal sims
        key = (r, n)
        if key not in cache:
            sims += 1
            req = sim_requests(spec, n, slo_batch)
            res = simulate_scenario(catalog, parse_scenario(candidate_scenario(spec, c, r, n, req)))
            ok, m = _meets(res.columns, spec.slo)
            m["utilization"] = res.summary["utilization"]
            m["output_tok_s"] = res.summary["throughput_tok_s"]
            cache[key] = (ok, m)
        return cache[key]

    # 1. largest rate one replica sustains: bracket [lo passes, hi fails], then bisect (geometric)
    # (the analytic full-batch throughput x 2 caps it: a run that passes there is reported at the cap)
    tol = 1.0 + spec.search.rate_tolerance
    ceiling = 2.0 * capacity
    r0 = max(min(0.8 * slo_rate, capacity), 1e-6)
    lo = hi = None
    r = r0
    for _ in range(40):
        ok, _m = sim(r, 1)
        if ok:
            lo = r
            if hi is not None or r >= ceiling:
                break
            r = min(2.0 * r, ceiling)
        else:
            hi = r
            if lo is not None:
                break
            r /= 4.0
            if r < rate * 1e-4 or r < 1e-5:  # no useful load meets the SLO
                break
    if lo is None:
        return {
            "ok": False,
            "code": "slo_load",
            "sims": sims,
            "reason": f"one replica misses the SLO even at {hi:.3g} req/s (queueing and batching on top "
            f"of the single-request latency)",
        }
    while hi is not None and hi / lo > tol:
        mid = math.sqrt(lo * hi)
        if sim(mid, 1)[0]:
            lo = mid
        else:
            hi = mid
    r_max = lo
    # 2. smallest replica count at the peak rate, between the throughput bound (analytic: fewer replicas cannot
    # carry the rate) and the rate search's estimate (rate / r_max: N round-robin replicas carry more than N x
    # r_max, so it is high, up to 4x the answer): start at the count the analytic SLO rate gives (round-robin
    # fleets come close to it) and go up by 1, 2, 4, ... until one passes (a fleet costs its replica count in
    # simulated requests: small fleets first), then bisect between the last failing and the passing count and
    # confirm that one replica fewer fails
    cap = spec.search.max_replicas
    n_est = max(1, math.ceil(rate / r_max))
    if n_est > cap:
        return {
            "ok": False,
            "code": "too_many_replicas",
            "sims": sims,
            "max_rate_per_replica_rps": r_max,
            "reason": f"needs about {n_est} replicas (one sustains {r_max:.3g} req/s), more than max_replicas = {cap}",
        }
    lo_fail = max(0, math.ceil(rate / capacity) - 1)
    n = min(max(lo_fail + 1, math.ceil(rate / slo_rate) if slo_rate > 0 else n_est), n_est)
    passing = None
    step = 1
    while n <= cap:  # up until one passes
        if sim(rate, n)[0]:
            passing = n
            break
        lo_fail = n
        n, step = n + step, 2 * step
    if passing is None:
        return {
            "ok": False,
            "code": "too_many_replicas",
            "sims": sims,
            "max_rate_per_replica_rps": r_max,
            "reason": f"does not meet the SLO with max_replicas = {cap} replicas",
        }
    lo_fail = min(passing - 1, lo_fail)
    while passing > 1:
        while passing - lo_fail > 1:
            mid = (lo_fail + passing) // 2
            if sim(rate, mid)[0]:
                passing = mid
            else:
                lo_fail = mid
        if passing > 1 and sim(rate, passing - 1)[0]:  # the analytic bound was wrong: search below it
            passing, lo_fail = passing - 1, 0
            continue
        break
    ok, m = sim(rate, passing)
    below = None if passing == 1 else sim(rate, passing - 1)[1]
    # 3. headroom of the fleet as chosen: the largest peak rate `passing` replicas sustain within the SLO, by
    # the same bracket and bisection (the planned peak passes, so it is never below the peak)
    f_lo, f_hi = rate, None
    f_cap = max(ceiling * passing, rate * tol)
    r = max(passing * r_max, rate * tol)
    if passing == 1 and hi is not None and hi > max(rate, r_max):
        f_lo, f_hi = max(rate, r_max), hi  # one replica: step 1 already bracketed its largest rate
    for _ in range(40 if f_hi is None else 0):
        r = min(r, f_cap)
        if sim(r, passing)[0]:
            f_lo = r
            if r >= f_cap:
                break
            r *= 2.0
        else:
            f_hi = r
            break
    while f_hi is not None and f_hi / f_lo > tol:
        mid = math.sqrt(f_lo * f_hi)
        if sim(mid, passing)[0]:
            f_lo = mid
        else:
            f_hi = mid
    return {
        "ok": True,
        "sims": sims,
        "replicas": passing,
        "max_rate_per_replica_rps": r_max,
        "metrics": m,
        "below": below,
        "requests": sim_requests(spec, passing, slo_batch),
        "rate_capped": hi is None,
        "max_rate_fleet_rps": f_lo,
        "fleet_rate_capped": f_hi is None,
    }


# --------------------------------------------------------------------------- costs and ranking


def _cost_inputs(spec: PlanSpec) -> tuple[dict, list[str]]:
    out, notes = {}, []
    c = spec.costs
    for k, (default, text) in COST_DEFAULTS.items():
        v = getattr(c, k)
        if v is None:
            if k == "utilization" and spec.workload.peak_factor:
                v = 1.0 / spec.workload.peak_factor
                notes.append(f"utilization {v:.3g} = 1 / peak factor (mean load / peak load; change costs.utilization)")
            else:
                v = default
                notes.append(f"ASSUMPTION (default, change costs.{k}): {text}")
        out[k] = v
    return out, notes


def _costs(catalog: Catalog, c: Candidate, scr: Screen, ev: dict, wl: ResolvedLoad, ci: dict) -> dict:
    """The candidate's costs from the one cost model (planner.econ.costs), at the peak rate it serves."""
    n, d = ev["replicas"], c.units
    cap = econ.capex(
        catalog,
        c.hardware,
        c.memory_gb,
        devices=c.devices,
        nodes=c.nodes,
        replicas=n,
        link=c.link,
        price_usd=c.price_usd,
        host_usd_per_replica=ci["host_usd_per_replica"],
    )
    pw = econ.power(catalog, c.hardware, d, ev["metrics"]["utilization"], replicas=n, nodes=c.nodes)
    years = ci["years"]
    t = econ.tco(
        cap.usd,
        pw["power_load_w"],
        pw["power_idle_w"],
        wl.rate_rps * wl.output_mean,
        ci["utilization"],
        ci["pue"],
        ci["electricity_usd_per_kwh"],
        years,
    )
    tokens = wl.rate_rps * wl.output_mean * ci["utilization"] * econ.HOURS_PER_YEAR * 3600 * years
    r = lambda x, nd: None if x is None else round(x, nd)  # noqa: E731
    out = {
        "capex_usd": r(cap.usd, 2),
        "capex_parts": cap.parts,
        "bare_cards": cap.bare_cards,
        "capex_note": cap.note,
        "power_load_w": round(pw["power_load_w"], 1),
        "power_idle_w": round(pw["power_idle_w"], 1),
        "power_note": pw["power_note"],
        "energy_kwh_per_year": round(t["energy_kwh_per_year"], 1),
        "energy_usd_per_year": round(t["energy_usd_per_year"], 2),
        "tco_usd": r(t["tco_usd"], 2),
        "usd_per_m_output_tokens": r(t["usd_per_m_output_tokens"], 4),
        "output_tokens_per_joule": r(t["output_tokens_per_joule"], 4),
        "headroom": round(n * ev["max_rate_per_replica_rps"] / wl.rate_rps - 1.0, 3),
    }
    if c.cloud_usd_per_hour:
        cloud = n * c.cloud_usd_per_hour * econ.HOURS_PER_YEAR * years
        out["cloud"] = {
            "usd_per_hour_per_replica": c.cloud_usd_per_hour,
            "usd_total": round(cloud, 2),
            "usd_per_m_output_tokens": round(cloud / tokens * 1e6, 4) if tokens else None,
            "note": "always on for the whole period, your price",
        }
    return out


def _headroom(ev: dict, wl: ResolvedLoad) -> dict:
    """Headroom of the fleet as chosen (replaces replicas x single-replica max / peak - 1, which understates a
    round-robin fleet; see HEADROOM_NOTE): never negative for a candidate that meets the SLO."""
    return {
        "headroom": round(ev["max_rate_fleet_rps"] / wl.rate_rps - 1.0, 3),
        "max_rate_fleet_rps": round(ev["max_rate_fleet_rps"], 4),
        "headroom_is_lower_bound": ev["fleet_rate_capped"],
        "single_replica_max_rps": round(ev["max_rate_per_replica_rps"], 4),
    }


def _pareto(rows: list[dict]) -> None:
    """Mark rows on the cost / latency front (lower $ per M tokens and lower p95 end-to-end both better)."""
    front = econ.pareto_front([(r["usd_per_m_output_tokens"], r["sim"]["e2e_p95_s"]) for r in rows])
    for r, on in zip(rows, front):
        r["pareto"] = on


def _why(r: dict, best: dict | None) -> str:
    rep = f"{r['replicas']} x {r['devices']} {r.get('name') or r['hardware']} ({r['quant']}, {r['engine']})"
    per = f"one replica sustains {r['max_rate_per_replica_rps']:.3g} req/s within the SLO"
    pr = r["price"]
    price = f"price ${pr['usd']:,.0f} per device ({pr['kind']}" + (f", {pr['date']})" if pr["date"] else ")")
    cost = (
        f"{price}; capex ${r['capex_usd']:,.0f} + energy ${r['energy_usd_per_year']:,.0f}/year "
        f"= ${r['tco_usd']:,.0f}, ${r['usd_per_m_output_tokens']:.3g} per M output tokens"
    )
    if best is None or best is r:
        return f"cheapest that meets the SLO: {rep}; {per}; {cost}"
    ratio = r["tco_usd"] / best["tco_usd"]
    drivers = []
    if r["capex_usd"] > best["capex_usd"] * 1.05:
        drivers.append(f"capex {r['capex_usd'] / best['capex_usd']:.2g}x the winner's")
    if r["energy_usd_per_year"] > best["energy_usd_per_year"] * 1.05:
        drivers.append(f"energy {r['energy_usd_per_year'] / max(best['energy_usd_per_year'], 1e-9):.2g}x")
    if r["replicas"] > best["replicas"] and r["devices"] * r["replicas"] > best["devices"] * best["replicas"]:
        drivers.append(f"needs {r['replicas'] * r['devices']} devices against {best['replicas'] * best['devices']}")
    lat = ""
    if r["sim"]["e2e_p95_s"] < best["sim"]["e2e_p95_s"] * 0.95:
        lat = f"; faster: p95 end-to-end {r['sim']['e2e_p95_s']:.3g} s against {best['sim']['e2e_p95_s']:.3g} s"
    return (
        f"{ratio:.2f}x the winner's total cost ({', '.join(drivers) or 'similar figures'}): {rep}; {per}; {cost}{lat}"
    )


def _nothing_to_simulate(spec: PlanSpec, cands: list[Candidate], screens: list[Screen]) -> str:
    """One line saying why no candidate is left to simulate."""
    by: dict[str, list[int]] = {}
    for i, s in enumerate(screens):
        by.setdefault(s.code, []).append(i)
    if "no_price" in by:
        ids = [cands[i].hardware for i in by["no_price"]]
        ids = list(dict.fromkeys(ids))
        return (
            f"costs.price_usd: no price for the candidates that could meet the SLO ({', '.join(ids[:4])}"
            f"{', ...' if len(ids) > 4 else ''}): give one with --price HW=USD or costs.price_usd"
        )
    if "slo_physics" in by:
        slo = spec.slo
        # (a candidate excluded by physics always has its single-request figures)
        best_ttft = min(by["slo_physics"], key=lambda i: _or_inf(screens[i].single_ttft_s))
        best_tpot = min(by["slo_physics"], key=lambda i: _or_inf(screens[i].single_tpot_ms))
        return (
            f"slo: tighter than physics allows on every candidate that holds the model: the best single "
            f"request alone takes {screens[best_ttft].single_ttft_s:.3g} s to first token "
            f"({cands[best_ttft].id}) and {screens[best_tpot].single_tpot_ms:.3g} ms per output token "
            f"({cands[best_tpot].id}); SLO {slo.model_dump(exclude_none=True)}"
        )
    first = next(iter(by.values()))[0]
    return (
        f"candidates: none of the {len(cands)} candidates can run {spec.model}; e.g. {cands[first].id}: "
        f"{screens[first].reason}"
    )


def plan(catalog: Catalog, spec: PlanSpec | dict, executor=None, progress=None, profiles: str | None = None) -> dict:
    """Plan capacity for a spec; returns the JSON-ready result (``candidates`` ranked, winner first).

    ``executor``: see ``planner.sim.executors.run_points``; ``progress(done, total)`` is called as candidates finish."""
    t0 = time.perf_counter()
    if isinstance(spec, dict):
        spec = parse_plan(spec)
    catalog.resolve("models", spec.model, "model")
    wl = resolve_workload(spec)
    ci, notes = _cost_inputs(spec)
    notes = wl.assumptions + notes
    notes.append(
        f"quantization changes output quality: formats below {spec.min_quality} are not considered "
        f"(min_quality; any, 4bit, 8bit, 16bit); each candidate lists its format's quality note "
        f"(perplexity delta against 16-bit where published, else none known)"
    )
    notes.append(HEADROOM_NOTE)
    cands = enumerate_candidates(catalog, spec, wl)
    if not cands:
        raise PlanError("candidates: no option matches the given quants/engines for this model")
    screens = [screen(catalog, spec, wl, c) for c in cands]
    alive = [i for i, s in enumerate(screens) if s.ok]
    if not alive:
        raise PlanError(_nothing_to_simulate(spec, cands, screens))
    if spec.search.screen_factor:
        best = min(screens[i].cost_est for i in alive)
        for i in alive:
            s = screens[i]
            if s.cost_lo > spec.search.screen_factor * best:
                s.ok, s.code = False, "dominated"
                s.reason = (
                    f"analytically dominated: even at full throughput it needs {s.replicas_lo} replica(s) "
                    f"costing ${s.cost_lo:,.0f}, over {spec.search.screen_factor:g}x the cheapest analytic "
                    f"estimate (${best:,.0f}); not simulated (search.screen_factor = null simulates it)"
                )
        alive = [i for i in alive if screens[i].ok]
    spec_dict = spec.model_dump(mode="json")
    points = [
        CandidatePoint(
            spec_dict,
            cands[i],
            wl.rate_rps,
            screens[i].capacity_rps,
            screens[i].slo_rate_rps,
            screens[i].slo_batch,
            profiles,
        )
        for i in alive
    ]
    # the longest searches first (the most replicas at the throughput bound: a fleet costs its replica count in
    # simulated requests), so that a pool does not wait on one long search started last; same results in any order
    heavy = sorted(range(len(alive)), key=lambda k: -screens[alive[k]].replicas_lo)
    done = run_points([points[k] for k in heavy], executor=executor, progress=progress)
    evals = {alive[k]: r for k, r in zip(heavy, done)}
    feasible: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    sims = 0
    for i, (c, s) in enumerate(zip(cands, screens)):
        row: dict[str, Any] = {
            "id": c.id,
            "hardware": c.hardware,
            "name": _short_name(catalog, c.hardware),
            "memory_gb": c.memory_gb,
            "quant": c.quant,
            "engine": c.engine,
            "devices": c.units,
            "nodes": c.nodes,
            "link": c.link,
            "price": s.price,
            "single_request": (
                {"ttft_s": round(s.single_ttft_s, 4), "tpot_ms": round(s.single_tpot_ms, 3)}
                if s.single_ttft_s is not None and s.single_tpot_ms is not None
                else None
            ),
            "analytic": (
                {
                    "capacity_rps_per_replica": round(s.capacity_rps, 4),
                    "slo_rate_rps_per_replica": round(s.slo_rate_rps, 4),
                    "max_batch": s.max_batch,
                }
                if s.capacity_rps
                else None
            ),
            # support matrix and quality note of the format (profiles/support, profiles/quants)
            "emulated": bool(s.support and s.support.get("emulated")),
            "support": s.support,
            "format": format_note(catalog, c.quant, s.support),
        }
        ev = evals.get(i)
        if ev is not None:
            sims += ev["sims"]
        if ev is None or not ev["ok"]:
            row.update(
                verdict="excluded",
                reason_code=s.code if ev is None else ev["code"],
                reason=s.reason if ev is None else ev["reason"],
                replicas=None,
            )
            if ev is not None and "max_rate_per_replica_rps" in ev:
                row["max_rate_per_replica_rps"] = round(ev["max_rate_per_replica_rps"], 4)
            excluded.append(row)
            continue
        m = ev["metrics"]
        row.update(
            verdict="meets",
            replicas=ev["replicas"],
            max_rate_per_replica_rps=round(ev["max_rate_per_replica_rps"], 4),
            sim={k: (round(v, 5) if isinstance(v, float) else v) for k, v in m.items()},
            scenario=candidate_scenario(spec, c, wl.rate_rps, ev["replicas"], ev["requests"]),
        )
        if ev["below"] is not None:
            b = ev["below"]
            row["one_fewer_replica"] = {
                k: round(b[k], 4) for k in ("ttft_p95_s", "tpot_p95_ms", "e2e_p95_s", "goodput")
            }
        row.update(_costs(catalog, c, s, ev, wl, ci))
        row.update(_headroom(ev, wl))
        feasible.append(row)
    feasible.sort(key=lambda r: (r["tco_usd"], r["sim"]["e2e_p95_s"], r["id"]))
    order = {
        "slo_load": 0,
        "too_many_replicas": 1,
        "dominated": 2,
        "slo_physics": 3,
        "no_price": 4,
        "does_not_fit": 5,
        "unsupported": 6,
    }
    excluded.sort(key=lambda r: (order.get(r["reason_code"], 9), r["id"]))
    top = feasible[0] if feasible else None
    for rank, r in enumerate(feasible, 1):
        r["rank"] = rank
        if rank == 1:
            r["verdict"] = "winner"
        r["why"] = _why(r, top)
    _pareto(feasible)
    pareto = [
        {
            "id": r["id"],
            "usd_per_m_output_tokens": r["usd_per_m_output_tokens"],
            "tco_usd": r["tco_usd"],
            "ttft_p95_s": r["sim"]["ttft_p95_s"],
            "tpot_p95_ms": r["sim"]["tpot_p95_ms"],
            "e2e_p95_s": r["sim"]["e2e_p95_s"],
            "on_front": r["pareto"],
        }
        for r in feasible
    ]
    counts: dict[str, int] = {}
    for r in excluded:
        counts[r["reason_code"]] = counts.get(r["reason_code"], 0) + 1
    return {
        "model": catalog.resolve("models", spec.model, "model"),
        "workload": {
            "rate_rps": round(wl.rate_rps, 6),
            "prompt_mean": round(wl.prompt_mean, 2),
            "output_mean": round(wl.output_mean, 2),
            "prompt_p95": wl.prompt_p95,
            "output_tok_s_at_peak": round(wl.rate_rps * wl.output_mean, 3),
        },
        "slo": spec.slo.model_dump(exclude_none=True),
        "cost_inputs": ci,
        "assumptions": notes,
        "winner": top["id"] if top else None,
        "candidates": feasible + excluded,
        "pareto": pareto,
        "stats": {
            "candidates": len(cands),
            "meets_slo": len(feasible),
            "simulated": len(alive),
            "simulations": sims,
            "excluded": counts,
            "wall_s": round(time.perf_counter() - t0, 3),
        },
        "spec": spec_dict,
    }


CSV_COLUMNS = (
    "rank",
    "verdict",
    "id",
    "hardware",
    "memory_gb",
    "quant",
    "engine",
    "devices",
    "replicas",
    "max_rate_per_replica_rps",
    "capex_usd",
    "power_load_w",
    "power_idle_w",
    "energy_kwh_per_year",
    "energy_usd_per_year",
    "tco_usd",
    "usd_per_m_output_tokens",
    "output_tokens_per_joule",
    "headroom",
    "ttft_p95_s",
    "tpot_p95_ms",
    "e2e_p95_s",
    "goodput",
    "price_usd",
    "price_date",
    "reason_code",
    "reason",
    "single_replica_max_rps",
    "max_rate_fleet_rps",
    "emulated",
    "quality",
)


def csv_rows(result: dict):
    for r in result["candidates"]:
        sim = r.get("sim") or {}
        price = r.get("price") or {}
        row = {k: r.get(k) for k in CSV_COLUMNS}
        row.update({k: sim.get(k) for k in ("ttft_p95_s", "tpot_p95_ms", "e2e_p95_s", "goodput")})
        row["price_usd"], row["price_date"] = price.get("usd"), price.get("date")
        row["quality"] = (r.get("format") or {}).get("quality")
        yield {k: ("" if v is None else v) for k, v in row.items()}


__all__ = [
    "PlanSpec",
    "PlanError",
    "Candidate",
    "parse_plan",
    "load_plan",
    "plan",
    "enumerate_candidates",
    "screen",
    "search_candidate",
    "candidate_scenario",
    "CandidatePoint",
    "csv_rows",
]
