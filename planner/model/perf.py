"""The step-time model: the time of one engine step of a deployment.

One function prices every step, prefill, decode or mixed (chunked prefill): a
batch is a list of ``(new_tokens, context_tokens)`` per sequence.  The time is
a roofline over compute and memory traffic plus fixed per-step and per-layer
overheads, plus tensor-parallel communication when devices > 1:

    t = max(FLOPs / (peak x compute_eff) x (1 + quant_penalty),
            bytes / (bandwidth x bandwidth_eff)) + step_overhead + layers x layer_overhead
        + all-reduce time (tensor parallel)

Efficiencies and overheads come from the engine profile's calibration for the
hardware (fitted by ``python -m planner calibrate``).

``build_system`` resolves and checks a deployment (``planner.model.deployment``) and returns a
:class:`System`: the :class:`Deployment`, its :class:`MemoryModel` (``planner.model.memory``) and its
:class:`StepTimeModel` (here).
"""

from __future__ import annotations

import math
import types
from bisect import bisect_left
from dataclasses import dataclass
from itertools import repeat
from math import sqrt as _sqrt
from typing import Any, Callable, Iterable

import numpy as np

from planner.catalog.loader import Catalog, Efficiency, Engine, Hardware, Model, Quant
from planner.catalog.support import SIXTEEN_BIT
from planner.model import typed
from planner.model.arch import ParamBreakdown, active_params, attention_dims, kv_elements_per_token, params
from planner.model.deployment import Deployment, resolve_deployment
from planner.model.kernels import MeasuredKernels, _interpl, attach
from planner.model.memory import GB, MemoryModel
from planner.model.priors import achievable_tflops, prior_efficiency


def calibration_chain(engine: Engine, catalog: Catalog) -> list[Engine]:
    """The engine, then the engines it borrows calibration from (calibration_from), in order."""
    chain: list[Engine] = []
    seen: set[str] = set()
    eng: Engine | None = engine
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


_RUN_LOOPS: dict = {}


def _run_loop(win: bool, c0: bool, d: bool, q: bool, adds: int, floor: bool):
    """DecodePricer.run's loop for one combination of terms: where planner/model/typed.py runs compiled (setup.py),
    its one loop for any terms (C doubles; the same bits); otherwise generated for these terms and compiled once
    (_generated_run_loop): only the operations
    that are there (an addition of 0.0, a division by 1, a product with 1.0 or a max with 0.0 leaves
    a positive time as it is, so dropping them changes no bit); s and sw as floats (integers below
    2^53: exact, and what int x float converts them to), stepped by n and ln as floats (the same
    exact sums).  Returns a factory: make(n, kf, af, ks, aw, f0, e0, c0, d, q, w, bw, adds, floor)
    gives loop(k, s0, h, sw0, ln, t0) with those terms bound (DecodePricer.runner).  A step's time
    is max(compute c, memory m) plus its additions; c and m are both linear in the step's index, so
    where one exceeds the other by a relative 1e-9 (far beyond their rounding) at the run's first
    and last step it does at every step, and the loop computes that one alone (the same operations
    for it: the same bits).  Where no windowed sequence grows (ln = 0) sw is the same float at every
    step, and so are ks x sw and aw x sw: taken once before the loop (the same products)."""
    if typed.COMPILED and adds <= typed.ADDS:  # (compiled: its float locals are C doubles; as Python, slower)
        return typed.decode_run
    return _generated_run_loop(win, c0, d, q, adds, floor)


def _generated_run_loop(win: bool, c0: bool, d: bool, q: bool, adds: int, floor: bool):
    """_run_loop's generated loop for these terms (compiled once from _RunLoopSource's text)."""
    key = (win, c0, d, q, adds, floor)
    fn = _RUN_LOOPS.get(key)
    if fn is None:
        src = _RunLoopSource(win, c0, d, q, adds, floor).lines()
        ns: dict = {"rep": repeat}
        exec(compile("\n".join(src), f"<DecodePricer.run {key}>", "exec"), ns)  # noqa: S102 (our own source text)
        fn = _RUN_LOOPS[key] = ns["make"]
    return fn


