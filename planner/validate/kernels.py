"""Roofline against NVIDIA's measured kernels on the calibration set's NVIDIA datacenter rows.

Rows: NVIDIA datacenter GPUs (hardware profiles mapped to an AIConfigurator system) with vLLM,
SGLang or TensorRT-LLM. Each row is predicted twice, once per step-time provider:

- ``throughput`` (``throughput_tok_s`` load tests with stated lengths and load): simulated,
  as ``serve_validation`` maps them;
- ``single_stream_decode`` (``tpot_ms`` at concurrency 1 with stated lengths): ``predict``'s TPOT;
- ``tpot`` (``tpot_ms`` under load with stated lengths): simulated p50 TPOT;
- ``ttft`` (``ttft_ms`` at concurrency 1): ``predict``'s TTFT.

Leave-one-source-out: the roofline is refitted without the row's source (``calibrate`` on the
other rows) before predicting it; the measured provider has no parameter fitted to the calibration
set except the engine's per-step overhead, which comes from the same refit. The per-class verdict
follows ``kernels.CHOICE_RULE``.
"""

from __future__ import annotations

import json
from pathlib import Path
from statistics import median

from planner.catalog.loader import Catalog, Efficiency
from planner.errors import CatalogError, ScenarioError
from planner.model.calibration import DEFAULT_DATA, Row, bind_rows, read_rows
from planner.model.kernels import (
    BACKENDS,
    CHOICE_RULE,
    CHOICES_FILE,
    _gemm_table,
    _versions,
    class_choices,
    data_root,
    package_version,
    use_provider,
)
from planner.model.perf import build_system
from planner.model.predict import predict
from planner.model.priors import PARAMS, bounds_for
from planner.sim.engine import simulate_scenario
from planner.sim.scenario import parse_scenario
from planner.validate.serve import LOAD_RANDOM, refit_catalog, row_scenario, simulated_value, source_key

METRICS = ("throughput", "tpot", "single_stream_decode", "ttft", "ttft_under_load")


def nvidia_datacenter_rows(catalog: Catalog, rows: list[Row]) -> list[Row]:
    out = []
    for r in rows:
        hw = catalog.hardware.get(r.hardware_id)
        if hw is None or hw.vendor != "nvidia" or r.engine_id not in BACKENDS:
            continue
        if getattr(hw, "aiconfigurator_system", None) is None:
            continue
        out.append(r)
    return out


def _concurrency_one(r: Row) -> bool:
    """One request at a time: batch '1', or bench_serving's 'concurrency 1 (random ...)'."""
    b = r.batch.strip()
    return b == "1" or b.startswith("concurrency 1 ")


def metric_of(r: Row) -> str | None:
    if r.metric == "throughput_tok_s":
        return "throughput"
    if r.metric == "tpot_ms":
        return "single_stream_decode" if _concurrency_one(r) else "tpot"
    if r.metric == "ttft_ms":
        return "ttft" if _concurrency_one(r) else "ttft_under_load"
    return None


def predict_row(catalog: Catalog, r: Row, requests: int = 600) -> float | None:
    """The row's metric under the current provider, or None where the row cannot be reproduced.

    Rows at concurrency 1 with fixed lengths are `predict`ed (TTFT, TPOT); every other row is
    simulated as `serve_validation` reads it (bench_serving's random lengths included) and
    compared in the row's own statistic (mean or median; per-request TPOT or inter-token
    latency), as `serve_validation.simulated_value` does."""

    kind = metric_of(r)
    random_lengths = bool(LOAD_RANDOM.match(r.batch.strip()))
    if kind is None or (r.prompt is None and not random_lengths):
        return None
    if kind in ("single_stream_decode", "ttft") and r.batch.strip() == "1" and r.prompt is not None:
        gen = r.gen if kind == "single_stream_decode" else 1
        if gen is None or (kind == "single_stream_decode" and gen < 2):
            return None
        devices, nodes, link = r.machine()
        res = predict(
            catalog,
            hardware=r.hardware_id,
            model=r.model_id,
            quant=r.quant_id,
            engine=r.engine_id,
            devices=devices,
            nodes=nodes,
            link=link,
            batch=1,
            engine_version=r.release(),
            prompt=r.prompt,
            gen=max(gen, 2) if kind == "single_stream_decode" else 0,
        )
        return 1000.0 * (res["tpot_s"] if kind == "single_stream_decode" else res["ttft_s"])

    as_load = r if kind == "throughput" or random_lengths else _as_throughput(r)
    sc, _how = row_scenario(as_load, requests)
    if sc is None:
        return None
    res = simulate_scenario(catalog, parse_scenario(sc))
    if not res.summary["completed"]:
        return None
    return simulated_value(r, res.summary)  # per GPU / total tokens / mean or median / ITL as the row's unit says


