"""The Capacity plan page's inputs (`PlanInputs`): what the page asks for, the `planner.plan.search.PlanSpec`
they make, and the workload, SLO and costs they share with the scenario of the Compare and Load sweep pages.

Their share-link form (``plan.*`` keys) is in `planner.webapp.links`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from planner.sim.scenario import Cost, Scenario


class PlanInputs(BaseModel):
    """What the Capacity plan page asks for; `spec()` turns it into a `planner.plan.search.PlanSpec` dict."""

    model_config = {"extra": "forbid"}

    model: str = Field("deepseek-r1", description="model id")
    quant: str | None = Field(None, description="one quantization, or none: every sensible one")
    min_quality: Literal["any", "4bit", "8bit", "16bit"] = Field("4bit", description="lowest weight precision")
    load: Literal["rate", "daily", "team"] = Field(
        "rate",
        description="peak rate, daily tokens x peak factor, or "
        "a team: people each sending a request every every_min minutes",
    )
    people: int = Field(30, ge=1, le=1_000_000, description="team: people")
    every_min: float = Field(
        2.0, gt=0, le=1440, description="team: minutes between one person's requests at busy times"
    )
    rate_rps: float = Field(2.0, gt=0, le=1e5, description="peak requests per second")
    daily_tokens: float = Field(1e9, gt=0, le=1e15, description="prompt + output tokens per day")
    peak_factor: float = Field(3.0, ge=1, le=1000, description="peak rate / mean rate over the day")
    prompt: int = Field(1000, ge=1, le=1_000_000, description="prompt tokens")
    output: int = Field(500, ge=1, le=1_000_000, description="output tokens")
    ttft_p95_s: float | None = Field(5.0, gt=0, le=1e6, description="p95 time to first token, s (none: no limit)")
    tpot_p95_ms: float | None = Field(100.0, gt=0, le=1e6, description="p95 time per output token, ms")
    e2e_p95_s: float | None = Field(None, gt=0, le=1e6, description="p95 end-to-end time, s")
    candidates: list[str] | None = Field(None, description="hardware ids (none: the whole catalog)")
    electricity_usd_per_kwh: float = Field(0.15, ge=0, le=10)
    pue: float = Field(1.3, ge=1, le=5)
    years: float = Field(3.0, gt=0, le=20)
    utilization: float | None = Field(
        None,
        gt=0,
        le=1,
        description="share of the time at peak load (none: the planner's default, 50% or 1 / peak factor)",
    )

    def spec(self) -> dict:
        wl: dict = {"prompt": {"mean": self.prompt}, "output": {"mean": self.output}}
        if self.load == "rate":
            wl["rate_rps"] = self.rate_rps
        elif self.load == "team":
            wl["rate_rps"] = self.team_rate_rps()
        else:
            wl.update(daily_tokens=self.daily_tokens, peak_factor=self.peak_factor)
        # only the changed ones: the planner lists the defaults it used as assumptions
        default = PlanInputs()
        costs = {
            k: getattr(self, k)
            for k in ("electricity_usd_per_kwh", "pue", "years", "utilization")
            if getattr(self, k) is not None and getattr(self, k) != getattr(default, k)
        }
        out: dict = {
            "model": self.model,
            "workload": wl,
            "costs": costs,
            "slo": {
                k: getattr(self, k) for k in ("ttft_p95_s", "tpot_p95_ms", "e2e_p95_s") if getattr(self, k) is not None
            },
        }
        if self.quant:
            out["quants"] = [self.quant]
        if self.min_quality != "4bit":
            out["min_quality"] = self.min_quality
        if self.candidates:
            out["candidates"] = [{"hardware": h} for h in self.candidates]
        return out

    def team_rate_rps(self) -> float:
        """A team's peak arrivals: people / (minutes between one person's requests x 60), requests/s (an upper
        bound: with think time a person also waits for the answer, so sends a little less)."""
        return self.people / (self.every_min * 60.0)


def plan_inputs_from_scenario(
    sc: Scenario, inp: PlanInputs, keep: frozenset[str] | set[str] = frozenset()
) -> PlanInputs:
    """The Capacity plan's inputs with the workload, SLO and cost assumptions the scenario shares with it
    (Compare, Load sweep and Capacity plan use one set): the model, fixed prompt and output lengths, the
    load (a team with think time, or a Poisson rate), the SLO where the scenario sets one, the costs, and the
    scenario's hardware as the candidates.  Fields in `keep` (those a share link carried as plan.*) stay
    as they are, and a load or SLO field kept keeps its whole group."""
    wl = sc.workload
    upd: dict = {
        "model": sc.model,
        "electricity_usd_per_kwh": sc.cost.usd_per_kwh,
        "pue": sc.cost.pue,
        "years": sc.cost.amortize_years,
        "utilization": None if sc.cost.utilization == Cost().utilization else sc.cost.utilization,
    }
    for name in ("prompt", "output"):
        ln = getattr(wl, name)
        if ln.dist == "fixed" and ln.mean:
            upd[name] = max(1, round(ln.mean))
    if wl.arrival == "closed" and wl.think_time_s > 0:
        upd.update(load="team", people=wl.concurrency or 1, every_min=round(wl.think_time_s / 60.0, 4))
    elif wl.arrival == "poisson" and wl.rate_rps:
        upd.update(load="rate", rate_rps=wl.rate_rps)
    if sc.slo.ttft_p95_s or sc.slo.tpot_p95_ms or sc.slo.e2e_p95_s:
        upd.update(ttft_p95_s=sc.slo.ttft_p95_s, tpot_p95_ms=sc.slo.tpot_p95_ms, e2e_p95_s=sc.slo.e2e_p95_s)
    upd["candidates"] = list(dict.fromkeys(m.hardware for m in sc.options() if not m.hardware.startswith("custom")))
    groups = (
        {"load", "rate_rps", "people", "every_min", "daily_tokens", "peak_factor"},
        {"ttft_p95_s", "tpot_p95_ms", "e2e_p95_s"},
    )
    for g in groups:
        if g & set(keep):
            keep = set(keep) | g
    return inp.model_copy(update={k: v for k, v in upd.items() if k not in keep})


def scenario_from_plan_inputs(sc: Scenario, inp: PlanInputs) -> Scenario:
    """The scenario with the Capacity plan's shared inputs (the reverse of `plan_inputs_from_scenario`)."""
    data = sc.model_dump(mode="json")
    data["model"] = inp.model
    w = data["workload"]
    w["prompt"] = {"dist": "fixed", "mean": inp.prompt}
    w["output"] = {"dist": "fixed", "mean": inp.output}
    if inp.load == "team":
        w.update(arrival="closed", concurrency=inp.people, think_time_s=inp.every_min * 60.0)
    elif inp.load == "rate":
        w.update(arrival="poisson", rate_rps=inp.rate_rps)
    data["slo"] = {"ttft_p95_s": inp.ttft_p95_s, "tpot_p95_ms": inp.tpot_p95_ms, "e2e_p95_s": inp.e2e_p95_s}
    data["cost"] = {
        "usd_per_kwh": inp.electricity_usd_per_kwh,
        "pue": inp.pue,
        "amortize_years": inp.years,
        "utilization": inp.utilization or Cost().utilization,
    }
    return Scenario.model_validate(data)