class _RunLoopSource:
    """_run_loop's source text for one combination of terms (see there)."""

    def __init__(self, win: bool, c0: bool, d: bool, q: bool, adds: int, floor: bool):
        self.win, self.c0, self.d, self.q, self.adds, self.floor = win, c0, d, q, adds, floor
        self.plus = "".join(f" + a{i}" for i in range(adds))

    def terms(self, wterm: str | None) -> tuple[str, str]:
        """c and m of step s ({S}); wterm: the windowed term ({k}: aw or ks), None without a window."""
        x_a, x_m = "af * {S}", "kf * {S}"
        if wterm is not None:
            x_a, x_m = f"({x_a} + {wterm.format(k='aw')})", f"({x_m} + {wterm.format(k='ks')})"
        c = f"(f0 + {x_a}) / e0"
        if self.c0:
            c = f"({c} + c0)"
        if self.d:
            c = f"{c} / d"
        if self.q:
            c = f"{c} * q"
        return c, f"(w + {x_m}) / bw"

    def steps(self, t: list[str], ind: str, grow: bool) -> list[str]:
        """The loop over the steps, with t's lines (t: the step's time)."""
        return [
            f"{ind}for _ in rep(None, k):",
            f"{ind}    s += nf",
            f"{ind}    sw += lnf" if grow else "",
            *(f"{ind}    {x}" for x in t),
            f"{ind}    if t < floor: t = floor" if self.floor else "",
            f"{ind}    acc = acc + t",
            f"{ind}    append(acc)",
            f"{ind}    if acc >= h:",
            f"{ind}        break",
        ]

    def one(self, x: str, ind: str, grow: bool) -> list[str]:
        """The steps of one side alone (x: its expression)."""
        if self.floor:
            return self.steps([f"t = {x}{self.plus}"], ind, grow)
        return [  # (t inline: acc + (t's expression), the same operations)
            f"{ind}for _ in rep(None, k):",
            f"{ind}    s += nf",
            f"{ind}    sw += lnf" if grow else "",
            f"{ind}    acc = acc + ({x}{self.plus})",
            f"{ind}    append(acc)",
            f"{ind}    if acc >= h:",
            f"{ind}        break",
        ]

    def body(self, ind: str, wterm: str | None, grow: bool) -> list[str]:
        """The run after its first step: one side throughout, else both per step."""
        c, m = self.terms(wterm)

        def at(x: str, S: str, W: str) -> str:
            return x.format(S=S, W=W)

        return [
            f"{ind}if k > 2:",  # c and m at the first and the last step: one above the other throughout?
            f"{ind}    sa, sb = s + n, s + n * k",
            f"{ind}    wa, wb = sw + ln, sw + ln * k" if grow else "",
            f"{ind}    ca, cb = {at(c, 'sa', 'wa')}, {at(c, 'sb', 'wb')}",
            f"{ind}    ma, mb = {at(m, 'sa', 'wa')}, {at(m, 'sb', 'wb')}",
            f"{ind}    if ma - ca > 1e-9 * ma and mb - cb > 1e-9 * mb:",  # memory-bound throughout
            *self.one(at(m, "s", "sw"), ind + "        ", grow),
            f"{ind}        return out",
            f"{ind}    if ca - ma > 1e-9 * ca and cb - mb > 1e-9 * cb:",  # compute-bound throughout
            *self.one(at(c, "s", "sw"), ind + "        ", grow),
            f"{ind}        return out",
            *self.steps(
                [f"c = {at(c, 's', 'sw')}", f"m = {at(m, 's', 'sw')}", f"t = (c if c > m else m){self.plus}"], ind, grow
            ),
            f"{ind}return out",
        ]

    def lines(self) -> list[str]:
        adds, win = self.adds, self.win
        names = ", ".join(f"a{i}" for i in range(adds))
        lines = [
            "def make(n, kf, af, ks, aw, f0, e0, c0, d, q, w, bw, adds, floor):",
            f"    {names}{',' if adds == 1 else ''} = adds" if adds else "",
            "    nf = float(n)",
            "    def loop(k, s0, h, sw0, ln, t0):",
            "        sw = float(sw0 - ln)" if win else "",
            "        out = []",
            "        append = out.append",
            "        acc = 0.0",
            "        s = float(s0 - n)",
            "        if t0 is not None:",  # the first step, priced by the caller
            "            acc = t0",
            "            append(acc)",
            "            if acc >= h or k <= 1:",
            "                return out",
            "            k -= 1",
            "            s += n",
            "            sw += ln" if win else "",
        ]
        if win:
            lines += [
                "        if not ln:",  # sw constant: its terms once
                "            ksw, aww = ks * sw, aw * sw",
                *self.body("            ", "{k}w", False),
                "        lnf = float(ln)",
                *self.body("        ", "{k} * {{W}}", True),
            ]
        else:
            lines += self.body("        ", None, False)
        return [x for x in [*lines, "    return loop"] if x]  # (empty: the lines absent here)


_TIME_FNS: dict = {}


def _time_fn(c0: bool, d: bool, q: bool, adds: int):
    """DecodePricer.time for one combination of terms, compiled once (as _run_loop): a step of
    summed KV bytes kv and attention FLOPs attn takes c = ((f0 + attn) / e0 [+ c0]) [/ d] [* q] and
    m = (w + kv) / bw, max(c, m) plus each addition in turn: StepTimeModel._stage's operations in
    its order, with the terms that are absent (c0 None, d = 1, q = 1.0, additions of 0.0: no bit
    changes) dropped.  Returns make(f0, e0, c0, d, q, w, bw, adds) -> time(kv, attn)."""
    key = (c0, d, q, adds)
    fn = _TIME_FNS.get(key)
    if fn is None:
        c = "(f0 + attn) / e0"
        if c0:
            c = f"{c} + c0"
        if d:
            c = f"({c}) / d"
        if q:
            c = f"({c}) * q"
        names = ", ".join(f"a{i}" for i in range(adds))
        lines = [
            "def make(f0, e0, c0, d, q, w, bw, adds):",
            f"    {names}{',' if adds == 1 else ''} = adds" if adds else "",
            "    def time(kv, attn):",
            f"        c = {c}",
            "        m = (w + kv) / bw",
            f"        return (c if c > m else m){''.join(f' + a{i}' for i in range(adds))}",
            "    return time",
        ]
        ns: dict = {}
        src = "\n".join(x for x in lines if x)
        exec(compile(src, f"<DecodePricer.time {key}>", "exec"), ns)  # noqa: S102 (our own source text)
        fn = _TIME_FNS[key] = ns["make"]
    return fn