def _as_throughput(r: Row) -> Row:
    return Row(**{**r.__dict__, "metric": "throughput_tok_s"})


def compare(catalog: Catalog, data: str | Path = DEFAULT_DATA, requests: int = 600, loso: bool = True) -> dict:
    """Both providers on every reproducible NVIDIA datacenter row, leave-one-source-out."""
    data = Path(data)
    all_rows = read_rows(data)
    rows = nvidia_datacenter_rows(catalog, all_rows)
    # a source whose rows the roofline is fitted on gets a refit without it; others use the full fit
    fitted, _ = bind_rows(catalog, all_rows)
    fitted_sources = {source_key(m.row) for m in fitted}
    cats: dict[str, Catalog] = {}
    out, skipped = [], []
    for r in rows:
        kind = metric_of(r)
        src = source_key(r)
        cat = catalog
        if loso and src in fitted_sources:
            if src not in cats:
                cats[src] = refit_catalog(catalog, data, src)
            cat = cats[src]
        preds, notes = {}, {}
        try:
            for mode in ("roofline", "measured"):
                with use_provider(mode):
                    preds[mode] = predict_row(cat, r, requests)
                    devices, nodes, link = r.machine()
                    notes[mode] = build_system(
                        cat,
                        r.hardware_id,
                        r.model_id,
                        r.quant_id,
                        r.engine_id,
                        devices=devices,
                        nodes=nodes,
                        link=link,
                        engine_version=r.release(),
                    ).step.provider_note
        except (CatalogError, ScenarioError) as exc:
            skipped.append({"id": r.id, "reason": str(exc)})
            continue
        if kind is None or preds["roofline"] is None:
            skipped.append(
                {"id": r.id, "reason": f"{r.metric} at load '{r.batch}' without stated lengths: not reproducible"}
            )
            continue
        covered = not notes["measured"].startswith("calibrated roofline")
        hw = catalog.hardware[r.hardware_id]
        out.append(
            {
                "id": r.id,
                "class": f"{r.engine_id}:{hw.family}",
                "hardware": r.hardware_id,
                "devices": r.devices,
                "model": r.model_id,
                "quant": r.quant_id,
                "engine": r.engine_id,
                "metric": kind,
                "load": r.batch,
                "prompt": r.prompt,
                "gen": r.gen,
                "measured": r.value,
                "roofline": round(preds["roofline"], 3),
                "measured_kernels": round(preds["measured"], 3),
                "roofline_error_pct": round(_err(preds["roofline"], r.value), 2),
                "measured_kernels_error_pct": round(_err(preds["measured"], r.value), 2),
                "confidence": r.confidence,
                "covered": covered,
                "provider": notes["measured"],
            }
        )
    chosen = choices(out)
    for x in out:  # what `auto` predicts: the class's verdict where the tables cover the row
        use = chosen.get(x["class"], {}).get("provider", "measured") if x["covered"] else "roofline"
        x["chosen"] = use
        x["chosen_error_pct"] = x["roofline_error_pct" if use == "roofline" else "measured_kernels_error_pct"]
    by_metric = _summary(out, "metric")
    for m, s in by_metric.items():
        s["chosen_median_abs_pct"] = _med([x for x in out if x["metric"] == m], "chosen_error_pct")
    return {
        "rule": CHOICE_RULE,
        "rows": out,
        "skipped": skipped,
        "by_metric": by_metric,
        "by_class": _summary(out, "class"),
        "choices": chosen,
        "refitted_without": sorted(cats),
        "requests_per_simulation": requests,
    }


def _err(pred: float, meas: float) -> float:
    return 100.0 * (pred - meas) / meas


def _summary(rows: list[dict], key: str) -> dict:
    groups: dict[str, list[dict]] = {}
    for x in rows:
        groups.setdefault(x[key], []).append(x)
    out = {}
    for g, xs in sorted(groups.items()):
        cov = [x for x in xs if x["covered"]]
        out[g] = {
            "rows": len(xs),
            "roofline_median_abs_pct": _med(xs, "roofline_error_pct"),
            "measured_kernels_median_abs_pct": _med(xs, "measured_kernels_error_pct"),
            "covered_rows": len(cov),
            "covered_roofline_median_abs_pct": _med(cov, "roofline_error_pct"),
            "covered_measured_kernels_median_abs_pct": _med(cov, "measured_kernels_error_pct"),
        }
    return out


def _med(xs: list[dict], k: str):
    v = [abs(x[k]) for x in xs]
    return round(median(v), 2) if v else None


