"""CLI for the serving simulator: ``simulate``, ``schema`` and ``bench``.

Hooked into ``python -m planner`` with ``add_sim_commands(subparsers)`` and
``run_sim_command(catalog, args)``.  Bad input: exit 2 with one line on stderr.
"""

from __future__ import annotations

import json
import time

import numpy as np

from planner.cli.args import add_scale_out as _add_scale_out
from planner.cli.args import apply_system
from planner.cli.args import arg_float as _float
from planner.cli.args import arg_int as _int
from planner.errors import UsageError
from planner.sim import engine_build
from planner.sim.bench import SUITE, run_suite, scale_estimate
from planner.sim.engine import resolve, simulate_scenario
from planner.sim.scenario import MAX_REQUESTS, json_schema, load_scenario, parse_scenario

COMMANDS = ("simulate", "schema", "bench")
EXIT_OK, EXIT_BAD = 0, 2


def add_sim_commands(sub) -> None:
    """Register simulate, schema and bench on an argparse subparsers object."""
    s = sub.add_parser(
        "simulate",
        help="simulate serving a workload (queueing, batching, replicas)",
        description="Either a scenario file (JSON or TOML; `python -m planner schema`) or the "
        "quick form: --hardware --model --quant --engine (--rate | --concurrency) "
        "--prompt --gen.",
    )
    s.add_argument("scenario", nargs="?", help="scenario file (.json or .toml)")
    s.add_argument("--hardware")
    s.add_argument("--memory-gb", type=_float("--memory-gb"))
    s.add_argument("--devices", type=_int("--devices"), default=1)
    s.add_argument("--model")
    s.add_argument("--quant")
    s.add_argument("--engine")
    s.add_argument("--kv-dtype")
    _add_scale_out(s)
    load = s.add_mutually_exclusive_group()
    load.add_argument("--rate", type=_float("--rate"), help="Poisson arrivals, requests/s")
    load.add_argument("--concurrency", type=_int("--concurrency"), help="closed loop: concurrent users")
    s.add_argument("--prompt", type=_int("--prompt"), default=512, help="prompt tokens (fixed)")
    s.add_argument("--gen", type=_int("--gen"), default=256, help="output tokens (fixed)")
    s.add_argument("--requests", type=_int("--requests"), default=1000, help=f"at most {MAX_REQUESTS:,}")
    s.add_argument("--replicas", type=_int("--replicas"), default=1)
    s.add_argument("--router", choices=["round_robin", "least_outstanding", "shortest_queue"])
    s.add_argument("--batching", choices=["continuous", "slots", "static", "serial"])
    s.add_argument("--seed", type=_int("--seed"), default=0)
    s.add_argument("--requests-csv", metavar="FILE", help="write per-request records")
    s.add_argument("--timeline-csv", metavar="FILE", help="write the (downsampled) step timeline")
    s.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    _profiles(s)
    k = sub.add_parser("schema", help="JSON schema of simulation scenarios")
    _profiles(k)
    b = sub.add_parser(
        "bench", help="simulator speed: 100,000 requests, Llama-3.1-8B FP8 on one H100 SXM (--suite: varied workloads)"
    )
    b.add_argument(
        "--requests",
        type=_int("--requests"),
        default=None,
        help="requests per simulation (default 100,000; with --suite each workload's own count)",
    )
    b.add_argument(
        "--suite",
        action="store_true",
        help="time the suite of workloads (planner/sim/bench.py): "
        "light, heavy, long prompts, closed loop, MoE, replicas; each one's simulated requests per "
        "CPU second",
    )
    b.add_argument(
        "--repeat", type=_int("--repeat"), default=1, help="--suite: runs per workload (the slowest is reported)"
    )
    b.add_argument("--workload", action="append", metavar="NAME", help="--suite: only this workload (repeatable)")
    b.add_argument(
        "--scale",
        action="store_true",
        help="sweep points on a local Dask cluster of --workers "
        "workers, and the time of a --target-point sweep extrapolated to N workers",
    )
    b.add_argument("--points", type=_int("--points"), default=60, help="--scale: points measured")
    b.add_argument("--workers", type=_int("--workers"), default=2, help="--scale: local Dask workers")
    b.add_argument("--target", type=_int("--target"), default=10_000, help="--scale: sweep size extrapolated to")
    b.add_argument("--json", action="store_true")
    _profiles(b)


