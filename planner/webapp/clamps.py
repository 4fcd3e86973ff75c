"""An untrusted scenario lowered to the server's compute budget (the web app side of planner.sim.budget).

:func:`clamp` lowers each field over the budget (requests, timeline points, replicas; no server file
named in a link) with a warning naming the field; :func:`sweep_plan` does the same for a load sweep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.sim.budget import Budget, load_budget
from planner.sim.workload import DEFAULT_REQUESTS
from planner.webapp.defaults import default_scenario


@dataclass(frozen=True)
class Clamp:
    """One field lowered to the budget."""

    field: str
    asked: float
    used: float
    budget: str

    def __str__(self) -> str:
        if math.isnan(self.asked):
            return f"{self.field}: {self.budget}"
        return (
            f"{self.field}: {_n(self.asked)} is over this server's compute budget ({self.budget}); "
            f"using {_n(self.used)} (the command line `python -m planner simulate` has no such budget)"
        )


def _n(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,g}"


def clamp(sc, budget: Budget | None = None):
    """(scenario within the budget, [Clamp, ...]).  `sc` is a planner.sim.scenario.Scenario; it is
    returned unchanged (the same object) when it is within the budget."""
    b = budget or load_budget()
    out: list[Clamp] = []
    upd: dict = {}
    wl = sc.workload
    files = [
        f
        for f, v in (
            ("workload.trace_csv", wl.arrival == "trace" or wl.trace_csv),
            ("workload.prompt.csv", wl.prompt.dist == "csv" or wl.prompt.csv),
            ("workload.output.csv", wl.output.dist == "csv" or wl.output.csv),
        )
        if v
    ]
    if files:  # a link must not make the server read its files
        wl = default_scenario().workload.model_copy(update={"seed": wl.seed})
        upd["workload"] = wl
        out.append(
            Clamp(
                files[0],
                math.nan,
                math.nan,
                "the web app reads no server file named in a link or CSV; the default workload is used",
            )
        )
    n_opt = len(sc.options())
    per = max(1, b.requests // n_opt)
    asked = wl.requests or DEFAULT_REQUESTS
    if asked > per:
        upd["workload"] = wl.model_copy(update={"requests": per})
        out.append(
            Clamp(
                "workload.requests",
                asked,
                per,
                f"{b.requests:,} simulated requests per page, i.e. {per:,} for each of {n_opt} options",
            )
        )
    if sc.timeline_points > b.timeline_points:
        upd["timeline_points"] = b.timeline_points
        out.append(
            Clamp("timeline_points", sc.timeline_points, b.timeline_points, f"{b.timeline_points:,} timeline points")
        )
    machines = []
    changed = False
    for i, m in enumerate(sc.options()):
        if m.replicas > b.replicas:
            name = "machine.replicas" if i == 0 else f"compare.{i - 1}.replicas"
            out.append(Clamp(name, m.replicas, b.replicas, f"{b.replicas:,} simulated replicas per option"))
            m = m.model_copy(update={"replicas": b.replicas})
            changed = True
        machines.append(m)
    if changed:
        upd["machine"], upd["compare"] = machines[0], machines[1:]
    return (sc.model_copy(update=upd) if upd else sc), out


def sweep_plan(
    options: int, asked_points: int, asked_requests: int | None, budget: Budget | None = None
) -> tuple[int, int, list[Clamp]]:
    """(points per option, requests per point, clamps) for a load sweep of `options` options."""
    b = budget or load_budget()
    out = []
    options = max(1, options)
    points = asked_points
    per = max(2, b.sweep_points // options)
    if points > per:
        out.append(
            Clamp(
                "sweep points",
                points,
                per,
                f"{b.sweep_points} sweep simulations per page, i.e. {per} for each of {options} options",
            )
        )
        points = per
    requests = asked_requests or DEFAULT_REQUESTS
    per_req = max(1, b.sweep_requests // (points * options))
    if requests > per_req:
        out.append(
            Clamp(
                "workload.requests",
                requests,
                per_req,
                f"{b.sweep_requests:,} simulated requests per load sweep, i.e. {per_req:,} for each of "
                f"{points} points x {options} options",
            )
        )
        requests = per_req
    return points, requests, out
