"""Serving mechanisms of the simulator (each switchable off), starvation warnings, trtllm-bench
sizing, and how serve rows of the calibration data are read."""

import math

import pytest

from planner.model.calibration import parse_rows
from planner.model.perf import build_system
from planner.sim.engine import resolve, simulate_scenario, trtllm_bench_sizing
from planner.sim.scenario import parse_scenario
from planner.validate.serve import row_scenario, simulated_value


def run(cat, **kw):
    sc = {
        "model": "llama-3.1-8b",
        "quant": "fp8",
        "engine": "vllm",
        "machine": {"hardware": "nvidia-h100-sxm"},
        "workload": {
            "arrival": "closed",
            "concurrency": 64,
            "requests": 256,
            "prompt": {"dist": "fixed", "mean": 512},
            "output": {"dist": "fixed", "mean": 256},
        },
    }
    for key, val in kw.items():
        part, _, field = key.partition("__")
        if field:
            sc.setdefault(part, {})[field] = val
        else:
            sc[part] = val
    return simulate_scenario(cat, parse_scenario(sc)).summary


# --------------------------------------------------------------------------- starvation

TRT_70B_8K = dict(
    model="llama-3.1-70b",
    engine="tensorrt-llm",
    machine={"hardware": "nvidia-h200-sxm", "devices": 2},
    workload={
        "arrival": "closed",
        "concurrency": 32,
        "requests": 96,
        "prompt": {"dist": "fixed", "mean": 8192},
        "output": {"dist": "fixed", "mean": 256},
    },
)


def test_trtllm_defaults_starve_8k_prompts_and_warn(cat):
    """max_num_tokens 8192 with chunked prefill off: an 8,192-token prompt never shares a step,
    so requests run one at a time; the summary says so and names the fix."""
    s = run(cat, **TRT_70B_8K)
    assert s["scheduler"]["chunked_prefill"] is False and s["scheduler"]["max_num_batched_tokens"] == 8192
    assert any("one at a time" in w and "sizing = workload" in w for w in s["warnings"])
    assert s["mean_in_system"] > 20  # 32 users, but ...
    tpot_alone = s["tpot_ms"]["p50"]
    # ... each request decodes alone: throughput ~ one stream
    assert s["throughput_tok_s"] < 2.0 * 1000.0 / tpot_alone


def test_trtllm_bench_sizing_models_the_deployment(cat):
    starved = run(cat, **TRT_70B_8K)
    sized = run(cat, **TRT_70B_8K, scheduler={"sizing": "workload"})
    assert sized["warnings"] == []
    assert sized["scheduler"]["chunked_prefill"] is True
    assert sized["throughput_tok_s"] > 5 * starved["throughput_tok_s"]


def test_trtllm_bench_rule(cat):
    """finetune_setting's rounding (TensorRT-LLM tensorrt_llm/bench/build/tuning.py) on this planner's KV capacity."""
    sys, _ = resolve(
        cat,
        parse_scenario(
            {
                "model": TRT_70B_8K["model"],
                "quant": "fp8",
                "engine": "tensorrt-llm",
                "machine": TRT_70B_8K["machine"],
                "workload": TRT_70B_8K["workload"],
            }
        ),
    )
    bs, tok = trtllm_bench_sizing(sys, 8192, 256)
    raw = min(sys.memory.kv_capacity_bytes() / sys.kv_bytes(8192 + 256), 4096)
    assert bs >= raw and (bs == 64 or bs - raw < 128) and bs % 32 == 0
    raw_tok = min(raw * (1 + 8192 / 256), 32768)
    assert tok >= raw_tok and tok - raw_tok < 1024 and tok >= 2048
    # small prompts, lots of KV: capped at 4096 sequences and 32768 tokens
    sys8, _ = resolve(
        cat,
        parse_scenario(
            {
                "model": "llama-3.1-8b",
                "quant": "fp8",
                "engine": "tensorrt-llm",
                "machine": {"hardware": "nvidia-h200-sxm"},
                "workload": {"arrival": "closed", "concurrency": 1},
            }
        ),
    )
    assert trtllm_bench_sizing(sys8, 128, 128) == (4096, 8192)


