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

import copy
import json
import tempfile
from pathlib import Path
from statistics import median

from .calibration import DEFAULT_DATA, Row, bind_rows, calibrate, parse_rows, read_rows
from .catalog import Catalog
from .errors import CatalogError, ScenarioError
from .kernels import BACKENDS, CHOICE_RULE, CHOICES_FILE, class_choices, data_root, package_version, use_provider
from .perf import build_system
from .predict import predict
from .scenario import parse_scenario
from .serve_validation import row_scenario, simulated_value
from .sim import simulate_scenario

METRICS = ("throughput", "tpot", "single_stream_decode", "ttft")


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


def metric_of(r: Row) -> str | None:
    if r.metric == "throughput_tok_s":
        return "throughput"
    if r.metric == "tpot_ms":
        return "single_stream_decode" if r.batch == "1" else "tpot"
    if r.metric == "ttft_ms" and r.batch == "1":
        return "ttft"
    return None


def _source_key(r: Row) -> str:
    return r.source.split(" (")[0].strip()


def predict_row(catalog: Catalog, r: Row, requests: int = 600) -> float | None:
    """The row's metric under the current provider, or None where the row cannot be reproduced."""
    kind = metric_of(r)
    if kind is None or r.prompt is None:
        return None
    if kind in ("single_stream_decode", "ttft"):
        gen = r.gen if kind == "single_stream_decode" else 1
        if gen is None or (kind == "single_stream_decode" and gen < 2):
            return None
        res = predict(catalog, hardware=r.hardware_id, model=r.model_id, quant=r.quant_id, engine=r.engine_id,
                      devices=r.devices, batch=1, prompt=r.prompt, gen=max(gen, 2) if kind == "single_stream_decode" else 0)
        return 1000.0 * (res["tpot_s"] if kind == "single_stream_decode" else res["ttft_s"])
    sc, _how = row_scenario(r if kind == "throughput" else _as_throughput(r), requests)
    if sc is None:
        return None
    res = simulate_scenario(catalog, parse_scenario(sc))
    if kind == "tpot":
        return float(res.summary["tpot_ms"]["p50"])
    return simulated_value(_as_throughput(r), res.summary)  # per GPU / total tokens as the row's unit says


def _as_throughput(r: Row) -> Row:
    return Row(**{**r.__dict__, "metric": "throughput_tok_s"})


def _refit_catalog(catalog: Catalog, data: Path, drop_source: str) -> Catalog:
    """The catalog with every engine's calibration refitted without one source's rows."""
    text = data.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    rows = parse_rows(text, str(data))
    keep = [lines[0]] + [ln for ln, r in zip(lines[1:], rows) if _source_key(r) != drop_source]
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "calibration.csv"
        p.write_text("".join(keep), encoding="utf-8")
        fits = calibrate(catalog, p)
    cat = copy.copy(catalog)
    cat.engines = dict(catalog.engines)
    for eng, classes in fits.items():
        if eng in cat.engines:
            cat.engines[eng] = cat.engines[eng].model_copy(update={"calibration": classes})
    return cat


def compare(catalog: Catalog, data: str | Path = DEFAULT_DATA, requests: int = 600, loso: bool = True) -> dict:
    """Both providers on every reproducible NVIDIA datacenter row, leave-one-source-out."""
    data = Path(data)
    all_rows = read_rows(data)
    rows = nvidia_datacenter_rows(catalog, all_rows)
    # a source whose rows the roofline is fitted on gets a refit without it; others use the full fit
    fitted, _ = bind_rows(catalog, all_rows)
    fitted_sources = {_source_key(m.row) for m in fitted}
    cats: dict[str, Catalog] = {}
    out, skipped = [], []
    for r in rows:
        kind = metric_of(r)
        src = _source_key(r)
        cat = catalog
        if loso and src in fitted_sources:
            if src not in cats:
                cats[src] = _refit_catalog(catalog, data, src)
            cat = cats[src]
        preds, notes = {}, {}
        try:
            for mode in ("roofline", "measured"):
                with use_provider(mode):
                    preds[mode] = predict_row(cat, r, requests)
                    notes[mode] = build_system(cat, r.hardware_id, r.model_id, r.quant_id, r.engine_id,
                                               devices=r.devices).provider_note
        except (CatalogError, ScenarioError) as exc:
            skipped.append({"id": r.id, "reason": str(exc)})
            continue
        if kind is None or preds["roofline"] is None:
            skipped.append({"id": r.id, "reason": f"{r.metric} at load '{r.batch}' without stated lengths: "
                            "not reproducible"})
            continue
        covered = not notes["measured"].startswith("calibrated roofline")
        hw = catalog.hardware[r.hardware_id]
        out.append({"id": r.id, "class": f"{r.engine_id}:{hw.family}", "hardware": r.hardware_id,
                    "devices": r.devices, "model": r.model_id, "quant": r.quant_id, "engine": r.engine_id,
                    "metric": kind, "load": r.batch, "prompt": r.prompt, "gen": r.gen, "measured": r.value,
                    "roofline": round(preds["roofline"], 3), "measured_kernels": round(preds["measured"], 3),
                    "roofline_error_pct": round(_err(preds["roofline"], r.value), 2),
                    "measured_kernels_error_pct": round(_err(preds["measured"], r.value), 2),
                    "confidence": r.confidence, "covered": covered, "provider": notes["measured"]})
    chosen = choices(out)
    for x in out:  # what `auto` predicts: the class's verdict where the tables cover the row
        use = chosen.get(x["class"], {}).get("provider", "measured") if x["covered"] else "roofline"
        x["chosen"] = use
        x["chosen_error_pct"] = x["roofline_error_pct" if use == "roofline" else "measured_kernels_error_pct"]
    by_metric = _summary(out, "metric")
    for m, s in by_metric.items():
        s["chosen_median_abs_pct"] = _med([x for x in out if x["metric"] == m], "chosen_error_pct")
    return {"rule": CHOICE_RULE, "rows": out, "skipped": skipped, "by_metric": by_metric,
            "by_class": _summary(out, "class"), "choices": chosen,
            "refitted_without": sorted(cats), "requests_per_simulation": requests}


