"""`predict`: does it fit, how fast, for one (hardware, model, quant, engine, devices)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Protocol

from planner.catalog.loader import Catalog
from planner.catalog.support import check, default_kv_dtype
from planner.errors import ScenarioError
from planner.model.bands import bands, calibration_info
from planner.model.deployment import Deployment
from planner.model.memory import GB, GIB, MemoryModel
from planner.model.perf import System, build_system

MAX_TOKENS = 10_000_000  # prompt/gen cap: far beyond any model's context, catches typos
MAX_BATCH = 100_000


def _fmt(x: float) -> str:
    return f"{x:,.1f}"


def _gib(x_gb: float) -> str:
    """A size in GB (10^9 bytes) written in GiB, the unit memory is sold in (a "96 GB" card is 96 GiB)."""
    return _fmt(x_gb * GB / GIB)


class Sized(Protocol):
    """What ``fit_reason`` reads: a deployment and its memory model (a System has both; the planner's
    screening asks before it builds a step-time model)."""

    @property
    def deployment(self) -> Deployment: ...

    @property
    def memory(self) -> MemoryModel: ...


def fit_reason(sys: Sized, batch: int, context: int) -> str | None:
    """Why the scenario does not fit, and the fix, in a buyer's words (None when it fits)."""
    mem = sys.memory.breakdown(batch, context)
    if context > sys.deployment.model.max_context:
        return (
            f"prompt + output = {context:,} tokens exceeds {sys.deployment.model.id}'s context window of "
            f"{sys.deployment.model.max_context:,} tokens: shorten the prompt or the output"
        )
    host = sys.memory.host_memory()
    if host and host["weights"] > host["usable"]:
        sizes = [x for x in sys.deployment.host.memory_gb_options if x * GIB / GB >= host["weights"]]
        fix = (
            f"configure the host with {sizes[0]:g} GB"
            if sizes
            else "offload fewer layers or pick a smaller quantization"
        )
        return (
            f"the offloaded weights need {_fmt(host['weights'])} GB of host RAM but the {sys.deployment.host.id} host has "
            f"{_fmt(host['usable'])} GB; fix: {fix}"
        )
    if mem.fits:
        return None
    need = mem.total
    hw = sys.deployment.hw
    # memory in the unit it is sold in (a "96 GB" card holds 96 GiB): never "102 GB usable" for a 96 GB card
    what = (
        f"this {sys.deployment.memory_gb:g} GB Mac"
        if hw.platform and sys.deployment.total_devices == 1
        else f"these {sys.deployment.total_devices} x {sys.deployment.memory_gb:g} GB "
        + ("Macs" if hw.platform else "devices")
        if sys.deployment.total_devices > 1
        else f"this {sys.deployment.memory_gb:g} GB " + ("card" if hw.memory == "discrete" else "machine")
    )
    parts = [
        f"needs {_gib(need)} GiB ({_gib(mem.weights)} weights + {_gib(mem.kv_cache)} KV cache + "
        f"{_gib(mem.other)} other) but only {_gib(mem.usable)} GiB of {what} is usable"
    ]
    fixes = []
    if hw.platform and sys.deployment.usable_override_gb is None:
        # per machine, never mixed with the cluster's totals: the limit and the sysctl are set on each Mac
        plat = sys.deployment.catalog.platforms[hw.platform]
        n = max(1, sys.deployment.total_devices)
        per_cap, per_usable, per_need = sys.memory.capacity_gb() / n, mem.usable / n, need / n
        ceiling = per_cap - plat.os_reserve_gb.value * GIB / GB
        if n == 1:
            parts[0] += (
                f": the default GPU limit of this {sys.deployment.memory_gb:g} GB Mac is {_gib(per_usable)} GiB "
                f"(macOS lets the GPU wire only part of unified memory)"
            )
        else:
            parts[0] += (
                f": the default GPU limit of each {sys.deployment.memory_gb:g} GB Mac is {_gib(per_usable)} GiB, "
                f"{_gib(mem.usable)} GiB for the {n} Macs together (macOS lets the GPU wire only part of "
                f"unified memory)"
            )
        if per_need <= ceiling:
            mb = int(math.ceil(per_need * GB / 2**20))
            each = "" if n == 1 else " on each Mac"
            fixes.append(
                f"raise the GPU limit{each} to at least {mb} MB with `sudo sysctl "
                f"{plat.override_setting}={mb}` (leaves {_gib(per_cap - per_need)} GiB to macOS"
                f"{' on each' if n > 1 else ''}; resets at reboot)"
            )
    bigger = [s for s in hw.memory_gb if s > sys.deployment.memory_gb]
    for s in bigger:
        alt = MemoryModel.of(dataclasses.replace(sys.deployment, memory_gb=float(s), usable_override_gb=None))
        if alt.breakdown(batch, context).fits:
            fixes.append(
                f"buy the {s:g} GB configuration" + (" of each machine" if sys.deployment.total_devices > 1 else "")
            )
            break
    smaller = _smaller_quant_that_fits(sys, batch, context)
    if smaller:
        fixes.append(f"pick a smaller quantization such as {smaller}")
    if batch > 1:
        n = sys.memory.max_sequences(context)
        if n >= 1:
            fixes.append(f"run at most {n} sequences at once")
    usable_one = sys.memory.usable_gb() / sys.deployment.total_devices
    d = max(2, math.ceil(need / max(usable_one, 1e-9)))
    if sys.deployment.hw.memory == "discrete" and sys.deployment.nodes == 1:
        if sys.deployment.engine.batching != "slots":  # tensor parallel: a power of two that divides the heads
            d = 1 << (d - 1).bit_length()
        if d > sys.deployment.devices and d <= 64:
            fixes.append(f"use at least {d} devices")
    elif sys.deployment.hw.memory == "unified" and d > sys.deployment.nodes and d <= 16:
        fixes.append(f"cluster at least {d} of these machines (--nodes {d} --link thunderbolt5)")
    if not fixes:
        fixes.append("choose a machine with more memory or a smaller model")
    return parts[0] + "; fix: " + "; or ".join(fixes)


