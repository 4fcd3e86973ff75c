"""The performance model: memory footprint and the time of one engine step.

One function prices every step, prefill, decode or mixed (chunked prefill): a
batch is a list of ``(new_tokens, context_tokens)`` per sequence.  The time is
a roofline over compute and memory traffic plus fixed per-step and per-layer
overheads, plus tensor-parallel communication when devices > 1:

    t = max(FLOPs / (peak x compute_eff) x (1 + quant_penalty),
            bytes / (bandwidth x bandwidth_eff)) + step_overhead + layers x layer_overhead
        + all-reduce time (tensor parallel)

Efficiencies and overheads come from the engine profile's calibration for the
hardware (fitted by ``python -m planner calibrate``).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from planner.catalog.loader import Catalog, Efficiency, Engine, Hardware, Host, Link, Model, Quant
from planner.catalog.support import SIXTEEN_BIT, Verdict, default_kv_dtype
from planner.catalog.support import check as support_check
from planner.errors import ScenarioError, UnsupportedError
from planner.model.arch import active_params, attention_dims, kv_elements_per_token, params
from planner.model.kernels import _interpl, attach
from planner.model.priors import achievable_tflops, prior_efficiency

GB = 1e9  # every memory figure the planner prints is in GB = 10^9 bytes
GIB = 2**30  # device memory sizes as sold (and the macOS GPU limit) are binary


def largest(ok, lo: int, hi: int) -> int:
    """Largest n in [lo, hi] with ok(n), for ok true up to some point and false after it
    (returns lo when none is)."""
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def calibration_chain(engine: Engine, catalog: Catalog) -> list[Engine]:
    """The engine, then the engines it borrows calibration from (calibration_from), in order."""
    chain, seen, eng = [], set(), engine
    while eng is not None and eng.id not in seen:
        seen.add(eng.id)
        chain.append(eng)
        eng = catalog.engines.get(eng.calibration_from) if eng.calibration_from else None
    return chain


def lookup_calibration(
    chain_classes: list[tuple[str, dict[str, Efficiency]]], engine_id: str, hw: Hardware
) -> tuple[Efficiency, str]:
    """Pick the class for `hw` from (engine id, classes) pairs of an engine and the engines it borrows
    from: this machine's own fit (a user's measurements, `python -m planner import-bench --out`), the chip family's fit, else the engine x backend (vendor) fit, first of the engine itself,
    then of the engines it borrows from (same backend); else a pooled fit over backends; else the
    physical priors of the engine x backend (planner.model.priors), flagged as such."""
    for keys in ((hw.id, hw.family, hw.vendor), ("default",)):
        for eid, classes in chain_classes:
            for key in keys:
                if key in classes:
                    label = f"{eid}:{key}"
                    if eid != engine_id:
                        label += f" (borrowed by {engine_id})"
                    return classes[key], label
    return prior_efficiency(engine_id, hw.vendor), f"{engine_id}:prior"


def calibration_for(engine: Engine, hw: Hardware, catalog: Catalog) -> tuple[Efficiency, str]:
    """Efficiency parameters for an engine on a hardware (see lookup_calibration)."""
    chain = calibration_chain(engine, catalog)
    return lookup_calibration([(e.id, e.calibration) for e in chain], engine.id, hw)


@dataclass(frozen=True)
class Parallel:
    """How a model is split over devices: tensor parallel (every layer sharded, two all-reduces
    per layer), pipeline parallel (stages of consecutive layers), expert parallel (MoE experts
    spread over devices, all-to-all per MoE layer). tp x pp = all devices."""

    tp: int = 1
    pp: int = 1
    ep: int = 1

    @classmethod
    def parse(cls, text: str) -> "Parallel":
        """'tp=8', 'tp=4,pp=2', 'tp=8,ep=8'."""
        vals = {"tp": 1, "pp": 1, "ep": 1}
        for part in (text or "").replace(" ", "").split(","):
            if not part:
                continue
            key, _, val = part.partition("=")
            if key not in vals or not val.isdigit() or int(val) < 1:
                raise ScenarioError("parallel", f"expected e.g. 'tp=4,pp=2,ep=1' (whole numbers >= 1), got '{text}'")
            vals[key] = int(val)
        return cls(**vals)

    def __str__(self) -> str:
        return f"tp={self.tp},pp={self.pp},ep={self.ep}"


def default_parallel(engine: Engine, devices: int, nodes: int) -> Parallel:
    """What each engine does by default: llama.cpp splits layers over all devices (and RPC nodes);
    the serving engines run tensor parallel inside a machine and pipeline stages across machines."""
    if engine.batching == "slots":
        return Parallel(tp=1, pp=devices * nodes)
    return Parallel(tp=devices, pp=nodes)


@dataclass(frozen=True)
class MemoryBreakdown:
    weights: float
    kv_cache: float
    other: float
    usable: float
    capacity: float  # physical memory of all devices
    devices: int

    @property
    def total(self) -> float:
        return self.weights + self.kv_cache + self.other

    @property
    def fits(self) -> bool:
        return self.total <= self.usable + 1e-9

    def as_dict(self) -> dict:
        return {
            "weights": round(self.weights, 3),
            "kv_cache": round(self.kv_cache, 3),
            "other": round(self.other, 3),
            "total": round(self.total, 3),
            "usable": round(self.usable, 3),
        }


_RUN_LOOPS: dict = {}


def _run_loop(win: bool, c0: bool, d: bool, q: bool, adds: int, floor: bool):
    """DecodePricer.run's loop for one combination of terms, compiled once: only the operations
    that are there (an addition of 0.0, a division by 1, a product with 1.0 or a max with 0.0 leaves
    a positive time as it is, so dropping them changes no bit); s and sw as floats (integers below
    2^53: exact, and what int x float converts them to)."""
    key = (win, c0, d, q, adds, floor)
    fn = _RUN_LOOPS.get(key)
    if fn is None:
        x_a, x_m = ("(af * s + aw * sw)", "(kf * s + ks * sw)") if win else ("af * s", "kf * s")
        c = f"(f0 + {x_a}) / e0"
        if c0:
            c = f"({c} + c0)"
        if d:
            c = f"{c} / d"
        if q:
            c = f"{c} * q"
        names = ", ".join(f"a{i}" for i in range(adds))
        lines = [
            "def loop(k, s0, n, kf, af, h, f0, e0, c0, d, q, w, bw, adds, floor, win):",
            f"    {names}{',' if adds == 1 else ''} = adds" if adds else "    pass",
            "    sw0, ln, ks, aw = win" if win else "    pass",
            "    sw = float(sw0 - ln)" if win else "    pass",
            "    out = []",
            "    append = out.append",
            "    acc = 0.0",
            "    s = float(s0 - n)",
            "    for _ in range(k):",
            "        s += n",
            "        sw += ln" if win else "        pass",
            f"        c = {c}",
            f"        m = (w + {x_m}) / bw",
            "        t = (c if c > m else m)" + "".join(f" + a{i}" for i in range(adds)),
            "        if t < floor: t = floor" if floor else "        pass",
            "        acc = acc + t",
            "        append(acc)",
            "        if acc >= h:",
            "            break",
            "    return out",
        ]
        ns: dict = {}
        exec(compile("\n".join(lines), f"<DecodePricer.run {key}>", "exec"), ns)  # noqa: S102 (our own source text)
        fn = _RUN_LOOPS[key] = ns["loop"]
    return fn


class DecodePricer:
    """System._step of a pure decode batch with its batch-size terms folded (System.decode_pricer):
    the same IEEE operations in the same order, so the same bits, in fewer Python operations.
    Additions of 0.0, divisions by 1 and products with 1.0 are dropped (exact either way)."""

    __slots__ = ("f0", "e0", "c0", "d", "q", "w", "bw", "adds", "loop")

    def __init__(self, f0, e0, c0, d, q, w, bw, adds):
        self.f0, self.e0, self.c0, self.w, self.bw = f0, e0, c0, w, bw
        self.loop = None
        self.d = d if d != 1 else None
        self.q = q if q != 1.0 else None
        self.adds = tuple(a for a in adds if a != 0.0)

    def time(self, kv: float, attn: float) -> float:
        c = (self.f0 + attn) / self.e0
        if self.c0 is not None:
            c = c + self.c0
        if self.d is not None:
            c = c / self.d
        if self.q is not None:
            c = c * self.q
        m = (self.w + kv) / self.bw
        t = c if c > m else m
        for a in self.adds:
            t = t + a
        return t

    def run(
        self,
        k: int,
        s0: int,
        n: int,
        kf: float,
        af: float,
        h: float,
        cpu: float = 0.0,
        overlap: bool = False,
        win: tuple | None = None,
    ) -> list[float]:
        """Cumulative times of up to k decode steps, step j reading kf x s and attending af x s for
        s = s0 + n j (plus ks x sw and aw x sw, sw = sw0 + ln j, for windowed layers: win = (sw0, ln,
        ks, aw)), each step plus `cpu` seconds of CPU work (or at least `cpu` when overlapped); stops
        after the first step ending at or after h.  The same operations as time() per step (and
        the caller's CPU term), and a sequential sum as numpy's cumsum, in a loop compiled for this
        pricer's terms (_run_loop)."""
        key = (cpu, overlap, win is not None)
        hit = self.loop  # the loop of the last call's terms (a pricer serves one batch size: the same)
        if hit is None or hit[0] != key:
            adds = self.adds + (cpu,) if cpu and not overlap else self.adds
            floor = cpu if cpu and overlap else None
            fn = _run_loop(
                win is not None,
                self.c0 is not None,
                self.d is not None,
                self.q is not None,
                len(adds),
                floor is not None,
            )
            hit = self.loop = (key, fn, adds, floor)
        return hit[1](
            k, s0, n, kf, af, h, self.f0, self.e0, self.c0, self.d, self.q, self.w, self.bw, hit[2], hit[3], win
        )

    def times(self, kv: np.ndarray, attn: np.ndarray) -> np.ndarray:
        """time() over arrays (a new array; kv and attn are left as they are)."""
        c = attn + self.f0
        c /= self.e0
        if self.c0 is not None:
            c += self.c0
        if self.d is not None:
            c /= self.d
        if self.q is not None:
            c *= self.q
        m = kv + self.w
        m /= self.bw
        t = np.maximum(c, m, out=c)
        for a in self.adds:
            t += a
        return t


class KernelDecodePricer:
    """System._step of a pure decode batch of n sequences under the measured-kernel provider
    (planner/model/kernels.py MeasuredKernels.stage with tokens = n, one plain stage), its (n, tokens)
    terms folded into constants: the GEMM and head look-ups once, then per step one look-up of the
    generation-attention curve at the mean context (the same scalar interpolation, the same IEEE
    operations in the same order).  Arrays (long runs) take the provider's own vectorised path."""

    __slots__ = ("sys", "n", "g", "den", "layers", "ov", "xs", "ys", "top", "ytop", "slope")

    def __init__(self, sys: "System", n: int):
        mk = sys.kernels
        assert mk is not None  # only built where the measured provider prices the step
        nf = float(n)
        xl, yl = mk.layer_curve_l
        hx, hy = mk.head_curve_l
        self.sys, self.n = sys, n
        self.g = _interpl(nf, xl, yl) * mk.layers + _interpl(nf, hx, hy)
        self.den = nf * mk.kv_per_token if mk.kv_per_token else None
        self.layers, self.ov = mk.layers, mk.overhead_s
        c = mk._gen_cache.get(nf) or mk._gen_curve(nf)
        self.xs, self.ys = c[2], c[3]
        xs, ys = self.xs, self.ys
        self.top, self.ytop = xs[-1], ys[-1]
        self.slope = max((ys[-1] - ys[-2]) / (xs[-1] - xs[-2]), 0.0) if len(xs) >= 2 else None

    def _a(self, ctx: float) -> float:
        xs, ys = self.xs, self.ys
        if self.slope is None or ctx <= xs[0]:
            return ys[0]
        i = bisect_left(xs, ctx)
        if i >= len(xs):
            return self.ytop + self.slope * (ctx - self.top)
        x0 = xs[i - 1]
        return ys[i - 1] + (ys[i] - ys[i - 1]) * (ctx - x0) / (xs[i] - x0)

    def time(self, kv: float, attn: float) -> float:
        a = self._a(float(kv) / self.den if self.den is not None else 1.0)
        return (self.g + a * self.layers) * 1e-3 + self.ov

    def run(
        self,
        k: int,
        s0: int,
        n: int,
        kf: float,
        af: float,
        h: float,
        cpu: float = 0.0,
        overlap: bool = False,
        win: tuple | None = None,
    ) -> list[float]:
        """DecodePricer.run's contract: the cumulative times of up to k steps (step j reads
        kf x s (+ ks x sw) for s = s0 + n j), each plus `cpu` (or at least `cpu` when overlapped),
        stopping after the first step ending at or after h."""
        g, den, L, ov = self.g, self.den, self.layers, self.ov
        xs, ys, top, ytop, slope = self.xs, self.ys, self.top, self.ytop, self.slope
        nx = len(xs)
        x_lo = xs[0]
        add, floor = (0.0, cpu) if overlap else (cpu, 0.0)
        if win is not None:
            sw0, ln, ks, _ = win
            sw = sw0 - ln
        out = []
        append = out.append
        acc = 0.0
        last = k - 1
        s = s0 - n
        for j in range(k):
            s += n
            kv = kf * s
            if win is not None:
                sw += ln
                kv = kv + ks * sw
            ctx = kv / den if den is not None else 1.0
            if slope is None or ctx <= x_lo:
                a = ys[0]
            else:
                i = bisect_left(xs, ctx)
                if i >= nx:
                    a = ytop + slope * (ctx - top)
                else:
                    x0 = xs[i - 1]
                    a = ys[i - 1] + (ys[i] - ys[i - 1]) * (ctx - x0) / (xs[i] - x0)
            t = (g + a * L) * 1e-3 + ov + add
            if t < floor:
                t = floor
            acc = acc + t
            append(acc)
            if acc >= h and j < last:
                break
        return out

    def times(self, kv: np.ndarray, attn: np.ndarray) -> np.ndarray:
        return self.sys.step_times_vec(self.n, self.n, kv, attn)


class KernelStepPricer:
    """System.step_time_agg of any (mixed prefill/decode) step under the measured-kernel provider
    with one plain stage: MeasuredKernels.stage's scalar path, the same operations in the same
    order, with its GEMM look-up cached by tokens and its head look-up by sequences.  The first `checks` calls are also
    priced the long way and must agree bit for bit; otherwise it prices every step the long way."""

    __slots__ = ("sys", "mk", "ga", "gh", "interp", "checks")

    def __init__(self, sys: "System", checks: int = 16):
        self.ga: dict = {}
        self.gh: dict = {}
        self.sys, self.mk, self.interp, self.checks = sys, sys.kernels, _interpl, checks

    def __call__(self, n: int, tokens: float, kv: float, attn: float) -> float:
        if self.checks:
            ref = self.sys.step_time_agg(n, tokens, kv, attn)
            if self.checks > 0:
                self.checks = self.checks - 1 if self._price(n, tokens, kv, attn) == ref else -1
            return ref
        return self._price(n, tokens, kv, attn)

    def _price(self, n, tokens, kv, attn):
        if tokens <= 0:
            return 0.0
        mk = self.mk
        n = float(n)
        if n < 1.0:
            n = 1.0
        tokens = float(tokens)
        ga = self.ga.get(tokens)  # the GEMM look-up x layers, by tokens
        if ga is None:
            ga = self.interp(tokens, *mk.layer_curve_l) * mk.layers
            if len(self.ga) < 65536:
                self.ga[tokens] = ga
        gh = self.gh.get(n)  # the head's, by sequences
        if gh is None:
            gh = self.gh[n] = self.interp(n, *mk.head_curve_l)
        g = ga + gh
        kpt = mk.kv_per_token
        ctx = float(kv) / (n * kpt) if kpt else 1.0
        c = mk._gen_cache.get(n) or mk._gen_curve(n)
        xs, ys = c[2], c[3]
        if len(xs) < 2 or ctx <= xs[0]:
            a = ys[0]
        else:
            i = bisect_left(xs, ctx)
            if i >= len(xs):
                a = ys[-1] + max((ys[-1] - ys[-2]) / (xs[-1] - xs[-2]), 0.0) * (ctx - xs[-1])
            else:
                x0 = xs[i - 1]
                a = ys[i - 1] + (ys[i] - ys[i - 1]) * (ctx - x0) / (xs[i] - x0)
        if tokens > n + 1e-9:
            a += mk._ctx_equiv_ms(float(attn))
        return (g + a * mk.layers) * 1e-3 + mk.overhead_s


@dataclass
class System:
    """A resolved (hardware, memory size, devices, model, quant, engine, KV dtype) with its
    precomputed constants, ready to price steps quickly."""

    catalog: Catalog
    hw: Hardware
    model: Model
    quant: Quant
    engine: Engine
    memory_gb: float
    devices: int  # devices per node (GPUs in one machine; 1 for a Mac)
    kv_dtype: str
    usable_override_gb: float | None = None
    nodes: int = 1  # machines, joined by `link`
    link: Link | None = None
    parallel: Parallel | None = None  # default: see default_parallel()
    host: Host | None = None  # CPU host whose RAM holds offloaded weights
    offload: str | None = None  # "experts" or "layers:N"
    host_memory_gb: float | None = None
    mla_cache: str | None = None  # "latent" / "expanded": override the engine's MLA cache storage
    support: Verdict | None = None  # the support matrix's verdict (None: not checked)
    engine_version: str | None = None  # the engine release to model (measured-kernel provider)
    eff: Efficiency = field(init=False)
    eff_label: str = field(init=False)

    def __post_init__(self) -> None:
        self.eff, self.eff_label = calibration_for(self.engine, self.hw, self.catalog)
        m, q = self.model, self.quant
        p = params(m)
        self.params = p
        self.total_devices = self.devices * self.nodes
        par = self.parallel or default_parallel(self.engine, self.devices, self.nodes)
        self.parallel = par
        self.tp, self.pp, self.ep = par.tp, par.pp, par.ep
        # micro-batches through the pipeline: continuous-batching engines interleave them;
        # llama.cpp runs one batch through its layer split at a time
        self.microbatching = self.pp > 1 and self.engine.batching == "continuous"
        bpb = q.bits_per_weight.value / 8.0
        other_bpb = q.other_bits_per_weight / 8.0 if q.applies_to == "experts" else bpb
        expert_bpb = bpb
        routed_shared = p.routed_experts + p.shared_experts
        self.weight_bytes = routed_shared * expert_bpb + (p.total - routed_shared) * other_bpb
        # bytes read every step regardless of routing
        self.dense_stream_bytes = (p.streamed_dense - p.shared_experts) * other_bpb + p.shared_experts * expert_bpb
        self.expert_bytes = p.expert_size * expert_bpb  # one routed expert, one layer
        self.moe_layers = p.moe_layers
        self.n_experts = m.num_experts
        self.k_experts = m.experts_per_token
        head = p.lm_head if p.lm_head else p.embedding
        self.expert_flops_per_token = 2.0 * p.expert_size * m.experts_per_token * p.moe_layers
        self.body_flops_per_token = 2.0 * (active_params(m) - head) - self.expert_flops_per_token
        self.head_flops_per_seq = 2.0 * head
        kvb = self.catalog.kv_dtypes[self.kv_dtype].bytes_per_element.value
        self.kv_bytes_per_element = kvb
        # a step with prompt tokens takes at least the engine's eager per-layer dispatch time
        ep = self.engine.serving.eager_prefill
        self.eager_floor_s = m.num_layers * ep.layer_us.value * 1e-6 if ep else 0.0
        full, swa = kv_elements_per_token(m)
        # MLA cache stored expanded per head (engines/versions without latent MLA caching):
        # K (qk_nope + rope) and V per head and layer, sharded over tp like MHA heads
        self.mla_expanded = m.attention == "mla" and (self.mla_cache or self.engine.serving.mla_cache) == "expanded"
        if self.mla_expanded:
            full = m.num_layers * m.num_heads * (m.qk_nope_head_dim + m.qk_rope_head_dim + m.v_head_dim)
        # tensor parallel shards KV heads; the MLA latent (and heads beyond the KV head count)
        # are replicated on every rank: KV figures below are totals over all devices
        kv_div = 1 if m.attention == "mla" and not self.mla_expanded else min(self.tp, m.num_kv_heads)
        self.kv_replication = self.tp / kv_div
        self.kv_full_per_token = full * kvb * self.kv_replication
        self.kv_swa_per_token = swa * kvb * self.kv_replication
        self.window = m.sliding_window if swa else 0
        qk, v = attention_dims(m)
        full_layers = m.num_layers - (m.sliding_window_layers if swa else 0)
        self.attn_full_coef = 2.0 * (qk + v) * full_layers  # FLOPs per (query, key) pair
        self.attn_swa_coef = 2.0 * (qk + v) * (m.num_layers - full_layers)
        # compute dtype: the quant's first preference the hardware has throughput for; an emulated format
        # (support matrix) is dequantized and multiplied at 16-bit whatever low-precision units the chip has
        prefs = q.compute_dtypes
        if self.support is not None and self.support.emulated:
            prefs = [d for d in prefs if d in SIXTEEN_BIT] + [self.support.compute or "fp16"]
        self.compute_dtype = next((d for d in prefs if self.hw.peak_tflops(d)), None)
        if self.compute_dtype is None:
            self.compute_dtype = next(d for d in ("fp16", "bf16", "fp32") if self.hw.peak_tflops(d))
        if self.compute_dtype == "fp16" and self.engine.fp16_accumulate and self.hw.peak_tflops("fp16_acc16"):
            self.compute_dtype = "fp16_acc16"
        self.peak_flops = self.hw.peak_tflops(self.compute_dtype) * 1e12
        # a sourced measured-GEMM figure caps the achieved rate where the peak is not reached
        ach = achievable_tflops(self.hw.id, self.compute_dtype)
        self.achievable_flops, self.achievable_note = (ach[0] * 1e12, ach[1]) if ach else (None, None)
        self.bandwidth = self.hw.memory_bandwidth_gbs.value * GB
        self.set_efficiency(self.eff, self.eff_label)
        # links: between the devices of a machine (the hardware's), and between machines
        intra = self.catalog.interconnects.get(self.hw.link) if self.hw.link else None
        if intra is not None:
            self.intra_bw, self.intra_lat = intra.effective_gbs * GB, intra.latency_us.value * 1e-6
        elif self.hw.interconnect is not None:
            self.intra_bw, self.intra_lat = self.hw.interconnect.bandwidth_gbs.value * GB, 0.0
        else:
            self.intra_bw, self.intra_lat = None, 0.0
        if self.link is not None:
            self.inter_bw, self.inter_lat = self.link.effective_gbs * GB, self.link.latency_us.value * 1e-6
        else:
            self.inter_bw, self.inter_lat = self.intra_bw, self.intra_lat
        spans_nodes = self.tp > self.devices
        self.tp_bw, self.tp_lat = (self.inter_bw, self.inter_lat) if spans_nodes else (self.intra_bw, self.intra_lat)
        self.inter_hops = min(self.nodes - 1, self.pp - 1) if not spans_nodes else 0
        self.intra_hops = self.pp - 1 - self.inter_hops
        self.ep_bw, self.ep_lat = (
            (self.inter_bw, self.inter_lat) if self.ep > self.devices else (self.intra_bw, self.intra_lat)
        )
        # offload to host RAM (llama.cpp -ot exps=CPU, or the first N layers on the CPU)
        self.offload_experts = self.offload == "experts"
        self.offload_layers = (
            int(self.offload.split(":")[1]) if self.offload and self.offload.startswith("layers:") else 0
        )
        self.offload_frac = self.offload_layers / m.num_layers
        self.host_weight_bytes = 0.0
        if self.host is not None and self.offload:
            h = self.host
            bw = h.achieved_bandwidth_gbs or h.memory_bandwidth_gbs
            self.host_bw = bw.value * GB
            self.cpu_flops = h.cpu_tflops.value * 1e12
            if self.offload_experts:
                self.host_weight_bytes = p.routed_experts * expert_bpb
            else:
                self.host_weight_bytes = (
                    self.weight_bytes - (p.embedding + (p.lm_head or 0)) * other_bpb
                ) * self.offload_frac
        self.gpu_weight_bytes = self.weight_bytes - self.host_weight_bytes
        # step-time provider: NVIDIA's measured kernels where they cover this system, else the roofline
        self.kernels, self.provider_note = attach(self)

    def set_efficiency(self, eff: Efficiency, label: str) -> None:
        """Use other efficiency parameters (calibration swaps them while fitting)."""
        self.eff, self.eff_label = eff, label
        self.kernels = None  # swapping roofline parameters (calibration fits) prices steps on the roofline
        self.provider_note = f"calibrated roofline ({label})"
        self.quant_penalty = eff.quantized_compute_penalty if self.quant.family in ("gguf", "mlx") else 0.0
        self.overhead_s = eff.step_overhead_ms * 1e-3 + self.model.num_layers * eff.layer_overhead_us * 1e-6
        self._eff_bw = self.bandwidth * eff.bandwidth_efficiency
        self._eff_flops = self.peak_flops * eff.compute_efficiency
        if self.achievable_flops is not None:
            self._eff_flops = min(self._eff_flops, self.achievable_flops)
        self._small_ratio = eff.small_batch_efficiency_ratio
        self._knee = eff.small_batch_knee_tokens

    def _eff_flops_at(self, tokens):
        """Achieved FLOP/s of a matmul over `tokens` rows: the large-GEMM efficiency, reduced for
        small token counts (decode batches run GEMV-like kernels well below peak):
        compute_eff x (r + (1 - r)(1 - exp(-T / knee))), r = small_batch_efficiency_ratio."""
        r = self._small_ratio
        if r >= 1.0:
            return self._eff_flops
        if isinstance(tokens, np.ndarray):
            return self._eff_flops * (r + (1.0 - r) * (1.0 - np.exp(-tokens / self._knee)))
        return self._eff_flops * (r + (1.0 - r) * (1.0 - math.exp(-tokens / self._knee)))

    # ------------------------------------------------------------------ memory

    def kv_bytes(self, tokens: float) -> float:
        """KV-cache bytes one sequence of `tokens` tokens holds."""
        swa_tokens = min(tokens, self.window) if self.window else 0.0
        return self.kv_full_per_token * tokens + self.kv_swa_per_token * swa_tokens

    def capacity_gb(self) -> float:
        """Physical memory of all devices in GB (10^9 bytes). Memory is sold in binary units:
        a "512 GB" Mac or an "80 GB" GPU holds 512 or 80 GiB."""
        return self.memory_gb * GIB / GB * self.total_devices

    def usable_gb(self) -> float:
        """Memory the engine may use, GB (10^9 bytes), all devices together."""
        per = self.memory_gb * GIB / GB
        if self.usable_override_gb is not None:
            return self.usable_override_gb * GIB / GB * self.total_devices
        if self.hw.platform:
            plat = self.catalog.platforms[self.hw.platform]
            return plat.default_limit_gb(self.memory_gb) * GIB / GB * self.total_devices
        reserve = self.hw.runtime_reserve_gb.value * GIB / GB if self.hw.runtime_reserve_gb else 0.0
        usable = per - reserve
        if self.engine.gpu_memory_utilization and self.hw.memory == "discrete":
            usable = min(usable, per * self.engine.gpu_memory_utilization)
        return usable * self.total_devices

    def other_gb(self, tokens_per_step: int | None = None) -> float:
        """Activations, compute buffers and logits beyond weights and KV (per system)."""
        # fp32 logits are kept for the last token of each sequence in a step
        t = tokens_per_step or min(self.engine.max_num_batched_tokens, self.engine.max_num_seqs)
        logits = t * self.model.vocab_size * 4 / GB
        return self.engine.activation_overhead_gb.value * self.total_devices + logits

    def memory(self, sequences: int, context_tokens: int) -> MemoryBreakdown:
        """Device memory (weights sharded evenly over all devices; offloaded weights excluded)."""
        kv = sequences * self.kv_bytes(context_tokens) / GB
        return MemoryBreakdown(
            self.gpu_weight_bytes / GB, kv, self.other_gb(), self.usable_gb(), self.capacity_gb(), self.total_devices
        )

    def host_memory(self) -> dict | None:
        """Host RAM holding offloaded weights: {"weights", "usable"} in GB, or None."""
        if not (self.host and self.offload):
            return None
        opts = self.host.memory_gb_options
        # default: the smallest configuration that holds the offloaded weights (else the largest)
        size = self.host_memory_gb or next((x for x in opts if x * GIB >= self.host_weight_bytes), max(opts))
        return {"weights": round(self.host_weight_bytes / GB, 3), "usable": round(size * GIB / GB, 3)}

    def kv_capacity_bytes(self) -> float:
        """KV bytes available after weights and other buffers (may be negative)."""
        return (self.usable_gb() - self.gpu_weight_bytes / GB - self.other_gb()) * GB

    def max_context(self) -> int:
        free = self.kv_capacity_bytes()
        if free <= 0:
            return 0
        return largest(lambda n: self.kv_bytes(n) <= free, 0, self.model.max_context)

    def max_sequences(self, context_tokens: int) -> int:
        free = self.kv_capacity_bytes()
        per = self.kv_bytes(max(context_tokens, 1))
        return max(0, int(free // per)) if per > 0 else 0

    # ------------------------------------------------------------------ time

    def seq_terms(self, new: float, ctx: float) -> tuple[float, float]:
        """(KV bytes read, attention FLOPs) of one sequence processing `new` tokens after `ctx`."""
        end = ctx + new
        kv_read = self.kv_bytes(end)
        pairs_full = new * (ctx + (new + 1) / 2.0)
        attn = self.attn_full_coef * pairs_full
        if self.window:
            w = self.window
            # each new token attends to at most `window` keys
            pairs_swa = new * min(ctx + (new + 1) / 2.0, w)
            attn += self.attn_swa_coef * pairs_swa
        return kv_read, attn

    def distinct_experts(self, tokens: float) -> float:
        """Expected number of distinct routed experts that `tokens` tokens touch in one layer,
        each choosing k of E uniformly: E x (1 - (1 - k/E)^T)."""
        if not self.n_experts or tokens <= 0:
            return 0.0
        e, k = self.n_experts, self.k_experts
        return e * (1.0 - (1.0 - k / e) ** tokens)

    def step_time_agg(self, n_seqs: int, tokens: float, kv_read: float, attn_flops: float) -> float:
        """Time of one engine step from aggregates: sequences in the step, new tokens, KV bytes
        read and attention FLOPs summed over sequences."""
        if tokens <= 0:
            return 0.0
        return self._step(n_seqs, tokens, kv_read, attn_flops)

    def step_times_vec(self, n_seqs, tokens, kv_read, attn_flops) -> np.ndarray:
        """Vectorised step_time_agg over numpy arrays of aggregates (all tokens > 0)."""
        return np.asarray(self._step(n_seqs, tokens, kv_read, attn_flops), dtype=float) + np.zeros_like(kv_read)

    def _step(self, n, tokens, kv, attn):
        """A step through the pipeline: one batch through pp stages in turn, or (continuous
        engines) m micro-batches interleaved, (m + pp - 1) stage times, whichever is faster."""
        pp = self.pp
        if pp == 1:
            return self._stage(n, tokens, kv, attn)
        t = pp * self._stage(n, tokens, kv, attn) + self._hops(tokens)
        if self.microbatching and n > 1:
            m = min(pp, int(n))
            tm = (m + pp - 1) * self._stage(n / m, tokens / m, kv / m, attn / m) + self._hops(tokens / m)
            t = np.minimum(t, tm) if isinstance(t, np.ndarray) or isinstance(tm, np.ndarray) else min(t, tm)
        return t

    def _hops(self, tokens):
        """Activations passed between pipeline stages (bf16 hidden states of the step's tokens)."""
        msg = tokens * self.model.hidden_size * 2.0
        t = 0.0
        if self.intra_hops and self.intra_bw:
            t = t + self.intra_hops * (msg / self.intra_bw + self.intra_lat)
        if self.inter_hops and self.inter_bw:
            t = t + self.inter_hops * (msg / self.inter_bw + self.inter_lat)
        return t

    def _stage(self, n, tokens, kv, attn):
        """One (micro-)batch through one pipeline stage (1/pp of the layers, sharded over tp
        devices): roofline over its compute and memory traffic, overheads, TP all-reduces, EP
        all-to-alls, and any work offloaded to the host CPU."""
        if self.kernels is not None:  # NVIDIA's measured operator tables (planner/model/kernels.py)
            return self.kernels.stage(n, tokens, kv, attn)
        d = self.tp * self.pp  # the stage's share of the model is spread over tp devices
        flops = self.body_flops_per_token * tokens + self.head_flops_per_seq * n + attn
        compute = flops / self._eff_flops_at(tokens)
        w = self.dense_stream_bytes
        cpu = 0.0
        if self.moe_layers:
            distinct = self.distinct_experts(tokens)
            e_bytes = distinct * self.expert_bytes * self.moe_layers
            e_flops = self.expert_flops_per_token * tokens
            if self.offload_experts:
                cpu = (
                    np.maximum(e_bytes / self.host_bw, e_flops / self.cpu_flops)
                    if isinstance(tokens, np.ndarray)
                    else max(e_bytes / self.host_bw, e_flops / self.cpu_flops)
                )
            else:
                w = w + e_bytes
                # each routed expert multiplies only the tokens routed to it
                compute = compute + e_flops / self._eff_flops_at(tokens * self.k_experts / distinct)
        mem_bytes = w + kv
        if self.offload_layers:
            f = self.offload_frac
            cpu_c = flops * f / self.cpu_flops
            cpu_m = mem_bytes * f / self.host_bw
            cpu = cpu + (np.maximum(cpu_c, cpu_m) if isinstance(cpu_m, np.ndarray) else max(cpu_c, cpu_m))
            compute = compute * (1 - f)
            mem_bytes = mem_bytes * (1 - f)
        compute = compute / d * (1.0 + self.quant_penalty)
        mem = mem_bytes / (self._eff_bw * d)
        t = (
            np.maximum(compute, mem)
            if isinstance(mem, np.ndarray) or isinstance(compute, np.ndarray)
            else (compute if compute > mem else mem)
        )
        t = t + self.overhead_s / self.pp + cpu / self.pp
        layers = self.model.num_layers / self.pp
        if self.tp > 1 and self.tp_bw:
            # bf16 activations, two all-reduces per layer: ring bandwidth term plus the link's
            # small-message collective latency (what a tiny all-reduce takes on it)
            msg = tokens * self.model.hidden_size * 2.0
            per = 2.0 * (self.tp - 1) / self.tp * msg / self.tp_bw + self.tp_lat
            t = t + 2 * layers * per
        if self.ep > 1 and self.moe_layers and self.ep_bw:
            # dispatch + combine: each device sends its share of tokens to the k experts' devices
            sent = tokens / self.ep * self.k_experts * (self.ep - 1) / self.ep * self.model.hidden_size * 2.0
            t = t + self.moe_layers / self.pp * 2 * (sent / self.ep_bw + self.ep_lat)
        return t

    def step_pricer(self):
        """A faster step_time_agg for the simulator's steps with new tokens (tokens > 0): the
        measured-kernel provider's KernelStepPricer, or one plain stage (pp = 1: _step is _stage),
        else None (use step_time_agg)."""
        if self.pp != 1:
            return None
        if getattr(self, "kernels", None) is None:
            return self._stage
        return KernelStepPricer(self)

    def decode_pricer(self, n: int) -> "DecodePricer | KernelDecodePricer | None":
        """_step(n, n, kv, attn) of a pure decode batch of n sequences with its (n, tokens) terms
        folded into constants, for the simulator's runs of decode steps; None where the step is not
        one plain stage (pipeline stages, offloaded layers, another step-time provider) or where the
        folded arithmetic does not reproduce _step bit for bit on sample points."""
        if self.pp != 1 or self.offload_layers:
            return None
        if getattr(self, "kernels", None) is not None:  # the measured-kernel provider's own folding
            kp = KernelDecodePricer(self, n)
            pts = [(1e6, 1e9), (3.7e9, 2.9e13), (1.3e11, 7.1e15)]
            if kp.den is not None:  # and contexts across the attention curve's grid
                pts += [(x * 1.37 * kp.den, 1e12) for x in kp.xs[:: max(1, len(kp.xs) // 6)]]
            for kv, attn in pts:
                if kp.time(kv, attn) != self._step(n, n, kv, attn):
                    return None
            return kp
        tokens = n
        f0 = self.body_flops_per_token * tokens + self.head_flops_per_seq * n
        e0 = self._eff_flops_at(tokens)
        w = self.dense_stream_bytes
        c0 = cpu = 0.0
        if self.moe_layers:
            distinct = self.distinct_experts(tokens)
            e_bytes = distinct * self.expert_bytes * self.moe_layers
            e_flops = self.expert_flops_per_token * tokens
            if self.offload_experts:
                cpu = max(e_bytes / self.host_bw, e_flops / self.cpu_flops)
            else:
                w = w + e_bytes
                c0 = e_flops / self._eff_flops_at(tokens * self.k_experts / distinct)
        d = self.tp * self.pp
        adds = [self.overhead_s / self.pp, cpu / self.pp]
        layers = self.model.num_layers / self.pp
        if self.tp > 1 and self.tp_bw:
            msg = tokens * self.model.hidden_size * 2.0
            per = 2.0 * (self.tp - 1) / self.tp * msg / self.tp_bw + self.tp_lat
            adds.append(2 * layers * per)
        if self.ep > 1 and self.moe_layers and self.ep_bw:
            sent = tokens / self.ep * self.k_experts * (self.ep - 1) / self.ep * self.model.hidden_size * 2.0
            adds.append(self.moe_layers / self.pp * 2 * (sent / self.ep_bw + self.ep_lat))
        pr = DecodePricer(
            f0,
            e0,
            c0 if self.moe_layers and not self.offload_experts else None,
            d,
            1.0 + self.quant_penalty,
            w,
            self._eff_bw * d,
            tuple(adds),
        )
        for kv, attn in ((1e6, 1e9), (3.7e9, 2.9e13), (1.3e11, 7.1e15)):
            if pr.time(kv, attn) != self._step(n, n, kv, attn):
                return None
        return pr

    def step_time(self, batch: Iterable[tuple[float, float]]) -> float:
        """Time of one engine step for a batch of (new_tokens, context_tokens) per sequence."""
        n = 0
        tokens = kv = attn = 0.0
        for new, ctx in batch:
            if new <= 0:
                continue
            n += 1
            tokens += new
            r, a = self.seq_terms(new, ctx)
            kv += r
            attn += a
        return self.step_time_agg(n, tokens, kv, attn)

    def prefill_time(self, prompt: int, batch: int = 1) -> float:
        """Time to process `batch` prompts of `prompt` tokens, in chunks of the engine's
        max_num_batched_tokens (shared across the batch)."""
        if prompt <= 0:
            return 0.0
        budget = self.engine.max_num_batched_tokens
        total = 0.0
        done = 0  # tokens processed per sequence so far
        while done < prompt:
            per_seq = max(1, min(prompt - done, budget // max(batch, 1)))
            total += max(self.step_time([(per_seq, done)] * batch), self.eager_floor_s)
            done += per_seq
        return total

    def decode_times(self, prompt: int, gen: int, batch: int = 1) -> np.ndarray:
        """Times of the `gen` decode steps after a prompt (step i has context prompt + i)."""
        if gen <= 0:
            return np.zeros(0)
        ctx = prompt + np.arange(gen, dtype=float)
        end = ctx + 1.0
        kv = self.kv_full_per_token * end
        attn = self.attn_full_coef * (ctx + 1.0)
        if self.window:
            kv = kv + self.kv_swa_per_token * np.minimum(end, self.window)
            attn = attn + self.attn_swa_coef * np.minimum(ctx + 1.0, self.window)
        return self.step_times_vec(batch, float(batch), kv * batch, attn * batch)


def build_system(
    catalog: Catalog,
    hardware: str,
    model: str,
    quant: str,
    engine: str,
    *,
    memory_gb: float | None = None,
    devices: int = 1,
    usable_memory_gb: float | None = None,
    kv_dtype: str | None = None,
    nodes: int = 1,
    link: str | None = None,
    parallel: Parallel | str | None = None,
    host: str | None = None,
    offload: str | None = None,
    host_memory_gb: float | None = None,
    mla_cache: str | None = None,
    engine_version: str | None = None,
) -> System:
    """Resolve ids and check the combination is meaningful; raises CatalogError/ScenarioError."""
    hw = catalog.get("hardware", hardware, "hardware")
    m = catalog.get("models", model, "model")
    q = catalog.get("quants", quant, "quant")
    e = catalog.get("engines", engine, "engine")
    if devices is None or devices < 1 or devices > 1024:
        raise ScenarioError("devices", f"must be an integer from 1 to 1024, got {devices}")
    if nodes is None or nodes < 1 or nodes > 256:
        raise ScenarioError("nodes", f"must be an integer from 1 to 256, got {nodes}")
    link_p = None
    if nodes > 1:
        if not link:
            raise ScenarioError(
                "link",
                f"{nodes} nodes need a link between them, e.g. --link thunderbolt5 or "
                "ethernet-100g (`python -m planner catalog interconnects`)",
            )
        link_p = catalog.get("interconnects", link, "link")
    elif link:
        link_p = catalog.get("interconnects", link, "link")
    total = devices * nodes
    if isinstance(parallel, str):
        parallel = Parallel.parse(parallel)
    if parallel is not None:
        if parallel.tp * parallel.pp != total:
            raise ScenarioError(
                "parallel",
                f"tp x pp = {parallel.tp} x {parallel.pp} must equal all devices "
                f"({devices} per node x {nodes} nodes = {total})",
            )
        if m.num_heads % parallel.tp:
            raise ScenarioError("parallel", f"tp = {parallel.tp} must divide {m.id}'s {m.num_heads} attention heads")
        if parallel.pp > m.num_layers:
            raise ScenarioError("parallel", f"pp = {parallel.pp} exceeds {m.id}'s {m.num_layers} layers")
        if parallel.ep > 1:
            if m.arch != "moe":
                raise ScenarioError(
                    "parallel", f"ep = {parallel.ep}: {m.id} is dense, expert parallel needs a MoE model"
                )
            if total % parallel.ep or parallel.ep > m.num_experts:
                raise ScenarioError(
                    "parallel",
                    f"ep = {parallel.ep} must divide the {total} devices and be at most the {m.num_experts} experts",
                )
        if e.batching == "slots" and parallel.tp > 1:
            raise ScenarioError(
                "parallel",
                f"{e.id} splits layers across devices (pp); tensor parallel is not modelled for it: use pp only",
            )
    host_p = None
    if offload:
        if not (offload == "experts" or (offload.startswith("layers:") and offload[7:].isdigit())):
            raise ScenarioError("offload", f"expected 'experts' or 'layers:N', got '{offload}'")
        if not host:
            raise ScenarioError(
                "host",
                "offloading needs a host platform, e.g. --host amd-epyc-9004-genoa (`python -m planner catalog hosts`)",
            )
        host_p = catalog.get("hosts", host, "host")
        if e.id != "llama.cpp":
            raise ScenarioError(
                "offload", f"offload is modelled for llama.cpp (-ot exps=CPU / partial -ngl), not {e.id}"
            )
        if offload == "experts" and m.arch != "moe":
            raise ScenarioError("offload", f"{m.id} is dense: it has no MoE experts to offload; use layers:N")
        if offload.startswith("layers:") and not 0 < int(offload[7:]) < m.num_layers:
            raise ScenarioError("offload", f"layers:N needs 0 < N < {m.num_layers} ({m.id}'s layers)")
        if hw.memory == "unified":
            raise ScenarioError("offload", f"{hw.id} has unified memory: there is no separate host RAM to offload to")
        if host_memory_gb is not None and host_memory_gb not in host_p.memory_gb_options:
            sizes = ", ".join(f"{x:g}" for x in host_p.memory_gb_options)
            raise ScenarioError("host_memory_gb", f"{host_p.id} configurations: {sizes} GB, not {host_memory_gb:g}")
    elif host:
        host_p = catalog.get("hosts", host, "host")
    if memory_gb is None:
        memory_gb = max(hw.memory_gb)
    elif not math.isfinite(memory_gb) or memory_gb <= 0:
        raise ScenarioError("memory_gb", f"must be a positive size in GB, got {memory_gb}")
    elif memory_gb not in hw.memory_gb:
        sizes = ", ".join(f"{s:g}" for s in hw.memory_gb)
        raise ScenarioError("memory_gb", f"{hw.id} is sold with {sizes} GB, not {memory_gb:g}; pick one of those")
    if usable_memory_gb is not None:
        if not math.isfinite(usable_memory_gb) or usable_memory_gb <= 0:
            raise ScenarioError("usable_memory_gb", f"must be a positive size in GB, got {usable_memory_gb}")
        if usable_memory_gb > memory_gb:
            raise ScenarioError(
                "usable_memory_gb", f"{usable_memory_gb:g} GB is more than the {memory_gb:g} GB the device has"
            )
    if hw.vendor not in e.vendors:
        raise ScenarioError(
            "engine",
            f"{e.id} does not run on {hw.vendor} hardware; engines that do: "
            + ", ".join(sorted(x.id for x in catalog.engines.values() if hw.vendor in x.vendors)),
        )
    if e.id not in q.engines:
        raise ScenarioError(
            "quant",
            f"{e.id} does not load {q.id}; formats it loads: "
            + ", ".join(sorted(x.id for x in catalog.quants.values() if e.id in x.engines)),
        )
    if devices > 1 and hw.memory == "unified":
        raise ScenarioError(
            "devices",
            f"{hw.id} is one unified-memory machine: use devices = 1 and --nodes N "
            "--link ID for a cluster of such machines",
        )
    kv = kv_dtype or default_kv_dtype(catalog, hw, m, q, e.id)
    if kv not in q.kv_cache_dtypes:
        raise ScenarioError("kv_dtype", f"{q.id} supports KV cache dtypes {', '.join(q.kv_cache_dtypes)}, not '{kv}'")
    verdict = support_check(catalog, hw, m, q, e.id, kv)
    if not verdict.ok:
        raise UnsupportedError(verdict)
    return System(
        catalog,
        hw,
        m,
        q,
        e,
        float(memory_gb),
        int(devices),
        kv,
        usable_memory_gb,
        int(nodes),
        link_p,
        parallel,
        host_p,
        offload,
        host_memory_gb,
        mla_cache,
        verdict,
        engine_version,
    )
