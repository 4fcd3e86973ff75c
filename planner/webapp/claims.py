"""The news article's claims (data/claims.toml), each checked against the catalog and the model.

Every number comes from the catalog (with its source) or from `predict` / the simulator; a claim
the planner cannot check says so.  Each check carries the scenario (a share-link query) that
reproduces it in the app.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from planner.catalog.loader import Catalog
from planner.model.arch import params
from planner.model.memory import GB
from planner.model.perf import build_system
from planner.model.predict import predict
from planner.paths import builtin as _builtin
from planner.sim.engine import simulate_scenario
from planner.sim.scenario import parse_scenario
from planner.webapp.defaults import DEFAULT
from planner.webapp.links import encode

CLAIMS_FILE = _builtin("data", "claims.toml")
MAC, R1, Q4, LCPP = "apple-m3-ultra-80c", "deepseek-r1", "q4_k_m", "llama.cpp"


def load_claims(path: Path = CLAIMS_FILE) -> tuple[str, list[dict]]:
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    return data["source"], data["claims"]


def _n(label: str, value, unit: str = "", source: str = "") -> dict:
    return {"label": label, "value": value, "unit": unit, "source": source}


def _src(fig) -> str:
    return fig.source or f"derived: {fig.derived}"


def _mac_scenario(**extra) -> str:
    data = {**DEFAULT, "compare": [], **extra}
    return encode(parse_scenario(data))


def check_claims(cat: Catalog) -> list[dict]:
    source, claims = load_claims()
    checks = {1: _c1, 2: _c2, 3: _c3, 4: _c4, 5: _c5, 6: _c6, 7: _c7, 8: _c8, 9: _c9, 10: _c10, 11: _c11}
    out = []
    for c in claims:
        res = checks[c["id"]](cat)
        res.setdefault("page", "")
        res.setdefault("query", "v=1")
        out.append({"id": c["id"], "text": c["text"], "source": source, **res})
    return out


def _r1_weights_gb(cat: Catalog, quant: str) -> float:
    sys = build_system(cat, "nvidia-h100-sxm", R1, quant, "vllm" if quant == "fp8" else LCPP, devices=16)
    return sys.memory.weight_bytes / GB


def _c1(cat):
    r = predict(cat, hardware=MAC, model=R1, quant=Q4, engine=LCPP, memory_gb=512, prompt=512, gen=256)
    sys = build_system(cat, MAC, R1, Q4, LCPP, memory_gb=512)
    ctx = cat.models[R1].max_context
    full = sys.memory.breakdown(1, ctx)
    m = r["memory_gb"]
    _lim = round(cat.platforms["macos"].default_limit_gb(512), 1)  # GiB, as the Mac's memory is sold
    return {
        "verdict": "partly supported",
        "explanation": (
            f"R1 at Q4_K_M fits a 512 GB M3 Ultra, but the model predicts {m['total']:.0f} GB for one "
            f"768-token request and {full.total:.0f} GB even at R1's full {ctx:,}-token context "
            "(MLA keeps the KV cache small), not 448 GB. 448 GB is also above the macOS default GPU "
            f"limit of {m['usable']:.0f} GB, so it would need `iogpu.wired_limit_mb` raised."
        ),
        "numbers": [
            _n("weights, Q4_K_M", round(m["weights"], 1), "GB", "predict (catalog quant bits x parameters)"),
            _n("total, 512 + 256 tokens", round(m["total"], 1), "GB", "predict"),
            _n(f"total at {ctx:,} tokens", round(full.total, 1), "GB", "planner memory model"),
            _n(
                f"usable (macOS default GPU limit: {_lim:g} GiB of the 512 GB Mac, in GB of 10^9 bytes)",
                round(m["usable"], 1),
                "GB",
                cat.platforms["macos"].source,
            ),  # the limit's own source, not the reserve's
            _n("claimed", 448, "GB", "article"),
        ],
        "query": _mac_scenario(),
    }


def _c2(cat):
    hw = cat.hardware[MAC]
    m2 = cat.hardware["apple-m2-ultra-76c"]
    return {
        "verdict": "contradicted",
        "explanation": (
            f"The catalog lists the M3 Ultra (80-core GPU) with {', '.join(f'{s:g}' for s in hw.memory_gb)} "
            f"GB: 512 GB at the top, not 384 GB. 192 GB is the M2 Ultra's maximum "
            f"({', '.join(f'{s:g}' for s in m2.memory_gb)} GB)."
        ),
        "numbers": [
            _n("M3 Ultra memory options", ", ".join(f"{s:g}" for s in hw.memory_gb), "GB", hw.memory_source),
            _n("M2 Ultra memory options", ", ".join(f"{s:g}" for s in m2.memory_gb), "GB", m2.memory_source),
        ],
        "page": "catalog",
    }


def _c3(cat):
    f = cat.hardware[MAC].memory_bandwidth_gbs
    return {
        "verdict": "supported",
        "explanation": f"The catalog gives {f.value:g} GB/s; Apple says 'over 800 GB/s'.",
        "numbers": [_n("M3 Ultra memory bandwidth", f.value, "GB/s", _src(f)), _n("claimed", 800, "GB/s", "article")],
        "page": "catalog",
    }


def _c4(cat):
    p = params(cat.models[R1]).total
    f32 = p * 4 / GB
    q4 = _r1_weights_gb(cat, Q4)
    bits = cat.quants[Q4].bits_per_weight
    return {
        "verdict": "partly supported",
        "explanation": (
            f"671B x 4 bytes is indeed about {f32:,.0f} GB, but no hardware compression is involved: the "
            f"saving comes from the Q4_K_M file format ({bits.value:.2f} bits per weight), a software "
            f"quantization, giving {q4:.0f} GB of weights. R1 is published in FP8, not FP32."
        ),
        "numbers": [
            _n(
                "R1 parameters (from the architecture)",
                round(p / 1e9, 1),
                "B",
                _src(cat.models[R1].published_total_params_b),
            ),
            _n("weights at FP32 (4 bytes)", round(f32), "GB", "derived: parameters x 4 bytes"),
            _n("weights at Q4_K_M", round(q4, 1), "GB", _src(bits)),
            _n("claimed", "2684 -> 448", "GB", "article"),
        ],
        "query": _mac_scenario(),
    }


def _c5(cat):
    fp8 = _r1_weights_gb(cat, "fp8")
    bits = cat.quants["fp8"].bits_per_weight
    need = 224 * GB * 8 / _params(cat)
    return {
        "verdict": "contradicted",
        "explanation": (
            f"FP8 is {bits.value:g} bits per weight: R1's weights take {fp8:.0f} GB in FP8 (its native "
            f"format). 224 GB would be {need:.2f} bits per weight. The accuracy claim is outside what "
            "the planner models."
        ),
        "numbers": [
            _n("weights at FP8", round(fp8, 1), "GB", _src(bits)),
            _n("bits per weight for 224 GB", round(need, 2), "bits", "derived: 224 GB x 8 / parameters"),
            _n("claimed", 224, "GB", "article"),
        ],
        "query": _mac_scenario(),
    }


def _params(cat) -> float:
    return params(cat.models[R1]).total


def _c6(cat):
    sys = build_system(cat, MAC, R1, Q4, LCPP, memory_gb=512)
    ctx = cat.models[R1].max_context
    kv = sys.memory.kv_bytes(ctx) / GB
    w = sys.memory.weight_bytes / GB
    return {
        "verdict": "contradicted",
        "explanation": (
            f"The Q4_K_M weights alone take {w:.0f} GB, more than 300 GB, and R1's KV cache (MLA) is "
            f"only {kv:.1f} GB even at its full {ctx:,}-token context: no way of chunking the KV cache "
            "brings the peak to 300 GB."
        ),
        "numbers": [
            _n("weights, Q4_K_M", round(w, 1), "GB", "planner memory model"),
            _n(f"KV cache at {ctx:,} tokens", round(kv, 1), "GB", "planner memory model (MLA)"),
            _n("claimed", 300, "GB", "article"),
        ],
        "query": _mac_scenario(),
    }


def _c7(cat):
    extra = {
        "workload": {
            "arrival": "closed",
            "concurrency": 1,
            "requests": 50,
            "prompt": {"mean": 512},
            "output": {"mean": 256},
        },
        "scheduler": {"batching": "serial"},
    }
    sc = parse_scenario({**_default(), "compare": [], **extra})
    s = simulate_scenario(cat, sc).summary
    r = predict(cat, hardware=MAC, model=R1, quant=Q4, engine=LCPP, memory_gb=512, prompt=512, gen=256)
    return {
        "verdict": "contradicted",
        "explanation": (
            f"At batch size 1 one request of 512 + 256 tokens takes {s['e2e_s']['mean']:.0f} s on the "
            f"M3 Ultra (decode {r['decode_tok_s']:.0f} tok/s): {s['request_throughput_rps']:.3f} "
            f"requests/s, about {100 / max(s['request_throughput_rps'], 1e-9):,.0f} times fewer than "
            "claimed. 100 requests/s of 256 tokens would need 25,600 output tokens/s."
        ),
        "numbers": [
            _n(
                "simulated requests/s (batch 1, serial)",
                round(s["request_throughput_rps"], 4),
                "req/s",
                "simulate_scenario",
            ),
            _n("simulated output throughput", round(s["throughput_tok_s"], 1), "tok/s", "simulate_scenario"),
            _n("single-stream decode", r["decode_tok_s"], "tok/s", "predict"),
            _n("claimed", "100+", "req/s", "article"),
        ],
        "query": encode(sc),
    }


def _default() -> dict:
    return DEFAULT


def _c8(cat):
    pcie4 = [h for h in cat.hardware.values() if h.interconnect and h.interconnect.name == "PCIe 4.0 x16"]
    bw = sorted({h.interconnect.bandwidth_gbs.value for h in pcie4})
    mac = cat.hardware[MAC].memory_bandwidth_gbs
    ex = pcie4[0]
    return {
        "verdict": "supported",
        "explanation": (
            f"PCIe 4.0 x16 is {', '.join(f'{b:g}' for b in bw)} GB/s per direction in the catalog "
            f"({len(pcie4)} devices) against {mac.value:g} GB/s of M3 Ultra memory bandwidth. It limits "
            "only what crosses the bus: a model held in GPU memory does not stream weights over PCIe."
        ),
        "numbers": [
            _n(
                f"PCIe 4.0 x16 ({ex.id})",
                ex.interconnect.bandwidth_gbs.value,
                "GB/s",
                _src(ex.interconnect.bandwidth_gbs),
            ),
            _n("M3 Ultra memory bandwidth", mac.value, "GB/s", _src(mac)),
        ],
        "page": "catalog",
    }


def _c9(cat):
    a100 = cat.hardware["nvidia-a100-80gb-sxm"]
    mac = cat.hardware[MAC]
    pa, pm = a100.price_for(80), mac.price_for(512)
    nums = [_n("8x A100 80GB memory", 8 * a100.memory_gb[0], "GB", a100.memory_source)]
    if pa:
        nums.append(_n(f"A100 80GB SXM ({pa.kind}, {pa.date})", pa.usd, "USD", pa.source))
    if pm:
        nums.append(_n(f"Mac Studio M3 Ultra 512 GB ({pm.kind}, {pm.date})", pm.usd, "USD", pm.source))
    return {
        "verdict": "not verifiable",
        "explanation": (
            "The catalog has no DGX Station A100 profile and no RMB prices (nor a sourced exchange "
            "rate), so the prices cannot be checked. From the catalog: 8 A100 80 GB hold "
            f"{8 * a100.memory_gb[0]:g} GB, not 512 GB; the US prices it has are shown."
        ),
        "numbers": nums,
        "page": "catalog",
    }


def _c10(cat):
    one = predict(cat, hardware=MAC, model=R1, quant="q8_0", engine=LCPP, memory_gb=512, prompt=512, gen=256)
    two = predict(
        cat,
        hardware=MAC,
        model=R1,
        quant="q8_0",
        engine=LCPP,
        memory_gb=512,
        prompt=512,
        gen=256,
        nodes=2,
        link="thunderbolt5",
    )
    tb = cat.interconnects["thunderbolt5"].bandwidth_gbs
    ok = two["fits"] and not one["fits"]
    return {
        "verdict": "supported" if ok else "partly supported",
        "explanation": (
            f"R1 at Q8_0 needs {one['memory_gb']['total']:.0f} GB: it does not fit one 512 GB M3 Ultra "
            f"({one['memory_gb']['usable']:.0f} GB usable) but "
            f"{'fits' if two['fits'] else 'does not fit'} two joined over Thunderbolt 5 "
            f"({two['memory_gb']['usable']:.0f} GB usable; llama.cpp splits the layers, one machine after "
            f"the other), at {two['decode_tok_s']:.1f} tok/s single-stream decode."
        ),
        "numbers": [
            _n("R1 Q8_0 total memory", round(one["memory_gb"]["total"], 1), "GB", "predict"),
            _n("usable, 1 machine", round(one["memory_gb"]["usable"], 1), "GB", "predict"),
            _n("usable, 2 machines over Thunderbolt 5", round(two["memory_gb"]["usable"], 1), "GB", "predict"),
            _n("decode, 2 machines", two["decode_tok_s"], "tok/s", "predict"),
            _n("Thunderbolt 5 bandwidth per direction", tb.value, "GB/s", _src(tb)),
        ],
        "query": _mac_scenario(
            quant="q8_0", machine={"hardware": MAC, "memory_gb": 512, "nodes": 2, "link": "thunderbolt5"}
        ),
    }


def _c11(cat):
    ws = [
        "nvidia-rtx-4090",
        "nvidia-rtx-5090",
        "nvidia-rtx-6000-ada",
        "nvidia-rtx-pro-6000",
        "nvidia-dgx-spark",
        "amd-ryzen-ai-max-395",
    ]
    nums = [
        _n(cat.hardware[h].name, max(cat.hardware[h].memory_gb), "GB", cat.hardware[h].memory_source)
        for h in ws
        if h in cat.hardware
    ]
    return {
        "verdict": "not verifiable",
        "explanation": (
            "'Ordinary AI workstation' is not defined. The catalog's desktop accelerators have 24-96 GB "
            "per GPU and 128 GB on unified-memory desktops; host RAM of workstations is not in the "
            "catalog."
        ),
        "numbers": nums,
        "page": "catalog",
    }
