"""Step-time providers: our calibrated roofline, or NVIDIA's measured operator tables.

The simulator, the scheduler, KV paging, replicas and the planner are ours whatever the
provider; only the GPU time of one engine step changes.

- ``roofline`` (always available): ``StepTimeModel._stage`` in ``perf.py``, the calibrated roofline.
- ``measured`` (optional extra ``inference-planner[nvidia-data]``, i.e. the pinned
  ``aiconfigurator-core`` wheel, Apache-2.0): the per-system operator tables NVIDIA's
  AIConfigurator ships (``aiconfigurator_core/systems/data/<system>/<op>/<backend>/<version>/
  *.parquet``: GEMM latency by (m, n, k, dtype); context and generation attention by batch,
  sequence length, heads, head size and KV dtype; fused MoE by tokens, shape, top-k, experts,
  TP/EP; custom all-reduce by GPUs and message size). We read the tables, not their Python
  modelling API: the table layout is the part that has stayed put across releases.

One step's GPU time on the measured provider, per pipeline stage (layers / pp):

    layers x (GEMMs(qkv, o, gate/up, down at the step's token count)
              + attention  [decode steps: generation table at (batch, mean context); prefill
                            chunks: context table for one sequence of equal attention FLOPs, plus
                            the batch's KV reads at the generation table's speed]
              + MoE(tokens) + router GEMM + 2 all-reduces(tokens x hidden bf16 elements) under TP
              + element-wise operators [2 residual-add + RMSNorms, the gated activation of dense
                FFNs: no table measures them; priced as AIConfigurator prices them, bytes /
                (0.8 x bandwidth) + 3 us each, its system files' figures])
    + lm-head GEMM in BF16 (one row per sequence) + the engine's per-step overhead (ours, calibrated)

Look-ups are linear interpolations on the measured grids (GEMM and MoE in the token count,
attention in batch and context; latency never falls as work grows: suffix minimum), tabulated
once per step-time model on the union of the grids (exact) and cached, so a step costs two or three
interpolations.

Which provider a prediction uses (``StepTimeModel.provider_note`` names it):
``PLANNER_STEP_PROVIDER`` = ``roofline`` | ``measured`` | ``auto`` (default). ``auto`` applies
the one rule in ``CHOICE_RULE`` with the per-class verdicts in ``profiles/step_providers.toml``
(written by ``python -m planner validate --providers --write``).
"""

from __future__ import annotations

import bisect
import functools
import math
import os
import re
import tomllib
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import numpy as np

from planner.model import kernel_tables
from planner.paths import builtin

PACKAGE = "aiconfigurator-core"
PINNED = "0.12.0"
MODES = ("auto", "roofline", "measured")
CHOICE_RULE = (
    "a class (engine x chip family) uses NVIDIA's measured kernels where their tables cover the "
    "hardware, engine and model shapes, unless on that class's NVIDIA datacenter rows of the "
    "calibration set the measured provider's median absolute error (leave-one-source-out) is "
    "higher than the calibrated roofline's; classes without such rows use the measured kernels"
)
BACKENDS = {"vllm": "vllm", "sglang": "sglang", "tensorrt-llm": "trtllm"}
CHOICES_FILE = builtin("profiles", "step_providers.toml")

_forced: list[str] = []


@contextmanager
def use_provider(mode: str):
    """Force a provider for Systems built inside the block (validation compares both)."""
    if mode not in MODES:
        raise ValueError(f"step provider must be one of {', '.join(MODES)}, got '{mode}'")
    _forced.append(mode)
    try:
        yield
    finally:
        _forced.pop()


def requested_mode() -> str:
    if _forced:
        return _forced[-1]
    mode = os.environ.get("PLANNER_STEP_PROVIDER", "auto").strip().lower() or "auto"
    return mode if mode in MODES else "auto"


@functools.lru_cache(maxsize=1)
def data_root() -> Path | None:
    """The installed tables (None without the extra)."""
    try:
        import aiconfigurator_core  # noqa: F401  (the optional extra)
    except Exception:  # not installed, or a broken install: the roofline is used, as before
        return None
    root = Path(aiconfigurator_core.__file__).resolve().parent / "systems" / "data"
    return root if root.is_dir() else None


def package_version() -> str | None:
    try:
        return version(PACKAGE)
    except Exception:
        return None


@functools.lru_cache(maxsize=1)
def class_choices() -> dict[str, str]:
    """Per-class verdicts of the choice rule ({"vllm:nvidia-hopper": "roofline", ...})."""
    if not CHOICES_FILE.is_file():
        return {}
    data = tomllib.loads(CHOICES_FILE.read_text(encoding="utf-8"))
    return {k: v["provider"] for k, v in data.get("classes", {}).items() if isinstance(v, dict) and "provider" in v}


def _vkey(v: str):
    from packaging.version import InvalidVersion, Version  # lazy: only with the optional nvidia-data extra

    try:
        return Version(v)
    except InvalidVersion:
        return Version("0")


def pick_version(available: list[str], wanted: str | None) -> tuple[str, str | None]:
    """(version used, note): the one asked for, else the nearest (by release order), else the newest."""
    vs = sorted(available, key=_vkey)
    if wanted is None:
        return vs[-1], None
    if wanted in vs:
        return wanted, None
    w = _vkey(wanted)
    best = min(vs, key=lambda v: (abs(_vnum(_vkey(v)) - _vnum(w)), -_vnum(_vkey(v))))
    return best, f"NVIDIA's tables have no {wanted}; nearest measured version {best} used"


def _vnum(v) -> float:
    r = (list(v.release) + [0, 0, 0])[:3]
    return r[0] * 1e6 + r[1] * 1e3 + r[2]


# ---------------------------------------------------------------------------- tables


def _read(path: Path, columns: list[str] | None = None) -> kernel_tables.Table:
    """A table's columns (older tables lack some: window_size defaults to 0, none)."""
    df = kernel_tables.read(path, columns)
    if columns is not None and "window_size" in columns and "window_size" not in df:
        df.columns["window_size"] = np.zeros(len(df), dtype=np.int64)
    return df


def _interp(x, xs: np.ndarray, ys: np.ndarray):
    """Linear interpolation on a measured grid; below it the smallest value, above it the line
    through the last two measured points (work grows linearly beyond the largest measured size)."""
    if not isinstance(x, np.ndarray):  # scalar fast path (the simulator's single steps)
        return _interp1(float(x), xs, ys)
    out = np.interp(x, xs, ys)
    if len(xs) < 2:
        return out if isinstance(x, np.ndarray) else float(out)
    top, slope = xs[-1], max((ys[-1] - ys[-2]) / (xs[-1] - xs[-2]), 0.0)
    if isinstance(x, np.ndarray):
        return np.where(x > top, ys[-1] + slope * (x - top), out)
    return float(ys[-1] + slope * (x - top)) if x > top else float(out)