def _profiles(p) -> None:
    if not any("--profiles" in a.option_strings for a in p._actions):
        p.add_argument("--profiles", metavar="DIR", help="extra profile directory (also $PLANNER_PROFILES)")


def scenario_from_args(args, catalog=None):
    if catalog is not None:
        apply_system(catalog, args)
    if args.scenario:
        quick = [
            f"--{n.replace('_', '-')}"
            for n in ("hardware", "model", "quant", "engine", "rate", "concurrency")
            if getattr(args, n) is not None
        ]
        if quick:
            raise UsageError(f"give a scenario file or the quick form, not both ({', '.join(quick)})")
        return load_scenario(args.scenario)
    missing = [f"--{n}" for n in ("hardware", "model", "quant", "engine") if getattr(args, n) is None]
    if missing:
        raise UsageError(f"missing {', '.join(missing)} (or give a scenario file)")
    if args.rate is None and args.concurrency is None:
        raise UsageError("give --rate R (requests/s) or --concurrency C (closed-loop users)")
    wl = {"requests": args.requests, "seed": args.seed, "prompt": {"mean": args.prompt}, "output": {"mean": args.gen}}
    if args.rate is not None:
        wl.update(arrival="poisson", rate_rps=args.rate)
    else:
        wl.update(arrival="closed", concurrency=args.concurrency)
    for name, v in (("prompt", args.prompt), ("gen", args.gen)):
        if v < 1:
            raise UsageError(f"--{name} must be at least 1 token, got {v}")
    data = {
        "model": args.model,
        "quant": args.quant,
        "engine": args.engine,
        "kv_dtype": args.kv_dtype,
        "machine": {
            "hardware": args.hardware,
            "memory_gb": args.memory_gb,
            "devices": args.devices,
            "replicas": args.replicas,
            "nodes": args.nodes,
            "link": args.link,
            "parallel": args.parallel,
            "host": args.host,
            "offload": args.offload,
            "host_memory_gb": args.host_memory_gb,
        },
        "workload": wl,
    }
    if args.router:
        data["router"] = args.router
    if args.batching:
        data["scheduler"] = {"batching": args.batching}
    return parse_scenario(data)


def _print_text(s: dict) -> None:
    print(
        f"completed {s['completed']:,} / {s['requests']:,} requests ({s['rejected']:,} rejected) in "
        f"{s['duration_s']:.1f} s simulated ({s['batching']}, {s['replicas']} replica(s))"
    )
    print(
        f"  throughput {s['throughput_tok_s']:,.0f} output tok/s, {s['request_throughput_rps']:.2f} req/s, "
        f"utilization {s['utilization']:.0%}"
    )
    for key, unit in (("ttft_ms", "ms"), ("tpot_ms", "ms"), ("itl_ms", "ms"), ("e2e_s", "s"), ("queue_s", "s")):
        v = s.get(key) or {"mean": None}
        if v["mean"] is not None:
            print(
                f"  {key:<8} mean {v['mean']:.3f} p50 {v['p50']:.3f} p90 {v['p90']:.3f} p95 {v['p95']:.3f} "
                f"p99 {v['p99']:.3f} {unit}"
            )
    print(f"  goodput {s['goodput']:.1%}, KV peak {s['kv_peak_fraction']:.1%}, preemptions {s['preemptions']:,}")
    if any(v is not None for v in s["slo"].values()):  # the SLO's one meaning (planner.econ.slo)
        missed = s["slo_check"]["failed"]
        print("  SLO met" if s["slo_met"] else f"  SLO missed: {', '.join(missed)}")
    if s["energy_j_per_token"] is not None:
        print(f"  energy {s['energy_j_per_token']:.4f} J/token ({s['energy_note']})")
    for r in s["rejection_reasons"]:
        print(f"  rejected: {r}")
    for w in s.get("warnings", []):
        print(f"  warning: {w}")


