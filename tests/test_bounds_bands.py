"""Physical bounds and priors of the calibration, held-out validation and the 80% bands."""

import math
import random
from types import SimpleNamespace

import pytest

from planner.model import calibration as C
from planner.model.bands import BANDS_PATH, load_bands
from planner.model.predict import predict
from planner.model.priors import PARAMS, _load_priors, bounds_for


def test_every_range_and_prior_has_a_source():
    data = _load_priors(str(C.PRIORS_PATH))
    for k in PARAMS:
        entry = data[k]
        assert entry.get("source") or entry.get("derived"), k
        for group in ("engine", "backend", "class"):
            for name, over in entry.get(group, {}).items():
                assert over.get("source") or over.get("derived"), (k, group, name)


def test_committed_parameters_inside_their_documented_ranges(cat):
    n = 0
    for eng in cat.engines.values():
        for cls, eff in eng.calibration.items():
            b = C.class_bounds(eng.id, cls)
            for i, k in enumerate(PARAMS):
                v = getattr(eff, k)
                assert b.low[i] - 1e-9 <= v <= b.high[i] + 1e-9, (eng.id, cls, k, v)
                n += 1
    assert n > 50


def test_cuda_graph_engines_have_microsecond_layer_overheads():
    for eng in ("vllm", "sglang", "tensorrt-llm"):
        b = bounds_for(eng, "cuda")
        assert b.high[PARAMS.index("layer_overhead_us")] <= 40
        assert b.high[PARAMS.index("bandwidth_efficiency")] <= 0.92


@pytest.fixture(scope="module")
def trt_models(cat):
    models, _ = C.bind_rows(cat, C.read_rows(C.DEFAULT_DATA), normal_only=True)
    return [m for m in models if m.sys.deployment.engine.id == "tensorrt-llm"]


def test_fit_cannot_leave_its_range(trt_models):
    """Rows that would need a 10x slower machine push parameters to their bounds, never past them."""
    slow = []
    for m in trt_models:
        m2 = C.RowModel.__new__(C.RowModel)
        m2.__dict__.update(m.__dict__)
        m2.row = m.row.__class__(**{**m.row.__dict__, "value": m.row.value * 10})
        slow.append(m2)
    b = bounds_for("tensorrt-llm", "cuda")
    eff = C.fit_group(slow, "test", bounds=b)
    hit = C.at_bounds(eff, b)
    assert hit, "a 10x slower machine must push some parameter to a bound"
    for i, k in enumerate(PARAMS):
        assert b.low[i] - 1e-9 <= getattr(eff, k) <= b.high[i] + 1e-9, k


def test_unidentified_parameters_stay_at_their_prior(trt_models):
    """First-token rows at batch 1 cannot identify the small-batch terms: they stay switched off; with
    two rows only, the bandwidth efficiency stays near its prior."""
    b = bounds_for("tensorrt-llm", "cuda")
    eff = C.fit_group(trt_models[:2], "test", bounds=b)
    assert eff.small_batch_efficiency_ratio == 1.0
    assert abs(eff.bandwidth_efficiency - b.prior[0]) < 2 * b.sd[0]


def test_held_out_fit_never_sees_its_group(cat, trt_models):
    """With every row in one group, nothing is left to fit on: predictions fall back to the priors."""
    recs = C.held_out(cat, trt_models, lambda m: "all", full={})
    assert len(recs) == len(trt_models)
    assert all(r["label"] == "tensorrt-llm:prior" for r in recs)
    loso = C.leave_one_source_out(cat, trt_models, full={})
    assert {r["group"] for r in loso} == {"NVIDIA/TensorRT-LLM"}


def test_leave_one_source_out_on_a_subset(cat):
    """MLX rows come from three sources; each is predicted by a fit on the other two."""
    models, _ = C.bind_rows(cat, C.read_rows(C.DEFAULT_DATA), normal_only=True)
    mlx = [m for m in models if m.sys.deployment.engine.id == "mlx"]
    recs = C.leave_one_source_out(cat, mlx, full={})
    assert {r["group"] for r in recs} == {C.source_key(m.row) for m in mlx}
    assert len({r["group"] for r in recs}) >= 2
    s = C.summarize_records(recs)
    assert s["decode_tok_s"]["median_abs_pct"] < 25.0
    assert all(math.isfinite(r["log_err"]) for r in recs)


