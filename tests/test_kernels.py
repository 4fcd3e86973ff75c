"""The NVIDIA measured-kernel step-time provider (planner/model/kernels.py) and its fallback.

CI installs the `nvidia-data` extra (`make test`); without it the provider tests skip, except
with CI=true, where they fail (the fallback tests run either way)."""

import os
import sys

import numpy as np
import pytest

from planner.catalog.loader import load_catalog
from planner.model import kernels
from planner.model.arch import params
from planner.model.kernels import pick_version, use_provider
from planner.model.perf import build_system
from planner.model.predict import predict
from planner.paths import builtin
from planner.sim.engine import simulate_scenario
from planner.sim.scenario import parse_scenario

HAVE = kernels.data_root() is not None
needs_tables = pytest.mark.skipif(
    not HAVE and os.environ.get("CI") != "true", reason="aiconfigurator-core (extra nvidia-data) not installed"
)


@pytest.fixture
def no_extra(monkeypatch):
    """The extra is not installed: importing aiconfigurator_core fails."""
    monkeypatch.setitem(sys.modules, "aiconfigurator_core", None)
    kernels.data_root.cache_clear()
    yield
    kernels.data_root.cache_clear()


# A model whose every GEMM shape, attention shape and LM head lies on the H100 vLLM 0.24.0 grids,
# so the provider's step time must equal the sum of table entries, no interpolation involved.
GRID_MODEL = """
id = "grid-test-model"
name = "grid test model (shapes on NVIDIA's measured grids)"
arch = "dense"
attention = "gqa"
num_layers = 4
hidden_size = 4096
num_heads = 32
num_kv_heads = 8
head_dim = 128
intermediate_size = 8192
vocab_size = 65536
max_context = 8192
published_total_params_b = {{ value = {total}, derived = "test fixture" }}
sources = ["test fixture"]
"""


@pytest.fixture
def grid_cat(tmp_path):
    d = tmp_path / "models"
    d.mkdir()
    (d / "grid-test-model.toml").write_text(GRID_MODEL.format(total=1.0))
    m = load_catalog(tmp_path).models["grid-test-model"]
    (d / "grid-test-model.toml").write_text(GRID_MODEL.format(total=round(params(m).total / 1e9, 6)))
    return load_catalog(tmp_path)


def _table(op, name, version="0.24.0"):
    import pandas as pd

    return pd.read_parquet(kernels.data_root() / "h100_sxm" / op / "vllm" / version / name)


@needs_tables
@pytest.mark.parametrize("batch", [1, 8, 32])
def test_decode_step_equals_the_tables(grid_cat, batch):
    g = _table("gemm", "gemm_perf.parquet")
    g = g[g["gemm_dtype"] == "bfloat16"]
    a = _table("attention", "generation_attention_perf.parquet")
    a = a[
        (a["batch_size"] == batch)
        & (a["step"] >= 1023)
        & (a["num_heads"] == 32)
        & (a["num_key_value_heads"] == 8)
        & (a["head_dim"] == 128)
        & (a["kv_cache_dtype"] == "bfloat16")
        & (a["window_size"] == 0)
    ]
    assert (a["step"] == 1023).any()

    # the provider reads the fastest kernel at each point, and never lets a smaller shape take longer
    # than a larger measured one (an engine pads up to it): the minimum over m' >= m
    def gemm(m, n, k):
        sel = g[(g["m"] >= m) & (g["n"] == n) & (g["k"] == k)]
        assert (sel["m"] == m).any(), (m, n, k)
        return sel["latency"].min()

    per_layer = (
        gemm(batch, 6144, 4096)
        + gemm(batch, 4096, 4096)
        + gemm(batch, 16384, 4096)
        + gemm(batch, 4096, 8192)
        + a["latency"].min()
    )
    # plus the element-wise operators no table holds, as AIConfigurator prices them (h100_sxm.yaml:
    # mem_bw 3,350 GB/s, 0.8 of it, 3 us each): two residual-add + RMSNorms (2 x 4096 bf16 values in
    # and out per token) and the gated activation (2 x 8192 in, 8192 out); on vLLM also the rotary
    # embedding its attention table leaves out (32 query + 8 key heads of 128 bf16, read and written)
    per_layer += 1e3 * (3 * 3e-6 + batch * (2 * 4 * 4096 * 2 + 3 * 8192 * 2) / (3350e9 * 0.8))
    per_layer += 1e3 * (3e-6 + batch * 2 * (32 + 8) * 128 * 2 / (3350e9 * 0.8))
    with use_provider("measured"):
        s = build_system(grid_cat, "nvidia-h100-sxm", "grid-test-model", "bf16", "vllm", engine_version="0.24.0")
    assert s.step.kernels is not None, s.step.provider_note
    expected = (4 * per_layer + gemm(batch, 65536, 4096)) * 1e-3 + s.step.eff.step_overhead_ms * 1e-3
    # a decode step whose sequences each hold 1,022 tokens and add one: the table's step 1023
    step = s.step_time([(1, 1022)] * batch)
    assert step == pytest.approx(expected, rel=1e-9)
    # the vectorised decode path (the simulator's runs) prices it the same
    assert s.step.decode_times(1022, 1, batch)[0] == pytest.approx(expected, rel=1e-9)


