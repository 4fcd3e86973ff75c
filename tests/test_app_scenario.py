"""The app's additions to the Scenario: compare options, custom hardware, cost assumptions."""

import pytest

from planner.errors import ScenarioError
from planner.model.predict import predict
from planner.sim.scenario import MAX_COMPARE, Scenario, parse_scenario, scenario_catalog

BASE = {
    "model": "deepseek-r1",
    "quant": "q4_k_m",
    "engine": "llama.cpp",
    "machine": {"hardware": "apple-m3-ultra-80c", "memory_gb": 512},
    "workload": {"arrival": "closed", "concurrency": 4},
}
CUSTOM = {
    "id": "my-box",
    "name": "My box",
    "vendor": "nvidia",
    "memory_gb": 96,
    "bandwidth_gbs": 1800,
    "fp16_tflops": 500,
    "power_w": 600,
    "price_usd": 9000,
}


def test_old_scenarios_still_parse_with_empty_extras():
    sc = parse_scenario(BASE)
    assert sc.compare == [] and sc.custom_hardware == [] and sc.cost.amortize_years == 3
    assert sc.options() == [sc.machine]


def test_compare_options_and_limit():
    opts = [{"hardware": "nvidia-h100-sxm", "devices": 8}] * MAX_COMPARE
    sc = parse_scenario({**BASE, "compare": opts})
    assert len(sc.options()) == MAX_COMPARE + 1
    one = sc.for_option(2)
    assert one.machine.hardware == "nvidia-h100-sxm" and one.compare == []
    with pytest.raises(ScenarioError) as exc:
        parse_scenario({**BASE, "compare": opts + opts[:1]})
    assert exc.value.field == "compare" and "at most 5" in str(exc.value)


def test_custom_hardware_joins_the_catalog(cat):
    sc = parse_scenario({**BASE, "custom_hardware": [CUSTOM]})
    cat2 = scenario_catalog(cat, sc)
    assert "my-box" in cat2.hardware and "my-box" not in cat.hardware
    hw = cat2.hardware["my-box"]
    assert hw.memory_bandwidth_gbs.source.startswith("custom machine")
    r = predict(cat2, hardware="my-box", model="llama-3.1-8b", quant="q4_k_m", engine="llama.cpp")
    assert r["fits"] and r["decode_tok_s"] > 0
    assert Scenario.model_validate_json(sc.model_dump_json()) == sc


@pytest.mark.parametrize(
    "change,field",
    [
        ({"id": "Bad Id"}, "custom_hardware.id"),
        ({"memory_gb": 0}, "custom_hardware.memory_gb"),
        ({"vendor": "intel"}, "custom_hardware.vendor"),
    ],
)
def test_bad_custom_hardware_names_the_field(change, field):
    with pytest.raises(ScenarioError) as exc:
        parse_scenario({**BASE, "custom_hardware": [{**CUSTOM, **change}]})
    assert exc.value.field == field


def test_custom_id_may_not_shadow_the_catalog(cat):
    sc = parse_scenario({**BASE, "custom_hardware": [{**CUSTOM, "id": "m3-ultra"}]})
    with pytest.raises(ScenarioError) as exc:
        scenario_catalog(cat, sc)
    assert exc.value.field == "custom_hardware.0.id"
    with pytest.raises(ScenarioError, match="unique"):
        parse_scenario({**BASE, "custom_hardware": [CUSTOM, CUSTOM]})