def test_kv_cache_holding_one_request_warns(cat):
    s = run(
        cat,
        machine={"hardware": "nvidia-h100-sxm", "usable_memory_gb": 20},
        workload={
            "arrival": "closed",
            "concurrency": 2,
            "requests": 4,
            "prompt": {"dist": "fixed", "mean": 100_000},
            "output": {"dist": "fixed", "mean": 64},
        },
    )
    assert any("KV cache holds" in w and "only one request" in w for w in s["warnings"])


def test_no_warning_for_a_healthy_setting(cat):
    assert run(cat)["warnings"] == []


# --------------------------------------------------------------------------- mechanisms on/off


def test_cpu_overhead_slows_big_batches_not_one_request(cat):
    on, off = run(cat), run(cat, scheduler={"cpu_overhead": False})
    assert on["mechanisms"]["cpu_overhead_us_per_seq"] > 0 and off["mechanisms"]["cpu_overhead_us_per_seq"] == 0
    assert on["throughput_tok_s"] < off["throughput_tok_s"]
    one = dict(
        workload={
            "arrival": "closed",
            "concurrency": 1,
            "requests": 1,
            "prompt": {"dist": "fixed", "mean": 512},
            "output": {"dist": "fixed", "mean": 64},
        }
    )
    assert run(cat, **one)["tpot_ms"] == run(cat, **one, scheduler={"cpu_overhead": False})["tpot_ms"]


def test_overlapped_cpu_costs_less_than_serial(cat):
    """SGLang overlaps its CPU work with the GPU step: the same per-sequence cost slows it less
    than it slows an engine that runs them in turn."""
    base = dict(engine="sglang", scheduler={"cuda_graphs": False})
    on, off = run(cat, **base), run(cat, engine="sglang", scheduler={"cuda_graphs": False, "cpu_overhead": False})
    assert on["mechanisms"]["cpu_overlap"] is True
    assert on["throughput_tok_s"] <= off["throughput_tok_s"]
    serial_loss = (
        1
        - run(cat, scheduler={"cuda_graphs": False})["throughput_tok_s"]
        / run(cat, scheduler={"cuda_graphs": False, "cpu_overhead": False})["throughput_tok_s"]
    )
    assert 1 - on["throughput_tok_s"] / off["throughput_tok_s"] < serial_loss


def test_cuda_graph_padding_costs_compute_at_large_batches(cat):
    """257 decoding sequences run as vLLM's captured size 272: compute-bound steps get slower."""
    wl = {
        "arrival": "closed",
        "concurrency": 257,
        "requests": 257,
        "prompt": {"dist": "fixed", "mean": 16},
        "output": {"dist": "fixed", "mean": 256},
    }
    on = run(cat, workload=wl, scheduler={"cpu_overhead": False})
    off = run(cat, workload=wl, scheduler={"cpu_overhead": False, "cuda_graphs": False})
    assert on["mechanisms"]["cuda_graph_padding"] and not off["mechanisms"]["cuda_graph_padding"]
    assert on["throughput_tok_s"] < off["throughput_tok_s"]


def test_prefix_caching_skips_the_shared_prefix(cat):
    wl = {
        "arrival": "poisson",
        "rate_rps": 20,
        "requests": 200,
        "prompt": {"dist": "fixed", "mean": 2048},
        "output": {"dist": "fixed", "mean": 64},
        "shared_prefix_tokens": 1900,
    }
    on, off = run(cat, workload=wl), run(cat, workload=wl, scheduler={"prefix_caching": False})
    assert on["mechanisms"]["prefix_caching"] and not off["mechanisms"]["prefix_caching"]
    assert on["ttft_ms"]["p50"] < 0.5 * off["ttft_ms"]["p50"]
    assert on["kv_peak_fraction"] < off["kv_peak_fraction"]
    assert on["completed"] == off["completed"] == 200
    # no shared prefix: nothing changes
    wl0 = {**wl, "shared_prefix_tokens": 0}
    assert run(cat, workload=wl0)["ttft_ms"] == run(cat, workload=wl0, scheduler={"prefix_caching": False})["ttft_ms"]


def test_prefix_caching_under_kv_pressure_keeps_invariants(cat):
    """Preemption and re-admission with shared prefix blocks: every request completes, KV use stays <= 1."""
    s = run(
        cat,
        machine={"hardware": "nvidia-h100-sxm", "usable_memory_gb": 14},
        workload={
            "arrival": "closed",
            "concurrency": 200,
            "requests": 400,
            "prompt": {"dist": "uniform", "min": 600, "max": 3000},
            "output": {"dist": "fixed", "mean": 300},
            "shared_prefix_tokens": 512,
        },
    )
    assert s["completed"] == 400 and s["kv_peak_fraction"] <= 1.0 + 1e-9