@needs_tables
def test_tp_all_reduce_from_the_table(cat):
    """Under tensor parallelism each layer adds two all-reduces of the step's activations, priced
    from the engine's custom all-reduce table at the message size."""
    with use_provider("measured"):
        s = build_system(cat, "nvidia-h100-sxm", "llama-3.1-70b", "bf16", "vllm", devices=4)
    k = s.step.kernels
    assert k is not None, s.step.provider_note
    t = _table("comm", "custom_allreduce_perf.parquet")
    t = t[(t["num_gpus"] == 4) & (t["backend"] == "vllm_graph")]
    # the tables count the message in bf16 elements (AIConfigurator's query_custom_allreduce takes
    # tokens x hidden): 32,768 elements are the hidden states of 4 tokens of a 8,192-wide model
    tokens = 32768 / 8192
    row = t[t["message_size"] == 32768]["latency"].min()
    base = kernels.MeasuredKernels.__dict__["_layer_ms_exact"]
    k.ar_curve, saved = None, k.ar_curve
    without = base(k, tokens)
    k.ar_curve = saved
    assert base(k, tokens) - without == pytest.approx(2 * row, rel=1e-9)


@needs_tables
def test_fp8_model_keeps_its_lm_head_in_bf16(cat):
    """FP8 checkpoints leave lm_head unquantized: the LM head is the BF16 GEMM table's, the layers'
    GEMMs the FP8 table's."""
    with use_provider("measured"):
        f8 = build_system(cat, "nvidia-h100-sxm", "llama-3.1-8b", "fp8", "vllm")
        bf = build_system(cat, "nvidia-h100-sxm", "llama-3.1-8b", "bf16", "vllm")
    assert f8.step.kernels is not None and bf.step.kernels is not None
    assert f8.step.kernels.head_curve_l == bf.step.kernels.head_curve_l
    assert f8.step.kernels.layer_curve_l[1][0] < bf.step.kernels.layer_curve_l[1][0]


@needs_tables
def test_moe_layer_from_the_table(cat):
    """A MoE model's expert FFN is the fused-MoE table's latency at the step's token count."""
    with use_provider("measured"):
        s = build_system(cat, "nvidia-h100-sxm", "qwen3-30b-a3b", "bf16", "vllm")
    k = s.step.kernels
    assert k is not None, s.step.provider_note
    t = _table("moe", "moe_perf.parquet")
    t = t[
        (t["moe_dtype"] == "bfloat16")
        & (t["hidden_size"] == 2048)
        & (t["inter_size"] == 768)
        & (t["topk"] == 8)
        & (t["num_experts"] == 128)
        & (t["moe_tp_size"] == 1)
        & (t["moe_ep_size"] == 1)
        & (t["distribution"] == "power_law_1.01")
        & (t["num_tokens"] >= 64)
    ]
    assert (t["num_tokens"] == 64).any()
    xs, ys = k.moe_curve
    assert ys[list(xs).index(64.0)] == pytest.approx(t["latency"].min())  # fastest at >= 64 tokens


@needs_tables
@pytest.mark.parametrize("prompt,gen", [(512, 256), (20000, 64)])
def test_single_request_reproduces_predict_with_measured_kernels(cat, prompt, gen):
    base = {
        "model": "llama-3.1-8b",
        "quant": "fp8",
        "engine": "vllm",
        "machine": {"hardware": "nvidia-h100-sxm"},
        "workload": {
            "arrival": "closed",
            "concurrency": 1,
            "requests": 1,
            "prompt": {"mean": prompt},
            "output": {"mean": gen},
        },
    }
    with use_provider("measured"):
        res = simulate_scenario(cat, parse_scenario(base))
        p = predict(
            cat, hardware="nvidia-h100-sxm", model="llama-3.1-8b", quant="fp8", engine="vllm", prompt=prompt, gen=gen
        )
    assert p["step_time_provider"].startswith("measured NVIDIA kernels, vllm 0.24.0, h100_sxm")
    assert res.summary["step_time_provider"] == p["step_time_provider"]
    s = res.summary
    assert s["ttft_ms"]["mean"] == pytest.approx(p["ttft_s"] * 1e3, rel=0.01)
    assert s["tpot_ms"]["mean"] == pytest.approx(p["tpot_s"] * 1e3, rel=0.01)


