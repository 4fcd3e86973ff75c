"""Share links (planner.webapp.links) and the `link` command."""

import json
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.cli.commands import main
from planner.sim.scenario import parse_scenario
from planner.webapp.defaults import DEFAULT, default_scenario
from planner.webapp.links import decode, decode_strict, encode, encode_params

HW = ["apple-m3-ultra-80c", "nvidia-h100-sxm", "nvidia-h200-sxm", "nvidia-rtx-pro-6000", "nvidia-b200"]


def test_default_is_just_the_version():
    assert encode(default_scenario()) == "v=2"
    sc, warnings = decode("v=2")
    assert sc == default_scenario() and warnings == []


def test_dotted_names_only_for_changes(cat):
    d = default_scenario()
    sc = d.model_copy(update={"workload": d.workload.model_copy(update={"arrival": "poisson", "rate_rps": 4.0})})
    params = encode_params(sc)
    assert params == {"v": "2", "workload.arrival": "poisson", "workload.rate_rps": "4"}
    back, warnings = decode(encode(sc), cat)
    assert back == sc and warnings == []


machines = st.builds(
    dict, hardware=st.sampled_from(HW), devices=st.sampled_from([1, 2, 4, 8]), replicas=st.integers(1, 4)
)


@settings(max_examples=40, deadline=None)
@given(
    opts=st.lists(machines, min_size=1, max_size=6),
    users=st.integers(1, 64),
    prompt=st.integers(1, 8000),
    out=st.integers(1, 4000),
    rate=st.none() | st.floats(0.01, 100),
    ttft=st.none() | st.floats(0.1, 60),
    seed=st.integers(0, 2**31),
)
def test_round_trip(cat, opts, users, prompt, out, rate, ttft, seed):
    wl = {"arrival": "closed", "concurrency": users} if rate is None else {"arrival": "poisson", "rate_rps": rate}
    data = {
        **DEFAULT,
        "machine": opts[0],
        "compare": opts[1:],
        "workload": {**wl, "requests": 300, "seed": seed, "prompt": {"mean": prompt}, "output": {"mean": out}},
        "slo": {"ttft_p95_s": ttft},
    }
    sc = parse_scenario(data)
    q = encode(sc)
    back, warnings = decode(q, cat)
    assert warnings == [] and back == sc
    assert len(q) < 900


def test_typical_links_are_short(cat):
    data = {
        **DEFAULT,
        "workload": {
            **DEFAULT["workload"],
            "arrival": "poisson",
            "rate_rps": 0.25,
            "requests": 500,
            "prompt": {"mean": 2000},
            "output": {"mean": 1000},
        },
        "slo": {"ttft_p95_s": 5, "tpot_p95_ms": 100},
        "compare": [
            {"hardware": "nvidia-h100-sxm", "devices": 8},
            {"hardware": "nvidia-b200", "devices": 4},
            {"hardware": "nvidia-rtx-pro-6000", "devices": 8, "replicas": 2},
            {"hardware": "amd-mi300x", "devices": 4},
            {"hardware": "apple-m3-ultra-80c", "memory_gb": 256},
        ],
    }
    q = encode(parse_scenario(data))
    assert len(q) < 500, len(q)


def test_malformed_values_fall_back_per_field(cat):
    sc, warnings = decode("v=2&workload.concurrency=-3&workload.prompt.mean=abc&workload.output.mean=100", cat)
    fields = [w.field for w in warnings]
    assert fields == ["workload.concurrency", "workload.prompt.mean"]
    assert sc.workload.concurrency == default_scenario().workload.concurrency
    assert sc.workload.output.mean == 100  # the good field is kept


def test_object_rules_revert_only_the_culprit(cat):
    sc, warnings = decode("workload.arrival=poisson&workload.prompt.mean=1000", cat)
    assert [w.field for w in warnings] == ["workload (workload.arrival)"]
    assert "needs rate_rps" in warnings[0].message
    assert sc.workload.arrival == "closed" and sc.workload.prompt.mean == 1000


