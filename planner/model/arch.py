"""Architecture arithmetic: parameter counts, bytes per token of KV cache, FLOPs.

All counts come from the model profile's architecture fields (config.json facts);
nothing here is fitted.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.catalog.loader import Model


@dataclass(frozen=True)
class ParamBreakdown:
    embedding: int  # input embedding table (only looked up, never streamed whole)
    lm_head: int  # output projection (0 when tied: the embedding table is read instead)
    attention: int  # all layers
    dense_ffn: int  # dense FFN layers
    shared_experts: int  # MoE always-active shared experts, all layers
    router: int
    routed_experts: int  # all routed experts, all layers
    expert_size: int  # one routed expert in one layer
    moe_layers: int

    @property
    def total(self) -> int:
        return (
            self.embedding
            + self.lm_head
            + self.attention
            + self.dense_ffn
            + self.shared_experts
            + self.router
            + self.routed_experts
        )

    @property
    def streamed_dense(self) -> int:
        """Weights every step reads regardless of routing (excludes the embedding lookup table
        unless it doubles as the output projection)."""
        head = self.lm_head if self.lm_head else self.embedding
        return self.attention + self.dense_ffn + self.shared_experts + self.router + head


def _ffn(hidden: int, inter: int, gated: bool) -> int:
    return (3 if gated else 2) * hidden * inter


def params(m: Model) -> ParamBreakdown:
    h = m.hidden_size
    emb = m.vocab_size * h
    head = 0 if m.tied_embeddings else m.vocab_size * h
    if m.attention == "mla":
        nope, rope, v = m.qk_nope_head_dim, m.qk_rope_head_dim, m.v_head_dim
        if m.q_lora_rank:
            q = h * m.q_lora_rank + m.q_lora_rank * m.num_heads * (nope + rope)
        else:
            q = h * m.num_heads * (nope + rope)
        kv = h * (m.kv_lora_rank + rope) + m.kv_lora_rank * m.num_heads * (nope + v)
        o = m.num_heads * v * h
        attn_layer = q + kv + o
    else:
        attn_layer = h * m.num_heads * m.head_dim * 2 + h * m.num_kv_heads * m.head_dim * 2
    attention = attn_layer * m.num_layers
    if m.arch == "moe":
        moe_layers = m.num_layers - m.first_dense_layers
        dense = _ffn(h, m.intermediate_size, m.gated_ffn) * m.first_dense_layers
        expert = _ffn(h, m.moe_intermediate_size, m.gated_ffn)
        routed = expert * m.num_experts * moe_layers
        shared = expert * m.num_shared_experts * moe_layers
        router = h * m.num_experts * moe_layers
    else:
        moe_layers = 0
        dense = _ffn(h, m.intermediate_size, m.gated_ffn) * m.num_layers
        expert = routed = shared = router = 0
    return ParamBreakdown(emb, head, attention, dense, shared, router, routed, expert, moe_layers)


def active_params(m: Model) -> int:
    """Parameters multiplied per token (excluding the embedding lookup)."""
    p = params(m)
    return p.streamed_dense + p.expert_size * m.experts_per_token * p.moe_layers


def kv_elements_per_token(m: Model) -> tuple[int, int]:
    """KV-cache elements stored per token: (full-attention layers total, sliding-window layers total).

    MHA/GQA: 2 x kv_heads x head_dim per layer; MLA: kv_lora_rank + rope dim per layer (the
    compressed latent and the decoupled rope key)."""
    if m.attention == "mla":
        per_layer = m.kv_lora_rank + m.qk_rope_head_dim
    else:
        per_layer = 2 * m.num_kv_heads * m.head_dim
    swa = m.sliding_window_layers if m.sliding_window else 0
    return per_layer * (m.num_layers - swa), per_layer * swa


def attention_dims(m: Model) -> tuple[int, int]:
    """(qk dim, v dim) summed over query heads, per layer: the per-token attention FLOP weights."""
    if m.attention == "mla":
        return m.num_heads * (m.qk_nope_head_dim + m.qk_rope_head_dim), m.num_heads * m.v_head_dim
    return m.num_heads * m.head_dim, m.num_heads * m.head_dim