def test_mla_cache_latent_vs_expanded(cat):
    """(On the roofline: NVIDIA's MLA tables measured the latent cache only, so an expanded cache
    falls back to the roofline and the two would be priced by different providers.)"""
    from planner.model.kernels import use_provider

    with use_provider("roofline"):
        _mla_latent_vs_expanded(cat)


def _mla_latent_vs_expanded(cat):
    lat = build_system(cat, "nvidia-h200-sxm", "deepseek-r1", "fp8", "sglang", devices=8)
    exp = build_system(cat, "nvidia-h200-sxm", "deepseek-r1", "fp8", "sglang", devices=8, mla_cache="expanded")
    m = lat.deployment.model
    assert lat.kv_full_per_token == pytest.approx(
        m.num_layers * (m.kv_lora_rank + m.qk_rope_head_dim) * lat.memory.kv_bytes_per_element * 8
    )  # latent replicated on 8 ranks
    assert exp.kv_full_per_token == pytest.approx(
        m.num_layers * m.num_heads * (192 + 128) * exp.memory.kv_bytes_per_element
    )
    assert exp.memory.max_sequences(4096) < lat.memory.max_sequences(4096)
    assert float(exp.step.decode_times(8192, 1)[0]) > float(lat.step.decode_times(8192, 1)[0])
    sc = dict(
        model="deepseek-r1",
        engine="sglang",
        machine={"hardware": "nvidia-h200-sxm", "devices": 8},
        workload={
            "arrival": "closed",
            "concurrency": 4,
            "requests": 8,
            "prompt": {"dist": "fixed", "mean": 8192},
            "output": {"dist": "fixed", "mean": 32},
        },
    )
    a, b = run(cat, **sc), run(cat, **sc, scheduler={"mla_cache": "expanded"})
    assert a["mechanisms"]["mla_cache"] == "latent" and b["mechanisms"]["mla_cache"] == "expanded"
    assert b["tpot_ms"]["mean"] > a["tpot_ms"]["mean"]


def test_mechanisms_deterministic(cat):
    wl = {
        "arrival": "poisson",
        "rate_rps": 30,
        "requests": 300,
        "prompt": {"dist": "lognormal", "mean": 800},
        "output": {"dist": "lognormal", "mean": 200},
        "shared_prefix_tokens": 256,
        "seed": 7,
    }
    for eng in ("vllm", "sglang"):
        assert run(cat, engine=eng, workload=wl) == run(cat, engine=eng, workload=wl)


# --------------------------------------------------------------------------- serve rows

HEADER = (
    "id,hardware_id,devices,model_id,quant_id,engine_id,mode,batch_or_concurrency,prompt_tokens,gen_tokens,"
    "metric,value,unit,confidence,source,notes\n"
)


def rows(*lines):
    return parse_rows(HEADER + "\n".join(lines) + "\n")


