"""The engine support matrix: may this engine run this format on this GPU architecture, natively or
emulated, and if not, why and what is the nearest combination that runs.

Data: ``profiles/support/<engine>.toml`` (each rule with its source) and the ``arch`` of every hardware
profile. One check, :func:`check`, is used by ``build_system`` (so ``predict``, ``simulate``, Compare and
``plan`` all refuse the same combinations) and by the plan's candidate enumeration.

Statuses: ``native`` (the hardware does the format's math), ``emulated`` (weights stored in the format,
dequantized and multiplied at 16-bit: priced at the 16-bit rate), ``unsupported`` (the engine does not run
it there: a source says so, or no source says it does), ``unchecked`` (the hardware profile has no
architecture, or the engine no matrix: a user's own profiles; nothing is refused).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from planner.catalog.loader import Catalog, Hardware, Model, Quant, SupportRule

SIXTEEN_BIT = ("bf16", "fp16", "fp16_acc16", "fp32")
QUALITY_LEVELS = ("any", "4bit", "8bit", "16bit")  # plan min_quality, lowest first
# engine preference when several run a format (the plan's default engine: the first the matrix allows)
ENGINE_ORDER = ("vllm", "mlx", "llama.cpp", "sglang", "tensorrt-llm")


@dataclass(frozen=True)
class Verdict:
    """The matrix's answer for one (engine, architecture, weight format, KV dtype, model kind)."""

    status: str  # native | emulated | unsupported | unchecked
    weights: str | None = None  # native | emulated | unsupported (None: unchecked)
    kv_cache: str | None = None
    compute: str | None = None  # emulated weights: the 16-bit dtype the matmuls run in
    arch: str | None = None
    field: str | None = None  # what to change when unsupported: engine, quant or kv_dtype
    reason: str | None = None  # one line: why not (unsupported) or how (emulated)
    source: str | None = None
    alternative: str | None = None  # nearest supported combination (unsupported only)
    alternatives: tuple = ()  # the same as (quant, engine) pairs on the same hardware
    min_version: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "unsupported"

    @property
    def emulated(self) -> bool:
        return self.weights == "emulated"

    def message(self) -> str:
        """The one-line refusal: reason, source, nearest supported alternative."""
        alt = f"; nearest supported: {self.alternative}" if self.alternative else ""
        src = f" (source: {short_source(self.source)})" if self.source else ""
        return f"{self.reason}{src}{alt}"

    def as_dict(self) -> dict:
        d = asdict(self)
        d["emulated"] = self.emulated
        d["alternatives"] = [list(p) for p in self.alternatives]
        return d


def short_source(src: str) -> str:
    """The first reference of a source string (a URL or a repository path), without the quoted excerpt."""
    if " | " in src:
        return "; ".join(dict.fromkeys(short_source(x) for x in src.split(" | ")))
    tok = src.split()
    if not tok:
        return src
    if tok[0].startswith("http"):
        return tok[0]
    if len(tok) > 1 and tok[0].count("/") == 1 and ("/" in tok[1] or "." in tok[1]):
        return f"{tok[0]} {tok[1].rstrip(',;')}"
    return src.split(" (")[0].split(";")[0].strip()[:160]


def quality_tier(q: Quant) -> str:
    """16bit, 8bit, 4bit or below4bit, from the format's bits per weight on the tensors it quantizes
    (derived: MXFP4's 4.25 bits apply to the experts only, and it is a 4-bit format)."""
    bits = q.bits_per_weight.value
    if bits >= 15.9:
        return "16bit"
    if bits >= 7.9:
        return "8bit"
    if bits >= 3.9:
        return "4bit"
    return "below4bit"


def meets_quality(q: Quant, min_quality: str) -> bool:
    if min_quality == "any":
        return True
    order = ("below4bit",) + QUALITY_LEVELS[1:]
    return order.index(quality_tier(q)) >= order.index(min_quality)


def _arch_name(hw: Hardware) -> str:
    return f"{hw.arch.name}" if hw.arch else hw.family