class DecodePricer:
    """StepTimeModel._step of a pure decode batch with its batch-size terms folded (StepTimeModel.decode_pricer):
    the same IEEE operations in the same order, so the same bits, in fewer Python operations.
    Additions of 0.0, divisions by 1 and products with 1.0 are dropped (exact either way)."""

    __slots__ = ("f0", "e0", "c0", "d", "q", "w", "bw", "adds", "loops", "time")

    def __init__(self, f0, e0, c0, d, q, w, bw, adds):
        self.f0, self.e0, self.c0, self.w, self.bw = f0, e0, c0, w, bw
        self.loops: dict = {}  # (n, kf, af, cpu, overlap, ks, aw) -> run's loop with those terms bound
        self.d = d if d != 1 else None
        self.q = q if q != 1.0 else None
        self.adds = tuple(a for a in adds if a != 0.0)
        # time(kv, attn): one step's time, compiled for these terms (_time_fn)
        make = _time_fn(self.c0 is not None, self.d is not None, self.q is not None, len(self.adds))
        self.time: Callable[[float, float], float] = make(f0, e0, c0, self.d, self.q, w, bw, self.adds)

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
        t0: float | None = None,
    ) -> list[float]:
        """Cumulative times of up to k decode steps, step j reading kf x s and attending af x s for
        s = s0 + n j (plus ks x sw and aw x sw, sw = sw0 + ln j, for windowed layers: win = (sw0, ln,
        ks, aw)), each step plus `cpu` seconds of CPU work (or at least `cpu` when overlapped); stops
        after the first step ending at or after h; `t0`: the first step's time where the caller
        priced it already (time() and the CPU term).  The same operations as time() per step (and
        the caller's CPU term), and a sequential sum as numpy's cumsum, in a loop compiled for this
        pricer's terms (_run_loop)."""
        if win is None:
            return self.runner(n, kf, af, cpu, overlap)(k, s0, h, 0, 0, t0)
        sw0, ln, ks, aw = win
        return self.runner(n, kf, af, cpu, overlap, ks, aw)(k, s0, h, sw0, ln, t0)

    def runner(self, n: int, kf: float, af: float, cpu: float = 0.0, overlap: bool = False, ks=None, aw=None):
        """run's loop with its terms bound (ks, aw given: windowed layers): loop(k, s0, h, sw0, ln, t0)
        is run(k, s0, n, kf, af, h, cpu, overlap, (sw0, ln, ks, aw) or None, t0), without run's
        look-ups per call (Continuous._plan_run keeps one per batch size)."""
        key = (n, kf, af, cpu, overlap, ks, aw)
        fn = self.loops.get(key)
        if fn is None:
            adds = self.adds + (cpu,) if cpu and not overlap else self.adds
            floor = cpu if cpu and overlap else None
            make = _run_loop(
                ks is not None,
                self.c0 is not None,
                self.d is not None,
                self.q is not None,
                len(adds),
                floor is not None,
            )
            fn = make(n, kf, af, ks, aw, self.f0, self.e0, self.c0, self.d, self.q, self.w, self.bw, adds, floor)
            if len(self.loops) < 64:
                self.loops[key] = fn
        return fn

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
    """StepTimeModel._step of a pure decode batch of n sequences under the measured-kernel provider
    (planner/model/kernels.py MeasuredKernels.stage with tokens = n, one plain stage), its (n, tokens)
    terms folded into constants: the GEMM and head look-ups once, then per step one look-up of the
    generation-attention curve at the mean context (the same scalar interpolation, the same IEEE
    operations in the same order).  Arrays (long runs) take the provider's own vectorised path."""

    __slots__ = ("sys", "n", "g", "den", "layers", "ov", "xs", "ys", "top", "ytop", "slope", "dxs", "dys", "seg")

    def __init__(self, sys: "StepTimeModel", n: int):
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
        # each grid segment's rise and run (segment i: xs[i - 1] to xs[i]), as _a computes them
        self.dxs = [0.0] + [xs[i] - xs[i - 1] for i in range(1, len(xs))]
        self.dys = [0.0] + [ys[i] - ys[i - 1] for i in range(1, len(ys))]
        self.seg = self._segment(xs[0] if len(xs) else 1.0)  # the segment last looked up (_segment)

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
        ctx = float(kv) / self.den if self.den is not None else 1.0
        mode, y0, dy, x0, dx, xhi, lo = self.seg  # _a(ctx), inline: the last segment where it holds ctx
        if not lo < ctx <= xhi:
            mode, y0, dy, x0, dx, xhi, lo = self._segment(ctx)
        if mode == 1:
            a = y0 + dy * (ctx - x0) / dx
        elif mode == 0:
            a = y0
        else:
            a = y0 + dy * (ctx - x0)
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
        t0: float | None = None,
    ) -> list[float]:
        """DecodePricer.run's contract: the cumulative times of up to k steps (step j reads
        kf x s (+ ks x sw) for s = s0 + n j), each plus `cpu` (or at least `cpu` when overlapped),
        stopping after the first step ending at or after h; `t0`: the first step's time where the
        caller priced it already (time() and the CPU term).  The contexts only grow along a run,
        so the grid segment of _a's look-up is found once and moved along (bisect_left again
        only when a context passes the segment's end, _segment), its rise and run taken from dxs
        and dys (the same differences): the same operations on the same values as _a, step by step."""
        add, floor = (0.0, cpu) if overlap else (cpu, 0.0)
        sw0, ln, ks = (win[0], win[1], win[2]) if win is not None else (0, 0, 0.0)
        out: list[float] = []
        s, sw = s0 - n, sw0 - ln  # the step before the first
        if t0 is not None:  # the first step, priced by the caller
            out.append(t0)  # (0.0 + t0)
            if t0 >= h or k <= 1:
                return out
            k, s, sw = k - 1, s + n, sw + ln
        if win is None and self.den is not None and not overlap:  # the common case: no other terms
            return self._run_plain(out, k, s, n, kf, h, add)
        return self._run_any(out, k, s, n, kf, h, add, floor, win is not None, sw, ln, ks)

    def _segment(self, ctx: float) -> tuple:
        """_a's look-up for ctx as (mode, y0, dy, x0, dx, xhi, lo): the value is y0 (mode 0: at or
        below the grid), y0 + dy (ctx - x0) / dx (1: inside a segment) or y0 + dy (ctx - x0) (2: beyond
        the grid, the last slope), for contexts above lo up to xhi (bisect_left's segment); kept as
        the pricer's last segment (seg: time and the runs start from it)."""
        xs, ys = self.xs, self.ys
        if self.slope is None:
            seg = 0, ys[0], 0.0, 0.0, 1.0, math.inf, -math.inf
        else:
            i = bisect_left(xs, ctx)
            if i == 0:
                seg = 0, ys[0], 0.0, 0.0, 1.0, xs[0], -math.inf
            elif i >= len(xs):
                seg = 2, self.ytop, self.slope, self.top, 1.0, math.inf, self.top
            else:
                seg = 1, ys[i - 1], self.dys[i], xs[i - 1], self.dxs[i], xs[i], xs[i - 1]
        self.seg = seg
        return seg

    def _run_plain(self, out: list, k: int, s: int, n: int, kf: float, h: float, add: float) -> list[float]:
        """run's loop without a window and without overlapped CPU work (the times are positive: no
        floor of 0.0 applies); s: the summed context of the step before the first."""
        g, den, L, ov = self.g, self.den, self.layers, self.ov
        assert den is not None
        append = out.append
        acc = out[-1] if out else 0.0
        mode, y0, dy, x0, dx, xhi, lo = self.seg  # the current segment holds contexts above lo up to xhi
        if not lo < kf * (s + n) / den:  # (the first step's context; the contexts only grow)
            xhi = -math.inf  # none yet
        sf, nf = float(s), float(n)  # (integers below 2^53: exact, and what kf x s converts s to)
        for _ in repeat(None, k):
            sf += nf
            ctx = kf * sf / den
            if ctx > xhi:
                mode, y0, dy, x0, dx, xhi, lo = self._segment(ctx)
            if mode == 1:
                a = y0 + dy * (ctx - x0) / dx
            elif mode == 0:
                a = y0
            else:
                a = y0 + dy * (ctx - x0)
            acc = acc + ((g + a * L) * 1e-3 + ov + add)
            append(acc)
            if acc >= h:
                break
        return out

    def _run_any(
        self, out: list, k: int, s: int, n: int, kf: float, h: float, add: float, floor: float, win: bool, sw, ln, ks
    ) -> list[float]:
        """run's loop with any terms (window: sw the windowed sum of the step before the first)."""
        g, den, L, ov = self.g, self.den, self.layers, self.ov
        append = out.append
        acc = out[-1] if out else 0.0
        xhi = -math.inf  # the current segment holds contexts up to xhi (-inf: none yet)
        mode, y0, dy, x0, dx = 0, 0.0, 0.0, 0.0, 1.0
        for _ in range(k):
            s += n
            kv = kf * s
            if win:
                sw += ln
                kv = kv + ks * sw
            ctx = kv / den if den is not None else 1.0
            if ctx > xhi:
                mode, y0, dy, x0, dx, xhi, _ = self._segment(ctx)
            if mode == 1:
                a = y0 + dy * (ctx - x0) / dx
            elif mode == 0:
                a = y0
            else:
                a = y0 + dy * (ctx - x0)
            t = (g + a * L) * 1e-3 + ov + add
            if t < floor:
                t = floor
            acc = acc + t
            append(acc)
            if acc >= h:
                break
        return out

    def times(self, kv: np.ndarray, attn: np.ndarray) -> np.ndarray:
        return self.sys.step_times_vec(self.n, self.n, kv, attn)