def _monotone(ys: np.ndarray) -> np.ndarray:
    """Latency never falls as the work grows: where a larger measured shape ran faster, the engine
    can pad to it (suffix minimum over the grid)."""
    return np.minimum.accumulate(np.asarray(ys, dtype=float)[::-1])[::-1]


_LISTS: dict[int, tuple[np.ndarray, list]] = {}


def _aslist(a: np.ndarray) -> list:
    """A grid as a Python list (cached: bisect and float arithmetic on lists are several times
    faster than numpy for one scalar look-up)."""
    hit = _LISTS.get(id(a))
    if hit is None or hit[0] is not a:
        hit = (a, a.tolist())
        if len(_LISTS) < 100_000:
            _LISTS[id(a)] = hit
    return hit[1]


def _interp1(x: float, xs_a: np.ndarray, ys_a: np.ndarray) -> float:
    return _interpl(x, _aslist(xs_a), _aslist(ys_a))


def _interpl(x: float, xs: list, ys: list) -> float:
    """_interp for one scalar on grids held as lists."""
    n = len(xs)
    if n < 2 or x <= xs[0]:
        return ys[0]
    i = bisect.bisect_left(xs, x)
    if i >= n:  # beyond the grid: the line through the last two points
        slope = max((ys[-1] - ys[-2]) / (xs[-1] - xs[-2]), 0.0)
        return ys[-1] + slope * (x - xs[-1])
    x0 = xs[i - 1]
    return ys[i - 1] + (ys[i] - ys[i - 1]) * (x - x0) / (xs[i] - x0)


def _valid_rows(grid_b, cols, lat):
    """Each measured batch row's points (large batches at long contexts were not measured)."""
    valid = [(b, cols[~np.isnan(lat[i])], _monotone(lat[i][~np.isnan(lat[i])])) for i, b in enumerate(grid_b)]
    valid = [v for v in valid if len(v[1]) >= 2]
    return np.array([v[0] for v in valid]), valid


_GEN_CACHES: dict[int, tuple[object, dict]] = {}


def _shared_gen_cache(gen) -> dict:
    """MeasuredKernels._gen_curve's per-n cache for one generation table (an attn_grid / mla_grid
    result, itself cached), shared by every System priced with that table: the curves depend on the
    table and n only, so a process simulating many scenarios (a plan, the bench) builds each once.
    Held with the table itself (its id cannot be reused while it is held); at most 64 tables."""
    hit = _GEN_CACHES.get(id(gen))
    if hit is None or hit[0] is not gen:
        if len(_GEN_CACHES) >= 64:
            _GEN_CACHES.clear()
        hit = _GEN_CACHES[id(gen)] = (gen, {})
    return hit[1]


def _rows_at(table, n):
    """Blend of the measured batch rows around n: [(weight, scale, row's valid (x, y))]."""
    bs, valid = table
    if not valid:
        return []
    if n >= bs[-1]:
        return [(1.0, n / bs[-1], valid[-1][1:])]
    if n <= bs[0]:
        return [(1.0, 1.0, valid[0][1:])]
    i = int(np.searchsorted(bs, n))
    f = (n - bs[i - 1]) / (bs[i] - bs[i - 1])
    return [(1.0 - f, 1.0, valid[i - 1][1:]), (f, 1.0, valid[i][1:])]


class Uncovered(Exception):
    """The tables do not cover this system (the note says what is missing)."""


# the table a version directory must hold to count for an operation (some versions hold only
# other tables, e.g. SGLang 0.5.16's DeepSeek-V4 MoE module or 0.5.10's wide-EP MLA)
_NEEDS = {"moe": "moe_perf.parquet", "mla": "generation_mla_perf.parquet", "mla_bmm": "mla_bmm_perf.parquet"}


@functools.lru_cache(maxsize=64)
def _versions(system: str, op: str, backend: str) -> tuple[str, ...]:
    root = data_root()
    d = root / system / op / backend if root else None
    if d is None or not d.is_dir():
        return ()
    need = _NEEDS.get(op)
    return tuple(
        sorted(
            (
                p.name
                for p in d.iterdir()
                if p.is_dir() and any(p.glob("*.parquet")) and (need is None or (p / need).is_file())
            ),
            key=_vkey,
        )
    )


def _tables() -> Path:
    """The installed tables' root; only called where the provider was chosen, i.e. the extra is there."""
    root = data_root()
    if root is None:
        raise RuntimeError("NVIDIA's kernel tables are not installed (pip install 'inference-planner[nvidia-data]')")
    return root


@functools.lru_cache(maxsize=2)
def _gemm_rows(system: str, backend: str, version: str) -> kernel_tables.Table:
    """A GEMM table's rows, all data types (held for the next data type of the same system: a model
    prices its layers in one and its LM head in BF16; two files held at most, about 5 MB each)."""
    return _read(
        _tables() / system / "gemm" / backend / version / "gemm_perf.parquet", ["gemm_dtype", "m", "n", "k", "latency"]
    )


@functools.lru_cache(maxsize=32)
def _gemm_table(system: str, backend: str, version: str, dtype: str):
    """{(n, k): (m grid, latency ms)} for one dtype, the fastest kernel at each point."""
    df = _gemm_rows(system, backend, version)
    df = df[df["gemm_dtype"] == dtype]
    if df.empty:
        return {}
    # the fastest kernel per (n, k, m), grouped by (n, k): numpy sorts and segment minima (pandas'
    # groupby loop cost the plan's screening about a second over a catalog's dtypes)
    n, k, m = (df[c] for c in ("n", "k", "m"))
    lat = df["latency"].astype(float)
    keep = ~np.isnan(lat)  # a group's min skips missing latencies, as pandas' did
    n, k, m, lat = n[keep], k[keep], m[keep], lat[keep]
    order = np.lexsort((m, k, n))
    n, k, m, lat = n[order], k[order], m[order], lat[order]
    new_nkm = np.r_[True, (n[1:] != n[:-1]) | (k[1:] != k[:-1]) | (m[1:] != m[:-1])]
    starts = np.flatnonzero(new_nkm)
    lat = np.minimum.reduceat(lat, starts) if len(starts) else lat
    n, k, m = n[starts], k[starts], m[starts]
    new_nk = np.flatnonzero(np.r_[True, (n[1:] != n[:-1]) | (k[1:] != k[:-1])])
    out = {}
    for a, b in zip(new_nk, np.r_[new_nk[1:], len(n)]):
        out[(int(n[a]), int(k[a]))] = (m[a:b].astype(float), _monotone(lat[a:b]))
    return out


