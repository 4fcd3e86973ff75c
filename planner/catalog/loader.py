"""The catalog: hardware, models, quantization formats and engines loaded from
data files in ``profiles/`` (TOML), validated with pydantic.

Every figure is a :class:`Figure`: a value plus either a ``source`` (URL or
document) or a ``derived`` note saying what arithmetic on sourced figures
produced it.  Users add their own profiles in a directory given with
``--profiles DIR`` or the ``PLANNER_PROFILES`` environment variable; those are
loaded on top of the built-ins (same id replaces the built-in one).
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from planner.errors import CatalogError, validation_field
from planner.paths import builtin as _builtin

BUILTIN_DIR = _builtin("profiles")  # package data (planner.paths)
ENV_VAR = "PLANNER_PROFILES"
KINDS = ("hardware", "models", "quants", "engines", "interconnects", "hosts", "systems", "chassis")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# Sites that copy figures from elsewhere (aggregators, RSS readers, proxies, bare IP addresses): a figure
# or price citing one must say confidence = "low" with the reason (tests/test_catalog.py checks it)
AGGREGATOR_DOMAINS = (
    "awesomeagents.ai",
    "willitrunai.com",
    "voozh.deno.dev",
    "inforeader.com",
    "unanswered.io",
    "aiwiki.ai",
    "grokipedia.com",
    "gpu.blog",
    "runlocalai.co",
)
_BARE_IP = r"https?://\d{1,3}(?:\.\d{1,3}){3}"

Confidence = Literal["high", "medium", "low"]


def cites_aggregator(text: str | None) -> str | None:
    """The aggregator domain (or bare-IP address) that `text` cites, or None."""
    if not text:
        return None
    low = text.lower()
    hit = next((d for d in AGGREGATOR_DOMAINS if d in low), None)
    if hit:
        return hit
    m = re.search(_BARE_IP, low)
    return m.group(0) if m else None


def _check_confidence(obj) -> None:
    if obj.confidence == "low" and not obj.confidence_note:
        raise ValueError("confidence = 'low' needs confidence_note (why the figure is weak)")


class Figure(_Strict):
    """A number with its provenance; `confidence` = "low" (with `confidence_note`) marks a weak source."""

    value: float
    source: str | None = None
    derived: str | None = None
    note: str | None = None
    confidence: Confidence | None = None
    confidence_note: str | None = None

    @model_validator(mode="after")
    def _needs_provenance(self) -> "Figure":
        if not (self.source or self.derived):
            raise ValueError("every figure needs 'source' (URL or document) or 'derived' (how it was computed)")
        _check_confidence(self)
        if not math.isfinite(self.value) or self.value < 0:
            raise ValueError(f"value must be a finite number >= 0, got {self.value}")
        return self


# --------------------------------------------------------------------------- hardware

# fp16 is FP16 with FP32 accumulate; fp16_acc16 is FP16 with FP16 accumulate, listed only where it
# differs (GeForce cards run FP32 accumulate at half the FP16-accumulate rate)
DTYPES = ("fp32", "fp16", "fp16_acc16", "bf16", "fp8", "int8", "fp4")


class Price(_Strict):
    usd: float = Field(gt=0)
    memory_gb: float | None = None  # the configuration priced, where sizes differ
    date: str
    kind: Literal["list", "street", "estimate"]
    source: str
    note: str | None = None
    confidence: Confidence | None = None
    confidence_note: str | None = None

    @model_validator(mode="after")
    def _why_low(self) -> "Price":
        _check_confidence(self)
        return self


class Interconnect(_Strict):
    name: str
    bandwidth_gbs: Figure  # per device, one direction
    latency_us: Figure | None = None


class Arch(_Strict):
    """A GPU architecture: NVIDIA compute capability (sm90), AMD LLVM target (gfx942) or Apple GPU family
    (apple9). The support matrix (profiles/support) is keyed by these ids."""

    id: str
    name: str
    source: str
    note: str | None = None


class ExternalId(_Strict):
    """Another project's name for one of our entries, with where it comes from."""

    value: str
    source: str
    note: str | None = None


