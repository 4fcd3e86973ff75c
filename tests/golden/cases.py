"""The simulator's golden summaries; written by ``python -m tests.golden`` (from the repository root).

One JSON file per case in tests/golden/: the scenario, its full summary and SHA-256 hashes of every
per-request record and every step of the timeline (all floats as Python's exact repr).
``tests/test_golden.py`` re-simulates each file's scenario and asserts all three are identical bit for
bit, so speed work on the simulator cannot change a result unnoticed.  Regenerate only when a
result is meant to change (a model or catalog change), and say why in the commit.

Cases: the `bench --suite` workloads at small request counts (planner/sim/bench.py) and scenarios
covering the other paths of the simulator (preemption, slots, static and serial batching, sliding
windows, routers, closed loops with think time, prefix caching, pipeline/tensor parallel, offload,
trtllm-bench sizing, other arrival processes, SGLang, MLA expanded, block size 1).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
TIGHT = {"model": "llama-3.1-8b", "quant": "bf16", "engine": "vllm", "machine": {"hardware": "nvidia-rtx-4090"}}
H100 = {"model": "llama-3.1-8b", "quant": "fp8", "engine": "vllm", "machine": {"hardware": "nvidia-h100-sxm"}}
SUITE_REQUESTS = 2000

# name -> scenario (dict); every case records every step (timeline_points above the step count)
CASES = {
    "tight_preemption": {
        **TIGHT,
        "workload": {
            "arrival": "poisson",
            "rate_rps": 50,
            "requests": 300,
            "prompt": {"mean": 2000},
            "output": {"mean": 1500},
        },
    },
    "tight_no_chunking": {
        **TIGHT,
        "scheduler": {"chunked_prefill": False, "max_num_batched_tokens": 4096},
        "workload": {
            "arrival": "poisson",
            "rate_rps": 4,
            "requests": 300,
            "seed": 3,
            "prompt": {"dist": "lognormal", "mean": 1500, "cv": 1.0, "max": 20000},
            "output": {"dist": "lognormal", "mean": 300, "cv": 1.5},
        },
    },
    "tight_block1": {
        **TIGHT,
        "scheduler": {"kv_block_size": 1, "max_num_batched_tokens": 512},
        "workload": {
            "arrival": "poisson",
            "rate_rps": 30,
            "requests": 300,
            "seed": 5,
            "prompt": {"dist": "uniform", "min": 1, "max": 4000},
            "output": {"mean": 200},
        },
    },
    "slots_llama_cpp": {
        "model": "llama-3.1-8b",
        "quant": "q4_k_m",
        "engine": "llama.cpp",
        "machine": {"hardware": "apple-m2-ultra-76c"},
        "scheduler": {"batching": "slots", "n_parallel": 16},
        "workload": {
            "arrival": "poisson",
            "rate_rps": 1,
            "requests": 200,
            "prompt": {"dist": "uniform", "min": 100, "max": 120000},
            "output": {"mean": 100},
        },
    },
    "static": {
        **H100,
        "scheduler": {"batching": "static", "static_batch": 8, "static_timeout_s": 0.05},
        "workload": {
            "arrival": "poisson",
            "rate_rps": 40,
            "requests": 300,
            "output": {"dist": "uniform", "min": 10, "max": 300},
        },
    },
    "serial_closed": {
        **TIGHT,
        "scheduler": {"batching": "serial"},
        "workload": {"arrival": "closed", "concurrency": 3, "think_time_s": 0.2, "requests": 100},
    },
    "mistral_swa": {
        "model": "mistral-7b",
        "quant": "bf16",
        "engine": "vllm",
        "machine": {"hardware": "nvidia-rtx-4090"},
        "workload": {
            "arrival": "poisson",
            "rate_rps": 3,
            "requests": 300,
            "prompt": {"dist": "lognormal", "mean": 3000, "cv": 1.0, "max": 20000},
            "output": {"dist": "lognormal", "mean": 400, "cv": 1.5},
        },
    },
    "shortest_queue": {
        **H100,
        "machine": {"hardware": "nvidia-h100-sxm", "replicas": 3},
        "router": "shortest_queue",
        "workload": {"arrival": "poisson", "rate_rps": 60, "requests": 900},
    },
    "round_robin_gamma": {
        **TIGHT,
        "machine": {"hardware": "nvidia-rtx-4090", "replicas": 2},
        "workload": {
            "arrival": "gamma",
            "rate_rps": 8,
            "cv": 3.0,
            "requests": 400,
            "output": {"dist": "lognormal", "mean": 200, "cv": 1.0},
        },
    },
    "closed_think": {
        **H100,
        "workload": {"arrival": "closed", "concurrency": 16, "think_time_s": 0.5, "requests": 400},
    },
    "closed_replicas": {
        **H100,
        "machine": {"hardware": "nvidia-h100-sxm", "replicas": 2},
        "router": "least_outstanding",
        "workload": {
            "arrival": "closed",
            "concurrency": 8,
            "think_time_s": 1.0,
            "requests": 300,
            "output": {"dist": "lognormal", "mean": 800, "cv": 1.0},
        },
    },
    "piecewise": {
        **H100,
        "workload": {
            "arrival": "piecewise",
            "piecewise": [[0, 2.0], [30, 40.0], [60, 0.0], [90, 10.0]],
            "period_s": 120,
            "requests": 1500,
        },
    },
    "constant": {**H100, "workload": {"arrival": "constant", "rate_rps": 20, "requests": 400}},
    "prefix_caching": {
        **H100,
        "workload": {
            "arrival": "poisson",
            "rate_rps": 20,
            "requests": 500,
            "shared_prefix_tokens": 700,
            "prompt": {"mean": 1200},
        },
    },
    "sglang_h200": {
        "model": "llama-3.1-8b",
        "quant": "bf16",
        "engine": "sglang",
        "machine": {"hardware": "nvidia-h200-sxm"},
        "workload": {
            "arrival": "poisson",
            "rate_rps": 25,
            "requests": 600,
            "prompt": {"dist": "uniform", "min": 10, "max": 3000},
            "output": {"dist": "uniform", "min": 1, "max": 600},
        },
    },
    "r1_sglang_mla_expanded": {
        "model": "deepseek-r1",
        "quant": "fp8",
        "engine": "sglang",
        "machine": {"hardware": "nvidia-h200-sxm", "devices": 8},
        "scheduler": {"mla_cache": "expanded"},
        "workload": {
            "arrival": "poisson",
            "rate_rps": 2,
            "requests": 200,
            "prompt": {"mean": 1000},
            "output": {"mean": 300},
        },
    },
    "trtllm_sizing": {
        "model": "llama-3.1-70b",
        "quant": "fp8",
        "engine": "tensorrt-llm",
        "machine": {"hardware": "nvidia-h200-sxm", "devices": 2},
        "scheduler": {"sizing": "workload"},
        "workload": {
            "arrival": "closed",
            "concurrency": 32,
            "requests": 96,
            "prompt": {"mean": 8192},
            "output": {"mean": 256},
        },
    },
    "tp4_pp2_70b": {
        "model": "llama-3.1-70b",
        "quant": "fp8",
        "engine": "vllm",
        "machine": {"hardware": "nvidia-h100-sxm", "devices": 8, "parallel": "tp=4,pp=2"},
        "workload": {"arrival": "poisson", "rate_rps": 6, "requests": 300},
    },
    "mac_cluster_pp": {
        "model": "deepseek-r1",
        "quant": "q8_0",
        "engine": "llama.cpp",
        "machine": {"hardware": "apple-m3-ultra-80c", "memory_gb": 512, "nodes": 2, "link": "thunderbolt5"},
        "workload": {
            "arrival": "closed",
            "concurrency": 2,
            "requests": 20,
            "prompt": {"mean": 500},
            "output": {"mean": 100},
        },
    },
    "offload_experts": {
        "model": "deepseek-r1",
        "quant": "q4_k_m",
        "engine": "llama.cpp",
        "machine": {"hardware": "nvidia-rtx-pro-6000", "host": "amd-epyc-9004-genoa", "offload": "experts"},
        "workload": {
            "arrival": "closed",
            "concurrency": 1,
            "requests": 10,
            "prompt": {"mean": 300},
            "output": {"mean": 50},
        },
    },
    "tight_stuck_prefills": {
        **TIGHT,
        "scheduler": {"max_num_batched_tokens": 2048, "max_num_seqs": 8},
        "workload": {
            "arrival": "poisson",
            "rate_rps": 5,
            "requests": 200,
            "seed": 1,
            "prompt": {"dist": "uniform", "min": 8000, "max": 45000},
            "output": {"dist": "uniform", "min": 1, "max": 400},
        },
    },
    "one_token_outputs": {
        **H100,
        "workload": {
            "arrival": "poisson",
            "rate_rps": 50,
            "requests": 300,
            "output": {"dist": "uniform", "min": 1, "max": 3},
        },
    },
    "llama2_context_rejects": {
        "model": "llama-2-7b",
        "quant": "f16",
        "engine": "vllm",
        "machine": {"hardware": "nvidia-a100-80gb-sxm"},
        "workload": {
            "arrival": "poisson",
            "rate_rps": 5,
            "requests": 300,
            "prompt": {"dist": "uniform", "min": 100, "max": 5000},
        },
    },
    "static_swa_rejects": {
        "model": "mistral-7b",
        "quant": "bf16",
        "engine": "vllm",
        "machine": {"hardware": "nvidia-rtx-4090"},
        "scheduler": {"batching": "static", "static_batch": 16, "static_timeout_s": 0.3},
        "workload": {
            "arrival": "poisson",
            "rate_rps": 4,
            "requests": 300,
            "prompt": {"dist": "lognormal", "mean": 6000, "cv": 1.5, "max": 30000},
            "output": {"dist": "uniform", "min": 1, "max": 800},
        },
    },
    "trtllm_defaults_8k": {
        "model": "llama-3.1-70b",
        "quant": "fp8",
        "engine": "tensorrt-llm",
        "machine": {"hardware": "nvidia-h200-sxm", "devices": 2},
        "workload": {
            "arrival": "closed",
            "concurrency": 32,
            "requests": 96,
            "prompt": {"mean": 8192},
            "output": {"mean": 256},
        },
    },
    "kv_holds_one": {
        "model": "llama-3.1-70b",
        "quant": "fp8",
        "engine": "vllm",
        "machine": {"hardware": "nvidia-h100-sxm"},
        "workload": {
            "arrival": "poisson",
            "rate_rps": 0.5,
            "requests": 30,
            "prompt": {"mean": 16000},
            "output": {"mean": 200},
        },
    },
    "slots_one": {
        "model": "llama-3.1-8b",
        "quant": "q4_k_m",
        "engine": "llama.cpp",
        "machine": {"hardware": "apple-m2-ultra-76c"},
        "scheduler": {"batching": "slots", "n_parallel": 1},
        "workload": {
            "arrival": "poisson",
            "rate_rps": 1,
            "requests": 50,
            "prompt": {"mean": 1000},
            "output": {"mean": 100},
        },
    },
    "static_kv_rejects": {
        **TIGHT,
        "scheduler": {"batching": "static", "static_batch": 16, "static_timeout_s": 0.3},
        "workload": {
            "arrival": "poisson",
            "rate_rps": 4,
            "requests": 100,
            "prompt": {"dist": "uniform", "min": 100, "max": 60000},
            "output": {"dist": "uniform", "min": 1, "max": 800},
        },
    },
    "slo_goodput": {
        **H100,
        "slo": {"ttft_p95_s": 0.2, "tpot_p95_ms": 30, "e2e_p95_s": 8},
        "workload": {"arrival": "poisson", "rate_rps": 45, "requests": 600},
    },
}


def digest(obj) -> str:
    """SHA-256 of the JSON text (floats as their exact repr, NaN as NaN)."""
    return hashlib.sha256(json.dumps(obj, allow_nan=True).encode()).hexdigest()


def fingerprint(catalog, scenario) -> dict:
    """What a golden file holds for one scenario: summary and hashes of every record and step."""
    from planner.sim.engine import REQUEST_COLUMNS, TIMELINE_COLUMNS, simulate_scenario

    res = simulate_scenario(catalog, scenario)
    steps = [[r[k] for k in TIMELINE_COLUMNS] for r in res.timeline]
    return {
        "summary": res.summary,
        "requests_sha256": digest([res.columns[k] for k in REQUEST_COLUMNS]),
        "timeline_sha256": digest(steps),
        "timeline_rows": len(steps),
    }


def all_cases() -> dict:
    """name -> scenario (validated), the suite's workloads first."""
    from planner.sim.bench import SUITE, suite_scenario
    from planner.sim.scenario import parse_scenario

    out = {f"suite_{name}": suite_scenario(name, SUITE_REQUESTS, timeline_points=1_000_000) for name in SUITE}
    for name, data in CASES.items():
        out[name] = parse_scenario({**data, "timeline_points": 1_000_000})
    return out


def write(directory: Path = HERE) -> list[str]:
    """Simulate every case and write its golden file (old files removed); returns one line per case."""
    from planner.catalog.loader import load_catalog

    cat = load_catalog()
    for old in directory.glob("*.json"):
        old.unlink()
    lines = []
    for name, sc in all_cases().items():
        rec = {
            "name": name,
            "regenerate": "python -m tests.golden",
            "scenario": sc.model_dump(mode="json"),
            **fingerprint(cat, sc),
        }
        (directory / f"{name}.json").write_text(json.dumps(rec, indent=1, allow_nan=True) + "\n")
        lines.append(f"{name}: {rec['summary']['completed']} completed, {rec['timeline_rows']} steps")
    return lines
