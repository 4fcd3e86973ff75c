"""Command line: ``python -m planner <command>``.

Exit codes: 0 success (and, for predict, it fits); 3 predict: does not fit; 2 bad arguments or
input, with a one-line message on stderr (a planner.errors.PlannerError); 1 a defect in the planner,
with its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from planner.catalog.loader import load_catalog
from planner.cli.args import (
    EXIT_BAD,
    EXIT_NOFIT,
    EXIT_OK,
    Parser,
    add_profiles,
    add_scale_out,
    apply_system,
    arg_float,
    arg_int,
)
from planner.cli.bench import COMMANDS as BENCH_COMMANDS
from planner.cli.bench import add_bench_commands, run_bench_command
from planner.cli.link import COMMANDS as LINK_COMMANDS
from planner.cli.link import add_link_commands, run_link_command
from planner.cli.plan import COMMANDS as PLAN_COMMANDS
from planner.cli.plan import add_plan_commands, run_plan_command
from planner.cli.sim import COMMANDS as SIM_COMMANDS
from planner.cli.sim import add_sim_commands, run_sim_command
from planner.errors import CatalogError, PlannerError, UsageError, one_line
from planner.model.arch import active_params, params
from planner.model.calibration import (
    DEFAULT_DATA,
    REPO,
    band_coverage,
    band_table,
    bind_rows,
    calibrate,
    calibration_report,
    contradicting_pairs,
    documented_pairs,
    errors,
    fit_all,
    leave_one_family_out_records,
    leave_one_source_out,
    left_out_of_fit,
    old_build,
    over_threshold,
    predict_with,
    read_rows,
    summarize,
    summarize_records,
    write_bands,
    write_calibration_files,
    write_held_out,
)
from planner.model.kernels import use_provider
from planner.model.predict import predict
from planner.validate.kernels import print_report
from planner.validate.serve import validate_serve


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(prog="python -m planner", description="Inference Planner: memory, speed and cost of LLM serving")
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=Parser)

    p = sub.add_parser("predict", help="memory fit and single-run speed for one configuration")
    p.add_argument("--hardware", help="hardware id (or give --system)")
    p.add_argument("--memory-gb", type=arg_float("--memory-gb"))
    p.add_argument("--usable-memory-gb", type=arg_float("--usable-memory-gb"))
    p.add_argument("--devices", type=arg_int("--devices"), default=1)
    p.add_argument("--model", required=True)
    p.add_argument("--quant", required=True)
    p.add_argument("--engine", required=True)
    p.add_argument("--kv-dtype")
    p.add_argument("--engine-version", help="engine release to model (NVIDIA measured kernels: nearest measured)")
    p.add_argument(
        "--step-provider",
        choices=["auto", "roofline", "measured"],
        default=None,
        help="step-time provider (default auto, or $PLANNER_STEP_PROVIDER)",
    )
    add_scale_out(p)
    p.add_argument("--batch", type=arg_int("--batch"), default=1)
    p.add_argument("--prompt", type=arg_int("--prompt"), default=512)
    p.add_argument("--gen", type=arg_int("--gen"), default=128)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_profiles(p)

    c = sub.add_parser("catalog", help="list ids with their key figures")
    c.add_argument(
        "kind", nargs="?", choices=["hardware", "models", "quants", "engines", "interconnects", "hosts", "systems"]
    )
    c.add_argument("--json", action="store_true")
    add_profiles(c)

    k = sub.add_parser("calibrate", help="fit engine efficiency parameters from measurements")
    k.add_argument("--data", default=None, help="measurements CSV (default data/calibration.csv)")
    k.add_argument("--out", default=None, help="directory for calibration profiles (default profiles/calibration)")
    k.add_argument("--dry-run", action="store_true", help="print the fit, write nothing")
    add_profiles(k)

    v = sub.add_parser("validate", help="predict measured rows and report the errors")
    v.add_argument("--data", default=None)
    v.add_argument(
        "--loo", action="store_true", help="also leave-one-source-out, leave-one-family-out and 80%% band coverage"
    )
    v.add_argument(
        "--write-bands",
        action="store_true",
        help="with --loo: write the held-out error bands predict uses (profiles/calibration_bands)",
    )
    v.add_argument("--json", action="store_true")
    v.add_argument("--all-confidence", action="store_true", help="include confidence=low rows")
    v.add_argument("--no-serve", action="store_true", help="skip simulating the mode=serve rows")
    v.add_argument(
        "--explain",
        action="store_true",
        help="for each simulated serve row: batch sizes, prefill vs "
        "decode time share, queue share, step-time provider and calibration",
    )
    v.add_argument(
        "--providers",
        action="store_true",
        help="roofline against NVIDIA's measured kernels on the "
        "NVIDIA datacenter rows (leave-one-source-out), per metric and class",
    )
    v.add_argument(
        "--write",
        action="store_true",
        help="with --providers: write the per-class choice to profiles/step_providers.toml",
    )
    v.add_argument(
        "--derive-priors",
        action="store_true",
        help="with --providers: the GEMM compute and "
        "weight-streaming bandwidth efficiencies NVIDIA's measured kernels reach per system, and the "
        "CUDA serving engines' priors derived from them (issue 13 item 4)",
    )
    add_profiles(v)

    add_sim_commands(sub)
    add_plan_commands(sub)
    add_link_commands(sub)
    add_bench_commands(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a bad argument (2, one line printed)
        return int(exc.code or 0)
    # Only bad input (planner.errors.PlannerError) becomes a message and exit 2; anything else is a
    # defect and propagates: Python prints its traceback and exits 1.
    try:
        return _dispatch(args)
    except CatalogError as exc:  # a bad profile file lists each bad field on its own line
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD
    except PlannerError as exc:  # UsageError, ScenarioError, DataError, ExecutorError, ...: one line
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_BAD


def _dispatch(args) -> int:
    cat = load_catalog(args.profiles)
    if args.cmd == "predict":
        if args.step_provider:
            with use_provider(args.step_provider):
                return _cmd_predict(cat, args)
        return _cmd_predict(cat, args)
    if args.cmd == "catalog":
        return _cmd_catalog(cat, args)
    if args.cmd == "calibrate":
        return _cmd_calibrate(cat, args)
    if args.cmd == "validate":
        return _cmd_validate(cat, args)
    if args.cmd in SIM_COMMANDS:
        return run_sim_command(cat, args)
    if args.cmd in PLAN_COMMANDS:
        return run_plan_command(cat, args)
    if args.cmd in LINK_COMMANDS:
        return run_link_command(cat, args)
    if args.cmd in BENCH_COMMANDS:
        return run_bench_command(cat, args)
    raise UsageError(f"unknown command {args.cmd}")


def _cmd_predict(cat, args) -> int:
    apply_system(cat, args)
    if not args.hardware:
        raise UsageError("give --hardware ID or --system ID")
    res = predict(
        cat,
        hardware=args.hardware,
        model=args.model,
        quant=args.quant,
        engine=args.engine,
        memory_gb=args.memory_gb,
        usable_memory_gb=args.usable_memory_gb,
        devices=args.devices,
        batch=args.batch,
        prompt=args.prompt,
        gen=args.gen,
        kv_dtype=args.kv_dtype,
        nodes=args.nodes,
        link=args.link,
        parallel=args.parallel,
        host=args.host,
        offload=args.offload,
        host_memory_gb=args.host_memory_gb,
        engine_version=args.engine_version,
    )
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        m = res["memory_gb"]
        par = res["parallel"]
        where = f"{res['devices']}x {res['hardware']} ({res['memory_gb_option']:g} GB)"
        if res["nodes"] > 1:
            where = f"{res['nodes']} nodes x {where} over {res['link']}"
        if res["offload"]:
            where += f", {res['offload']} offloaded to {res['host']}"
        print(
            f"{res['model']} {res['quant']} on {where} with {res['engine']} "
            f"(tp={par['tp']} pp={par['pp']} ep={par['ep']})"
        )
        g = 1e9 / 2**30  # GB (10^9 bytes, the JSON's unit) -> GiB, the unit memory is sold in
        print(
            f"  memory (GiB, as sold): weights {m['weights'] * g:.1f} + KV {m['kv_cache'] * g:.1f} + other "
            f"{m['other'] * g:.1f} = {m['total'] * g:.1f} GiB of {m['usable'] * g:.1f} GiB usable -> "
            f"{'fits' if res['fits'] else 'DOES NOT FIT'}"
        )
        if res["host_memory_gb"]:
            h = res["host_memory_gb"]
            print(f"  host RAM: offloaded weights {h['weights']:.1f} GB of {h['usable']:.1f} GB")
        if res["reason"]:
            print(f"  {res['reason']}")
        if res["prefill_tok_s"]:
            print(f"  prefill: {res['prefill_tok_s']:.1f} tok/s   TTFT {res['ttft_s']:.3f} s")
        if res["decode_tok_s"]:
            tp = f"   TPOT {res['tpot_s'] * 1000:.1f} ms" if res["tpot_s"] else ""
            print(f"  decode:  {res['decode_tok_s']:.1f} tok/s{tp}")
        print(
            f"  max concurrent sequences at this length: {res['max_concurrent_sequences']}; "
            f"max context: {res['max_context_tokens']:,} tokens"
        )
        print(f"  calibration: {res['calibration']}")
        if res.get("emulated"):
            print(f"  EMULATED: {res['support']['reason']}")
        print(f"  step time: {res['step_time_provider']}")
    return EXIT_OK if res["fits"] else EXIT_NOFIT


def _catalog_rows(cat, kind):
    if kind == "hardware":
        for h in cat.hardware.values():
            price = h.prices[0].usd if h.prices else None
            yield {
                "id": h.id,
                "name": h.name,
                "vendor": h.vendor,
                "family": h.family,
                "memory_gb": h.memory_gb,
                "bandwidth_gbs": h.memory_bandwidth_gbs.value,
                "tflops": {k: v.value for k, v in h.tflops.items()},
                "power_max_w": h.power_max_w.value,
                "price_usd": price,
                "aliases": h.aliases,
                "arch": h.arch.id if h.arch else None,
            }
    elif kind == "models":
        for m in cat.models.values():
            p = params(m)
            yield {
                "id": m.id,
                "name": m.name,
                "arch": m.arch,
                "attention": m.attention,
                "params_b": round(p.total / 1e9, 2),
                "active_params_b": round(active_params(m) / 1e9, 2),
                "layers": m.num_layers,
                "max_context": m.max_context,
                "aliases": m.aliases,
            }
    elif kind == "quants":
        for q in cat.quants.values():
            yield {
                "id": q.id,
                "name": q.name,
                "family": q.family,
                "bits_per_weight": q.bits_per_weight.value,
                "applies_to": q.applies_to,
                "kv_cache_dtypes": q.kv_cache_dtypes,
                "engines": q.engines,
                "aliases": q.aliases,
                "quality": q.quality.note if q.quality else None,
            }
    elif kind == "interconnects":
        for x in cat.interconnects.values():
            yield {
                "id": x.id,
                "name": x.name,
                "kind": x.kind,
                "bandwidth_gbs": x.bandwidth_gbs.value,
                "measured_gbs": x.measured_gbs.value if x.measured_gbs else None,
                "latency_us": x.latency_us.value,
                "aliases": x.aliases,
            }
    elif kind == "hosts":
        for x in cat.hosts.values():
            yield {
                "id": x.id,
                "name": x.name,
                "memory_gb_options": x.memory_gb_options,
                "bandwidth_gbs": x.memory_bandwidth_gbs.value,
                "cpu_tflops": x.cpu_tflops.value,
                "price_usd": x.prices[0].usd if x.prices else None,
                "aliases": x.aliases,
            }
    elif kind == "systems":
        for x in cat.systems.values():
            yield {
                "id": x.id,
                "name": x.name,
                "hardware": x.hardware,
                "devices": x.devices,
                "nodes": x.nodes,
                "link": x.link,
                "host": x.host or None,
                "price_usd": x.prices[0].usd if x.prices else None,
                "aliases": x.aliases,
            }
    else:
        for e in cat.engines.values():
            yield {
                "id": e.id,
                "name": e.name,
                "batching": e.batching,
                "paged_kv": e.paged_kv,
                "vendors": e.vendors,
                "calibrated_classes": sorted(e.calibration),
                "calibration_from": e.calibration_from,
                "calibrated_versions": e.calibrated_versions,
                "aliases": e.aliases,
            }


def _cmd_catalog(cat, args) -> int:
    kinds = (
        [args.kind] if args.kind else ["hardware", "models", "quants", "engines", "interconnects", "hosts", "systems"]
    )
    out = {k: sorted(_catalog_rows(cat, k), key=lambda r: r["id"]) for k in kinds}
    if args.json:
        print(json.dumps(out[args.kind] if args.kind else out, indent=2))
    else:
        for k in kinds:
            print(f"{k}:")
            for r in out[k]:
                extra = {key: r[key] for key in list(r)[1:4]}
                print(f"  {r['id']:<28} " + "  ".join(f"{a}={b}" for a, b in extra.items()))
    return EXIT_OK


def _cmd_calibrate(cat, args) -> int:
    data = args.data or DEFAULT_DATA
    fits = calibrate(cat, data)
    for line in calibration_report(fits):
        print(line)
    if not args.dry_run:
        out = Path(args.out) if args.out else REPO / "profiles" / "calibration"  # REPO: planner.paths' data root
        for p in write_calibration_files(fits, out, data):
            print(f"wrote {p}")
    return EXIT_OK


def _held_out(cat, data, models, write: bool) -> dict:
    """Leave-one-source-out, leave-one-family-out and the coverage of the 80% bands."""
    rows = [m.row for m in models]
    drop = left_out_of_fit(rows)
    normal = [m for m in models if m.row.confidence == "normal" and m.row.id not in drop]
    full = fit_all(normal)
    # older-build rows (their own class, not fitted): predicted by the current builds' fit
    old = []
    for m in models:
        if old_build(m.row):
            pred, label = predict_with(cat, m, full)
            old.append(
                {
                    "id": m.row.id,
                    "class": old_build(m.row),
                    "engine_version": m.row.engine_version,
                    "metric": m.row.metric,
                    "measured": m.row.value,
                    "predicted": round(pred, 3),
                    "error_pct": round(100.0 * (pred - m.row.value) / m.row.value, 2),
                    "calibration": label,
                }
            )
    loso = leave_one_source_out(cat, normal, full)
    lofo = leave_one_family_out_records(cat, normal, full)
    coverage = band_coverage(loso, loso + lofo)  # also gives each held-out row its 80% band
    out: dict[str, Any] = {
        "leave_one_source_out": {
            "summary": summarize_records(loso),
            "by_source": [
                dict({"source": g}, **summarize_records([r for r in loso if r["group"] == g]))
                for g in sorted({r["group"] for r in loso})
            ],
            "rows": [
                {
                    "id": r["model"].row.id,
                    "source": r["group"],
                    "hardware": r["model"].row.hardware_id,
                    "family": r["model"].sys.deployment.hw.family,
                    "engine": r["model"].row.engine_id,
                    "model": r["model"].row.model_id,
                    "quant": r["model"].row.quant_id,
                    "metric": r["model"].row.metric,
                    "measured": r["model"].row.value,
                    "predicted": round(r["predicted"], 3),
                    "error_pct": round(r["error_pct"], 2),
                    "calibration": r["label"],
                    "band80": r.get("band80"),
                }
                for r in loso
            ],
        }
    }
    out["leave_one_family_out_summary"] = summarize_records(lofo)
    fam = []
    for f in sorted({r["group"] for r in lofo}):
        for eng in sorted({r["model"].sys.deployment.engine.id for r in lofo if r["group"] == f}):
            rs = [r for r in lofo if r["group"] == f and r["model"].sys.deployment.engine.id == eng]
            fam.append(dict({"family": f, "engine": eng, "rows": len(rs)}, **summarize_records(rs)))
    out["leave_one_family_out"] = fam
    out["band_coverage"] = coverage
    out["superseded"] = {k: v for k, v in drop.items() if not v.startswith("older build")}
    out["older_builds"] = old
    out["contradicting_pairs"] = [[a.id, b.id] for a, b in contradicting_pairs(rows)]
    in_sample = [{"model": m, "error_pct": e} for m, _, e in errors(normal)]
    out["calibration_set_summary"] = summarize_records(in_sample)
    out["over_35pct"] = over_threshold(loso, "leave-one-source-out") + over_threshold(in_sample, "calibration set")
    known = documented_pairs()
    out["contradicting_pairs_documented"] = [
        {"rows": [a.id, b.id], "why": known.get(frozenset((a.id, b.id)), "")} for a, b in contradicting_pairs(rows)
    ]
    if write:
        path = write_bands(band_table(loso + lofo), REPO / "profiles" / "calibration_bands" / "bands.toml", data)
        out["bands_written"] = str(path)
        write_held_out(REPO / "profiles" / "calibration_bands" / "held_out.json", data, out, lofo)
    return out


def _cmd_validate(cat, args) -> int:
    if args.providers:
        return print_report(cat, args)
    data = args.data or DEFAULT_DATA
    rows = read_rows(data)
    models, skipped = bind_rows(cat, rows, normal_only=not args.all_confidence)
    errs = errors(models)
    summary = summarize(errs)
    result: dict[str, Any] = {
        "data": str(data),
        "rows": [
            {
                "id": m.row.id,
                "hardware": m.row.hardware_id,
                "model": m.row.model_id,
                "quant": m.row.quant_id,
                "engine": m.row.engine_id,
                "devices": m.row.devices,
                "batch": m.batch,
                "prompt": m.prompt,
                "gen": m.gen,
                "lengths_assumed": m.assumed,
                "metric": m.row.metric,
                "measured": m.row.value,
                "predicted": round(pred, 3),
                "error_pct": round(err, 2),
            }
            for m, pred, err in errs
        ],
        "summary": summary,
        "skipped": [{"id": r.id, "reason": why} for r, why in skipped],
    }
    if args.loo:
        result.update(_held_out(cat, data, models, args.write_bands))
    if not args.no_serve:
        # with --loo, serve rows whose source is also in the fit are simulated with a fit made without it
        result["serve"] = validate_serve(
            cat, rows, with_explain=args.explain, loso_data=Path(data) if args.loo else None
        )
    if args.json:
        print(json.dumps(result, indent=2))
        return EXIT_OK
    print(
        f"{'id':<12} {'hardware':<20} {'model':<14} {'quant':<8} {'engine':<10} {'metric':<14} "
        f"{'measured':>10} {'predicted':>10} {'error':>8}"
    )
    for r in result["rows"]:
        flag = " *" if r["lengths_assumed"] else ""
        print(
            f"{r['id']:<12} {r['hardware']:<20} {r['model']:<14} {r['quant']:<8} {r['engine']:<10} "
            f"{r['metric']:<14} {r['measured']:>10.2f} {r['predicted']:>10.2f} {r['error_pct']:>+7.1f}%{flag}"
        )
    print("(* lengths not stated in the source: llama-bench defaults pp512 / tg128 assumed)")
    print(f"skipped {len(skipped)} rows (serve mode, other metrics, low confidence or unknown ids)")
    for metric, s in summary.items():
        print(f"{metric}: {s['rows']} rows, median |error| {s['median_abs_pct']:.1f}%, max {s['max_abs_pct']:.1f}%")
    if "serve" in result:
        sv = result["serve"]
        print(
            "serve rows, simulated (load tests; throughput in output tokens/s"
            + ("; leave-one-source-out" if sv["summary"].get("leave_one_source_out") else "")
            + "):"
        )
        for r in sv["rows"]:
            lens = f"{r['prompt'] or '-'}/{r['gen'] or '-'}"
            print(
                f"{r['id']:<16} {r['devices']}x {r['hardware']:<20} {r['model']:<15} {lens:>11} "
                f"load {r['load'][:12]:<12} {r['metric']:<24} {r['measured']:>10.1f} {r['predicted']:>10.1f} "
                f"{r['error_pct']:>+7.1f}%"
            )
        if args.explain:
            print(
                f"\n{'id':<16} {'metric':<18} {'error':>7} {'batch mean':>10} {'p50':>5} {'max':>5} "
                f"{'prefill':>8} {'decode':>7} {'queue/e2e':>9} {'queue/ttft':>10}  provider; calibration"
            )
            for r in sv["rows"]:
                x = r["explain"]
                q1 = "-" if x["queue_share_of_e2e"] is None else f"{x['queue_share_of_e2e']:.0%}"
                q2 = "-" if x["queue_share_of_ttft"] is None else f"{x['queue_share_of_ttft']:.0%}"
                print(
                    f"{r['id']:<16} {r['metric'][:18]:<18} {r['error_pct']:>+6.0f}% {x['batch_mean_by_time']:>10.1f} "
                    f"{x['batch_p50_by_step']:>5.0f} {x['batch_max']:>5} {x['prefill_step_time_share']:>8.0%} "
                    f"{x['decode_step_time_share']:>7.0%} {q1:>9} {q2:>10}  {x['step_time_provider'][:60]}; "
                    f"{x['calibration']}"
                )
            print(
                "(batch: sequences per step, mean weighted by step time, median over steps; prefill / decode: "
                "share of the run in steps with / without prompt tokens; queue: mean wait before admission "
                "over the mean end-to-end latency and the mean TTFT)"
            )
        for sk in sv["skipped"]:
            print(f"  skipped {sk['id']}: {sk['reason']}")
        for metric, by in sv["summary"].get("by_metric", {}).items():
            for conf, s in by.items():
                if s["rows"]:
                    print(
                        f"serve {metric} ({conf} rows): {s['rows']} rows, median |error| {s['median_abs_pct']:.1f}%, "
                        f"max {s['max_abs_pct']:.1f}%"
                    )
    if args.loo:
        print(f"\nHeld-out accuracy ({len(result['leave_one_source_out']['rows'])} confidence=normal rows):")
        print(
            f"{'metric':<16} {'calibration set':>22} {'leave-one-source-out':>26} {'leave-one-family-out':>26}"
            f" {'80% band coverage':>18}"
        )
        for metric in ("decode_tok_s", "prefill_tok_s", "e2e_latency_s", "ttft_ms"):
            cells = []
            for part in (summary, result["leave_one_source_out"]["summary"], result["leave_one_family_out_summary"]):
                e = part.get(metric)
                cells.append(
                    f"median {e['median_abs_pct']:.1f}% max {e['max_abs_pct']:.0f}% ({e['rows']})" if e else "-"
                )
            cov = result["band_coverage"].get(metric)
            cells.append(f"{cov['coverage_pct']:.1f}% ({cov['rows']})" if cov else "-")
            print(f"{metric:<16} {cells[0]:>22} {cells[1]:>26} {cells[2]:>26} {cells[3]:>18}")
        cov = result["band_coverage"].get("all")
        if cov:
            print(f"80% bands hold {cov['coverage_pct']:.1f}% of {cov['rows']} rows in leave-one-source-out")
        print("leave-one-source-out by source:")
        for e in result["leave_one_source_out"]["by_source"]:
            parts = [
                f"{m}: median {e[m]['median_abs_pct']:.1f}% max {e[m]['max_abs_pct']:.1f}% ({e[m]['rows']} rows)"
                for m in ("decode_tok_s", "prefill_tok_s", "e2e_latency_s", "ttft_ms")
                if m in e
            ]
            print(f"  {e['source'][:44]:<44} " + "; ".join(parts))
        print("leave-one-family-out (fit without the family, predict it):")
        for e in result["leave_one_family_out"]:
            parts = [
                f"{m}: median {e[m]['median_abs_pct']:.1f}% max {e[m]['max_abs_pct']:.1f}% ({e[m]['rows']} rows)"
                for m in ("decode_tok_s", "prefill_tok_s", "e2e_latency_s", "ttft_ms")
                if m in e
            ]
            print(f"  {e['family']:<16} {e['engine']:<12} " + ("; ".join(parts) or e.get("note", "")))
        over = result["over_35pct"]
        print(f"rows off by more than 35% ({len(over)}), each with its stated reason (data/outliers.toml):")
        for o in over:
            print(
                f"  {o['id']:<16} {o['metric']:<14} {o['error_pct']:>+8.1f}% ({o['kind']}): "
                + (o["reason"] or "NO STATED REASON")
            )
        pairs = result["contradicting_pairs_documented"]
        print("contradicting pairs (same configuration, values > 1.5x apart):" + ("" if pairs else " none"))
        for p in pairs:
            print(f"  {'/'.join(p['rows'])}: " + (p["why"] or "NOT DOCUMENTED"))
        print(
            f"older builds (class <engine>-old, left out of the fit; versions.toml): {len(result['older_builds'])}"
            " predict rows"
            + "".join(
                f"\n  {o['id']} {o['class']} {o['engine_version']}: {o['error_pct']:+.1f}%"
                for o in result["older_builds"]
            )
        )
        print(
            "superseded (dropped from the fit, older build): "
            + (", ".join(f"{k} ({v})" for k, v in result["superseded"].items()) or "none")
        )
        if "bands_written" in result:
            print(f"wrote {result['bands_written']}")
    return EXIT_OK