class Hardware(_Strict):
    id: str
    aliases: list[str] = []
    name: str
    vendor: Literal["apple", "nvidia", "amd"]
    family: str  # chip generation, e.g. apple-m2, nvidia-ada (used for leave-one-family-out)
    arch: Arch | None = None  # GPU architecture (support matrix key); None: support is not checked
    memory: Literal["unified", "discrete"]
    memory_gb: list[float]  # sizes sold (Apple) or the fixed size (GPUs)
    memory_source: str
    memory_bandwidth_gbs: Figure
    gpu_cores: int | None = None
    tflops: dict[str, Figure]  # dense matmul throughput per dtype
    power_max_w: Figure
    power_idle_w: Figure | None = None
    interconnect: Interconnect | None = None
    # discrete GPUs: memory the driver/runtime keeps (CUDA context etc.)
    runtime_reserve_gb: Figure | None = None
    # unified-memory machines: the platform profile that limits GPU memory (e.g. macos)
    platform: str | None = None
    # the interconnect profile (profiles/interconnects) between devices of one machine
    link: str | None = None
    # NVIDIA AIConfigurator's system whose measured operator tables price this device's steps
    aiconfigurator_system: ExternalId | None = None
    prices: list[Price] = []
    notes: str | None = None

    @field_validator("memory_bandwidth_gbs")
    @classmethod
    def _real_bandwidth(cls, v: Figure) -> Figure:
        # below 0.1 GB/s no device runs a model; a denormal like 5e-324 made every time infinite
        if not 0.1 <= v.value <= 1e6:
            raise ValueError(f"memory bandwidth must be between 0.1 and 1,000,000 GB/s, got {v.value:g}")
        return v

    @field_validator("tflops")
    @classmethod
    def _known_dtypes(cls, v: dict[str, Figure]) -> dict[str, Figure]:
        tiny = sorted(k for k, f in v.items() if not 1e-3 <= f.value <= 1e6)
        if tiny:
            raise ValueError(f"TFLOPS of {tiny} must be between 0.001 and 1,000,000")
        bad = sorted(set(v) - set(DTYPES))
        if bad:
            raise ValueError(f"unknown dtype(s) {bad}; expected some of {list(DTYPES)}")
        if not (set(v) & {"fp16", "bf16", "fp32"}):
            raise ValueError("at least one of fp16, bf16 or fp32 throughput is required")
        return v

    @field_validator("memory_gb")
    @classmethod
    def _sizes(cls, v: list[float]) -> list[float]:
        if not v or any(x <= 0 for x in v):
            raise ValueError("memory_gb must list at least one size > 0")
        if any(not x <= 100_000 for x in v):  # as a scenario's custom device (sim.scenario): no absurd sizes
            raise ValueError("memory_gb sizes must be at most 100,000 GB per device")
        return sorted(v)

    def peak_tflops(self, dtype: str) -> float | None:
        f = self.tflops.get(dtype)
        return f.value if f else None

    def price_for(self, memory_gb: float) -> Price | None:
        exact = [p for p in self.prices if p.memory_gb in (None, memory_gb)]
        return exact[0] if exact else None


class Link(_Strict):
    """An interconnect profile (profiles/interconnects): between GPUs or between machines."""

    id: str
    aliases: list[str] = []
    name: str
    kind: Literal["nvlink", "pcie", "thunderbolt", "ethernet", "infiniband", "infinity-fabric"]
    bandwidth_gbs: Figure  # per device, one direction, GB/s
    measured_gbs: Figure | None = None  # what software reaches over it, where measured
    latency_us: Figure  # small-message latency as collectives see it
    # a whole small-message all-reduce between machines over this link (what a collective spanning
    # machines pays on top of the devices' own link), where measured; else latency_us stands in
    allreduce_latency_us: Figure | None = None
    notes: str | None = None

    @property
    def effective_gbs(self) -> float:
        return self.measured_gbs.value if self.measured_gbs else self.bandwidth_gbs.value


