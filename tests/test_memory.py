"""Memory model: weights against published file sizes, KV per token, usable limits, fit reasons."""

import pytest

from planner.errors import ScenarioError
from planner.model.arch import kv_elements_per_token
from planner.model.perf import build_system
from planner.model.predict import predict


@pytest.mark.parametrize(
    "model,published_gb",
    [("llama-3.1-8b", 4.9), ("llama-3.1-70b", 43.1), ("llama-3.1-405b", 249.1), ("deepseek-r1", 404.0)],
)
def test_q4_k_m_weights_match_published_files(cat, model, published_gb):
    sys = build_system(cat, "nvidia-h100-sxm", model, "q4_k_m", "llama.cpp")
    got = sys.memory.weight_bytes / 1e9
    assert abs(got - published_gb) / published_gb <= 0.03, (model, got, published_gb)


def test_kv_per_token_gqa_and_mla(cat):
    llama = cat.models["llama-3.1-8b"]
    full, swa = kv_elements_per_token(llama)
    assert (full, swa) == (2 * 32 * 8 * 128, 0)  # 2 x layers x kv_heads x head_dim
    r1 = cat.models["deepseek-r1"]
    full, swa = kv_elements_per_token(r1)
    assert full == 61 * (512 + 64) and swa == 0  # MLA latent + rope key
    sys = build_system(cat, "nvidia-h200-sxm", "deepseek-r1", "fp8", "vllm", devices=1, kv_dtype="f16")
    assert sys.kv_bytes(1) == 70_272  # bytes per token at 16 bit
    # under tensor parallel every rank holds the whole MLA latent: 8 copies over 8 GPUs
    tp8 = build_system(cat, "nvidia-h200-sxm", "deepseek-r1", "fp8", "vllm", devices=8, kv_dtype="f16")
    assert tp8.kv_bytes(1) == 8 * 70_272
    # GQA heads are sharded instead: Llama 3.1 70B (8 KV heads) on TP8 holds one copy
    gqa = build_system(cat, "nvidia-h100-sxm", "llama-3.1-70b", "fp8", "vllm", devices=8)
    assert gqa.kv_bytes(1) == 2 * 80 * 8 * 128 * gqa.memory.kv_bytes_per_element


def test_sliding_window_layers_are_bounded(cat):
    sys = build_system(cat, "nvidia-h100-sxm", "gpt-oss-120b", "mxfp4", "vllm")
    small, big = sys.kv_bytes(100), sys.kv_bytes(100_000)
    m = cat.models["gpt-oss-120b"]
    full, swa = kv_elements_per_token(m)
    assert swa > 0
    # growth beyond the window comes only from the full-attention layers
    assert big - sys.kv_bytes(50_000) == pytest.approx(full * 50_000 * sys.memory.kv_bytes_per_element)
    assert small < big


def test_mac_default_gpu_limit_and_override(cat):
    sys = build_system(cat, "apple-m3-ultra-80c", "deepseek-r1", "q4_k_m", "llama.cpp", memory_gb=512)
    plat = cat.platforms["macos"]
    gib = 2**30 / 1e9  # sizes as sold are binary; the planner prints GB = 10^9 bytes
    assert plat.default_limit_gb(512) == pytest.approx(384)  # 75% above 32 GB
    assert plat.default_limit_gb(16) == pytest.approx(16 * 0.6667)
    assert sys.memory.usable_gb() == pytest.approx(384 * gib)
    assert sys.memory.capacity_gb() == pytest.approx(512 * gib)
    raised = build_system(
        cat, "apple-m3-ultra-80c", "deepseek-r1", "q4_k_m", "llama.cpp", memory_gb=512, usable_memory_gb=480
    )
    assert raised.memory.usable_gb() == pytest.approx(480 * gib)


