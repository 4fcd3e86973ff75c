"""The engine support matrix (profiles/support): every entry sourced, unsupported combinations refused with
the reason and a supported alternative (exit 2), emulated formats priced at 16-bit and labelled."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from planner.catalog.loader import load_catalog
from planner.catalog.support import check, format_note, quality_tier
from planner.errors import CatalogError, UnsupportedError
from planner.model.kernels import use_provider
from planner.model.perf import build_system
from planner.model.predict import predict

ROOT = Path(__file__).resolve().parent.parent


def test_every_matrix_entry_has_a_source(cat):
    assert set(cat.support) == set(cat.engines)  # every engine has a matrix
    known_archs = {hw.arch.id for hw in cat.hardware.values() if hw.arch}
    n = 0
    for sm in cat.support.values():
        assert sm.version_source.strip() and sm.checked_version.strip()
        for table in ("runs_on", "weights", "kv_cache"):
            for i, rule in enumerate(getattr(sm, table)):
                n += 1
                assert rule.source.strip(), (sm.engine, table, i)
                # an architecture id no hardware profile has is a typo
                assert set(rule.archs) <= known_archs, (sm.engine, table, i, set(rule.archs) - known_archs)
                if table == "weights" and rule.support == "emulated":
                    assert rule.compute in ("fp16", "bf16"), (sm.engine, i)
    assert n >= 40
    for hw in cat.hardware.values():
        assert hw.arch is not None and hw.arch.source.strip(), hw.id
    for q in cat.quants.values():  # a quality note: sourced, or says none known
        assert q.quality is not None, q.id
        assert q.quality.source or q.quality.derived or q.quality.note.startswith("none known"), q.id


def test_a_rule_without_a_source_is_a_bad_profile(tmp_path):
    d = tmp_path / "support"
    d.mkdir()
    (d / "vllm.toml").write_text(
        'engine = "vllm"\nchecked_version = "1"\nversion_source = "x"\n'
        '[[runs_on]]\narchs = ["sm90"]\nsource = "x"\n'
        '[[weights]]\narchs = ["sm90"]\nformats = ["fp8"]\nsupport = "native"\n'
    )
    with pytest.raises(CatalogError, match=r"(?s)support.*weights\.0\.source"):
        load_catalog(tmp_path)


def test_first_matching_rule_decides_and_unlisted_pairs_are_unsupported(cat):
    a100, dense, moe = cat.hardware["nvidia-a100-80gb-sxm"], cat.models["llama-3.1-8b"], cat.models["mixtral-8x7b"]
    fp8 = cat.quants["fp8"]
    assert check(cat, a100, dense, fp8, "vllm").status == "emulated"  # Marlin W8A16
    # vLLM PR 18026: FP8 MoE on Ampere runs as weight-only Marlin MoE, labelled with its own source
    v = check(cat, a100, moe, fp8, "vllm")
    assert v.status == "emulated" and "18026" in v.source
    assert check(cat, cat.hardware["nvidia-h100-sxm"], moe, fp8, "vllm").status == "native"
    # a rule for one model kind does not cover the other: SGLang's Ampere FP8 rule is for dense models only
    assert check(cat, a100, dense, fp8, "sglang").status == "emulated"
    assert check(cat, a100, moe, fp8, "sglang").status == "unsupported"
    # no source says vLLM runs MXFP4 on RDNA3: unsupported, and the message says so
    v = check(cat, cat.hardware["amd-rx-7900-xtx"], cat.models["gpt-oss-120b"], cat.quants["mxfp4"], "vllm")
    assert v.status == "unsupported" and "no source" in v.reason


def test_reviewed_rules(cat):
    """Rules corrected against the engines' own code and docs (each with its source)."""
    gpt, mx = cat.models["gpt-oss-120b"], cat.quants["mxfp4"]
    # vLLM on B200: the default MXFP4 MoE path is BF16 x MXFP4 (native MXFP8 activations need a flag)
    v = check(cat, cat.hardware["nvidia-b200"], gpt, mx, "vllm")
    assert v.status == "emulated" and v.compute == "bf16" and "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8" in v.reason
    # TensorRT-LLM on Hopper: MXFP4 MoE weights with BF16 activations; NVFP4 stays refused
    h100 = cat.hardware["nvidia-h100-sxm"]
    assert check(cat, h100, gpt, mx, "tensorrt-llm").status == "emulated"
    assert check(cat, h100, cat.models["llama-3.1-8b"], cat.quants["nvfp4"], "tensorrt-llm").status == "unsupported"
    # SGLang: MXFP4 on Hopper and MI300X (no MX hardware on CDNA3), and DGX Spark is a platform it documents
    assert check(cat, h100, gpt, mx, "sglang").status == "emulated"
    assert check(cat, cat.hardware["amd-mi300x"], gpt, mx, "sglang").status == "emulated"
    assert check(cat, cat.hardware["nvidia-dgx-spark"], cat.models["llama-3.1-8b"], cat.quants["bf16"], "sglang").ok
    # vLLM FP8 KV cache: refused on Ampere (issue 26431) and RDNA3 (custom paged attention needs 'auto')
    for hw in ("nvidia-a100-80gb-sxm", "amd-rx-7900-xtx"):
        v = check(cat, cat.hardware[hw], cat.models["llama-3.1-8b"], cat.quants["bf16"], "vllm", kv_dtype="fp8")
        assert v.status == "unsupported" and v.field == "kv_dtype", hw