class Host(_Strict):
    """A CPU host platform whose RAM can hold offloaded weights (profiles/hosts)."""

    id: str
    aliases: list[str] = []
    name: str
    memory_gb_options: list[float]
    memory_source: str
    memory_bandwidth_gbs: Figure
    achieved_bandwidth_gbs: Figure | None = None
    cpu_tflops: Figure
    cores: int = Field(gt=0)
    pcie: str | None = None
    power_w: Figure
    prices: list[Price] = []  # CPU (+ board + RAM where the note says so)
    notes: str | None = None

    @field_validator("memory_gb_options")
    @classmethod
    def _sizes(cls, v: list[float]) -> list[float]:
        if not v or any(x <= 0 for x in v):
            raise ValueError("memory_gb_options must list at least one size > 0")
        return sorted(v)


class SystemPrice(_Strict):
    usd: float = Field(gt=0)
    date: str
    kind: Literal["list", "street", "estimate"]
    source: str | None = None
    derived: str | None = None
    note: str | None = None


class SystemProfile(_Strict):
    """A whole machine or cluster to compare (profiles/systems): devices x nodes over a link."""

    id: str
    aliases: list[str] = []
    name: str
    hardware: str
    memory_gb: float
    devices: int = Field(1, ge=1, le=64)
    nodes: int = Field(1, ge=1, le=64)
    link: str | None = None
    host: str | None = None
    host_memory_gb: float | None = None
    system_power_w: Figure | None = None
    prices: list[SystemPrice] = []
    notes: str | None = None


class Chassis(_Strict):
    """The machine around discrete cards (profiles/chassis): a workstation or server with CPU, RAM, PSU and
    networking, priced without its cards.  A discrete-GPU option is bought as cards + chassis."""

    id: str
    aliases: list[str] = []
    name: str
    kind: Literal["workstation", "server"]
    max_devices: int = Field(ge=1, le=64)
    hardware: list[str] = Field(min_length=1, description="device ids this chassis holds")
    includes: str
    power_w: Figure  # the chassis without its cards, at load
    power_idle_w: Figure | None = None
    prices: list[SystemPrice] = Field(min_length=1)
    confidence: Literal["high", "medium", "low"] = "medium"
    notes: str | None = None


class MemoryLimitRule(_Strict):
    up_to_memory_gb: float | None = None  # applies when memory <= this (None: any size)
    fraction: float = Field(gt=0, le=1)


class Platform(_Strict):
    """An operating-system limit on how much unified memory the GPU may wire."""

    id: str
    name: str
    gpu_limit_rules: list[MemoryLimitRule]
    override_setting: str  # e.g. iogpu.wired_limit_mb
    os_reserve_gb: Figure  # memory to leave to the OS when raising the limit
    source: str
    notes: str | None = None

    def default_limit_gb(self, memory_gb: float) -> float:
        for rule in self.gpu_limit_rules:
            if rule.up_to_memory_gb is None or memory_gb <= rule.up_to_memory_gb:
                return memory_gb * rule.fraction
        return memory_gb * self.gpu_limit_rules[-1].fraction


# --------------------------------------------------------------------------- models


