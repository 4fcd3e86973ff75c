"""run_points: order, progress, errors; the same plan on serial, process-pool and a local Dask cluster."""

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from planner.errors import ExecutorError
from planner.plan.search import plan
from planner.sim.executors import resolve_executor, run_points


@dataclass
class Square:
    x: int

    def run(self):
        if self.x < 0:
            raise ValueError(f"negative {self.x}")
        return self.x * self.x


@pytest.mark.parametrize("executor", ["serial", 2, None])
def test_results_in_order_with_progress(executor):
    seen = []
    out = run_points([Square(i) for i in range(7)], executor=executor, progress=lambda d, t: seen.append((d, t)))
    assert out == [i * i for i in range(7)]
    assert seen[0] == (0, 7) and seen[-1] == (7, 7) and [d for d, _ in seen] == list(range(8))


def test_any_executor_object_and_errors():
    with ThreadPoolExecutor(2) as ex:
        assert run_points([Square(3), Square(4)], executor=ex) == [9, 16]
    with pytest.raises(ValueError, match="negative"):
        run_points([Square(1), Square(-1)], executor="serial")
    assert run_points([], executor="serial") == []


def test_bad_executors_have_clear_messages():
    with pytest.raises(ExecutorError, match="unknown executor"):
        resolve_executor("nonsense")
    with pytest.raises(ExecutorError, match="executor must be"):
        resolve_executor(3.5)
    try:
        import ray  # noqa: F401
    except ImportError:
        with pytest.raises(ExecutorError, match="needs Ray"):
            resolve_executor("ray:auto")


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


def _same(res):
    r = json.loads(json.dumps(res))
    r["stats"].pop("wall_s")
    return r


@pytest.fixture(scope="module")
def serial(cat):
    return _same(plan(cat, SPEC, executor="serial"))


def test_process_pool_gives_the_same_plan(cat, serial):
    assert _same(plan(cat, SPEC, executor=2)) == serial
    assert serial["winner"] is not None


def test_dask_cluster_gives_the_same_plan(cat, serial):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    ) as cluster:
        assert _same(plan(cat, SPEC, executor=cluster.scheduler_address)) == serial


def test_scale_estimate_on_a_local_cluster():
    """bench --scale's measurement: sweep points (simulations) on a local Dask cluster; costs in CPU
    seconds, the estimate falls with workers until the scheduler/client bound."""
    pytest.importorskip("distributed")
    from planner.sim.bench import SimPoint, scale_estimate, sweep_points

    pts = sweep_points(3, requests=20)
    assert [p.scenario["workload"]["seed"] for p in pts] == [0, 1, 2]
    assert run_points(pts, executor="serial") == run_points(pts, executor=2)
    assert isinstance(SimPoint(pts[0].scenario).run()["completed"], int)
    out = scale_estimate(
        points=4, requests=20, workers=1, target=1000, noop=20, cluster_sizes=(1, 4, 10**6), idle_s=0.2
    )
    est = out["estimate"]
    assert out["serial_cpu_ms_per_point"] > 0 and out["dask_worker_cpu_ms_per_point"] >= 0
    assert est["1"]["seconds"] >= est["4"]["seconds"] >= est[str(10**6)]["seconds"] >= out["cluster_startup_s"]
    assert {e["bound"] for e in est.values()} <= {"workers", "scheduler/client"}
