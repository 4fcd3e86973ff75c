"""Physical ranges and priors of the calibrated step-time parameters
(``profiles/calibration_priors/priors.toml``, each with its source), shared by the fit
(`planner.model.calibration`) and the prior-only fallback of a prediction (`planner.model.perf`)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from planner.catalog.loader import Efficiency
from planner.paths import builtin

PRIORS_PATH = builtin("profiles", "calibration_priors", "priors.toml")
PARAMS = (
    "bandwidth_efficiency",
    "compute_efficiency",
    "step_overhead_ms",
    "layer_overhead_us",
    "quantized_compute_penalty",
    "small_batch_efficiency_ratio",
    "small_batch_knee_tokens",
    "request_overhead_ms",
)
BACKEND = {"apple": "metal", "nvidia": "cuda", "amd": "rocm"}  # the GPU software stack of a vendor's hardware
ACHIEVABLE_PATH = PRIORS_PATH.parent / "achievable.toml"
OFF = {5: 1.0, 6: 64.0}  # small-batch terms when no row can identify them: switched off


class PriorsError(ValueError):
    pass


@dataclass(frozen=True)
class Bounds:
    """Physical range and prior of every parameter for one engine x backend class
    (profiles/calibration_priors/priors.toml, each with its source)."""

    low: np.ndarray
    high: np.ndarray
    prior: np.ndarray
    sd: np.ndarray
    weight: float
    sources: tuple[str, ...]


@lru_cache(maxsize=4)
def _load_priors(path: str) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PriorsError(f"cannot read the calibration priors {path}: {exc}") from None


def bounds_for(engine: str, backend: str | None, path: str | Path = PRIORS_PATH) -> Bounds:
    """Range and prior of each parameter: the defaults, then the engine's, the backend's and the
    engine@backend class's overrides (later wins)."""
    data = _load_priors(str(path))
    lo, hi, pr, sd, src = [], [], [], [], []
    for k in PARAMS:
        entry = data.get(k)
        if not entry:
            raise PriorsError(f"{path}: no [{k}] table (every calibrated parameter needs a range and a prior)")
        vals = {f: entry[f] for f in ("low", "high", "prior", "sd") if f in entry}
        why = [entry.get("source") or entry.get("derived") or ""]
        layers = [entry.get("engine", {}).get(engine)]
        if backend:
            layers += [entry.get("backend", {}).get(backend), entry.get("class", {}).get(f"{engine}@{backend}")]
        for over in layers:
            if over:
                vals.update({f: over[f] for f in ("low", "high", "prior", "sd") if f in over})
                why.append(over.get("source") or over.get("derived") or "")
        missing = [f for f in ("low", "high", "prior", "sd") if f not in vals]
        if missing or not vals["low"] <= vals["prior"] <= vals["high"] or vals["sd"] <= 0:
            raise PriorsError(
                f"{path}: [{k}] for {engine}@{backend}: needs low <= prior <= high and sd > 0 (missing {missing})"
                if missing
                else f"{path}: [{k}] for {engine}@{backend}: needs low <= prior <= high and sd > 0"
            )
        lo.append(vals["low"])
        hi.append(vals["high"])
        pr.append(vals["prior"])
        sd.append(vals["sd"])
        src.append(" | ".join(w for w in why if w))
    weight = float(data.get("regularisation", {}).get("weight", 0.1))
    return Bounds(
        np.array(lo, float), np.array(hi, float), np.array(pr, float), np.array(sd, float), weight, tuple(src)
    )


def prior_efficiency(engine: str, vendor: str):
    """Efficiency parameters at their physical priors, for an engine x backend with no measurements."""
    backend = BACKEND.get(vendor)
    b = bounds_for(engine, backend)
    v = dict(zip(PARAMS, (float(x) for x in b.prior)))
    v.update({PARAMS[i]: x for i, x in OFF.items()})
    v["request_overhead_ms"] = 0.0
    return Efficiency(
        **v,
        fitted_on_rows=0,
        provenance=f"prior only: no measurements of {engine} x {backend}; the physical priors of "
        f"profiles/calibration_priors/priors.toml",
    )


def achievable_tflops(hardware: str, dtype: str) -> tuple[float, str] | None:
    """A sourced measured-GEMM throughput (TFLOPS) for hardware whose peak is not reached, with its
    source (profiles/calibration_priors/achievable.toml), or None."""
    data = _load_priors(str(ACHIEVABLE_PATH))
    e = data.get(hardware, {}).get(dtype)
    if not e:
        return None
    return float(e["value"]), f"{e.get('kind', 'measured GEMM')}: {e.get('source') or e.get('derived')}"
