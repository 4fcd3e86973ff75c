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

from .perf import ScenarioError

VERSION = 1
MAX_REQUESTS = 1_000_000  # per simulation: bounds memory (a few hundred bytes per request) and run time
MAX_TOKENS = 10_000_000


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Machine(_Part):
    hardware: str = Field(description="hardware id (`python -m planner catalog hardware`)")
    memory_gb: float | None = Field(None, gt=0, description="memory option; default the largest sold")
    devices: int = Field(1, ge=1, le=1024, description="devices per replica (tensor parallel)")
    replicas: int = Field(1, ge=1, le=1024, description="identical machines behind the router")
    usable_memory_gb: float | None = Field(None, gt=0, description="override the usable memory per device")


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
    concurrency: int | None = Field(None, ge=1, le=100_000, description="closed loop: users, each waits for its "
                                    "previous request to end (plus think time) before the next")
    think_time_s: float = Field(0.0, ge=0, le=86_400, description="closed loop: mean think time (exponential)")
    piecewise: list[tuple[float, float]] = Field(
        [], description="piecewise-constant rate: [[t_s, rate_rps], ...], each rate held until the next t_s; "
                        "repeats every period_s when set, else the last rate holds")
    period_s: float | None = Field(None, gt=0, description="piecewise: repeat the curve (e.g. 86400 for a day)")
    trace_csv: str | None = Field(None, description="trace replay: CSV with arrival_s,prompt_tokens,output_tokens")
    requests: int | None = Field(None, ge=1, le=MAX_REQUESTS,
                                 description=f"requests to simulate (default 1000; trace: its rows; "
                                             f"cap {MAX_REQUESTS:,})")
    prompt: Lengths = Lengths(mean=512)
    output: Lengths = Lengths(mean=256)
    seed: int = Field(0, ge=0, le=2**63 - 1)

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
    static_timeout_s: float = Field(0.5, ge=0, le=3600, description="static batching: start a partial batch "
                                    "this long after its first request arrived")


class SLO(_Part):
    """Per-request targets; goodput = share of requests meeting all that are set."""

    ttft_p95_s: float | None = Field(None, gt=0)
    tpot_p95_ms: float | None = Field(None, gt=0)
    e2e_p95_s: float | None = Field(None, gt=0)


class Scenario(_Part):
    version: Literal[1] = VERSION
    model: str
    quant: str
    engine: str
    kv_dtype: str | None = None
    machine: Machine
    workload: Workload
    scheduler: SchedulerOverrides = SchedulerOverrides()
    router: Literal["round_robin", "least_outstanding", "shortest_queue"] = "round_robin"
    slo: SLO = SLO()
    timeline_points: int = Field(5000, ge=10, le=1_000_000, description="downsample the step timeline to this")


def _first_error(err: ValidationError) -> ScenarioError:
    e = err.errors()[0]
    loc = ".".join(str(p) for p in e["loc"] if not isinstance(p, int)) or "scenario"
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "extra_forbidden":
        msg = "unknown field (see `python -m planner schema`)"
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


def json_schema() -> dict:
    return Scenario.model_json_schema()