def _match(rules: list[SupportRule], arch: str, fmt: str, kind: str) -> SupportRule | None:
    for r in rules:
        if arch in r.archs and fmt in r.formats and r.models in ("any", kind):
            return r
    return None


def runs_on(catalog: Catalog, engine: str, arch: str):
    sm = catalog.support.get(engine)
    if sm is None:
        return None
    return next((r for r in sm.runs_on if arch in r.archs), None)


def check(
    catalog: Catalog,
    hw: Hardware,
    model: Model,
    quant: Quant,
    engine: str,
    kv_dtype: str | None = None,
    alternatives: bool = True,
) -> Verdict:
    """What the matrix says about running `quant` weights (and a `kv_dtype` cache) of `model` with `engine`
    on `hw`. Vendor and 'engine loads the format' checks stay in build_system; this adds the architecture."""
    sm = catalog.support.get(engine)
    if hw.arch is None or sm is None:
        why = (
            "the hardware profile names no GPU architecture"
            if hw.arch is None
            else f"no support matrix for {engine} (profiles/support)"
        )
        return Verdict("unchecked", reason=f"support not checked: {why}")
    arch, kind = hw.arch.id, model.arch
    eng = catalog.engines[engine].name if engine in catalog.engines else engine
    where = f"{hw.name} ({_arch_name(hw)})"
    ro = runs_on(catalog, engine, arch)
    if ro is None:
        srcs = " | ".join(r.source for r in sm.runs_on)
        alt, pairs = _alternative(catalog, hw, model, quant, engine) if alternatives else (None, ())
        return Verdict(
            "unsupported",
            arch=arch,
            field="engine",
            reason=f"{eng} does not run on {where}: its documentation lists other architectures",
            source=srcs,
            alternative=alt,
            alternatives=pairs,
        )
    rule = _match(sm.weights, arch, quant.id, kind)
    if rule is None or rule.support == "unsupported":
        if rule is None:
            reason = f"{eng} does not run {quant.id} weights on {where}: no source we found says it does"
            src = sm.version_source
        else:
            why = rule.note or "its documentation marks it unsupported"
            reason = f"{eng} does not run {quant.id} weights{' of MoE models' if rule.models == 'moe' else ''} on {where}: {why}"
            src = rule.source
        alt, pairs = _alternative(catalog, hw, model, quant, engine) if alternatives else (None, ())
        return Verdict(
            "unsupported",
            weights="unsupported",
            arch=arch,
            field="quant",
            reason=reason,
            source=src,
            alternative=alt,
            alternatives=pairs,
        )
    kv_status, kv_rule = None, None
    if kv_dtype is not None:
        kv_rule = _match(sm.kv_cache, arch, kv_dtype, kind)
        if kv_rule is None or kv_rule.support == "unsupported":
            ok = [
                k
                for k in quant.kv_cache_dtypes
                if k != kv_dtype
                and (r := _match(sm.kv_cache, arch, k, kind)) is not None
                and r.support != "unsupported"
            ]
            return Verdict(
                "unsupported",
                weights=rule.support,
                kv_cache="unsupported",
                arch=arch,
                field="kv_dtype",
                reason=f"{eng} has no {kv_dtype} KV cache on {where}"
                + (f": {kv_rule.note}" if kv_rule and kv_rule.note else ""),
                source=(kv_rule.source if kv_rule else sm.version_source),
                alternative=(f"kv_dtype {ok[0]}" if ok else None),
                alternatives=((quant.id, engine),) if ok else (),
            )
        kv_status = kv_rule.support
    status = "emulated" if rule.support == "emulated" else "native"
    reason = None
    if rule.support == "emulated":
        reason = (
            f"{quant.id} is emulated by {eng} on {where}: "
            + (rule.note or f"weights dequantized and multiplied at {rule.compute}")
            + f"; priced at the {rule.compute} rate"
        )
    return Verdict(
        status,
        weights=rule.support,
        kv_cache=kv_status,
        compute=rule.compute,
        arch=arch,
        reason=reason,
        source=rule.source,
        min_version=rule.min_version,
    )