@needs_tables
def test_measured_differs_from_roofline_and_is_physical(cat):
    """The provider really prices steps (not the roofline), and its decode of an 8B bf16 model
    on one H100 cannot beat reading the weights at the full HBM bandwidth."""
    with use_provider("measured"):
        m = predict(
            cat, hardware="nvidia-h100-sxm", model="llama-3.1-8b", quant="bf16", engine="vllm", prompt=128, gen=64
        )
    with use_provider("roofline"):
        r = predict(
            cat, hardware="nvidia-h100-sxm", model="llama-3.1-8b", quant="bf16", engine="vllm", prompt=128, gen=64
        )
    assert m["tpot_s"] != r["tpot_s"]
    assert m["tpot_s"] > 16.06e9 / 3.35e12


@needs_tables
def test_engine_version_nearest_with_a_note(cat):
    with use_provider("measured"):
        s = build_system(cat, "nvidia-h100-sxm", "llama-3.1-8b", "bf16", "vllm", engine_version="0.20.0")
    assert "vllm 0.24.0" in s.step.provider_note and "no 0.20.0" in s.step.provider_note
    with use_provider("measured"):
        s = build_system(cat, "nvidia-a100-80gb-sxm", "llama-3.1-8b", "bf16", "vllm")
    assert "vllm 0.14.0, a100_sxm" in s.step.provider_note  # the A100 tables are older


def test_pick_version():
    assert pick_version(["0.14.0", "0.19.0", "0.24.0"], None) == ("0.24.0", None)
    assert pick_version(["0.14.0", "0.19.0", "0.24.0"], "0.19.0") == ("0.19.0", None)
    v, note = pick_version(["0.14.0", "0.19.0", "0.24.0"], "0.18.0")
    assert v == "0.19.0" and "0.18.0" in note
    v, note = pick_version(["1.0.0", "1.3.0rc20"], "0.9.0")
    assert v == "1.0.0" and "nearest" in note


@pytest.mark.parametrize(
    "hw,model,quant,engine,devices,why",
    [
        ("apple-m2-ultra-76c", "llama-3.1-8b", "q4_k_m", "llama.cpp", 1, "not mapped"),
        ("amd-mi300x", "llama-3.1-8b", "fp8", "vllm", 1, "not mapped"),
        ("nvidia-h100-sxm", "llama-3.1-8b", "q4_k_m", "llama.cpp", 1, "no NVIDIA measured-kernel tables"),
    ],
)
def test_uncovered_machines_fall_back_with_a_note(cat, hw, model, quant, engine, devices, why):
    with use_provider("measured"):
        s = build_system(cat, hw, model, quant, engine, devices=devices)
        p = predict(cat, hardware=hw, model=model, quant=quant, engine=engine, devices=devices, prompt=256, gen=32)
    assert s.step.kernels is None
    assert s.step.provider_note.startswith("calibrated roofline (") and why in s.step.provider_note
    with use_provider("roofline"):
        r = predict(cat, hardware=hw, model=model, quant=quant, engine=engine, devices=devices, prompt=256, gen=32)
    assert p["ttft_s"] == r["ttft_s"] and p["tpot_s"] == r["tpot_s"]


@needs_tables
def test_uncovered_shapes_fall_back_with_a_note(cat):
    with use_provider("measured"):
        s = build_system(cat, "nvidia-h200-sxm", "deepseek-r1", "fp8", "vllm", devices=8)
        x = build_system(cat, "nvidia-h200-sxm", "deepseek-r1", "fp8", "sglang", devices=8, mla_cache="expanded")
    assert s.step.kernels is None and "no mla tables for vllm" in s.step.provider_note  # vLLM's are module-level tables
    assert x.step.kernels is None and "expanded" in x.step.provider_note


@needs_tables
def test_deepseek_mla_is_priced_from_sglangs_mla_tables(cat):
    """DeepSeek R1 with SGLang on H200/B200: MLA attention from the MLA tables (generation at the
    batch and context), the absorbed-MLA bmm tables, block-FP8 GEMMs and the fused MoE table."""
    from planner.model.kernels import mla_grid

    with use_provider("measured"):
        s = build_system(cat, "nvidia-b200", "deepseek-r1", "fp8", "sglang", devices=8)
    k = s.step.kernels
    assert k is not None and k.mla and k.gemm_version and "measured NVIDIA kernels, sglang" in s.step.provider_note
    bs, rows = mla_grid(k.system, k.backend, k._version("mla"), "generation", "fp8", 16)
    b1 = rows[0]
    assert bs[0] == 1 and k._gen_ms(1.0, float(b1[1][3])) == pytest.approx(float(b1[2][3]))
    # one decode step costs more than its MLA attention alone and grows with the batch
    one, many = k.stage(1, 1, s.kv_full_per_token * 1000, 0.0), k.stage(64, 64, 64 * s.kv_full_per_token * 1000, 0.0)
    assert one > k.layers * float(b1[2][3]) * 1e-3 and many > one


