"""The single-run model's three parts are what they claim: a frozen, hashable Deployment; a MemoryModel
whose figures are predict's; a StepTimeModel whose times are predict's; a System with no attribute
beyond its declared ones; each deployment check raising its own message."""

import dataclasses
import traceback

import pytest

from planner.errors import ScenarioError, UnsupportedError
from planner.model import deployment as D
from planner.model.kernels import use_provider
from planner.model.memory import MemoryModel
from planner.model.perf import StepTimeModel, System, build_system, compose
from planner.model.predict import predict

CASE = dict(hardware="nvidia-h100-sxm", model="llama-3.1-70b", quant="fp8", engine="vllm", devices=2)


@pytest.fixture(scope="module")
def sys_(cat):
    c = dict(CASE)
    return build_system(cat, c.pop("hardware"), c.pop("model"), c.pop("quant"), c.pop("engine"), **c)


def test_deployment_is_frozen_and_hashed_by_what_identifies_it(cat, sys_):
    dep = sys_.deployment
    with pytest.raises(dataclasses.FrozenInstanceError):
        dep.devices = 4  # type: ignore[misc]
    again = build_system(cat, "nvidia-h100-sxm", "llama-3.1-70b", "fp8", "vllm", devices=2).deployment
    assert again == dep and hash(again) == hash(dep) and len({dep, again}) == 1
    other = dataclasses.replace(dep, devices=4, parallel=D.Parallel(tp=4))
    assert other != dep and len({dep, other}) == 2
    # resolved, not asked for: the default split, the largest memory size, the engine's KV dtype
    assert (dep.tp, dep.pp, dep.total_devices) == (2, 1, 2)
    assert dep.memory_gb == max(dep.hw.memory_gb) and dep.kv_dtype in dep.quant.kv_cache_dtypes


def test_memory_model_figures_are_predicts(cat, sys_):
    batch, prompt, gen = 8, 3000, 500
    out = predict(cat, **CASE, batch=batch, prompt=prompt, gen=gen)
    mem = sys_.memory
    assert isinstance(mem, MemoryModel) and mem.deployment is sys_.deployment
    assert mem.breakdown(batch, prompt + gen).as_dict() == out["memory_gb"]
    assert mem.max_context() == out["max_context_tokens"]
    assert mem.max_sequences(prompt + gen) == out["max_concurrent_sequences"]
    # a variant built from the deployment alone (what fit_reason does for a bigger size) agrees
    assert MemoryModel.of(sys_.deployment) == mem


def test_step_time_model_times_are_predicts(cat, sys_):
    batch, prompt, gen = 4, 1000, 64
    out = predict(cat, **CASE, batch=batch, prompt=prompt, gen=gen)
    st = sys_.step
    assert isinstance(st, StepTimeModel) and st.deployment is sys_.deployment and st.memory is sys_.memory
    assert out["ttft_s"] == round(st.prefill_time(prompt, batch), 6)
    steps = st.decode_times(prompt, gen, batch)
    assert out["tpot_s"] == round(float(steps[: gen - 1].mean()), 6)
    assert out["step_time_provider"] == st.provider_note and out["calibration"] == st.eff_label


def test_no_attribute_beyond_the_declared_ones(sys_):
    for part in (sys_, sys_.memory, sys_.step):
        assert not hasattr(part, "__dict__"), type(part).__name__
    with pytest.raises(AttributeError):
        sys_.step.not_declared = 1  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        sys_.memory.window = 3  # type: ignore[misc]


def test_systems_hot_attributes_are_the_parts_own(cat):
    with use_provider("roofline"):
        sys = build_system(cat, "nvidia-h100-sxm", "llama-3.1-8b", "fp8", "vllm")
        fresh = compose(sys.deployment)
    assert isinstance(sys, System)
    assert sys.kv_bytes.__self__ is sys.memory and sys.kv_full_per_token == sys.memory.kv_full_per_token
    for name in ("seq_terms", "step_time", "step_time_agg", "step_times_vec", "step_pricer", "decode_pricer"):
        assert getattr(sys, name).__self__ is sys.step, name
    assert (sys.attn_full_coef, sys.attn_swa_coef) == (sys.step.attn_full_coef, sys.step.attn_swa_coef)
    # bound to the step model itself: a swapped calibration is seen through the System's attribute
    before = sys.step_time_agg(4, 4, 1e9, 1e12)
    eff = sys.step.eff.model_copy(update={"bandwidth_efficiency": sys.step.eff.bandwidth_efficiency / 2})
    sys.step.set_efficiency(eff, "halved")
    assert sys.step_time_agg(4, 4, 1e9, 1e12) > before
    assert fresh.step_time_agg(4, 4, 1e9, 1e12) == before  # another System: its own step model


BAD = [  # (check that refuses it, build_system arguments, field, message fragment)
    ("check_counts", dict(devices=0), "devices", "must be an integer from 1 to 1024"),
    ("check_counts", dict(nodes=300), "nodes", "must be an integer from 1 to 256"),
    ("check_link", dict(nodes=2), "link", "2 nodes need a link between them"),
    ("check_parallel", dict(devices=4, parallel="tp=3"), "parallel", "must equal all devices"),
    ("check_parallel", dict(devices=2, parallel="tp=2,ep=2"), "parallel", "expert parallel needs a MoE model"),
    ("check_offload", dict(offload="experts"), "host", "offloading needs a host platform"),
    ("check_memory_size", dict(memory_gb=7), "memory_gb", "is sold with"),
    ("check_memory_size", dict(usable_memory_gb=1000), "usable_memory_gb", "more than the"),
    ("check_stack", dict(engine="mlx"), "engine", "does not run on nvidia hardware"),
    ("check_stack", dict(quant="mlx-4bit"), "quant", "does not load mlx-4bit"),
    ("check_kv_dtype", dict(kv_dtype="q8_0"), "kv_dtype", "supports KV cache dtypes"),
    ("check_support", dict(hardware="amd-rx-7900-xtx", quant="fp8"), "quant", "nearest supported"),
]


@pytest.mark.parametrize("check,kwargs,field,fragment", BAD, ids=[f"{b[0]}-{b[2]}" for b in BAD])
def test_each_check_raises_its_own_message(cat, check, kwargs, field, fragment):
    args = dict(hardware="nvidia-h100-sxm", model="llama-3.1-8b", quant="fp8", engine="vllm") | kwargs
    with pytest.raises(ScenarioError) as e:
        build_system(cat, args.pop("hardware"), args.pop("model"), args.pop("quant"), args.pop("engine"), **args)
    assert e.value.field == field and fragment in e.value.message, str(e.value)
    assert isinstance(e.value, UnsupportedError) == (check == "check_support")
    raised_in = traceback.extract_tb(e.value.__traceback__)[-1].name
    assert raised_in == check, f"{field} refused by {raised_in}, not {check}"
    assert callable(getattr(D, check))