class Model(_Strict):
    id: str
    aliases: list[str] = []
    name: str
    arch: Literal["dense", "moe"]
    attention: Literal["mha", "gqa", "mla"]
    num_layers: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    num_heads: int = Field(gt=0)
    num_kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    intermediate_size: int = Field(ge=0)  # dense FFN width (0 when every layer is MoE)
    vocab_size: int = Field(gt=0)
    tied_embeddings: bool = False
    max_context: int = Field(gt=0)
    gated_ffn: bool = True  # SwiGLU: gate, up, down
    qk_norm: bool = False  # per-head RMSNorm of queries and keys before RoPE (Qwen3)
    # the model class its Hugging Face config names (`architectures`), which engines key defaults on
    hf_architecture: str | None = None
    # MoE
    num_experts: int = 0
    experts_per_token: int = 0
    num_shared_experts: int = 0
    moe_intermediate_size: int = 0
    first_dense_layers: int = 0  # leading layers with a dense FFN (DeepSeek first_k_dense_replace)
    # MLA (DeepSeek)
    q_lora_rank: int = 0
    kv_lora_rank: int = 0
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    # sliding-window attention
    sliding_window: int = 0
    sliding_window_layers: int = 0  # how many layers use the window
    native_dtype: str = "bf16"
    published_total_params_b: Figure
    published_active_params_b: Figure | None = None
    sources: list[str]
    notes: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "Model":
        if self.arch == "moe" and not (self.num_experts and self.experts_per_token and self.moe_intermediate_size):
            raise ValueError("a moe model needs num_experts, experts_per_token and moe_intermediate_size")
        if self.attention == "mla" and not (self.kv_lora_rank and self.qk_rope_head_dim):
            raise ValueError("an mla model needs kv_lora_rank and qk_rope_head_dim")
        if self.num_heads % self.num_kv_heads:
            raise ValueError("num_heads must be a multiple of num_kv_heads")
        if self.sliding_window_layers > self.num_layers:
            raise ValueError("sliding_window_layers cannot exceed num_layers")
        return self


# --------------------------------------------------------------------------- quantization


class Quality(_Strict):
    """What a format costs in model quality against the 16-bit model: a published perplexity or accuracy
    delta with its source, or 'none known'."""

    note: str
    source: str | None = None
    derived: str | None = None

    @model_validator(mode="after")
    def _sourced(self) -> "Quality":
        if not (self.source or self.derived or self.note.lower().startswith("none known")):
            raise ValueError("a quality note needs 'source' (or 'derived'), or must start with 'none known'")
        return self


class Quant(_Strict):
    id: str
    aliases: list[str] = []
    name: str
    family: Literal["float", "gguf", "mlx", "fp8", "mxfp4", "fp4"]
    bits_per_weight: Figure  # file-level effective bits for the tensors it applies to
    applies_to: Literal["all", "experts"] = "all"
    other_bits_per_weight: float = 16.0  # tensors it does not apply to (applies_to = experts)
    # compute dtype preference: the first one the hardware has tensor throughput for is used
    compute_dtypes: list[str] = ["fp16"]
    kv_cache_dtypes: list[str] = ["f16"]
    engines: list[str]  # engines that load this format
    quality: Quality | None = None
    notes: str | None = None


class KVDtype(_Strict):
    id: str
    bytes_per_element: Figure
    quality: Quality | None = None


# --------------------------------------------------------------------------- support matrix


class RunsOn(_Strict):
    archs: list[str] = Field(min_length=1)
    min_version: str | None = None
    source: str = Field(min_length=1)
    note: str | None = None


class SupportRule(_Strict):
    """Which formats (weights: quant ids; kv_cache: KV dtype ids) an engine runs on which architectures,
    natively (low-precision math on the hardware), emulated (stored in the format, dequantized and multiplied
    at `compute`, a 16-bit dtype) or not at all."""

    archs: list[str] = Field(min_length=1)
    formats: list[str] = Field(min_length=1)
    support: Literal["native", "emulated", "unsupported"]
    models: Literal["any", "dense", "moe"] = "any"
    compute: Literal["fp16", "bf16"] | None = None  # emulated weights: the dtype the matmuls run in
    min_version: str | None = None
    source: str = Field(min_length=1)
    note: str | None = None


class SupportMatrix(_Strict):
    """One engine's support matrix (profiles/support/<engine>.toml); rules are read in order, the first
    that matches decides; a pair no rule names is unsupported."""

    engine: str
    checked_version: str
    version_source: str = Field(min_length=1)
    runs_on: list[RunsOn] = Field(min_length=1)
    weights: list[SupportRule] = []
    kv_cache: list[SupportRule] = []
    notes: str | None = None