@functools.lru_cache(maxsize=32)
def _attn_table(system: str, backend: str, version: str, phase: str):
    name = "context_attention_perf.parquet" if phase == "context" else "generation_attention_perf.parquet"
    path = _tables() / system / "attention" / backend / version / name
    if not path.is_file():
        return None
    df = _read(
        path,
        [
            "batch_size",
            "isl",
            "num_heads",
            "num_key_value_heads",
            "head_dim",
            "kv_cache_dtype",
            "window_size",
            "step",
            "latency",
        ],
    )
    return df[df["window_size"] == 0]


@functools.lru_cache(maxsize=32)
def _mla_table(system: str, backend: str, version: str, phase: str):
    """SGLang's MLA attention tables (DeepSeek): latency by local heads, batch and context."""
    name = "context_mla_perf.parquet" if phase == "context" else "generation_mla_perf.parquet"
    path = _tables() / system / "mla" / backend / version / name
    if not path.is_file():
        return None
    return _read(path, ["batch_size", "isl", "num_heads", "kv_cache_dtype", "step", "latency"])


@functools.lru_cache(maxsize=32)
def _mla_bmm_table(system: str, backend: str, version: str):
    path = _tables() / system / "mla_bmm" / backend / version / "mla_bmm_perf.parquet"
    if not path.is_file():
        return None
    return _read(path, ["op_name", "bmm_dtype", "num_tokens", "num_heads", "latency"])


@functools.lru_cache(maxsize=32)
def _moe_table(system: str, backend: str, version: str):
    path = _tables() / system / "moe" / backend / version / "moe_perf.parquet"
    if not path.is_file():
        return None
    return _read(
        path,
        [
            "kernel_source",
            "moe_dtype",
            "num_tokens",
            "hidden_size",
            "inter_size",
            "topk",
            "num_experts",
            "moe_tp_size",
            "moe_ep_size",
            "distribution",
            "latency",
        ],
    )


@functools.lru_cache(maxsize=32)
def _allreduce_table(system: str, backend: str, version: str):
    path = _tables() / system / "comm" / backend / version / "custom_allreduce_perf.parquet"
    if not path.is_file():
        return None
    return _read(path, ["num_gpus", "message_size", "latency"] + (["backend"] if backend == "vllm" else []))


@functools.lru_cache(maxsize=8)
def _nccl_table(system: str):
    base = _tables() / system / "comm" / "nccl"
    vs = _versions(system, "comm", "nccl")
    if not vs:
        return None
    df = _read(base / vs[-1] / "nccl_perf.parquet")
    return df[(df["op_name"] == "all_reduce") & (df["nccl_dtype"] == "half")] if "op_name" in df else None


@functools.lru_cache(maxsize=4096)
def gemm_curve(system: str, backend: str, version: str, dtype: str, n: float, k: float):
    """(m grid, latency ms) for an (n, k) GEMM: bilinear over the measured (n, k) grid around it,
    latency scaled by n x k beyond the grid's largest sizes."""
    table = _gemm_table(system, backend, version, dtype)
    if not table:
        raise Uncovered(f"no {dtype} GEMM table")
    ns = np.array(sorted({a for a, _ in table}), float)
    ks = np.array(sorted({b for _, b in table}), float)

    def bracket(x, grid):
        if x <= grid[0]:
            return grid[0], grid[0], 0.0, x / grid[0]
        if x >= grid[-1]:
            return grid[-1], grid[-1], 0.0, x / grid[-1]
        i = int(np.searchsorted(grid, x))
        lo, hi = grid[i - 1], grid[i]
        return lo, hi, (x - lo) / (hi - lo), 1.0

    n0, n1, fn, sn = bracket(float(n), ns)
    k0, k1, fk, sk = bracket(float(k), ks)
    corners = [
        ((n0, k0), (1 - fn) * (1 - fk)),
        ((n1, k0), fn * (1 - fk)),
        ((n0, k1), (1 - fn) * fk),
        ((n1, k1), fn * fk),
    ]
    ms = None
    for (a, b), w in corners:
        if w > 0 and (int(a), int(b)) not in table:
            raise Uncovered(f"GEMM n={a:g} k={b:g} not measured")
        if ms is None or w > 0:
            grid = table[(int(a), int(b))][0]
            ms = grid if ms is None else np.intersect1d(ms, grid)
    lat = np.zeros_like(ms)
    for (a, b), w in corners:
        if w > 0:
            g, y = table[(int(a), int(b))]
            lat = lat + w * np.interp(ms, g, y)
    # beyond the grid: below the smallest measured n/k the kernel does not get faster (floor at 1)
    return ms, lat * max(sn, 1.0) * max(sk, 1.0) if (sn > 1 or sk > 1) else lat


@functools.lru_cache(maxsize=256)
def attn_grid(system, backend, version, phase, hd, kvdt, h_loc, kv_loc):
    """(batch grid, length grid, latency ms [batch x length]) for this rank's heads; MHA
    beyond the measured KV-head counts scales from the largest measured group (latency
    proportional to heads: attention reads each head's keys and values)."""
    df = _attn_table(system, backend, version, phase)
    if df is None:
        raise Uncovered(f"no {phase} attention table")
    col = "step" if phase == "generation" else "isl"
    df = df[(df["head_dim"] == hd) & (df["kv_cache_dtype"] == kvdt)]
    h, kv, scale = h_loc, kv_loc, 1.0
    have = set(zip(df["num_heads"].tolist(), df["num_key_value_heads"].tolist()))
    if (h, kv) not in have:
        # same query/KV ratio, fewer heads, scaled up
        cands = [(a, b) for a, b in have if b <= kv and a * kv == b * h]
        if not cands:
            raise Uncovered(f"{phase} attention with {h} query / {kv} KV heads of size {hd} not measured")
        a, b = max(cands)
        scale = h / a
        h, kv = a, b
    sel = df[(df["num_heads"] == h) & (df["num_key_value_heads"] == kv)]
    bs, xs, lat = kernel_tables.pivot_min(sel["batch_size"], sel[col], sel["latency"])
    if not lat.size:
        raise Uncovered(f"{phase} attention grid incomplete")
    return _valid_rows(bs.astype(float), xs.astype(float), lat * scale)


