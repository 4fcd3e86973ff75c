"""`Scenario`: the one description of a serving simulation.

The CLI (`python -m planner simulate`), share links (dotted field names such as
``workload.rate_rps``), CSV columns and the web app all read and write this model, so
every field is validated here, with bounds and a clear message.  JSON schema:
``python -m planner schema``.  Files may be JSON or TOML with the same layout.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from planner.catalog.loader import Catalog, Figure, Hardware, Interconnect, Price
from planner.errors import ScenarioError, first_validation_error

VERSION: Literal[2] = (
    2  # 2: each machine option may carry its own quant/engine/kv_dtype/scheduler (links.py migrates v=1)
)
MAX_REQUESTS = 1_000_000  # per simulation: bounds memory (a few hundred bytes per request) and run time
MAX_TOKENS = 10_000_000
MAX_COMPARE = 5  # extra machine options next to `machine` (the app compares 2-6 in all)
MAX_CUSTOM_HARDWARE = 8


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN/inf: "Input should be a finite number"


class Machine(_Part):
    hardware: str = Field(description="hardware id (`python -m planner catalog hardware`)")
    memory_gb: float | None = Field(None, gt=0, description="memory option; default the largest sold")
    devices: int = Field(1, ge=1, le=1024, description="devices per replica (tensor parallel)")
    replicas: int = Field(1, ge=1, le=1024, description="identical machines behind the router")
    usable_memory_gb: float | None = Field(None, gt=0, description="override the usable memory per device")
    nodes: int = Field(1, ge=1, le=256, description="machines per replica, joined by `link` (e.g. Mac Studios)")
    link: str | None = Field(
        None, description="interconnect id between nodes (`python -m planner catalog interconnects`)"
    )
    parallel: str | None = Field(
        None,
        pattern=r"^\s*((tp|pp|ep)=\d+\s*,?\s*)+$",
        description="split over devices, e.g. 'tp=8' or 'tp=4,pp=2' or 'tp=8,ep=8' (default: the engine's usual split)",
    )
    host: str | None = Field(None, description="CPU host platform id holding offloaded weights (`catalog hosts`)")
    offload: str | None = Field(
        None, pattern=r"^(experts|layers:\d+)$", description="'experts' (MoE experts in host RAM) or 'layers:N'"
    )
    host_memory_gb: float | None = Field(None, gt=0, description="host RAM configuration, GB")
    price_usd: float | None = Field(
        None,
        gt=0,
        le=1e9,
        description="your quote for ONE replica as a working machine (cards, chassis, "
        "CPU, RAM, networking; all its nodes), USD: replaces the catalog's "
        "prices, so a machine without a sourced price can be compared",
    )
    # the option's own stack (None: the scenario-level value), so each machine runs what its owner would
    quant: str | None = Field(None, description="this option's quantization (default: the scenario's `quant`)")
    engine: str | None = Field(None, description="this option's engine (default: the scenario's `engine`)")
    kv_dtype: str | None = Field(None, description="this option's KV-cache dtype (default: the scenario's)")
    scheduler: "SchedulerOverrides | None" = Field(
        None, description="this option's scheduler overrides, on top of the scenario's `scheduler`"
    )


class Lengths(_Part):
    """Token-length distribution of prompts or outputs."""

    dist: Literal["fixed", "uniform", "lognormal", "csv"] = "fixed"
    mean: float | None = Field(None, gt=0, le=MAX_TOKENS, description="fixed value, or lognormal mean")
    cv: float = Field(0.5, ge=0, le=10, description="lognormal coefficient of variation")
    min: int = Field(1, ge=1, le=MAX_TOKENS, description="lower bound (uniform; clips lognormal and csv)")
    max: int | None = Field(None, ge=1, le=MAX_TOKENS, description="upper bound (uniform; clips lognormal and csv)")
    csv: str | None = Field(None, description="CSV file to sample lengths from (dist = csv)")
    column: str | None = Field(None, description="column of that CSV")

    @model_validator(mode="after")
    def _complete(self) -> "Lengths":
        if self.dist in ("fixed", "lognormal") and self.mean is None:
            raise ValueError(f"dist = {self.dist} needs 'mean' (tokens)")
        if self.dist == "uniform" and self.max is None:
            raise ValueError("dist = uniform needs 'max' (and 'min', default 1)")
        if self.dist == "csv" and not (self.csv and self.column):
            raise ValueError("dist = csv needs 'csv' (a file) and 'column'")
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self

    def lowest(self) -> int:
        """The smallest length this distribution can produce."""
        return max(1, round(self.mean)) if self.dist == "fixed" else self.min


class Workload(_Part):
    arrival: Literal["poisson", "gamma", "constant", "piecewise", "closed", "trace"] = "poisson"
    rate_rps: float | None = Field(None, gt=0, le=1e6, description="mean arrival rate (poisson, gamma, constant)")
    cv: float = Field(1.0, gt=0, le=100, description="gamma: coefficient of variation of inter-arrival times")
    concurrency: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="closed loop: users, each waits for its previous request to end (plus think time) before the next",
    )
    think_time_s: float = Field(0.0, ge=0, le=86_400, description="closed loop: mean think time (exponential)")
    piecewise: list[tuple[float, float]] = Field(
        [],
        description="piecewise-constant rate: [[t_s, rate_rps], ...], each rate held until the next t_s; "
        "repeats every period_s when set, else the last rate holds",
    )
    period_s: float | None = Field(None, gt=0, description="piecewise: repeat the curve (e.g. 86400 for a day)")
    trace_csv: str | None = Field(None, description="trace replay: CSV with arrival_s,prompt_tokens,output_tokens")
    requests: int | None = Field(
        None,
        ge=1,
        le=MAX_REQUESTS,
        description=f"requests to simulate (default 1000; trace: its rows; cap {MAX_REQUESTS:,})",
    )
    prompt: Lengths = Lengths(mean=512)
    output: Lengths = Lengths(mean=256)
    seed: int = Field(0, ge=0, le=2**63 - 1)
    shared_prefix_tokens: int = Field(
        0,
        ge=0,
        le=MAX_TOKENS,
        description="the first N tokens of every prompt "
        "are the same (a system prompt): engines with prefix caching reuse their KV",
    )

    @model_validator(mode="after")
    def _complete(self) -> "Workload":
        a = self.arrival
        if a in ("poisson", "gamma", "constant") and self.rate_rps is None:
            raise ValueError(f"arrival = {a} needs rate_rps > 0")
        if a == "closed" and self.concurrency is None:
            raise ValueError("arrival = closed needs concurrency >= 1")
        if a == "trace" and not self.trace_csv:
            raise ValueError("arrival = trace needs trace_csv")
        if a == "piecewise":
            pts = self.piecewise
            if not pts:
                raise ValueError("arrival = piecewise needs piecewise = [[t_s, rate_rps], ...]")
            if pts[0][0] != 0:
                raise ValueError("piecewise must start at t_s = 0")
            if any(b[0] <= x[0] for x, b in zip(pts, pts[1:])):
                raise ValueError("piecewise times must increase")
            if any(r < 0 for _, r in pts) or not any(r > 0 for _, r in pts):
                raise ValueError("piecewise rates must be >= 0 and not all 0")
            if self.period_s is not None and self.period_s <= pts[-1][0]:
                raise ValueError("period_s must be after the last piecewise time")
        return self


class SchedulerOverrides(_Part):
    """Override the engine profile's scheduler (None keeps the profile's value)."""

    batching: Literal["continuous", "slots", "static", "serial"] | None = None
    max_num_seqs: int | None = Field(None, ge=1, le=100_000)
    max_num_batched_tokens: int | None = Field(None, ge=1, le=10_000_000)
    chunked_prefill: bool | None = None
    n_parallel: int | None = Field(None, ge=1, le=4096, description="llama.cpp server slots")
    kv_block_size: int | None = Field(None, ge=1, le=4096)
    static_batch: int = Field(8, ge=1, le=100_000, description="static batching: batch size B")
    static_timeout_s: float = Field(
        0.5,
        ge=0,
        le=3600,
        description="static batching: start a partial batch this long after its first request arrived",
    )
    cpu_overhead: bool | None = Field(
        None,
        description="per-step CPU cost growing with the batch (engine profile's serving.cpu); false switches it off",
    )
    cuda_graphs: bool | None = Field(
        None, description="pad decode batches to the engine's captured CUDA-graph sizes; false switches it off"
    )
    eager_prefill: bool | None = Field(
        None,
        description="steps with prompt tokens take at least the engine's "
        "eager per-layer dispatch time (serving.eager_prefill); false switches it off",
    )
    mixed_batches: bool | None = Field(
        None,
        description="prefill chunks share a step with the decoding sequences (engine default: SGLang keeps them apart)",
    )
    prefix_caching: bool | None = Field(
        None,
        description="reuse the KV of workload.shared_prefix_tokens across "
        "requests (engine default); false switches it off",
    )
    mla_cache: Literal["latent", "expanded"] | None = Field(
        None, description="DeepSeek MLA KV cache stored as the compressed latent or expanded per head"
    )
    sizing: Literal["engine", "workload"] = Field(
        "engine",
        description="engine: the profile's max_num_seqs / max_num_batched_tokens; workload: sized for "
        "the workload by trtllm-bench's rule (and chunked prefill on)",
    )


Machine.model_rebuild()


class SLO(_Part):
    """Per-request targets; goodput = share of requests meeting all that are set."""

    ttft_p95_s: float | None = Field(None, gt=0)
    tpot_p95_ms: float | None = Field(None, gt=0)
    e2e_p95_s: float | None = Field(None, gt=0)


class CustomHardware(_Part):
    """A machine the user describes (the app's catalog form); it travels in the scenario and
    joins the catalog for that scenario only (see `scenario_catalog`).  Every figure it carries
    is sourced by `source` (default: entered by the user)."""

    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$",
        description="new hardware id: lower-case letters, digits, '.', '_' or '-'",
    )
    name: str = Field(min_length=1, max_length=100)
    vendor: Literal["apple", "nvidia", "amd"]
    memory: Literal["unified", "discrete"] = "discrete"
    memory_gb: float = Field(gt=0, le=100_000, description="memory per device as sold (GiB)")
    bandwidth_gbs: float = Field(gt=0, le=1_000_000, description="memory bandwidth per device, GB/s")
    fp16_tflops: float = Field(gt=0, le=1_000_000, description="dense FP16 tensor throughput per device")
    fp8_tflops: float | None = Field(None, gt=0, le=1_000_000, description="dense FP8 throughput, if any")
    power_w: float = Field(gt=0, le=100_000, description="maximum power per device, W")
    price_usd: float | None = Field(None, gt=0, le=1e9, description="price per device, USD")
    interconnect_gbs: float | None = Field(
        None, gt=0, le=1_000_000, description="device-to-device bandwidth (tensor parallel), GB/s"
    )
    source: str = Field("entered by the user", min_length=1, max_length=300, description="where the figures come from")

    def to_hardware(self) -> Hardware:
        src = f"custom machine: {self.source}"
        fig = lambda v: Figure(value=v, source=src)  # noqa: E731
        tflops = {"fp16": fig(self.fp16_tflops)}
        if self.fp8_tflops:
            tflops["fp8"] = fig(self.fp8_tflops)
        unified_apple = self.vendor == "apple" and self.memory == "unified"
        return Hardware(
            id=self.id,
            name=self.name,
            vendor=self.vendor,
            family=f"{self.vendor}-custom",
            memory=self.memory,
            memory_gb=[self.memory_gb],
            memory_source=src,
            memory_bandwidth_gbs=fig(self.bandwidth_gbs),
            tflops=tflops,
            power_max_w=fig(self.power_w),
            interconnect=(
                Interconnect(name="custom", bandwidth_gbs=fig(self.interconnect_gbs)) if self.interconnect_gbs else None
            ),
            platform="macos" if unified_apple else None,
            prices=[Price(usd=self.price_usd, date="user-entered", kind="estimate", source=src)]
            if self.price_usd
            else [],
            notes="custom machine from the scenario (not a catalog profile)",
        )


class Cost(_Part):
    """Assumptions behind the derived cost figures ($ per million output tokens)."""

    usd_per_kwh: float = Field(0.15, ge=0, le=10, description="electricity price, USD per kWh")
    amortize_years: float = Field(3.0, gt=0, le=20, description="hardware price spread over this many years")
    pue: float = Field(1.3, ge=1, le=5, description="data-centre power usage effectiveness (energy x PUE)")
    utilization: float = Field(
        0.5,
        gt=0,
        le=1,
        description="share of the time the machine serves the simulated "
        "load (it idles the rest); sets tokens served and energy, as in the Capacity plan",
    )


class Scenario(_Part):
    version: Literal[1, 2] = VERSION
    model: str
    quant: str
    engine: str
    kv_dtype: str | None = None
    engine_version: str | None = Field(
        None,
        max_length=40,
        pattern=r"^[0-9A-Za-z.+_-]+$",
        description="engine release to model (NVIDIA measured kernels use the nearest measured version and say so)",
    )
    machine: Machine
    workload: Workload
    scheduler: SchedulerOverrides = SchedulerOverrides()
    router: Literal["round_robin", "least_outstanding", "shortest_queue"] = "round_robin"
    slo: SLO = SLO()
    timeline_points: int = Field(5000, ge=10, le=1_000_000, description="downsample the step timeline to this")
    compare: list[Machine] = Field(
        [],
        max_length=MAX_COMPARE,
        description=f"up to {MAX_COMPARE} more machine options to compare with "
        "`machine` (option 1, the one `simulate` runs)",
    )
    custom_hardware: list[CustomHardware] = Field(
        [],
        max_length=MAX_CUSTOM_HARDWARE,
        description="machines described by the user, usable as hardware ids in this scenario",
    )
    cost: Cost = Cost()

    @model_validator(mode="after")
    def _unique_custom(self) -> "Scenario":
        ids = [h.id for h in self.custom_hardware]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"custom_hardware ids must be unique, '{dup[0]}' appears twice")
        return self

    def options(self) -> list[Machine]:
        """All machine options: `machine` first, then `compare`."""
        return [self.machine, *self.compare]

    def stack(self, i: int = 0) -> tuple[str, str, str | None]:
        """(quant, engine, kv_dtype) option i runs: its own where set, else the scenario's."""
        m = self.options()[i]
        return (m.quant or self.quant, m.engine or self.engine, m.kv_dtype if m.kv_dtype is not None else self.kv_dtype)

    def for_option(self, i: int) -> "Scenario":
        """This scenario with option i as its machine (its stack moved to the scenario level: quant,
        engine, kv_dtype, scheduler overrides merged over the scenario's) and no other options."""
        m = self.options()[i]
        quant, engine, kv = self.stack(i)
        sched = self.scheduler
        if m.scheduler is not None:
            sched = sched.model_copy(
                update={
                    k: getattr(m.scheduler, k)
                    for k in m.scheduler.model_fields_set
                    if getattr(m.scheduler, k) is not None
                }
            )
        bare = m.model_copy(update={"quant": None, "engine": None, "kv_dtype": None, "scheduler": None})
        return self.model_copy(
            update={
                "machine": bare,
                "compare": [],
                "quant": quant,
                "engine": engine,
                "kv_dtype": kv,
                "scheduler": sched,
            }
        )


def _first_error(err: ValidationError) -> ScenarioError:
    loc, msg = first_validation_error(err, "scenario", unknown="unknown field (see `python -m planner schema`)")
    return ScenarioError(loc, msg)


def parse_scenario(data: dict) -> Scenario:
    """Validate a dict; raises ScenarioError(field, message) with the dotted field name."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise _first_error(exc) from None


def load_scenario(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        text = p.read_bytes()
    except OSError as exc:
        raise ScenarioError("scenario", f"cannot read {p}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text.decode()) if p.suffix.lower() == ".toml" else json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        kind = "TOML" if p.suffix.lower() == ".toml" else "JSON"
        raise ScenarioError("scenario", f"{p} is not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError("scenario", f"{p} must hold an object")
    sc = parse_scenario(data)
    # relative CSV paths are relative to the scenario file
    base = p.resolve().parent
    wl = sc.workload
    fix = {}
    if wl.trace_csv and not Path(wl.trace_csv).is_absolute():
        fix["trace_csv"] = str(base / wl.trace_csv)
    for k in ("prompt", "output"):
        ln = getattr(wl, k)
        if ln.csv and not Path(ln.csv).is_absolute():
            fix[k] = ln.model_copy(update={"csv": str(base / ln.csv)})
    if fix:
        sc = sc.model_copy(update={"workload": wl.model_copy(update=fix)})
    return sc


def scenario_catalog(base: Catalog, sc: Scenario) -> Catalog:
    """The catalog a scenario runs against: `base` plus the scenario's custom hardware.
    A custom id that names an existing profile raises ScenarioError naming the field."""
    if not sc.custom_hardware:
        return base
    hardware = dict(base.hardware)
    for i, h in enumerate(sc.custom_hardware):
        key = h.id.lower()
        if key in base._alias["hardware"]:
            raise ScenarioError(
                f"custom_hardware.{i}.id", f"'{h.id}' is already a catalog hardware id; choose another id"
            )
        hardware[h.id] = h.to_hardware()
    return Catalog(
        hardware,
        base.models,
        base.quants,
        base.engines,
        base.platforms,
        base.kv_dtypes,
        base.origins,
        base.interconnects,
        base.hosts,
        base.systems,
        base.support,
        chassis=base.chassis,
    )


def json_schema() -> dict:
    return Scenario.model_json_schema()
