"""The command line's golden predictions and plan (tests/golden/predictions/, written by
``python -m tests.golden``): the same JSON keys (the contract other tools read) and the same numbers, each
case paired with the invariant that explains it."""

import json

import pytest

from planner.model.arch import active_params, params
from tests.golden.predictions import CASES, HERE, run

FILES = {p.stem: json.loads(p.read_text()) for p in sorted(HERE.glob("*.json"))}
PREDICTIONS = [n for n in CASES if CASES[n][0] == "predict"]


def key_paths(node, prefix=()):
    """Every key path of a JSON value (list items share one path): the shape of the contract."""
    if isinstance(node, dict):
        out = set()
        for k, v in node.items():
            out |= {prefix + (k,)} | key_paths(v, prefix + (k,))
        return out
    if isinstance(node, list):
        return set().union(*(key_paths(v, prefix + ("[]",)) for v in node)) if node else set()
    return set()


def test_every_case_has_its_file():
    assert sorted(FILES) == sorted(CASES)


@pytest.fixture(scope="module")
def outputs():
    return {name: run(argv) for name, argv in CASES.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_output(outputs, name):
    rec = FILES[name]
    assert rec["argv"] == CASES[name]
    code, got = outputs[name]
    assert code == rec["exit"]
    missing = key_paths(rec["output"]) - key_paths(got)
    assert not missing, f"the JSON contract lost fields: {sorted(missing)[:5]}"
    assert got == rec["output"], "a number changed: regenerate with `python -m tests.golden` only if meant"


def _active_weight_gb(cat, out) -> float:
    m = cat.models[out["model"]]
    return out["memory_gb"]["weights"] * active_params(m) / params(m).total


@pytest.mark.parametrize("name", PREDICTIONS)
def test_decode_within_the_bandwidth_bound(cat, name):
    """One decode step reads at least the active weights once: tokens/s <= bandwidth / active weight bytes."""
    out = FILES[name]["output"]
    hw = cat.hardware[out["hardware"]]
    bound = hw.memory_bandwidth_gbs.value * out["devices"] * out["nodes"] / _active_weight_gb(cat, out)
    assert 0 < out["decode_tok_s"] <= bound
    assert out["tpot_s"] == pytest.approx(1 / out["decode_tok_s"], rel=0.01)


@pytest.mark.parametrize("name", PREDICTIONS)
def test_prefill_within_the_compute_bound(cat, name):
    """A prompt token costs at least 2 FLOPs per active parameter: tokens/s <= peak FLOP/s / (2 x active)."""
    out = FILES[name]["output"]
    hw = cat.hardware[out["hardware"]]
    peak = max(f.value for f in hw.tflops.values()) * 1e12 * out["devices"] * out["nodes"]
    assert 0 < out["prefill_tok_s"] <= peak / (2 * active_params(cat.models[out["model"]]))


@pytest.mark.parametrize("name", PREDICTIONS)
def test_fits_means_the_memory_fits(name):
    out = FILES[name]["output"]
    mem = out["memory_gb"]
    assert mem["total"] == pytest.approx(mem["weights"] + mem["kv_cache"] + mem["other"], abs=0.002)
    assert out["fits"] == (mem["total"] <= mem["usable"])
    assert (out["reason"] is None) == out["fits"]
    if not out["fits"]:
        assert FILES[name]["exit"] == 3 and "fix:" in out["reason"]


def test_plan_winner_meets_its_slo_and_is_cheapest():
    out = FILES["plan_llama31_8b_small"]["output"]
    slo = out["slo"]
    meets = [c for c in out["candidates"] if c["verdict"] in ("winner", "meets")]
    (win,) = [c for c in meets if c["id"] == out["winner"]]
    assert win["sim"]["ttft_p95_s"] <= slo["ttft_p95_s"] and win["sim"]["tpot_p95_ms"] <= slo["tpot_p95_ms"]
    assert win["headroom"] >= 0
    assert win["tco_usd"] == min(c["tco_usd"] for c in meets)
    on_front = [p for p in out["pareto"] if p["on_front"]]
    assert any(p["id"] == win["id"] for p in on_front)  # the cheapest is never dominated