def test_serve_row_mapping():
    r = rows(
        "A,nvidia-h100-sxm,2,llama-2-70b,fp8,tensorrt-llm,serve,96,2048,128,throughput_tok_s,306,"
        "output tok/s PER GPU (static batch),normal,x,gptSessionBenchmark static batch",
        'B,nvidia-h100-sxm,1,llama-3.1-8b,fp8,tensorrt-llm,serve,"max (offline, infinite rate)",128,128,'
        "throughput_tok_s,28312,output tok/s (all GPUs),normal,x,trtllm-bench throughput",
        "C,nvidia-h200-sxm,1,llama-3.1-8b,bf16,sglang,serve,rate 16 (random in<=1024 out<=512),,,throughput_tok_s,"
        '5355,"output tok/s, whole server",low,x,sglang.bench_serving --num-prompts 200',
        'D,amd-mi300x,8,llama-3.1-70b,fp8,vllm,serve,"max (offline, infinite rate)",2048,2048,throughput_tok_s,'
        "7354,tok/s TOTAL (prompt+output),low,x,(Num Prompts = Max Num Seqs = 500) --enable-chunked-prefill False "
        "--max-num-batched-tokens 131072",
        "E,nvidia-a100-80gb-sxm,1,qwen3-30b-a3b,bf16,vllm,serve,1,1024,128,tpot_ms,9.8,ms,low,x,y",
        "F,nvidia-a100-80gb-sxm,1,llama-2-7b,f16,tensorrt-llm,serve,1,2048,1,ttft_ms,133,ms,normal,x,prefill",
        "G,nvidia-h100-sxm,8,llama-2-70b,fp8,tensorrt-llm,serve,Offline,,,throughput_tok_s,24524,tok/s,normal,x,"
        "MLPerf Inference v4.1 OpenOrca",
    )
    a, how = row_scenario(r[0])
    assert a["scheduler"]["batching"] == "static" and a["scheduler"]["static_batch"] == 96 and "static" in how
    assert simulated_value(r[0], {"throughput_tok_s": 1000.0}) == 500.0  # per GPU over 2 GPUs
    b, how = row_scenario(r[1])
    assert b["scheduler"] == {"sizing": "workload"} and b["workload"]["rate_rps"] >= 1e6
    c, _ = row_scenario(r[2])
    assert c["workload"]["arrival"] == "poisson" and c["workload"]["requests"] == 200
    assert c["workload"]["prompt"] == {"dist": "uniform", "min": 1, "max": 1024}
    d, how = row_scenario(r[3])
    assert d["scheduler"] == {"max_num_batched_tokens": 131072, "chunked_prefill": False, "max_num_seqs": 500}
    assert d["workload"]["requests"] == 500
    assert simulated_value(r[3], {"throughput_tok_s": 1000.0}) == 2000.0  # total tokens = 2 x output here
    e, _ = row_scenario(r[4])
    assert e["workload"]["concurrency"] == 1
    assert simulated_value(r[4], {"tpot_ms": {"mean": 9.0, "p50": 8.0}}) == 9.0
    assert row_scenario(r[5])[0] is None  # a single prefill: `validate` handles it
    none, why = row_scenario(r[6])
    assert none is None and "MLPerf" in why


def test_serve_rows_run_end_to_end(cat):
    from planner.validate.serve import validate_serve

    r = rows(
        'B,nvidia-h100-sxm,1,llama-3.1-8b,fp8,tensorrt-llm,serve,"max (offline, infinite rate)",128,128,'
        "throughput_tok_s,28312,output tok/s (all GPUs),normal,x,trtllm-bench throughput",
        "E,nvidia-a100-80gb-sxm,1,qwen3-30b-a3b,bf16,vllm,serve,1,1024,128,tpot_ms,9.8,ms,low,x,y",
    )
    res = validate_serve(cat, r, requests=300)
    assert [x["id"] for x in res["rows"]] == ["B", "E"]
    assert res["summary"]["rows"] == 1 and res["summary"]["by_metric"]["tpot_ms"]["all"]["rows"] == 1
    assert all(math.isfinite(x["error_pct"]) for x in res["rows"])
    off = validate_serve(cat, r, requests=300, overrides={"cpu_overhead": False})
    assert off["rows"][0]["predicted"] >= res["rows"][0]["predicted"]


def test_engine_defaults_follow_gpu_memory(cat):
    """vLLM's OpenAI-server defaults: 1024 / 8192 on >= 70 GiB GPUs other than A100, else 256 / 2048;
    SGLang's chunked prefill size by memory bucket; a scenario override still wins."""
    h100 = run(cat)["scheduler"]
    a100 = run(cat, machine={"hardware": "nvidia-a100-80gb-sxm"})["scheduler"]
    assert (h100["max_num_seqs"], h100["max_num_batched_tokens"]) == (1024, 8192)
    assert (a100["max_num_seqs"], a100["max_num_batched_tokens"]) == (256, 2048)
    forced = run(cat, machine={"hardware": "nvidia-a100-80gb-sxm"}, scheduler={"max_num_batched_tokens": 8192})
    assert forced["scheduler"]["max_num_batched_tokens"] == 8192
    sgl = run(cat, engine="sglang", quant="bf16", model="llama-3.1-8b", machine={"hardware": "amd-mi300x"})
    assert sgl["scheduler"]["max_num_batched_tokens"] == 16384


def test_one_slot_server_warns_but_four_slots_do_not(cat):
    base = dict(
        model="llama-3.1-8b",
        quant="q4_k_m",
        engine="llama.cpp",
        machine={"hardware": "apple-m3-ultra-80c"},
        workload={
            "arrival": "closed",
            "concurrency": 4,
            "requests": 12,
            "prompt": {"dist": "fixed", "mean": 256},
            "output": {"dist": "fixed", "mean": 32},
        },
    )
    one = run(cat, **base, scheduler={"n_parallel": 1})
    assert any("one request ran at a time" in w and "n_parallel" in w for w in one["warnings"])
    assert run(cat, **base)["warnings"] == []