@pytest.mark.parametrize(
    "hw, quant, engine, why",
    [
        ("amd-rx-7900-xtx", "fp8", "vllm", "gfx1100"),  # RDNA3 has no FP8 path in vLLM
        ("nvidia-a100-80gb-sxm", "fp8", "tensorrt-llm", "SM89"),  # TensorRT-LLM: FP8 from Ada on
        ("nvidia-h100-sxm", "nvfp4", "tensorrt-llm", "Blackwell"),  # TensorRT-LLM: FP4 only on Blackwell
    ],
)
def test_unsupported_gives_reason_source_and_a_working_alternative(cat, hw, quant, engine, why):
    with pytest.raises(UnsupportedError) as exc:
        build_system(cat, hw, "llama-3.1-8b", quant, engine)
    v = exc.value.verdict
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("quant: ")
    assert why in msg and "(source: " in msg and "nearest supported: " in msg
    assert v.alternatives, msg
    for q, e in v.alternatives:  # every alternative offered really runs there
        sys_ = build_system(cat, hw, "llama-3.1-8b", q, e)
        assert sys_.deployment.support.ok and f"{q} with {e}" in msg
    # the other engine's alternative keeps the format when one runs it (FP8 on Ampere: vLLM's W8A16)
    if (hw, quant) == ("nvidia-a100-80gb-sxm", "fp8"):
        assert ("fp8", "vllm") in v.alternatives
    if (hw, quant) == ("nvidia-h100-sxm", "nvfp4"):
        assert ("nvfp4", "vllm") in v.alternatives


def test_cli_unsupported_is_one_line_exit_2_and_no_fit_stays_3():
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "planner", "predict", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
        )

    p = run("--hardware", "amd-rx-7900-xtx", "--model", "llama-3.1-8b", "--quant", "fp8", "--engine", "vllm")
    assert p.returncode == 2 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "nearest supported" in lines[0] and "Traceback" not in p.stderr
    # a supported configuration that does not fit keeps exit 3
    p = run(
        "--hardware", "nvidia-rtx-4090", "--model", "llama-3.1-70b", "--quant", "bf16", "--engine", "vllm", "--json"
    )
    assert p.returncode == 3 and json.loads(p.stdout)["fits"] is False


def test_simulate_and_compare_refuse_the_same(cat):
    from planner.sim.engine import simulate_scenario
    from planner.sim.scenario import parse_scenario
    from planner.webapp.compare import evaluate_option

    sc = parse_scenario(
        {
            "model": "llama-3.1-8b",
            "quant": "fp8",
            "engine": "vllm",
            "machine": {"hardware": "amd-rx-7900-xtx"},
            "workload": {"arrival": "closed", "concurrency": 2, "requests": 20},
        }
    )
    with pytest.raises(UnsupportedError):
        simulate_scenario(cat, sc)
    out = evaluate_option(cat, sc, 0)
    assert out["error"] and "nearest supported" in out["error"]


