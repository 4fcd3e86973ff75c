"""Determinism: the same scenario gives byte-identical JSON on every executor, on every run, and between the
command line and the app."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from planner.plan.search import plan
from planner.sim.engine import simulate_scenario
from planner.webapp.compare import summary_rows
from planner.webapp.csvio import read_scenario_csv, scenario_csv

REPO = Path(__file__).resolve().parent.parent
SPEC = {
    "model": "llama-3.1-8b",
    "candidates": [
        {"hardware": "nvidia-rtx-4090", "quant": "q4_k_m", "devices": 1},
        {"hardware": "nvidia-l40s", "quant": "fp8", "devices": 1},
    ],
    "workload": {
        "rate_rps": 3,
        "arrival": "gamma",
        "cv": 1.5,
        "prompt": {"dist": "lognormal", "mean": 400},
        "output": {"dist": "uniform", "min": 50, "max": 300},
    },
    "slo": {"ttft_p95_s": 2, "tpot_p95_ms": 60},
    "search": {"requests": 150, "seed": 7},
}


def plan_bytes(cat, executor) -> bytes:
    res = plan(cat, SPEC, executor=executor)
    res["stats"].pop("wall_s")  # the only wall-clock figure
    return json.dumps(res, sort_keys=True).encode()


@pytest.fixture(scope="module")
def serial(cat):
    return plan_bytes(cat, "serial")


def test_two_runs_are_byte_identical(cat, serial):
    assert plan_bytes(cat, "serial") == serial
    from planner.webapp.defaults import default_scenario

    sc = default_scenario().for_option(1)
    a, b = simulate_scenario(cat, sc), simulate_scenario(cat, sc)
    assert json.dumps([a.summary, a.columns, a.timeline]) == json.dumps([b.summary, b.columns, b.timeline])


def test_process_pool_is_byte_identical(cat, serial):
    assert plan_bytes(cat, 2) == serial


def test_dask_is_byte_identical(cat, serial):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    ) as cluster:
        assert plan_bytes(cat, cluster.scheduler_address) == serial


def test_ray_is_byte_identical(cat, serial):
    """A local Ray (ray.init(num_cpus=2)) through run_points's Ray executor; about 10-20 s, mostly Ray's start."""
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}},
    )  # the workers import this checkout's planner
    try:
        assert plan_bytes(cat, "ray:auto") == serial
    finally:
        ray.shutdown()


def test_cli_and_the_app_csv_give_the_same_json(tmp_path, cat):
    """The app's scenario (restored from its scenario CSV) and the CLI give byte-identical simulation JSON,
    and the numbers the app shows are the CLI's."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    for k, v in {"v": "1", "workload.seed": "11", "workload.requests": "300"}.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception
    sc = at.session_state["scenario"]
    restored = read_scenario_csv(scenario_csv(sc).encode(), cat)  # the "Scenario CSV" download, uploaded again
    assert restored == sc
    shown = at.dataframe[0].value
    outs = []
    for i in (0, 1):
        for name, s in (("app", sc), ("csv", restored)):
            path = tmp_path / f"{name}{i}.json"
            path.write_text(s.for_option(i).model_dump_json())
            res = subprocess.run(
                [sys.executable, "-m", "planner", "simulate", str(path), "--json"],
                cwd=REPO,
                capture_output=True,
                timeout=300,
            )
            assert res.returncode == 0, res.stderr
            outs.append(res.stdout)
        assert outs[-1] == outs[-2]  # byte-identical
        summary = json.loads(outs[-1])
        row = summary_rows([{"option": i + 1, "label": "", "error": None, "sim": summary}])[0]
        for col in ("throughput_tok_s", "goodput"):
            assert shown[col][i] == row[col], (i, col)
        from planner.webapp.verdict import fmt_duration  # the app shows times in the unit that reads best

        for col in ("ttft_p95_ms", "tpot_p95_ms"):
            assert shown[col.replace("_ms", "")][i] == fmt_duration(row[col] / 1e3), (i, col)
        # the app's own result for that option holds the same JSON
        from planner.webapp.compare import evaluate_option

        assert json.dumps(evaluate_option(cat, sc.for_option(i), 0)["sim"], indent=2).encode() + b"\n" == outs[-1]