# --------------------------------------------------------------------------- engines


class Efficiency(_Strict):
    """Fitted step-time parameters for one engine on one hardware class."""

    bandwidth_efficiency: float = Field(gt=0, le=1.2)
    compute_efficiency: float = Field(gt=0, le=1.2)
    step_overhead_ms: float = Field(ge=0)
    layer_overhead_us: float = Field(ge=0)
    quantized_compute_penalty: float = Field(default=0.0, ge=0)  # extra share of compute time for dequantizing
    # matmuls over few tokens (decode batches) reach a smaller share of peak: at T tokens the
    # efficiency is compute_efficiency x (r + (1 - r)(1 - exp(-T / knee))); r = 1 turns it off
    small_batch_efficiency_ratio: float = Field(default=1.0, gt=0, le=1)
    small_batch_knee_tokens: float = Field(default=64.0, gt=0)
    # fixed cost of a request before its first token beyond the prefill step (API server,
    # tokenisation, scheduling): added to TTFT only; fitted where first-token latencies are measured
    request_overhead_ms: float = Field(default=0.0, ge=0)
    fitted_on_rows: int = 0
    provenance: str


class CudaGraphs(_Strict):
    """Decode batches the engine captures as CUDA graphs; with padding, a decode batch of n
    sequences runs as the smallest captured size >= n (the padded rows cost compute, no KV)."""

    sizes: list[int] = Field(min_length=1)
    padding: bool = True
    source: str


class CpuOverhead(_Strict):
    """Per-step CPU work (scheduling, input preparation, sampling) that grows with the batch:
    per_seq_us for every running sequence beyond the first (the batch-1 share is inside the
    calibrated step overhead). overlap: the engine prepares step n+1 while the GPU runs step n,
    so this work costs time only where it exceeds the GPU step."""

    per_seq_us: Figure
    overlap: bool = False
    source: str


class EagerPrefill(_Strict):
    """Prefill (extend) steps the engine runs eagerly, outside CUDA graphs: the host dispatches
    every operator of every layer, so a step that carries prompt tokens takes at least
    layers x layer_us (the GPU work runs under that dispatch; the longer of the two sets the
    step). Decode steps replay captured graphs and are not affected."""

    layer_us: Figure
    source: str


class MemoryDefaults(_Strict):
    """Scheduler defaults an engine picks from the GPU's memory (per device, GiB as sold):
    applies when min_gib <= memory < max_gib and the hardware id contains none of except_ids."""

    min_gib: float = 0.0
    max_gib: float | None = None
    except_ids: list[str] = []
    max_num_seqs: int | None = Field(default=None, gt=0)
    max_num_batched_tokens: int | None = Field(default=None, gt=0)
    cuda_graph_max_bs: int | None = Field(default=None, gt=0)
    source: str


class Serving(_Strict):
    """Serving mechanisms of an engine, each switchable off in a scenario (scheduler.*)."""

    by_memory: list[MemoryDefaults] = []  # first match wins; the top-level values otherwise
    cpu: CpuOverhead | None = None
    cuda_graphs: CudaGraphs | None = None
    eager_prefill: EagerPrefill | None = None
    # prefill chunks share a step with the running decodes (vLLM, TensorRT-LLM); false: a prefill
    # batch runs on its own and the decode batch after it (SGLang without --enable-mixed-chunk)
    mixed_batches: bool = True
    mixed_batches_source: str | None = None
    prefix_caching: bool = False
    prefix_caching_source: str | None = None
    # how a DeepSeek MLA cache is stored: the compressed latent (kv_lora_rank + rope dims per
    # layer) or expanded to per-head K and V (as for multi-head attention)
    mla_cache: Literal["latent", "expanded"] = "latent"
    mla_cache_source: str | None = None