@pytest.fixture
def roofline():
    """The roofline's own pricing of emulation (the measured-kernel provider has no weight-only kernels and
    falls back to the roofline for emulated formats, so comparing it with a native measured row mixes providers)."""
    with use_provider("roofline"):
        yield


def test_emulated_is_priced_at_16_bit_and_labelled(cat, tmp_path, roofline):
    # vLLM runs FP8 on an A100 as weight-only W8A16: labelled, 16-bit compute
    r = predict(
        cat, hardware="nvidia-a100-80gb-sxm", model="llama-3.1-8b", quant="fp8", engine="vllm", prompt=2048, gen=64
    )
    assert r["emulated"] is True and r["support"]["status"] == "emulated" and r["compute_dtype"] == "fp16"
    native = predict(
        cat, hardware="nvidia-h100-sxm", model="llama-3.1-8b", quant="fp8", engine="vllm", prompt=2048, gen=64
    )
    assert native["emulated"] is False and native["compute_dtype"] == "fp8"
    # the same hardware with a matrix that says 'emulated': FP8 tensor cores are not used, so compute-bound
    # prefill slows to the 16-bit rate while memory-bound decode stays put
    d = tmp_path / "support"
    d.mkdir()
    text = (ROOT / "planner" / "profiles" / "support" / "vllm.toml").read_text()
    text = text.replace(
        'archs = ["sm89", "sm90", "sm100", "sm120", "sm121"]\nformats = ["fp8"]\nsupport = "native"',
        'archs = ["sm89", "sm90", "sm100", "sm120", "sm121"]\nformats = ["fp8"]\nsupport = "emulated"\n'
        'compute = "fp16"',
    )
    assert 'support = "emulated"\ncompute = "fp16"' in text
    (d / "vllm.toml").write_text(text)
    emu = predict(
        load_catalog(tmp_path),
        hardware="nvidia-h100-sxm",
        model="llama-3.1-8b",
        quant="fp8",
        engine="vllm",
        prompt=2048,
        gen=64,
    )
    assert emu["emulated"] is True and emu["compute_dtype"] == "fp16"
    assert emu["prefill_tok_s"] < 0.8 * native["prefill_tok_s"]
    assert emu["decode_tok_s"] == pytest.approx(native["decode_tok_s"], rel=0.05)


def test_quality_notes_and_tiers(cat):
    assert quality_tier(cat.quants["bf16"]) == "16bit" and quality_tier(cat.quants["q8_0"]) == "8bit"
    assert quality_tier(cat.quants["fp8"]) == "8bit" and quality_tier(cat.quants["mxfp4"]) == "4bit"
    assert quality_tier(cat.quants["q4_k_m"]) == "4bit" and quality_tier(cat.quants["iq2_xxs"]) == "below4bit"
    n = format_note(cat, "q4_k_m")
    # llama-quantize's table gives the delta without its baseline: the note says so and the source quotes it
    assert "+0.1754 perplexity @ Llama-3-8B" in n["quality"] and "baseline is not stated" in n["quality"]
    assert "quantize.cpp at " in n["quality_source"] and "+0.1754 ppl @ Llama-3-8B" in n["quality_source"]
    for q in ("iq2_xxs", "iq1_s"):  # 'none known', but sourced: llama-quantize needs an importance matrix
        assert "importance matrix" in cat.quants[q].quality.note and cat.quants[q].quality.source
    assert format_note(cat, "fp8", {"status": "emulated"})["text"].startswith(cat.quants["fp8"].name + " (emulated)")