def test_without_the_extra_everything_uses_the_roofline(cat, no_extra):
    assert kernels.data_root() is None
    s = build_system(cat, "nvidia-h100-sxm", "llama-3.1-8b", "fp8", "vllm")
    assert s.step.kernels is None and "not installed" in s.step.provider_note
    p = predict(cat, hardware="nvidia-h100-sxm", model="llama-3.1-8b", quant="fp8", engine="vllm", prompt=512, gen=64)
    with use_provider("roofline"):
        r = predict(
            cat, hardware="nvidia-h100-sxm", model="llama-3.1-8b", quant="fp8", engine="vllm", prompt=512, gen=64
        )
    assert {k: v for k, v in p.items() if k != "step_time_provider"} == {
        k: v for k, v in r.items() if k != "step_time_provider"
    }
    res = simulate_scenario(
        cat,
        parse_scenario(
            {
                "model": "llama-3.1-8b",
                "quant": "fp8",
                "engine": "vllm",
                "machine": {"hardware": "nvidia-h100-sxm"},
                "workload": {"arrival": "poisson", "rate_rps": 5, "requests": 50},
            }
        ),
    )
    assert res.summary["completed"] == 50 and "not installed" in res.summary["step_time_provider"]


def test_without_the_extra_cli(no_extra, capsys):
    from planner.cli.commands import main

    rc = main(
        [
            "predict",
            "--hardware",
            "nvidia-h100-sxm",
            "--model",
            "llama-3.1-8b",
            "--quant",
            "fp8",
            "--engine",
            "vllm",
            "--step-provider",
            "measured",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "step time: calibrated roofline" in out and "not installed" in out
    rc = main(["validate", "--providers"])
    assert rc == 0 and "not installed" in capsys.readouterr().out


def test_calibration_fits_price_steps_on_the_roofline(cat):
    """Swapping roofline parameters (what `calibrate` does while fitting) always prices on the roofline."""
    s = build_system(cat, "nvidia-h100-sxm", "llama-3.1-8b", "fp8", "vllm")
    s.step.set_efficiency(s.step.eff, "fit")
    assert s.step.kernels is None and s.step.provider_note.startswith("calibrated roofline")


def test_choice_rule():
    from planner.validate.kernels import choices

    rows = [
        {"class": "a", "covered": True, "roofline_error_pct": 10.0, "measured_kernels_error_pct": -5.0},
        {"class": "a", "covered": True, "roofline_error_pct": -30.0, "measured_kernels_error_pct": 8.0},
        {"class": "b", "covered": True, "roofline_error_pct": 5.0, "measured_kernels_error_pct": 20.0},
        {"class": "b", "covered": False, "roofline_error_pct": 50.0, "measured_kernels_error_pct": 50.0},
    ]
    c = choices(rows)
    assert c["a"]["provider"] == "measured" and c["b"]["provider"] == "roofline" and c["b"]["rows"] == 1


def test_vectorised_and_scalar_look_ups_agree():
    xs, ys = np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 4.0])
    pts = np.array([0.5, 1.0, 1.5, 3.0, 4.0, 6.0])
    assert [kernels._interp(float(x), xs, ys) for x in pts] == pytest.approx(list(kernels._interp(pts, xs, ys)))
    assert kernels._interp(6.0, xs, ys) == pytest.approx(5.0)  # beyond the grid: the last segment's line


def test_rows_ask_for_the_engine_release_they_state():
    """A row's stated engine release is what `validate` predicts it with (nearest measured tables),
    in the scenario a load test is simulated from as in `predict`; a row without one, or with only a
    build number, asks for none (newest tables)."""
    from planner.model.calibration import DEFAULT_DATA, read_rows
    from planner.validate.serve import row_scenario

    rows = {r.id: r for r in read_rows(DEFAULT_DATA)}
    assert rows["P5-071"].release() == "0.5.6.post1" and rows["P5-063"].release() == "0.16.0"
    assert rows["P3-TT340-001"].release() is None
    assert row_scenario(rows["P5-071"])[0]["engine_version"] == "0.5.6.post1"
    assert "engine_version" not in row_scenario(rows["P3-TT340-001"])[0]
    b = rows["P5-071"].__class__(**{**rows["P5-071"].__dict__, "engine_version": "llama.cpp b4404"})
    assert b.release() is None


