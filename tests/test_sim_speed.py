"""The simulator's fast paths give the general step function's numbers bit for bit: the folded
decode-step times (perf.DecodePricer, and perf.KernelDecodePricer / KernelStepPricer under the
measured kernels) against StepTimeModel._step, their runs against a cumulative sum,
and the event loop's results against the golden files (tests/test_golden.py)."""

import math

import numpy as np
import pytest

from planner.model.kernels import use_provider
from planner.model.perf import DecodePricer, KernelDecodePricer, KernelStepPricer, build_system
from planner.sim.bench import SUITE, suite_scenario
from planner.sim.engine import resolve
from planner.sim.scenario import parse_scenario

SYSTEMS = [  # dense, GQA + sliding window + MoE, MLA MoE with TP and EP, experts offloaded to a host
    dict(hardware="nvidia-h100-sxm", model="llama-3.1-8b", quant="fp8", engine="vllm"),
    dict(hardware="nvidia-h100-sxm", model="gpt-oss-120b", quant="mxfp4", engine="vllm"),
    dict(
        hardware="nvidia-h200-sxm", model="deepseek-r1", quant="fp8", engine="sglang", devices=8, parallel="tp=8,ep=8"
    ),
    dict(
        hardware="nvidia-rtx-pro-6000",
        model="deepseek-r1",
        quant="q4_k_m",
        engine="llama.cpp",
        host="amd-epyc-9004-genoa",
        offload="experts",
    ),
    dict(hardware="apple-m2-ultra-76c", model="llama-3.1-8b", quant="q4_k_m", engine="llama.cpp"),
]


@pytest.mark.parametrize("kw", SYSTEMS, ids=lambda kw: f"{kw['model']}-{kw['engine']}")
def test_folded_decode_step_is_the_step_function(cat, kw):
    with use_provider("roofline"):  # the folded step is the roofline's; measured kernels price their own
        sys = build_system(cat, **kw)
    rng = np.random.default_rng(1)
    for n in (1, 2, 5, 64, 300):
        pr = sys.decode_pricer(n)
        assert pr is not None
        kv = rng.uniform(0, 2e11, 200) * rng.choice([1e-6, 1e-3, 1.0], 200)
        attn = rng.uniform(0, 1e16, 200) * rng.choice([1e-6, 1e-3, 1.0], 200)
        ref = [sys.step_time_agg(n, n, a, b) for a, b in zip(kv, attn)]
        assert [pr.time(a, b) for a, b in zip(kv, attn)] == ref
        assert pr.times(kv, attn).tolist() == sys.step_times_vec(n, n, kv, attn).tolist() == ref
        # a run: summed context s0 + n j, sequential cumulative sums, with and without CPU cost
        kf, af = sys.kv_full_per_token, sys.attn_full_coef
        for cpu, overlap in ((0.0, False), (3e-4, False), (3e-4, True), (1.0, True)):
            steps = []
            for j in range(30):
                s = 1000 * n + n * j
                kv_j, attn_j = kf * s, af * s
                if sys.window:
                    sw = 50 * n + n * j
                    kv_j, attn_j = kv_j + sys.kv_swa_per_token * sw, attn_j + sys.attn_swa_coef * sw
                t = sys.step_time_agg(n, n, kv_j, attn_j)
                if cpu:
                    t = max(t, cpu) if overlap else t + cpu
                steps.append(t)
            win = (50 * n, n, sys.kv_swa_per_token, sys.attn_swa_coef) if sys.window else None
            got = pr.run(30, 1000 * n, n, kf, af, math.inf, cpu, overlap, win)
            assert got == np.cumsum(steps).tolist()
            h = got[11] - 1e-9  # stops after the first step ending at or after h
            assert pr.run(30, 1000 * n, n, kf, af, h, cpu, overlap, win) == got[:12]
            # the first step priced by the caller (t0): the same run
            assert pr.run(30, 1000 * n, n, kf, af, math.inf, cpu, overlap, win, got[0]) == got
            assert pr.run(30, 1000 * n, n, kf, af, h, cpu, overlap, win, got[0]) == got[:12]
            assert pr.run(30, 1000 * n, n, kf, af, got[0], cpu, overlap, win, got[0]) == got[:1]


