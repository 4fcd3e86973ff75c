"""Beyond one box: tensor/pipeline/expert parallel, clusters of machines, offload to host RAM."""

import pytest

from planner.errors import ScenarioError
from planner.model.deployment import Parallel
from planner.model.perf import build_system
from planner.model.predict import predict

R1 = dict(model="deepseek-r1")


def test_mac_cluster_holds_what_one_mac_cannot(cat):
    one = predict(cat, hardware="apple-m3-ultra-80c", memory_gb=512, quant="q8_0", engine="llama.cpp", **R1)
    assert not one["fits"] and "--nodes 2" in one["reason"]
    two = predict(
        cat,
        hardware="apple-m3-ultra-80c",
        memory_gb=512,
        quant="q8_0",
        engine="llama.cpp",
        nodes=2,
        link="thunderbolt5",
        **R1,
    )
    assert two["fits"], two["reason"]
    assert two["parallel"] == {"tp": 1, "pp": 2, "ep": 1}
    assert two["memory_gb"]["usable"] == pytest.approx(2 * one["memory_gb"]["usable"])


def test_pipeline_over_a_link_gives_no_single_stream_speedup(cat):
    """Two pipeline stages run one after the other for a single sequence: decode time is the same
    weights read at one machine's bandwidth, plus the hop over the link."""
    kw = dict(hardware="apple-m3-ultra-80c", memory_gb=512, model="llama-3.1-70b", quant="q4_k_m", engine="llama.cpp")
    one = build_system(cat, **kw)
    two = build_system(cat, nodes=2, link="thunderbolt5", **kw)
    t1, t2 = one.step_time([(1, 1000)]), two.step_time([(1, 1000)])
    hop = two.deployment.link.latency_us.value * 1e-6
    assert t2 == pytest.approx(t1 + hop, rel=0.02)
    slow = build_system(cat, nodes=2, link="ethernet-10g", **kw)
    assert slow.step_time([(512, 0)]) > two.step_time([(512, 0)])


def test_tensor_parallel_beats_pipeline_for_one_stream(cat):
    kw = dict(hardware="nvidia-h100-sxm", model="llama-3.1-405b", quant="fp8", engine="vllm", devices=8)
    tp = build_system(cat, parallel="tp=8", **kw)
    pp = build_system(cat, parallel="tp=1,pp=8", **kw)
    assert tp.step_time([(1, 1000)]) < pp.step_time([(1, 1000)])


def test_a_tensor_parallel_group_spanning_machines_costs_more_than_one_inside_a_machine(cat):
    """An all-reduce whose devices sit on two machines pays the machine's own floor plus a whole
    all-reduce between machines (the link's measured all-reduce time), not the link's one-way RDMA
    latency: before, 16 H100s over InfiniBand (2.5 us a hop) reduced faster than 16 on one NVLink
    switch (22.7 us)."""
    kw = dict(model="deepseek-r1", quant="fp8", engine="sglang", hardware="nvidia-h100-sxm")
    one = build_system(cat, devices=16, **kw)  # a hypothetical 16-GPU NVLink domain
    two = build_system(cat, devices=8, nodes=2, link="infiniband-ndr-400g", parallel="tp=16", **kw)
    ib = two.deployment.link
    assert two.step.tp_lat == pytest.approx(one.step.tp_lat + ib.allreduce_latency_us.value * 1e-6)
    assert two.step_time([(1, 1000)]) > one.step_time([(1, 1000)])


def test_sglang_spans_machines_with_one_tensor_parallel_group(cat):
    """SGLang's documented two-node deployment is `--tp 16 --nnodes 2`; vLLM keeps tensor parallel
    inside a machine and pipeline stages across machines."""
    kw = dict(model="deepseek-r1", quant="fp8", hardware="nvidia-h100-sxm", devices=8, nodes=2)
    kw["link"] = "infiniband-ndr-400g"
    assert predict(cat, engine="sglang", **kw)["parallel"] == {"tp": 16, "pp": 1, "ep": 1}
    assert predict(cat, engine="vllm", **kw)["parallel"] == {"tp": 8, "pp": 2, "ep": 1}
    # a model whose heads do not divide over all the devices keeps the pipeline split
    qwen = dict(kw, model="qwen2.5-7b", quant="bf16")  # 28 heads: 16 ranks cannot share them
    assert predict(cat, engine="sglang", **qwen)["parallel"] == {"tp": 8, "pp": 2, "ep": 1}


def test_microbatches_help_a_pipeline_only_when_compute_bound(cat):
    kw = dict(hardware="nvidia-h100-sxm", model="llama-3.1-70b", quant="fp8", engine="vllm", devices=4)
    pp = build_system(cat, parallel="tp=2,pp=2", **kw)
    big = [(256, 0)] * 16  # compute-bound prefill: interleaving 2 micro-batches hides the bubble
    no_mb = 2 * pp.step._stage(16, 16 * 256, *map(sum, zip(*(pp.seq_terms(*b) for b in big)))) + pp.step._hops(16 * 256)
    assert pp.step_time(big) < no_mb