def test_new_load_formats_parse_into_scenarios():
    """sgl-cookbook 'concurrency N (random ...)' rows are closed loops with the stated request count and
    uniform lengths; 'rate N req/s' rows are Poisson with fixed lengths; TensorRT-LLM's paged context
    FMHA means chunked prefill."""
    r = rows(
        "P,nvidia-b200,8,deepseek-r1,fp8,sglang,serve,concurrency 16 (random in<=8000 out<=1000),,,ttft_ms,"
        "486.8,ms (mean),normal,x,bench_serving --num-prompts 80 --max-concurrency 16",
        "Q,nvidia-h200-sxm,8,deepseek-r1,fp8,sglang,serve,rate 4 req/s,1024,1024,tpot_ms,366.48,"
        '"ms (MEDIAN, not mean)",normal,x,--random-range-ratio 1 --num-prompt 1200 --request-rate 4',
        'R,nvidia-h100-sxm,4,llama-3.1-70b,bf16,tensorrt-llm,serve,"max (offline, infinite rate)",2048,2048,'
        "throughput_tok_s,2044,output tok/s (all GPUs),normal,x,trtllm-bench throughput Num Prompts = 1000; "
        "use_paged_context_fmha; limits --max_batch_size 2048 --max_num_tokens 8192",
        'S,nvidia-h100-sxm,4,llama-3.1-70b,bf16,tensorrt-llm,serve,"max (offline, infinite rate)",2048,2048,'
        "throughput_tok_s,1564,output tok/s (all GPUs),normal,x,trtllm-bench throughput; paged context FMHA off; "
        "limits --max_batch_size 2048 --max_num_tokens 8192",
        "T,nvidia-h200-sxm,4,llama-3.1-70b,bf16,sglang,serve,rate 2 (random in<=1024 out<=1024),,,tpot_ms,"
        '14.8,"ms (MEDIAN inter-token latency, not mean TPOT)",normal,x,--num-prompts 600',
    )
    p, how = row_scenario(r[0])
    assert p["workload"]["arrival"] == "closed" and p["workload"]["concurrency"] == 16
    assert p["workload"]["requests"] == 80 and "16 in flight" in how
    assert p["workload"]["prompt"] == {"dist": "uniform", "min": 1, "max": 8000}
    assert p["workload"]["output"] == {"dist": "uniform", "min": 1, "max": 1000}
    q, how = row_scenario(r[1])
    assert q["workload"]["arrival"] == "poisson" and q["workload"]["rate_rps"] == 4.0
    assert q["workload"]["requests"] == 1200  # --num-prompt: argparse prefix of --num-prompts
    assert q["workload"]["prompt"] == {"dist": "fixed", "mean": 1024}
    assert row_scenario(r[2])[0]["scheduler"] == {
        "max_num_batched_tokens": 8192,
        "max_num_seqs": 2048,
        "chunked_prefill": True,
    }
    assert row_scenario(r[3])[0]["scheduler"]["chunked_prefill"] is False
    t, _ = row_scenario(r[4])
    assert t["workload"]["requests"] == 600 and t["workload"]["rate_rps"] == 2.0
    # median ITL compares with the simulator's ITL median; a median TPOT with its per-request TPOT median
    summ = {"tpot_ms": {"mean": 20.0, "p50": 19.0}, "itl_ms": {"mean": 18.0, "p50": 15.0}}
    assert simulated_value(r[4], summ) == 15.0
    assert simulated_value(r[1], summ) == 19.0


@pytest.mark.parametrize(
    "load",
    [
        "concurrency x (random in<=10 out<=10)",
        "rate 4 req/min",
        "rate 0 req/s",
        "concurrency 2.5 (random in<=10 out<=10)",
        "rate (random in<=1 out<=1)",
        "concurrency 8",
        "concurrency 4 (random in<=0 out<=10)",
    ],
)
def test_malformed_load_gives_a_reason(load):
    r = rows(f"M,nvidia-h100-sxm,1,llama-3.1-8b,fp8,sglang,serve,{load},128,128,throughput_tok_s,100,tok/s,normal,x,y")
    sc, why = row_scenario(r[0])
    assert sc is None and load in why


