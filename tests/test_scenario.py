"""The Scenario model: defaults, validation messages with dotted field names, files, schema."""

import json

import numpy as np
import pytest

from planner.errors import ScenarioError
from planner.sim.scenario import MAX_REQUESTS, Scenario, json_schema, load_scenario, parse_scenario
from planner.sim.workload import make_requests

BASE = {
    "model": "llama-3.1-8b",
    "quant": "fp8",
    "engine": "vllm",
    "machine": {"hardware": "nvidia-h100-sxm"},
    "workload": {"rate_rps": 5},
}


def with_(path: str, value, base=BASE) -> dict:
    """A copy of base with a dotted field set (the share-link form)."""
    data = json.loads(json.dumps(base))
    *head, last = path.split(".")
    d = data
    for k in head:
        d = d.setdefault(k, {})
    d[last] = value
    return data


def test_defaults_round_trip():
    sc = parse_scenario(BASE)
    assert sc.version == 2 and sc.workload.arrival == "poisson" and sc.router == "round_robin"
    assert sc.workload.prompt.mean == 512 and sc.workload.output.mean == 256
    again = Scenario.model_validate_json(sc.model_dump_json())
    assert again == sc


@pytest.mark.parametrize(
    "path,value,field,words",
    [
        ("workload.rate_rps", 0, "workload.rate_rps", "greater than 0"),
        ("workload.rate_rps", -3, "workload.rate_rps", "greater than 0"),
        ("workload.requests", MAX_REQUESTS + 1, "workload.requests", "less than or equal to 1000000"),
        ("workload.arrival", "closed", "workload", "needs concurrency"),
        ("workload.arrival", "burst", "workload.arrival", "poisson"),
        ("workload.prompt.dist", "uniform", "workload.prompt", "needs 'max'"),
        ("machine.replicas", 0, "machine.replicas", "greater than or equal to 1"),
        ("machine.colour", "red", "machine.colour", "unknown field"),
        ("version", 3, "version", "1"),
        ("slo.ttft_p95_s", 0, "slo.ttft_p95_s", "greater than 0"),
        ("scheduler.batching", "dynamic", "scheduler.batching", "continuous"),
    ],
)
def test_bad_fields_name_the_field(path, value, field, words):
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(with_(path, value))
    assert exc.value.field == field
    assert words in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    "curve,msg",
    [
        ([], "needs piecewise"),
        ([[5, 1]], "start at t_s = 0"),
        ([[0, 1], [0, 2]], "must increase"),
        ([[0, 0], [10, 0]], "not all 0"),
    ],
)
def test_piecewise_validation(curve, msg):
    data = with_("workload.piecewise", curve, with_("workload.arrival", "piecewise"))
    with pytest.raises(ScenarioError, match=msg):
        parse_scenario(data)


def test_toml_and_json_files_agree(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps(BASE))
    (tmp_path / "s.toml").write_text(
        'model = "llama-3.1-8b"\nquant = "fp8"\nengine = "vllm"\n[machine]\nhardware = "nvidia-h100-sxm"\n'
        "[workload]\nrate_rps = 5\n"
    )
    assert load_scenario(tmp_path / "s.json") == load_scenario(tmp_path / "s.toml")


def test_bad_files(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(ScenarioError, match="not valid JSON"):
        load_scenario(p)
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.toml")


def test_relative_csv_paths_follow_the_scenario_file(tmp_path):
    (tmp_path / "t.csv").write_text("arrival_s,prompt_tokens,output_tokens\n0.5,10,5\n0.1,20,3\n")
    (tmp_path / "s.json").write_text(
        json.dumps(with_("workload.trace_csv", "t.csv", with_("workload.arrival", "trace")))
    )
    reqs = make_requests(load_scenario(tmp_path / "s.json").workload)
    assert reqs.arrival.tolist() == [0.1, 0.5] and reqs.prompt.tolist() == [20, 10]


def test_schema_publishes_every_section():
    s = json_schema()
    assert {"version", "model", "machine", "workload", "scheduler", "router", "slo"} <= set(s["properties"])
    assert "Workload" in s["$defs"] and "rate_rps" in s["$defs"]["Workload"]["properties"]


def test_workload_streams_are_independent():
    """Changing the output distribution leaves arrivals and prompts untouched (one stream per purpose)."""
    a = make_requests(parse_scenario(with_("workload.seed", 7)).workload)
    b = make_requests(
        parse_scenario(
            with_("workload.output", {"dist": "lognormal", "mean": 300, "cv": 1}, with_("workload.seed", 7))
        ).workload
    )
    assert np.array_equal(a.arrival, b.arrival) and np.array_equal(a.prompt, b.prompt)
    assert not np.array_equal(a.output, b.output)


def test_arrival_processes_have_their_rates():
    n = 20000
    for arrival, extra in (("poisson", {}), ("gamma", {"cv": 3.0}), ("constant", {})):
        wl = parse_scenario(with_("workload", {"arrival": arrival, "rate_rps": 50, "requests": n, **extra})).workload
        t = make_requests(wl).arrival
        gaps = np.diff(t)
        assert n / t[-1] == pytest.approx(50, rel=0.1 if arrival == "gamma" else 0.03)
        cv = gaps.std() / gaps.mean()
        assert cv == pytest.approx({"poisson": 1.0, "gamma": 3.0, "constant": 0.0}[arrival], abs=0.3)


def test_piecewise_daily_curve():
    wl = parse_scenario(
        with_(
            "workload",
            {"arrival": "piecewise", "piecewise": [[0, 10], [100, 0], [200, 40]], "period_s": 300, "requests": 30000},
        )
    ).workload
    t = make_requests(wl).arrival
    phase = t % 300
    days = t[-1] / 300
    assert not np.any((phase >= 100) & (phase < 200))  # the quiet hours stay quiet
    assert np.sum(phase < 100) / days == pytest.approx(1000, rel=0.05)
    assert np.sum(phase >= 200) / days == pytest.approx(4000, rel=0.05)


def test_length_distributions(tmp_path):
    (tmp_path / "l.csv").write_text("n\n100\n200\n")
    for spec, check in (
        ({"dist": "uniform", "min": 10, "max": 20}, lambda x: x.min() == 10 and x.max() == 20),
        ({"dist": "lognormal", "mean": 400, "cv": 0.8}, lambda x: abs(x.mean() / 400 - 1) < 0.05),
        ({"dist": "csv", "csv": str(tmp_path / "l.csv"), "column": "n"}, lambda x: set(x.tolist()) == {100, 200}),
    ):
        wl = parse_scenario(with_("workload.prompt", spec, with_("workload.requests", 5000))).workload
        assert check(make_requests(wl).prompt), spec
