"""CLI for capacity planning: ``plan`` and ``plan-bench``.

Hooked into ``python -m planner`` with ``add_plan_commands(subparsers)`` and
``run_plan_command(catalog, args)``.  Bad input: exit 2 with one line on stderr.
"""

from __future__ import annotations

import csv
import json
import sys
import time

from planner.cli.args import arg_float as _float
from planner.cli.args import arg_int as _int
from planner.errors import UsageError
from planner.plan.search import CSV_COLUMNS, csv_rows, load_plan, plan
from planner.sim.executors import stderr_progress

COMMANDS = ("plan", "plan-bench")
EXIT_OK, EXIT_BAD = 0, 2

# The plan README and the report show: DeepSeek R1 at 2 requests/s, 1,000-token prompts, 500-token outputs,
# p95 TTFT <= 5 s, TPOT <= 100 ms, over the whole catalog.
R1_PLAN = {
    "model": "deepseek-r1",
    "workload": {"rate_rps": 2, "prompt": {"mean": 1000}, "output": {"mean": 500}},
    "slo": {"ttft_p95_s": 5, "tpot_p95_ms": 100},
}


def add_plan_commands(sub) -> None:
    p = sub.add_parser(
        "plan",
        help="capacity plan: how many of which machine meet the SLOs, and the cost",
        description="Either a plan file (JSON or TOML: model, workload, slo, candidates, costs, "
        "search) or the quick form --model --rate --prompt --gen with SLO options.",
    )
    p.add_argument("spec", nargs="?", help="plan file (.json or .toml)")
    p.add_argument("--model")
    p.add_argument("--quant", help="only this quantization (comma-separated list allowed)")
    p.add_argument("--engine", help="only this engine (comma-separated list allowed)")
    p.add_argument("--rate", type=_float("--rate"), help="peak arrival rate, requests/s (Poisson)")
    p.add_argument("--prompt", type=_int("--prompt"), default=1000, help="prompt tokens (fixed)")
    p.add_argument("--gen", type=_int("--gen"), default=500, help="output tokens (fixed)")
    p.add_argument("--slo-ttft-p95-s", type=_float("--slo-ttft-p95-s"))
    p.add_argument("--slo-ttft-p99-s", type=_float("--slo-ttft-p99-s"))
    p.add_argument("--slo-tpot-ms", type=_float("--slo-tpot-ms"), help="p95 of each request's mean TPOT")
    p.add_argument("--slo-e2e-p95-s", type=_float("--slo-e2e-p95-s"))
    p.add_argument("--goodput", type=_float("--goodput"), help="least share of requests meeting every limit")
    p.add_argument(
        "--min-quality",
        choices=("any", "4bit", "8bit", "16bit"),
        default=None,
        help="lowest weight precision to consider (default 4bit: the 1-2 bit GGUF formats are left out)",
    )
    p.add_argument("--candidates", help="comma-separated hardware ids (or full ids hardware@GB/quant/engine/xN)")
    p.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="HW=USD",
        help="your price per device for a hardware id (or hw@GB); repeatable",
    )
    p.add_argument("--usd-per-kwh", type=_float("--usd-per-kwh"))
    p.add_argument("--pue", type=_float("--pue"))
    p.add_argument("--years", type=_float("--years"))
    p.add_argument("--utilization", type=_float("--utilization"))
    p.add_argument("--requests", type=_int("--requests"), help="requests per simulation (default 400)")
    p.add_argument("--seed", type=_int("--seed"))
    p.add_argument("--all", action="store_true", help="simulate every candidate (no analytic dominance screen)")
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run the sweep on an existing cluster: dask://HOST:PORT, "
        "tcp://HOST:PORT (Dask) or ray://HOST:PORT, ray:auto (Ray)",
    )
    p.add_argument(
        "--workers", type=_int("--workers"), help="local process pool size (default: all cores); 1 runs in this process"
    )
    p.add_argument("--csv", metavar="FILE", help="write the ranked table as CSV")
    p.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    _profiles(p)
    b = sub.add_parser(
        "plan-bench",
        help="time the DeepSeek R1 plan (2 req/s, 1000/500 tokens, p95 TTFT 5 s, TPOT 100 ms, whole catalog)",
    )
    b.add_argument("--workers", type=_int("--workers"))
    b.add_argument("--runs", type=_int("--runs"), default=1)
    b.add_argument("--json", action="store_true")
    _profiles(b)