@needs_tables
def test_validate_predicts_a_row_at_its_stated_release(cat):
    """P5-063 states TensorRT-LLM 0.16.0: its single-stream TPOT is predicted from the tables nearest
    that release (the all-reduce of 1.2.0rc5, the GEMMs of 1.3.0rc20), as `predict --engine-version`
    does, not from the newest tables; the provider note names every table version it read."""
    from planner.model.calibration import DEFAULT_DATA, read_rows
    from planner.validate.kernels import predict_row

    row = next(r for r in read_rows(DEFAULT_DATA) if r.id == "P5-063")
    kw = dict(hardware=row.hardware_id, model=row.model_id, quant=row.quant_id, engine=row.engine_id)
    kw.update(devices=row.devices, batch=1, prompt=row.prompt, gen=row.gen)
    with use_provider("measured"):
        got = predict_row(cat, row)
        stated = predict(cat, engine_version="0.16.0", **kw)
        newest = predict(cat, **kw)
        s = build_system(
            cat, row.hardware_id, row.model_id, row.quant_id, row.engine_id, devices=4, engine_version="0.16.0"
        )
    assert got == pytest.approx(1000 * stated["tpot_s"], rel=1e-9)
    assert stated["tpot_s"] != newest["tpot_s"]
    assert "trtllm 1.3.0rc20, h100_sxm (all-reduce 1.2.0rc5)" in s.step.provider_note


@needs_tables
def test_vllm_moe_layers_pay_the_router_top_k_its_table_leaves_out(cat):
    """vLLM's MoE table times `fused_experts` with the routing precomputed (AIConfigurator's vLLM
    collector), SGLang's times `select_experts` with it: on vLLM each MoE layer adds one memory-bound
    top-k operator (3 us + the fp32 logits read), on SGLang nothing; the rest of the layer is equal
    but for Qwen3's q/k norm, which SGLang runs apart from RoPE (one more operator there)."""
    with use_provider("measured"):
        v = build_system(cat, "nvidia-h100-sxm", "qwen3-30b-a3b", "bf16", "vllm").step.kernels
        s = build_system(cat, "nvidia-h100-sxm", "qwen3-30b-a3b", "bf16", "sglang").step.kernels
    assert v is not None and s is not None and v.dense_frac == s.dense_frac == 0.0
    bw, share, lat = kernels.mem_op_constants("h100_sxm")
    qk = kernels.rope_ms("h100_sxm", 32, 4, 128)
    assert v.ew[0] - s.ew[0] == pytest.approx(lat * 1e3 - qk[0])
    assert v.ew[1] - s.ew[1] == pytest.approx((4 * 128 + 8 * 8) / (bw * share) * 1e3 - qk[1])


@needs_tables
def test_validate_providers_reports_both_on_nvidia_rows(cat, tmp_path):
    """`validate --providers` predicts each NVIDIA datacenter row with both providers (a load test
    simulated, batch-1 first-token rows with predict) and applies the rule per class."""
    from planner.model.calibration import DEFAULT_DATA
    from planner.validate.kernels import compare

    lines = DEFAULT_DATA.read_text(encoding="utf-8").splitlines(keepends=True)
    keep = [ln for ln in lines[1:] if ln.split(",")[0] in ("I-TRT-017", "I-TRT-023", "I-TRT-025", "A4167-001")]
    assert len(keep) == 4
    data = tmp_path / "rows.csv"
    data.write_text(lines[0] + "".join(keep), encoding="utf-8")
    res = compare(cat, data, requests=200, loso=False)
    ids = {r["id"]: r for r in res["rows"]}
    assert set(ids) == {"I-TRT-017", "I-TRT-023", "I-TRT-025"}  # the Apple llama.cpp row is not NVIDIA datacenter
    assert ids["I-TRT-017"]["metric"] == "throughput" and ids["I-TRT-023"]["metric"] == "ttft"
    for r in ids.values():
        assert r["covered"] and r["roofline"] != r["measured_kernels"]
        assert r["measured_kernels_error_pct"] == pytest.approx(
            100 * (r["measured_kernels"] - r["measured"]) / r["measured"], abs=0.01
        )
    assert set(res["choices"]) == {"tensorrt-llm:nvidia-hopper", "tensorrt-llm:nvidia-ampere"}
    assert set(res["by_metric"]) == {"throughput", "ttft"}


@needs_tables
def test_compare_simulates_random_length_rows_in_their_own_statistic(cat, tmp_path):
    """bench_serving rows with random lengths (no prompt_tokens column) are simulated, not dropped;
    concurrency 1 counts as single-stream, TTFT under load is its own metric, and an ITL-median row
    is compared with the simulated median inter-token latency (as serve_validation does)."""
    from planner.model.calibration import DEFAULT_DATA, read_rows
    from planner.model.kernels import use_provider
    from planner.validate.kernels import compare, predict_row
    from planner.validate.serve import validate_serve

    wanted = ("P5-071", "P5-073", "P5-002")
    lines = DEFAULT_DATA.read_text(encoding="utf-8").splitlines(keepends=True)
    keep = [ln for ln in lines[1:] if ln.split(",")[0] in wanted]
    data = tmp_path / "rows.csv"
    data.write_text(lines[0] + "".join(keep), encoding="utf-8")
    res = compare(cat, data, loso=False)
    ids = {r["id"]: r for r in res["rows"]}
    assert set(ids) == set(wanted)
    assert ids["P5-071"]["metric"] == "single_stream_decode" and ids["P5-073"]["metric"] == "ttft_under_load"
    assert ids["P5-002"]["metric"] == "tpot" and ids["P5-002"]["covered"]
    rows = {r.id: r for r in read_rows(data)}
    served = {x["id"]: x["predicted"] for x in validate_serve(cat, list(rows.values()))["rows"]}
    with use_provider("auto"):
        for rid in wanted:
            assert predict_row(cat, rows[rid]) == pytest.approx(served[rid], rel=1e-3)