@functools.lru_cache(maxsize=256)
def mla_grid(system, backend, version, phase, kvdt, h_loc):
    """(batch grid, length grid, latency ms) of MLA attention for this rank's query heads (the
    tables are keyed by the heads one rank holds)."""
    df = _mla_table(system, backend, version, phase)
    if df is None:
        raise Uncovered(f"no {phase} MLA table")
    col = "step" if phase == "generation" else "isl"
    sel = df[(df["num_heads"] == h_loc) & (df["kv_cache_dtype"] == kvdt)]
    bs, xs, lat = kernel_tables.pivot_min(sel["batch_size"], sel[col], sel["latency"])
    if not lat.size:
        raise Uncovered(f"{phase} MLA attention with {h_loc} heads per rank, {kvdt} cache, not measured")
    return _valid_rows(bs.astype(float), xs.astype(float), lat)


@functools.lru_cache(maxsize=64)
def mla_bmm_curve(system, backend, version, op, dtype, h_loc):
    """(tokens grid, latency ms) of the absorbed-MLA batched matmul before ('mla_gen_pre': the
    query through W_UK) or after ('mla_gen_post': the output through W_UV) the attention."""
    df = _mla_bmm_table(system, backend, version)
    if df is None:
        raise Uncovered("no MLA bmm table")
    sel = df[(df["op_name"] == op) & (df["bmm_dtype"] == dtype) & (df["num_heads"] == h_loc)]
    if sel.empty:
        raise Uncovered(f"no {dtype} MLA bmm table for {h_loc} heads per rank")
    tokens, lat = kernel_tables.group_min(sel["num_tokens"], sel["latency"])
    return tokens.astype(float), _monotone(lat)


@functools.lru_cache(maxsize=256)
def moe_curve(system, backend, version, mdt, hidden, inter, topk, experts, tp, kernel=None):
    """(tokens grid, latency ms) of the fused MoE layer for this shape (power-law routing where
    measured, else balanced): the kernels named (a table's `kernel_source`: one name or a set of
    names for one kernel), else whichever the table holds (the fastest where it holds several)."""
    df = _moe_table(system, backend, version)
    if df is None:
        raise Uncovered("no MoE table")
    sel = df[
        (df["moe_dtype"] == mdt)
        & (df["hidden_size"] == hidden)
        & (df["inter_size"] == inter)
        & (df["topk"] == topk)
        & (df["num_experts"] == experts)
        & (df["moe_tp_size"] == tp)
        & (df["moe_ep_size"] == 1)
    ]
    names = [] if kernel is None else [kernel] if isinstance(kernel, str) else sorted(kernel)
    if names:
        sel = sel[np.isin(sel["kernel_source"], names)]
    dist = "power_law_1.01" if (sel["distribution"] == "power_law_1.01").any() else "balanced"
    sel = sel[sel["distribution"] == dist]
    if sel.empty:
        what = "/".join(names) + " " if names else ""
        raise Uncovered(
            f"no {mdt} {what}MoE table for hidden {hidden}, expert width {inter}, top-{topk} of {experts}, tp={tp}"
        )
    tokens, lat = kernel_tables.group_min(sel["num_tokens"], sel["latency"])
    return tokens.astype(float), _monotone(lat)


# The MoE kernel SGLang runs for BF16 (unquantized) experts. AIConfigurator's SGLang tables hold several
# kernels for that dtype (B200 0.5.14: FlashInfer's TensorRT-LLM MoE and SGLang's Triton fused MoE;
# H100/H200: Triton and FlashInfer CUTLASS), each shape measured with one of them: without this choice a
# shape was priced with whichever kernel its rows happen to hold. Read from the released wheels on PyPI:
# up to 0.5.7 `UnquantizedFusedMoEMethod.create_moe_runner` (srt/layers/quantization/unquant.py) runs
# `MoeRunnerBackend.TRITON` and `get_moe_impl_class` (srt/layers/moe/ep_moe/layer.py) keeps FlashInfer's
# MoE for quantized experts only ("FlashInferFusedMoE only supports fp8 quant now"); from 0.5.8,
# `server_args.py` sets `moe_runner_backend = "flashinfer_trtllm"` on SM100 for the Qwen3 MoE and
# Qwen3-Next architectures when `quantization is None` (0.5.7 did it for fp8 / modelopt_fp4 only) and
# `get_moe_impl_class` returns `FlashInferFusedMoE`, which calls FlashInfer's `trtllm_bf16_moe`.
# FlashInfer CUTLASS runs only when asked for (`--moe-runner-backend flashinfer_cutlass`).
SGLANG_TRTLLM_BF16_MOE = (
    "0.5.8",
    frozenset({"Qwen3MoeForCausalLM", "Qwen3VLMoeForConditionalGeneration", "Qwen3NextForCausalLM"}),
)
SGLANG_TRITON_MOE = "sglang_fused_moe_triton"
SGLANG_TRTLLM_MOE = "sglang_flashinfer_trtllm_moe"
# vLLM's Triton fused MoE, the kernel SGLang's `fused_moe_triton/fused_moe.py` is adapted from (its
# header names vLLM's `fused_moe.py`): the measurement used where SGLang's table lacks the shape
# (its name up to vLLM 0.22 tables, and in 0.24's modular-kernel naming)
VLLM_TRITON_MOE = frozenset({"vllm_fused_moe", "vllm_unquantizedfusedmoe_triton_tritonexperts"})
BLACKWELL_SYSTEMS = frozenset({"b200_sxm", "b300_sxm", "gb200", "gb300"})


def sglang_moe_kernel(version: str, mdt: str, system: str, hf_architecture: str | None) -> str | None:
    """The `kernel_source` SGLang `version` runs by default for these experts, or None (quantized
    experts: the tables' own kernel). A version that does not parse counts as the oldest release."""
    if mdt != "bfloat16":
        return None
    since, archs = SGLANG_TRTLLM_BF16_MOE
    if system in BLACKWELL_SYSTEMS and hf_architecture in archs and _vkey(version) >= _vkey(since):
        return SGLANG_TRTLLM_MOE
    return SGLANG_TRITON_MOE