def _err(pred: float, meas: float) -> float:
    return 100.0 * (pred - meas) / meas


def _summary(rows: list[dict], key: str) -> dict:
    groups: dict[str, list[dict]] = {}
    for x in rows:
        groups.setdefault(x[key], []).append(x)
    out = {}
    for g, xs in sorted(groups.items()):
        cov = [x for x in xs if x["covered"]]
        out[g] = {"rows": len(xs), "roofline_median_abs_pct": _med(xs, "roofline_error_pct"),
                  "measured_kernels_median_abs_pct": _med(xs, "measured_kernels_error_pct"),
                  "covered_rows": len(cov), "covered_roofline_median_abs_pct": _med(cov, "roofline_error_pct"),
                  "covered_measured_kernels_median_abs_pct": _med(cov, "measured_kernels_error_pct")}
    return out


def _med(xs: list[dict], k: str):
    v = [abs(x[k]) for x in xs]
    return round(median(v), 2) if v else None


def choices(rows: list[dict]) -> dict[str, dict]:
    """CHOICE_RULE applied per class on the covered rows."""
    out = {}
    for cls, s in _summary([x for x in rows if x["covered"]], "class").items():
        roof, meas = s["roofline_median_abs_pct"], s["measured_kernels_median_abs_pct"]
        out[cls] = {"provider": "roofline" if meas > roof else "measured", "rows": s["rows"],
                    "roofline_median_abs_pct": roof, "measured_kernels_median_abs_pct": meas}
    return out


def write_choices(result: dict, path: Path = CHOICES_FILE, data_name: str = "calibration.csv") -> Path:
    lines = ["# Written by `python -m planner validate --providers --write`; do not edit by hand.",
             f"# Rule: {result['rule']}.",
             f'data = "{data_name}"', ""]
    for cls, c in sorted(result["choices"].items()):
        lines += [f'[classes."{cls}"]', f'provider = "{c["provider"]}"', f'rows = {c["rows"]}',
                  f'roofline_median_abs_pct = {c["roofline_median_abs_pct"]}',
                  f'measured_kernels_median_abs_pct = {c["measured_kernels_median_abs_pct"]}', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def print_report(catalog: Catalog, args) -> int:
    """`python -m planner validate --providers [--write] [--json]`."""
    if data_root() is None:
        print("NVIDIA's tables are not installed: pip install 'inference-planner[nvidia-data]' "
              "(every prediction uses the calibrated roofline)")
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
        print(f"{x['id']:<16} {x['class']:<28} {x['metric']:<21} {x['measured']:>10.1f} "
              f"{x['roofline_error_pct']:>+8.1f}% {x['measured_kernels_error_pct']:>+8.1f}%{flag}")
    print("median |error|, leave-one-source-out (roofline refitted without the row's source):")
    for m, s in res["by_metric"].items():
        print(f"  {m:<21} {s['rows']:>3} rows: roofline {s['roofline_median_abs_pct']:.1f}%, measured kernels "
              f"{s['measured_kernels_median_abs_pct']:.1f}%, by the rule {s['chosen_median_abs_pct']:.1f}% "
              f"({s['covered_rows']} rows covered by the tables)")
    print(f"rule: {res['rule']}")
    for cls, c in res["choices"].items():
        print(f"  {cls:<28} -> {c['provider']:<9} ({c['rows']} rows: roofline {c['roofline_median_abs_pct']:.1f}%, "
              f"measured kernels {c['measured_kernels_median_abs_pct']:.1f}%)")
    if "written" in res:
        print(f"wrote {res['written']}")
    return 0
