"""The scenarios the app opens with: the default (DeepSeek R1 671B on the machines a buyer weighs), the
version-1 default that old links are read against, the presets, and the stack a buyer would run on a
hardware (`default_stack`), used for a new option.  No Streamlit here."""

from __future__ import annotations

from typing import Any

from planner.catalog.loader import Catalog
from planner.errors import CatalogError, ScenarioError
from planner.model.predict import predict
from planner.sim.scenario import Machine, Scenario, parse_scenario

# The app opens on DeepSeek R1 671B on the machines a buyer would weigh, each with the stack its owner
# would run: a Mac Studio M3 Ultra 512 GB and two of them over Thunderbolt 5 with llama.cpp Q4_K_M, an
# 8x H200 server with SGLang FP8 and an 8x MI300X server with vLLM FP8 (all four fit; `python -m planner
# predict`).  The scenario-level quant/engine are option 1's; each option states its own stack.
_R1 = {
    "model": "deepseek-r1",
    "quant": "q4_k_m",
    "engine": "llama.cpp",
    "machine": {"hardware": "apple-m3-ultra-80c", "memory_gb": 512, "quant": "q4_k_m", "engine": "llama.cpp"},
    "compare": [
        {
            "hardware": "apple-m3-ultra-80c",
            "memory_gb": 512,
            "nodes": 2,
            "link": "thunderbolt5",
            "quant": "q4_k_m",
            "engine": "llama.cpp",
        },
        {"hardware": "nvidia-h200-sxm", "devices": 8, "quant": "fp8", "engine": "sglang"},
        {"hardware": "amd-mi300x", "devices": 8, "quant": "fp8", "engine": "vllm"},
    ],
    "workload": {
        "arrival": "closed",
        "concurrency": 4,
        "requests": 400,
        "prompt": {"mean": 512},
        "output": {"mean": 256},
    },
    "slo": {"ttft_p95_s": 10, "tpot_p95_ms": 150},
}


DEFAULT = _R1


# The default of version-1 links (one stack for every option): a v=1 link holds only its differences from
# this, so links.decode reads v=1 links against it (and migrates them; see links.py).
DEFAULT_V1 = {
    "model": "deepseek-r1",
    "quant": "q4_k_m",
    "engine": "llama.cpp",
    "machine": {"hardware": "apple-m3-ultra-80c", "memory_gb": 512},
    "compare": [
        {"hardware": "nvidia-h100-sxm", "devices": 8},
        {"hardware": "nvidia-h200-sxm", "devices": 4},
        {"hardware": "nvidia-rtx-pro-6000", "devices": 8},
    ],
    "workload": {
        "arrival": "closed",
        "concurrency": 4,
        "requests": 400,
        "prompt": {"mean": 512},
        "output": {"mean": 256},
    },
    "slo": {"ttft_p95_s": 10, "tpot_p95_ms": 150},
    "cost": {"pue": 1.0, "utilization": 1.0},  # version 1 costed continuous use at the simulated load, no PUE
}


PRESETS: dict[str, dict[str, Any]] = {
    "r1": {
        "title": "DeepSeek R1 671B",
        "caption": (
            "DeepSeek R1 671B: Mac Studio M3 Ultra 512 GB (llama.cpp Q4_K_M), 2x Mac Studio over "
            "Thunderbolt 5, 8x H200 (SGLang FP8), 8x MI300X (vLLM FP8)"
        ),
        "note": (
            "Each machine runs the stack its owner would: the Macs a 4-bit GGUF with llama.cpp (two Macs split "
            "the layers over Thunderbolt 5), the GPU servers FP8 with tensor parallelism. Four users in a "
            "closed loop, 512-token prompts, 256-token answers."
        ),
        "scenario": _R1,
    },
    "llama70b-team": {
        "title": "Llama 3.3 70B for a team of 20",
        "caption": (
            "Llama 3.3 70B for a team of 20: Mac Studio M3 Ultra (MLX 4-bit), RTX PRO 6000 (vLLM FP8), "
            "2x RTX 5090 (llama.cpp Q4_K_M), DGX Spark"
        ),
        "note": (
            "Twenty people, each sending a 2,000-token prompt and reading a 400-token answer, then thinking "
            "for 30 s on average before the next (closed loop). Llama 3.3 70B has Llama 3.1 70B's "
            "architecture (same catalog profile). The DGX Spark runs what a buyer would choose for it "
            "(the option's default stack)."
        ),
        "scenario": {
            "model": "llama-3.1-70b",
            "quant": "mlx-4bit",
            "engine": "mlx",
            "machine": {"hardware": "apple-m3-ultra-60c", "memory_gb": 96, "quant": "mlx-4bit", "engine": "mlx"},
            "compare": [
                {"hardware": "nvidia-rtx-pro-6000", "quant": "fp8", "engine": "vllm"},
                {"hardware": "nvidia-rtx-5090", "devices": 2, "quant": "q4_k_m", "engine": "llama.cpp"},
                {"hardware": "nvidia-dgx-spark", "quant": "fp8", "engine": "vllm"},
            ],
            "workload": {
                "arrival": "closed",
                "concurrency": 20,
                "think_time_s": 30,
                "requests": 400,
                "prompt": {"mean": 2000},
                "output": {"mean": 400},
            },
            "slo": {"ttft_p95_s": 10, "tpot_p95_ms": 150},
        },
    },
    "one-developer": {
        "title": "One developer, 8-32B models",
        "caption": "One developer, 8-32B models: MacBook Pro M4 Max, RTX 5090, Strix Halo",
        "note": (
            "One person coding against a local model: Qwen3 30B-A3B (a 30B mixture of experts), 4,000-token "
            "prompts, 500-token answers, one request at a time. MacBook Pro M4 Max 128 GB with MLX 4-bit (its "
            "scheduler override prefills the prompt in chunks, as mlx_lm does in 2,048-token steps), "
            "RTX 5090 and Strix Halo (Ryzen AI Max+ 395, 128 GB) with llama.cpp Q4_K_M."
        ),
        "scenario": {
            "model": "qwen3-30b-a3b",
            "quant": "mlx-4bit",
            "engine": "mlx",
            "machine": {
                "hardware": "apple-m4-max-40c",
                "memory_gb": 128,
                "quant": "mlx-4bit",
                "engine": "mlx",
                # mlx_lm prefills long prompts in steps of prefill_step_size (2048) tokens
                "scheduler": {"chunked_prefill": True},
            },
            "compare": [
                {"hardware": "nvidia-rtx-5090", "quant": "q4_k_m", "engine": "llama.cpp"},
                {"hardware": "amd-ryzen-ai-max-395", "quant": "q4_k_m", "engine": "llama.cpp"},
            ],
            "workload": {
                "arrival": "closed",
                "concurrency": 1,
                "requests": 100,
                "prompt": {"mean": 4000},
                "output": {"mean": 500},
            },
            "slo": {"ttft_p95_s": 5, "tpot_p95_ms": 50},
        },
    },
}