@functools.lru_cache(maxsize=256)
def allreduce_curve(system, backend, version, tp):
    """(message grid, latency ms) of one all-reduce over tp GPUs: the engine's custom all-reduce
    (vLLM: the CUDA-graph variant), else NCCL's. The tables' ``message_size`` counts half-precision
    ELEMENTS, not bytes (AIConfigurator's ``query_custom_allreduce(quant_mode, tp_size, size)``
    takes the element count, tokens x hidden, and its speed-of-light time is 2 x size x 2 bytes x
    (tp - 1) / tp / bandwidth); a step's all-reduce of tokens x hidden bf16 activations is looked up
    at tokens x hidden."""
    df = _allreduce_table(system, backend, version) if version else None
    if df is not None and "backend" in df:
        df = df[df["backend"] == "vllm_graph"]
    if df is None or not (df["num_gpus"] == tp).any():
        df = _nccl_table(system)
        if df is None or not (df["num_gpus"] == tp).any():
            raise Uncovered(f"no all-reduce table for {tp} GPUs")
    sel = df[df["num_gpus"] == tp]
    size, lat = kernel_tables.group_min(sel["message_size"], sel["latency"])
    return size.astype(float), _monotone(lat)


@functools.lru_cache(maxsize=64)
def spanning_allreduce_curve(system: str, per_node: int, nodes: int, link_lat_s: float, link_bw: float):
    """(message grid in bf16 elements, latency ms) of one all-reduce over `nodes` machines of
    `per_node` GPUs each, hierarchically (NCCL's tree across machines): the measured NCCL all-reduce
    inside one machine (`per_node` GPUs; the engines' custom all-reduce does not span machines),
    plus one all-reduce between the machines: the link's measured small-message all-reduce time and
    each GPU's 1/per_node share of the message over its own NIC (rail-optimised), there and back
    (2 x share x (nodes - 1) / nodes bytes)."""
    df = _nccl_table(system)
    if df is None or not (df["num_gpus"] == per_node).any():
        raise Uncovered(f"no NCCL all-reduce table for {per_node} GPUs")
    sel = df[df["num_gpus"] == per_node]
    size, lat = kernel_tables.group_min(sel["message_size"], sel["latency"])
    size = size.astype(float)
    share = 2.0 * size * 2.0 / per_node * (nodes - 1) / nodes  # bytes each GPU sends between machines
    return size, _monotone(lat) + (link_lat_s + share / link_bw) * 1e3


@functools.lru_cache(maxsize=16)
def mem_op_constants(system: str) -> tuple[float, float, float]:
    """(memory bandwidth in B/s, the share of it memory-bound operators reach, their constant
    latency in s) as AIConfigurator's own system file states them (``systems/<system>.yaml``:
    ``gpu.mem_bw``, ``mem_bw_empirical_scaling_factor`` 0.8 and ``mem_empirical_constant_latency``
    3 us on every datacenter system, "correction based on observations"). Its model prices the
    element-wise operators no table measures (residual add + RMSNorm, the gated activation) as
    bytes / (mem_bw x share) + constant (``PerfDatabase.query_mem_op``)."""
    text = (_tables().parent / f"{system}.yaml").read_text(encoding="utf-8")

    def num(key: str) -> float:
        hit = re.search(rf"^\s*{key}:\s*([0-9.eE+-]+)", text, re.M)
        if hit is None:
            raise Uncovered(f"{system}.yaml states no {key}")
        return float(hit.group(1))

    return num("mem_bw"), num("mem_bw_empirical_scaling_factor"), num("mem_empirical_constant_latency")


def elementwise_ms(system: str, hidden: int, ffn_width: float, dense_frac: float) -> tuple[float, float]:
    """(fixed ms, ms per token) of one layer's element-wise operators, AIConfigurator's op list for
    a decoder layer (sdk/models/llama.py, moe.py: ``add_norm_1``, ``add_norm_2`` with 2 x hidden
    bf16 values in and out per token, ``act_gate`` on dense FFN layers: 2 x width in, width out),
    each priced as ``mem_op_constants`` says. ``ffn_width`` is the FFN width on this rank."""
    bw, share, lat = mem_op_constants(system)
    ops = 2.0 + dense_frac
    per_token = 2 * (4 * hidden) * 2.0 + dense_frac * 3 * ffn_width * 2.0
    return ops * lat * 1e3, per_token / (bw * share) * 1e3


# Engines whose MoE table times the experts with the routing precomputed: AIConfigurator's vLLM
# collector (collector/vllm/collect_moe.py) passes ready topk_weights / topk_ids to
# `fused_experts`, so the router's top-k kernel (vLLM's `topk_softmax`, launched by `fused_topk`
# in every MoE layer) is in no table; its SGLang collector calls `select_experts` inside the timed
# op, and TensorRT-LLM's fused MoE routes inside its kernel.
ROUTING_OUTSIDE_MOE_TABLE = frozenset({"vllm"})


def routing_ms(system: str, experts: int, topk: int) -> tuple[float, float]:
    """(fixed ms, ms per token) of the MoE router's top-k (softmax over the experts' fp32 logits,
    top-k weights and ids out), one memory-bound operator priced as `elementwise_ms` prices them
    (the fewest kernels any vLLM release launches for it: one `topk_softmax`)."""
    bw, share, lat = mem_op_constants(system)
    per_token = 4.0 * experts + 8.0 * topk
    return lat * 1e3, per_token / (bw * share) * 1e3


# Engines whose attention table leaves out the rotary position embedding the model applies to the
# queries and keys before attention: AIConfigurator's vLLM collector (collector/vllm/collect_attn.py)
# times the attention backend's `impl.forward` on ready q/k/v, its SGLang collector
# (collector/sglang/collect_attn.py) `RadixAttention`'s backend, and both engines' models call
# `self.rotary_emb(positions, q, k)` as a kernel of its own before that; its TensorRT-LLM collector
# builds the attention op with `PositionalEmbeddingParams(rope_gpt_neox)`, so TensorRT-LLM's fused
# attention applies RoPE inside the timed op. (MLA is priced from its own tables; AIConfigurator
# overlaps DeepSeek's RoPE + KV write with the absorbed bmm, so nothing is added there.)
ROPE_OUTSIDE_ATTENTION_TABLE = frozenset({"vllm", "sglang"})
# Engines that run a model's per-head q/k RMSNorm (Qwen3) as kernels of their own, apart from RoPE:
# SGLang's default decode path launches `apply_qk_norm` twice and
# `apply_rope_with_cos_sin_cache_inplace` once per layer (profile of Qwen3-30B-A3B on an H100 in
# sgl-project/sglang PR 22355, 2026-04-08: 480 / 240 kernels; its fused q/k-norm + RoPE kernel, PR
# 13998, is behind `--enable-fused-qk-norm-rope`). vLLM compiles the norms and RoPE with torch.compile
# (its custom ops off by default), which may fuse them into the one operator `rope_ms` prices.
QK_NORM_OUTSIDE_ROPE = frozenset({"sglang"})


