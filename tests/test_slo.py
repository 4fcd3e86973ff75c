"""The SLO's one meaning (planner.econ.slo): simulate, the Capacity plan and the Compare page judge the same
requests the same way (README, "SLO")."""

import numpy as np
import pytest

from planner.econ.slo import LATER_HALF, check_columns, request_latencies
from planner.plan.search import PlanSLO, _meets
from planner.sim.engine import simulate_scenario
from planner.sim.scenario import SLO, parse_scenario
from planner.webapp.compare import evaluate_option
from planner.webapp.verdict import classify

H100 = {"model": "llama-3.1-8b", "quant": "fp8", "engine": "vllm", "machine": {"hardware": "nvidia-h100-sxm"}}
LOAD = {"arrival": "poisson", "rate_rps": 30, "requests": 300}


def columns(ttft, tpot_ms, output=11, rejected=()):
    """Per-request columns of n requests arriving 1 s apart with the given TTFT (s) and TPOT (ms)."""
    n = len(ttft)
    arr = np.arange(n, dtype=float)
    first = arr + np.asarray(ttft, float)
    finish = first + np.asarray(tpot_ms, float) / 1e3 * (output - 1)
    rej = [i in rejected for i in range(n)]
    first[list(rejected)] = np.nan
    finish[list(rejected)] = np.nan
    return {
        "arrival_s": list(arr),
        "first_token_s": list(first),
        "finish_s": list(finish),
        "output_tokens": [output] * n,
        "rejected": rej,
    }


def judges(cols: dict, slo: dict) -> tuple[bool, bool, bool]:
    """(the check, the plan's test, the Compare verdict) on the same requests."""
    o = {"fits": True, "sim": {"requests": len(cols["arrival_s"])}, "requests": cols}
    return check_columns(slo, cols).met, _meets(cols, PlanSLO(**slo))[0], classify(o, SLO(**slo))[0]


def test_each_p95_within_its_limit_meets_even_when_fewer_than_95_percent_meet_every_limit():
    """4 slow first tokens and 4 other requests with slow tokens in 100: each p95 is within its limit (on all and
    on the later half), 92% of requests meet both: the SLO is met (the old Compare rule, 95% of requests within
    every limit, said no while the plan said yes)."""
    ttft, tpot = np.full(100, 0.1), np.full(100, 10.0)
    ttft[[10, 11, 60, 61]] = 5.0
    tpot[[20, 21, 70, 71]] = 90.0
    cols = columns(ttft, tpot)
    slo = {"ttft_p95_s": 1.0, "tpot_p95_ms": 50.0}
    chk = check_columns(slo, cols)
    assert chk.goodput == pytest.approx(0.92) and chk.failed == ()
    assert chk.figures["ttft_p95_s"] <= 1.0 and chk.later_half["tpot_p95_ms"] <= 50.0
    assert judges(cols, slo) == (True, True, True)


def test_a_queue_growing_at_the_end_fails_on_the_later_half():
    """4 late first tokens in the last 50 requests: p95 of all requests within the limit, of the later half not
    (96% of requests were good: the old Compare rule said it meets)."""
    ttft = np.full(100, 0.1)
    ttft[[96, 97, 98, 99]] = 5.0
    cols = columns(ttft, np.full(100, 10.0))
    slo = {"ttft_p95_s": 1.0}
    chk = check_columns(slo, cols)
    assert chk.goodput == pytest.approx(0.96) and chk.failed == (LATER_HALF + "ttft_p95_s",)
    assert judges(cols, slo) == (False, False, False)
    o = {"fits": True, "sim": {}, "requests": cols}
    assert classify(o, SLO(**slo))[1].startswith("queueing (later requests: p95")


def test_a_rejected_request_misses_the_slo_and_none_set_means_keeping_up():
    cols = columns(np.full(20, 0.1), np.full(20, 10.0), rejected=(3,))
    chk = check_columns({"ttft_p95_s": 1.0}, cols)
    assert chk.rejected == 1 and "rejected" in chk.failed and not chk.met
    assert judges(cols, {"ttft_p95_s": 1.0}) == (False, False, False)
    assert not check_columns({}, cols).met  # no limit: met when nothing was rejected
    assert check_columns({}, columns(np.full(20, 0.1), np.full(20, 10.0))).met


def test_p99_limits_and_goodput_min_are_part_of_the_same_check():
    ttft = np.full(100, 0.1)
    ttft[[30, 80]] = 5.0  # 2%: p95 fine, p99 not
    cols = columns(ttft, np.full(100, 10.0))
    assert check_columns({"ttft_p95_s": 1.0}, cols).met
    assert "ttft_p99_s" in check_columns({"ttft_p99_s": 1.0}, cols).failed
    assert check_columns({"ttft_p95_s": 1.0, "goodput_min": 0.97}, cols).met
    assert check_columns({"ttft_p95_s": 1.0, "goodput_min": 0.99}, cols).failed == (
        "goodput_min",
        LATER_HALF + "goodput_min",
    )


def _limits_at_p95(cat) -> dict:
    """Limits at the larger of each metric's p95 on all requests and on the later half of a real run."""
    res = simulate_scenario(cat, parse_scenario({**H100, "workload": LOAD}))
    c = res.columns
    n = len(c["arrival_s"])
    ttft, tpot, _ = request_latencies(c["arrival_s"], c["first_token_s"], c["finish_s"], c["output_tokens"])
    late = np.argsort(c["arrival_s"], kind="stable")[n // 2 :]
    return {
        "ttft_p95_s": float(max(np.percentile(ttft, 95), np.percentile(ttft[late], 95))),
        "tpot_p95_ms": float(max(np.percentile(tpot, 95), np.percentile(tpot[late], 95))),
    }


def test_simulate_plan_and_compare_give_one_verdict_on_a_simulated_run(cat):
    """A real simulation at each p95 exactly (met, yet fewer than 95% of requests meet both limits) and with
    the first-token limit a fifth tighter (missed): the simulator's summary, the plan's test and the Compare
    page's verdict agree on both."""
    at = _limits_at_p95(cat)
    tighter = {**at, "ttft_p95_s": at["ttft_p95_s"] * 0.8}
    for slo, want in ((at, True), (tighter, False)):
        sc = parse_scenario({**H100, "workload": LOAD, "slo": slo})
        res = simulate_scenario(cat, sc)
        s = res.summary
        o = evaluate_option(cat, sc, 0)
        verdict = (s["slo_met"], _meets(res.columns, PlanSLO(**slo))[0], classify(o, sc.slo)[0])
        assert verdict == (want, want, want), slo
        assert o["sim"]["slo_met"] is want
        if want:
            assert s["goodput"] < 0.95  # the old Compare rule would have said "fails"
            chk = s["slo_check"]
            assert chk["failed"] == [] and set(chk["all"]) == set(chk["later_half"]) == set(slo)
            assert max(chk["all"]["ttft_p95_s"], chk["later_half"]["ttft_p95_s"]) <= slo["ttft_p95_s"] + 1e-6
        else:
            assert "ttft_p95_s" in s["slo_check"]["failed"]
