"""Discrete-event serving simulator (a heap of events in simpy's order).

Events are per request, not per token: arrivals, admissions, completions, preemptions and
the engine steps that change the batch.  Between such events a run of decode steps is priced
in one go with ``System.step_times_vec`` (the per-step time grows with the context), and every
single step with ``System.step_time_agg``: the same step model as ``predict``, so one request
alone reproduces predict's TTFT and TPOT.

Continuous batching keeps the decoding sequences as aggregates: sequence i holds
``t_i = off_i + G`` KV tokens at global decode step ``G`` of its replica, so a step's KV read and
attention work are linear in sum(off_i) and a sequence's next KV block is due when
``(off_i + G) % block == 0``: per-step block demand is a table lookup by ``G % block``.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import gc
import heapq
import itertools
import math
import operator
import struct
from array import array
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol, runtime_checkable

import numpy as np

from planner.catalog.loader import Catalog
from planner.econ.slo import check_slo
from planner.errors import ScenarioError
from planner.model.memory import largest
from planner.model.perf import DecodePricer, KernelDecodePricer, KernelStepPricer, System, build_system, compose
from planner.model.predict import fit_reason
from planner.sim.budget import active as _budget_active
from planner.sim.budget import check as _budget_check
from planner.sim.scenario import Scenario
from planner.sim.workload import Requests, make_requests


class EngineState(IntEnum):
    """What an engine's `plan` asks of its replica: IDLE (nothing to do: sleep until a request arrives),
    WAIT (wait until a request arrives or `val` seconds pass, whichever first), STEP (one step of `val`
    seconds), RUN (a run of decode steps, `val` their cumulative end times)."""

    IDLE = 0
    WAIT = 1
    STEP = 2
    RUN = 3


IDLE, WAIT, STEP, RUN = EngineState  # the event loop compares plain ints (IntEnum members are ints)
URGENT, NORMAL = 0, 1  # event priorities at the same time (simpy's)
RUN_CAP = 8192  # most decode steps priced in one run
SHORT_RUN = 40  # runs of at most this many steps are priced step by step (numpy costs more there)
NAN = float("nan")
REQUEST_COLUMNS = (
    "id",
    "arrival_s",
    "admitted_s",
    "first_token_s",
    "finish_s",
    "prompt_tokens",
    "output_tokens",
    "preemptions",
    "replica",
    "rejected",
    "reason",
)
TIMELINE_COLUMNS = ("time_s", "replica", "steps", "duration_s", "batch", "tokens", "kv_fraction", "waiting")


@runtime_checkable
class Engine(Protocol):
    """The contract between a replica's event loop (Replica) and a scheduler (Continuous, Batch): the
    replica enqueues requests, asks `plan` what to do next, and commits what it planned once its time
    has passed."""

    idx: int  # the replica's index (set by Replica)
    waiting: deque[int]  # requests not admitted yet, in order (the shortest-queue router reads its length)

    def reject_reason(self, p: int, o: int) -> str | None:
        """Why a request of p prompt and o output tokens can never run here (None: it can)."""

    def enqueue(self, rid: int) -> None:
        """A request arrives at this replica."""

    @property
    def in_system(self) -> int:
        """Requests waiting or running."""

    def plan(self, now: float, horizon: float) -> tuple[EngineState, Any]:
        """The next thing to do (an EngineState and its value), knowing no request arrives before `horizon`."""

    def commit(self, now: float) -> None:
        """The planned STEP has ended at `now`."""

    def commit_run(self, k: int, cum, now: float) -> None:
        """The first k steps of the planned RUN have ended at `now` (only engines that plan runs)."""

    def kv_peak_fraction(self) -> float:
        """The largest share of the KV cache in use so far."""


@dataclass(frozen=True)
class SchedConfig:
    batching: str
    max_num_seqs: int
    max_num_batched_tokens: int
    chunked_prefill: bool
    n_parallel: int
    kv_block_size: int
    paged_kv: bool
    static_batch: int
    static_timeout_s: float
    cpu_per_seq_s: float = 0.0  # per-step CPU time per running sequence beyond the first
    cpu_overlap: bool = False  # that CPU work overlaps the GPU step (costs only its excess)
    graph_sizes: tuple[int, ...] = ()  # captured decode batch sizes, padded up to (empty: no padding)
    prefix_caching: bool = False
    sizing: str = "engine"
    eager_floor_s: float = 0.0  # least time of a step with prompt tokens (eager prefill dispatch)
    mixed_batches: bool = True  # prefill chunks share a step with the decoding sequences


def trtllm_bench_sizing(sys: System, prompt: float, output: float) -> tuple[int, int]:
    """(max_batch_size, max_num_tokens) as trtllm-bench sizes them for a workload of `prompt`-token
    inputs and `output`-token outputs (NVIDIA/TensorRT-LLM tensorrt_llm/bench/build/tuning.py,
    calc_engine_setting + finetune_setting): the requests of prompt + output tokens the KV cache
    holds, capped at 4096 and divided by the pipeline stages, rounded up optimistically (to 32s
    from 64 below 256, 128s below 1024, else 256s); tokens = that batch x (1 + prompt / output),
    capped at 32768, rounded up (256s from 2048 below 4096, 512s below 8192, else 1024s). The KV
    capacity is this planner's, not trtllm-bench's own estimate (0.95 x memory left by the weights)."""
    per = sys.kv_bytes(prompt + output)
    reqs = sys.memory.kv_capacity_bytes() / per if per > 0 else 4096.0
    raw_bs = min(reqs, 4096.0) / sys.deployment.pp
    raw_tok = min(raw_bs * (1.0 + prompt / max(output, 1.0)), 32768.0)
    if raw_bs < 256:
        bs = max(64, 32 * math.ceil(raw_bs / 32))
    elif raw_bs < 1024:
        bs = 128 * math.ceil(raw_bs / 128)
    else:
        bs = 256 * math.ceil(raw_bs / 256)
    if raw_tok < 4096:
        tok = max(2048, 256 * math.ceil(raw_tok / 256))
    elif raw_tok < 8192:
        tok = 512 * math.ceil(raw_tok / 512)
    else:
        tok = 1024 * math.ceil(raw_tok / 1024)
    return int(bs), int(tok)


def _typical(lengths) -> float:
    """A length distribution's typical value (its mean, or the middle of a uniform range)."""
    if lengths.mean is not None:
        return float(lengths.mean)
    if lengths.dist == "uniform":
        return (lengths.min + lengths.max) / 2.0
    return float(lengths.min)


def memory_defaults(sys: System):
    """The engine's scheduler defaults for this GPU's memory size (engine profile
    serving.by_memory, first match), or None."""
    for d in sys.deployment.engine.serving.by_memory:
        if sys.deployment.hw.memory != "discrete":
            return None
        if (
            d.min_gib <= sys.deployment.memory_gb
            and (d.max_gib is None or sys.deployment.memory_gb < d.max_gib)
            and not any(x in sys.deployment.hw.id for x in d.except_ids)
        ):
            return d
    return None


def resolve(catalog: Catalog, sc: Scenario) -> tuple[System, SchedConfig]:
    """The System (engine profile with the scenario's scheduler overrides) and the scheduler."""
    sc = sc.for_option(0)  # option 1 runs its own stack (quant, engine, kv_dtype, scheduler)
    m = sc.machine
    o = sc.scheduler
    sys = build_system(
        catalog,
        m.hardware,
        sc.model,
        sc.quant,
        sc.engine,
        memory_gb=m.memory_gb,
        devices=m.devices,
        usable_memory_gb=m.usable_memory_gb,
        kv_dtype=sc.kv_dtype,
        nodes=m.nodes,
        link=m.link,
        parallel=m.parallel,
        host=m.host,
        offload=m.offload,
        host_memory_gb=m.host_memory_gb,
        mla_cache=o.mla_cache,
        engine_version=sc.engine_version,
    )
    upd = {}
    graph_max = None
    dflt = memory_defaults(sys)
    if dflt is not None:
        upd = {k: v for k in ("max_num_seqs", "max_num_batched_tokens") if (v := getattr(dflt, k)) is not None}
        graph_max = dflt.cuda_graph_max_bs
    if o.sizing == "workload" and sys.deployment.engine.batching == "continuous" and sys.memory.kv_capacity_bytes() > 0:
        wl = sc.workload
        bs, tok = trtllm_bench_sizing(sys, _typical(wl.prompt), _typical(wl.output))
        upd = {"max_num_seqs": bs, "max_num_batched_tokens": tok, "chunked_prefill": True}
    upd.update(
        {
            k: v
            for k in (
                "batching",
                "max_num_seqs",
                "max_num_batched_tokens",
                "chunked_prefill",
                "n_parallel",
                "kv_block_size",
            )
            if (v := getattr(o, k)) is not None
        }
    )
    if upd:
        sys = compose(dataclasses.replace(sys.deployment, engine=sys.deployment.engine.model_copy(update=upd)))
    e = sys.deployment.engine
    sv = e.serving
    cpu = sv.cpu if o.cpu_overhead is not False else None
    graphs = sv.cuda_graphs if o.cuda_graphs is not False else None
    sizes = (
        tuple(sorted(x for x in set(graphs.sizes) if graph_max is None or x <= graph_max))
        if (graphs is not None and graphs.padding)
        else ()
    )
    prefix = sv.prefix_caching if o.prefix_caching is None else o.prefix_caching
    eager = sys.step.eager_floor_s if o.eager_prefill is not False else 0.0
    mixed = sv.mixed_batches if o.mixed_batches is None else o.mixed_batches
    cfg = SchedConfig(
        e.batching,
        e.max_num_seqs,
        e.max_num_batched_tokens,
        e.chunked_prefill,
        e.n_parallel,
        e.kv_block_size,
        e.paged_kv,
        o.static_batch,
        o.static_timeout_s,
        cpu.per_seq_us.value * 1e-6 if cpu else 0.0,
        bool(cpu and cpu.overlap),
        sizes,
        bool(prefix and e.paged_kv),
        o.sizing,
        eager,
        mixed,
    )
    if sys.memory.kv_capacity_bytes() <= 0:
        raise ScenarioError("machine", fit_reason(sys, 1, 1) or "the model leaves no memory for the KV cache")
    return sys, cfg


# --------------------------------------------------------------------------- engines