def rope_ms(system: str, h_loc: int, kv_loc: int, head_dim: int) -> tuple[float, float]:
    """(fixed ms, ms per token) of the rotary embedding of one layer on one rank: one memory-bound
    operator (the fewest kernels any release of these engines launches for it; Qwen3's per-head q/k
    RMSNorm may add more, which is not counted) over this rank's query and key heads, bf16 read and
    written in place, priced as `elementwise_ms` prices them."""
    bw, share, lat = mem_op_constants(system)
    per_token = 2.0 * (h_loc + kv_loc) * head_dim * 2.0
    return lat * 1e3, per_token / (bw * share) * 1e3


class MeasuredKernels:
    """The measured provider for one step-time model; built once, then each step costs a few look-ups."""

    def __init__(self, sys, system: str, backend: str, version: str, notes: list[str]):
        self.system, self.backend, self.version = system, backend, version
        self.notes = notes
        self.op_versions: dict[str, str] = {}  # the table version each operation was read from
        m, q = sys.model, sys.quant
        tp, pp = sys.tp, sys.pp
        self.layers = m.num_layers / pp
        self.tp = tp
        self.hidden = m.hidden_size
        self.mla = m.attention == "mla"
        if self.mla and sys.memory.mla_expanded:
            raise Uncovered("an MLA cache stored expanded per head is not what the MLA tables measured (latent)")
        if m.sliding_window:
            raise Uncovered("sliding-window attention layers are not mapped yet")
        if sys.ep > 1:
            raise Uncovered("expert parallel (all-to-all tables) is not mapped yet")
        if sys.deployment.offload:
            raise Uncovered("host offload is not in NVIDIA's tables")
        dep = sys.deployment
        self.spans_nodes = dep.nodes > 1 and tp > dep.devices
        if dep.nodes > 1 and (not self.spans_nodes or pp > 1):
            raise Uncovered("pipeline stages over several machines are not mapped yet")
        if self.spans_nodes and dep.link is None:
            raise Uncovered(f"tp={tp} over {dep.nodes} machines of {dep.devices} GPUs without a link to price")
        if self.spans_nodes and tp % dep.devices:
            raise Uncovered(f"tp={tp} is not a whole number of {dep.devices}-GPU machines")
        if sys.deployment.support is not None and sys.deployment.support.emulated:
            raise Uncovered(f"{q.id} is emulated here (support matrix): its weight-only kernels are not in the tables")
        if q.family == "fp8":
            gdt, mdt = "fp8", "fp8"
        elif q.family == "float":
            gdt, mdt = "bfloat16", "bfloat16"
        elif q.family == "mxfp4":
            gdt, mdt = "bfloat16", "w4a16_mxfp4"
        else:
            raise Uncovered(f"{q.id} weights ({q.family}) have no measured kernels")
        gver = self._version("gemm")
        H, KV, hd = m.num_heads, m.num_kv_heads, m.head_dim
        if H % tp:
            raise Uncovered(f"{H} heads not divisible by tp={tp}")
        self.h_loc = H // tp
        self.kv_loc = max(1, KV // tp)
        if self.mla and q.family == "fp8" and _gemm_table(system, backend, gver, "fp8_block"):
            gdt = mdt = "fp8_block"  # DeepSeek's FP8 checkpoints are block-scaled (DeepGEMM in SGLang)
        # per-layer GEMMs (n, k), each over the step's tokens
        if self.mla:  # absorbed MLA (SGLang's DeepseekV2 attention with tp): a replicated fused down-projection
            # of q and kv, q's up-projection and the output projection sharded over the heads
            qk = m.qk_nope_head_dim + m.qk_rope_head_dim
            shapes = [
                (m.q_lora_rank + m.kv_lora_rank + m.qk_rope_head_dim, m.hidden_size),
                (self.h_loc * qk, m.q_lora_rank),
                (m.hidden_size, self.h_loc * m.v_head_dim),
            ]
        else:
            shapes = [((self.h_loc + 2 * self.kv_loc) * hd, m.hidden_size), (m.hidden_size, self.h_loc * hd)]
        self.moe = m.arch == "moe"
        dense_layers = m.first_dense_layers if self.moe else m.num_layers
        ffn = []
        if m.intermediate_size and dense_layers:
            mult = 2 if m.gated_ffn else 1
            ffn = [(mult * m.intermediate_size // tp, m.hidden_size), (m.hidden_size, m.intermediate_size // tp)]
        self.dense_frac = dense_layers / m.num_layers
        # element-wise operators between the GEMMs (no table holds them): AIConfigurator's pricing
        act = self.dense_frac if (m.intermediate_size and dense_layers) else 0.0
        self.ew = elementwise_ms(system, m.hidden_size, (m.intermediate_size or 0) / tp, act)
        if m.arch == "moe" and backend in ROUTING_OUTSIDE_MOE_TABLE:
            fixed, per_tok = routing_ms(system, m.num_experts, m.experts_per_token)
            moe_frac = 1.0 - self.dense_frac
            self.ew = (self.ew[0] + moe_frac * fixed, self.ew[1] + moe_frac * per_tok)
        if not self.mla and backend in ROPE_OUTSIDE_ATTENTION_TABLE:
            fixed, per_tok = rope_ms(system, self.h_loc, self.kv_loc, hd)
            ops = 2.0 if (m.qk_norm and backend in QK_NORM_OUTSIDE_ROPE) else 1.0  # + the q/k norm, fused in one
            self.ew = (self.ew[0] + ops * fixed, self.ew[1] + ops * per_tok)
        curves = [gemm_curve(system, backend, gver, gdt, n, k) for n, k in shapes]
        self.ffn_curves = [gemm_curve(system, backend, gver, gdt, n, k) for n, k in ffn]
        if m.num_shared_experts and self.moe:
            si = m.num_shared_experts * m.moe_intermediate_size
            curves += [
                gemm_curve(system, backend, gver, gdt, 2 * si // tp, m.hidden_size),
                gemm_curve(system, backend, gver, gdt, m.hidden_size, si // tp),
            ]
        self.layer_curves = curves
        # the LM head stays in BF16 in FP8 checkpoints (quantization leaves lm_head out; AIConfigurator
        # prices its logits GEMM as bfloat16 in every model)
        self.head_curve = gemm_curve(system, backend, gver, "bfloat16", m.vocab_size / tp, m.hidden_size)
        self.gemm_version = gver
        # attention tables
        kvdt = "fp8" if sys.deployment.kv_dtype == "fp8" else "bfloat16"
        if self.mla:
            aver = self._version("mla")
            self.gen = mla_grid(system, backend, aver, "generation", kvdt, self.h_loc)
            self.ctx = mla_grid(system, backend, aver, "context", kvdt, self.h_loc)
            bver = self._version("mla_bmm")
            bdt = "fp8" if q.family == "fp8" else "bfloat16"
            curves += [
                mla_bmm_curve(system, backend, bver, op, bdt, self.h_loc) for op in ("mla_gen_pre", "mla_gen_post")
            ]
        else:
            aver = self._version("attention")
            self.gen = self._attn_grid(system, backend, aver, "generation", hd, kvdt)
            self.ctx = self._attn_grid(system, backend, aver, "context", hd, kvdt)
        if not self.gen[1] or not self.ctx[1]:
            raise Uncovered("attention tables have too few points for these heads")
        self.ctx_max = float(max(v[1][-1] for v in self.ctx[1]))
        # one sequence's context attention against its length, tabulated on the measured lengths
        xs = np.unique(np.concatenate([v[1] for v in self.ctx[1]]))
        xs = xs[xs <= self.ctx_max]
        self._ctx1 = (xs.tolist(), [self._ctx_ms(1.0, float(x)) for x in xs])
        self.attn_coef = sys.attn_full_coef / tp  # FLOPs per (query, key) pair, this rank's heads
        self.kv_per_token = sys.kv_full_per_token
        # MoE
        self.moe_curve = None
        if self.moe:
            mver = self._version("moe")
            shape = (m.hidden_size, m.moe_intermediate_size, m.experts_per_token, m.num_experts, tp)
            kernel = None
            if backend == "sglang":  # the kernel the asked-for release runs (else the tables' own)
                kernel = sglang_moe_kernel(version or mver or "0", mdt, system, m.hf_architecture)
                if version and kernel and _vkey(version) == _vkey("0"):
                    self.notes.append(f"engine version {version!r} is not a release number: MoE kernel of the oldest")
            try:
                self.moe_curve = moe_curve(system, backend, mver, mdt, *shape, kernel=kernel)
            except Uncovered:
                if kernel == SGLANG_TRITON_MOE:
                    self.moe_curve = self._vllm_triton_moe(system, mdt, shape)
                elif mdt != "fp8_block":
                    raise
                else:
                    self.moe_curve = moe_curve(system, backend, mver, "fp8", *shape)  # per-tensor FP8 experts
        # all-reduce
        self.ar_curve = None
        if self.spans_nodes:  # one TP group over several machines (SGLang's `--tp 16 --nnodes 2`)
            link = dep.link
            lat = link.allreduce_latency_us.value * 1e-6 if link.allreduce_latency_us else link.latency_us.value * 1e-6
            self.ar_curve = spanning_allreduce_curve(
                system, dep.devices, tp // dep.devices, lat, link.effective_gbs * 1e9
            )
            self.op_versions["comm"] = f"NCCL x{dep.devices} + {link.id}"
        elif tp > 1:
            cver = self._version("comm", required=False)
            self.ar_curve = allreduce_curve(system, backend, cver, tp)
        if self.moe:  # the router: a small GEMM onto the experts' logits
            self.layer_curves.append(gemm_curve(system, backend, gver, "bfloat16", m.num_experts, m.hidden_size))
        self.overhead_s = sys.eff.step_overhead_ms * 1e-3 / pp  # ours: the engine's per-step cost
        self._build_layer_curve()
        self._gen_cache: dict = _shared_gen_cache(self.gen)

    def _version(self, op: str, required: bool = True) -> str | None:
        vs = _versions(self.system, op, self.backend)
        if not vs:
            if required:
                raise Uncovered(f"no {op} tables for {self.backend} on {self.system}")
            return None
        v, note = pick_version(list(vs), self.version)
        if note and op == "gemm":
            self.notes.append(note)
        self.op_versions[op] = v
        return v

    def _vllm_triton_moe(self, system: str, mdt: str, shape: tuple):
        """SGLang's Triton fused MoE at a shape its table lacks: vLLM's Triton fused MoE (the kernel it
        is adapted from) measured on the same GPU, the newest vLLM table holding the shape."""
        for v in reversed(_versions(system, "moe", "vllm")):
            try:
                curve = moe_curve(system, "vllm", v, mdt, *shape, kernel=VLLM_TRITON_MOE)
            except Uncovered:
                continue
            self.op_versions["moe"] = f"vllm {v} Triton"
            return curve
        raise Uncovered(f"no {mdt} Triton fused-MoE table (SGLang's or vLLM's) for this shape on {system}")

    def _attn_grid(self, system, backend, version, phase, hd, kvdt):
        return attn_grid(system, backend, version, phase, hd, kvdt, self.h_loc, self.kv_loc)

    # ------------------------------------------------------------------ look-ups (ms)

    def _layer_ms_exact(self, tokens):
        """One layer's token-count-dependent work, ms: GEMMs, MoE, all-reduces (each table
        interpolated on its own grid) and the element-wise operators (affine in the tokens)."""
        per_layer = sum(_interp(tokens, ms, lat) for ms, lat in self.layer_curves)
        per_layer = per_layer + (self.ew[0] + self.ew[1] * tokens)  # affine: exact on any grid
        per_layer = per_layer + self.dense_frac * sum(_interp(tokens, ms, lat) for ms, lat in self.ffn_curves)
        if self.moe_curve is not None:
            per_layer = per_layer + (1 - self.dense_frac) * _interp(tokens, *self.moe_curve)
        if self.ar_curve is not None:
            per_layer = per_layer + 2 * _interp(tokens * self.hidden, *self.ar_curve)
        return per_layer

    def _build_layer_curve(self) -> None:
        """The sum of piecewise-linear look-ups is piecewise linear on the union of their grids:
        tabulate it once there, so a step costs one interpolation (exact inside the grids)."""
        grids = [ms for ms, _ in self.layer_curves + self.ffn_curves]
        if self.moe_curve is not None:
            grids.append(self.moe_curve[0])
        if self.ar_curve is not None:
            grids.append(self.ar_curve[0] / self.hidden)
        xs = np.unique(np.concatenate(grids))
        xs = xs[xs >= 1.0]
        self.layer_curve = (xs, np.asarray(self._layer_ms_exact(xs), dtype=float))
        self.layer_curve_l = (xs.tolist(), self.layer_curve[1].tolist())
        self.head_curve_l = (self.head_curve[0].tolist(), self.head_curve[1].tolist())

    def _gemm_ms(self, tokens: float, n_seqs: float) -> float:
        return _interpl(tokens, *self.layer_curve_l) * self.layers + _interpl(n_seqs, *self.head_curve_l)

    def _gen_curve(self, n: float):
        """Generation attention against context for a batch of n: the blend of the measured batch
        rows around n, tabulated on the union of their context grids (exact: a blend of piecewise
        linear look-ups is piecewise linear there). Cached per n."""
        c = self._gen_cache.get(n)
        if c is None:
            rows = [(w * sc, xs, ys) for w, sc, (xs, ys) in _rows_at(self.gen, n)]
            grid = np.unique(np.concatenate([xs for _, xs, _ in rows]))
            val = sum(w * _interp(grid, xs, ys) for w, xs, ys in rows)
            c = (grid, np.asarray(val, dtype=float), grid.tolist(), np.asarray(val, dtype=float).tolist())
            if len(self._gen_cache) < 10_000:
                self._gen_cache[n] = c
        return c

    def _gen_ms(self, n: float, ctx):
        xs, ys, xl, yl = self._gen_curve(n)
        if isinstance(ctx, np.ndarray):
            return _interp(ctx, xs, ys)
        return _interpl(ctx, xl, yl)

    def _ctx_equiv_ms(self, attn: float) -> float:
        """Context attention of one fresh sequence doing `attn` FLOPs (whole model): length
        s = sqrt(2 attn / coef); beyond the measured lengths the time grows with the FLOPs (s^2)."""
        coef = self.attn_coef * self.tp
        if attn <= 0 or coef <= 0:
            return 0.0
        s = math.sqrt(2.0 * attn / coef)
        xs, ys = self._ctx1
        if s > self.ctx_max:
            return _interpl(self.ctx_max, xs, ys) * (s / self.ctx_max) ** 2
        return _interpl(s, xs, ys)

    def _ctx_ms(self, n: float, s: float) -> float:
        return float(sum(w * sc * _interp1(s, xs, ys) for w, sc, (xs, ys) in _rows_at(self.ctx, n)))

    def stage(self, n, tokens, kv, attn):
        """GPU time of one (micro-)batch through one pipeline stage, seconds (numpy-aware).

        Decode steps (one new token per sequence): the generation table at the batch and mean
        context. Prefill chunks, possibly mixed with decodes: the context table's time for one
        fresh sequence with the same attention FLOPs, plus the batch's KV reads at the generation
        table's speed (the decodes' part)."""
        if isinstance(kv, np.ndarray) or isinstance(attn, np.ndarray):
            return self._stage_vec(n, tokens, kv, attn)
        n = float(n)
        if n < 1.0:
            n = 1.0
        tokens = float(tokens)
        xl, yl = self.layer_curve_l
        hx, hy = self.head_curve_l
        g = _interpl(tokens, xl, yl) * self.layers + _interpl(n, hx, hy)
        ctx = float(kv) / (n * self.kv_per_token) if self.kv_per_token else 1.0
        c = self._gen_cache.get(n) or self._gen_curve(n)
        a = _interpl(ctx, c[2], c[3])
        if tokens > n + 1e-9:
            a += self._ctx_equiv_ms(float(attn))
        return (g + a * self.layers) * 1e-3 + self.overhead_s

    def _stage_vec(self, n, tokens, kv, attn) -> np.ndarray:
        if isinstance(tokens, np.ndarray) or isinstance(n, np.ndarray):
            return np.array(
                [self.stage(float(a), float(b), float(c), float(d)) for a, b, c, d in np.broadcast(n, tokens, kv, attn)]
            )
        n = max(float(n), 1.0)
        tokens = float(tokens)
        g = self._gemm_ms(tokens, n)
        ctx = np.asarray(kv, dtype=float) / (n * self.kv_per_token) if self.kv_per_token else np.ones_like(kv)
        a = self._gen_ms(n, ctx)
        if tokens > n + 1e-9:
            a = a + np.vectorize(self._ctx_equiv_ms, otypes=[float])(attn)
        return np.asarray((g + a * self.layers) * 1e-3 + self.overhead_s, dtype=float) + np.zeros(np.shape(kv))

    def label(self) -> str:
        """Names the tables' version (the GEMMs'); an operation read from another version (the
        nearest one holding its table) is named too, e.g. "(all-reduce 0.5.9)"."""
        other = [f"{_OP_NAMES.get(op, op)} {v}" for op, v in self.op_versions.items() if v != self.gemm_version]
        extra = f" ({', '.join(other)})" if other else ""
        return f"measured NVIDIA kernels, {self.backend} {self.gemm_version}, {self.system}{extra}"


_OP_NAMES = {"comm": "all-reduce", "mla_bmm": "MLA bmm", "mla": "MLA", "moe": "MoE"}


def attach(sys) -> tuple[MeasuredKernels | None, str]:
    """The provider a step-time model (planner.model.perf.StepTimeModel) uses and the note naming it
    (called when it is built)."""
    mode = requested_mode()
    roof = f"calibrated roofline ({sys.eff_label})"
    if mode == "roofline":
        return None, roof
    hw = sys.deployment.hw
    mapping = getattr(hw, "aiconfigurator_system", None)
    system = mapping.value if mapping is not None else None
    backend = BACKENDS.get(sys.engine.id)
    why = None
    if system is None:
        why = f"{hw.id} is not mapped to an NVIDIA AIConfigurator system"
    elif backend is None:
        why = f"{sys.engine.id} has no NVIDIA measured-kernel tables"
    elif data_root() is None:
        why = "NVIDIA's tables are not installed (pip install 'inference-planner[nvidia-data]')"
    if why is None and mode == "auto":
        verdict = class_choices().get(f"{sys.engine.id}:{hw.family}")
        if verdict == "roofline":
            why = f"the roofline wins on this class's measurements ({CHOICES_FILE.name})"
    if why is None:
        notes: list[str] = []
        wanted = sys.deployment.engine_version
        try:
            mk = MeasuredKernels(sys, system, backend, wanted, notes)
        except Uncovered as exc:
            why = f"NVIDIA's {system} tables do not cover it: {exc}"
        except (OSError, KeyError, ValueError) as exc:  # an unreadable or reshaped table: say so, use ours
            why = f"NVIDIA's {system} tables could not be read ({type(exc).__name__}: {exc})"
        else:
            label = mk.label()
            if wanted is None:
                label += " (newest measured version; ask for one with --engine-version)"
            return mk, label + ("; " + "; ".join(notes) if notes else "")
    return None, f"{roof}; {why}"