def preset_scenario(name: str) -> Scenario:
    return parse_scenario(PRESETS[name]["scenario"])


def preset_of(sc: Scenario) -> str | None:
    """The preset whose model, stacks and machine options `sc` has (None if none)."""
    for name in PRESETS:
        p = preset_scenario(name)
        if (
            sc.model == p.model
            and [sc.stack(i) for i in range(len(sc.options()))] == [p.stack(i) for i in range(len(p.options()))]
            and [m.hardware for m in sc.options()] == [m.hardware for m in p.options()]
            and [(m.devices, m.nodes, m.memory_gb) for m in sc.options()]
            == [(m.devices, m.nodes, m.memory_gb) for m in p.options()]
        ):
            return name
    return None


# hardware offered when the user adds an option (the first not already present); its stack is the
# hardware's default (`default_stack`)
SPARE_OPTIONS = [
    {"hardware": "nvidia-b200", "devices": 4},
    {"hardware": "nvidia-h100-sxm", "devices": 8},
    {"hardware": "nvidia-rtx-pro-6000", "devices": 8},
    {"hardware": "amd-mi300x", "devices": 4},
    {"hardware": "apple-m3-ultra-80c", "memory_gb": 256},
]


def hardware_class(hw) -> str:
    """'apple', 'datacenter' (NVIDIA/AMD data-centre parts) or 'desktop' (GeForce, workstation RTX, Radeon,
    DGX Spark, Strix Halo): what decides the stack a buyer would run."""
    if hw.vendor == "apple":
        return "apple"
    name = hw.name.lower()
    if hw.memory == "unified" or any(k in name for k in ("rtx", "geforce", "radeon", "ryzen")):
        return "desktop"
    return "datacenter"


def default_stack(cat: Catalog, sc: Scenario, m: Machine) -> dict:
    """The stack a buyer would run on this hardware for the scenario's model: Apple, llama.cpp Q4_K_M;
    data-centre GPUs, vLLM with FP8 where the chip has FP8 tensor cores (else BF16); GeForce and
    workstation cards, vLLM FP8 where it loads the model (NVIDIA with FP8), else llama.cpp Q4_K_M."""
    hw = cat.hardware.get(m.hardware)
    if hw is None:
        return {"quant": sc.quant, "engine": sc.engine}
    cls = hardware_class(hw)
    if cls == "apple":
        return {"quant": "q4_k_m", "engine": "llama.cpp"}
    fp8 = "fp8" in hw.tflops
    if cls == "datacenter":
        return {"quant": "fp8" if fp8 else "bf16", "engine": "vllm"}
    if hw.vendor == "nvidia" and fp8:
        try:
            pr = predict(
                cat,
                hardware=m.hardware,
                model=sc.model,
                quant="fp8",
                engine="vllm",
                memory_gb=m.memory_gb,
                devices=m.devices,
                prompt=512,
                gen=1,
                nodes=m.nodes,
                link=m.link,
            )
            if pr["fits"]:
                return {"quant": "fp8", "engine": "vllm"}
        except (CatalogError, ScenarioError):
            pass
    return {"quant": "q4_k_m", "engine": "llama.cpp"}


def default_scenario() -> Scenario:
    return parse_scenario(DEFAULT)


def default_scenario_v1() -> Scenario:
    """Version 1's default (what v=1 links and CSVs are relative to), as a version 2 scenario."""
    return parse_scenario(DEFAULT_V1)


def spare_option(sc: Scenario, cat: Catalog | None = None) -> Machine:
    """A new option: the first spare hardware not already present, with its default stack."""
    have = {(m.hardware, m.devices) for m in sc.options()}
    for o in SPARE_OPTIONS:
        if (o["hardware"], o.get("devices", 1)) not in have:
            m = Machine(**o)
            if cat is not None:
                m = m.model_copy(update=default_stack(cat, sc, m))
            return m
    return sc.options()[-1].model_copy()