def test_expert_parallel_adds_all_to_all(cat):
    kw = dict(hardware="nvidia-h200-sxm", model="deepseek-r1", quant="fp8", engine="vllm", devices=8)
    tp = build_system(cat, parallel="tp=8", **kw)
    ep = build_system(cat, parallel="tp=8,ep=8", **kw)
    batch = [(1, 2000)] * 64
    assert ep.step_time(batch) > tp.step_time(batch)
    assert ep.memory.breakdown(1, 1000).weights == tp.memory.breakdown(1, 1000).weights


def test_offloaded_experts_live_in_host_ram_and_set_the_pace(cat):
    kw = dict(hardware="nvidia-rtx-pro-6000", quant="q4_k_m", engine="llama.cpp", **R1)
    host = next(iter(cat.hosts))
    res = predict(cat, host=host, offload="experts", prompt=512, gen=64, **kw)
    gpu, hostmem = res["memory_gb"], res["host_memory_gb"]
    sys = build_system(cat, host=host, offload="experts", **kw)
    experts = sys.step.params.routed_experts * sys.deployment.quant.bits_per_weight.value / 8 / 1e9
    assert hostmem["weights"] == pytest.approx(experts, abs=1e-3)
    assert gpu["weights"] == pytest.approx(sys.memory.weight_bytes / 1e9 - experts, abs=1e-3)
    assert gpu["weights"] < 96  # what stays on the GPU fits a 96 GB card
    # decode reads the 8 routed experts of each MoE layer from host RAM: at most host bandwidth
    touched = 8 * sys.step.expert_bytes * sys.step.moe_layers
    assert sys.step_time([(1, 100)]) >= touched / sys.step.host_bw
    without = predict(cat, **kw)
    assert not without["fits"]


@pytest.mark.parametrize(
    "kw,field",
    [
        (dict(nodes=2), "link"),
        (dict(nodes=2, link="no-such-link"), "link"),
        (dict(devices=2), "devices"),
        (dict(nodes=2, link="thunderbolt5", parallel="tp=2"), "parallel"),
        (dict(parallel="tp=3"), "parallel"),
        (dict(parallel="pp=two"), "parallel"),
        (dict(offload="experts"), "host"),
    ],
)
def test_bad_scale_out_input(cat, kw, field):
    with pytest.raises(Exception) as e:
        build_system(cat, "apple-m3-ultra-80c", "deepseek-r1", "q4_k_m", "llama.cpp", memory_gb=512, **kw)
    assert field in str(e.value)


def test_offload_needs_llama_cpp_and_moe_for_experts(cat):
    host = next(iter(cat.hosts))
    with pytest.raises(ScenarioError) as e:
        build_system(cat, "nvidia-h100-sxm", "deepseek-r1", "fp8", "vllm", host=host, offload="experts")
    assert e.value.field == "offload"
    with pytest.raises(ScenarioError) as e:
        build_system(cat, "nvidia-rtx-4090", "llama-3.1-70b", "q4_k_m", "llama.cpp", host=host, offload="experts")
    assert "dense" in str(e.value)
    ok = build_system(cat, "nvidia-rtx-4090", "llama-3.1-70b", "q4_k_m", "llama.cpp", host=host, offload="layers:40")
    assert ok.memory.host_weight_bytes > 0 and ok.memory.gpu_weight_bytes < ok.memory.weight_bytes


def test_parallel_parse():
    assert Parallel.parse("tp=4,pp=2") == Parallel(4, 2, 1)
    assert str(Parallel.parse("tp=8, ep=8")) == "tp=8,pp=1,ep=8"


def test_system_shortcut_sets_the_machine(capsys):
    import json

    from planner.cli.commands import main

    assert (
        main(
            [
                "predict",
                "--system",
                "mac-studio-m3-ultra-512-x2",
                "--model",
                "deepseek-r1",
                "--quant",
                "q8_0",
                "--engine",
                "llama.cpp",
                "--json",
            ]
        )
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    assert (res["hardware"], res["memory_gb_option"], res["nodes"], res["link"]) == (
        "apple-m3-ultra-80c",
        512,
        2,
        "thunderbolt5",
    )
    # explicit flags win over the system's
    assert (
        main(
            [
                "predict",
                "--system",
                "dgx-h100",
                "--devices",
                "4",
                "--model",
                "llama-3.1-70b",
                "--quant",
                "fp8",
                "--engine",
                "vllm",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["devices"] == 4
    assert (
        main(["predict", "--system", "dgx-h10", "--model", "llama-3.1-70b", "--quant", "fp8", "--engine", "vllm"]) == 2
    )
    assert "dgx-h100" in capsys.readouterr().err
    assert main(["predict", "--model", "llama-3.1-70b", "--quant", "fp8", "--engine", "vllm"]) == 2
    assert "--hardware ID or --system ID" in capsys.readouterr().err


def test_every_system_profile_builds(cat):
    for sp in cat.systems.values():
        sys = build_system(
            cat,
            sp.hardware,
            "llama-3.1-8b",
            "q4_k_m",
            "llama.cpp",
            memory_gb=sp.memory_gb,
            devices=sp.devices,
            nodes=sp.nodes,
            link=sp.link,
            host=sp.host or None,
            host_memory_gb=sp.host_memory_gb,
        )
        assert sys.deployment.total_devices == sp.devices * sp.nodes
