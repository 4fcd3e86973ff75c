"""Golden outputs of the command line's JSON contract: five canonical predictions and one small plan.

Written by ``python -m tests.golden`` (with the simulator's goldens) into tests/golden/predictions/, one
file per case: the command line (argv) and its parsed JSON output.  ``tests/test_golden_predictions.py``
runs each command again and asserts the same keys (the JSON contract) and the same values, and pairs each
case with the invariant that explains its numbers (a bandwidth or compute bound, the memory fit, the plan's
winner meeting its SLO).  Regenerate only when a result is meant to change (a model, calibration or catalog
change), and say why in the commit.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from planner.cli.commands import main

HERE = Path(__file__).resolve().parent / "predictions"

PREDICT = ["predict", "--json"]
CASES: dict[str, list[str]] = {
    # llama-bench's canonical pp512 / tg128 on the M2 Ultra (the most measured row family)
    "m2_ultra_llama2_7b_q4_0": PREDICT
    + [
        "--hardware",
        "apple-m2-ultra-76c",
        "--model",
        "llama-2-7b",
        "--quant",
        "q4_0",
        "--engine",
        "llama.cpp",
        "--prompt",
        "512",
        "--gen",
        "128",
    ],
    "h100_llama31_8b_fp8_vllm": PREDICT
    + [
        "--hardware",
        "nvidia-h100-sxm",
        "--model",
        "llama-3.1-8b",
        "--quant",
        "fp8",
        "--engine",
        "vllm",
        "--prompt",
        "1000",
        "--gen",
        "500",
        "--step-provider",
        "roofline",
    ],
    # the README's first question: DeepSeek R1 on a 512 GB Mac Studio (a mixture of experts: active weights)
    "m3_ultra_512_r1_q4_k_m": PREDICT
    + [
        "--hardware",
        "apple-m3-ultra-80c",
        "--memory-gb",
        "512",
        "--model",
        "deepseek-r1",
        "--quant",
        "q4_k_m",
        "--engine",
        "llama.cpp",
        "--prompt",
        "512",
        "--gen",
        "128",
    ],
    "mi300x_x8_r1_fp8_vllm": PREDICT
    + [
        "--hardware",
        "amd-mi300x",
        "--devices",
        "8",
        "--model",
        "deepseek-r1",
        "--quant",
        "fp8",
        "--engine",
        "vllm",
        "--prompt",
        "1000",
        "--gen",
        "256",
    ],
    # does not fit: the reason and the fix, and no speed
    "rtx4090_llama31_70b_bf16_nofit": PREDICT
    + ["--hardware", "nvidia-rtx-4090", "--model", "llama-3.1-70b", "--quant", "bf16", "--engine", "vllm"],
    # a small capacity plan: three machines, two formats, one worker (deterministic: common random numbers)
    "plan_llama31_8b_small": [
        "plan",
        "--model",
        "llama-3.1-8b",
        "--rate",
        "2",
        "--prompt",
        "1000",
        "--gen",
        "200",
        "--slo-ttft-p95-s",
        "2",
        "--slo-tpot-ms",
        "100",
        "--candidates",
        "nvidia-h100-sxm,nvidia-rtx-4090,apple-m2-ultra-76c",
        "--quant",
        "fp8,q4_k_m",
        "--workers",
        "1",
        "--json",
        "--quiet",
    ],
}
VOLATILE = {("stats", "wall_s")}  # wall-clock time: not part of the result


def run(argv: list[str]) -> tuple[int, dict]:
    """(exit code, parsed JSON output) of ``python -m planner ARGV``, run in this process."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    data = json.loads(out.getvalue())
    for path in VOLATILE:
        node = data
        for key in path[:-1]:
            node = node.get(key, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return code, data


def write() -> list[str]:
    HERE.mkdir(exist_ok=True)
    lines = []
    for name, argv in CASES.items():
        code, data = run(argv)
        (HERE / f"{name}.json").write_text(
            json.dumps({"argv": argv, "exit": code, "output": data}, indent=1, sort_keys=True) + "\n"
        )
        lines.append(f"wrote tests/golden/predictions/{name}.json (exit {code})")
    return lines


if __name__ == "__main__":
    for line in write():
        print(line)