_CACHE_MAX = 65536  # entries of KernelStepPricer's look-up cache by tokens (a float each)
_PER_N_MAX = 4096  # ... and of its caches by sequences (the head look-up, the per-sequences terms)
_CACHE_SETS = 8  # sets of those caches (distinct tables) held at once


_STEP_CACHES: dict[tuple, tuple[dict, dict, dict, dict]] = {}


def _step_caches(mk: MeasuredKernels) -> tuple[dict, dict, dict]:
    """KernelStepPricer's caches by tokens, by sequences and per sequences for the tables of `mk`,
    shared by every MeasuredKernels with the same ones (a plan's options, the replicas, repeated
    runs: the same curves give the same values): keyed by the GEMM and head curves' values, the
    layers, the KV bytes per token and the generation curves' cache (itself shared per table,
    planner/model/kernels.py _shared_gen_cache; held here so that its id is not reused).  At most
    _CACHE_SETS sets (cleared when full), each cache bounded (_CACHE_MAX, _PER_N_MAX): at most a few
    MB each."""
    gen = mk._gen_cache
    key = (id(gen), mk.kv_per_token, mk.layers, *map(tuple, mk.layer_curve_l), *map(tuple, mk.head_curve_l))
    hit = _STEP_CACHES.get(key)
    if hit is None or hit[0] is not gen:
        if len(_STEP_CACHES) >= _CACHE_SETS:
            _STEP_CACHES.clear()
        hit = _STEP_CACHES[key] = (gen, {}, {}, {})
    return hit[1], hit[2], hit[3]


_PRICE_FNS: dict[int, tuple[MeasuredKernels, Callable, dict]] = {}  # KernelStepPricer._make_price's
_PRICE_CODE: types.CodeType | None = None
_PRICE_SRC = """
def _price(n, tokens, kv, attn):
    if tokens <= 0:
        return 0.0
    ga = ga_get(tokens)  # the GEMM look-up x layers, by tokens (_gemm_terms, inline)
    if ga is None:
        ga = interpl(float(tokens), lxs, lys) * mk_layers
        if len(ga_cache) < cache_max:
            ga_cache[tokens] = ga
    nfe, gh, den, xs, ys, nx, x_lo, y_lo, top, ytop, slope = pn_get(n) or per_n(mk, gh_cache, pn_cache, n)
    g = ga + gh
    ctx = kv / den if den is not None else 1.0
    if nx < 2 or ctx <= x_lo:
        a = y_lo
    else:
        i = bisect_left(xs, ctx)
        if i >= nx:
            a = ytop + slope * (ctx - top)
        else:
            x0 = xs[i - 1]
            a = ys[i - 1] + (ys[i] - ys[i - 1]) * (ctx - x0) / (xs[i] - x0)
    if tokens > nfe:  # (tokens > nf + 1e-9)
        if not ce_on or attn <= 0:  # (_ctx_equiv_ms is 0.0 where attn <= 0)
            a += ctx_equiv(float(attn))
        else:  # _ctx_equiv(ce, attn), inline
            s = _sqrt(2.0 * attn / coef)
            if s > ctop:
                a += cytop * (s / ctop) ** 2
            elif cnx < 2 or s <= cx_lo:
                a += cy_lo
            else:
                i = bisect_left(cxs, s)
                if i >= cnx:
                    a += cyl + cslope * (s - cxl)
                else:
                    y0, rise, x0, run = csegs[i]
                    a += y0 + rise * (s - x0) / run
    return (g + a * layers) * 1e-3 + over
"""  # KernelStepPricer._price's code (its globals: the pricer's constants, _make_price)