class Engine(_Strict):
    id: str
    aliases: list[str] = []
    name: str
    source: str
    vendors: list[Literal["apple", "nvidia", "amd"]]
    batching: Literal["continuous", "slots", "static", "serial"]
    paged_kv: bool
    kv_block_size: int = Field(default=16, gt=0)
    max_num_seqs: int = Field(default=256, gt=0)
    max_num_batched_tokens: int = Field(default=8192, gt=0)
    chunked_prefill: bool = False
    n_parallel: int = Field(default=1, gt=0)
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    activation_overhead_gb: Figure  # workspace/compute buffers beyond weights and KV
    # FP16 GEMMs accumulate in FP16 (llama.cpp's cuBLAS path): the fp16_acc16 rate applies where listed
    fp16_accumulate: bool = False
    calibration: dict[str, Efficiency] = {}  # keyed by hardware class (see planner.model.perf.hw_class)
    calibration_from: str | None = None  # borrow another engine's calibration when it has none
    serving: Serving = Serving()  # serving mechanisms (planner.sim.engine), each with its source
    calibrated_versions: list[str] = []  # set from its calibration file: the engine versions its fit models
    # how the engine splits a model over several machines by default: "pp" (tensor parallel inside a
    # machine, pipeline stages across machines) or "tp" (one tensor-parallel group over every device)
    multi_node_parallel: Literal["pp", "tp"] = "pp"
    multi_node_source: str | None = None
    notes: str | None = None


class CalibrationFile(_Strict):
    """Fitted efficiency parameters for one engine, written by `python -m planner calibrate`."""

    engine: str
    generated_by: str
    data: str  # the measurements file and its sha256
    engine_versions: list[str] = []  # engine builds/releases of the rows behind the fit
    classes: dict[str, Efficiency]  # hardware family, vendor, or "default" (pooled over all hardware)


class Catalog:
    """Loaded, validated profiles, with id/alias resolution."""

    def __init__(
        self,
        hardware,
        models,
        quants,
        engines,
        platforms,
        kv_dtypes,
        origins,
        interconnects=None,
        hosts=None,
        systems=None,
        support=None,
        chassis=None,
    ):
        self.chassis: dict[str, Chassis] = chassis or {}
        self.support: dict[str, SupportMatrix] = support or {}
        self.interconnects: dict[str, Link] = interconnects or {}
        self.hosts: dict[str, Host] = hosts or {}
        self.systems: dict[str, SystemProfile] = systems or {}
        self.hardware: dict[str, Hardware] = hardware
        self.models: dict[str, Model] = models
        self.quants: dict[str, Quant] = quants
        self.engines: dict[str, Engine] = engines
        self.platforms: dict[str, Platform] = platforms
        self.kv_dtypes: dict[str, KVDtype] = kv_dtypes
        self.origins: dict[tuple[str, str], Path] = origins
        self._alias: dict[str, dict[str, str]] = {}
        for kind in KINDS:
            table: dict[str, str] = {}
            for pid, prof in getattr(self, kind).items():
                table[pid.lower()] = pid
                for a in prof.aliases:
                    table[a.lower()] = pid
            self._alias[kind] = table

    def resolve(self, kind: str, ident: str, field: str | None = None) -> str:
        table = self._alias[kind]
        key = (ident or "").strip().lower()
        if key in table:
            return table[key]
        close = difflib.get_close_matches(key, list(table), n=8, cutoff=0.5)
        ids = list(dict.fromkeys(table[c] for c in close))[:3]  # aliases of one id count once
        hint = f" Did you mean: {', '.join(ids)}?" if ids else ""
        name = field or kind
        raise CatalogError(f"unknown {name} id '{ident}'.{hint} (`python -m planner catalog {kind}` lists them)")

    def get(self, kind: str, ident: str, field: str | None = None):
        return getattr(self, kind)[self.resolve(kind, ident, field)]