def _profiles(p) -> None:
    if not any("--profiles" in a.option_strings for a in p._actions):
        p.add_argument("--profiles", metavar="DIR", help="extra profile directory (also $PLANNER_PROFILES)")


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [x.strip() for x in text.split(",") if x.strip()]


def _candidate_entry(text: str) -> dict:
    """'hw' or 'hw@GB/quant/engine/xN' (trailing parts optional) -> a CandidateSpec dict."""
    parts = text.split("/")
    hw, _, mem = parts[0].partition("@")
    out: dict = {"hardware": hw}
    if mem:
        try:
            out["memory_gb"] = float(mem)
        except ValueError:
            raise UsageError(f"--candidates: '{text}': memory after @ must be a number of GB") from None
    for key, val in zip(("quant", "engine", "devices"), parts[1:4]):
        if key == "devices":
            try:
                out["devices"] = int(val.lstrip("x"))
            except ValueError:
                raise UsageError(f"--candidates: '{text}': devices must look like x8") from None
        elif val:
            out[key] = val
    return out


def spec_from_args(args) -> dict:
    quick = [n for n in ("model", "rate") if getattr(args, n) is not None]
    if args.spec:
        if quick:
            raise UsageError(f"give a plan file or the quick form, not both (--{quick[0]})")
        data = load_plan(args.spec).model_dump(exclude_unset=True)
    else:
        if args.model is None or args.rate is None:
            raise UsageError("give a plan file, or --model and --rate (with --prompt, --gen and SLO options)")
        for name, v in (("prompt", args.prompt), ("gen", args.gen)):
            if v < 1:
                raise UsageError(f"--{name} must be at least 1 token, got {v}")
        slo = {
            "ttft_p95_s": args.slo_ttft_p95_s,
            "ttft_p99_s": args.slo_ttft_p99_s,
            "tpot_p95_ms": args.slo_tpot_ms,
            "e2e_p95_s": args.slo_e2e_p95_s,
            "goodput_min": args.goodput,
        }
        data = {
            "model": args.model,
            "workload": {"rate_rps": args.rate, "prompt": {"mean": args.prompt}, "output": {"mean": args.gen}},
            "slo": {k: v for k, v in slo.items() if v is not None},
        }
    if args.quant:
        data["quants"] = _split(args.quant)
    if args.engine:
        data["engines"] = _split(args.engine)
    if getattr(args, "min_quality", None):
        data["min_quality"] = args.min_quality
    if args.candidates is not None:
        data["candidates"] = [_candidate_entry(x) for x in _split(args.candidates) or []]
    costs = data.setdefault("costs", {})
    for flag, key in (
        ("usd_per_kwh", "electricity_usd_per_kwh"),
        ("pue", "pue"),
        ("years", "years"),
        ("utilization", "utilization"),
    ):
        if getattr(args, flag) is not None:
            costs[key] = getattr(args, flag)
    for item in args.price:
        hw, sep, usd = item.partition("=")
        try:
            costs.setdefault("price_usd", {})[hw.strip()] = float(usd)
        except ValueError:
            raise UsageError(f"--price must look like HARDWARE=USD, got '{item}'") from None
        if not sep:
            raise UsageError(f"--price must look like HARDWARE=USD, got '{item}'")
    search = data.setdefault("search", {})
    if args.requests is not None:
        search["requests"] = args.requests
    if args.seed is not None:
        search["seed"] = args.seed
    if args.all:
        search["screen_factor"] = None
    return data


def _executor(args):
    if getattr(args, "cluster", None):
        return args.cluster
    if args.workers is not None:
        if args.workers < 1:
            raise UsageError(f"--workers must be at least 1, got {args.workers}")
        return "serial" if args.workers == 1 else args.workers
    return None