def default_kv_dtype(catalog: Catalog, hw: Hardware, model: Model, quant: Quant, engine: str) -> str:
    """The KV-cache dtype used when none is asked for: the format's first listed dtype that the matrix does
    not refuse for this engine and architecture (FP8 weights default to an FP8 cache, except where the
    engine has no FP8 cache on that GPU); the first listed when the matrix says nothing."""
    sm = catalog.support.get(engine)
    if hw.arch is not None and sm is not None:
        for k in quant.kv_cache_dtypes:
            r = _match(sm.kv_cache, hw.arch.id, k, model.arch)
            if r is not None and r.support != "unsupported":
                return k
    return quant.kv_cache_dtypes[0]


def supported_engines(catalog: Catalog, hw: Hardware, model: Model, quant: Quant, order) -> list[tuple[str, str]]:
    """(engine, status) pairs, in `order`, that load `quant`, run on `hw`'s vendor and that the matrix does
    not refuse (native first is the caller's choice)."""
    out = []
    for e in order:
        eng = catalog.engines.get(e)
        if eng is None or hw.vendor not in eng.vendors or e not in quant.engines:
            continue
        v = check(catalog, hw, model, quant, e, alternatives=False)
        if v.ok:
            out.append((e, v.status))
    return out


_TIER_ORDER = ("below4bit", "4bit", "8bit", "16bit")


def _distance(a: Quant, b: Quant) -> tuple:
    """How far format b is from a, as a replacement for a: formats of the same or a higher quality tier
    first (a refused 8-bit format is not replaced by a 4-bit one while an 8- or 16-bit one runs), then
    |log2 of the bits ratio| (to 0.01), then the same family first, then the higher precision first."""
    lower = _TIER_ORDER.index(quality_tier(b)) < _TIER_ORDER.index(quality_tier(a))
    d = abs(math.log2(a.bits_per_weight.value / b.bits_per_weight.value))
    return (
        1 if lower else 0,
        round(d, 2),
        0 if a.id == b.id else 1,
        0 if a.family == b.family else 1,
        -b.bits_per_weight.value,
    )


def _alternative(catalog: Catalog, hw: Hardware, model: Model, quant: Quant, engine: str) -> tuple[str | None, tuple]:
    """The nearest supported combination on the same hardware: another format with the same engine, and
    the nearest (format, engine) with another engine; both when they differ."""
    order = list(ENGINE_ORDER) + sorted(set(catalog.engines) - set(ENGINE_ORDER))
    best_same, best_other = None, None
    for q in catalog.quants.values():
        for e, status in supported_engines(catalog, hw, model, q, order):
            if (q.id, e) == (quant.id, engine):
                continue
            cand = (_distance(quant, q), order.index(e), q.id, e, status)
            if e == engine:
                best_same = min(best_same, cand) if best_same else cand
            elif best_other is None or cand < best_other:
                best_other = cand
    found = [c for c in (best_same, best_other) if c]
    if not found:
        return None, ()
    parts = [f"{c[2]} with {c[3]}" + (" (emulated)" if c[4] == "emulated" else "") for c in found]
    return " or ".join(dict.fromkeys(parts)) + f" on {hw.id}", tuple((c[2], c[3]) for c in found)


def format_note(catalog: Catalog, quant: str, verdict: dict | None = None) -> dict:
    """A format with its quality note and how it runs, for display (Compare, plan)."""
    q = catalog.quants.get(quant)
    if q is None:
        return {"quant": quant, "name": quant, "quality": None, "support": None, "text": quant}
    note = q.quality.note if q.quality else "none known"
    src = (q.quality.source or q.quality.derived) if q.quality else None
    status = (verdict or {}).get("status")
    how = " (emulated)" if status == "emulated" else ""
    return {
        "quant": q.id,
        "name": q.name,
        "tier": quality_tier(q),
        "quality": note,
        "quality_source": src,
        "support": status,
        "text": f"{q.name}{how}: quality {note}",
    }
