"""The SLO's one meaning: whether a simulated run meets it, the figures it was judged on, and its goodput.

`simulate` (the summary's `slo_met` and `slo_check`), the Capacity plan (`plan.search._meets`), the Compare
page's verdict and table and the Load sweep all judge a run with :func:`check_slo`, so the same simulated
requests get the same answer everywhere (README, "SLO").

- **limits**: an SLO's fields (`ttft_p95_s`, `tpot_p95_ms`, `e2e_p95_s`; a plan may also set the `_p99`
  fields and `goodput_min`) bound a percentile of each request's time to first token, mean time per output
  token after the first, and end-to-end latency (:func:`request_latencies`; a rejected or unfinished
  request counts as infinitely late, a one-token output as TPOT 0).
- **met**: every percentile that has a limit is within it, on all requests **and** on the later half by
  arrival (a queue still growing at the end of the run does not pass), **no request was rejected**, and,
  when `goodput_min` is set, at least that share of requests met every per-request limit.  Without any
  limit, a run meets its (empty) SLO when it rejected nothing.
- **goodput**: the share of requests that finished within every limit set, read per request (the p95 limit,
  else the p99 one): reported alongside, a pass test only through `goodput_min`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# the percentile limits an SLO may set: (field, metric, percentile)
PERCENTILE_LIMITS = (
    ("ttft_p95_s", "ttft", 95),
    ("ttft_p99_s", "ttft", 99),
    ("tpot_p95_ms", "tpot", 95),
    ("tpot_p99_ms", "tpot", 99),
    ("e2e_p95_s", "e2e", 95),
    ("e2e_p99_s", "e2e", 99),
)
FIELDS = (*(f for f, _, _ in PERCENTILE_LIMITS), "goodput_min")  # every limit an SLO may set
LATER_HALF = "later half: "  # prefix of a limit missed on the later half of the requests by arrival


def request_latencies(arrival, first, finish, output) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per request: TTFT (s), mean time per output token after the first (ms; 0 for a one-token output) and
    end-to-end latency (s), each inf where the request never got that far (rejected or unfinished)."""
    arrival, first, finish = (np.asarray(x, float) for x in (arrival, first, finish))
    output = np.asarray(output)
    with np.errstate(invalid="ignore", divide="ignore"):
        ttft = np.nan_to_num(first - arrival, nan=np.inf)
        tpot = np.where(output > 1, np.nan_to_num((finish - first) / np.maximum(output - 1, 1), nan=np.inf), 0.0)
        e2e = np.nan_to_num(finish - arrival, nan=np.inf)
    return ttft, tpot * 1e3, e2e


def slo_good(
    ttft_s,
    tpot_ms,
    e2e_s,
    ttft_limit_s: float | None = None,
    tpot_limit_ms: float | None = None,
    e2e_limit_s: float | None = None,
) -> np.ndarray:
    """Which requests meet every limit that is set (a finished request; TTFT, TPOT, end-to-end each within its
    limit).  The share of them is the goodput that simulate, the app and the plan report."""
    good = np.isfinite(e2e_s)
    if ttft_limit_s is not None:
        good &= ttft_s <= ttft_limit_s
    if tpot_limit_ms is not None:
        good &= tpot_ms <= tpot_limit_ms
    if e2e_limit_s is not None:
        good &= e2e_s <= e2e_limit_s
    return good


def limits_of(slo: Any) -> dict[str, float]:
    """The limits an SLO sets ({field: limit}; the simulator's `SLO`, the plan's `PlanSLO` or a dict)."""
    data = slo if isinstance(slo, dict) else {k: getattr(slo, k, None) for k in FIELDS}
    return {k: float(v) for k in FIELDS if (v := data.get(k)) is not None}


@dataclass(frozen=True)
class SLOCheck:
    """One run judged against an SLO (:func:`check_slo`)."""

    met: bool
    figures: dict[str, float]  # every percentile of PERCENTILE_LIMITS and goodput, on all requests
    later_half: dict[str, float]  # the same on the later half of the requests by arrival
    rejected: int
    failed: tuple[str, ...]  # what missed: a limit's field, LATER_HALF + field, "rejected"
    limits: dict[str, float]  # the limits that were set
    good: np.ndarray = field(repr=False, compare=False)  # per request: met every per-request limit

    @property
    def goodput(self) -> float:
        return self.figures["goodput"]

    def as_json(self) -> dict:
        """For the simulator's summary: what failed and, for each limit set, its figure on all requests and on
        the later half (None where a request never finished: infinitely late)."""

        def fin(x: float) -> float | None:
            return round(x, 6) if math.isfinite(x) else None

        return {
            "failed": list(self.failed),
            "all": {k: fin(self.figures[k]) for k in self.limits},
            "later_half": {k: fin(self.later_half[k]) for k in self.limits},
        }


def _figures(ttft, tpot, e2e, per_request: tuple, idx) -> tuple[dict[str, float], np.ndarray]:
    t, p, e = ttft[idx], tpot[idx], e2e[idx]
    by = {"ttft": t, "tpot": p, "e2e": e}
    with np.errstate(invalid="ignore"):  # two infinitely late requests interpolate to NaN: a miss all the same
        out = {f: float(np.percentile(by[m], q)) if len(idx) else math.inf for f, m, q in PERCENTILE_LIMITS}
    good = slo_good(t, p, e, *per_request)
    out["goodput"] = float(good.mean()) if len(good) else 0.0
    return out, good


def _misses(fig: dict[str, float], limits: dict[str, float]) -> list[str]:
    out = [k for k, lim in limits.items() if k != "goodput_min" and not fig[k] <= lim]
    if "goodput_min" in limits and not fig["goodput"] >= limits["goodput_min"]:
        out.append("goodput_min")
    return out


def check_slo(slo: Any, arrival, first, finish, output, rejected) -> SLOCheck:
    """Judge one run's requests (arrival, first-token and finish times in s, NaN where never reached; output
    tokens; rejected flags) against `slo` (see the module's docstring for what "met" means)."""
    arr = np.asarray(arrival, float)
    n = len(arr)
    ttft, tpot, e2e = request_latencies(arr, first, finish, np.asarray(output, float))
    limits = limits_of(slo)
    per_request = tuple(
        limits.get(a, limits.get(b))
        for a, b in (("ttft_p95_s", "ttft_p99_s"), ("tpot_p95_ms", "tpot_p99_ms"), ("e2e_p95_s", "e2e_p99_s"))
    )
    fig, good = _figures(ttft, tpot, e2e, per_request, np.arange(n))
    late, _ = _figures(ttft, tpot, e2e, per_request, np.argsort(arr, kind="stable")[n // 2 :])
    n_rej = int(np.count_nonzero(np.asarray(rejected, dtype=bool)))
    failed = _misses(fig, limits) + [LATER_HALF + k for k in _misses(late, limits)]
    if n_rej:
        failed.append("rejected")
    return SLOCheck(not failed, fig, late, n_rej, tuple(failed), limits, good)


def check_columns(slo: Any, cols: dict) -> SLOCheck:
    """:func:`check_slo` on a simulation's per-request columns (`SimResult.columns`, or the Compare page's copy)."""
    return check_slo(
        slo, cols["arrival_s"], cols["first_token_s"], cols["finish_s"], cols["output_tokens"], cols["rejected"]
    )