class KernelStepPricer:
    """StepTimeModel.step_time_agg of any (mixed prefill/decode) step under the measured-kernel provider
    with one plain stage: MeasuredKernels.stage's scalar path, the same operations in the same
    order, with its GEMM look-up cached by tokens and its head look-up by sequences.  The first `checks` calls are also
    priced the long way and must agree bit for bit; otherwise it prices every step the long way."""

    __slots__ = ("sys", "mk", "ga", "gh", "interp", "checks", "pn", "ce", "layers", "over", "_price")

    def __init__(self, sys: "StepTimeModel", checks: int = 16):
        self.sys, self.mk, self.interp, self.checks = sys, sys.kernels, _interpl, checks
        mk = sys.kernels
        assert mk is not None  # (StepTimeModel.step_pricer builds one only under the measured kernels)
        # the look-ups by tokens (GEMMs x layers), by sequences (head) and the per-sequences terms
        # (_per_n) depend on the measured tables alone: shared by every pricer on the same tables
        # (_step_caches); bounded (_CACHE_MAX, _PER_N_MAX)
        self.ga, self.gh, self.pn = _step_caches(mk)
        self.layers, self.over = mk.layers, mk.overhead_s
        self.ce = self._ctx_equiv_terms()
        self._price: Callable[[int, float, float, float], float] = self._make_price()

    def __call__(self, n: int, tokens: float, kv: float, attn: float) -> float:
        if self.checks:
            ref = self.sys.step_time_agg(n, tokens, kv, attn)
            if self.checks > 0:
                self.checks = self.checks - 1 if self._price(n, tokens, kv, attn) == ref else -1
            return ref
        return self._price(n, tokens, kv, attn)

    @staticmethod
    def _segments(xs: list, ys: list) -> list:
        """_interpl's terms per grid segment i >= 1: (ys[i - 1], its rise, xs[i - 1], its run), the
        same differences _interpl takes."""
        return [None] + [(ys[i - 1], ys[i] - ys[i - 1], xs[i - 1], xs[i] - xs[i - 1]) for i in range(1, len(xs))]

    def _ctx_equiv_terms(self):
        """MeasuredKernels._ctx_equiv_ms's constants (coef, longest length, its time, grid size, first
        length, first time, grid, segments, last length, last time, slope beyond), or None where they
        do not reproduce it bit for bit on lengths across its grid and beyond (then _price calls it)."""
        mk = self.mk
        coef = mk.attn_coef * mk.tp
        if coef <= 0:
            return None
        xs, ys = mk._ctx1
        nx = len(xs)
        slope = max((ys[-1] - ys[-2]) / (xs[-1] - xs[-2]), 0.0) if nx >= 2 else 0.0
        terms = (
            coef,
            mk.ctx_max,
            _interpl(mk.ctx_max, xs, ys),
            nx,
            xs[0],
            ys[0],
            xs,
            self._segments(xs, ys),
            xs[-1],
            ys[-1],
            slope,
        )
        for x in [*xs, mk.ctx_max * 1.5, mk.ctx_max * 7.3]:
            for f in (0.37, 1.0, 1.9):
                attn = (x * f) ** 2 * coef / 2.0
                if self._ctx_equiv(terms, attn) != mk._ctx_equiv_ms(attn):
                    return None
        return terms

    @staticmethod
    def _ctx_equiv(terms, attn: float) -> float:
        """MeasuredKernels._ctx_equiv_ms with its constants folded (the same operations; _price
        inlines it)."""
        coef, top, ytop, nx, x_lo, y_lo, xs, segs, xl, yl, slope = terms
        if attn <= 0:
            return 0.0
        s = _sqrt(2.0 * attn / coef)
        if s > top:
            return ytop * (s / top) ** 2
        if nx < 2 or s <= x_lo:
            return y_lo
        i = bisect_left(xs, s)
        if i >= nx:
            return yl + slope * (s - xl)
        y0, rise, x0, run = segs[i]
        return y0 + rise * (s - x0) / run

    def _per_n(self, n):
        """A batch of n sequences' terms (_per_n_terms, cached)."""
        return _per_n_terms(self.mk, self.gh, self.pn, n)

    def _gemm(self, tokens):
        """The GEMM look-up x layers at `tokens` (_gemm_terms, cached)."""
        return _gemm_terms(self.mk, self.ga, tokens)

    def _make_price(self) -> Callable[[int, float, float, float], float]:
        """_price(n, tokens, kv, attn): MeasuredKernels.stage(n, tokens, kv, attn) (scalars, tokens > 0
        else 0.0), the same operations on the same values (_PRICE_SRC), with the look-ups that depend
        only on the tokens or the sequences cached (ints and floats alike: each converted as stage
        converts it; a GEMM look-up missed is taken inline, as _gemm_terms), the pricer's constants
        bound as the function's globals (no cells to copy and clear per call; not self: the pricer
        holds _price, no cycle) and _ctx_equiv inline.  One function per MeasuredKernels, shared by
        its pricers (a System's replicas: one function, its look-ups specialised once; _PRICE_FNS,
        held with the MeasuredKernels so that its id is not reused, at most _CACHE_SETS)."""
        mk, ga, gh, pn = self.mk, self.ga, self.gh, self.pn
        assert mk is not None  # (built only under the measured kernels)
        hit = _PRICE_FNS.get(id(mk))
        if hit is not None and hit[0] is mk and hit[2] is ga:
            return hit[1]
        ce = self.ce
        if ce is None:
            coef = ctop = cytop = cx_lo = cy_lo = cxl = cyl = cslope = 0.0
            cnx, cxs, csegs = 0, [], []
        else:
            coef, ctop, cytop, cnx, cx_lo, cy_lo, cxs, csegs, cxl, cyl, cslope = ce
        ns = {
            "ga_get": ga.get,
            "ga_cache": ga,
            "interpl": _interpl,
            "lxs": mk.layer_curve_l[0],
            "lys": mk.layer_curve_l[1],
            "mk_layers": mk.layers,
            "cache_max": _CACHE_MAX,
            "pn_get": pn.get,
            "per_n": _per_n_terms,
            "mk": mk,
            "gh_cache": gh,
            "pn_cache": pn,
            "layers": self.layers,
            "over": self.over,
            "ce_on": ce is not None,
            "ctx_equiv": mk._ctx_equiv_ms,
            **dict(coef=coef, ctop=ctop, cytop=cytop, cnx=cnx, cx_lo=cx_lo, cy_lo=cy_lo, cxs=cxs, csegs=csegs),
            **dict(cxl=cxl, cyl=cyl, cslope=cslope, bisect_left=bisect_left, _sqrt=_sqrt),
        }
        global _PRICE_CODE
        if _PRICE_CODE is None:
            _PRICE_CODE = next(
                c
                for c in compile(_PRICE_SRC, "<KernelStepPricer._price>", "exec").co_consts
                if isinstance(c, types.CodeType)
            )
        fn = types.FunctionType(_PRICE_CODE, ns, "_price")
        if len(_PRICE_FNS) >= _CACHE_SETS:
            _PRICE_FNS.clear()
        _PRICE_FNS[id(mk)] = (mk, fn, ga)
        return fn


def _per_n_terms(mk: MeasuredKernels, gh_cache: dict, pn: dict, n):
    """A batch of n sequences' terms for KernelStepPricer: (n as a float, at least 1, plus 1e-9; the
    head look-up; the mean context's denominator; the generation curve's grid, values, size, first
    x, first value, last x, last value and the slope beyond it), as MeasuredKernels.stage computes
    them; kept in pn and the head look-up in gh_cache (each at most _PER_N_MAX)."""
    nf = float(n)
    if nf < 1.0:
        nf = 1.0
    gh = gh_cache.get(nf)
    if gh is None:
        gh = _interpl(nf, *mk.head_curve_l)
        if len(gh_cache) < _PER_N_MAX:
            gh_cache[nf] = gh
    kpt = mk.kv_per_token
    c = mk._gen_cache.get(nf) or mk._gen_curve(nf)
    xs, ys = c[2], c[3]
    slope = max((ys[-1] - ys[-2]) / (xs[-1] - xs[-2]), 0.0) if len(xs) >= 2 else 0.0
    e = (
        nf + 1e-9,
        gh,
        nf * kpt if kpt else None,
        xs,
        ys,
        len(xs),
        xs[0],
        ys[0],
        xs[-1],
        ys[-1],
        slope,
    )
    if len(pn) < _PER_N_MAX:
        pn[n] = e
    return e