def test_unknown_ids_fields_and_versions(cat):
    q = "v=7&model=deepseek&machine.colour=red&compare.0.hardware=nvidia-h999&compare.1.hardware=h100-sxm"
    sc, warnings = decode(q, cat)
    by = {w.field: w.message for w in warnings}
    assert "not supported" in by["v"]
    assert "Did you mean: deepseek-r1" in by["model"] and sc.model == "deepseek-r1"
    assert "unknown field" in by["machine.colour"]
    assert "option dropped" in by["compare.0.hardware"]
    assert [m.hardware for m in sc.compare] == ["nvidia-h100-sxm"]  # alias resolved


def test_garbage_never_raises(cat):
    for q in [
        "%%%",
        "=&=&",
        "compare.x.hardware=1",
        "compare=5",
        "workload.piecewise=[[",
        "a.b.c.d=1",
        "compare." + "&compare.".join(f"{i}.hardware=nvidia-h100-sxm" for i in range(9)),
    ]:
        sc, warnings = decode(q, cat)
        assert sc.model == "deepseek-r1"


def test_too_many_options_keep_the_first_five(cat):
    q = "&".join(f"compare.{i}.hardware=nvidia-h100-sxm&compare.{i}.devices={i + 1}" for i in range(8))
    sc, warnings = decode(q, cat)
    assert len(sc.compare) == 5 and warnings and warnings[0].field == "compare"


def test_custom_hardware_travels(cat):
    custom = {
        "id": "my-box",
        "name": "My box",
        "vendor": "nvidia",
        "memory_gb": 96,
        "bandwidth_gbs": 1800,
        "fp16_tflops": 500,
        "power_w": 600,
    }
    sc = parse_scenario({**DEFAULT, "custom_hardware": [custom], "compare": [{"hardware": "my-box", "devices": 8}]})
    back, warnings = decode(encode(sc), cat)
    assert warnings == [] and back == sc


def test_cli_link_round_trip(tmp_path, capsys):
    d = {**DEFAULT, "workload": {**DEFAULT["workload"], "concurrency": 16}}
    f = tmp_path / "s.json"
    f.write_text(json.dumps(d))
    assert main(["link", str(f)]) == 0
    q = capsys.readouterr().out.strip()
    assert dict(parse_qsl(q)) == {"v": "2", "workload.concurrency": "16"}
    assert main(["link", "--decode", "http://localhost:8501/?" + q]) == 0
    assert json.loads(capsys.readouterr().out)["workload"]["concurrency"] == 16