@needs_tables
def test_cuda_serving_priors_are_derived_from_the_measured_kernels(cat):
    """Issue 13 item 4: the CUDA serving engines' compute and bandwidth priors in priors.toml are what
    `validate --providers --derive-priors` computes from NVIDIA's GEMM tables, inside the physical
    ranges; llama.cpp on CUDA (its own kernels) keeps the generic prior."""
    from planner.model.priors import PARAMS, bounds_for
    from planner.validate.kernels import derive_priors

    d = derive_priors(cat)
    assert len(d["systems"]) >= 5 and not d["compute_efficiency_clamped"] and not d["bandwidth_efficiency_clamped"]
    for eng in ("vllm", "sglang", "tensorrt-llm"):
        b = bounds_for(eng, "cuda")
        for name in ("compute_efficiency", "bandwidth_efficiency"):
            i = PARAMS.index(name)
            assert float(b.prior[i]) == pytest.approx(d[name], abs=1e-4)
            assert float(b.low[i]) <= float(b.prior[i]) <= float(b.high[i])
    assert float(bounds_for("llama.cpp", "cuda").prior[PARAMS.index("compute_efficiency")]) != pytest.approx(
        d["compute_efficiency"], abs=1e-4
    )


@needs_tables
def test_tp_over_two_machines_prices_each_rank_from_the_tables_and_the_all_reduce_hierarchically(cat):
    """SGLang's documented two-node layout, one TP group of 16 over two 8-GPU servers (`--tp 16
    --nnodes 2`): each rank's GEMM, MLA and MoE kernels are single-GPU measurements at the rank's
    shapes (8 heads, 1/16 of each expert), so the tables cover them; only the all-reduce crosses
    machines: NCCL's measured all-reduce inside one server plus the link's measured all-reduce
    between the servers (and each GPU's share of the message over its own NIC)."""
    with use_provider("measured"):
        s = build_system(
            cat, "nvidia-h100-sxm", "deepseek-r1", "fp8", "sglang", devices=8, nodes=2, link="infiniband-ndr-400g"
        )
    k = s.step.kernels
    assert k is not None, s.step.provider_note
    assert k.tp == 16 and k.h_loc == 128 // 16 and "NCCL x8 + infiniband-ndr-400g" in s.step.provider_note
    link = cat.interconnects["infiniband-ndr-400g"]
    size = 8192.0  # a message on the NCCL grid (bf16 elements)
    # inside one server: NCCL's 8-GPU table, as one 8-GPU machine without a custom all-reduce reads it
    intra = kernels._interp(size, *kernels.allreduce_curve("h100_sxm", "sglang", None, 8))
    between = link.allreduce_latency_us.value * 1e-3 + 2 * size * 2 / 8 * (1 / 2) / (link.effective_gbs * 1e9) * 1e3
    assert kernels._interp(size, *k.ar_curve) == pytest.approx(intra + between, rel=1e-9)
    # a pipeline over machines is still not mapped, nor a TP group over two machines with pipeline stages over
    # more: each stage is then two whole machines, so every hop crosses the link (priced on the roofline, over
    # InfiniBand, not the devices' NVLink)
    for model, quant, nodes, parallel, hops in (
        ("llama-3.1-70b", "bf16", 2, "tp=8,pp=2", (1, 0)),
        ("deepseek-r1", "fp8", 4, "tp=16,pp=2", (1, 0)),
    ):
        with use_provider("measured"):
            pp = build_system(
                cat,
                "nvidia-h100-sxm",
                model,
                quant,
                "sglang",
                devices=8,
                nodes=nodes,
                link="infiniband-ndr-400g",
                parallel=parallel,
            )
        assert pp.step.kernels is None and "pipeline stages over several machines" in pp.step.provider_note, parallel
        assert (pp.step.inter_hops, pp.step.intra_hops) == hops, parallel


