"""Simulator speed suite (`python -m planner bench --suite`): varied workloads, each timed on one core.

The simulator is fast where batches are large and stable and slower where they change at every
arrival, so the suite covers both: a light load (Vidur's reference workload), a heavy one, long
prompts, a closed loop with few users, a mixture of experts and replicas behind a router.  Each
workload's rate is simulated requests per second of CPU time of this process (``time.process_time``:
one core, less sensitive to other work on the machine than wall time, which is printed too), after an
untimed warm-up per workload (`resolve`: what a process loads once, NVIDIA's measured-kernel tables
for that GPU, read with pyarrow, about 0.1-0.2 s since session 5; its CPU time is in the JSON as `warmup_cpu_s`).

The same workloads at small request counts are golden summaries (``tests/golden/``): the optimised
simulator must reproduce them bit for bit.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass

from planner.catalog.loader import load_catalog
from planner.errors import ExecutorError
from planner.sim.engine import resolve, simulate_scenario
from planner.sim.executors import run_points
from planner.sim.scenario import Scenario, parse_scenario

H100_8B = {"model": "llama-3.1-8b", "quant": "fp8", "engine": "vllm", "machine": {"hardware": "nvidia-h100-sxm"}}

# name -> (description, scenario without workload.requests, default requests)
SUITE: dict[str, tuple[str, dict, int]] = {
    "light": (
        "Vidur's reference: Llama-2-7B F16 on one A100 80GB SXM, vLLM, 1,000/250 tokens, Poisson 3.95 req/s",
        {
            "model": "llama-2-7b",
            "quant": "f16",
            "engine": "vllm",
            "machine": {"hardware": "nvidia-a100-80gb-sxm"},
            "workload": {"arrival": "poisson", "rate_rps": 3.95, "prompt": {"mean": 1000}, "output": {"mean": 250}},
        },
        100_000,
    ),
    "heavy": (
        "Llama-3.1-8B FP8 on one H100 SXM, vLLM, lognormal 1,000/250 tokens (cv 1), Poisson 30 req/s",
        {
            **H100_8B,
            "workload": {
                "arrival": "poisson",
                "rate_rps": 30.0,
                "prompt": {"dist": "lognormal", "mean": 1000, "cv": 1.0, "max": 16000},
                "output": {"dist": "lognormal", "mean": 250, "cv": 1.0, "max": 4000},
            },
        },
        100_000,
    ),
    "long_prompts": (
        "Llama-3.1-8B FP8 on one H100 SXM, vLLM, uniform 8,000-32,000-token prompts, 250-token outputs, "
        "Poisson 1.6 req/s (prefill in chunks of 8,192 tokens)",
        {
            **H100_8B,
            "workload": {
                "arrival": "poisson",
                "rate_rps": 1.6,
                "prompt": {"dist": "uniform", "min": 8000, "max": 32000},
                "output": {"mean": 250},
            },
        },
        100_000,
    ),
    "closed_r1": (
        "DeepSeek R1 FP8 on 8x H200 SXM, vLLM, 4 closed-loop users, 1,000/500 tokens",
        {
            "model": "deepseek-r1",
            "quant": "fp8",
            "engine": "vllm",
            "machine": {"hardware": "nvidia-h200-sxm", "devices": 8},
            "workload": {"arrival": "closed", "concurrency": 4, "prompt": {"mean": 1000}, "output": {"mean": 500}},
        },
        100_000,
    ),
    "moe": (
        "gpt-oss-120b MXFP4 (MoE, sliding-window layers) on one H100 SXM, vLLM, lognormal 2,000/500 tokens, "
        "Poisson 2.9 req/s",
        {
            "model": "gpt-oss-120b",
            "quant": "mxfp4",
            "engine": "vllm",
            "machine": {"hardware": "nvidia-h100-sxm"},
            "workload": {
                "arrival": "poisson",
                "rate_rps": 2.9,
                "prompt": {"dist": "lognormal", "mean": 2000, "cv": 0.8, "max": 30000},
                "output": {"dist": "lognormal", "mean": 500, "cv": 0.8, "max": 8000},
            },
        },
        100_000,
    ),
    "replicas": (
        "Llama-3.1-8B FP8, 4 replicas of one H100 SXM behind a least-outstanding router, vLLM, 1,000/250 "
        "tokens, Poisson 125 req/s",
        {
            **H100_8B,
            "machine": {"hardware": "nvidia-h100-sxm", "replicas": 4},
            "router": "least_outstanding",
            "workload": {"arrival": "poisson", "rate_rps": 125.0, "prompt": {"mean": 1000}, "output": {"mean": 250}},
        },
        100_000,
    ),
}


def suite_scenario(name: str, requests: int | None = None, **extra) -> Scenario:
    """The suite workload `name` with `requests` requests (default: the suite's count)."""
    _, data, n = SUITE[name]
    data = copy.deepcopy(data)
    data["workload"]["requests"] = requests or n
    data.update(extra)
    return parse_scenario(data)


def time_workload(catalog, sc: Scenario) -> dict:
    """Simulate once; CPU and wall seconds and the rates they give."""
    c0, t0 = time.process_time(), time.perf_counter()
    res = simulate_scenario(catalog, sc)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    n = res.summary["requests"]
    return {
        "requests": n,
        "cpu_s": round(cpu, 4),
        "wall_s": round(wall, 4),
        "simulated_requests_per_s": round(n / cpu, 1) if cpu > 0 else None,
        "simulated_requests_per_wall_s": round(n / wall, 1) if wall > 0 else None,
        "summary": res.summary,
    }


def run_suite(catalog, requests: int | None = None, repeat: int = 1, names=None, on_result=None) -> dict:
    """Time each workload `repeat` times; per workload the slowest run (minimum rate) and all rates."""
    out = {}
    for name in names or SUITE:
        sc = suite_scenario(name, requests)
        c0 = time.process_time()
        resolve(catalog, sc)  # untimed warm-up: the one-off loads of a process (NVIDIA's tables)
        warm = time.process_time() - c0
        runs = [time_workload(catalog, sc) for _ in range(repeat)]
        worst = min(runs, key=lambda r: r["simulated_requests_per_s"] or 0.0)
        s = worst["summary"]
        out[name] = {
            "description": SUITE[name][0],
            "requests": worst["requests"],
            "simulated_requests_per_s": worst["simulated_requests_per_s"],
            "rates": [r["simulated_requests_per_s"] for r in runs],
            "wall_rates": [r["simulated_requests_per_wall_s"] for r in runs],
            "cpu_s": [r["cpu_s"] for r in runs],
            "wall_s": [r["wall_s"] for r in runs],
            "completed": s["completed"],
            "utilization": s["utilization"],
            "request_throughput_rps": s["request_throughput_rps"],
            "offered_rps": sc.workload.rate_rps if sc.workload.arrival != "closed" else None,
            "mean_in_system": s["mean_in_system"],
            "warmup_cpu_s": round(warm, 4),
        }
        if on_result:
            on_result(name, out[name])
    return out


# --------------------------------------------------------------------------- sweeps at scale (on paper)


@dataclass
class SimPoint:
    """One simulation as a sweep point (picklable; ``run`` returns the summary)."""

    scenario: dict
    profiles: str | None = None

    def run(self) -> dict:
        return simulate_scenario(load_catalog(self.profiles), parse_scenario(self.scenario)).summary


@dataclass
class NoopPoint:
    """A sweep point that does nothing: what a cluster costs per point beyond the work."""

    i: int

    def run(self) -> int:
        return self.i


def sweep_points(count: int, requests: int = 1000) -> list[SimPoint]:
    """`count` simulations cycling through the suite's workloads, `requests` each, seeds 0, 1, ..."""
    names = list(SUITE)
    out = []
    for i in range(count):
        _, data, _ = SUITE[names[i % len(names)]]
        data = copy.deepcopy(data)
        data["workload"].update(requests=requests, seed=i)
        out.append(SimPoint(data))
    return out


def _cpu() -> float:
    """CPU seconds of the calling process (run on Dask workers and the scheduler)."""
    return time.process_time()


def scale_estimate(
    points: int = 60,
    requests: int = 1000,
    workers: int = 2,
    target: int = 10_000,
    noop: int = 1000,
    cluster_sizes=(1, 2, 8, 32, 128, 512),
    idle_s: float = 3.0,
) -> dict:
    """Measure sweep points on this machine, serially and on a local Dask cluster of `workers` worker
    processes (one thread each), and extrapolate a `target`-point sweep to N workers.

    Costs are CPU seconds (read in every worker, the scheduler and this client), so they do not
    depend on how busy the machine is: per point on a worker (the simulation plus Dask's per-task
    work there), per point in the scheduler and in the client (submitting, collecting), both also
    measured with points that do nothing; the CPU the processes burn while idle (measured over
    `idle_s` seconds) is taken off.  T(N) = cluster start + max(target x worker CPU per point
    / N, target x scheduler-and-client CPU per point): the workers share the points, the scheduler
    and the client handle every one (a LocalCluster runs its scheduler in the client's process, so
    there the two are one figure; on a cluster with its own scheduler the larger of the two).  Assumes points of the same cost, one free core per worker and
    for the scheduler and client, and no network limit (results are small summaries)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ExecutorError("--scale needs Dask: pip install 'inference-planner[cluster]'") from None
    pts = sweep_points(points, requests)
    run_points(pts[: len(SUITE)], executor="serial")  # warm: catalog loaded, code paths imported
    c0, t0 = time.process_time(), time.perf_counter()
    run_points(pts, executor="serial")
    serial_cpu, serial_wall = time.process_time() - c0, time.perf_counter() - t0
    t0 = time.perf_counter()
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        ) as cluster,
        Client(cluster) as client,
    ):
        startup = time.perf_counter() - t0
        ex = client.get_executor(pure=False)
        run_points(sweep_points(2 * workers, requests), executor=ex)  # warm the workers

        def measured(batch):
            w0, s0, c0, t0 = sum(client.run(_cpu).values()), client.run_on_scheduler(_cpu), _cpu(), time.perf_counter()
            run_points(batch, executor=ex)
            wall = time.perf_counter() - t0
            return (sum(client.run(_cpu).values()) - w0, client.run_on_scheduler(_cpu) - s0, _cpu() - c0, wall)

        # what the processes spend while idle (heartbeats, event loops), taken off below
        w0, s0, c0, t0 = sum(client.run(_cpu).values()), client.run_on_scheduler(_cpu), _cpu(), time.perf_counter()
        time.sleep(idle_s)
        idle_wall = time.perf_counter() - t0
        idle = [
            (sum(client.run(_cpu).values()) - w0) / idle_wall,
            (client.run_on_scheduler(_cpu) - s0) / idle_wall,
            (_cpu() - c0) / idle_wall,
        ]
        shared = client.run_on_scheduler(os.getpid) == os.getpid()  # LocalCluster: the scheduler runs here
        w_cpu, s_cpu, c_cpu, dask_wall = measured(pts)
        nw_cpu, ns_cpu, nc_cpu, noop_wall = measured([NoopPoint(i) for i in range(noop)])
    w_cpu, s_cpu, c_cpu = (max(0.0, x - r * dask_wall) for x, r in zip((w_cpu, s_cpu, c_cpu), idle))
    nw_cpu, ns_cpu, nc_cpu = (max(0.0, x - r * noop_wall) for x, r in zip((nw_cpu, ns_cpu, nc_cpu), idle))
    worker = w_cpu / points
    # every point passes the scheduler and the client; in one process (as here) their CPU is one figure
    per_task = (s_cpu if shared else max(s_cpu, c_cpu)) / points
    est = {}
    for n in cluster_sizes:
        compute, bound = target * worker / n, target * per_task
        est[str(n)] = {
            "workers": n,
            "seconds": round(startup + max(compute, bound), 2),  # (never below the start-up as rounded)
            "bound": "workers" if compute >= bound else "scheduler/client",
        }
    ms = lambda x: round(x * 1e3, 3)  # noqa: E731
    return {
        "points": points,
        "requests_per_point": requests,
        "workers": workers,
        "target_points": target,
        "serial_cpu_ms_per_point": ms(serial_cpu / points),
        "serial_wall_ms_per_point": ms(serial_wall / points),
        "dask_worker_cpu_ms_per_point": ms(worker),
        "dask_scheduler_cpu_ms_per_point": ms(s_cpu / points),
        "dask_client_cpu_ms_per_point": ms(c_cpu / points),
        "dask_wall_s": round(dask_wall, 3),
        "noop_worker_cpu_ms_per_point": ms(nw_cpu / noop),
        "noop_scheduler_cpu_ms_per_point": ms(ns_cpu / noop),
        "noop_client_cpu_ms_per_point": ms(nc_cpu / noop),
        "noop_wall_s": round(noop_wall, 3),
        "idle_cpu_share": {"workers": round(idle[0], 4), "scheduler": round(idle[1], 4), "client": round(idle[2], 4)},
        "scheduler_in_client_process": shared,
        "cluster_startup_s": round(startup, 2),
        "estimate": est,
    }