def test_cli_link_bad_input_one_line(capsys):
    assert main(["link", "--decode", "workload.rate_rps=abc"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "workload.rate_rps" in err and "using the default" not in err
    assert main(["link"]) == 2
    assert main(["link", "/nonexistent.json"]) == 2


def test_decode_strict_raises_named_field(cat):
    import pytest

    from planner.errors import ScenarioError

    with pytest.raises(ScenarioError) as exc:
        decode_strict("machine.devices=0", cat)
    assert exc.value.field == "machine.devices"


def test_scale_out_fields_round_trip_and_bad_ids_warn(cat):
    from planner.sim.scenario import Machine

    d = default_scenario()
    sc = d.model_copy(
        update={
            "compare": [
                *d.compare,
                Machine(
                    hardware="nvidia-rtx-pro-6000",
                    quant="q4_k_m",
                    engine="llama.cpp",
                    host="amd-epyc-9004-genoa",
                    offload="experts",
                ),
            ]
        }
    )
    params = encode_params(sc)
    assert params["compare.0.nodes"] == "2" and params["compare.0.link"] == "thunderbolt5"
    assert params["compare.3.offload"] == "experts" and params["compare.3.host"] == "amd-epyc-9004-genoa"
    assert "compare.1.nodes" not in params  # defaults are left out
    assert params["compare.1.engine"] == "sglang" and params["compare.3.engine"] == "llama.cpp"
    back, warnings = decode(encode(sc), cat)
    assert back == sc and warnings == []
    bad, warnings = decode(
        "v=2&compare.0.hardware=nvidia-h100-sxm&compare.0.link=warp-drive&compare.0.host=zzz&compare.0.parallel=tp%3Dx",
        cat,
    )
    fields = {w.field for w in warnings}
    assert {"compare.0.link", "compare.0.host", "compare.0.parallel"} <= fields
    assert bad.compare[0].link is None and bad.compare[0].host is None and bad.compare[0].parallel is None


def test_plan_inputs_round_trip_only_non_defaults(cat):
    from planner.webapp.links import decode_plan, encode_plan_params
    from planner.webapp.plan_inputs import PlanInputs

    assert encode_plan_params(PlanInputs()) == {}
    inp = PlanInputs(
        rate_rps=4,
        quant="fp8",
        candidates=["nvidia-h200-sxm", "amd-mi300x"],
        e2e_p95_s=60,
        tpot_p95_ms=None,
        utilization=0.3,
    )
    params = encode_plan_params(inp)
    assert params == {
        "plan.quant": "fp8",
        "plan.rate_rps": "4",
        "plan.tpot_p95_ms": "",
        "plan.e2e_p95_s": "60",
        "plan.candidates": "nvidia-h200-sxm,amd-mi300x",
        "plan.utilization": "0.3",
    }
    back, warnings = decode_plan({"v": "2", **params, "workload.rate_rps": "9"}, cat)
    assert back == inp and warnings == []
    # the scenario decoder ignores plan.* and the plan decoder ignores the scenario's fields
    sc, w2 = decode({"v": "2", **params}, cat)
    assert w2 == [] and sc == default_scenario()
    spec = back.spec()
    assert spec["workload"]["rate_rps"] == 4 and spec["quants"] == ["fp8"] and "tpot_p95_ms" not in spec["slo"]
    assert spec["candidates"] == [{"hardware": "nvidia-h200-sxm"}, {"hardware": "amd-mi300x"}]
    assert spec["costs"] == {"utilization": 0.3}  # default costs are left to the planner (listed as assumptions)


def test_plan_link_bad_fields_warn_and_fall_back_per_field(cat):
    from planner.webapp.links import decode_plan
    from planner.webapp.plan_inputs import PlanInputs

    inp, warnings = decode_plan(
        "v=2&plan.rate_rps=-3&plan.prompt=abc&plan.model=nope&plan.quant=zz&"
        "plan.candidates=nvidia-h200-sxm,warp9&plan.colour=red&plan.output=800",
        cat,
    )
    fields = [w.field for w in warnings]
    for f in ("plan.rate_rps", "plan.prompt", "plan.model", "plan.quant", "plan.candidates", "plan.colour"):
        assert f in fields, (f, fields)
    d = PlanInputs()
    assert (inp.rate_rps, inp.prompt, inp.model, inp.quant) == (d.rate_rps, d.prompt, d.model, None)
    assert inp.candidates == ["nvidia-h200-sxm"] and inp.output == 800  # the good fields are kept
    none, w = decode_plan("plan.ttft_p95_s=&plan.tpot_p95_ms=", cat)
    assert none.ttft_p95_s == d.ttft_p95_s and w and w[0].field == "plan.ttft_p95_s"


def test_each_options_stack_round_trips_and_bad_stack_ids_warn(cat):
    from planner.sim.scenario import SchedulerOverrides

    d = default_scenario()
    c = list(d.compare)
    c[0] = c[0].model_copy(
        update={
            "engine": "mlx",
            "quant": "mlx-4bit",
            "kv_dtype": "q8_0",
            "scheduler": SchedulerOverrides(max_num_seqs=8, chunked_prefill=False),
        }
    )
    sc = d.model_copy(update={"compare": c})
    q = encode(sc)
    assert "compare.0.engine=mlx" in q and "compare.0.scheduler=" in q
    back, warnings = decode(q, cat)
    assert back == sc and warnings == []
    assert back.for_option(1).scheduler.max_num_seqs == 8 and back.for_option(1).engine == "mlx"
    bad, warnings = decode(
        "v=2&compare.0.hardware=nvidia-h100-sxm&compare.0.engine=warp&compare.0.quant=q9"
        "&compare.0.kv_dtype=fp3&machine.scheduler=%7Bbad",
        cat,
    )
    fields = {w.field for w in warnings}
    assert {"compare.0.engine", "compare.0.quant", "compare.0.kv_dtype", "machine.scheduler"} <= fields
    assert bad.stack(1) == (bad.quant, bad.engine, bad.kv_dtype)  # falls back to the scenario's stack


def test_version_1_link_is_migrated(cat):
    """A v=1 link is read against version 1's default (one stack for every option) and said to be migrated."""
    from planner.webapp.defaults import default_scenario_v1

    sc, warnings = decode("v=1", cat)
    assert sc == default_scenario_v1()
    assert [m.hardware for m in sc.options()] == [
        "apple-m3-ultra-80c",
        "nvidia-h100-sxm",
        "nvidia-h200-sxm",
        "nvidia-rtx-pro-6000",
    ]
    assert all(sc.stack(i) == ("q4_k_m", "llama.cpp", None) for i in range(4))
    assert [w.note for w in warnings] == [True] and "migrated" in warnings[0].message
    sc, warnings = decode("v=1&quant=q8_0&compare.0.hardware=nvidia-b200&compare.0.devices=4", cat)
    assert [m.hardware for m in sc.options()] == ["apple-m3-ultra-80c", "nvidia-b200"]
    assert sc.stack(1) == ("q8_0", "llama.cpp", None) and all(w.note for w in warnings)
    assert encode(sc).startswith("v=2&")
    again, w2 = decode(encode(sc), cat)
    assert again == sc and w2 == []
    assert decode_strict("v=1&quant=q8_0", cat).quant == "q8_0"  # a migration is not an error


def test_a_price_quote_travels_in_the_link_and_the_csv_and_sets_the_cost(cat):
    """A machine with no sourced price (H100 PCIe) is compared with the user's quote, carried by the
    share link and the CSV, and used as its capex."""
    from planner.sim.scenario import Machine
    from planner.webapp.compare import evaluate_option
    from planner.webapp.csvio import read_scenario_csv, scenario_csv

    d = default_scenario()
    quoted = Machine(hardware="nvidia-h100-pcie", devices=2, quant="fp8", engine="vllm", price_usd=61_500)
    sc = d.model_copy(update={"compare": [*d.compare[:2], quoted]})
    params = encode_params(sc)
    assert params["compare.2.price_usd"] == "61500"
    back, warnings = decode(encode(sc), cat)
    assert back == sc and warnings == [] and back.compare[2].price_usd == 61_500
    assert read_scenario_csv(scenario_csv(sc).encode(), cat).compare[2].price_usd == 61_500
    o = evaluate_option(cat, sc, 3)
    assert o["price_usd"] == 61_500 and o["price_is_quote"] and not o["bare_cards"]
    bad, warnings = decode("v=2&compare.0.hardware=nvidia-h100-pcie&compare.0.price_usd=-5", cat)
    assert any(w.field == "compare.0.price_usd" for w in warnings) and bad.compare[0].price_usd is None


def test_compare_and_capacity_plan_share_one_workload_slo_and_costs(cat):
    """A team's load on Compare (people with think time) becomes the plan's team load; the plan's inputs
    go back to the scenario unchanged."""
    from planner.sim.scenario import parse_scenario
    from planner.webapp.plan_inputs import PlanInputs, plan_inputs_from_scenario, scenario_from_plan_inputs

    sc = parse_scenario(
        {
            "model": "llama-3.1-70b",
            "quant": "q4_k_m",
            "engine": "llama.cpp",
            "machine": {"hardware": "apple-m3-ultra-80c"},
            "compare": [{"hardware": "nvidia-rtx-5090", "devices": 2}],
            "workload": {
                "arrival": "closed",
                "concurrency": 30,
                "think_time_s": 120,
                "prompt": {"mean": 2000},
                "output": {"mean": 500},
            },
            "slo": {"ttft_p95_s": 3},
            "cost": {"usd_per_kwh": 0.31},
        }
    )
    inp = plan_inputs_from_scenario(sc, PlanInputs())
    assert (inp.model, inp.load, inp.people, inp.every_min, inp.prompt, inp.output) == (
        "llama-3.1-70b",
        "team",
        30,
        2.0,
        2000,
        500,
    )
    assert inp.ttft_p95_s == 3 and inp.tpot_p95_ms is None and inp.electricity_usd_per_kwh == 0.31
    assert inp.candidates == ["apple-m3-ultra-80c", "nvidia-rtx-5090"]
    assert inp.spec()["workload"]["rate_rps"] == pytest.approx(30 / 120)
    back = scenario_from_plan_inputs(sc, inp)
    assert back.workload == sc.workload and back.slo == sc.slo and back.cost == sc.cost and back.model == sc.model
    # the team travels in the plan's link fields too
    from planner.webapp.links import decode_plan, encode_plan_params

    again, warnings = decode_plan(encode_plan_params(inp), cat)
    assert again == inp and warnings == []