class KVLedger:
    """One replica's KV cache accounting: blocks (tokens for llama.cpp slots) in use against the
    capacity, and what each admitted sequence holds.  A decoding sequence holds ``t = off + g`` KV
    tokens at the replica's decode step ``g`` (``off`` is fixed while it decodes); a sequence in
    prefill holds the ``done`` tokens of its ``[done, target]``.  Sequences that reuse the shared
    prefix (prefix caching) hold its whole blocks once between them, counted from the step that
    first prefilled it.  Between a plan and its commit, `used` also holds the planned step's
    reservation (at most the capacity)."""

    __slots__ = ("B", "cap", "total", "used", "peak", "g", "off", "prefill", "cached", "prefix", "prefix_ready")

    def __init__(self, block: int, cap: int, total: int, prefix: int):
        self.B = block  # tokens per block (1: unpaged)
        self.cap = cap  # blocks the scheduler may use
        self.total = total  # blocks the cache holds (kv fractions)
        self.used = 0  # blocks in use
        self.peak = 0  # most blocks in use so far
        self.g = 0  # the replica's decode step (the offsets' origin)
        self.off: dict[int, int] = {}  # decoding rid -> t - g
        self.prefill: dict[int, list[int]] = {}  # rid -> [done, target] for sequences still in prefill
        self.cached: dict[int, int] = {}  # rid -> prefix tokens it reuses (shared blocks)
        self.prefix = prefix  # whole blocks of the shared prefix, in tokens (0: no prefix caching)
        self.prefix_ready = False  # the prefix's KV exists once one request has prefilled it

    def held(self) -> int:
        """Blocks the sequences hold, counted one by one (the shared prefix once)."""
        B, g, cached = self.B, self.g, self.cached
        n = sum(-(-(o + g) // B) - cached.get(rid, 0) // B for rid, o in self.off.items())
        n += sum(-(-d // B) - cached.get(rid, 0) // B for rid, (d, _) in self.prefill.items())
        return n + (self.prefix // B if self.prefix_ready else 0)

    def assert_invariants(self, planned: bool = False) -> None:
        """Blocks in use equal the blocks the sequences hold (`planned`: a planned step's
        reservation on top, between a plan and its commit) and never exceed the capacity."""
        held = self.held()
        if planned:
            assert held <= self.used, f"KV ledger: {self.used} blocks in use, the sequences hold {held}"
        else:
            assert held == self.used, f"KV ledger: {self.used} blocks in use, the sequences hold {held}"
        assert 0 <= self.used <= self.cap, f"KV ledger: {self.used} blocks in use of {self.cap}"
        assert not (self.off.keys() & self.prefill.keys()), "KV ledger: a sequence both decodes and prefills"


class DecodeAggregates:
    """Running sums over a replica's decoding sequences (the offsets of its KVLedger), so a decode
    step's KV bytes read and attention FLOPs cost O(1): sequence i holds ``t_i = off_i + g``
    tokens, so sum(t_i + 1) = off_sum + n (g + 1); sliding-window layers read min(t_i + 1, window):
    the `lin_n` sequences still below the window (offsets summing to `lin_off`) grow, the others
    read the window.  `phase[j]` counts the decoders with off % B == j: those whose next token
    starts a new block at step g have (off + g) % B == 0, so the step's block demand is
    ``phase[-g % B]``."""

    __slots__ = ("n", "off_sum", "lin_n", "lin_off", "phase", "kf", "af", "ks", "aw", "w", "ledger", "seq_terms")

    def __init__(self, ledger: KVLedger, sys: System):
        self.n = self.off_sum = self.lin_n = self.lin_off = 0
        self.phase = [0] * ledger.B  # decoders per (off mod B)
        self.kf, self.ks, self.w = sys.kv_full_per_token, sys.kv_swa_per_token, sys.window
        self.af, self.aw = sys.attn_full_coef, sys.attn_swa_coef
        self.ledger = ledger  # whose offsets these sum
        self.seq_terms = sys.seq_terms  # one sequence's (KV bytes, attention FLOPs), for the check

    def join(self, off: int, below: bool) -> None:
        """A decoder of offset `off` joins (`below`: its t + 1 is below the window).  Continuous._join
        and Continuous._after_step do what join and leave do, inline."""
        self.n += 1
        self.off_sum += off
        self.phase[off % len(self.phase)] += 1
        if below:
            self.lin_n += 1
            self.lin_off += off

    def leave(self, off: int, below: bool) -> None:
        self.n -= 1
        self.off_sum -= off
        self.phase[off % len(self.phase)] -= 1
        if below:
            self.lin_n -= 1
            self.lin_off -= off

    def cross(self, off: int) -> None:
        """A decoder of offset `off` reaches the window: it reads the window from now on."""
        self.lin_n -= 1
        self.lin_off -= off

    def terms(self, g: int) -> tuple[float, float]:
        """KV bytes read and attention FLOPs of the decoders at step g (Continuous.plan and
        _plan_run compute the same inline)."""
        s = self.off_sum + self.n * (g + 1)  # sum of (t + 1)
        kv, attn = self.kf * s, self.af * s
        if self.w:
            sw = self.lin_off + self.lin_n * (g + 1) + (self.n - self.lin_n) * self.w
            kv += self.ks * sw
            attn += self.aw * sw
        return kv, attn

    def assert_invariants(self) -> None:
        """The sums equal the per-sequence sums over the ledger's decoders (the KV and attention
        terms within 1e-9 relative of one seq_terms per sequence)."""
        offs, g = self.ledger.off, self.ledger.g
        B = len(self.phase)
        assert self.n == len(offs), f"decode aggregates: {self.n} decoders, the ledger has {len(offs)}"
        assert self.off_sum == sum(offs.values()), "decode aggregates: off_sum is not the sum of the offsets"
        phase = [0] * B
        for o in offs.values():
            phase[o % B] += 1
        assert self.phase == phase, "decode aggregates: the block phases do not count the offsets"
        if self.w:
            lin = [o for o in offs.values() if o + g + 1 < self.w]
            assert (self.lin_n, self.lin_off) == (len(lin), sum(lin)), "decode aggregates: below-window sums"
        kv, attn = self.terms(g)
        want_kv = want_attn = 0.0
        for o in offs.values():
            r, a = self.seq_terms(1, o + g)
            want_kv += r
            want_attn += a
        for name, got, want in (("KV bytes", kv, want_kv), ("attention FLOPs", attn, want_attn)):
            assert abs(got - want) <= 1e-9 * max(abs(want), abs(got)), f"decode aggregates: {name} {got} != {want}"


class Continuous:
    """Continuous batching, FCFS, mixed prefill/decode steps under a token budget.

    paged: KV in blocks, admission when the first chunk's blocks are free, preemption by
    recompute (the latest admitted sequence frees its KV and re-queues at the front).
    slots (llama.cpp server): n_parallel slots with a fixed share of the context each; no paging.
    """

    idx: int  # set by its Replica (sim.Engine)

    def __init__(self, sim: "Sim", sys: System, cfg: SchedConfig):
        self.sim, self.sys = sim, sys
        self.kf, self.ks, self.w = sys.kv_full_per_token, sys.kv_swa_per_token, sys.window
        self.af, self.aw = sys.attn_full_coef, sys.attn_swa_coef
        cap = sys.memory.kv_capacity_bytes()
        if cfg.batching == "slots":
            self.slot_ctx = largest(
                lambda c: cfg.n_parallel * sys.kv_bytes(c) <= cap, 0, sys.deployment.model.max_context
            )
            self.B, blocks = 1, 1 << 62  # every slot's context is reserved: KV never runs out
            self.kv_total = cfg.n_parallel * self.slot_ctx
            self.max_seqs = cfg.n_parallel
        else:
            self.slot_ctx = None
            self.B = cfg.kv_block_size if cfg.paged_kv else 1
            self.block_bytes = sys.kv_bytes(self.B) if not self.w else (self.kf + self.ks) * self.B
            blocks = self.kv_total = int(cap // self.block_bytes)
            self.max_seqs = cfg.max_num_seqs
        self.budget = cfg.max_num_batched_tokens
        self.max_seqs = min(self.max_seqs, self.budget)  # every running sequence decodes every step
        self.chunked = cfg.chunked_prefill or cfg.batching == "slots"
        # serving mechanisms: per-step CPU cost, CUDA-graph padding of decode batches, prefix caching
        self.cpu_seq, self.cpu_overlap = cfg.cpu_per_seq_s, cfg.cpu_overlap
        self.eager_floor = cfg.eager_floor_s
        self.mixed_batches = cfg.mixed_batches
        gs = cfg.graph_sizes
        self.gmax = gs[-1] if gs else 0
        self.pad = np.searchsorted(np.asarray(gs), np.arange(self.gmax + 1)) if gs else None
        if self.pad is not None:
            self.pad = [gs[i] for i in self.pad]  # pad[n] = smallest captured size >= n
        shared = sim.sc.workload.shared_prefix_tokens if self.slot_ctx is None and cfg.prefix_caching else 0
        # the KV blocks in use and what each sequence holds; the decoders' running sums
        self.ledger = KVLedger(self.B, blocks, self.kv_total, (shared // self.B) * self.B)
        self.agg = DecodeAggregates(self.ledger, sys)
        self.max_running = 0
        self.waiting: deque[int] = deque()
        self.admitted: dict[int, None] = {}  # admission order; preemption victims from the end
        self.fin: list[tuple[int, int]] = []  # (g at which it is done, rid)
        self.fin_stale = 0  # entries of fin whose sequence left early (preempted): none, every entry is valid
        self.cross: list[tuple[int, int]] = []  # (g from which t + 1 >= window, rid)
        self.pending: Any = None  # the planned step's chunks or the planned run's start
        # padded batch size -> DecodePricer (or None: the general step time), shared by the replicas
        self.pricers: dict = sim.pricers if sim is not None else {}
        self.mixed = sys.step_pricer() or sys.step_time_agg  # a step with prefill chunks
        # a measured-kernel step pricer checks its first steps against step_time_agg: once they all
        # agreed, its own pricing is called directly (what its __call__ does from then on)
        self.checking = self.mixed if isinstance(self.mixed, KernelStepPricer) else None
        self.runs: dict = {}  # (n, k, s0[, sw0, lin_n]) -> cumulative times of a long decode run
        self.by_n: dict = {}  # decoders -> _plan_run's terms of that batch (_decode_terms)
        self.dr_state: tuple | None = None  # decode_runs' objects and constants (its first call)

    def reject_reason(self, p: int, o: int) -> str | None:
        if self.slot_ctx is not None:
            if p + o > self.slot_ctx:
                return (
                    f"prompt + output = {p + o} tokens exceeds the slot context of {self.slot_ctx} tokens "
                    f"(n_ctx / n_parallel)"
                )
        elif -(-(p + o) // self.B) > self.ledger.cap:
            return (
                f"prompt + output = {p + o} tokens needs more KV than the whole cache "
                f"({self.ledger.cap * self.B} tokens)"
            )
        if not self.chunked and p > self.budget:
            return f"prompt of {p} tokens exceeds max_num_batched_tokens = {self.budget} with chunked prefill off"
        return None

    def accepted(self, p: np.ndarray, o: np.ndarray) -> np.ndarray:
        """Where reject_reason(p, o) is None, over arrays of prompt and output tokens (the same
        integer conditions; Sim.dispatch asks reject_reason only elsewhere)."""
        po = p + o
        ok = po <= self.slot_ctx if self.slot_ctx is not None else -(-po // self.B) <= self.ledger.cap
        if not self.chunked:
            ok &= p <= self.budget
        return ok

    def enqueue(self, rid: int) -> None:
        self.waiting.append(rid)

    @property
    def in_system(self) -> int:
        return len(self.waiting) + len(self.admitted)

    # -- step time ----------------------------------------------------------

    def _pricer(self, p: int):
        """The folded step time of a pure decode batch of p (padded) sequences, or None."""
        pr = self.pricers.get(p, False)
        if pr is False:
            pr = self.pricers[p] = self.sys.decode_pricer(p)
        return pr

    def _step_time(self, n: int, tokens: float, kv: float, attn: float, decode: bool) -> float:
        """predict's step time plus the serving mechanisms: a pure decode batch of n sequences
        padded to the next captured CUDA-graph size, and per-step CPU work per sequence beyond
        the first (hidden behind the GPU step when the engine overlaps them)."""
        if decode:
            p = self.pad[n] if n <= self.gmax else n
            pr = self._pricer(p)
            t = pr.time(kv, attn) if pr is not None else self.sys.step_time_agg(p, p, kv, attn)
        else:
            t = self.mixed(n, tokens, kv, attn)
            if t < self.eager_floor:  # prompt tokens run eagerly: the host's dispatch sets the pace
                t = self.eager_floor
        if self.cpu_seq and n > 1:
            c = self.cpu_seq * (n - 1)
            t = (t if t >= c else c) if self.cpu_overlap else t + c
        return t

    def _step_times(self, n: int, kv, attn):
        """Vectorised _step_time over a run of pure decode steps of n sequences."""
        p = self.pad[n] if n <= self.gmax else n
        pr = self._pricer(p)
        t = pr.times(kv, attn) if pr is not None else self.sys.step_times_vec(p, p, kv, attn)
        if self.cpu_seq and n > 1:
            c = self.cpu_seq * (n - 1)
            if self.cpu_overlap:
                np.maximum(t, c, out=t)
            else:
                t += c
        return t

    def _cached_for(self, rid: int, n: int) -> int:
        """Prefix tokens a sequence of n prompt tokens reuses (whole blocks; at least one token is computed)."""
        led = self.ledger
        if not led.prefix_ready:
            return 0
        c = min(led.prefix, ((n - 1) // self.B) * self.B)
        if c:
            led.cached[rid] = c
        return c

    # -- aggregates ---------------------------------------------------------

    def _join(self, rid: int, t: int) -> None:
        sim, led = self.sim, self.ledger
        if self.checking is not None and self.checking.checks <= 0:
            if self.checking.checks == 0:  # every check agreed (-1: one did not, __call__ prices the long way)
                self.mixed = self.checking._price
            self.checking = None
        off = t - led.g
        led.off[rid] = off
        w = self.w
        below = bool(w) and t + 1 < w
        agg = self.agg  # DecodeAggregates.join, inline
        agg.n += 1
        agg.off_sum += off
        agg.phase[off % self.B] += 1
        if below:
            agg.lin_n += 1
            agg.lin_off += off
        heapq.heappush(self.fin, (sim.prompt[rid] + sim.output[rid] - 1 - off, rid))
        if below:
            heapq.heappush(self.cross, (self.w - 1 - off, rid))

    def _leave(self, rid: int) -> int:
        """Remove a decoder; returns the KV tokens it held."""
        led = self.ledger
        off = led.off.pop(rid)
        t = off + led.g
        self.agg.leave(off, bool(self.w) and t + 1 < self.w)
        self.sim.generated[rid] = t - self.sim.prompt[rid] + 1  # t = prompt + generated - 1
        return t

    def _release(self, rid: int) -> None:
        """Free a sequence's KV (decoding or prefilling) and drop it from the admitted set."""
        led = self.ledger
        if rid in led.off:
            t = self._leave(rid)
            self.fin_stale += 1  # its entry in fin stays there until its key comes
        else:
            t = led.prefill.pop(rid)[0]
        led.used -= -(-t // self.B) - (led.cached.pop(rid, 0) // self.B if led.cached else 0)
        del self.admitted[rid]

    def _preempt_last(self) -> None:
        rid = next(reversed(self.admitted))
        self._release(rid)
        self.waiting.appendleft(rid)
        self.sim.preempted(rid)

    def _after_step(self, now: float) -> None:
        led, fin = self.ledger, self.fin
        g, off = led.g, led.off
        sim = self.sim
        # window crossings first: a sequence that crosses and finishes at the same step must
        # leave the linear (below-window) aggregate before it is removed
        cross = self.cross
        while cross and cross[0][0] <= g:
            key, rid = heapq.heappop(cross)
            o = off.get(rid)
            if o == self.w - 1 - key:
                self.agg.cross(o)
        if not fin or fin[0][0] > g:
            return
        prompt, output, agg, w, B, cached = sim.prompt, sim.output, self.agg, self.w, self.B, led.cached
        rep = sim.replicas[self.idx]  # (every sequence here is this replica's request)
        while fin and fin[0][0] <= g:
            key, rid = heapq.heappop(fin)
            if not self.fin_stale or off.get(rid) == prompt[rid] + output[rid] - 1 - key:
                # _finish, _release, _leave and agg.leave, inline
                o = off.pop(rid)
                t = o + g
                agg.n -= 1
                agg.off_sum -= o
                agg.phase[o % B] -= 1
                if w and t + 1 < w:
                    agg.lin_n -= 1
                    agg.lin_off -= o
                sim.generated[rid] = t - prompt[rid] + 1
                led.used -= -(-t // B) - (cached.pop(rid, 0) // B if cached else 0)
                del self.admitted[rid]
                sim.finish[rid] = now  # Sim.finished, inline
                rep.outstanding -= 1
                if sim.closed:
                    sim._ended(now)
                else:
                    sim.ended += 1
                    if now > sim.end_time:
                        sim.end_time = now
            else:
                self.fin_stale -= 1

    # -- scheduling ---------------------------------------------------------

    def plan(self, now: float, horizon: float):
        waiting, admitted, led, agg = self.waiting, self.admitted, self.ledger, self.agg
        prefill = led.prefill
        if not admitted and not waiting:
            return IDLE, None
        B, sim = self.B, self.sim
        if agg.n and not prefill:
            free = led.cap - led.used - agg.phase[-led.g % B]
            if free >= 0:
                admissible = False  # can the head of the queue start now?
                if waiting and len(admitted) < self.max_seqs:
                    rid = waiting[0]
                    n = sim.prompt[rid] + sim.generated[rid]
                    c0 = min(led.prefix, ((n - 1) // B) * B) if led.prefix_ready else 0
                    admissible = -(-(c0 + min(n - c0, self.budget)) // B) - c0 // B <= free
                if not admissible:
                    run = self._plan_run(now, horizon, free)
                    if run is not None and type(run) is not float:
                        return RUN, run
                    if not waiting or len(admitted) >= self.max_seqs:  # nothing to admit: one decode step
                        return self._decode_step(now, run)
        cap, G, n_dec, phase = led.cap, led.g, agg.n, agg.phase
        need = phase[-G % B] if n_dec else 0
        preempted = need > cap - led.used
        if preempted:
            while need > cap - led.used:
                self._preempt_last()
                need = phase[-G % B] if agg.n else 0
            n_dec = agg.n
        free = cap - led.used - need
        led.used += need
        budget = self.budget - n_dec
        n_seqs = tokens = n_dec
        if n_dec:  # KV bytes read and attention FLOPs of the decoders at step G (DecodeAggregates.terms, inline)
            s = agg.off_sum + n_dec * (G + 1)
            kv, attn = self.kf * s, self.af * s
            if self.w:
                sw = agg.lin_off + agg.lin_n * (G + 1) + (n_dec - agg.lin_n) * self.w
                kv += self.ks * sw
                attn += self.aw * sw
        else:
            kv, attn = 0.0, 0.0
        chunks = []
        for rid, (done, target) in prefill.items():  # sequences part way through their prefill
            if budget <= 0:
                break
            c = min(target - done, budget)
            held = -(-done // B)
            c = min(c, (held + free) * B - done)  # what the free blocks allow
            if c <= 0:
                break
            free -= -(-(done + c) // B) - held
            budget -= c  # these chunks count against max_num_batched_tokens too
            chunks.append((rid, c))
        if waiting and budget > 0 and not preempted:
            prompt, generated, chunked, max_seqs = sim.prompt, sim.generated, self.chunked, self.max_seqs
            while waiting and budget > 0 and len(admitted) < max_seqs and len(chunks) == len(prefill):
                rid = waiting[0]
                n = prompt[rid] + generated[rid]
                c0 = min(led.prefix, ((n - 1) // B) * B) if led.prefix_ready else 0  # reused prefix
                c = min(n - c0, budget) if chunked else n - c0
                if c > budget and (chunks or n_dec):  # chunked prefill off: the whole prompt in one step
                    break
                blocks = -(-(c0 + c) // B) - c0 // B
                if blocks > free:
                    break
                waiting.popleft()
                admitted[rid] = None
                prefill[rid] = [self._cached_for(rid, n) if led.prefix_ready else 0, n]
                if sim.admitted[rid] != sim.admitted[rid]:  # first admission (NaN until then)
                    sim.admitted[rid] = now
                free -= blocks
                budget -= c
                chunks.append((rid, c))
        if not chunks and not n_dec:
            if prefill:  # partial prefills stuck for KV: free the latest one and retry
                self._preempt_last()
                return self.plan(now, horizon)
            return IDLE, None
        if chunks:
            used = led.used
            kv_p = attn_p = 0.0
            kf, af, w = self.kf, self.af, self.w
            for rid, c in chunks:
                done = prefill[rid][0]
                end = done + c
                used += -(-end // B) - (-(-done // B))
                h = done + (c + 1) / 2.0  # System.seq_terms(c, done), inline (its kv_bytes(end): no window, no term)
                if w:
                    r = kf * end + self.ks * min(end, w)
                    a = af * (c * h) + self.aw * (c * min(h, w))
                else:
                    r = kf * end
                    a = af * (c * h)
                kv += r
                attn += a
                kv_p += r
                attn_p += a
                tokens += c
                n_seqs += 1
            led.used = used
            if n_dec and not self.mixed_batches:  # the prefill batch runs on its own, then the decode batch
                dur = self._step_time(n_seqs - n_dec, tokens - n_dec, kv_p, attn_p, False) + self._step_time(
                    n_dec, n_dec, kv - kv_p, attn - attn_p, True
                )
            else:
                dur = self.mixed(n_seqs, tokens, kv, attn)  # _step_time(..., False), inline
                if dur < self.eager_floor:
                    dur = self.eager_floor
                if self.cpu_seq and n_seqs > 1:
                    c = self.cpu_seq * (n_seqs - 1)
                    dur = (dur if dur >= c else c) if self.cpu_overlap else dur + c
        else:
            dur = self._step_time(n_seqs, tokens, kv, attn, True)
        if n_seqs > self.max_running:
            self.max_running = n_seqs
        self.pending = chunks
        if sim.check is not None:  # Sim.record, inline: the wall-clock limit and Stop (planner.sim.budget)
            sim.check()
        nw = len(waiting)
        sim.area += (nw + len(admitted)) * dur
        if nw > sim.peak_waiting:
            sim.peak_waiting = nw
        sim.timeline.append((now, self.idx, 1, dur, n_seqs, tokens, led.used / self.kv_total, nw))
        if n_dec:  # Sim.gaps, inline: every decoding sequence waits this step for its next token
            sim.gap_buf.append(dur)
            sim.gap_lens.append(1)
            sim.gap_counts.append(n_dec)
        if led.used > led.peak:
            led.peak = led.used
        return STEP, dur

    def _decode_step(self, now: float, t0: float | None):
        """plan() for one pure decode step where nothing is admitted and no block runs short (the
        general path's operations in the same order); t0: its time if _plan_run priced it."""
        led, agg, sim = self.ledger, self.agg, self.sim
        G, n = led.g, agg.n
        led.used += agg.phase[-G % self.B]
        if t0 is None:
            s = agg.off_sum + n * (G + 1)
            kv, attn = self.kf * s, self.af * s
            if self.w:
                sw = agg.lin_off + agg.lin_n * (G + 1) + (n - agg.lin_n) * self.w
                kv += self.ks * sw
                attn += self.aw * sw
            t0 = self._step_time(n, n, kv, attn, True)
        dur = t0
        if n > self.max_running:
            self.max_running = n
        self.pending = ()
        if sim.check is not None:
            sim.check()
        nw = len(self.waiting)
        sim.area += (nw + len(self.admitted)) * dur
        if nw > sim.peak_waiting:
            sim.peak_waiting = nw
        sim.timeline.append((now, self.idx, 1, dur, n, n, led.used / self.kv_total, nw))
        sim.gap_buf.append(dur)
        sim.gap_lens.append(1)
        sim.gap_counts.append(n)
        if led.used > led.peak:
            led.peak = led.used
        return STEP, dur

    def commit(self, now: float) -> None:
        led = self.ledger
        led.g += 1
        for rid, c in self.pending:
            st = led.prefill[rid]
            done = st[0] = st[0] + c
            if done == st[1]:  # the prefill's last chunk yields the next token
                sim = self.sim
                del led.prefill[rid]
                if led.prefix and not led.prefix_ready and st[1] > led.prefix:
                    led.prefix_ready = True  # its prefix blocks now stay cached (held once)
                    led.used += led.prefix // self.B
                g = sim.generated[rid] = sim.generated[rid] + 1
                if sim.first[rid] != sim.first[rid]:
                    sim.first[rid] = now
                if g >= sim.output[rid]:
                    led.used -= -(-st[1] // self.B) - (led.cached.pop(rid, 0) // self.B if led.cached else 0)
                    del self.admitted[rid]
                    sim.finished(rid, now)
                else:
                    self._join(rid, st[1])
        self.pending = None
        g, fin = led.g, self.fin
        if fin and fin[0][0] <= g:
            self._after_step(now)
        else:
            cross = self.cross
            if cross and cross[0][0] <= g:
                self._after_step(now)

    def _plan_run(self, now: float, horizon: float, free: int):
        """A run of >= 2 pure decode steps with an unchanged batch; else the time of its first step
        (a float) where it priced that, or None."""
        led, agg, B, sim = self.ledger, self.agg, self.B, self.sim
        g, n = led.g, agg.n
        k = RUN_CAP
        fin, off, prompt, output = self.fin, led.off, sim.prompt, sim.output
        while fin:  # the first valid key of the lazily-deleted heap of completions (fin_stale 0: all are)
            key, rid = fin[0]
            if not self.fin_stale or off.get(rid) == prompt[rid] + output[rid] - 1 - key:
                if key - g < k:
                    k = key - g
                break
            heapq.heappop(fin)
            self.fin_stale -= 1
        w = self.w
        if w:  # the first valid key of the lazily-deleted heap of window crossings
            cross = self.cross
            while cross:
                key, rid = cross[0]
                if off.get(rid) == w - 1 - key:
                    if key - g < k:
                        k = key - g
                    break
                heapq.heappop(cross)
        if k < 2:
            return None
        e = self.by_n.get(n)
        if e is None:
            e = self._decode_terms(n)
        p, pr, c, fn = e
        kf, af = self.kf, self.af
        s0 = agg.off_sum + n * (g + 1)  # sum of (t + 1) over the decoders at the run's first step
        kv0, attn0 = kf * s0, af * s0  # the decoders' terms at step g (as in plan())
        if w:
            ks, aw, ln = self.ks, self.aw, agg.lin_n
            sw0 = agg.lin_off + ln * (g + 1) + (n - ln) * w
            kv0 += ks * sw0
            attn0 += aw * sw0
        else:
            sw0 = ln = 0
        t0 = pr.time(kv0, attn0) if pr is not None else self.sys.step_time_agg(p, p, kv0, attn0)
        if c:
            t0 = (t0 if t0 >= c else c) if self.cpu_overlap else t0 + c
        if now + t0 >= horizon:
            return t0  # no run: one step of t0 (plan)
        if horizon != math.inf:  # min(k, ceil(x) + 1): k unless x < k - 1
            x = (horizon - now) / t0
            if x < k - 1:
                k = math.ceil(x) + 1
        free += agg.phase[-g % B]  # plan() took the first step's demand off
        if B == 1:
            k = min(k, free // n)
        elif n * -(-k // B) > free:  # blocks may run out: count the steps they last
            k = min(k, self._steps_affordable(g, n, free))
        if k < 2:
            return t0
        self.pending = now
        if k <= SHORT_RUN:  # step by step, stopped at the first step ending at or after the next arrival
            h = horizon - now if horizon != math.inf else math.inf
            if fn:  # the pricer's run loop with this batch's terms bound (DecodePricer.runner)
                return fn(k, s0, h, sw0, ln, t0)
            if pr is not None:
                if fn is False:  # KernelDecodePricer.run with t0, inline: its plain loop from the second step on
                    return [t0] if t0 >= h else pr._run_plain([t0], k - 1, s0, n, kf, h, c)
                return pr.run(k, s0, n, kf, af, h, c, self.cpu_overlap, (sw0, ln, ks, aw) if w else None, t0)
            return self._short_run(p, n, k, s0, h)
        key = (n, k, s0, sw0, ln) if w else (n, k, s0)  # the same run again (closed loops in step):
        cum = self.runs.get(key)  # its cached times (read-only: gap samples and the run keep them)
        if cum is None:
            s = np.arange(k, dtype=float)
            s *= n
            s += s0  # s0 + n j
            kv, attn = s * kf, s * af
            if w:
                sw = np.arange(k, dtype=float)
                sw *= ln
                sw += sw0
                kv += sw * ks
                attn += sw * aw
            cum = self._step_times(n, kv, attn).cumsum()
            if len(self.runs) < 256:
                self.runs[key] = cum
        if horizon != math.inf:
            k = 1 + int(np.searchsorted(cum[: k - 1], horizon - now, "left"))
            cum = cum[:k]
        return cum

    def _decode_terms(self, n: int) -> tuple:
        """_plan_run's terms of a decode batch of n: (padded size p, its folded pricer or None, the
        CPU term, the pricer's bound run loop: DecodePricer.runner; False: KernelDecodePricer's
        plain loop applies; None: neither)."""
        p = self.pad[n] if n <= self.gmax else n  # CUDA-graph padding
        pr = self.pricers.get(p, False)
        if pr is False:
            pr = self.pricers[p] = self.sys.decode_pricer(p)
        c = self.cpu_seq * (n - 1) if self.cpu_seq and n > 1 else 0.0
        fn: Any = None
        if type(pr) is DecodePricer:
            if self.w:
                fn = pr.runner(n, self.kf, self.af, c, self.cpu_overlap, self.ks, self.aw)
            else:
                fn = pr.runner(n, self.kf, self.af, c, self.cpu_overlap)
        elif type(pr) is KernelDecodePricer and not self.w and not self.cpu_overlap and pr.den is not None:
            fn = False
        e = self.by_n[n] = (p, pr, c, fn)
        return e

    def _short_run(self, p: int, n: int, k: int, s0: int, h: float) -> list[float]:
        """A short run priced one step at a time with the general step time (where the folded
        DecodePricer does not apply): the same step times and cumulative sums as the vectorised
        form (same operations, same order), stopped after the first step ending at or after h."""
        kf, af, w = self.kf, self.af, self.w
        c = self.cpu_seq * (n - 1) if self.cpu_seq and n > 1 else 0.0
        overlap = self.cpu_overlap
        if w:
            agg = self.agg
            ks, aw, ln = self.ks, self.aw, agg.lin_n
            sw0 = agg.lin_off + ln * (self.ledger.g + 1) + (n - ln) * w
        price = self.sys.step_time_agg
        cum = []
        acc = 0.0
        last = k - 1
        for j in range(k):
            sj = s0 + n * j
            kv, attn = kf * sj, af * sj
            if w:
                swj = sw0 + ln * j
                kv = kv + ks * swj
                attn = attn + aw * swj
            t = price(p, p, kv, attn)
            if c:
                t = (t if t >= c else c) if overlap else t + c
            acc = acc + t
            cum.append(acc)
            if acc >= h and j < last:
                break
        return cum

    def commit_run(self, k: int, cum, now: float) -> None:
        led = self.ledger
        start, n, g, B = self.pending, self.agg.n, led.g, self.B
        q, r = divmod(k, B)  # new blocks over k steps: n per B steps, plus the partial cycle
        if r:  # _cycle_sum(g, r), inline
            ph, i0 = self.agg.phase, -g % B
            lo = i0 - r + 1
            q = q * n + (sum(ph[lo : i0 + 1]) if lo >= 0 else sum(ph[: i0 + 1]) + sum(ph[B + lo :]))
        else:
            q *= n
        led.used += q
        if led.used > led.peak:
            led.peak = led.used
        sim, nw, dur = self.sim, len(self.waiting), float(cum[k - 1])  # Sim.record, inline
        if sim.check is not None:
            sim.check()
        sim.area += (nw + len(self.admitted)) * dur
        if nw > sim.peak_waiting:
            sim.peak_waiting = nw
        sim.timeline.append((start, self.idx, k, dur, n, n * k, led.used / self.kv_total, nw))
        if type(cum) is list:  # Sim.gaps, inline: the run's step times, taken apart at the end
            sim.gap_buf.extend(cum if k == len(cum) else cum[:k])
            if len(sim.gap_buf) >= GAP_BUF:
                sim.gap_flush()
        else:
            sim.gap_array(cum[:k])
        sim.gap_lens.append(k)
        sim.gap_counts.append(n)
        g = led.g = led.g + k
        self.pending = None
        if (self.fin and self.fin[0][0] <= g) or (self.cross and self.cross[0][0] <= g):
            self._after_step(now)

    def decode_runs(self, rep: "Replica", now: float, horizon: float):
        """Replica.resume's loop for this engine: plan, the step's or run's end (the arrivals due
        before it, _arrivals_first; its event pushed where another kind of event comes first) and its
        commit, then plan again, with the replica's state at hand.  While only decoders run and
        nothing waits, plan()'s decode path inline (_plan_run's, a short run with a folded pricer
        priced here; else _decode_step's) and commit or commit_run's, then _after_step's; the head of
        the queue joining the decoders (with its whole prompt, or a chunk of the rest of the budget) and
        the steps of the one sequence in prefill (its chunks, its last chunk with the head of the
        queue, its preemption and the decode step after it) planned, priced and committed here
        too; otherwise plan() itself, its steps handled as resume does: the same operations in the
        same order.
        Returns None where the step's or run's event was pushed (resume returns), else plan()'s
        answer that is not a step (a run resume handles, WAIT or IDLE), planned at sim.now."""
        st = self.dr_state  # the objects and constants below, gathered at the first call
        if st is None:
            sim, led, agg = self.sim, self.ledger, self.agg
            arr = sim.arr_list
            st = self.dr_state = (
                *(sim, led, agg, self.B, sim.queue, self.waiting, led.prefill, self.admitted, agg.phase),
                *(
                    sim.timeline,
                    sim.gap_buf,
                    sim.gap_lens,
                    sim.gap_counts,
                    self.fin,
                    self.cross,
                    led.off,
                    sim.prompt,
                    sim.output,
                ),
                *(led.cap, self.idx, self.kv_total, self.w, self.kf, self.af, self.by_n, sim.generated, led.cached),
                *(arr, len(arr) if arr is not None else 0),
                *(
                    sim.check,
                    self.ks,
                    self.aw,
                    self.cpu_overlap,
                    self.max_seqs,
                    self.chunked,
                    self.budget,
                    self.mixed_batches,
                ),
            )
        (sim, led, agg, B, queue, waiting, prefill, admitted, phase, timeline, gap_buf, gap_lens, gap_counts, fin, cross, off,
         prompt, output, cap, idx, kv_total, w, kf, af, by_n, generated, cached, arr, n_arr,
         check, ks, aw, overlap, max_seqs, chunked, budget0, mixed_batches) = st  # fmt: skip
        inf = math.inf
        while True:
            while not waiting and not prefill and agg.n:
                g, n = led.g, agg.n
                need = phase[-g % B]
                free = cap - led.used - need
                if free < 0:
                    break
                # _plan_run, inline where a folded pricer prices the batch and the run is short
                k = RUN_CAP
                while fin:  # the first valid key of the lazily-deleted heap of completions
                    key, rid = fin[0]
                    if not self.fin_stale or off.get(rid) == prompt[rid] + output[rid] - 1 - key:
                        if key - g < k:
                            k = key - g
                        break
                    heapq.heappop(fin)
                    self.fin_stale -= 1
                if w:  # and of window crossings
                    while cross:
                        key, rid = cross[0]
                        if off.get(rid) == w - 1 - key:
                            if key - g < k:
                                k = key - g
                            break
                        heapq.heappop(cross)
                e = by_n.get(n)
                if e is None or e[1] is None:
                    run = self._plan_run(now, horizon, free)  # (its look-ups find the same first keys)
                else:
                    p, pr, c, fn = e
                    s0 = agg.off_sum + n * (g + 1)  # the decoders' terms at step g
                    kv0, attn0 = kf * s0, af * s0
                    if w:
                        ln = agg.lin_n  # (none below the window: the same integer, n * w)
                        sw0 = agg.lin_off + ln * (g + 1) + (n - ln) * w if ln else agg.lin_off + n * w
                        kv0 += ks * sw0
                        attn0 += aw * sw0
                    else:
                        sw0 = ln = 0
                    run = pr.time(kv0, attn0)  # the first step (_step_time's for one step)
                    if c:
                        run = (run if run >= c else c) if overlap else run + c
                    if k >= 2 and now + run < horizon:
                        t0 = run
                        if horizon != inf:  # min(k, ceil(x) + 1): k unless x < k - 1
                            x = (horizon - now) / t0
                            if x < k - 1:
                                k = math.ceil(x) + 1
                        if B == 1:
                            k = min(k, (free + need) // n)
                        elif n * -(-k // B) > free + need:  # blocks may run out: count the steps they last
                            k = min(k, self._steps_affordable(g, n, free + need))
                        if k >= 2:
                            if k > SHORT_RUN:
                                run = self._plan_run(now, horizon, free)
                            else:
                                h = horizon - now if horizon != inf else inf
                                if fn:
                                    run = fn(k, s0, h, sw0, ln, t0)
                                elif fn is False:
                                    run = [t0] if t0 >= h else pr._run_plain([t0], k - 1, s0, n, kf, h, c)
                                else:
                                    run = self._plan_run(now, horizon, free)
                if run is None or type(run) is float:  # one decode step (_decode_step: nothing waits)
                    led.used += need
                    if run is None:
                        s = agg.off_sum + n * (g + 1)
                        kv, attn = kf * s, af * s
                        if w:
                            sw = agg.lin_off + agg.lin_n * (g + 1) + (n - agg.lin_n) * w
                            kv += ks * sw
                            attn += aw * sw
                        run = self._step_time(n, n, kv, attn, True)
                    dur = run
                    if n > self.max_running:
                        self.max_running = n
                    if check is not None:
                        check()
                    sim.area += len(admitted) * dur  # (nothing waits)
                    timeline.append((now, idx, 1, dur, n, n, led.used / kv_total, 0))
                    gap_buf.append(dur)
                    gap_lens.append(1)
                    gap_counts.append(n)
                    if led.used > led.peak:
                        led.peak = led.used
                    rep.busy += dur  # resume's STEP
                    t = now + dur
                    if queue and t >= queue[0][0]:
                        ev = next(sim.eid)
                        if not rep._arrivals_first(t, ev):
                            self.pending = ()
                            heapq.heappush(queue, (t, NORMAL, ev, rep._stepped, None))
                            return None
                        if arr is not None:  # arrivals came: resume's horizon (the next arrival)
                            horizon = arr[sim.next_arrival] if sim.next_arrival < n_arr else inf
                    sim.now = now = t  # commit(t), inline (no chunks)
                    g = led.g = g + 1
                    self.pending = None
                else:  # a run: resume's RUN and commit_run
                    k = len(run)
                    floats = type(run) is list
                    dur = run[-1] if floats else float(run[-1])
                    t = now + dur
                    if queue and t >= queue[0][0]:
                        rep.last_start = now + (run[-2] if floats else float(run[-2])) if k > 1 else -inf
                        rep.run = (now, run)
                        rep.run_id += 1
                        ev = next(sim.eid)
                        if not rep._arrivals_first(t, ev):
                            self.pending = now
                            heapq.heappush(queue, (t, NORMAL, ev, rep._ran, rep.run_id))
                            return None
                        rep.last_start = -inf  # _ran and _end_run, inline (its event came next)
                        rep.run_id += 1
                        if arr is not None:  # arrivals came: resume's horizon (the next arrival)
                            horizon = arr[sim.next_arrival] if sim.next_arrival < n_arr else inf
                    sim.now = t
                    rep.busy += dur
                    q, r = k // B, k % B  # new blocks over k steps: n per B steps, plus the partial cycle
                    if r:
                        i0 = -g % B
                        lo = i0 - r + 1
                        q = q * n + (
                            sum(phase[lo : i0 + 1]) if lo >= 0 else sum(phase[: i0 + 1]) + sum(phase[B + lo :])
                        )
                    else:
                        q *= n
                    used = led.used = led.used + q
                    if used > led.peak:
                        led.peak = used
                    if check is not None:
                        check()
                    nw = len(waiting)  # (arrivals may have come during its last step)
                    sim.area += (nw + len(admitted)) * dur
                    if nw > sim.peak_waiting:
                        sim.peak_waiting = nw
                    timeline.append((now, idx, k, dur, n, n * k, used / kv_total, nw))
                    if floats:
                        gap_buf.extend(run)
                        if len(gap_buf) >= GAP_BUF:
                            sim.gap_flush()
                    else:
                        sim.gap_array(run[:k])
                    gap_lens.append(k)
                    gap_counts.append(n)
                    g = led.g = g + k
                    self.pending = None
                    now = t
                if cross and cross[0][0] <= g:
                    self._after_step(now)
                elif fin and fin[0][0] <= g:  # _after_step's completions, inline (no crossing due)
                    while fin and fin[0][0] <= g:
                        key, rid = heapq.heappop(fin)
                        if not self.fin_stale or off.get(rid) == prompt[rid] + output[rid] - 1 - key:
                            o = off.pop(rid)
                            t = o + g
                            agg.n -= 1
                            agg.off_sum -= o
                            phase[o % B] -= 1
                            if w and t + 1 < w:
                                agg.lin_n -= 1
                                agg.lin_off -= o
                            generated[rid] = t - prompt[rid] + 1
                            led.used -= -(-t // B) - (cached.pop(rid, 0) // B if cached else 0)
                            del admitted[rid]
                            sim.finish[rid] = now  # Sim.finished, inline (this replica's request)
                            rep.outstanding -= 1
                            if sim.closed:
                                sim._ended(now)
                            else:
                                sim.ended += 1
                                if now > sim.end_time:
                                    sim.end_time = now
                        else:
                            self.fin_stale -= 1
            if (
                waiting
                and agg.n
                and not prefill
                and mixed_batches
                and not led.prefix_ready
                and len(admitted) < max_seqs
            ):  # the head of the queue may join the decoders
                rid = waiting[0]
                n = prompt[rid] + generated[rid]
                g, n_dec = led.g, agg.n
                need = phase[-g % B]
                c = budget0 - n_dec
                if -(-(n if n < budget0 else budget0) // B) > cap - led.used - need:  # not admissible
                    c = 0
                elif len(waiting) == 1 and n <= c:  # the one waiting request with its whole prompt
                    c = n
                elif n < c or not chunked:  # (plan() admits more, or the whole prompt or nothing)
                    c = 0
                if c > 0:
                    # the head joins with its whole prompt or its first c tokens (the rest of the budget): the
                    # general path's step, its end and commit(), inline: the same operations in the same order
                    led.used += need
                    s = agg.off_sum + n_dec * (g + 1)  # the decoders' terms at step g
                    kv, attn = kf * s, af * s
                    if w:
                        sw = agg.lin_off + agg.lin_n * (g + 1) + (n_dec - agg.lin_n) * w
                        kv += ks * sw
                        attn += aw * sw
                    waiting.popleft()
                    admitted[rid] = None  # (its prefill entry, [done, n], is set where the step ends)
                    if sim.admitted[rid] != sim.admitted[rid]:  # first admission (NaN until then)
                        sim.admitted[rid] = now
                    led.used += -(-c // B)  # the chunk's blocks; its terms (seq_terms(c, 0), inline)
                    h = 0 + (c + 1) / 2.0
                    if w:
                        kv += kf * c + ks * (w if w < c else c)  # (min(c, w), min(h, w))
                        attn += af * (c * h) + aw * (c * (w if w < h else h))
                    else:
                        kv += kf * c
                        attn += af * (c * h)
                    n_seqs, tokens = n_dec + 1, n_dec + c
                    dur = self.mixed(n_seqs, tokens, kv, attn)  # _step_time(..., False), inline
                    if dur < self.eager_floor:
                        dur = self.eager_floor
                    if self.cpu_seq:  # (n_seqs > 1)
                        c1 = self.cpu_seq * n_dec
                        dur = (dur if dur >= c1 else c1) if overlap else dur + c1
                    if n_seqs > self.max_running:
                        self.max_running = n_seqs
                    if check is not None:
                        check()
                    nw = len(waiting)
                    sim.area += (nw + len(admitted)) * dur
                    if nw > sim.peak_waiting:
                        sim.peak_waiting = nw
                    used = led.used
                    timeline.append((now, idx, 1, dur, n_seqs, tokens, used / kv_total, nw))
                    gap_buf.append(dur)
                    gap_lens.append(1)
                    gap_counts.append(n_dec)
                    if used > led.peak:
                        led.peak = used
                    rep.busy += dur  # resume's STEP: its end, then its commit
                    t = now + dur
                    if queue and t >= queue[0][0]:
                        ev = next(sim.eid)
                        if not rep._arrivals_first(t, ev):
                            prefill[rid] = [0, n]
                            self.pending = [(rid, c)]
                            heapq.heappush(queue, (t, NORMAL, ev, rep._stepped, None))
                            return None
                        if arr is not None:  # arrivals came: resume's horizon (the next arrival)
                            horizon = arr[sim.next_arrival] if sim.next_arrival < n_arr else inf
                    sim.now = now = t
                    g = led.g = g + 1  # commit(t), inline
                    if c < n:  # the prefill goes on
                        prefill[rid] = [c, n]
                        if fin and fin[0][0] <= g or cross and cross[0][0] <= g:
                            self._after_step(now)
                        continue
                    # its only chunk yields the next token (its prefill entry would go now)
                    if led.prefix and n > led.prefix:  # (not prefix_ready)
                        led.prefix_ready = True  # its prefix blocks now stay cached (held once)
                        led.used += led.prefix // B
                    o = generated[rid] = generated[rid] + 1
                    if sim.first[rid] != sim.first[rid]:
                        sim.first[rid] = now
                    if o >= output[rid]:
                        led.used -= -(-n // B) - (cached.pop(rid, 0) // B if cached else 0)
                        del admitted[rid]
                        sim.finished(rid, now)
                    elif self.checking is not None:  # (_join may switch the step pricer first)
                        self._join(rid, n)
                    else:  # _join(rid, n), inline
                        o = n - g
                        off[rid] = o
                        agg.n += 1
                        agg.off_sum += o
                        phase[o % B] += 1
                        if w and n + 1 < w:
                            agg.lin_n += 1
                            agg.lin_off += o
                            heapq.heappush(fin, (prompt[rid] + output[rid] - 1 - o, rid))
                            heapq.heappush(cross, (w - 1 - o, rid))
                        else:
                            heapq.heappush(fin, (prompt[rid] + output[rid] - 1 - o, rid))
                    if fin and fin[0][0] <= g or cross and cross[0][0] <= g:
                        self._after_step(now)
                    continue
            if len(prefill) == 1 and mixed_batches:
                # plan()'s block for the one sequence in prefill (its chunk taking the rest of the token
                # budget or what the free blocks allow; its last chunk, alone or with the head of the
                # queue), the step's end and commit() (inline where the prefill goes on), in this loop:
                # the same operations in the same order, the prefill's state in locals (nothing else
                # changes it meanwhile)
                ((rid, pst),) = prefill.items()
                done, target = pst
                mixed = self.mixed
                floor, cpu_seq = self.eager_floor, self.cpu_seq
                ended = False
                while True:
                    n_dec, g = agg.n, led.g
                    need = phase[-g % B] if n_dec else 0
                    free = cap - led.used - need
                    c = budget0 - n_dec  # the rest of the token budget
                    if free < 0:
                        if next(reversed(admitted)) != rid:
                            break
                        # plan()'s preemption of the one sequence in prefill (the first victim: it frees its
                        # KV and re-queues at the front), then its decode step, its end and commit, inline
                        t = prefill.pop(rid)[0]
                        led.used -= -(-t // B) - (cached.pop(rid, 0) // B if cached else 0)
                        del admitted[rid]
                        waiting.appendleft(rid)
                        sim.preemptions[rid] += 1
                        need = phase[-g % B] if agg.n else 0
                        while need > cap - led.used:
                            self._preempt_last()
                            need = phase[-g % B] if agg.n else 0
                        if not agg.n:
                            return IDLE, None
                        # _decode_after_preemption(now, need), inline: the pure decode step after it
                        led.used += need
                        n = agg.n
                        s = agg.off_sum + n * (g + 1)  # the decoders' terms at step g
                        kv, attn = kf * s, af * s
                        if w:
                            sw = agg.lin_off + agg.lin_n * (g + 1) + (n - agg.lin_n) * w
                            kv += ks * sw
                            attn += aw * sw
                        e = by_n.get(n)
                        if e is not None and e[1] is not None:  # _step_time(n, n, kv, attn, True): the same pricer
                            dur = e[1].time(kv, attn)
                            c1 = e[2]  # (cpu_seq x (n - 1) where n > 1, else 0.0)
                            if c1:
                                dur = (dur if dur >= c1 else c1) if overlap else dur + c1
                        else:
                            dur = self._step_time(n, n, kv, attn, True)
                        if n > self.max_running:
                            self.max_running = n
                        self.pending = ()
                        if check is not None:
                            check()
                        nw = len(waiting)
                        sim.area += (nw + len(admitted)) * dur
                        if nw > sim.peak_waiting:
                            sim.peak_waiting = nw
                        used = led.used
                        timeline.append((now, idx, 1, dur, n, n, used / kv_total, nw))
                        gap_buf.append(dur)
                        gap_lens.append(1)
                        gap_counts.append(n)
                        if used > led.peak:
                            led.peak = used
                        rep.busy += dur  # resume's STEP: its end, then its commit
                        t = now + dur
                        if queue and t >= queue[0][0]:
                            ev = next(sim.eid)
                            if not rep._arrivals_first(t, ev):
                                heapq.heappush(queue, (t, NORMAL, ev, rep._stepped, None))
                                return None
                            if arr is not None:  # arrivals came: resume's horizon (the next arrival)
                                horizon = arr[sim.next_arrival] if sim.next_arrival < n_arr else inf
                        sim.now = now = t
                        g = led.g = g + 1  # commit(t), inline (no chunks)
                        self.pending = None
                        if fin and fin[0][0] <= g or cross and cross[0][0] <= g:
                            self._after_step(now)
                        ended = True
                        break
                    if c <= 0:
                        break
                    held = -(-done // B)
                    room = (held + free) * B - done  # what the free blocks allow
                    cl = target - done
                    rid2 = -1
                    if cl > room or cl > c:  # not its last chunk
                        if room < c:  # the free blocks cut it (else it takes the rest of the budget)
                            if room <= 0:
                                break
                            c = room
                        last = False
                    else:  # its last chunk whole, then the head of the queue where plan() admits that one
                        if cl < c and waiting and len(admitted) < max_seqs:
                            if led.prefix_ready:
                                break
                            free -= -(-(done + cl) // B) - held
                            b2 = c - cl  # > 0
                            r2 = waiting[0]
                            n = prompt[r2] + generated[r2]
                            c2 = n if n < b2 else b2
                            if not chunked and c2 < n:  # chunked prefill off: the whole prompt or nothing
                                pass
                            elif -(-c2 // B) <= free:
                                if b2 - c2 > 0 and len(waiting) > 1 and len(admitted) + 1 < max_seqs:
                                    break  # a second round would follow: the general path
                                rid2 = r2
                        c = cl
                        last = True
                    used = led.used = led.used + need
                    if n_dec:  # the decoders' terms at step g
                        s = agg.off_sum + n_dec * (g + 1)
                        kv, attn = kf * s, af * s
                        if w:
                            sw = agg.lin_off + agg.lin_n * (g + 1) + (n_dec - agg.lin_n) * w
                            kv += ks * sw
                            attn += aw * sw
                    else:
                        kv, attn = 0.0, 0.0
                    end = done + c
                    used += -(-end // B) - held
                    h = done + (c + 1) / 2.0  # seq_terms(c, done), inline
                    if w:
                        kv += kf * end + ks * min(end, w)
                        attn += af * (c * h) + aw * (c * min(h, w))
                    else:
                        kv += kf * end
                        attn += af * (c * h)
                    n_seqs, tokens = n_dec + 1, n_dec + c
                    if rid2 >= 0:  # the head joins with its first c2 tokens
                        waiting.popleft()
                        admitted[rid2] = None
                        prefill[rid2] = [0, n]
                        if sim.admitted[rid2] != sim.admitted[rid2]:  # first admission (NaN until then)
                            sim.admitted[rid2] = now
                        used += -(-c2 // B)
                        h = 0 + (c2 + 1) / 2.0  # seq_terms(c2, 0), inline
                        if w:
                            kv += kf * c2 + ks * min(c2, w)
                            attn += af * (c2 * h) + aw * (c2 * min(h, w))
                        else:
                            kv += kf * c2
                            attn += af * (c2 * h)
                        tokens += c2
                        n_seqs += 1
                    led.used = used
                    dur = mixed(n_seqs, tokens, kv, attn)  # _step_time(..., False), inline
                    if dur < floor:
                        dur = floor
                    if cpu_seq and n_seqs > 1:
                        c1 = cpu_seq * (n_seqs - 1)
                        dur = (dur if dur >= c1 else c1) if overlap else dur + c1
                    if n_seqs > self.max_running:
                        self.max_running = n_seqs
                    if check is not None:
                        check()
                    nw = len(waiting)
                    sim.area += (nw + len(admitted)) * dur
                    if nw > sim.peak_waiting:
                        sim.peak_waiting = nw
                    timeline.append((now, idx, 1, dur, n_seqs, tokens, used / kv_total, nw))
                    if n_dec:
                        gap_buf.append(dur)
                        gap_lens.append(1)
                        gap_counts.append(n_dec)
                    if used > led.peak:
                        led.peak = used
                    rep.busy += dur  # resume's STEP: its end, then its commit
                    t = now + dur
                    if queue and t >= queue[0][0]:
                        ev = next(sim.eid)
                        if not rep._arrivals_first(t, ev):
                            self.pending = [(rid, c)] if rid2 < 0 else [(rid, c), (rid2, c2)]
                            heapq.heappush(queue, (t, NORMAL, ev, rep._stepped, None))
                            return None
                        if arr is not None:  # arrivals came: resume's horizon (the next arrival)
                            horizon = arr[sim.next_arrival] if sim.next_arrival < n_arr else inf
                    sim.now = now = t
                    if last:
                        ended = True
                        if rid2 >= 0 and c2 == n:  # commit(t) itself: the head's whole prompt ends too
                            self.pending = [(rid, c), (rid2, c2)]
                            self.commit(t)
                            break
                        # commit(t), inline: the prefill ends (its last chunk yields the next token); the
                        # head's first chunk (if any) is not its last
                        g = led.g = g + 1
                        del prefill[rid]
                        if led.prefix and not led.prefix_ready and target > led.prefix:
                            led.prefix_ready = True  # its prefix blocks now stay cached (held once)
                            led.used += led.prefix // B
                        o = generated[rid] = generated[rid] + 1
                        if sim.first[rid] != sim.first[rid]:
                            sim.first[rid] = now
                        if o >= output[rid]:
                            led.used -= -(-target // B) - (cached.pop(rid, 0) // B if cached else 0)
                            del admitted[rid]
                            sim.finished(rid, now)
                        elif self.checking is not None:  # (_join may switch the step pricer first)
                            self._join(rid, target)
                        else:  # _join(rid, target), inline
                            o = target - g
                            off[rid] = o
                            agg.n += 1
                            agg.off_sum += o
                            phase[o % B] += 1
                            if w and target + 1 < w:
                                agg.lin_n += 1
                                agg.lin_off += o
                                heapq.heappush(fin, (prompt[rid] + output[rid] - 1 - o, rid))
                                heapq.heappush(cross, (w - 1 - o, rid))
                            else:
                                heapq.heappush(fin, (prompt[rid] + output[rid] - 1 - o, rid))
                        if rid2 >= 0:
                            prefill[rid2][0] = c2
                    else:
                        g = led.g = g + 1  # commit(t), inline (the chunk is not the prefill's last)
                        done = pst[0] = end
                    if cross and cross[0][0] <= g:
                        self._after_step(now)
                    elif fin and fin[0][0] <= g:  # _after_step's completions, inline (no crossing due)
                        while fin and fin[0][0] <= g:
                            key, r3 = heapq.heappop(fin)
                            if not self.fin_stale or off.get(r3) == prompt[r3] + output[r3] - 1 - key:
                                o = off.pop(r3)
                                t = o + g
                                agg.n -= 1
                                agg.off_sum -= o
                                phase[o % B] -= 1
                                if w and t + 1 < w:
                                    agg.lin_n -= 1
                                    agg.lin_off -= o
                                generated[r3] = t - prompt[r3] + 1
                                led.used -= -(-t // B) - (cached.pop(r3, 0) // B if cached else 0)
                                del admitted[r3]
                                sim.finish[r3] = now  # Sim.finished, inline (this replica's request)
                                rep.outstanding -= 1
                                if sim.closed:
                                    sim._ended(now)
                                else:
                                    sim.ended += 1
                                    if now > sim.end_time:
                                        sim.end_time = now
                            else:
                                self.fin_stale -= 1
                    if last:
                        break
                if ended:  # plan the next step from the top
                    continue
            kind, val = self.plan(now, horizon)
            if kind != STEP:
                return kind, val
            rep.busy += val  # resume's STEP: its end, then its commit
            t = now + val
            if queue and t >= queue[0][0]:
                ev = next(sim.eid)
                if not rep._arrivals_first(t, ev):
                    heapq.heappush(queue, (t, NORMAL, ev, rep._stepped, None))
                    return None
                if arr is not None:  # arrivals came: resume's horizon (the next arrival)
                    horizon = arr[sim.next_arrival] if sim.next_arrival < n_arr else inf
            sim.now = now = t
            self.commit(t)

    def _steps_affordable(self, g: int, n: int, free: int) -> int:
        """How many decode steps from step g the free blocks last: the largest k with
        sum(phase[(-(g + j)) % B] for j < k) <= free (every B steps need n blocks)."""
        B, ph = self.B, self.agg.phase
        cycles, rem = divmod(free, n)
        k, need = cycles * B, 0
        j = -g % B  # phase index of step g (cycles of B steps come back to it)
        while True:
            need += ph[j]
            if need > rem:
                return k
            k += 1
            j = j - 1 if j else B - 1

    def _cycle_sum(self, g: int, r: int) -> int:
        """sum(phase[(-(g + j)) % B] for j in range(r)), r <= B: blocks due in the r steps from step g
        (the phase indices fall by one per step, wrapping around)."""
        ph, i0 = self.agg.phase, -g % self.B
        lo = i0 - r + 1
        if lo >= 0:
            return sum(ph[lo : i0 + 1])
        return sum(ph[: i0 + 1]) + sum(ph[self.B + lo :])

    def kv_peak_fraction(self) -> float:
        return self.ledger.peak / self.kv_total if self.kv_total else 0.0


class Batch:
    """Static batching: wait for `size` requests or `timeout` after the first, run the batch to its
    longest member (finished members stay in the batch as padding). Serial is size 1."""

    idx: int  # set by its Replica (sim.Engine)

    def __init__(self, sim: "Sim", sys: System, size: int, timeout: float, budget: int):
        self.sim, self.sys, self.size, self.timeout, self.budget = sim, sys, size, timeout, budget
        self.cap = sys.memory.kv_capacity_bytes()
        self.waiting: deque[int] = deque()
        self.running = 0
        self.peak = 0.0

    def reject_reason(self, p: int, o: int) -> str | None:
        if self.sys.kv_bytes(p + o) > self.cap:
            return f"prompt + output = {p + o} tokens needs more KV than the whole cache"
        return None

    def enqueue(self, rid: int) -> None:
        self.waiting.append(rid)

    @property
    def in_system(self) -> int:
        return len(self.waiting) + self.running

    def plan(self, now: float, horizon: float):
        sim, w = self.sim, self.waiting
        if not w:
            return IDLE, None
        due = sim.arrival[w[0]] + self.timeout
        if len(w) < self.size and now < due:
            return WAIT, due - now
        cand = list(itertools.islice(w, self.size))
        p = np.array([sim.prompt[r] for r in cand], dtype=float)
        o = np.maximum.accumulate(np.array([sim.output[r] for r in cand], dtype=float))
        sys = self.sys

        def fits(m: int) -> bool:  # the first m, each padded to the longest output among them
            end = p[:m] + o[m - 1]
            kv = sys.kv_full_per_token * end.sum()
            if sys.window:
                kv += sys.kv_swa_per_token * np.minimum(end, sys.window).sum()
            return m == 0 or kv <= self.cap

        members = [w.popleft() for _ in range(max(1, largest(fits, 0, len(cand))))]
        return STEP, self._start(members, now)

    def _start(self, members: list[int], now: float) -> float:
        sim, sys = self.sim, self.sys
        for rid in members:
            sim.admit(rid, now)
        lens = [sim.prompt[r] + sim.generated[r] for r in members]
        outs = [sim.output[r] for r in members]
        n = len(members)
        done, t, steps = [0] * n, 0.0, 0
        firsts = [0.0] * n
        while True:  # prefill, chunked under the token budget shared by the sequences still in prefill
            active = [i for i in range(n) if done[i] < lens[i]]
            if not active:
                break
            per = max(1, self.budget // len(active))
            step = [(min(lens[i] - done[i], per), done[i]) for i in active]
            t += sys.step_time(step)
            steps += 1
            for i, (c, _) in zip(active, step):
                done[i] += c
                if done[i] == lens[i]:
                    firsts[i] = t
        k = max(outs) - 1
        cum = np.zeros(0)
        if k > 0:
            j = np.arange(1, k + 1, dtype=float)
            s = sum(lens) + n * j
            kv, attn = sys.kv_full_per_token * s, sys.attn_full_coef * s
            if sys.window:
                sw = np.minimum(np.add.outer(np.asarray(lens, dtype=float), j), sys.window).sum(axis=0)
                kv = kv + sys.kv_swa_per_token * sw
                attn = attn + sys.attn_swa_coef * sw
            cum = t + np.cumsum(sys.step_times_vec(n, n, kv, attn))
        total = float(cum[-1]) if k > 0 else t
        for i, rid in enumerate(members):
            if sim.first[rid] != sim.first[rid]:
                sim.first[rid] = now + firsts[i]
            end = now + (firsts[i] if outs[i] == 1 else float(cum[outs[i] - 2]))
            sim.generated[rid] = outs[i]
            sim.schedule(end - now, sim.batch_finished, (rid, end))
        kv_end = sum(sys.kv_bytes(x + k + 1) for x in lens) / self.cap
        self.peak = max(self.peak, kv_end)
        self.running = n
        sim.record(self.idx, now, steps + k, total, n, sum(lens) + n * k, kv_end, len(self.waiting), self.in_system)
        if k > 0:  # decode steps of the static batch (members that finished early counted too)
            sim.gaps(cum, len(cum), t, n)
        return total

    def commit(self, now: float) -> None:
        self.running = 0

    def commit_run(self, k: int, cum, now: float) -> None:
        raise AssertionError("static batching plans single steps, never a RUN")

    def kv_peak_fraction(self) -> float:
        return self.peak


# --------------------------------------------------------------------------- replicas and the run


class Replica:
    """One engine instance driven by the event loop: plan a step (or a run of decode steps), wait
    for it, commit it, plan again; idle until a request arrives; a request arriving during a run
    whose arrival was not known when it was planned interrupts it at the step in flight."""

    def __init__(self, sim: "Sim", idx: int, engine: Engine):
        self.sim, self.idx, self.engine = sim, idx, engine
        engine.idx = idx
        self.wait = 0  # > 0 while idle or waiting: the id of that wait
        self.woken = False  # the wait's wake-up is already scheduled
        self.cond = False  # the wait is WAIT (a wake-up or a timeout), not IDLE (a wake-up)
        self.fired = False  # WAIT: its wake-up or timeout fired (the resume is scheduled)
        self.last_start = -math.inf  # start of the last step of the run in flight (interrupt before it)
        self.run: Any = None  # (start, cum) of the run in flight
        self.run_id = 0  # the run's completion is stale when the run was interrupted
        self.outstanding = 0
        self.busy = 0.0
        # the engine's enqueue (this module's engines': appending to their queue)
        self.engine_enqueue = engine.waiting.append if type(engine) in (Continuous, Batch) else engine.enqueue
        sim.schedule(0, self.resume, None, URGENT)  # as a simpy process starts

    def enqueue(self, rid: int) -> None:
        self.outstanding += 1
        self.engine_enqueue(rid)
        if self.wait:
            if not self.woken:
                self.woken = True
                self.sim.schedule(0, self._woken, self.wait)
        elif self.sim.now < self.last_start:
            self.last_start = -math.inf
            self.sim.schedule(0, self._interrupted, self.run_id, URGENT)

    def resume(self, _arg=None) -> None:
        """Plan the next step or run and schedule its end.  When that end comes before every
        other scheduled event (a later push at the same time would come after them), the event
        loop would pop it next: it is handled here at once, as the loop would (same time, same
        order), without the round trip through the heap."""
        sim = self.sim
        queue, engine, arr = sim.queue, self.engine, sim.arr_list
        n_arr = len(arr) if arr is not None else 0
        cont = engine if type(engine) is Continuous else None  # its steps and decode runs: decode_runs
        while True:
            now = sim.now
            i = sim.next_arrival  # the next arrival (Sim.horizon, inline)
            horizon = arr[i] if i < n_arr else math.inf
            if cont is not None:
                r = cont.decode_runs(self, now, horizon)  # (it may commit steps and runs first)
                if r is None:  # the step's or run's event is pushed
                    return
                kind, val = r
                now = sim.now
            else:
                kind, val = engine.plan(now, horizon)
            if kind == STEP:
                self.busy += val
                t = now + val
                if queue and t >= queue[0][0]:
                    e = next(sim.eid)
                    if not self._arrivals_first(t, e):
                        heapq.heappush(queue, (t, NORMAL, e, self._stepped, None))
                        return
                sim.now = t  # _stepped, inline
                engine.commit(t)
                continue
            if kind == RUN:
                k = len(val)
                t = now + float(val[-1])
                if queue and t >= queue[0][0]:
                    self.last_start = now + float(val[-2]) if k > 1 else -math.inf
                    self.run = (now, val)
                    self.run_id += 1
                    e = next(sim.eid)
                    if not self._arrivals_first(t, e):
                        heapq.heappush(queue, (t, NORMAL, e, self._ran, self.run_id))
                        return
                    self.last_start = -math.inf  # _ran and _end_run, inline (its event came next)
                    self.run_id += 1
                sim.now = t  # _ran and _end_run, inline (nothing can interrupt it)
                self.busy += float(val[k - 1])
                engine.commit_run(k, val, t)
                continue
            break
        sim.wait_id += 1
        self.wait, self.woken, self.fired, self.cond = sim.wait_id, False, False, kind == WAIT
        if kind == WAIT:
            sim.schedule(val, self._waited, self.wait)

    def _arrivals_first(self, t: float, e: int) -> bool:
        """The event loop's work before this replica's step (or run) ending at t, whose event would
        be (t, NORMAL, e): the arrivals due before it, each handled as the loop would (popped in
        order, at its time).  True when the step's own event comes next (the caller handles it at
        once, as the loop would), False when another kind of event comes first (the caller pushes
        its event, with e: the same place in the order)."""
        sim = self.sim
        queue, src, key = sim.queue, sim.source_cb, (t, NORMAL, e)
        while queue and queue[0] < key:
            ev = queue[0]
            if ev[3] is not src:
                return False
            heapq.heappop(queue)
            sim.now = ev[0]
            src(ev[4])
        return True

    def _stepped(self, _arg) -> None:
        self.engine.commit(self.sim.now)
        self.resume()

    def _ran(self, run_id) -> None:
        if run_id == self.run_id:  # else interrupted: this completion was superseded
            self._end_run(len(self.run[1]))

    def _end_run(self, k: int) -> None:
        val = self.run[1]
        self.last_start = -math.inf
        self.run_id += 1
        self.busy += float(val[k - 1])
        self.engine.commit_run(k, val, self.sim.now)
        self.resume()

    def _interrupted(self, run_id) -> None:
        """A request arrived: finish the step in flight, then re-plan."""
        if run_id != self.run_id:
            return
        self.run_id += 1  # the run's own completion is stale now
        start, val = self.run
        now = self.sim.now
        el = now - start
        k = min(len(val), 1 + bisect_left(val, el))
        if val[k - 1] > el:
            self.sim.schedule(float(val[k - 1]) - el, self._remainder, (self.run_id, k))
        else:
            self._end_run(k)

    def _remainder(self, arg) -> None:
        run_id, k = arg
        if run_id == self.run_id:
            self._end_run(k)

    def _woken(self, wait) -> None:
        if wait != self.wait:
            return
        if self.cond:
            self._fire()
        else:
            self.wait = 0
            self.resume()

    def _waited(self, wait) -> None:
        if wait == self.wait:
            self._fire()

    def _fire(self) -> None:
        """WAIT (a wake-up or a timeout, whichever first): resume one event later, as a simpy
        condition event does."""
        if not self.fired:
            self.fired = True
            self.sim.schedule(0, self._condition, self.wait)

    def _condition(self, wait) -> None:
        if wait == self.wait:
            self.wait = 0
            self.resume()


class Sim:
    """The run: requests, replicas, router and the event loop.

    The event loop is a heap of (time, priority, sequence number, callback, argument), the order
    simpy gives its events (urgent before normal at the same time, then first scheduled first);
    the simulator kept simpy's event order when it moved off simpy for speed, so results did not
    change (tests/golden)."""

    def __init__(self, sys: System, cfg: SchedConfig, sc: Scenario, reqs: Requests):
        self.now = 0  # an int until the first timeout, as in simpy (arrivals at 0 are recorded as 0)
        self.queue: list = []
        self.eid = itertools.count()
        self.wait_id = 0
        self.sys, self.cfg, self.sc, self.reqs = sys, cfg, sc, reqs
        n = reqs.n
        self.prompt, self.output = reqs.prompt.tolist(), reqs.output.tolist()
        self.arrival, self.admitted = [NAN] * n, [NAN] * n  # (floats, or 0 while the clock is still an int)
        # first token and finish times (always floats) as doubles side by side: the summary reads them at once
        self.first, self.finish = array("d", [NAN]) * n, array("d", [NAN]) * n
        self.generated, self.preemptions, self.replica = [0] * n, [0] * n, [-1] * n
        self.reason: list[str] = [""] * n
        self.timeline: list[tuple] = []
        # decode step durations, each a gap between two tokens (inter-token latency, ITL), as entries
        # of k steps (a single step: k = 1) with their cumulative times from the entry's start (0.0
        # unless in gap_starts), in order: in gap_vals (doubles, side by side: the summary reads them
        # without gathering float objects from all over the heap), or in gap_pieces where a long run's
        # array came (gap_vals so far moved there before it); taken apart by _gap_samples
        self.gap_vals = array("d")
        self.gap_pieces: list = []
        # the latest values as floats, after gap_vals (a list's append costs a fifth of an array's, its extend
        # a tenth of fromlist's): moved there in blocks (gap_flush) after runs, before an array and at the end
        self.gap_buf: list[float] = []
        self.gap_lens: list[int] = []  # steps per entry
        self.gap_counts: list[int] = []  # sequences waiting on each of its steps
        self.gap_starts: dict[int, float] = {}  # entry index -> start time of its cumulative times
        # planner.sim.budget.check per engine step inside a wall-clock limit (planner.sim.budget.deadline), else None
        self.check = _budget_check if _budget_active() else None
        self.peak_waiting = 0
        self.area = 0.0  # integral of requests in the system (sampled at step starts) over busy time
        self.rr = 0
        self.next_arrival = 0
        self.source_cb = self.source  # the one bound method the arrivals' events hold (Replica.resume knows them by it)
        self.issued = 0
        self.ended = 0
        self.end_time = 0.0
        self.max_ctx = sys.deployment.model.max_context
        self.arr_list = reqs.arrival.tolist() if reqs.arrival is not None else None
        self.n_arr = len(self.arr_list) if self.arr_list is not None else 0
        self.closed = reqs.arrival is None
        self.src_i = 0
        self.rng_route = reqs.rngs["routing"]
        self.rng_think = reqs.rngs["think"]
        self.pricers: dict = {}  # the replicas' folded decode pricers (the same System: the same pricers)
        if cfg.batching in ("continuous", "slots"):
            make = lambda: Continuous(self, sys, cfg)  # noqa: E731
        else:
            size = 1 if cfg.batching == "serial" else cfg.static_batch
            timeout = 0.0 if cfg.batching == "serial" else cfg.static_timeout_s
            make = lambda: Batch(self, sys, size, timeout, cfg.max_num_batched_tokens)  # noqa: E731
        self.replicas = [Replica(self, i, make()) for i in range(sc.machine.replicas)]
        self.only = self.replicas[0] if len(self.replicas) == 1 else None  # the one replica (no router)
        self.router = sc.router
        # requests certainly within the context window and the engine's limits (dispatch asks the rest)
        accepted = getattr(self.replicas[0].engine, "accepted", None)
        fits = reqs.prompt + reqs.output <= self.max_ctx
        self.fits = (fits & accepted(reqs.prompt, reqs.output)).tolist() if accepted is not None else [False] * n

    # -- arrivals -----------------------------------------------------------

    def schedule(self, delay: float, fn, arg, priority: int = NORMAL) -> None:
        heapq.heappush(self.queue, (self.now + delay, priority, next(self.eid), fn, arg))

    def source(self, resumed: bool) -> None:
        """Open-loop arrivals, in order: each dispatched at its time (after a wait when it is later)."""
        arr, i, n, now = self.arr_list, self.src_i, self.n_arr, self.now
        if resumed:
            self.next_arrival = i + 1
            rep = self.only
            if rep is not None and self.fits[i]:  # dispatch, inline: nothing to reject, no router
                self.arrival[i] = now
                self.replica[i] = rep.idx
                if rep.wait or now < rep.last_start:
                    rep.enqueue(i)
                else:  # Replica.enqueue where it neither wakes nor interrupts the replica, inline
                    rep.outstanding += 1
                    rep.engine_enqueue(i)
            else:
                self.dispatch(i)
            i += 1
        while i < n:
            t = arr[i]
            if t > now:
                self.src_i = i
                heapq.heappush(self.queue, (now + (t - now), NORMAL, next(self.eid), self.source_cb, True))
                return
            self.next_arrival = i + 1
            self.dispatch(i)
            i += 1
        self.src_i = i

    def dispatch(self, rid: int) -> None:
        now = self.now
        self.arrival[rid] = now
        if not self.fits[rid]:  # (fits: no reason to reject it, known in advance)
            p, o = self.prompt[rid], self.output[rid]
            reason = None
            if p + o > self.max_ctx:
                reason = f"prompt + output = {p + o} tokens exceeds the model's context window of {self.max_ctx}"
            else:
                reason = self.replicas[0].engine.reject_reason(p, o)
            if reason:
                self.reason[rid] = reason
                self._ended(now)
                return
        reps = self.replicas
        rep = reps[0] if len(reps) == 1 else self._route()
        self.replica[rid] = rep.idx
        rep.enqueue(rid)

    def _route(self) -> Replica:
        reps = self.replicas
        if len(reps) == 1:
            return reps[0]
        if self.router == "round_robin":
            self.rr += 1
            return reps[(self.rr - 1) % len(reps)]
        if self.router == "least_outstanding":
            vals = [r.outstanding for r in reps]
        else:
            vals = [len(r.engine.waiting) for r in reps]
        m = min(vals)
        cands = [i for i, v in enumerate(vals) if v == m]
        return reps[cands[0] if len(cands) == 1 else cands[int(self.rng_route.integers(len(cands)))]]

    def _ended(self, now: float) -> None:
        self.ended += 1
        if now > self.end_time:  # max(end_time, now)
            self.end_time = now
        if self.closed and self.issued < self.reqs.n:  # closed loop: this user sends the next
            rid = self.issued
            self.issued += 1
            think = self.rng_think.exponential(self.reqs.think_time_s) if self.reqs.think_time_s else 0.0
            self.schedule(think, self.dispatch, rid)

    # -- engine callbacks ---------------------------------------------------

    def admit(self, rid: int, now: float) -> None:
        if self.admitted[rid] != self.admitted[rid]:
            self.admitted[rid] = now

    def preempted(self, rid: int) -> None:
        self.preemptions[rid] += 1

    def finished(self, rid: int, now: float) -> None:
        self.finish[rid] = now
        self.replicas[self.replica[rid]].outstanding -= 1
        if self.closed:
            self._ended(now)
        else:  # _ended, inline (open loop: no user sends a next request)
            self.ended += 1
            if now > self.end_time:
                self.end_time = now

    def record(self, replica, t, steps, dur, batch, tokens, kv_frac, waiting, in_system) -> None:
        _budget_check()  # the caller's wall-clock limit and Stop (planner.sim.budget.deadline); no-op by default
        self.area += in_system * dur
        if waiting > self.peak_waiting:
            self.peak_waiting = waiting
        self.timeline.append((t, replica, steps, dur, batch, tokens, kv_frac, waiting))

    def gaps(self, cum, k: int, start: float, n: int) -> None:
        """n sequences each wait the k steps ending at cum[:k] (cumulative, from `start`) for a token."""
        self.gap_array(cum[:k])
        if start != 0.0:
            self.gap_starts[len(self.gap_lens)] = start
        self.gap_lens.append(k)
        self.gap_counts.append(n)

    def gap_array(self, cum: np.ndarray) -> None:
        """An entry's cumulative times as an array (after the floats recorded so far)."""
        if self.gap_buf:
            self.gap_flush()
        if self.gap_vals:
            self.gap_pieces.append(self.gap_vals)
            self.gap_vals = array("d")
        self.gap_pieces.append(cum)

    def gap_flush(self) -> None:
        """Move gap_buf's values to the end of gap_vals: the same doubles, packed in one call."""
        buf = self.gap_buf
        if buf:
            self.gap_vals.frombytes(struct.pack(f"{len(buf)}d", *buf))
            buf.clear()

    def batch_finished(self, arg) -> None:
        self.finished(*arg)

    def run(self) -> None:
        if self.reqs.arrival is not None:
            self.schedule(0, self.source_cb, False, URGENT)  # as a simpy process starts
        else:
            c = min(self.reqs.concurrency, self.reqs.n)
            self.issued = c
            for rid in range(c):
                self.schedule(0, self.dispatch, rid)
        queue, pop = self.queue, heapq.heappop
        collect = gc.isenabled()  # no reference cycles are made per event: the cyclic collector
        gc.disable()  # would only walk the growing records again and again (about 10% of a run)
        try:
            while queue:
                t, _, _, fn, arg = pop(queue)
                self.now = t
                fn(arg)
        finally:
            self.gap_flush()  # (the summary reads gap_vals)
            if collect:  # the records are long-lived: straight to the oldest generation (no young
                gc.freeze()  # pass over them all at the next allocation; collectable as before)
                gc.unfreeze()
                gc.enable()


# --------------------------------------------------------------------------- results


def _stats(x: np.ndarray, scale: float = 1.0) -> dict:
    if not len(x):
        return {k: None for k in ("mean", "p50", "p90", "p95", "p99")}
    q = np.percentile(x, [50, 90, 95, 99]) * scale
    return {
        "mean": round(float(x.mean()) * scale, 6),
        "p50": round(float(q[0]), 6),
        "p90": round(float(q[1]), 6),
        "p95": round(float(q[2]), 6),
        "p99": round(float(q[3]), 6),
    }


def _weighted_stats(x: np.ndarray, w: np.ndarray, scale: float = 1.0) -> dict:
    """_stats of a sample where value x[i] occurs w[i] times (percentiles as numpy's 'inverted_cdf').
    Overwrites w (the samples are large: one per decode step)."""
    if not len(x) or w.sum() <= 0:
        return _stats(np.zeros(0))
    q = _weighted_quantiles(x, w, (0.5, 0.9, 0.95, 0.99)) * scale
    total = w.sum()
    mean = np.multiply(x, w, out=w).sum() / total  # (x * w).sum() / w.sum(), in w's memory (w is spent)
    return _rounded(mean, q, scale)


def _rounded(mean, q, scale: float) -> dict:
    return {
        "mean": round(float(mean) * scale, 6),
        "p50": round(float(q[0]), 6),
        "p90": round(float(q[1]), 6),
        "p95": round(float(q[2]), 6),
        "p99": round(float(q[3]), 6),
    }


def _weighted_quantiles(x: np.ndarray, w: np.ndarray, qs) -> np.ndarray:
    """numpy's 'inverted_cdf' percentiles of x with integer weights w: for each q, the first value in
    sorted order at which the cumulative weight reaches q * sum(w), i.e. the smallest x whose weight
    at or below it reaches that (the same value whatever the order of ties: the sums are exact
    integers).  Large samples (inter-token gaps: one per decode step) are not sorted whole: see
    _binned_quantiles."""
    n = len(x)
    if n <= 50_000:
        order = np.argsort(x, kind="stable")
        cw = np.cumsum(w[order])
        return x[order][np.minimum(np.searchsorted(cw, np.asarray(qs) * cw[-1], "left"), n - 1)]
    step = n // 4096
    return _binned_quantiles(lambda: ((x, w),), x[::step], w[::step], w.sum(), qs)


def _binned_quantiles(chunks, sx, sw, total: float, qs) -> np.ndarray:
    """_weighted_quantiles of a sample given as `chunks()` (an iterable of (x, w) pieces, in any
    order; called twice) with `sx`, `sw` a subsample of it and `total` its weight: the subsample's
    sorted values split the values into bins (every 64th of them, and a few around each percentile's
    place in it); one pass weighs each bin, a second collects the values of the bin where each
    percentile falls, which are sorted.  Exact whatever the subsample (it only sets the bins' sizes)."""
    o = np.argsort(sx, kind="stable")
    sx, scw = sx[o], np.cumsum(sw[o])
    m = len(sx)
    picks = set(range(0, m, 64))
    for q in qs:
        i = int(np.searchsorted(scw, q * scw[-1], "left"))
        picks.update(j for d in (-16, -4, 0, 4, 16) if 0 <= (j := i + d) < m)
    T = np.unique(sx[sorted(picks)])  # the bins: (-inf, T0], (T0, T1], ..., (T[-1], inf)
    nb = len(T) + 1
    bins = np.zeros(nb)
    for x, w in chunks():
        bins += np.bincount(np.searchsorted(T, x, "left"), weights=w, minlength=nb)
    cw = np.cumsum(bins)  # weight at or below each T (exact: integer sums)
    targets = [q * total for q in qs]
    where = [min(int(np.searchsorted(cw, t, "left")), nb - 1) for t in targets]
    found: dict[int, tuple[list, list]] = {i: ([], []) for i in where}
    for x, w in chunks():  # the values strictly inside each bin where a percentile falls
        for i, (xs, ws) in found.items():
            if i == 0:
                sel = x < T[0]
            elif i == nb - 1:
                sel = x > T[-1]
            else:
                sel = (x > T[i - 1]) & (x < T[i])
            xs.append(x[sel])
            ws.append(w[sel])
    out = []
    for t, i in zip(targets, where):
        vx, vw = (np.concatenate(a) for a in found[i])
        o = np.argsort(vx, kind="stable")
        c = (cw[i - 1] if i else 0.0) + np.cumsum(vw[o])
        j = int(np.searchsorted(c, t, "left"))
        out.append(vx[o][j] if j < len(vx) else T[min(i, len(T) - 1)])  # else the bin's upper edge
    return np.asarray(out)


@dataclass
class SimResult:
    summary: dict
    columns: dict  # per-request columns (REQUEST_COLUMNS)
    steps: list[tuple]  # the timeline's steps, downsampled to timeline_points (TIMELINE_COLUMNS' values)

    @functools.cached_property
    def timeline(self) -> list[dict]:
        """The steps as dicts (TIMELINE_COLUMNS as keys), built at the first use: a caller that reads
        the summary alone (a sweep, a plan, the suite) never pays for them."""
        return _timeline_rows(self.steps)

    @property
    def requests(self) -> list[dict]:
        c = self.columns
        return [dict(zip(REQUEST_COLUMNS, row)) for row in zip(*(c[k] for k in REQUEST_COLUMNS))]

    def write_requests_csv(self, path) -> None:
        c = self.columns
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(REQUEST_COLUMNS)
            for row in zip(*(c[k] for k in REQUEST_COLUMNS)):
                w.writerow(
                    [
                        "" if isinstance(v, float) and math.isnan(v) else (repr(v) if isinstance(v, float) else v)
                        for v in row
                    ]
                )

    def write_timeline_csv(self, path) -> None:
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(TIMELINE_COLUMNS)
            for r in self.timeline:
                w.writerow([r[k] for k in TIMELINE_COLUMNS])


def starvation_warnings(sim: Sim) -> list[str]:
    """Settings that starve the workload: a prompt that can never share a step, a KV cache that
    holds one request, or (seen in the run) one request at a time while others wait."""
    eng = sim.replicas[0].engine
    if not isinstance(eng, Continuous):
        return []
    out = []
    p, o = sim.reqs.prompt, sim.reqs.output  # (sim.prompt and sim.output as arrays)
    ok = np.fromiter(map(operator.not_, sim.reason), bool, len(sim.reason))
    fix = (
        "turn chunked prefill on (scheduler.chunked_prefill = true) or size the limits for the workload "
        "(scheduler.sizing = workload, as trtllm-bench does)"
    )
    if not eng.chunked and ok.any():
        big = ok & (p >= eng.budget)
        if big.any():
            out.append(
                f"{int(big.sum()) / int(ok.sum()):.0%} of the prompts ({int(p[big].min()):,} tokens or more) "
                f"fill max_num_batched_tokens = {eng.budget:,} with chunked prefill off: such a prompt can "
                f"only start when no request is decoding, so these requests run one at a time; {fix}"
            )
    if ok.any() and eng.slot_ctx is None:
        need = float(np.median((p + o)[ok]))
        tokens = eng.kv_total * eng.B
        if tokens < 2 * need:
            out.append(
                f"the KV cache holds {tokens:,} tokens: only one request of {need:,.0f} tokens (prompt + "
                f"output) fits at a time; use more memory or devices, a smaller KV dtype or shorter requests"
            )
    if not out and eng.max_running == 1 and sim.peak_waiting > 0:
        if eng.slot_ctx is not None:
            out.append(
                f"only one request ran at a time although up to {sim.peak_waiting} waited: "
                f"{eng.max_seqs} server slot(s); raise n_parallel (llama-server --parallel, OLLAMA_NUM_PARALLEL)"
            )
        else:
            out.append(
                f"only one request ran at a time although up to {sim.peak_waiting} waited "
                f"(max_num_seqs = {eng.max_seqs}, max_num_batched_tokens = {eng.budget:,}); {fix}"
            )
    return out


GAP_BUF = 1 << 10  # gap values kept as floats (Sim.gap_buf) before they move into Sim.gap_vals
GAP_CHUNK = 1 << 16  # the chunks of a long sample of inter-token gaps (_GapSample)
GAP_WHOLE = 1 << 20  # samples of up to this many gaps are summarised whole (faster there; about 25 MB)


def _itl(sim: Sim) -> dict:
    """Inter-token latency over every gap between two tokens of a request (sglang.bench_serving's
    `itls`, whose median is its Median ITL): each decode step's duration, once per decoding sequence."""
    if not sim.gap_lens:
        return _stats(np.zeros(0))
    if sum(sim.gap_lens) <= GAP_WHOLE:
        return _weighted_stats(*_gap_samples(sim), 1e3)
    return _GapSample(sim).stats(1e3)


class _GapSample:
    """The run's inter-token gaps as _gap_samples gives them (step durations x, sequences waiting
    on each w), produced a chunk at a time in order, so a long run's sample (12.5 million gaps for
    100,000 requests of 4 closed-loop users) is never held whole: the same summary, bit for bit.
    The mean's sum of x w is numpy's pairwise sum over the whole sample (np.add.reduce of a
    contiguous float64 array: halves rounded down to a multiple of 8, down to blocks of 128), taken
    over the same tree with numpy's own sums at its subtrees of at most `chunk` values."""

    def __init__(self, sim: Sim, chunk: int = GAP_CHUNK):
        pieces = sim.gap_pieces + [sim.gap_vals] if sim.gap_vals else sim.gap_pieces
        self.pieces = [p if type(p) is np.ndarray else np.array(p, dtype=float) for p in pieces]
        self.pend = np.cumsum([len(p) for p in self.pieces])  # where each piece ends
        lens = np.asarray(sim.gap_lens, dtype=np.int64)
        self.lens, self.first = lens, np.cumsum(lens) - lens  # each entry's steps and first gap
        self.counts = np.asarray(sim.gap_counts, dtype=float)
        self.starts = np.zeros(len(lens))
        for i, start in sim.gap_starts.items():
            self.starts[i] = start
        self.n, self.chunk = int(self.pend[-1]), chunk
        total = float(self.counts @ lens.astype(float))  # exact: integer products and sums below 2^53
        if total >= 2.0**52:  # (else exact in Python's integers)
            total = float(sum(c * k for c, k in zip(sim.gap_counts, sim.gap_lens)))
        self.total = total

    def _cum(self, lo: int, hi: int) -> np.ndarray:
        """The cumulative times lo..hi-1 of the concatenated pieces."""
        pend, pieces = self.pend, self.pieces
        a = int(np.searchsorted(pend, lo, "right"))
        b = int(np.searchsorted(pend, hi - 1, "right"))
        parts = []
        for p in range(a, b + 1):
            s = int(pend[p]) - len(pieces[p])
            parts.append(pieces[p][max(lo - s, 0) : hi - s])
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def part(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """(x, w) of gaps lo..hi-1 (new arrays), as _gap_samples computes them."""
        off = 1 if lo else 0
        c = self._cum(lo - off, hi)
        x = np.empty(hi - lo)
        np.subtract(c[1:], c[:-1], out=x[1 - off :])
        first = self.first
        a, b = int(np.searchsorted(first, lo, "left")), int(np.searchsorted(first, hi, "left"))
        f = first[a:b]
        x[f - lo] = c[f - lo + off] - self.starts[a:b]  # each entry's first step from its own start
        e0 = int(np.searchsorted(first, lo, "right")) - 1
        e1 = int(np.searchsorted(first, hi - 1, "right")) - 1
        reps = self.lens[e0 : e1 + 1].copy()  # each entry's steps within lo..hi-1
        reps[-1] = min(int(first[e1] + reps[-1]), hi) - int(first[e1])
        reps[0] = min(int(first[e0] + self.lens[e0]), hi) - lo
        return x, np.repeat(self.counts[e0 : e1 + 1], reps)

    def leaves(self, lo: int, n: int, out: list) -> None:
        """numpy's pairwise-summation subtrees of at most `chunk` values, in order."""
        if n <= self.chunk:
            out.append((lo, lo + n))
            return
        n2 = n // 2
        n2 -= n2 % 8
        self.leaves(lo, n2, out)
        self.leaves(lo + n2, n - n2, out)

    def _tree_sum(self, sums: dict, lo: int, n: int) -> float:
        if n <= self.chunk:
            return sums[lo]
        n2 = n // 2
        n2 -= n2 % 8
        return self._tree_sum(sums, lo, n2) + self._tree_sum(sums, lo + n2, n - n2)

    def stats(self, scale: float) -> dict:
        """_weighted_stats(*_gap_samples(sim), scale)."""
        total = self.total
        if total <= 0:
            return _stats(np.zeros(0))
        leaves: list = []
        self.leaves(0, self.n, leaves)
        step = self.n // 4096
        sums, sx, sw = {}, [], []
        for lo, hi in leaves:  # one pass: the subsample, and the products' sum at each leaf
            x, w = self.part(lo, hi)
            k = (-lo) % step
            sx.append(x[k::step].copy())  # (x is overwritten below)
            sw.append(w[k::step])
            sums[lo] = np.add.reduce(np.multiply(x, w, out=x))
        mean = self._tree_sum(sums, 0, self.n) / total
        q = _binned_quantiles(
            lambda: (self.part(lo, hi) for lo, hi in leaves),
            np.concatenate(sx),
            np.concatenate(sw),
            total,
            (0.5, 0.9, 0.95, 0.99),
        )
        return _rounded(mean, q * scale, scale)


def _gap_samples(sim: Sim) -> tuple[np.ndarray, np.ndarray]:
    """(step durations, sequences waiting on each) in the order the steps were recorded; a run's
    durations are the differences of its cumulative times (as the run priced them), taken with one
    vectorised subtraction over all runs (a single step is a run of one from 0.0)."""
    pieces = sim.gap_pieces + [sim.gap_vals] if sim.gap_vals else sim.gap_pieces
    fresh = len(pieces) > 1 or type(pieces[0]) is not np.ndarray  # cum below is a new array
    cum = np.concatenate(pieces) if len(pieces) > 1 else np.array(pieces[0], dtype=float, copy=fresh)
    lens = sim.gap_lens
    starts = np.zeros(len(lens))
    for i, start in sim.gap_starts.items():
        starts[i] = start
    n = np.asarray(lens)
    first = np.cumsum(n) - n  # where each run starts
    x = np.empty_like(cum)
    np.subtract(cum[1:], cum[:-1], out=x[1:])
    x[first] = cum[first] - starts  # each run's first step from its own start
    w = cum if fresh else np.empty_like(cum)  # (cum's memory reused: it is not needed any more)
    w.fill(0.0)  # each run's count from its first step on (exact: integer sums)
    w[first] = np.diff(np.asarray(sim.gap_counts, dtype=float), prepend=0.0)
    return x, np.cumsum(w, out=w)


def _summary(sim: Sim) -> dict:
    sys, sc = sim.sys, sim.sc
    n = len(sim.arrival)  # (admitted, first and finish times are floats: NaN until set)
    arr, adm = (np.fromiter(x, float, n) for x in (sim.arrival, sim.admitted))
    first, fin = np.array(sim.first, float), np.array(sim.finish, float)
    out = sim.reqs.output  # (sim.output as an array)
    ok = ~np.isnan(fin)
    rejected = np.fromiter(map(bool, sim.reason), bool, n)
    duration = sim.end_time
    ttft = (first - arr)[ok]
    e2e = (fin - arr)[ok]
    multi = ok & (out > 1)
    tpot = (fin - first)[multi] / (out[multi] - 1)
    queue = (adm - arr)[ok]
    tokens = int(out[ok].sum())
    slo = sc.slo
    chk = check_slo(slo, arr, first, fin, out, rejected)  # the SLO's one meaning (planner.econ.slo)
    good = chk.good
    hw = sys.deployment.hw
    idle = hw.power_idle_w.value if hw.power_idle_w else 0.0
    pmax = hw.power_max_w.value
    busy = sum(r.busy for r in sim.replicas)
    n_rep = len(sim.replicas)
    energy = sys.deployment.total_devices * (idle * duration * n_rep + (pmax - idle) * busy)
    if sys.deployment.host is not None and sys.deployment.offload:  # the host CPU works whenever the engine is busy
        energy += sys.deployment.host.power_w.value * busy
    n = len(out)
    return {
        "requests": n,
        "completed": int(ok.sum()),
        "rejected": int(rejected.sum()),
        "rejection_reasons": sorted({r for r in sim.reason if r})[:5],
        "duration_s": round(duration, 6),
        "output_tokens": tokens,
        "throughput_tok_s": round(tokens / duration, 6) if duration > 0 else 0.0,
        "request_throughput_rps": round(int(ok.sum()) / duration, 6) if duration > 0 else 0.0,
        "ttft_ms": _stats(ttft, 1e3),
        "tpot_ms": _stats(tpot, 1e3),
        "itl_ms": _itl(sim),
        "e2e_s": _stats(e2e),
        "queue_s": _stats(queue),
        "goodput": round(float(good.sum()) / n, 6) if n else 0.0,
        "goodput_rps": round(float(good.sum()) / duration, 6) if duration > 0 else 0.0,
        "slo": slo.model_dump(),
        "slo_met": chk.met,
        "slo_check": chk.as_json(),
        "kv_peak_fraction": round(max(r.engine.kv_peak_fraction() for r in sim.replicas), 6),
        "preemptions": int(sum(sim.preemptions)),
        "mean_in_system": round(sim.area / duration, 6) if duration > 0 else 0.0,
        "utilization": round(busy / (duration * n_rep), 6) if duration > 0 else 0.0,
        "energy_j_per_token": round(energy / tokens, 6) if tokens else None,
        "energy_note": (
            "device power = idle + (max - idle) x busy fraction"
            + ("" if hw.power_idle_w else f"; {hw.id} has no idle power in its profile: 0 W assumed")
        ),
        "replicas": n_rep,
        "devices_per_replica": sys.deployment.devices,
        "nodes_per_replica": sys.deployment.nodes,
        "batching": sim.cfg.batching,
        "calibration": sys.step.eff_label,
        "scheduler": {
            "max_num_seqs": sys.deployment.engine.max_num_seqs,
            "max_num_batched_tokens": sys.deployment.engine.max_num_batched_tokens,
            "chunked_prefill": sys.deployment.engine.chunked_prefill,
            "sizing": sim.cfg.sizing,
        },
        "mechanisms": {
            "cpu_overhead_us_per_seq": round(sim.cfg.cpu_per_seq_s * 1e6, 3),
            "cpu_overlap": sim.cfg.cpu_overlap,
            "cuda_graph_padding": bool(sim.cfg.graph_sizes),
            "prefix_caching": sim.cfg.prefix_caching,
            "mla_cache": ("expanded" if sys.memory.mla_expanded else "latent")
            if sys.deployment.model.attention == "mla"
            else None,
            # only for engines that keep prefill and decode batches apart / run prefill eagerly
            **({"mixed_batches": False} if not sim.cfg.mixed_batches else {}),
            **({"eager_prefill_floor_ms": round(sim.cfg.eager_floor_s * 1e3, 3)} if sim.cfg.eager_floor_s else {}),
        },
        "warnings": starvation_warnings(sim),
        # support matrix: dequantized, priced at 16-bit
        "emulated": bool(sys.deployment.support and sys.deployment.support.emulated),
        "step_time_provider": sys.step.provider_note,
    }


def simulate_scenario(catalog: Catalog, scenario: Scenario) -> SimResult:
    """Run one scenario (option 1, with its own stack); raises CatalogError / ScenarioError for impossible input."""
    scenario = scenario.for_option(0)
    sys, cfg = resolve(catalog, scenario)
    wl = scenario.workload
    if wl.arrival != "trace":
        lo = wl.prompt.lowest() + wl.output.lowest()
        if lo > sys.deployment.model.max_context:
            raise ScenarioError(
                "workload",
                f"prompt + output = {lo:,} tokens exceeds {sys.deployment.model.id}'s context "
                f"window of {sys.deployment.model.max_context:,} tokens: shorten the prompt or the output",
            )
    reqs = make_requests(wl)
    sim = Sim(sys, cfg, scenario, reqs)
    sim.run()
    cols = {
        "id": list(range(reqs.n)),
        "arrival_s": sim.arrival,
        "admitted_s": sim.admitted,
        "first_token_s": sim.first.tolist(),
        "finish_s": sim.finish.tolist(),
        "prompt_tokens": sim.prompt,
        "output_tokens": sim.output,
        "preemptions": sim.preemptions,
        "replica": sim.replica,
        "rejected": [bool(r) for r in sim.reason],
        "reason": sim.reason,
    }
    tl = sim.timeline
    stride = max(1, math.ceil(len(tl) / scenario.timeline_points))
    return SimResult(_summary(sim), cols, tl[::stride])


def _timeline_rows(steps: list[tuple]) -> list[dict]:
    """dict(zip(TIMELINE_COLUMNS, step)) for each step: the same keys in the same order, built as
    dict displays (about a quarter of dict(zip(...))'s cost; tests/test_sim_speed.py checks them)."""
    return [
        {
            "time_s": t,
            "replica": r,
            "steps": k,
            "duration_s": d,
            "batch": b,
            "tokens": n,
            "kv_fraction": f,
            "waiting": w,
        }
        for t, r, k, d, b, n, f, w in steps
    ]