def _simulate(catalog, args) -> int:
    res = simulate_scenario(catalog, scenario_from_args(args, catalog))
    try:
        if args.requests_csv:
            res.write_requests_csv(args.requests_csv)
        if args.timeline_csv:
            res.write_timeline_csv(args.timeline_csv)
    except OSError as exc:
        raise UsageError(f"cannot write {exc.filename}: {exc.strerror}") from None
    if args.json:
        print(json.dumps(res.summary, indent=2))
    else:
        _print_text(res.summary)
    return EXIT_OK


BENCH = {"model": "llama-3.1-8b", "quant": "fp8", "engine": "vllm", "machine": {"hardware": "nvidia-h100-sxm"}}


def saturation_rps(catalog, prompt: int = 512, gen: int = 256) -> float:
    """Steady-state request throughput of the bench system when always full (closed loop, 2 x max_num_seqs
    users), over the middle half of the completions."""
    _, cfg = resolve(catalog, parse_scenario({**BENCH, "workload": {"arrival": "closed", "concurrency": 1}}))
    users = 2 * cfg.max_num_seqs
    sc = parse_scenario(
        {
            **BENCH,
            "workload": {
                "arrival": "closed",
                "concurrency": users,
                "requests": 8 * users,
                "prompt": {"mean": prompt},
                "output": {"mean": gen},
            },
        }
    )
    fin = np.sort(np.asarray(simulate_scenario(catalog, sc).columns["finish_s"]))
    a, b = len(fin) // 4, 3 * len(fin) // 4
    return (b - a) / (fin[b] - fin[a])


def _build_line(build: dict) -> str:
    """Which simulator engine runs, for the bench's first line."""
    mods = build["modules"]
    compiled = [n for n, m in mods.items() if m["compiled"]]
    if len(compiled) == len(mods):
        return f"compiled (Cython: {', '.join(compiled)})"
    return f"Python ({', '.join(n for n in mods if n not in compiled)}): {build['note']}"


def _bench_suite(catalog, args) -> int:
    if args.requests is not None and not 1 <= args.requests <= MAX_REQUESTS:
        raise UsageError(f"--requests must be from 1 to {MAX_REQUESTS:,}, got {args.requests}")
    if not 1 <= args.repeat <= 100:
        raise UsageError(f"--repeat must be from 1 to 100, got {args.repeat}")
    bad = [w for w in args.workload or [] if w not in SUITE]
    if bad:
        raise UsageError(f"--workload: unknown workload '{bad[0]}' (one of {', '.join(SUITE)})")

    def show(name, r):
        if not args.json:
            offered, served = r["offered_rps"], r["request_throughput_rps"]
            load = ""
            if offered:  # completed requests over the whole run (its drain included) against the offered rate
                load = f"; served {served:.3g} of {offered:g} req/s"
            print(
                f"{name:<13} {r['requests']:>9,} requests  {r['simulated_requests_per_s']:>10,.0f} simulated req/s "
                f"(CPU; wall {min(r['wall_rates']):,.0f})  {SUITE[name][0]}{load}",
                flush=True,
            )

    build = engine_build()
    if not args.json:
        print(f"engine: {_build_line(build)}", flush=True)
    out = run_suite(catalog, args.requests, args.repeat, args.workload, on_result=show)
    if args.json:
        print(json.dumps({"repeat": args.repeat, "engine": build, "workloads": out}, indent=2))
    else:
        slow = min(out, key=lambda k: out[k]["simulated_requests_per_s"])
        print(
            f"slowest: {slow}, {out[slow]['simulated_requests_per_s']:,.0f} simulated requests per CPU second "
            f"(minimum over {args.repeat} run(s))"
        )
    return EXIT_OK