def test_decode_run_loop_computes_the_bounding_side_alone():
    """A run whose steps are memory-bound (or compute-bound) at its first and last step is priced
    from that side alone (DecodePricer's run loop, _run_loop): the same times as time() step by
    step there and where the bound crosses over within the run, with and without windowed terms,
    CPU cost, and the first step given (t0)."""
    kf, af, ks, aw, n, s0, k = 2.0, 3.0e6, 0.5, 1.0e6, 10, 1000, 30
    cases = {"memory": (0.0, 1e11), "compute": (1e9, 1e6), "crossing": (0.0, 2.1e9)}
    for name, (f0, w) in cases.items():
        pr = DecodePricer(f0, 1e12, 1e-4, 2, 1.1, w, 1e12, [2e-3, 0.0])
        for win, cpu, overlap in ((None, 0.0, False), ((500, 7, ks, aw), 3e-4, False), (None, 5e-3, True)):
            steps, bound = [], set()
            for j in range(k):
                s = s0 + n * j
                kv, attn = kf * s, af * s
                if win is not None:
                    kv, attn = kv + ks * (win[0] + win[1] * j), attn + aw * (win[0] + win[1] * j)
                c = (f0 + attn) / 1e12 + 1e-4
                bound.add((w + kv) / 1e12 > c / 2 * 1.1)
                t = pr.time(kv, attn)
                steps.append((max(t, cpu) if overlap else t + cpu) if cpu else t)
            got = pr.run(k, s0, n, kf, af, math.inf, cpu, overlap, win)
            assert got == np.cumsum(steps).tolist()
            assert pr.run(k, s0, n, kf, af, math.inf, cpu, overlap, win, got[0]) == got
            h = got[20] - 1e-9
            assert pr.run(k, s0, n, kf, af, h, cpu, overlap, win, got[0]) == got[:21]
            assert len(bound) == (2 if name == "crossing" else 1)  # the cases are what they say


@pytest.mark.parametrize("kw", SYSTEMS, ids=lambda kw: f"{kw['model']}-{kw['engine']}")
def test_folded_mixed_step_is_the_step_function(cat, kw):
    """On the roofline a step with prompt tokens is priced by _stage with the system's constants
    bound (StepTimeModel.step_pricer) where nothing is offloaded: step_time_agg's numbers bit for bit."""
    with use_provider("roofline"):
        sys = build_system(cat, **kw)
    pr = sys.step_pricer()
    assert (getattr(pr, "__self__", None) is None) == (not sys.step.offload_layers and not sys.step.offload_experts)
    rng = np.random.default_rng(3)
    for _ in range(400):
        n = int(rng.integers(1, 600))
        tokens = n + int(rng.choice([0, 1, 100, 2048, 8192, 40_000]))
        kv = float(rng.uniform(0, 2e11)) * float(rng.choice([1e-6, 1e-3, 1.0]))
        attn = float(rng.uniform(0, 1e17)) * float(rng.choice([0.0, 1e-6, 1.0]))
        assert pr(n, tokens, kv, attn) == sys.step_time_agg(n, tokens, kv, attn)


def test_no_folded_step_where_it_does_not_apply(cat):
    kw = dict(hardware="nvidia-h100-sxm", model="llama-3.1-70b", quant="fp8", engine="vllm", devices=8)
    with use_provider("roofline"):
        assert build_system(cat, parallel="tp=4,pp=2", **kw).decode_pricer(8) is None  # pipeline stages
        assert build_system(cat, parallel="tp=8", **kw).decode_pricer(8) is not None
    with use_provider("measured"):  # NVIDIA's measured kernels price the steps: their own folded step
        sys = build_system(cat, parallel="tp=8", **kw)
        piped = build_system(cat, parallel="tp=4,pp=2", **kw)
    if sys.step.kernels is not None:  # the optional tables are installed (make installs them)
        assert isinstance(sys.decode_pricer(8), KernelDecodePricer)
        assert piped.decode_pricer(8) is None and piped.step_pricer() is None