def _gemm_terms(mk: MeasuredKernels, ga_cache: dict, tokens) -> float:
    """The GEMM look-up x layers at `tokens` (MeasuredKernels.stage's), kept in ga_cache (at most
    _CACHE_MAX)."""
    ga = _interpl(float(tokens), *mk.layer_curve_l) * mk.layers
    if len(ga_cache) < _CACHE_MAX:
        ga_cache[tokens] = ga
    return ga


def _stage_source(full: bool, moe: bool, d: bool, q: bool, a1: bool, a2: bool, tp: bool, ep: bool) -> str:
    """StepTimeModel._folded_stage's source for its terms: _stage's operations in its order, those
    absent dropped (a division by d = 1, a product with qf = 1.0, an addition of 0.0 to a positive
    time: no bit changes)."""
    den = "eff" if full else "eff * (r + r1 * (1.0 - exp(-{x} / knee)))"
    lines = [
        "def stage(n, tokens, kv, attn):",
        f"    compute = (body * tokens + head * n + attn) / ({den.format(x='tokens')})",
        "    w = dense",
    ]
    if moe:
        lines += [
            "    distinct = ne * (1.0 - q**tokens) if ne and tokens > 0 else 0.0",
            "    w = w + distinct * eb * moe",
            "    x = tokens * k / distinct",
            f"    compute = compute + efpt * tokens / ({den.format(x='x')})",
        ]
    lines += [
        "    compute = compute / d" if d else "",
        "    compute = compute * qf" if q else "",
        "    mem = (w + kv) / bd",
        "    t = compute if compute > mem else mem",
        "    t = t + a1" if a1 else "",
        "    t = t + a2" if a2 else "",
        "    t = t + l2 * (c1 * (tokens * hid * 2.0) / tp_bw + tp_lat)" if tp else "",
        "    sent = tokens / ep * k * (ep - 1) / ep * hid * 2.0" if ep else "",
        "    t = t + m2 * (sent / ep_bw + ep_lat)" if ep else "",
        "    return t",
    ]
    return "\n".join(x for x in lines if x)


_STAGE_CODES: dict[str, types.CodeType] = {}  # StepTimeModel._folded_stage's code by its source


def pick_compute_dtype(dep: Deployment) -> str:
    """The dtype the matmuls run in: the quant's first preference the hardware has throughput for; an
    emulated format (support matrix) is dequantized and multiplied at 16-bit whatever low-precision
    units the chip has."""
    hw, support = dep.hw, dep.support
    prefs = dep.quant.compute_dtypes
    if support is not None and support.emulated:
        prefs = [d for d in prefs if d in SIXTEEN_BIT] + [support.compute or "fp16"]
    dtype = next((d for d in prefs if hw.peak_tflops(d)), None)
    if dtype is None:
        dtype = next(d for d in ("fp16", "bf16", "fp32") if hw.peak_tflops(d))
    if dtype == "fp16" and dep.engine.fp16_accumulate and hw.peak_tflops("fp16_acc16"):
        dtype = "fp16_acc16"
    return dtype