def test_r1_on_512gb_mac_reason_names_the_sysctl_or_fits(cat):
    res = predict(
        cat,
        hardware="apple-m3-ultra-80c",
        memory_gb=512,
        model="deepseek-r1",
        quant="q4_k_m",
        engine="llama.cpp",
        prompt=512,
        gen=128,
    )
    if not res["fits"]:
        assert "iogpu.wired_limit_mb" in res["reason"]
        raised = predict(
            cat,
            hardware="apple-m3-ultra-80c",
            memory_gb=512,
            usable_memory_gb=490,
            model="deepseek-r1",
            quant="q4_k_m",
            engine="llama.cpp",
            prompt=512,
            gen=128,
        )
        assert raised["fits"]


def test_does_not_fit_reason_suggests_smaller_quant_or_more_memory(cat):
    res = predict(
        cat,
        hardware="apple-m4-max-40c",
        memory_gb=128,
        model="llama-3.1-70b",
        quant="f16",
        engine="llama.cpp",
        prompt=512,
        gen=128,
    )
    assert res["fits"] is False
    assert "needs" in res["reason"] and "GB" in res["reason"]
    assert "smaller quantization" in res["reason"]
    assert res["max_concurrent_sequences"] == 0


def test_gpu_not_fitting_suggests_devices(cat):
    res = predict(cat, hardware="nvidia-h100-sxm", model="llama-3.1-405b", quant="fp8", engine="vllm")
    assert not res["fits"]
    assert "devices" in res["reason"]
    res8 = predict(cat, hardware="nvidia-h100-sxm", devices=8, model="llama-3.1-405b", quant="fp8", engine="vllm")
    assert res8["fits"]


def test_max_context_and_sequences_are_consistent(cat):
    sys = build_system(cat, "nvidia-rtx-4090", "llama-3.1-8b", "q4_k_m", "llama.cpp")
    ctx = sys.memory.max_context()
    assert 0 < ctx <= cat.models["llama-3.1-8b"].max_context
    n = sys.memory.max_sequences(4096)
    assert n >= 1
    assert sys.memory.breakdown(n, 4096).fits and not sys.memory.breakdown(n + 1, 4096).fits


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(memory_gb=-5), "memory_gb"),
        (dict(memory_gb=1e9), "memory_gb"),
        (dict(devices=0), "devices"),
        (dict(usable_memory_gb=-1), "usable_memory_gb"),
        (dict(usable_memory_gb=9999), "usable_memory_gb"),
        (dict(kv_dtype="q4_0"), "kv_dtype"),
    ],
)
def test_absurd_sizes_are_rejected_with_the_field(cat, kwargs, field):
    with pytest.raises(ScenarioError) as e:
        build_system(cat, "apple-m2-ultra-76c", "llama-3.1-8b", "q4_k_m", "llama.cpp", **kwargs)
    assert e.value.field == field


def test_engine_and_quant_compatibility(cat):
    with pytest.raises(ScenarioError) as e:
        build_system(cat, "apple-m2-ultra-76c", "llama-3.1-8b", "fp8", "vllm")
    assert e.value.field == "engine"
    with pytest.raises(ScenarioError) as e:
        build_system(cat, "nvidia-h100-sxm", "llama-3.1-8b", "q4_k_m", "vllm")
    assert e.value.field == "quant" and "fp8" in str(e.value)


def test_mac_limit_reason_gives_a_sysctl_value_that_works(cat):
    """A 70B Q6_K fits a 64 GB Mac's RAM but not its default GPU limit: the reason names the
    sysctl and a value; raising the limit to that value makes it fit."""
    import re

    kw = dict(
        hardware="apple-m4-max-40c",
        memory_gb=64,
        model="llama-3.1-70b",
        quant="q6_k",
        engine="llama.cpp",
        prompt=512,
        gen=128,
    )
    res = predict(cat, **kw)
    assert res["fits"] is False
    m = re.search(r"sudo sysctl iogpu\.wired_limit_mb=(\d+)", res["reason"])
    assert m, res["reason"]
    mb = int(m.group(1))
    assert predict(cat, usable_memory_gb=mb / 1024, **kw)["fits"] is True
    assert predict(cat, usable_memory_gb=(mb - 1024) / 1024, **kw)["fits"] is False