KERNEL_SYSTEMS = [  # measured-kernel provider: the suite's (A100 and H100 with vLLM) and TP 8
    dict(hardware="nvidia-a100-80gb-sxm", model="llama-2-7b", quant="f16", engine="vllm"),
    dict(hardware="nvidia-h100-sxm", model="llama-3.1-8b", quant="fp8", engine="vllm"),
    dict(hardware="nvidia-h100-sxm", model="llama-3.1-70b", quant="fp8", engine="vllm", devices=8, parallel="tp=8"),
]


@pytest.mark.parametrize("kw", KERNEL_SYSTEMS, ids=lambda kw: f"{kw['model']}-{kw['hardware']}")
def test_folded_kernel_steps_are_the_step_function(cat, kw):
    """Under NVIDIA's measured kernels the folded decode step (KernelDecodePricer: time, runs,
    arrays) and the cached mixed step (KernelStepPricer) give step_time_agg's numbers bit for bit,
    inside and beyond the tables' grids."""
    with use_provider("measured"):
        sys = build_system(cat, **kw)
    if sys.step.kernels is None:
        pytest.skip("NVIDIA's tables are not installed")
    rng = np.random.default_rng(2)
    kf, af = sys.kv_full_per_token, sys.attn_full_coef
    for n in (1, 2, 5, 64, 300):
        pr = sys.decode_pricer(n)
        assert isinstance(pr, KernelDecodePricer)
        kv = kf * n * rng.uniform(1, 3e5, 200) * rng.choice([1e-4, 1e-2, 1.0], 200)  # contexts 0 to 300k
        attn = rng.uniform(0, 1e16, 200)
        ref = [sys.step_time_agg(n, n, a, b) for a, b in zip(kv, attn)]
        assert [pr.time(a, b) for a, b in zip(kv, attn)] == ref
        assert pr.times(kv, attn).tolist() == sys.step_times_vec(n, n, kv, attn).tolist()
        for cpu, overlap in ((0.0, False), (3e-4, False), (3e-4, True), (1.0, True)):
            grid = [
                int(x) * n - 15 * n for x in pr.xs[1 :: max(1, len(pr.xs) // 4)] if x > 16
            ]  # runs across grid points
            for s0 in (10 * n, 1000 * n, 200_000 * n, *grid):
                steps = []
                for j in range(30):
                    s = s0 + n * j
                    t = sys.step_time_agg(n, n, kf * s, af * s)
                    if cpu:
                        t = max(t, cpu) if overlap else t + cpu
                    steps.append(t)
                got = pr.run(30, s0, n, kf, af, math.inf, cpu, overlap, None)
                assert got == np.cumsum(steps).tolist()
                h = got[11] - 1e-9
                assert pr.run(30, s0, n, kf, af, h, cpu, overlap, None) == got[:12]
                assert pr.run(30, s0, n, kf, af, math.inf, cpu, overlap, None, got[0]) == got
                assert pr.run(30, s0, n, kf, af, h, cpu, overlap, None, got[0]) == got[:12]
    mixed = KernelStepPricer(sys.step, checks=0)  # no self-check: every call the folded way
    for _ in range(500):
        n = int(rng.integers(1, 600))
        tokens = n + int(rng.choice([0, 1, 100, 2048, 8192, 40_000]))
        kv = kf * n * float(rng.uniform(1, 2e5))
        attn = float(rng.uniform(0, 1e17)) * float(rng.choice([0.0, 1e-6, 1.0]))
        assert mixed(n, tokens, kv, attn) == sys.step_time_agg(n, tokens, kv, attn)
    checked = KernelStepPricer(sys.step)
    assert checked(4, 2000, kf * 4000, 1e13) == sys.step_time_agg(4, 2000, kf * 4000, 1e13) and checked.checks == 15


@pytest.mark.parametrize("name", list(SUITE))
def test_suite_workloads_use_the_folded_step(cat, name):
    """The speed of `bench --suite` rests on the folded step time: a step-function change it does
    not reproduce bit for bit switches it off (correct, but slow), and this test says so."""
    sc = suite_scenario(name, 10)
    with use_provider("roofline"):
        sys, _ = resolve(cat, sc)
    assert sys.decode_pricer(1) is not None and sys.decode_pricer(256) is not None
    sys, _ = resolve(cat, sc)  # by default NVIDIA's measured kernels price some (their own folded step)
    for n in (1, 256):
        pr = sys.decode_pricer(n)
        assert pr is not None and isinstance(pr, KernelDecodePricer) == (sys.step.kernels is not None)


@pytest.mark.parametrize("name", list(SUITE))
def test_suite_workloads_use_the_folded_mixed_step(cat, name):
    """Under NVIDIA's measured kernels a step with prompt tokens is priced by KernelStepPricer with
    the context-attention look-up folded (its constants checked at construction): after its first
    steps' self-checks agree, the engine calls it directly.  A change to MeasuredKernels.stage or
    _ctx_equiv_ms that the folding does not follow switches that off (correct, but slow): this test
    says so."""
    from planner.sim import engine as S

    sc = suite_scenario(name, 200 if name == "replicas" else 60)  # (each replica checks its own first steps)
    sys_, cfg = resolve(cat, sc)
    if sys_.step.kernels is None:
        pytest.skip("the roofline prices this workload's steps")
    assert isinstance(sys_.step_pricer(), KernelStepPricer) and sys_.step_pricer().ce is not None
    sim = S.Sim(sys_, cfg, sc, S.make_requests(sc.workload))
    sim.run()
    eng = sim.replicas[0].engine
    assert eng.checking is None and getattr(eng.mixed, "__name__", "") == "_price"


def test_suite_scenarios_are_valid(cat):
    for desc, data, n in SUITE.values():
        sc = parse_scenario({**data, "workload": {**data["workload"], "requests": n}})
        assert sc.workload.requests == 100_000 and desc


def _sorted_quantiles(x, w, qs):
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    return x[order][np.minimum(np.searchsorted(cw, np.asarray(qs) * cw[-1], "left"), len(x) - 1)]


@pytest.mark.parametrize("seed", range(6))
def test_weighted_quantiles_without_a_full_sort_equal_the_sorted_ones(seed):
    """The inter-token-latency percentiles bracket each quantile instead of sorting every gap: the
    same values as the full stable sort (ties, skewed weights, a few distinct values, outliers)."""
    from planner.sim.engine import _weighted_quantiles

    rng = np.random.default_rng(seed)
    n = int(rng.integers(50_001, 300_000))
    kind = seed % 3
    if kind == 0:  # runs of slowly growing step times, batch sizes as weights
        x = np.concatenate([rng.uniform(0.005, 0.05) + np.cumsum(rng.uniform(0, 1e-6, 500)) for _ in range(n // 500)])
    elif kind == 1:  # few distinct values: many ties
        x = rng.choice([0.01, 0.02, 0.025, 0.5], n)
    else:  # heavy tail
        x = rng.lognormal(-4, 2, n)
    w = rng.choice([1.0, 2.0, 3.0, 256.0], len(x), p=[0.7, 0.2, 0.09, 0.01])
    qs = (0.5, 0.9, 0.95, 0.99, 0.999, 1e-6)
    assert _weighted_quantiles(x, w, qs).tolist() == _sorted_quantiles(x, w, qs).tolist()


@pytest.mark.parametrize(
    "name,chunk,extra",
    [
        ("closed_r1", 1000, {}),
        ("closed_r1", 4097, {}),
        ("moe", 500, {}),  # runs priced step by step (lists) between numpy runs
        ("heavy", 500, {"scheduler": {"batching": "static", "static_batch": 8}}),  # entries with their own start
    ],
)
def test_gap_statistics_a_chunk_at_a_time_equal_the_whole_sample(cat, name, chunk, extra):
    """Long runs' inter-token-latency figures are taken a chunk at a time (engine._GapSample: the
    mean's pairwise sum over numpy's own tree, the percentiles by bins): the same numbers bit for bit
    as over the whole sample at once."""
    from planner.sim import engine as S

    sc = suite_scenario(name, 300, **extra)
    sys_, cfg = resolve(cat, sc)
    sim = S.Sim(sys_, cfg, sc, S.make_requests(sc.workload))
    sim.run()
    g = S._GapSample(sim, chunk)
    assert g.n > 8 * chunk
    assert g.stats(1e3) == S._weighted_stats(*S._gap_samples(sim), 1e3)


def test_timeline_rows_are_the_steps_keyed_by_their_columns(cat):
    """SimResult.timeline (built at its first use, as dict displays) is dict(zip(TIMELINE_COLUMNS, step))
    for each recorded step: the same keys in the same order, the same values."""
    from planner.sim.engine import TIMELINE_COLUMNS, simulate_scenario

    res = simulate_scenario(cat, suite_scenario("light", 60, timeline_points=50))
    assert 0 < len(res.steps) <= 50
    assert res.timeline == [dict(zip(TIMELINE_COLUMNS, r)) for r in res.steps]
    assert all(list(r) == list(TIMELINE_COLUMNS) for r in res.timeline)
    assert res.timeline is res.timeline  # built once


@pytest.mark.parametrize("name", ["moe", "long_prompts"])
def test_gap_values_moved_in_blocks_keep_their_order(cat, monkeypatch, name):
    """Inter-token gap values wait in Sim.gap_buf (floats) and move into Sim.gap_vals in blocks (after
    runs once GAP_BUF are waiting, before a run's array, at the end): whatever the block size, the
    same doubles in the same order, and the same summary."""
    from planner.sim import engine as S

    def gaps(block):
        monkeypatch.setattr(S, "GAP_BUF", block)
        sc = suite_scenario(name, 200)
        sys_, cfg = resolve(cat, sc)
        sim = S.Sim(sys_, cfg, sc, S.make_requests(sc.workload))
        sim.run()
        assert not sim.gap_buf
        return [np.asarray(p, dtype=float).tolist() for p in sim.gap_pieces + [sim.gap_vals]], sim

    small, sim = gaps(5)
    whole, _ = gaps(1 << 40)
    assert sum(small, []) == sum(whole, [])
    assert len(sum(small, [])) == sum(sim.gap_lens) > 1000
    assert S._summary(sim) == S.simulate_scenario(cat, suite_scenario(name, 200)).summary


PREFIX_LONG = {  # one long prefill at a time, the head joining its last chunk, a shared prefix, 1-3 output tokens
    "model": "llama-3.1-8b",
    "quant": "fp8",
    "engine": "vllm",
    "machine": {"hardware": "nvidia-h100-sxm"},
    "workload": {
        "arrival": "poisson",
        "rate_rps": 2.5,
        "prompt": {"dist": "uniform", "min": 100, "max": 20000},
        "output": {"dist": "uniform", "min": 1, "max": 3},
        "requests": 120,
        "shared_prefix_tokens": 1024,
    },
}


OSS_CLOSED = {  # sliding-window layers, a closed loop and small chunks: the inline paths' window, closed-loop
    # and stale-completion branches (a review found the suite's workloads leave them out)
    "model": "gpt-oss-120b",
    "quant": "mxfp4",
    "engine": "vllm",
    "machine": {"hardware": "nvidia-h100-sxm"},
    "workload": {
        "arrival": "closed",
        "concurrency": 64,
        "prompt": {"dist": "uniform", "min": 100, "max": 30000},
        "output": {"dist": "uniform", "min": 1, "max": 300},
        "requests": 250,
    },
    "scheduler": {"max_num_batched_tokens": 1024},
}


@pytest.mark.parametrize("name", ["long_prompts", "moe", "prefix_long", "oss_closed"])
def test_decode_runs_inline_steps_are_the_general_path(cat, monkeypatch, name):
    """Continuous.decode_runs plans, prices and commits the common steps itself (decode runs, the head
    joining, the one prefill's chunks and its last chunk's commit, completions): with decode_runs
    reduced to plan() (Replica.resume then commits each step or run through commit / commit_run), the
    same results bit for bit."""
    from planner.sim import engine as S

    sc = (
        suite_scenario(name, 120)
        if name in SUITE
        else parse_scenario({"prefix_long": PREFIX_LONG, "oss_closed": OSS_CLOSED}[name])
    )
    fast = S.simulate_scenario(cat, sc)
    monkeypatch.setattr(S.Continuous, "decode_runs", lambda self, rep, now, horizon: self.plan(now, horizon))
    general = S.simulate_scenario(cat, sc)
    assert general.summary == fast.summary
    assert general.columns == fast.columns
    assert general.steps == fast.steps
