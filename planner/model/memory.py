"""The memory model: weights, KV cache and other buffers of a deployment against its usable memory.

:class:`MemoryModel` holds a deployment's byte counts (weights on the devices and on the host, KV
bytes per token) and answers what fits: the breakdown at a batch and context, the usable limit, the
KV capacity, the longest context and the most sequences.  Every figure printed is in GB = 10^9 bytes;
memory sizes as sold are binary (GiB).
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.model.arch import kv_elements_per_token, params
from planner.model.deployment import Deployment

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


@dataclass(frozen=True, slots=True)
class MemoryModel:
    """A deployment's memory: weight bytes (on the devices, on the host), KV bytes per token, and
    what fits in the usable memory.  Build with :meth:`of`."""

    deployment: Deployment
    weight_bytes: float  # all weights at the format's bits per weight
    host_weight_bytes: float  # offloaded to the host's RAM
    gpu_weight_bytes: float  # on the devices (weight_bytes - host_weight_bytes)
    kv_bytes_per_element: float
    mla_expanded: bool  # an MLA cache stored per head (K and V), not as the compressed latent
    kv_replication: float  # KV copies over the tensor-parallel ranks (tp / ranks the KV is sharded over)
    kv_full_per_token: float  # KV bytes per token of the full-attention layers, all devices together
    kv_swa_per_token: float  # ... of the sliding-window layers (only the last `window` tokens are kept)
    window: int  # sliding window in tokens (0: none)

    @classmethod
    def of(cls, dep: Deployment) -> "MemoryModel":
        m, q = dep.model, dep.quant
        p = params(m)
        bpb = q.bits_per_weight.value / 8.0
        other_bpb = q.other_bits_per_weight / 8.0 if q.applies_to == "experts" else bpb
        expert_bpb = bpb
        routed_shared = p.routed_experts + p.shared_experts
        weight_bytes = routed_shared * expert_bpb + (p.total - routed_shared) * other_bpb
        kvb = dep.catalog.kv_dtypes[dep.kv_dtype].bytes_per_element.value
        full, swa = kv_elements_per_token(m)
        # MLA cache stored expanded per head (engines/versions without latent MLA caching):
        # K (qk_nope + rope) and V per head and layer, sharded over tp like MHA heads
        mla_expanded = m.attention == "mla" and (dep.mla_cache or dep.engine.serving.mla_cache) == "expanded"
        if mla_expanded:
            full = m.num_layers * m.num_heads * (m.qk_nope_head_dim + m.qk_rope_head_dim + m.v_head_dim)
        # tensor parallel shards KV heads; the MLA latent (and heads beyond the KV head count)
        # are replicated on every rank: KV figures below are totals over all devices
        tp = dep.parallel.tp
        kv_div = 1 if m.attention == "mla" and not mla_expanded else min(tp, m.num_kv_heads)
        kv_replication = tp / kv_div
        # offload to host RAM (llama.cpp -ot exps=CPU, or the first N layers on the CPU)
        offload = dep.offload
        offload_layers = int(offload.split(":")[1]) if offload and offload.startswith("layers:") else 0
        host_weight_bytes = 0.0
        if dep.host is not None and offload:
            if offload == "experts":
                host_weight_bytes = p.routed_experts * expert_bpb
            else:
                host_weight_bytes = (weight_bytes - (p.embedding + (p.lm_head or 0)) * other_bpb) * (
                    offload_layers / m.num_layers
                )
        return cls(
            dep,
            weight_bytes,
            host_weight_bytes,
            weight_bytes - host_weight_bytes,
            kvb,
            mla_expanded,
            kv_replication,
            full * kvb * kv_replication,
            swa * kvb * kv_replication,
            m.sliding_window if swa else 0,
        )

    def kv_bytes(self, tokens: float) -> float:
        """KV-cache bytes one sequence of `tokens` tokens holds."""
        swa_tokens = min(tokens, self.window) if self.window else 0.0
        return self.kv_full_per_token * tokens + self.kv_swa_per_token * swa_tokens

    def capacity_gb(self) -> float:
        """Physical memory of all devices in GB (10^9 bytes). Memory is sold in binary units:
        a "512 GB" Mac or an "80 GB" GPU holds 512 or 80 GiB."""
        dep = self.deployment
        return dep.memory_gb * GIB / GB * dep.total_devices

    def usable_gb(self) -> float:
        """Memory the engine may use, GB (10^9 bytes), all devices together."""
        dep = self.deployment
        hw, n = dep.hw, dep.total_devices
        per = dep.memory_gb * GIB / GB
        if dep.usable_override_gb is not None:
            return dep.usable_override_gb * GIB / GB * n
        if hw.platform:
            plat = dep.catalog.platforms[hw.platform]
            return plat.default_limit_gb(dep.memory_gb) * GIB / GB * n
        reserve = hw.runtime_reserve_gb.value * GIB / GB if hw.runtime_reserve_gb else 0.0
        usable = per - reserve
        if dep.engine.gpu_memory_utilization and hw.memory == "discrete":
            usable = min(usable, per * dep.engine.gpu_memory_utilization)
        return usable * n

    def other_gb(self, tokens_per_step: int | None = None) -> float:
        """Activations, compute buffers and logits beyond weights and KV (all devices)."""
        # fp32 logits are kept for the last token of each sequence in a step
        e = self.deployment.engine
        t = tokens_per_step or min(e.max_num_batched_tokens, e.max_num_seqs)
        logits = t * self.deployment.model.vocab_size * 4 / GB
        return e.activation_overhead_gb.value * self.deployment.total_devices + logits

    def breakdown(self, sequences: int, context_tokens: int) -> MemoryBreakdown:
        """Device memory at `sequences` sequences of `context_tokens` tokens (weights sharded evenly
        over all devices; offloaded weights excluded)."""
        kv = sequences * self.kv_bytes(context_tokens) / GB
        n = self.deployment.total_devices
        return MemoryBreakdown(self.gpu_weight_bytes / GB, kv, self.other_gb(), self.usable_gb(), self.capacity_gb(), n)

    def host_memory(self) -> dict | None:
        """Host RAM holding offloaded weights: {"weights", "usable"} in GB, or None."""
        dep = self.deployment
        if not (dep.host and dep.offload):
            return None
        opts = dep.host.memory_gb_options
        # default: the smallest configuration that holds the offloaded weights (else the largest)
        size = dep.host_memory_gb or next((x for x in opts if x * GIB >= self.host_weight_bytes), max(opts))
        return {"weights": round(self.host_weight_bytes / GB, 3), "usable": round(size * GIB / GB, 3)}

    def kv_capacity_bytes(self) -> float:
        """KV bytes available after weights and other buffers (may be negative)."""
        return (self.usable_gb() - self.gpu_weight_bytes / GB - self.other_gb()) * GB

    def max_context(self) -> int:
        """The longest context one sequence can hold (up to the model's context window)."""
        free = self.kv_capacity_bytes()
        if free <= 0:
            return 0
        return largest(lambda n: self.kv_bytes(n) <= free, 0, self.deployment.model.max_context)

    def max_sequences(self, context_tokens: int) -> int:
        """How many sequences of `context_tokens` tokens the KV cache holds at once."""
        free = self.kv_capacity_bytes()
        per = self.kv_bytes(max(context_tokens, 1))
        return max(0, int(free // per)) if per > 0 else 0