_SCHEMAS = {
    "hardware": Hardware,
    "models": Model,
    "quants": Quant,
    "engines": Engine,
    "platforms": Platform,
    "kv_dtypes": KVDtype,
    "calibration": CalibrationFile,
    "interconnects": Link,
    "hosts": Host,
    "systems": SystemProfile,
    "chassis": Chassis,
    "support": SupportMatrix,
}


def _format_validation(path: Path, err: ValidationError) -> str:
    lines = [f"bad profile file {path}:"]
    for e in err.errors():
        lines.append(f"  field '{validation_field(e['loc'], '(file)', indices=True)}': {e['msg']}")
    return "\n".join(lines)


def _load_dir(root: Path, out: dict, origins: dict) -> None:
    for kind, schema in _SCHEMAS.items():
        d = root / kind
        if not d.is_dir():
            continue
        for path in sorted(d.glob("*.toml")):
            try:
                with path.open("rb") as fh:
                    data = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise CatalogError(f"bad profile file {path}: not valid TOML ({exc})") from None
            except UnicodeDecodeError as exc:
                raise CatalogError(
                    f"bad profile file {path}: not valid TOML (not UTF-8 text: {exc.reason} at byte {exc.start})"
                ) from None
            except OSError as exc:
                raise CatalogError(f"cannot read profile file {path}: {exc}") from None
            try:
                prof = schema.model_validate(data)
            except ValidationError as exc:
                raise CatalogError(_format_validation(path, exc)) from None
            key = prof.engine if kind in ("calibration", "support") else prof.id
            out[kind][key] = prof
            origins[(kind, key)] = path


def profile_dirs(extra: str | os.PathLike | None = None) -> list[Path]:
    if not (BUILTIN_DIR / "hardware").is_dir():
        raise CatalogError(
            f"the built-in catalog is missing: no profiles at {BUILTIN_DIR} (the planner package is "
            "incomplete; reinstall it from a full source checkout: pip install .)"
        )
    dirs = [BUILTIN_DIR]
    env = os.environ.get(ENV_VAR)
    for d in (env, extra):
        if d:
            p = Path(d)
            if not p.is_dir():
                raise CatalogError(f"profiles directory '{d}' does not exist (check --profiles or ${ENV_VAR})")
            dirs.append(p)
    return dirs


@lru_cache(maxsize=32)
def _parse_dir(root: Path, stamp: tuple) -> tuple[dict, dict]:
    """One directory's validated profiles (cached per directory: an overlay does not re-read the built-ins)."""
    out: dict[str, dict] = {k: {} for k in _SCHEMAS}
    origins: dict = {}
    _load_dir(root, out, origins)
    return out, origins


@lru_cache(maxsize=16)
def _load_cached(dirs: tuple[Path, ...], stamp: tuple) -> Catalog:
    out: dict[str, dict] = {k: {} for k in _SCHEMAS}
    origins: dict = {}
    for d in dirs:
        part, where = _parse_dir(d, _stamp([d]))
        for kind, profs in part.items():
            out[kind].update(profs)
        origins.update(where)
    engines = dict(out["engines"])
    for cal in out["calibration"].values():
        if cal.engine not in engines:
            path = origins.get(("calibration", cal.engine))
            raise CatalogError(f"bad profile file {path}: field 'engine': unknown engine '{cal.engine}'")
        engines[cal.engine] = engines[cal.engine].model_copy(
            update={"calibration": dict(cal.classes), "calibrated_versions": list(cal.engine_versions)}
        )
    cat = Catalog(
        out["hardware"],
        out["models"],
        out["quants"],
        engines,
        out["platforms"],
        out["kv_dtypes"],
        origins,
        out["interconnects"],
        out["hosts"],
        out["systems"],
        out["support"],
        chassis=out["chassis"],
    )
    _check_references(cat)
    return cat


def _stamp(dirs: list[Path]) -> tuple:
    items = []
    for d in dirs:
        for p in sorted(d.glob("*/*.toml")):
            st = p.stat()
            items.append((str(p), st.st_mtime_ns, st.st_size))
    return tuple(items)