def test_itl_stats_weight_every_gap(cat):
    """ITL: each decode step once per decoding sequence; its mean equals the token-weighted TPOT, and in
    a closed loop of fixed lengths it matches the per-request TPOT mean."""
    s = run(
        cat,
        workload={
            "arrival": "closed",
            "concurrency": 8,
            "requests": 32,
            "prompt": {"dist": "fixed", "mean": 256},
            "output": {"dist": "fixed", "mean": 64},
        },
    )
    assert s["itl_ms"]["mean"] == pytest.approx(s["tpot_ms"]["mean"], rel=1e-6)
    assert s["itl_ms"]["p50"] <= s["itl_ms"]["p99"]
    one = run(
        cat,
        workload={
            "arrival": "closed",
            "concurrency": 1,
            "requests": 2,
            "prompt": {"dist": "fixed", "mean": 256},
            "output": {"dist": "fixed", "mean": 1},
        },
    )
    assert one["itl_ms"]["p50"] is None  # no request produced a second token


def test_eager_prefill_floor_sets_short_prompts_ttft_not_decode(cat):
    """SGLang runs prefill outside CUDA graphs: a short prompt's step takes layers x the
    profile's per-layer dispatch time (predict and the simulator alike); decode steps do not,
    and scheduler.eager_prefill = false removes it."""
    one = dict(
        engine="sglang",
        workload={
            "arrival": "closed",
            "concurrency": 1,
            "requests": 1,
            "prompt": {"dist": "fixed", "mean": 16},
            "output": {"dist": "fixed", "mean": 64},
        },
    )
    on, off = run(cat, **one), run(cat, **one, scheduler={"eager_prefill": False})
    sys = build_system(cat, "nvidia-h100-sxm", "llama-3.1-8b", "fp8", "sglang")
    floor_ms = sys.deployment.model.num_layers * cat.engines["sglang"].serving.eager_prefill.layer_us.value * 1e-3
    assert on["mechanisms"]["eager_prefill_floor_ms"] == pytest.approx(floor_ms, rel=1e-6)
    assert "eager_prefill_floor_ms" not in off["mechanisms"]
    assert off["ttft_ms"]["mean"] < floor_ms <= on["ttft_ms"]["mean"] <= floor_ms * 1.01
    assert on["tpot_ms"]["mean"] == off["tpot_ms"]["mean"]
    from planner.model.predict import predict_system

    assert predict_system(sys, prompt=16, gen=64)["ttft_s"] * 1e3 == pytest.approx(on["ttft_ms"]["mean"], rel=0.01)
    # engines that capture prefill (vLLM's piecewise graphs) or compile it (TensorRT-LLM) have no floor
    assert "eager_prefill_floor_ms" not in run(cat)["mechanisms"]


def test_sglang_keeps_prefill_and_decode_batches_apart(cat):
    """SGLang's enable_mixed_chunk is off by default: a step that prefills new prompts while others
    decode costs the prefill batch plus the decode batch, so decoders wait longer per token than
    when the chunks ride along (scheduler.mixed_batches = true, vLLM's way)."""
    wl = {
        "arrival": "poisson",
        "rate_rps": 8,
        "requests": 200,
        "seed": 1,
        "prompt": {"dist": "fixed", "mean": 1024},
        "output": {"dist": "fixed", "mean": 256},
    }
    apart = run(cat, engine="sglang", workload=wl, scheduler={"eager_prefill": False})
    mixed = run(cat, engine="sglang", workload=wl, scheduler={"eager_prefill": False, "mixed_batches": True})
    assert apart["mechanisms"]["mixed_batches"] is False and "mixed_batches" not in mixed["mechanisms"]
    assert apart["tpot_ms"]["mean"] > mixed["tpot_ms"]["mean"]
    assert "mixed_batches" not in run(cat)["mechanisms"]  # vLLM mixes them
    one = dict(
        engine="sglang",
        workload={
            "arrival": "closed",
            "concurrency": 1,
            "requests": 2,
            "prompt": {"dist": "fixed", "mean": 256},
            "output": {"dist": "fixed", "mean": 32},
        },
    )
    assert run(cat, **one)["tpot_ms"] == run(cat, **one, scheduler={"mixed_batches": True})["tpot_ms"]  # nothing to mix
