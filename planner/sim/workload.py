"""Workloads: when requests arrive and how long their prompts and outputs are.

Everything is drawn up front from numpy streams spawned from the scenario's seed, one per
purpose, so the same seed gives the same requests whatever the engine does with them.
Closed-loop arrivals depend on completions; only their think times are drawn during the run.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field

import numpy as np

from planner.errors import ScenarioError
from planner.sim.scenario import MAX_REQUESTS, Lengths, Workload

DEFAULT_REQUESTS = 1000
STREAMS = ("arrivals", "prompt", "output", "routing", "think")


@dataclass
class Requests:
    """The requests of one run, in issue order (request id = index)."""

    prompt: np.ndarray  # int64 tokens
    output: np.ndarray  # int64 tokens
    arrival: np.ndarray | None  # seconds, nondecreasing (open loop and trace); None for closed loop
    concurrency: int = 0  # closed loop: users
    think_time_s: float = 0.0
    rngs: dict[str, np.random.Generator] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.prompt)


def streams(seed: int) -> dict[str, np.random.Generator]:
    return {
        name: np.random.default_rng(s) for name, s in zip(STREAMS, np.random.SeedSequence(seed).spawn(len(STREAMS)))
    }


def _read_csv(path: str, field_name: str) -> tuple[list[str], list[dict]]:
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            cols = [c.strip() for c in (reader.fieldnames or [])]
    except OSError as exc:
        raise ScenarioError(field_name, f"cannot read {path}: {exc.strerror}") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ScenarioError(field_name, f"{path} is not a readable CSV: {exc}") from None
    return cols, [{(k or "").strip(): v for k, v in r.items()} for r in rows]


def _numbers(path: str, rows: list[dict], column: str, field_name: str, integer: bool) -> np.ndarray:
    out = []
    for i, r in enumerate(rows, start=2):
        text = (r.get(column) or "").strip()
        try:
            v = float(text)
        except ValueError:
            raise ScenarioError(field_name, f"{path} line {i}: {column} = '{text}' is not a number") from None
        if not math.isfinite(v) or v < 0 or (integer and (v != int(v) or v < 1)):
            kind = "a whole number >= 1" if integer else "a finite number >= 0"
            raise ScenarioError(field_name, f"{path} line {i}: {column} = '{text}' must be {kind}")
        out.append(v)
    return np.asarray(out, dtype=np.int64 if integer else float)


def lengths(spec: Lengths, n: int, rng: np.random.Generator, field_name: str) -> np.ndarray:
    hi = spec.max if spec.max is not None else np.iinfo(np.int64).max
    if spec.dist == "fixed":
        return np.full(n, max(1, round(spec.mean)), dtype=np.int64)
    if spec.dist == "uniform":
        return rng.integers(spec.min, spec.max, size=n, endpoint=True, dtype=np.int64)
    if spec.dist == "lognormal":
        s2 = math.log1p(spec.cv**2)
        x = rng.lognormal(math.log(spec.mean) - s2 / 2, math.sqrt(s2), size=n)
        return np.clip(np.rint(x), spec.min, hi).astype(np.int64)
    cols, rows = _read_csv(spec.csv, field_name)
    if spec.column not in cols:
        raise ScenarioError(field_name, f"{spec.csv} has no column '{spec.column}' (columns: {', '.join(cols)})")
    pool = _numbers(spec.csv, rows, spec.column, field_name, integer=True)
    if not len(pool):
        raise ScenarioError(field_name, f"{spec.csv} has no rows")
    return np.clip(rng.choice(pool, size=n), spec.min, hi).astype(np.int64)


def _piecewise(wl: Workload, n: int, rng: np.random.Generator) -> np.ndarray:
    """Non-homogeneous Poisson arrivals by inverting the cumulative rate of a step curve."""
    t = np.array([p[0] for p in wl.piecewise], dtype=float)
    r = np.array([p[1] for p in wl.piecewise], dtype=float)
    ends = np.append(t[1:], wl.period_s if wl.period_s else np.inf)
    cum = np.concatenate(([0.0], np.cumsum(r[:-1] * (ends[:-1] - t[:-1]))))  # cumulative rate at each t
    per_period = cum[-1] + r[-1] * (ends[-1] - t[-1]) if wl.period_s else np.inf
    u = np.cumsum(rng.standard_exponential(n))
    if wl.period_s:
        k, u = np.divmod(u, per_period)
    else:
        if r[-1] == 0:
            u = u[u < cum[-1]]  # the curve ends: fewer requests than asked
        k = np.zeros_like(u)
    i = np.searchsorted(cum, u, side="right") - 1  # last segment starting at or before u (skips zero-rate ones)
    return k * (wl.period_s or 0.0) + t[i] + (u - cum[i]) / r[i]


def make_requests(wl: Workload) -> Requests:
    rngs = streams(wl.seed)
    if wl.arrival == "trace":
        cols, rows = _read_csv(wl.trace_csv, "workload.trace_csv")
        need = ("arrival_s", "prompt_tokens", "output_tokens")
        missing = [c for c in need if c not in cols]
        if missing:
            raise ScenarioError(
                "workload.trace_csv",
                f"{wl.trace_csv} lacks column(s) {', '.join(missing)} (expected header {','.join(need)})",
            )
        if not rows:
            raise ScenarioError("workload.trace_csv", f"{wl.trace_csv} has no requests")
        if len(rows) > MAX_REQUESTS:
            raise ScenarioError(
                "workload.trace_csv",
                f"{wl.trace_csv} has {len(rows):,} requests, more than the cap of {MAX_REQUESTS:,}",
            )
        rows = rows[: wl.requests] if wl.requests else rows
        arr = _numbers(wl.trace_csv, rows, "arrival_s", "workload.trace_csv", integer=False)
        order = np.argsort(arr, kind="stable")
        p = _numbers(wl.trace_csv, rows, "prompt_tokens", "workload.trace_csv", integer=True)
        o = _numbers(wl.trace_csv, rows, "output_tokens", "workload.trace_csv", integer=True)
        return Requests(p[order], o[order], arr[order], rngs=rngs)
    n = wl.requests or DEFAULT_REQUESTS
    a = rngs["arrivals"]
    arrival = None
    if wl.arrival == "poisson":
        arrival = np.cumsum(a.standard_exponential(n)) / wl.rate_rps
    elif wl.arrival == "gamma":
        k = 1.0 / wl.cv**2
        arrival = np.cumsum(a.gamma(k, 1.0 / (k * wl.rate_rps), size=n))
    elif wl.arrival == "constant":
        arrival = np.arange(n, dtype=float) / wl.rate_rps
    elif wl.arrival == "piecewise":
        arrival = _piecewise(wl, n, a)
        n = len(arrival)
        if n == 0:
            raise ScenarioError("workload.piecewise", "the rate curve produces no requests")
    prompt = lengths(wl.prompt, n, rngs["prompt"], "workload.prompt")
    output = lengths(wl.output, n, rngs["output"], "workload.output")
    return Requests(prompt, output, arrival, concurrency=wl.concurrency or 0, think_time_s=wl.think_time_s, rngs=rngs)