def _print_text(res: dict) -> None:
    wl = res["workload"]
    slo = ", ".join(f"{k} <= {v:g}" for k, v in res["slo"].items())
    print(
        f"capacity plan: {res['model']} at {wl['rate_rps']:g} req/s ({wl['prompt_mean']:g}-token prompts, "
        f"{wl['output_mean']:g}-token outputs), SLO {slo}"
    )
    st = res["stats"]
    print(
        f"{st['candidates']} candidates, {st['simulated']} simulated ({st['simulations']} simulations), "
        f"{st['meets_slo']} meet the SLO; {st['wall_s']:.1f} s"
    )
    ok = [c for c in res["candidates"] if c["verdict"] != "excluded"]
    if ok:
        print(
            f"{'#':>3} {'candidate':<40} {'repl':>4} {'1-repl max':>12} {'capex $':>11} {'TCO $':>11} "
            f"{'$/M out tok':>11} {'tok/J':>7} {'p95 TTFT s':>10} {'p95 TPOT ms':>11} {'headroom':>8}"
        )
        for c in ok:
            s = c["sim"]
            cid = c["id"] + (" (emulated)" if c.get("emulated") else "")
            print(
                f"{c['rank']:>3} {cid:<40} {c['replicas']:>4} {c['max_rate_per_replica_rps']:>12.3g} "
                f"{c['capex_usd']:>11,.0f} {c['tco_usd']:>11,.0f} {c['usd_per_m_output_tokens']:>11.3g} "
                f"{c['output_tokens_per_joule'] or 0:>7.3g} {s['ttft_p95_s']:>10.3g} {s['tpot_p95_ms']:>11.3g} "
                f"{c['headroom']:>+8.0%}"
            )
        print(f"winner: {ok[0]['why']}")
        if ok[0].get("format"):
            print(f"  format: {ok[0]['format']['text']}")
        for c in ok[1:3]:
            print(f"  #{c['rank']} {c['id']}: {c['why']}")
    else:
        print("no candidate meets the SLO")
    ex = [c for c in res["candidates"] if c["verdict"] == "excluded"]
    if ex:
        print("excluded (first of each reason; --json lists all):")
        shown: dict[str, int] = {}
        for c in ex:
            k = c["reason_code"]
            shown[k] = shown.get(k, 0) + 1
            if shown[k] <= 2:
                print(f"  [{k}] {c['id']}: {c['reason']}")
        print("  counts: " + ", ".join(f"{k} {v}" for k, v in res["stats"]["excluded"].items()))
    for a in res["assumptions"]:
        print(f"note: {a}")


def _plan(catalog, args) -> int:
    spec = spec_from_args(args)
    state = {"open": False}
    bar = stderr_progress("simulating candidates")

    def progress(done: int, total: int) -> None:
        state["open"] = done < total
        bar(done, total)

    try:
        res = plan(
            catalog, spec, executor=_executor(args), progress=None if args.quiet else progress, profiles=args.profiles
        )
    finally:
        if state["open"]:  # an error follows: start it on its own line
            sys.stderr.write("\n")
    if args.csv:
        try:
            with open(args.csv, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
                w.writeheader()
                w.writerows(csv_rows(res))
        except OSError as exc:
            raise UsageError(f"cannot write {exc.filename}: {exc.strerror}") from None
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        _print_text(res)
    if not res["winner"]:
        reasons = sorted({c["reason_code"] for c in res["candidates"]})
        print(
            f"error: no candidate meets the SLO (reasons: {', '.join(reasons)}; see the excluded list)", file=sys.stderr
        )
        return EXIT_BAD
    return EXIT_OK


def _bench(catalog, args) -> int:
    walls = []
    res: dict = {}
    for _ in range(max(1, args.runs)):
        t0 = time.perf_counter()
        res = plan(catalog, R1_PLAN, executor=_executor(args), profiles=args.profiles)
        walls.append(time.perf_counter() - t0)
    out = {"plan": R1_PLAN, "wall_s": [round(w, 3) for w in walls], "winner": res["winner"], "stats": res["stats"]}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        st = res["stats"]
        print(
            f"DeepSeek R1 plan (2 req/s, 1000/500 tokens, p95 TTFT <= 5 s, TPOT <= 100 ms, whole catalog): "
            f"{st['candidates']} candidates, {st['simulated']} simulated, {st['simulations']} simulations"
        )
        print(f"wall {', '.join(f'{w:.2f}' for w in walls)} s; winner {res['winner']}")
    return EXIT_OK


def run_plan_command(catalog, args) -> int:
    """Run plan / plan-bench (bad input raises; `python -m planner` prints one line, exit 2)."""
    if args.cmd == "plan-bench":
        return _bench(catalog, args)
    return _plan(catalog, args)