def _fake(src: str, err: float, i: int):
    row = SimpleNamespace(source=f"owner{src}/repo path", metric="decode_tok_s", id=f"{src}-{i}")
    dep = SimpleNamespace(engine=SimpleNamespace(id="llama.cpp"), hw=SimpleNamespace(vendor="apple", family="apple-m2"))
    sys = SimpleNamespace(deployment=dep)
    return {"model": SimpleNamespace(row=row, sys=sys, batch=1, prompt=0, gen=128), "log_err": err, "group": src}


def test_band_coverage_of_a_known_error_distribution():
    """Held-out errors drawn from one distribution: bands built from the other sources hold about 80%."""
    rnd = random.Random(7)
    recs = [_fake(str(s), rnd.gauss(0.0, 0.1), i) for s in range(12) for i in range(25)]
    cov = C.band_coverage(recs, recs)["all"]
    assert cov["rows"] == 300
    assert 74.0 <= cov["coverage_pct"] <= 92.0


def test_bands_file_matches_the_data():
    text = BANDS_PATH.read_text()
    assert f"sha256:{C.file_digest(C.DEFAULT_DATA)}" in text, "re-run python -m planner validate --loo --write-bands"
    table = load_bands()
    assert "*@*@decode" in table and "*@*@prefill" in table


def test_predict_carries_bands_that_widen_when_extrapolating(cat):
    r1 = predict(
        cat, hardware="apple-m2-ultra-76c", model="llama-2-7b", quant="q4_0", engine="llama.cpp", prompt=512, gen=128
    )
    lo, hi = r1["decode_tok_s_band80"]
    assert lo < r1["decode_tok_s"] < hi
    lo_p, hi_p = r1["prefill_tok_s_band80"]
    assert lo_p < r1["prefill_tok_s"] < hi_p
    t_lo, t_hi = r1["tpot_s_band80"]
    assert t_lo < r1["tpot_s"] < t_hi
    assert r1["calibration_class"].startswith("llama.cpp x metal") and r1["calibration_rows"] > 0
    r2 = predict(
        cat,
        hardware="apple-m2-ultra-76c",
        model="llama-2-7b",
        quant="q4_0",
        engine="llama.cpp",
        prompt=60000,
        gen=128,
        batch=1,
    )
    w1 = math.log(hi / lo)
    lo2, hi2 = r2["decode_tok_s_band80"]
    assert math.log(hi2 / lo2) > w1  # context beyond what was measured
    r3 = predict(
        cat, hardware="nvidia-h100-sxm", model="llama-3.1-8b", quant="fp8", engine="sglang", prompt=128, gen=128
    )
    assert r3["calibration_fallback"] and "borrows tensorrt-llm" in r3["calibration_fallback"]


def test_measured_gemm_figure_caps_a_peak_that_is_not_reached(cat):
    """The Radeon 8060S's derived 59.4 TFLOPS WMMA peak is not reached (37 measured): a long
    prefill cannot run faster than the measured GEMM rate."""
    from planner.model.arch import active_params

    r = predict(
        cat, hardware="amd-ryzen-ai-max-395", model="llama-3.1-8b", quant="f16", engine="llama.cpp", prompt=4096, gen=0
    )
    assert r["compute_achievable_tflops"] == 37.0
    flops_per_s = r["prefill_tok_s"] * 2 * active_params(cat.models["llama-3.1-8b"])
    assert flops_per_s <= 37.0e12
    r2 = predict(
        cat, hardware="apple-m2-ultra-76c", model="llama-3.1-8b", quant="f16", engine="llama.cpp", prompt=4096, gen=0
    )
    assert r2["compute_achievable_tflops"] is None


def test_committed_held_out_results_meet_the_band_and_decode_targets():
    """What `validate --loo --write-bands` wrote for the current data: the 80% bands hold 75-85% of
    the rows in leave-one-source-out, and held-out decode is within 10% (median)."""
    import json

    doc = json.loads((BANDS_PATH.parent / "held_out.json").read_text())
    assert doc["data"].endswith(C.file_digest(C.DEFAULT_DATA))
    cov = doc["summary"]["band_coverage"]["all"]
    assert cov["rows"] > 200
    assert 75.0 <= cov["coverage_pct"] <= 85.0
    assert doc["summary"]["leave_one_source_out"]["decode_tok_s"]["median_abs_pct"] <= 10.0
