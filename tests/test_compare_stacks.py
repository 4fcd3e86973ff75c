"""Each machine option's own stack: defaults by hardware class, labels, simulate runs option 1's stack."""

import pytest

from planner.sim.engine import simulate_scenario
from planner.sim.scenario import Machine, parse_scenario
from planner.webapp.compare import evaluate_option, option_label
from planner.webapp.defaults import default_stack, preset_scenario, spare_option


@pytest.mark.parametrize(
    "model,hw,devices,want",
    [
        ("llama-3.1-70b", "apple-m3-ultra-80c", 1, ("q4_k_m", "llama.cpp")),
        ("deepseek-r1", "nvidia-h200-sxm", 8, ("fp8", "vllm")),
        ("deepseek-r1", "amd-mi300x", 8, ("fp8", "vllm")),
        ("llama-3.1-70b", "nvidia-a100-80gb-sxm", 2, ("bf16", "vllm")),  # no FP8 tensor cores
        ("llama-3.1-70b", "nvidia-dgx-spark", 1, ("fp8", "vllm")),  # FP8 loads into 128 GB
        ("llama-3.1-70b", "nvidia-rtx-5090", 2, ("q4_k_m", "llama.cpp")),  # FP8 does not fit 2 x 32 GB
        ("llama-3.1-8b", "nvidia-rtx-5090", 1, ("fp8", "vllm")),
        ("llama-3.1-8b", "amd-rx-7900-xtx", 1, ("q4_k_m", "llama.cpp")),
        ("qwen3-30b-a3b", "amd-ryzen-ai-max-395", 1, ("q4_k_m", "llama.cpp")),
    ],
)
def test_default_stack_by_hardware_class(cat, model, hw, devices, want):
    sc = parse_scenario(
        {
            "model": model,
            "quant": "q8_0",
            "engine": "llama.cpp",
            "machine": {"hardware": hw},
            "workload": {"rate_rps": 1},
        }
    )
    d = default_stack(cat, sc, Machine(hardware=hw, devices=devices))
    assert (d["quant"], d["engine"]) == want


def test_a_new_option_gets_its_hardwares_default_stack(cat):
    sc = preset_scenario("r1")
    m = spare_option(sc, cat)
    assert m.hardware == "nvidia-b200" and (m.quant, m.engine) == ("fp8", "vllm")


def test_labels_name_the_stack(cat):
    sc = preset_scenario("r1")
    labels = [option_label(i, m, cat, sc) for i, m in enumerate(sc.options())]
    assert labels[2] == "3: 8x H200 SXM · SGLang · FP8" and labels[3] == "4: 8x MI300X · vLLM · FP8"
    assert labels[0] == "1: M3 Ultra 80c 512 GB · llama.cpp · Q4_K_M"
    assert (
        option_label(0, Machine(hardware="apple-m4-max-40c", memory_gb=128, quant="mlx-4bit", engine="mlx"), cat)
        == "1: M4 Max 40c 128 GB · MLX · 4-bit"
    )


def test_simulate_runs_option_1_with_its_own_stack(cat):
    base = {
        "model": "llama-3.1-8b",
        "quant": "q4_k_m",
        "engine": "llama.cpp",
        "workload": {"arrival": "closed", "concurrency": 4, "requests": 100},
    }
    own = parse_scenario({**base, "machine": {"hardware": "nvidia-h100-sxm", "quant": "fp8", "engine": "vllm"}})
    flat = parse_scenario({**base, "quant": "fp8", "engine": "vllm", "machine": {"hardware": "nvidia-h100-sxm"}})
    assert simulate_scenario(cat, own).summary == simulate_scenario(cat, flat).summary
    o = evaluate_option(cat, own, 0)
    assert (o["quant"], o["engine"]) == ("fp8", "vllm") and "vLLM · FP8" in o["label"]


def test_option_scheduler_overrides_merge_over_the_scenarios(cat):
    sc = parse_scenario(
        {
            "model": "llama-3.1-8b",
            "quant": "fp8",
            "engine": "vllm",
            "scheduler": {"max_num_seqs": 64, "chunked_prefill": False},
            "machine": {"hardware": "nvidia-h100-sxm", "scheduler": {"max_num_seqs": 8}},
            "compare": [{"hardware": "nvidia-l40s"}],
            "workload": {"arrival": "closed", "concurrency": 16, "requests": 100},
        }
    )
    one, two = sc.for_option(0), sc.for_option(1)
    assert (one.scheduler.max_num_seqs, one.scheduler.chunked_prefill) == (8, False)
    assert (two.scheduler.max_num_seqs, two.scheduler.chunked_prefill) == (64, False)
    res = simulate_scenario(cat, sc)
    assert max(r["batch"] for r in res.timeline) <= 8


def test_markdown_summary_holds_scenario_table_assumptions_and_sources(cat):
    from planner.webapp.compare import compare, markdown_summary, summary_rows

    sc = preset_scenario("one-developer")
    res = compare(cat, sc)
    md = markdown_summary(cat, sc, res, "http://example.org/?v=2&x=1")
    assert md.startswith("# Qwen3 30B-A3B: 3 machine options") and "http://example.org/?v=2&x=1" in md
    for r in summary_rows(res):
        assert f"| {r['machine']} | yes |" in md
    assert "## Assumptions" in md and "PUE 1.3" in md and "50%" in md
    assert md.count("- calibration `") == 3 and "https://" in md  # each option's sources
    assert "None" not in md
    broken = [dict(res[0], sim=None, throughput_tok_s=None, usd_per_mtok=None, tokens_per_joule=None)]
    assert "| — |" in markdown_summary(cat, sc.model_copy(update={"compare": []}), broken)


def test_an_unpriced_option_has_no_usd_per_mtok_only_its_energy_share(cat):
    """Two 96 GB Mac Studios over Thunderbolt 5 have no sourced price: their $/Mtok is unknown (None, "—"), never
    the energy share alone (which would read as the cheapest option); the share is carried apart and marked."""
    from planner.webapp.compare import compare, markdown_summary, summary_rows

    sc = parse_scenario(
        {
            "model": "llama-3.1-70b",
            "quant": "q4_k_m",
            "engine": "llama.cpp",
            "machine": {"hardware": "apple-m3-ultra-80c", "memory_gb": 96, "nodes": 2, "link": "thunderbolt5"},
            "compare": [{"hardware": "nvidia-h100-sxm", "devices": 2, "quant": "fp8", "engine": "vllm"}],
            "workload": {"arrival": "closed", "concurrency": 2, "requests": 20},
        }
    )
    res = compare(cat, sc)
    mac, h100 = summary_rows(res)
    assert mac["price_usd"] is None and mac["usd_per_mtok"] is None and mac["usd_per_mtok_energy"] > 0
    assert h100["usd_per_mtok"] > h100["usd_per_mtok_energy"] > 0
    assert "energy share only" in res[0]["cost_note"]
    md = markdown_summary(cat, sc, res)
    mac_line = next(ln for ln in md.splitlines() if ln.startswith(f"| {mac['machine']} |"))
    assert f"| — | {mac['usd_per_mtok_energy']:,.2f} (energy only: no price) |" in mac_line