class StepTimeModel:
    """The time of one engine step of a deployment: the constants of its roofline (FLOPs and bytes
    per token, the achieved compute and bandwidth from the calibration, the links of the parallel
    split, host offload) and, where NVIDIA's measured kernels cover it, that provider
    (planner/model/kernels.py).  Prices prefill, decode and mixed steps (`step_time`,
    `step_time_agg`, `step_times_vec`, `prefill_time`, `decode_times`) and folds a batch's constant
    terms for the simulator (`step_pricer`, `decode_pricer`).  `set_efficiency` swaps the
    calibration (the fit does) and drops to the roofline."""

    __slots__ = (
        "deployment",
        "memory",
        "model",
        "quant",
        "engine",
        "kv_bytes",
        "kv_full_per_token",
        "kv_swa_per_token",
        "window",
        "eff",
        "eff_label",
        "params",
        "tp",
        "pp",
        "ep",
        "microbatching",
        "dense_stream_bytes",
        "expert_bytes",
        "moe_layers",
        "n_experts",
        "k_experts",
        "expert_flops_per_token",
        "body_flops_per_token",
        "head_flops_per_seq",
        "eager_floor_s",
        "attn_full_coef",
        "attn_swa_coef",
        "compute_dtype",
        "peak_flops",
        "achievable_flops",
        "achievable_note",
        "bandwidth",
        "intra_bw",
        "intra_lat",
        "inter_bw",
        "inter_lat",
        "tp_bw",
        "tp_lat",
        "inter_hops",
        "intra_hops",
        "ep_bw",
        "ep_lat",
        "offload_experts",
        "offload_layers",
        "offload_frac",
        "host_bw",
        "cpu_flops",
        "kernels",
        "provider_note",
        "quant_penalty",
        "overhead_s",
        "_eff_bw",
        "_eff_flops",
        "_small_ratio",
        "_knee",
    )
    deployment: Deployment
    memory: MemoryModel
    model: Model  # the deployment's, read by every step
    quant: Quant
    engine: Engine
    kv_bytes: Callable[[float], float]  # the memory model's (KV bytes a step reads)
    kv_full_per_token: float  # the memory model's figures
    kv_swa_per_token: float
    window: int
    eff: Efficiency  # the calibration in use
    eff_label: str  # which (engine:class, or :prior)
    params: ParamBreakdown
    tp: int
    pp: int
    ep: int
    microbatching: bool  # continuous engines interleave micro-batches through pipeline stages
    dense_stream_bytes: float  # weight bytes read every step regardless of routing
    expert_bytes: float  # one routed expert, one layer
    moe_layers: int
    n_experts: int
    k_experts: int
    expert_flops_per_token: float
    body_flops_per_token: float
    head_flops_per_seq: float
    eager_floor_s: float  # least time of a step with prompt tokens (eager per-layer dispatch)
    attn_full_coef: float  # attention FLOPs per (query, key) pair, full-attention layers
    attn_swa_coef: float  # ... sliding-window layers
    compute_dtype: str
    peak_flops: float
    achievable_flops: float | None  # a sourced measured-GEMM cap, or None
    achievable_note: str | None
    bandwidth: float  # bytes/s, datasheet
    intra_bw: float | None  # between the devices of a machine
    intra_lat: float
    inter_bw: float | None  # between machines
    inter_lat: float
    tp_bw: float | None  # what the tensor-parallel all-reduces run over
    tp_lat: float
    inter_hops: int  # pipeline hops between machines
    intra_hops: int  # ... inside a machine
    ep_bw: float | None  # what the expert-parallel all-to-alls run over
    ep_lat: float
    offload_experts: bool
    offload_layers: int
    offload_frac: float
    host_bw: float | None  # the host's RAM (offload only)
    cpu_flops: float | None
    kernels: MeasuredKernels | None  # NVIDIA's measured kernels, else the roofline prices the step
    provider_note: str  # which provider prices the step, and why
    quant_penalty: float
    overhead_s: float  # per step: the step overhead plus every layer's
    _eff_bw: float
    _eff_flops: float
    _small_ratio: float
    _knee: float

    def __init__(self, dep: Deployment, memory: MemoryModel) -> None:
        self.deployment, self.memory = dep, memory
        m, q, hw = dep.model, dep.quant, dep.hw
        self.model, self.quant, self.engine = m, q, dep.engine
        self.kv_bytes = memory.kv_bytes
        self.kv_full_per_token, self.kv_swa_per_token = memory.kv_full_per_token, memory.kv_swa_per_token
        self.window = memory.window
        self.eff, self.eff_label = calibration_for(dep.engine, hw, dep.catalog)
        p = params(m)
        self.params = p
        self.tp, self.pp, self.ep = dep.tp, dep.pp, dep.ep
        # micro-batches through the pipeline: continuous-batching engines interleave them;
        # llama.cpp runs one batch through its layer split at a time
        self.microbatching = self.pp > 1 and dep.engine.batching == "continuous"
        bpb = q.bits_per_weight.value / 8.0
        other_bpb = q.other_bits_per_weight / 8.0 if q.applies_to == "experts" else bpb
        expert_bpb = bpb
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
        # a step with prompt tokens takes at least the engine's eager per-layer dispatch time
        ep = dep.engine.serving.eager_prefill
        self.eager_floor_s = m.num_layers * ep.layer_us.value * 1e-6 if ep else 0.0
        _, swa = kv_elements_per_token(m)
        qk, v = attention_dims(m)
        full_layers = m.num_layers - (m.sliding_window_layers if swa else 0)
        self.attn_full_coef = 2.0 * (qk + v) * full_layers  # FLOPs per (query, key) pair
        self.attn_swa_coef = 2.0 * (qk + v) * (m.num_layers - full_layers)
        self.compute_dtype = pick_compute_dtype(dep)
        self.peak_flops = hw.peak_tflops(self.compute_dtype) * 1e12
        # a sourced measured-GEMM figure caps the achieved rate where the peak is not reached
        ach = achievable_tflops(hw.id, self.compute_dtype)
        self.achievable_flops, self.achievable_note = (ach[0] * 1e12, ach[1]) if ach else (None, None)
        self.bandwidth = hw.memory_bandwidth_gbs.value * GB
        self.set_efficiency(self.eff, self.eff_label)
        self._links(dep)
        # offload to host RAM (llama.cpp -ot exps=CPU, or the first N layers on the CPU)
        self.offload_experts = dep.offload == "experts"
        self.offload_layers = int(dep.offload.split(":")[1]) if dep.offload and dep.offload.startswith("layers:") else 0
        self.offload_frac = self.offload_layers / m.num_layers
        self.host_bw = self.cpu_flops = None
        if dep.host is not None and dep.offload:
            h = dep.host
            bw = h.achieved_bandwidth_gbs or h.memory_bandwidth_gbs
            self.host_bw = bw.value * GB
            self.cpu_flops = h.cpu_tflops.value * 1e12
        # step-time provider: NVIDIA's measured kernels where they cover this deployment, else the roofline
        self.kernels, self.provider_note = attach(self)

    def _links(self, dep: Deployment) -> None:
        """Links between the devices of a machine (the hardware's) and between machines, and which of
        them the tensor-parallel all-reduces, the pipeline hops and the expert all-to-alls cross."""
        hw = dep.hw
        intra = dep.catalog.interconnects.get(hw.link) if hw.link else None
        if intra is not None:
            self.intra_bw, self.intra_lat = intra.effective_gbs * GB, intra.latency_us.value * 1e-6
        elif hw.interconnect is not None:
            self.intra_bw, self.intra_lat = hw.interconnect.bandwidth_gbs.value * GB, 0.0
        else:
            self.intra_bw, self.intra_lat = None, 0.0
        if dep.link is not None:
            self.inter_bw, self.inter_lat = dep.link.effective_gbs * GB, dep.link.latency_us.value * 1e-6
        else:
            self.inter_bw, self.inter_lat = self.intra_bw, self.intra_lat
        # a collective over devices of several machines pays its machine's own small-message floor
        # and a whole all-reduce between machines (the link's measured all-reduce time; its
        # point-to-point latency where none is given), never less than inside one machine
        coll_lat = self.inter_lat
        if dep.link is not None and dep.link.allreduce_latency_us is not None:
            coll_lat = dep.link.allreduce_latency_us.value * 1e-6
        span_lat = (self.intra_lat if dep.devices > 1 else 0.0) + coll_lat
        spans_nodes = self.tp > dep.devices
        self.tp_bw, self.tp_lat = (self.inter_bw, span_lat) if spans_nodes else (self.intra_bw, self.intra_lat)
        # a TP group over several machines makes each pipeline stage whole machines: every hop crosses them
        self.inter_hops = self.pp - 1 if spans_nodes else min(dep.nodes - 1, self.pp - 1)
        self.intra_hops = self.pp - 1 - self.inter_hops
        self.ep_bw, self.ep_lat = (
            (self.inter_bw, span_lat) if self.ep > dep.devices else (self.intra_bw, self.intra_lat)
        )

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
        if self.kernels is None:
            return self._folded_stage() or self._stage
        return KernelStepPricer(self)

    def _folded_stage(self) -> Callable | None:
        """_stage of scalars with the system's constants bound (the same operations in the same
        order; the constant sub-expressions evaluated once, as _stage evaluates them), or None where
        layers or experts are offloaded or where it does not reproduce _stage bit for bit on sample
        steps."""
        if self.kernels is not None or self.offload_layers or self.offload_experts:
            return None
        body, head, dense = self.body_flops_per_token, self.head_flops_per_seq, self.dense_stream_bytes
        eff, r, knee, exp = self._eff_flops, self._small_ratio, self._knee, math.exp
        full, r1 = r >= 1.0, 1.0 - r
        moe, ne, k = self.moe_layers, self.n_experts, self.k_experts
        q = 1.0 - k / ne if moe and ne else 0.0  # distinct_experts' 1 - k/E
        eb, efpt = self.expert_bytes, self.expert_flops_per_token
        pp, d = self.pp, self.tp * self.pp
        qf, bd = 1.0 + self.quant_penalty, self._eff_bw * d
        a1, a2 = self.overhead_s / pp, 0.0 / pp  # (no host CPU work: cpu = 0.0)
        hid, layers = self.model.hidden_size, self.model.num_layers / pp
        tp = self.tp > 1 and self.tp_bw
        c1, tp_bw, tp_lat, l2 = 2.0 * (self.tp - 1) / self.tp, self.tp_bw, self.tp_lat, 2 * layers
        ep_on = self.ep > 1 and self.moe_layers and self.ep_bw
        ep, ep_bw, ep_lat, m2 = self.ep, self.ep_bw, self.ep_lat, self.moe_layers / pp * 2

        # the step's source for these terms (the same operations in the same order; a division by
        # d = 1, a product with qf = 1.0 and an addition of a2 = 0.0 to a positive time dropped: no
        # bit changes), its constants as the function's globals (no cells to copy and clear per call)
        ns: dict = dict(body=body, head=head, dense=dense, eff=eff, r=r, knee=knee, exp=exp, r1=r1, moe=moe, ne=ne)
        ns.update(q=q, eb=eb, efpt=efpt, d=d, qf=qf, bd=bd, a1=a1, a2=a2, hid=hid, c1=c1, tp_bw=tp_bw)
        ns.update(tp_lat=tp_lat, l2=l2, ep=ep, ep_bw=ep_bw, ep_lat=ep_lat, m2=m2, k=k)
        src = _stage_source(full, bool(moe), d != 1, qf != 1.0, a1 != 0.0, a2 != 0.0, bool(tp), bool(ep_on))
        code = _STAGE_CODES.get(src)  # compiled once per shape of the step (a plan builds many systems)
        if code is None:
            code = next(
                c
                for c in compile(src, "<StepTimeModel._folded_stage>", "exec").co_consts
                if isinstance(c, types.CodeType)
            )
            if len(_STAGE_CODES) < 256:
                _STAGE_CODES[src] = code
        stage = types.FunctionType(code, ns, "stage")

        for n, tokens in ((1, 1), (1, 17), (3, 512), (40, 8192), (256, 300), (7, 40_000)):
            for kv, attn in ((0.0, 0.0), (1e6, 1e9), (3.7e9, 2.9e13), (1.3e11, 7.1e15)):
                if stage(n, tokens, kv, attn) != self._stage(n, tokens, kv, attn):
                    return None
        return stage

    def decode_pricer(self, n: int) -> "DecodePricer | KernelDecodePricer | None":
        """_step(n, n, kv, attn) of a pure decode batch of n sequences with its (n, tokens) terms
        folded into constants, for the simulator's runs of decode steps; None where the step is not
        one plain stage (pipeline stages, offloaded layers, another step-time provider) or where the
        folded arithmetic does not reproduce _step bit for bit on sample points."""
        if self.pp != 1 or self.offload_layers:
            return None
        if self.kernels is not None:  # the measured-kernel provider's own folding
            return self._kernel_decode_pricer(n)
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
                assert self.host_bw is not None and self.cpu_flops is not None  # offload needs a host
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

    def _kernel_decode_pricer(self, n: int) -> KernelDecodePricer | None:
        """decode_pricer under the measured-kernel provider: its KernelDecodePricer, checked bit for bit
        against _step on sample points and contexts across the attention curve's grid."""
        kp = KernelDecodePricer(self, n)
        pts = [(1e6, 1e9), (3.7e9, 2.9e13), (1.3e11, 7.1e15)]
        if kp.den is not None:  # and contexts across the attention curve's grid
            pts += [(x * 1.37 * kp.den, 1e12) for x in kp.xs[:: max(1, len(kp.xs) // 6)]]
        for kv, attn in pts:
            if kp.time(kv, attn) != self._step(n, n, kv, attn):
                return None
        return kp

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


@dataclass(frozen=True, slots=True)
class System:
    """A deployment with its memory model and step-time model, as `build_system` returns it; no logic
    of its own.  The fields after `step` are the parts' attributes the simulator's hot loop reads
    (planner/sim/engine.py), bound here once so that a call costs what it did: the memory model's
    `kv_bytes`, the step-time model's KV and attention constants and step pricers."""

    deployment: Deployment
    memory: MemoryModel
    step: StepTimeModel
    kv_bytes: Callable[[float], float]
    kv_full_per_token: float
    kv_swa_per_token: float
    window: int
    attn_full_coef: float
    attn_swa_coef: float
    seq_terms: Callable[[float, float], tuple[float, float]]
    step_time: Callable[[Iterable[tuple[float, float]]], float]
    step_time_agg: Callable[[int, float, float, float], float]
    step_times_vec: Callable[..., np.ndarray]
    step_pricer: Callable[[], Callable | None]
    decode_pricer: Callable[[int], DecodePricer | KernelDecodePricer | None]


def compose(dep: Deployment) -> System:
    """The System of a deployment (unchecked: `build_system` checks first)."""
    mem = MemoryModel.of(dep)
    st = StepTimeModel(dep, mem)
    return System(
        dep,
        mem,
        st,
        mem.kv_bytes,
        mem.kv_full_per_token,
        mem.kv_swa_per_token,
        mem.window,
        st.attn_full_coef,
        st.attn_swa_coef,
        st.seq_terms,
        st.step_time,
        st.step_time_agg,
        st.step_times_vec,
        st.step_pricer,
        st.decode_pricer,
    )


def build_system(catalog: Catalog, hardware: str, model: str, quant: str, engine: str, **options: Any) -> System:
    """Resolve ids, run the deployment checks (planner.model.deployment.resolve_deployment, whose keyword options
    it takes: memory_gb, devices, nodes, link, parallel, ...; raises CatalogError / ScenarioError /
    UnsupportedError) and build the memory and step-time models."""
    return compose(resolve_deployment(catalog, hardware, model, quant, engine, **options))
