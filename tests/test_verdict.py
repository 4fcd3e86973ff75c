"""The verdict sentence (planner.webapp.verdict): who meets the target at this load, who fails and why, the cheapest."""

import pytest

from planner.sim.scenario import parse_scenario
from planner.webapp.compare import compare, summary_rows
from planner.webapp.verdict import fmt_duration, team_load_text, tight, verdict

BUYER = {
    "model": "llama-3.1-70b",
    "quant": "q4_k_m",
    "engine": "llama.cpp",
    "machine": {"hardware": "apple-m3-ultra-80c", "memory_gb": 256},
    "compare": [
        {"hardware": "nvidia-dgx-spark"},
        {"hardware": "nvidia-rtx-5090", "devices": 2},
        {"hardware": "nvidia-h100-sxm", "devices": 2, "quant": "fp8", "engine": "vllm"},
        {"hardware": "nvidia-h100-pcie", "devices": 2, "quant": "fp8", "engine": "vllm", "price_usd": 70000},
    ],
    "workload": {
        "arrival": "closed",
        "concurrency": 30,
        "think_time_s": 120,
        "requests": 300,
        "prompt": {"mean": 2000},
        "output": {"mean": 500},
    },
    "slo": {"ttft_p95_s": 3},
}


def test_fmt_duration_picks_the_unit_that_reads_best():
    assert fmt_duration(0.85) == "850 ms" and fmt_duration(2.34) == "2.3 s" and fmt_duration(42) == "42 s"
    assert fmt_duration(927.145) == "15 min" and fmt_duration(7560) == "2.1 h" and fmt_duration(None) == "—"


def test_team_load_is_stated_as_arrivals():
    t = team_load_text(30, 2)
    assert "30 people" in t and "0.25 requests/s" in t and "closed loop" in t and "thinks for 2 min" in t


def test_buyer_verdict_names_who_meets_the_target_and_why_the_others_fail(cat):
    sc = parse_scenario(BUYER)
    res = compare(cat, sc)
    v = verdict(res, sc.slo, "30 people")
    rows = summary_rows(res, sc.slo)
    meets = [r for r in rows if r["meets_target"]]
    assert v["meets"] and len(v["meets"]) == len(meets) < len(rows)
    for r in rows:  # every option appears in the sentence, meeting or failing with a reason
        name = r["machine"].split(": ", 1)[1]
        assert name in v["sentence"]
        if not r["meets_target"]:
            assert f"{name} fails: {r['verdict']}" in v["sentence"]
            assert any(
                k in r["verdict"]
                for k in ("prefill too slow", "queueing", "does not fit", "decode too slow", "rejects")
            )
    # the Mac alone takes longer than 3 s to read a 2,000-token prompt: it fails for that reason, not queueing
    assert rows[0]["verdict"].startswith("prefill too slow")
    # the cheapest that meets it has the lowest $ per million tokens among those that meet it
    best = min((o for o in res if o["label"].split(": ", 1)[1] in v["meets"]), key=lambda o: o["usd_per_mtok"])
    assert v["cheapest"] == best["label"].split(": ", 1)[1] and "Cheapest that meets it" in v["sentence"]
    # a quote prices a machine with no sourced price
    assert rows[4]["price_usd"] == 70000 and rows[4]["price_is_quote"]
    assert rows[0]["usd_per_user_month"] == pytest.approx(rows[0]["usd_per_month"] / 30, abs=1)


def test_tight_fit_says_what_to_change():
    o = {"fits": True, "memory": {"total": 411.1, "usable": 412.3}}
    t = tight(o)
    assert t.startswith("tight: 1.1 of 384.0 GiB") and "smaller quantization" in t  # GiB: as the 512 GB Mac is sold
    assert tight({"fits": True, "memory": {"total": 300, "usable": 412.3}}) is None
    assert "fewer than the 30" in tight(
        {"fits": True, "memory": {"total": 1, "usable": 10}, "max_concurrent_sequences": 4}, 30
    )