def choices(rows: list[dict]) -> dict[str, dict]:
    """CHOICE_RULE applied per class on the covered rows."""
    out = {}
    for cls, s in _summary([x for x in rows if x["covered"]], "class").items():
        roof, meas = s["roofline_median_abs_pct"], s["measured_kernels_median_abs_pct"]
        out[cls] = {
            "provider": "roofline" if meas > roof else "measured",
            "rows": s["rows"],
            "roofline_median_abs_pct": roof,
            "measured_kernels_median_abs_pct": meas,
        }
    return out


def write_choices(result: dict, path: Path = CHOICES_FILE, data_name: str = "calibration.csv") -> Path:
    lines = [
        "# Written by `python -m planner validate --providers --write`; do not edit by hand.",
        f"# Rule: {result['rule']}.",
        f'data = "{data_name}"',
        "",
    ]
    for cls, c in sorted(result["choices"].items()):
        lines += [
            f'[classes."{cls}"]',
            f'provider = "{c["provider"]}"',
            f"rows = {c['rows']}",
            f"roofline_median_abs_pct = {c['roofline_median_abs_pct']}",
            f"measured_kernels_median_abs_pct = {c['measured_kernels_median_abs_pct']}",
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def print_report(catalog: Catalog, args) -> int:
    """`python -m planner validate --providers [--write] [--json]`."""
    if data_root() is None:
        print(
            "NVIDIA's tables are not installed: pip install 'inference-planner[nvidia-data]' "
            "(every prediction uses the calibrated roofline)"
        )
        return 0
    if getattr(args, "derive_priors", False):
        d = derive_priors(catalog)
        if args.json:
            print(json.dumps(d, indent=2))
            return 0
        print(
            f"{'hardware':<24} {'system':<22} {'quant':<6} {'prefill 4096 (ms)':>18} {'compute eff':>12} "
            f"{'bandwidth eff (GEMV)':>21}"
        )
        for hw, v in d["systems"].items():
            print(
                f"{hw:<24} {v['system']:<22} {v['quant']:<6} {v['prefill_ms']:>18.2f} "
                f"{v['compute_efficiency']:>12.3f} {v['bandwidth_efficiency']:>21.3f}"
            )
        print(
            f"CUDA serving engines' priors (median over systems; profiles/calibration_priors/priors.toml): "
            f"compute_efficiency {d['compute_efficiency']}, bandwidth_efficiency {d['bandwidth_efficiency']}"
            + (
                " (clamped into the physical range)"
                if d["compute_efficiency_clamped"] or d["bandwidth_efficiency_clamped"]
                else ""
            )
        )
        return 0
    data = Path(args.data) if args.data else DEFAULT_DATA
    res = compare(catalog, data)
    res["tables"] = f"aiconfigurator-core {package_version()}"
    if args.write:
        res["written"] = str(write_choices(res, data_name=data.name))
        class_choices.cache_clear()
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{'id':<16} {'class':<28} {'metric':<21} {'measured':>10} {'roofline':>9} {'kernels':>9}")
    for x in res["rows"]:
        flag = "" if x["covered"] else "  (not covered: roofline)"
        print(
            f"{x['id']:<16} {x['class']:<28} {x['metric']:<21} {x['measured']:>10.1f} "
            f"{x['roofline_error_pct']:>+8.1f}% {x['measured_kernels_error_pct']:>+8.1f}%{flag}"
        )
    print("median |error|, leave-one-source-out (roofline refitted without the row's source):")
    for m, s in res["by_metric"].items():
        print(
            f"  {m:<21} {s['rows']:>3} rows: roofline {s['roofline_median_abs_pct']:.1f}%, measured kernels "
            f"{s['measured_kernels_median_abs_pct']:.1f}%, by the rule {s['chosen_median_abs_pct']:.1f}% "
            f"({s['covered_rows']} rows covered by the tables)"
        )
    print(f"rule: {res['rule']}")
    for cls, c in res["choices"].items():
        print(
            f"  {cls:<28} -> {c['provider']:<9} ({c['rows']} rows: roofline {c['roofline_median_abs_pct']:.1f}%, "
            f"measured kernels {c['measured_kernels_median_abs_pct']:.1f}%)"
        )
    if "written" in res:
        print(f"wrote {res['written']}")
    return 0


# ---------------------------------------------------------------------------------------------
# Issue 13 item 4: our physical parameters derived from NVIDIA's measured kernels

EFFICIENCY_FILE_NAME = "kernel_efficiency.toml"


REFERENCE = ("llama-3.1-8b", "tensorrt-llm", 4096)  # model, engine whose tables price it, prompt tokens


def table_efficiencies(catalog: Catalog) -> dict:
    """Per mapped NVIDIA system, the roofline efficiencies that reproduce NVIDIA's measured kernels
    on a reference model (Llama-3.1-8B, FP8 where the GPU has FP8 tensor cores, else BF16; one GPU;
    TensorRT-LLM's tables):

    - compute_efficiency: the roofline's compute-bound time of a 4,096-token prefill step at full
      peak (no overheads) over the measured provider's GPU time for the same step (its GEMMs,
      attention and other operators summed, the per-step overhead left out);
    - bandwidth_efficiency: the median weight-streaming rate of the GEMV-like GEMMs in the system's
      newest TensorRT-LLM, vLLM and SGLang tables (m <= 4 tokens, n x k >= 64M weights: the decode
      case, memory bound) over the profile's memory bandwidth. (A whole measured decode step is not
      used: at batch 1 it is mostly each kernel's fixed latency, which our roofline keeps in its
      per-layer overhead, not in the bandwidth share.)

    These are what our roofline's two efficiency parameters stand for, measured kernel by kernel
    instead of fitted to end-to-end rows (the per-step and per-layer overheads stay fitted)."""

    if data_root() is None:
        return {}
    model, engine, prompt = REFERENCE
    out: dict = {}
    for hw in sorted(catalog.hardware.values(), key=lambda h: h.id):
        system = getattr(hw, "aiconfigurator_system", None)
        if system is None:
            continue
        quant = "fp8" if "fp8" in hw.tflops else "bf16"
        try:
            with use_provider("measured"):
                sys = build_system(catalog, hw.id, model, quant, engine)
        except (CatalogError, ScenarioError):
            continue
        k = sys.step.kernels
        if k is None:
            continue
        kv_p, attn_p = sys.step.seq_terms(prompt, 0)
        # the measured operators only: the per-step overhead (ours) and the element-wise operators
        # (AIConfigurator's analytical pricing, not a measurement) left out
        meas_p = k.stage(1, prompt, kv_p, attn_p) - k.overhead_s - k.layers * (k.ew[0] + k.ew[1] * prompt) * 1e-3
        ideal = Efficiency(
            bandwidth_efficiency=1.0,
            compute_efficiency=1.0,
            step_overhead_ms=0.0,
            layer_overhead_us=0.0,
            provenance="ideal roofline",
        )
        sys.step.set_efficiency(ideal, "ideal")
        roof_p = sys.step.step_time_agg(1, prompt, kv_p, attn_p)
        bw: list[float] = []
        for backend in ("trtllm", "vllm", "sglang"):
            vs = _versions(system.value, "gemm", backend)
            for dtype, bytes_per in (("bfloat16", 2.0), ("fp8", 1.0)):
                for (n, kk), (ms, lat) in (_gemm_table(system.value, backend, vs[-1], dtype) if vs else {}).items():
                    if n * kk >= 64e6:
                        small = ms <= 4
                        bw.extend(
                            (bytes_per * n * kk / (lat[small] * 1e-3) / (hw.memory_bandwidth_gbs.value * 1e9)).tolist()
                        )
        out[hw.id] = {
            "system": system.value,
            "family": hw.family,
            "quant": quant,
            "tables": k.label(),
            "compute_efficiency": round(roof_p / meas_p, 4),
            "prefill_ms": round(meas_p * 1e3, 3),
            "bandwidth_efficiency": round(median(bw), 4) if bw else None,
            "gemv_points": len(bw),
        }
    return out


def derive_priors(catalog: Catalog) -> dict:
    """The CUDA serving engines' priors from the measured kernels: the median over the mapped
    systems of `table_efficiencies`, clamped into the physical ranges of
    profiles/calibration_priors/priors.toml."""
    eff = table_efficiencies(catalog)
    if not eff:
        return {}
    b = bounds_for("vllm", "cuda")
    comp = [v["compute_efficiency"] for v in eff.values()]
    bw = [v["bandwidth_efficiency"] for v in eff.values() if v["bandwidth_efficiency"]]
    comp = [c for c in comp if c]

    def clamp(x, name):
        i = PARAMS.index(name)
        lo, hi = float(b.low[i]), float(b.high[i])
        return round(min(max(x, lo), hi), 4), x < lo or x > hi

    c, c_clamped = clamp(median(comp), "compute_efficiency")
    w, w_clamped = clamp(median(bw), "bandwidth_efficiency")
    return {
        "systems": eff,
        "compute_efficiency": c,
        "compute_efficiency_clamped": c_clamped,
        "bandwidth_efficiency": w,
        "bandwidth_efficiency_clamped": w_clamped,
    }