def load_catalog(extra: str | os.PathLike | None = None) -> Catalog:
    dirs = profile_dirs(extra)
    return _load_cached(tuple(dirs), _stamp(dirs))


def _check_references(cat: Catalog) -> None:
    for hw in cat.hardware.values():
        if hw.platform and hw.platform not in cat.platforms:
            path = cat.origins.get(("hardware", hw.id))
            raise CatalogError(
                f"bad profile file {path}: field 'platform': unknown platform '{hw.platform}' "
                f"(known: {', '.join(sorted(cat.platforms))})"
            )

    def bad(kind, pid, field, value, known):
        raise CatalogError(
            f"bad profile file {cat.origins.get((kind, pid))}: field '{field}': unknown id "
            f"'{value}' (known: {', '.join(sorted(known))})"
        )

    for hw in cat.hardware.values():
        if hw.link and hw.link not in cat.interconnects:
            bad("hardware", hw.id, "link", hw.link, cat.interconnects)
    for sp in cat.systems.values():
        if sp.hardware not in cat.hardware:
            bad("systems", sp.id, "hardware", sp.hardware, cat.hardware)
        if sp.link and sp.link not in cat.interconnects:
            bad("systems", sp.id, "link", sp.link, cat.interconnects)
        if sp.host and sp.host not in cat.hosts:
            bad("systems", sp.id, "host", sp.host, cat.hosts)
    for ch in cat.chassis.values():
        for h in ch.hardware:
            if h not in cat.hardware:
                bad("chassis", ch.id, "hardware", h, cat.hardware)
    for sm in cat.support.values():
        if sm.engine not in cat.engines:
            bad("support", sm.engine, "engine", sm.engine, cat.engines)
        for table, known in (("weights", cat.quants), ("kv_cache", cat.kv_dtypes)):
            for i, rule in enumerate(getattr(sm, table)):
                for f in rule.formats:
                    if f not in known:
                        bad("support", sm.engine, f"{table}.{i}.formats", f, known)
                if rule.support == "emulated" and table == "weights" and rule.compute is None:
                    raise CatalogError(
                        f"bad profile file {cat.origins.get(('support', sm.engine))}: field "
                        f"'{table}.{i}.compute': an emulated rule needs the 16-bit dtype it computes in"
                    )
    for q in cat.quants.values():
        for kv in q.kv_cache_dtypes:
            if kv not in cat.kv_dtypes:
                path = cat.origins.get(("quants", q.id))
                raise CatalogError(
                    f"bad profile file {path}: field 'kv_cache_dtypes': unknown KV dtype '{kv}' "
                    f"(known: {', '.join(sorted(cat.kv_dtypes))})"
                )
        for dt in q.compute_dtypes:
            if dt not in DTYPES:
                path = cat.origins.get(("quants", q.id))
                raise CatalogError(f"bad profile file {path}: field 'compute_dtypes': unknown dtype '{dt}'")


def short_hardware(hw) -> str:
    """'NVIDIA H200 SXM 141GB' -> 'H200 SXM', 'Apple M3 Ultra (32-core CPU, 80-core GPU)' -> 'M3 Ultra 80c',
    'AMD Instinct MI300X (192GB HBM3, OAM)' -> 'MI300X'."""
    name = hw.name
    inner = name.split(" (", 1)[1].rstrip(")") if " (" in name else ""
    base = name.split(" (", 1)[0]
    for pre in ("NVIDIA GeForce ", "NVIDIA ", "AMD Instinct ", "AMD Radeon ", "AMD ", "Apple "):
        if base.startswith(pre):
            base = base[len(pre) :]
            break
    base = re.sub(r"\s+\d+GB$", "", base)
    base = base.replace(" Blackwell Workstation Edition", "").replace(" Generation", "")
    if hw.vendor == "apple" and hw.gpu_cores:
        base += f" {hw.gpu_cores}c"
    if "Strix Halo" in inner:
        base = "Strix Halo (Ryzen AI Max+ 395)"
    return base