@needs_tables
def test_vllm_and_sglang_layers_pay_the_rotary_embedding_their_attention_tables_leave_out(cat):
    """AIConfigurator's vLLM and SGLang collectors time the attention backend on ready q/k/v, and both
    engines apply RoPE in a kernel of their own before it; its TensorRT-LLM collector builds the
    attention op with RoPE fused in. So on vLLM and SGLang each layer adds one memory-bound operator
    over this rank's query and key heads; TensorRT-LLM and the MLA tables add nothing."""
    with use_provider("measured"):
        v = build_system(cat, "nvidia-h100-sxm", "llama-3.1-70b", "bf16", "vllm", devices=4).step.kernels
        g = build_system(cat, "nvidia-h100-sxm", "llama-3.1-70b", "bf16", "sglang", devices=4).step.kernels
        t = build_system(cat, "nvidia-h100-sxm", "llama-3.1-70b", "bf16", "tensorrt-llm", devices=4).step.kernels
    assert v is not None and g is not None and t is not None
    bw, share, lat = kernels.mem_op_constants("h100_sxm")
    per_token = 2 * (64 // 4 + 8 // 4) * 128 * 2 / (bw * share) * 1e3
    for k in (v, g):
        assert k.ew[0] - t.ew[0] == pytest.approx(lat * 1e3)
        assert k.ew[1] - t.ew[1] == pytest.approx(per_token)
    assert kernels.rope_ms("h100_sxm", 16, 2, 128) == pytest.approx((lat * 1e3, per_token))


@needs_tables
def test_sglang_qwen3_layers_pay_their_q_k_norm(tmp_path):
    """Qwen3 normalises each query and key head before RoPE. SGLang's default decode path runs that
    norm as kernels of its own (2 `apply_qk_norm` + 1 RoPE kernel per layer in the profile of
    sgl-project/sglang PR 22355): one more memory-bound operator per layer on SGLang; vLLM compiles
    norm and RoPE together (counted once); a model without the norm pays nothing more."""
    d = tmp_path / "models"
    d.mkdir()
    text = builtin("profiles", "models", "qwen3-30b-a3b.toml").read_text(encoding="utf-8")
    text = text.replace('id = "qwen3-30b-a3b"', 'id = "qwen3-30b-a3b-noqk"').replace(
        "qk_norm = true", "qk_norm = false"
    )
    text = text.replace('aliases = ["qwen3-30b", "qwen3-30b-a3b-instruct"]', "aliases = []")
    (d / "qwen3-30b-a3b-noqk.toml").write_text(text, encoding="utf-8")
    cat = load_catalog(tmp_path)
    assert cat.models["qwen3-30b-a3b"].qk_norm and not cat.models["qwen3-30b-a3b-noqk"].qk_norm
    with use_provider("measured"):
        k = {
            (e, m): build_system(cat, "nvidia-h100-sxm", m, "bf16", e).step.kernels
            for e in ("sglang", "vllm")
            for m in ("qwen3-30b-a3b", "qwen3-30b-a3b-noqk")
        }
    assert all(v is not None for v in k.values())
    one = kernels.rope_ms("h100_sxm", 32, 4, 128)
    s, s0 = k[("sglang", "qwen3-30b-a3b")], k[("sglang", "qwen3-30b-a3b-noqk")]
    assert s.ew[0] - s0.ew[0] == pytest.approx(one[0]) and s.ew[1] - s0.ew[1] == pytest.approx(one[1])
    assert k[("vllm", "qwen3-30b-a3b")].ew == k[("vllm", "qwen3-30b-a3b-noqk")].ew


def test_sglang_moe_kernel_follows_the_release():
    """SGLang's default MoE kernel for BF16 experts, as its released wheels choose it: Triton up to
    0.5.7 everywhere; from 0.5.8 FlashInfer's TensorRT-LLM MoE on Blackwell for the Qwen3 MoE
    architectures only; quantized experts keep the tables' own kernel."""
    q3 = "Qwen3MoeForCausalLM"
    pick = kernels.sglang_moe_kernel
    assert pick("0.5.6", "bfloat16", "b200_sxm", q3) == kernels.SGLANG_TRITON_MOE
    assert pick("0.5.7", "bfloat16", "b200_sxm", q3) == kernels.SGLANG_TRITON_MOE
    assert pick("0.5.8", "bfloat16", "b200_sxm", q3) == kernels.SGLANG_TRTLLM_MOE
    assert pick("0.5.14", "bfloat16", "b200_sxm", q3) == kernels.SGLANG_TRTLLM_MOE
    assert pick("0.5.14", "bfloat16", "h200_sxm", q3) == kernels.SGLANG_TRITON_MOE  # Hopper: Triton
    assert pick("0.5.14", "bfloat16", "b200_sxm", "MixtralForCausalLM") == kernels.SGLANG_TRITON_MOE
    assert pick("0.5.6", "fp8_block", "b200_sxm", q3) is None


def _moe_rows(system, backend, version, kernel, hidden, inter, topk, experts, tp):
    import pandas as pd

    t = pd.read_parquet(kernels.data_root() / system / "moe" / backend / version / "moe_perf.parquet")
    names = [kernel] if isinstance(kernel, str) else sorted(kernel)
    return t[
        t["kernel_source"].isin(names)
        & (t["moe_dtype"] == "bfloat16")
        & (t["hidden_size"] == hidden)
        & (t["inter_size"] == inter)
        & (t["topk"] == topk)
        & (t["num_experts"] == experts)
        & (t["moe_tp_size"] == tp)
        & (t["moe_ep_size"] == 1)
        & (t["distribution"] == "power_law_1.01")
    ]


@needs_tables
def test_sglang_prices_the_moe_kernel_of_the_asked_release(cat):
    """Qwen3-235B-A22B BF16 on 8 B200 with SGLang: asked for 0.5.6, its experts are priced as the
    Triton fused MoE that release runs (SGLang's table lacks that shape: vLLM's Triton fused MoE on
    the same GPU, named in the label); asked for 0.5.8 or the newest, as FlashInfer's TensorRT-LLM
    MoE from SGLang's own table. Each equals the table's fastest entry of that kernel at one token."""
    shape = (4096, 1536, 8, 128, 8)
    with use_provider("measured"):
        old = build_system(cat, "nvidia-b200", "qwen3-235b-a22b", "bf16", "sglang", devices=8, engine_version="0.5.6")
        new = build_system(cat, "nvidia-b200", "qwen3-235b-a22b", "bf16", "sglang", devices=8, engine_version="0.5.8")
    ko, kn = old.step.kernels, new.step.kernels
    assert ko is not None and kn is not None
    assert "MoE vllm" in old.step.provider_note and "Triton" in old.step.provider_note
    assert "MoE vllm" not in new.step.provider_note
    assert _moe_rows("b200_sxm", "sglang", "0.5.14", kernels.SGLANG_TRITON_MOE, *shape).empty
    vv = ko.op_versions["moe"].split()[1]
    tri = _moe_rows("b200_sxm", "vllm", vv, kernels.VLLM_TRITON_MOE, *shape)
    trt = _moe_rows("b200_sxm", "sglang", "0.5.14", kernels.SGLANG_TRTLLM_MOE, *shape)
    for k, rows in ((ko, tri), (kn, trt)):
        xs, ys = k.moe_curve
        assert xs[0] == 1.0
        assert ys[0] == pytest.approx(rows[rows["num_tokens"] == 1]["latency"].min())
    assert ko.moe_curve[1][0] > kn.moe_curve[1][0]  # Triton is the slower kernel at one token here


@needs_tables
def test_sglang_triton_moe_from_its_own_table_and_vllms_by_either_name(cat):
    """Mixtral (BF16, not a Qwen3 architecture) on B200 with SGLang runs the Triton fused MoE even at
    the newest release, read from SGLang's own table (no vLLM in the label); the vLLM fallback
    finds the Triton kernel under both names the vLLM tables use."""
    with use_provider("measured"):
        s = build_system(cat, "nvidia-b200", "mixtral-8x7b", "bf16", "sglang", devices=2)
    k = s.step.kernels
    assert k is not None, s.step.provider_note
    assert "MoE vllm" not in s.step.provider_note
    rows = _moe_rows("b200_sxm", "sglang", "0.5.14", kernels.SGLANG_TRITON_MOE, 4096, 14336, 2, 8, 2)
    assert not rows.empty
    xs, ys = k.moe_curve
    assert ys[list(xs).index(1.0)] == pytest.approx(rows[rows["num_tokens"] == 1]["latency"].min())
    old = kernels.moe_curve(
        "b200_sxm", "vllm", "0.22.0", "bfloat16", 4096, 1536, 8, 128, 8, kernel=kernels.VLLM_TRITON_MOE
    )
    new = kernels.moe_curve(
        "h100_sxm", "vllm", "0.24.0", "bfloat16", 2048, 5120, 22, 512, 1, kernel=kernels.VLLM_TRITON_MOE
    )
    assert len(old[0]) > 5 and len(new[0]) > 5
    with pytest.raises(kernels.Uncovered, match="sglang_fused_moe_triton"):
        kernels.moe_curve(
            "b200_sxm", "sglang", "0.5.14", "bfloat16", 4096, 1536, 8, 128, 8, kernel=kernels.SGLANG_TRITON_MOE
        )


@needs_tables
def test_an_sglang_release_that_is_not_a_version_is_named_in_the_note(cat):
    """engine_version "latest" is no release number: the MoE kernel is the oldest release's (Triton),
    and the provider's note says so instead of failing or guessing silently."""
    with use_provider("measured"):
        s = build_system(cat, "nvidia-b200", "qwen3-235b-a22b", "bf16", "sglang", devices=8, engine_version="latest")
    assert s.step.kernels is not None
    assert "'latest' is not a release number" in s.step.provider_note
    assert "Triton" in s.step.provider_note