def _smaller_quant_that_fits(sys: Sized, batch: int, context: int) -> str | None:
    cands = sorted(
        (
            q
            for q in sys.deployment.catalog.quants.values()
            if sys.deployment.engine.id in q.engines
            and q.bits_per_weight.value < sys.deployment.quant.bits_per_weight.value
        ),
        key=lambda q: -q.bits_per_weight.value,
    )
    for q in cands:
        if not check(
            sys.deployment.catalog,
            sys.deployment.hw,
            sys.deployment.model,
            q,
            sys.deployment.engine.id,
            alternatives=False,
        ).ok:
            continue  # the support matrix says this engine does not run it on this architecture
        kv = (
            sys.deployment.kv_dtype
            if sys.deployment.kv_dtype in q.kv_cache_dtypes
            else default_kv_dtype(
                sys.deployment.catalog, sys.deployment.hw, sys.deployment.model, q, sys.deployment.engine.id
            )
        )
        alt = MemoryModel.of(dataclasses.replace(sys.deployment, quant=q, kv_dtype=kv))
        if alt.breakdown(batch, context).fits:
            return q.id
    return None


def predict(
    catalog: Catalog,
    *,
    hardware: str,
    model: str,
    quant: str,
    engine: str,
    memory_gb: float | None = None,
    usable_memory_gb: float | None = None,
    devices: int = 1,
    batch: int = 1,
    prompt: int = 512,
    gen: int = 128,
    kv_dtype: str | None = None,
    nodes: int = 1,
    link: str | None = None,
    parallel=None,
    host: str | None = None,
    offload: str | None = None,
    host_memory_gb: float | None = None,
    engine_version: str | None = None,
) -> dict:
    """Single-run prediction (what llama-bench / a batch benchmark measures)."""
    for name, v, hi in (("batch", batch, MAX_BATCH), ("prompt", prompt, MAX_TOKENS), ("gen", gen, MAX_TOKENS)):
        if v is None or v < 0 or v > hi or (name == "batch" and v < 1):
            lo = 1 if name == "batch" else 0
            raise ScenarioError(name, f"must be an integer from {lo} to {hi:,}, got {v}")
    if prompt == 0 and gen == 0:
        raise ScenarioError("prompt", "prompt and gen are both 0: nothing to predict")
    sys = build_system(
        catalog,
        hardware,
        model,
        quant,
        engine,
        memory_gb=memory_gb,
        devices=devices,
        usable_memory_gb=usable_memory_gb,
        kv_dtype=kv_dtype,
        nodes=nodes,
        link=link,
        parallel=parallel,
        host=host,
        offload=offload,
        host_memory_gb=host_memory_gb,
        engine_version=engine_version,
    )
    return predict_system(sys, batch=batch, prompt=prompt, gen=gen)