def _bench_scale(args) -> int:
    for name, v, lo, hi in (
        ("--points", args.points, 1, 100_000),
        ("--workers", args.workers, 1, 64),
        ("--target", args.target, 1, 100_000_000),
    ):
        if not lo <= v <= hi:
            raise UsageError(f"{name} must be from {lo:,} to {hi:,}, got {v}")
    req = args.requests or 1000
    if not 1 <= req <= MAX_REQUESTS:
        raise UsageError(f"--requests must be from 1 to {MAX_REQUESTS:,}, got {req}")
    out = scale_estimate(args.points, req, args.workers, args.target)
    if args.json:
        print(json.dumps(out, indent=2))
        return EXIT_OK
    print(
        f"{out['points']} sweep points (simulations of the suite's workloads, {out['requests_per_point']:,} "
        f"requests each), CPU per point: serial {out['serial_cpu_ms_per_point']:.1f} ms; on a local Dask cluster "
        f"of {out['workers']} workers {out['dask_worker_cpu_ms_per_point']:.1f} ms in the workers, "
        f"{out['dask_scheduler_cpu_ms_per_point']:.2f} ms in the scheduler"
        f"{' and client (one process)' if out['scheduler_in_client_process'] else ''}, "
        f"{out['dask_client_cpu_ms_per_point']:.2f} ms in the client (empty points: "
        f"{out['noop_worker_cpu_ms_per_point']:.2f} / {out['noop_scheduler_cpu_ms_per_point']:.2f} / "
        f"{out['noop_client_cpu_ms_per_point']:.2f} ms); wall "
        f"{out['dask_wall_s']:.2f} s; cluster start {out['cluster_startup_s']:.1f} s"
    )
    for e in out["estimate"].values():
        print(
            f"  {out['target_points']:,} points on {e['workers']:>4} workers: about {e['seconds']:,.0f} s "
            f"({e['bound']}-bound)"
        )
    return EXIT_OK


def _bench(catalog, args) -> int:
    if args.suite:
        return _bench_suite(catalog, args)
    if args.scale:
        return _bench_scale(args)
    if args.requests is None:
        args.requests = 100_000
    if not 1 <= args.requests <= MAX_REQUESTS:
        raise UsageError(f"--requests must be from 1 to {MAX_REQUESTS:,}, got {args.requests}")
    sat = saturation_rps(catalog)
    rate = round(0.8 * sat, 3)
    sc = parse_scenario(
        {
            **BENCH,
            "workload": {
                "arrival": "poisson",
                "rate_rps": rate,
                "requests": args.requests,
                "prompt": {"mean": 512},
                "output": {"mean": 256},
            },
        }
    )
    t0 = time.perf_counter()
    res = simulate_scenario(catalog, sc)
    wall = time.perf_counter() - t0
    out = {
        "requests": args.requests,
        "rate_rps": rate,
        "saturation_rps": round(sat, 3),
        "wall_s": round(wall, 3),
        "simulated_requests_per_s": round(args.requests / wall, 1),
        "engine": engine_build(),
        "summary": res.summary,
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        s = res.summary
        print(
            f"{args.requests:,} requests, Llama-3.1-8B FP8 on 1x H100 SXM (vllm, continuous batching), "
            f"prompt 512 / output 256, Poisson at {rate:.1f} req/s = 80% of saturation ({sat:.1f} req/s)"
        )
        print(
            f"  simulated {s['duration_s']:.0f} s: {s['throughput_tok_s']:,.0f} tok/s, "
            f"p50 e2e {s['e2e_s']['p50']:.2f} s, KV peak {s['kv_peak_fraction']:.0%}"
        )
        print(f"wall {wall:.2f} s, {args.requests / wall:,.0f} simulated requests per wall second")
        print(f"engine: {_build_line(out['engine'])}")
    return EXIT_OK


def run_sim_command(catalog, args) -> int:
    """Run simulate / schema / bench (bad input raises; `python -m planner` prints one line, exit 2)."""
    if args.cmd == "schema":
        print(json.dumps(json_schema(), indent=2))
        return EXIT_OK
    if args.cmd == "bench":
        return _bench(catalog, args)
    return _simulate(catalog, args)