def test_compare_shows_each_options_format_with_its_note(cat):
    from planner.sim.scenario import parse_scenario
    from planner.webapp.compare import evaluate_option

    sc = parse_scenario(
        {
            "model": "llama-3.1-8b",
            "quant": "fp8",
            "engine": "vllm",
            "machine": {"hardware": "nvidia-rtx-3090"},
            "compare": [{"hardware": "nvidia-rtx-4090"}],
            "workload": {"arrival": "closed", "concurrency": 2, "requests": 20},
        }
    )
    ampere, ada = evaluate_option(cat, sc, 0), evaluate_option(cat, sc, 1)
    assert ampere["format"]["support"] == "emulated" and "(emulated)" in ampere["format"]["text"]
    assert ada["format"]["support"] == "native" and "(emulated)" not in ada["format"]["text"]
    assert cat.quants["fp8"].quality.note in ada["format"]["text"]


def test_min_quality_travels_in_the_plan_link():
    from planner.webapp.links import decode_plan, encode_plan_params
    from planner.webapp.plan_inputs import PlanInputs

    assert PlanInputs().min_quality == "4bit" and "min_quality" not in PlanInputs().spec()
    q = encode_plan_params(PlanInputs(min_quality="8bit"))
    assert q == {"plan.min_quality": "8bit"}
    inp, warns = decode_plan(q)
    assert inp.min_quality == "8bit" and not warns and inp.spec()["min_quality"] == "8bit"
    inp, warns = decode_plan({"plan.min_quality": "3bit"})
    assert inp.min_quality == "4bit" and warns and warns[0].field == "plan.min_quality"


def test_nearest_alternative_prefers_equal_or_higher_quality(cat, tmp_path):
    """A refused format is replaced by one of the same or a higher quality tier when one runs: with the old
    rule 'vLLM refuses FP8 MoE on Ampere', the same-engine alternative is BF16, not 4-bit NVFP4 (nearer in
    bits, but lower quality)."""
    d = tmp_path / "support"
    d.mkdir()
    text = (ROOT / "planner" / "profiles" / "support" / "vllm.toml").read_text()
    marker = 'archs = ["sm80", "sm86"]\nformats = ["fp8"]\nmodels = "moe"\nsupport = "emulated"\ncompute = "fp16"'
    assert marker in text
    (d / "vllm.toml").write_text(
        text.replace(marker, 'archs = ["sm80", "sm86"]\nformats = ["fp8"]\nmodels = "moe"\nsupport = "unsupported"')
    )
    c2 = load_catalog(tmp_path)
    a100, moe = c2.hardware["nvidia-a100-80gb-sxm"], c2.models["mixtral-8x7b"]
    # NVFP4 does run there (Marlin W4A16), so it is a candidate the old order picked
    assert check(c2, a100, moe, c2.quants["nvfp4"], "vllm").ok
    v = check(c2, a100, moe, c2.quants["fp8"], "vllm")
    assert v.status == "unsupported"
    same = [q for q, e in v.alternatives if e == "vllm"]
    assert same and quality_tier(c2.quants[same[0]]) in ("8bit", "16bit"), v.alternatives
    assert "nvfp4" not in v.alternative
    # across the catalog: an alternative of lower quality is offered only when none of equal or higher runs
    order = ("below4bit", "4bit", "8bit", "16bit")
    model = cat.models["llama-3.1-8b"]
    for hw_id in ("nvidia-a100-80gb-sxm", "nvidia-h100-sxm", "amd-rx-7900-xtx", "amd-mi300x"):
        hw = cat.hardware[hw_id]
        for q in cat.quants.values():
            for e in q.engines:
                if hw.vendor not in cat.engines[e].vendors:
                    continue
                v = check(cat, hw, model, q, e)
                if v.ok or not v.alternatives:
                    continue
                want = order.index(quality_tier(q))
                for aq, ae in v.alternatives:
                    if order.index(quality_tier(cat.quants[aq])) < want:
                        # no same-engine (or other-engine) format of equal or higher tier runs there
                        from planner.catalog.support import supported_engines

                        better = [
                            (x.id, en)
                            for x in cat.quants.values()
                            if order.index(quality_tier(x)) >= want
                            for en, _ in supported_engines(cat, hw, model, x, list(cat.engines))
                            if (en == e) == (ae == e)
                        ]
                        assert not better, (hw_id, q.id, e, aq, ae, better[:3])