def predict_system(sys: System, *, batch: int = 1, prompt: int = 512, gen: int = 128) -> dict:
    """`predict` for an already built System."""
    context = prompt + gen
    mem = sys.memory.breakdown(batch, context)
    reason = fit_reason(sys, batch, context)
    t_prefill = sys.step.prefill_time(prompt, batch)
    steps = sys.step.decode_times(prompt, gen, batch)
    t_decode = float(steps.sum())
    # TTFT: the prompt's prefill produces the first token; with no prompt, the first decode step
    ttft = t_prefill if prompt > 0 else (float(steps[0]) if gen else 0.0)
    # TPOT: mean time between output tokens after the first. Serving: the prefill yields token 1,
    # then decode step j (context P + j - 1) yields token j + 1, i.e. steps[0 .. G-2].
    tpot = float(steps[: gen - 1].mean()) if gen > 1 else None
    prefill_tok_s = round(batch * prompt / t_prefill, 3) if prompt and t_prefill > 0 else None
    decode_tok_s = round(batch * gen / t_decode, 3) if gen and t_decode > 0 else None
    out: dict[str, Any] = {
        "hardware": sys.deployment.hw.id,
        "model": sys.deployment.model.id,
        "quant": sys.deployment.quant.id,
        "engine": sys.deployment.engine.id,
        "memory_gb_option": sys.deployment.memory_gb,
        "devices": sys.deployment.devices,
        "nodes": sys.deployment.nodes,
        "link": sys.deployment.link.id if sys.deployment.link else None,
        "parallel": {"tp": sys.deployment.tp, "pp": sys.deployment.pp, "ep": sys.deployment.ep},
        "host": sys.deployment.host.id if sys.deployment.host else None,
        "offload": sys.deployment.offload,
        "host_memory_gb": sys.memory.host_memory(),
        "batch": batch,
        "prompt": prompt,
        "gen": gen,
        "kv_dtype": sys.deployment.kv_dtype,
        "fits": reason is None,
        "reason": reason,
        "memory_gb": mem.as_dict(),
        "prefill_tok_s": prefill_tok_s,
        "decode_tok_s": decode_tok_s,
        "ttft_s": round(ttft, 6),
        # a served request's fixed cost before its first token (API server, tokenisation), fitted from
        # first-token latency rows; not included in ttft_s (nor in the simulator's TTFT) yet
        "request_overhead_s": round(sys.step.eff.request_overhead_ms * 1e-3, 6),
        "tpot_s": round(tpot, 6) if tpot is not None else None,
        "max_concurrent_sequences": sys.memory.max_sequences(context),
        "max_context_tokens": sys.memory.max_context(),
        "compute_dtype": sys.step.compute_dtype,
        "compute_achievable_tflops": (
            round(sys.step.achievable_flops / 1e12, 2) if sys.step.achievable_flops else None
        ),
        "calibration": sys.step.eff_label,
        "calibration_provenance": sys.step.eff.provenance,
        # the support matrix (profiles/support): native, emulated (dequantized, priced at 16-bit) or unchecked
        "emulated": bool(sys.deployment.support and sys.deployment.support.emulated),
        "support": sys.deployment.support.as_dict() if sys.deployment.support else None,
        "step_time_provider": sys.step.provider_note,
    }
    out.update(calibration_info(sys))
    out.update(
        bands(
            sys,
            batch=batch,
            prompt=prompt,
            gen=gen,
            prefill=prefill_tok_s,
            decode=decode_tok_s,
            ttft=out["ttft_s"],
            tpot=out["tpot_s"],
        )
    )
    return out
