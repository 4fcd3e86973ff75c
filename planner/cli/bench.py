"""CLI for your own measurements: ``python -m planner import-bench FILE --hardware ID [--out DIR] [--json]``.

Parses a benchmark tool's output (llama-bench markdown/json/jsonl/csv, llama-batched-bench, mlx_lm.generate
--verbose, mlx_lm.benchmark, vllm bench serve JSON), prints each row measured against predicted, and with
--out writes a calibration overlay for that machine (use it with --profiles DIR).  Bad input: one line, exit 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from planner.cli.args import arg_float, arg_int
from planner.webapp.benchimport import BenchImportError, import_bench, write_overlay

COMMANDS = ("import-bench",)


def add_bench_commands(sub) -> None:
    p = sub.add_parser(
        "import-bench",
        help="your benchmark output against the predictions; a calibration overlay",
        description="Reads llama-bench (markdown, -o json/jsonl/csv), llama-batched-bench, "
        "mlx_lm.generate --verbose, mlx_lm.benchmark or vllm bench serve JSON output.",
    )
    p.add_argument("file", help="the tool's output ('-' reads standard input)")
    p.add_argument("--hardware", required=True, help="the machine it ran on (`catalog hardware`)")
    p.add_argument("--model", help="catalog model id (default: identified from the file name, size and parameters)")
    p.add_argument("--quant", help="catalog quantization id (default: from the file name or model type)")
    p.add_argument("--engine", help="default: the tool's engine (llama.cpp, mlx, vllm)")
    p.add_argument("--devices", type=arg_int("--devices"), default=1)
    p.add_argument("--memory-gb", type=arg_float("--memory-gb"))
    p.add_argument("--out", metavar="DIR", help="write a calibration overlay for this machine (a --profiles directory)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    if not any("--profiles" in a.option_strings for a in p._actions):
        p.add_argument("--profiles", metavar="DIR", help="extra profile directory (also $PLANNER_PROFILES)")


def run_bench_command(catalog, args) -> int:
    if args.file == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(args.file).read_bytes()
        except OSError as exc:
            raise BenchImportError(f"cannot read {args.file}: {exc.strerror}") from None
    res = import_bench(
        catalog,
        data,
        args.hardware,
        model=args.model,
        quant=args.quant,
        engine=args.engine,
        devices=args.devices,
        memory_gb=args.memory_gb,
    )
    fits = res.pop("_fits")
    written = []
    if args.out:
        if not fits:
            raise BenchImportError(
                "--out: no row was compared with a prediction, so there is nothing to calibrate "
                "(give --model and --quant if they were not identified)"
            )
        written = write_overlay(catalog, res["hardware"], fits, args.out)
    res["overlay_files"] = written
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(
        f"{res['tool']} on {res['hardware']}: {len(res['rows'])} rows, {res['compared']} compared"
        + (f", median |error| {res['median_abs_error_pct']:g}%" if res["median_abs_error_pct"] is not None else "")
    )
    for r in res["rows"]:
        pred = f"{r['predicted']:,.1f}" if r["predicted"] is not None else "-"
        err = f"{r['error_pct']:+.1f}%" if r["error_pct"] is not None else ""
        print(
            f"  line {r['line']:>4}  {r['model'] or '?'} {r['quant'] or '?'} {r['engine']}  {r['test']:<28} "
            f"{r['metric']:<14} measured {r['measured']:,.1f}  predicted {pred} {err}"
            + (f"  ({r['note']})" if r["note"] else "")
        )
    for e, o in res["overlay"].items():
        print(
            f"  overlay {e}: bandwidth efficiency {o['bandwidth_efficiency']:g}, compute efficiency "
            f"{o['compute_efficiency']:g} (from {o['base']}, {o['rows']} rows)"
        )
    if written:
        print(f"wrote {', '.join(written)}; use it with --profiles {args.out}")
    return 0
