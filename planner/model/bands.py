"""80% uncertainty bands and calibration-class provenance for `predict`.

The bands come from held-out errors (leave-one-source-out and leave-one-family-out residuals of
`python -m planner validate --loo --write-bands`, stored in
``profiles/calibration_bands/bands.toml``) of the prediction's engine x backend x kind class,
widened where the class has few rows, where its hardware family was never measured, and where the
batch or context goes beyond what was measured (`planner.model.calibration.widen`)."""

from __future__ import annotations

import math
import tomllib
from functools import lru_cache

from planner.model.calibration import band_entry, band_kind, widen
from planner.model.perf import System
from planner.model.priors import BACKEND
from planner.paths import builtin

BANDS_PATH = builtin("profiles", "calibration_bands", "bands.toml")


@lru_cache(maxsize=4)
def load_bands(path: str = str(BANDS_PATH)) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh).get("classes", {})
    except (OSError, tomllib.TOMLDecodeError):
        return {}  # no bands written yet: predictions carry none


def calibration_info(sys: System) -> dict:
    """Which calibration class a prediction used, how many rows stand behind it, and the fallback."""
    engine, vendor = sys.deployment.engine.id, sys.deployment.hw.vendor
    backend = BACKEND.get(vendor, vendor)
    label = sys.step.eff_label
    src_engine, _, key = label.partition(" ")[0].partition(":")
    fallback = None
    if key == "prior":
        cls = f"{engine} x {backend} (priors only)"
        fallback = (
            f"no measurements of {engine} on {backend} nor of an engine it borrows from: the physical "
            "priors of profiles/calibration_priors/priors.toml"
        )
    else:
        scope = "all backends" if key == "default" else (backend if key == vendor else f"{backend}, {key} family")
        cls = f"{src_engine} x {scope}"
        if src_engine != engine:
            fallback = f"{engine} has no {backend} measurements of its own: borrows {src_engine}'s {scope} class"
        elif key == "default":
            fallback = f"too few {engine} x {backend} rows for a class of its own: the pooled {engine} fit"
    src = sys.deployment.catalog.engines.get(src_engine) if key != "prior" else None
    return {
        "calibration_class": cls,
        "calibration_rows": sys.step.eff.fitted_on_rows,
        "calibration_fallback": fallback,
        "calibration_engine_versions": list(src.calibrated_versions) if src is not None else [],
    }


def bands(
    sys: System,
    *,
    batch: int,
    prompt: int,
    gen: int,
    prefill: float | None,
    decode: float | None,
    ttft: float | None,
    tpot: float | None,
) -> dict:
    """`*_band80` fields ([low, high], None where the figure is None or no band exists)."""
    table = load_bands()
    out = {
        "decode_tok_s_band80": None,
        "prefill_tok_s_band80": None,
        "ttft_s_band80": None,
        "tpot_s_band80": None,
        "band": {},
    }
    for kind, speed, time_key, t in (
        ("decode", decode, "tpot_s_band80", tpot),
        ("prefill", prefill, "ttft_s_band80", ttft),
    ):
        cls_kind = band_kind("decode_tok_s", batch) if kind == "decode" else kind  # batched decode: own class
        entry, key = band_entry(table, sys.deployment.engine.id, sys.deployment.hw.vendor, cls_kind)
        if entry is None:
            continue
        dep = sys.deployment
        lo, hi, why = widen(
            entry, key, dep.hw.family, batch, prompt + gen, prior_only=sys.step.eff_label.endswith(":prior")
        )
        if speed:
            # lo/hi bound log(predicted / measured speed): measured = predicted x exp(-err)
            out[f"{kind}_tok_s_band80"] = [round(speed * math.exp(-hi), 3), round(speed * math.exp(-lo), 3)]
        if t:
            out[time_key] = [round(t * math.exp(lo), 6), round(t * math.exp(hi), 6)]
        out["band"][kind] = {"class": key, "rows": entry["rows"], "sources": entry["sources"], "widened": why}
    return out
