"""Calibration data: reading measurement rows, predicting them, fitting efficiency parameters,
and the validation report (including leave-one-family-out).

Rows follow ``../shared/reference/calibration.csv``'s format (a copy with its sources is kept in
``data/calibration.csv``).  Only ``mode=predict`` rows (single engine runs at a fixed batch) are
predicted here; ``mode=serve`` rows need the serving simulator.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import median

import numpy as np

from planner.catalog.loader import Catalog, Efficiency
from planner.errors import CatalogError, DataError, ScenarioError
from planner.model.perf import System, build_system, calibration_chain, calibration_for, lookup_calibration
from planner.model.priors import BACKEND, OFF, PARAMS, PRIORS_PATH, Bounds, bounds_for  # noqa: F401
from planner.paths import builtin as _builtin

REPO = _builtin()  # the data root (planner.paths): profiles/ and data/ are package data
DEFAULT_DATA = _builtin("data", "calibration.csv")
REQUIRED_COLUMNS = (
    "id",
    "hardware_id",
    "devices",
    "model_id",
    "quant_id",
    "engine_id",
    "mode",
    "batch_or_concurrency",
    "prompt_tokens",
    "gen_tokens",
    "metric",
    "value",
)
PREDICT_METRICS = ("prefill_tok_s", "decode_tok_s", "e2e_latency_s")
SUMMARY_METRICS = PREDICT_METRICS + ("ttft_ms",)
LATENCY_METRICS = ("ttft_ms", "e2e_latency_s")  # lower is faster
# which speed a metric measures (for bands and held-out summaries): a first-token latency is a prefill,
# the end-to-end latency of a long generation is dominated by decode
KIND = {"prefill_tok_s": "prefill", "ttft_ms": "prefill", "decode_tok_s": "decode", "e2e_latency_s": "decode"}

# llama-bench's defaults (-p 512 -n 128), used where a row does not state its lengths
DEFAULT_PP, DEFAULT_TG = 512, 128


@dataclass(frozen=True)
class Row:
    id: str
    hardware_id: str
    devices: int
    model_id: str
    quant_id: str
    engine_id: str
    mode: str
    batch: str  # may be text for serve rows ("max (offline...)", "Server 75 QPS target")
    prompt: int | None
    gen: int | None
    metric: str
    value: float
    confidence: str
    source: str
    notes: str
    unit: str = ""  # e.g. 'output tok/s per GPU': serve_validation reads per-GPU / total-token units
    engine_version: str = ""  # the engine build or release the row was measured with, where stated

    def release(self) -> str | None:
        """The engine release the row states, as the version string a prediction asks for
        ("SGLang 0.5.6.post1" -> "0.5.6.post1", "TensorRT-LLM v0.6.1" -> "0.6.1"); None where the row
        states none or only a build number (llama.cpp's "b1550")."""
        m = re.search(r"(?:^|\s)v?(\d+(?:\.\d+)*(?:\.post\d+)?)$", self.engine_version.strip())
        return m.group(1) if m else None

    def machine(self) -> tuple[int, int, str | None]:
        """(devices per machine, machines, link between them) of the row's `devices`: more than 8
        GPUs in a multiple of 8 are 8-GPU servers (an HGX/DGX board's NVLink domain holds 8) joined
        by InfiniBand NDR, as the serve rows are read; else one machine."""
        if self.devices > 8 and self.devices % 8 == 0:
            return 8, self.devices // 8, "infiniband-ndr-400g"
        return self.devices, 1, None

    def lengths(self) -> tuple[int, int, int, bool]:
        """(batch, prompt, gen, assumed) for a predict row; blanks take llama-bench's defaults."""
        assumed = False
        b = int(self.batch) if self.batch.strip().isdigit() else 1
        if self.metric in ("prefill_tok_s", "ttft_ms"):
            p = self.prompt if self.prompt is not None else DEFAULT_PP
            assumed = self.prompt is None
            return b, p, 0, assumed
        p = self.prompt if self.prompt is not None else 0
        g = self.gen if self.gen is not None else DEFAULT_TG
        assumed = self.gen is None
        return b, p, g, assumed


def _int_or_none(text: str, field: str, line: int) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        v = int(float(text))
    except ValueError:
        raise DataError(f"line {line}: column '{field}' must be a whole number or empty, got '{text}'") from None
    if v < 0:
        raise DataError(f"line {line}: column '{field}' must be >= 0, got {v}")
    return v


def read_rows(path: str | Path) -> list[Row]:
    """Read measurement rows; a malformed file raises DataError naming the line and column."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {p}: {exc}") from None
    return parse_rows(text, str(p))


def parse_rows(text: str, name: str = "<data>") -> list[Row]:
    reader = csv.DictReader(io.StringIO(text))
    cols = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
    if missing:
        raise DataError(
            f"{name}: missing column(s) {', '.join(missing)}; the header must include {', '.join(REQUIRED_COLUMNS)}"
        )
    rows = []
    for i, r in enumerate(reader, start=2):
        try:
            value = float(r["value"])
        except (TypeError, ValueError):
            raise DataError(f"{name} line {i}: column 'value' must be a number, got '{r['value']}'") from None
        if not math.isfinite(value) or value <= 0:
            raise DataError(f"{name} line {i}: column 'value' must be a positive number, got '{r['value']}'")
        devices = _int_or_none(r["devices"], "devices", i) or 1
        rows.append(
            Row(
                id=r["id"],
                hardware_id=r["hardware_id"],
                devices=devices,
                model_id=r["model_id"],
                quant_id=r["quant_id"],
                engine_id=r["engine_id"],
                mode=(r["mode"] or "").strip(),
                batch=(r["batch_or_concurrency"] or "").strip(),
                prompt=_int_or_none(r["prompt_tokens"], "prompt_tokens", i),
                gen=_int_or_none(r["gen_tokens"], "gen_tokens", i),
                metric=r["metric"].strip(),
                value=value,
                confidence=(r.get("confidence") or "normal").strip(),
                source=r.get("source") or "",
                notes=r.get("notes") or "",
                unit=r.get("unit") or "",
                engine_version=(r.get("engine_version") or "").strip(),
            )
        )
    if not rows:
        raise DataError(f"{name}: no data rows")
    return rows


CONTRADICTION = 1.5  # two rows of one configuration further apart than this contradict each other


def _version_key(v: str):
    """Order engine versions: llama.cpp build numbers (b1550), else dotted releases (0.9.1, v0.6.1)."""
    m = re.search(r"\bb(\d{3,6})$", v) or re.search(r"v?(\d+(?:\.\d+)*)$", v)
    if not m:
        return None
    return tuple(int(x) for x in m.group(1).split("."))


def contradicting_pairs(rows: list[Row]) -> list[tuple[Row, Row]]:
    """Pairs of confidence=normal predict rows of one configuration (hardware, devices, model, quant,
    engine, batch, lengths, metric) whose values differ by more than CONTRADICTION."""
    groups: dict[tuple, list[Row]] = {}
    for r in rows:
        if r.mode != "predict" or r.confidence != "normal":
            continue
        b, p, g, _ = r.lengths()
        groups.setdefault(
            (r.hardware_id, r.devices, r.model_id, r.quant_id, r.engine_id, b, p, g, r.metric), []
        ).append(r)
    out = []
    for rs in groups.values():
        for i, a in enumerate(rs):
            for c in rs[i + 1 :]:
                if max(a.value, c.value) / min(a.value, c.value) > CONTRADICTION:
                    out.append((a, c))
    return out


def superseded(rows: list[Row]) -> dict[str, str]:
    """The superseded-build rule, the one place it is applied: of two contradicting rows of one
    configuration (see contradicting_pairs) whose engine versions are both stated and ordered for
    the same engine, the older build's row is superseded and the fit drops it (validation still
    reports it). Pairs where either version is unknown are kept, and documented, not guessed at.
    Returns {superseded row id: why}."""
    out = {}
    for a, c in contradicting_pairs(rows):
        ka, kc = _version_key(a.engine_version), _version_key(c.engine_version)
        if ka is None or kc is None or ka == kc or a.engine_version.split()[0] != c.engine_version.split()[0]:
            continue
        old, new = (a, c) if ka < kc else (c, a)
        out[old.id] = f"superseded by {new.id} ({new.engine_version} vs {old.engine_version})"
    return out


OUTLIERS_PATH = _builtin("data", "outliers.toml")
OUTLIER_PCT = 35.0  # a row predicted further off than this needs a stated reason (issue 9)


@lru_cache(maxsize=4)
def _outliers(path: str) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DataError(f"cannot read the stated outlier reasons {path}: {exc}") from None


def stated_reasons(path: str | Path = OUTLIERS_PATH) -> dict[str, str]:
    """{row id: why} for rows predicted more than OUTLIER_PCT off (data/outliers.toml: one reason
    per group of rows, each naming the mechanism or the data problem)."""
    out: dict[str, str] = {}
    for entry in _outliers(str(path)).get("reason", []):
        for rid in entry.get("rows", []):
            out[rid] = entry["why"]
    return out


def documented_pairs(path: str | Path = OUTLIERS_PATH) -> dict[frozenset, str]:
    """{frozenset of two row ids: what is known about them} for contradicting pairs."""
    return {frozenset(e["rows"]): e["why"] for e in _outliers(str(path)).get("pair", [])}


def over_threshold(records: list[dict], kind: str, reasons: dict[str, str] | None = None) -> list[dict]:
    """Rows (records with 'model' and 'error_pct') off by more than OUTLIER_PCT, each with its stated
    reason ('' when none is stated: a test fails on that)."""
    reasons = stated_reasons() if reasons is None else reasons
    return [
        {
            "id": r["model"].row.id,
            "metric": r["model"].row.metric,
            "error_pct": round(r["error_pct"], 2),
            "kind": kind,
            "reason": reasons.get(r["model"].row.id, ""),
        }
        for r in sorted(records, key=lambda r: -abs(r["error_pct"]))
        if abs(r["error_pct"]) > OUTLIER_PCT
    ]


VERSIONS_PATH = PRIORS_PATH.parent / "versions.toml"


def old_build(row: Row, path: str | Path = VERSIONS_PATH) -> str:
    """The older-build rule (written once, profiles/calibration_priors/versions.toml): '<engine>-old'
    when the row states an engine version older than its engine's `old_before` release, else ''."""
    cut = _outliers(str(path)).get("engines", {}).get(row.engine_id, {}).get("old_before")
    if not cut or not row.engine_version:
        return ""
    k, kc = _version_key(row.engine_version.split()[-1]), _version_key(cut)
    return f"{row.engine_id}-old" if k is not None and kc is not None and k < kc else ""


def left_out_of_fit(rows: list[Row]) -> dict[str, str]:
    """{row id: why} for rows the fit drops: superseded rows and older-build rows (both reported)."""
    out = {r.id: f"older build: class {old_build(r)}" for r in rows if old_build(r)}
    out.update(superseded(rows))
    return out


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


class RowModel:
    """A predict row bound to its System, re-evaluated quickly under other efficiencies."""

    def __init__(self, catalog: Catalog, row: Row):
        self.row = row
        self.batch, self.prompt, self.gen, self.assumed = row.lengths()
        devices, nodes, link = row.machine()
        self.sys: System = build_system(
            catalog, row.hardware_id, row.model_id, row.quant_id, row.engine_id, devices=devices, nodes=nodes, link=link
        )

    def predict(self, eff: Efficiency | None = None) -> float:
        if eff is not None:
            self.sys.step.set_efficiency(eff, "fit")
        if self.row.metric == "prefill_tok_s":
            return self.batch * self.prompt / self.sys.step.prefill_time(self.prompt, self.batch)
        if self.row.metric == "ttft_ms":  # batch-1 latency table: the first token is one prefill
            return 1000.0 * self.sys.step.prefill_time(self.prompt, 1) + self.sys.step.eff.request_overhead_ms
        if self.row.metric == "e2e_latency_s":  # a whole fixed batch: prefill (token 1), then gen - 1 steps
            t = self.sys.step.prefill_time(self.prompt, self.batch) if self.prompt else 0.0
            return t + float(self.sys.step.decode_times(self.prompt, max(self.gen - 1, 0), self.batch).sum())
        return self.batch * self.gen / float(self.sys.step.decode_times(self.prompt, self.gen, self.batch).sum())

    @property
    def group_keys(self) -> tuple[str, str, str]:
        hw = self.sys.deployment.hw
        return hw.family, hw.vendor, "default"

    @property
    def backend(self) -> str:
        return BACKEND[self.sys.deployment.hw.vendor]

    def speed_log_error(self, pred: float) -> float:
        """log(predicted speed / measured speed): > 0 when the model is too fast."""
        r = math.log(pred / self.row.value)
        return -r if self.row.metric in LATENCY_METRICS else r


def bind_rows(catalog: Catalog, rows: list[Row], *, normal_only: bool = False):
    """Split rows into predictable RowModels and skipped (row, reason) pairs."""
    bound, skipped = [], []
    for r in rows:
        single_prefill = r.mode == "serve" and r.metric == "ttft_ms" and r.batch == "1"
        if r.mode != "predict" and not single_prefill:
            skipped.append((r, f"mode={r.mode}: a serving load test, needs the simulator"))
            continue
        if r.metric not in PREDICT_METRICS and not single_prefill:
            skipped.append((r, f"metric {r.metric} is not predicted by `predict`"))
            continue
        if normal_only and r.confidence != "normal":
            skipped.append((r, "confidence=low (secondary copy): not used for fitting"))
            continue
        try:
            bound.append(RowModel(catalog, r))
        except (CatalogError, ScenarioError) as exc:
            skipped.append((r, str(exc)))
    return bound, skipped


def _eff(x: np.ndarray, provenance: str, n: int) -> Efficiency:
    return Efficiency(
        bandwidth_efficiency=round(float(x[0]), 5),
        compute_efficiency=round(float(x[1]), 5),
        step_overhead_ms=round(float(x[2]), 5),
        layer_overhead_us=round(float(x[3]), 4),
        quantized_compute_penalty=round(float(x[4]), 5),
        small_batch_efficiency_ratio=round(float(x[5]), 5),
        small_batch_knee_tokens=round(float(x[6]), 3),
        request_overhead_ms=round(float(x[7]), 5),
        fitted_on_rows=n,
        provenance=provenance,
    )


def at_bounds(eff: Efficiency, b: Bounds, tol: float = 1e-3) -> list[str]:
    """Parameters of a fit sitting on a bound of their range ('name=low' / 'name=high')."""
    out = []
    for i, k in enumerate(PARAMS):
        v = getattr(eff, k)
        span = max(b.high[i] - b.low[i], 1e-12)
        if i in OFF and v == OFF[i] or k in ("request_overhead_ms", "quantized_compute_penalty") and v == 0.0:
            continue  # switched off: the rows cannot identify it (no first-token rows, or float weights only)
        if v <= b.low[i] + tol * span:
            out.append(f"{k}=low")
        elif v >= b.high[i] - tol * span:
            out.append(f"{k}=high")
    return out


PRIOR_WEIGHT = 0.3  # a chip family's pull towards its backend's fit
# a chip family gets a class of its own only from rows of at least this many public sources: one
# source's family rows carry that source's build and setup, which its parent class averages out
MIN_SOURCES = 2


def fit_group(
    models: list[RowModel], provenance: str, parent: Efficiency | None = None, bounds: Bounds | None = None
) -> Efficiency:
    """Least squares on log(predicted / measured), bounded to each parameter's physical range and
    regularised towards its prior (a Gaussian penalty, `bounds.weight` per standard deviation), so
    rows that cannot identify a parameter leave it at its prior; deterministic (fixed start).

    Vendor/backend and pooled fits use a robust (soft L1) loss, so one outlying measurement cannot
    pull them. With a `parent` (the backend's fit), the group is a chip family: its parameters are
    shrunk towards the parent's values instead of the physical priors (plain least squares, since a
    family's rows differ from its backend's systematically, not by outliers)."""
    from scipy.optimize import least_squares  # lazy: a heavy import (5x numpy's), only `calibrate` fits

    b = bounds or bounds_for(models[0].sys.deployment.engine.id, None)
    meas = np.array([m.row.value for m in models])
    has_quant = any(m.sys.deployment.quant.family in ("gguf", "mlx") for m in models)
    has_float = any(m.sys.deployment.quant.family not in ("gguf", "mlx") for m in models)
    # which parameters these rows can identify; the others keep the parent's (or prior) values
    free = np.ones(len(PARAMS), dtype=bool)
    free[4] = has_quant and has_float  # dequantization penalty: needs both kinds of weights
    free[5] = free[6] = any(m.row.metric in ("decode_tok_s", "e2e_latency_s") and m.batch > 1 for m in models)
    free[7] = any(m.row.metric == "ttft_ms" for m in models)  # request overhead: only first-token latencies see it
    p0 = np.array([getattr(parent, k) for k in PARAMS]) if parent is not None else None
    centre = np.clip(p0, b.low, b.high) if p0 is not None else b.prior.copy()
    fixed = centre.copy()
    if p0 is None:
        fixed[4] = 0.0 if not has_quant else b.prior[4]
        fixed[7] = 0.0  # not measured: no request overhead added
        for i, v in OFF.items():
            fixed[i] = v
    weight = PRIOR_WEIGHT if p0 is not None else b.weight

    def full(x: np.ndarray) -> np.ndarray:
        return np.where(free, x, fixed)

    def resid(x: np.ndarray) -> np.ndarray:
        v = full(x)
        eff = Efficiency(
            bandwidth_efficiency=v[0],
            compute_efficiency=v[1],
            step_overhead_ms=v[2],
            layer_overhead_us=v[3],
            quantized_compute_penalty=v[4],
            small_batch_efficiency_ratio=v[5],
            small_batch_knee_tokens=v[6],
            request_overhead_ms=v[7],
            provenance="fit",
        )
        r = np.log(np.array([m.predict(eff) for m in models]) / meas)
        return np.concatenate([r, weight * ((x - centre) / b.sd)[free]])

    start = np.clip(centre, b.low + 1e-9, b.high - 1e-9)
    loss = "linear" if parent is not None else "soft_l1"
    res = least_squares(resid, start, bounds=(b.low, b.high), loss=loss, f_scale=0.1, x_scale=b.sd, max_nfev=600)
    x = np.clip(full(res.x), b.low, b.high)
    return _eff(x, provenance, len(models))


def fit_engine(models: list[RowModel], provenance: str, min_rows: int = 6) -> dict[str, Efficiency]:
    """Fits per engine x backend (keyed by the hardware vendor whose stack it is) with at least
    `min_rows` rows, per chip family with at least `min_rows` rows (shrunk towards its backend's
    fit), and a pooled 'default' over all hardware; every fit bounded and regularised by the
    physical priors of its class."""
    out: dict[str, Efficiency] = {}
    if not models:
        return out
    engine = models[0].sys.deployment.engine.id
    by_vendor: dict[str, list[RowModel]] = {}
    for m in models:
        by_vendor.setdefault(m.sys.deployment.hw.vendor, []).append(m)
    for vendor, ms in sorted(by_vendor.items()):
        if len(ms) < min_rows:
            continue
        backend = BACKEND[vendor]
        b = bounds_for(engine, backend)
        out[vendor] = fit_group(ms, f"{provenance}; {engine} x {backend}: {len(ms)} {vendor} rows", bounds=b)
        by_family: dict[str, list[RowModel]] = {}
        for m in ms:
            by_family.setdefault(m.sys.deployment.hw.family, []).append(m)
        if len(by_family) > 1:
            for fam, fms in sorted(by_family.items()):
                if len(fms) >= min_rows and len({source_key(m.row) for m in fms}) >= MIN_SOURCES:
                    out[fam] = fit_group(
                        fms,
                        f"{provenance}; {engine} x {backend}: {len(fms)} {fam} rows, shrunk towards the {backend} fit",
                        parent=out[vendor],
                        bounds=b,
                    )
    if len(by_vendor) > 1 or not out:
        # a pooled fit over backends; an engine measured on one backend only has none, so another
        # backend falls back to the engine it borrows from (same backend) or to the priors
        # rows of one backend only (too few for its own class): that backend's priors and ranges
        only = BACKEND[next(iter(by_vendor))] if len(by_vendor) == 1 else None
        out["default"] = fit_group(
            models,
            f"{provenance}; {engine}: {len(models)} rows, all hardware" + (f" (all {only})" if only else ""),
            bounds=bounds_for(engine, only),
        )
    return out


UNITS = {"step_overhead_ms": " ms", "layer_overhead_us": " us", "request_overhead_ms": " ms"}


def class_bounds(engine: str, cls: str) -> Bounds:
    """The bounds a class was fitted under: its backend's for a vendor or chip family, the engine's
    for the pooled 'default'."""
    vendor = next((v for v in BACKEND if cls == v or cls.startswith(v + "-")), None)
    return bounds_for(engine, BACKEND[vendor] if vendor else None)


def calibration_report(fits: dict[str, dict[str, Efficiency]]) -> list[str]:
    """Each fitted parameter with its physical range and prior; '<-- AT LOWER/UPPER BOUND' flags."""
    lines = []
    for eng, classes in fits.items():
        for cls, eff in classes.items():
            b = class_bounds(eng, cls)
            backend = next((BACKEND[v] for v in BACKEND if cls == v or cls.startswith(v + "-")), "all backends")
            lines.append(f"{eng} x {backend} [{cls}]: {eff.fitted_on_rows} rows")
            flags = dict(f.split("=") for f in at_bounds(eff, b))
            for i, k in enumerate(PARAMS):
                u = UNITS.get(k, "")
                flag = f"  <-- AT {flags[k].upper()} BOUND" if k in flags else ""
                lines.append(
                    f"    {k:<30} {getattr(eff, k):>10.4g}{u:<4} range [{b.low[i]:g}, {b.high[i]:g}]"
                    f"  prior {b.prior[i]:g} +- {b.sd[i]:g}{flag}"
                )
    return lines


def errors(models: list[RowModel], effs: dict[str, Efficiency] | None = None) -> list[tuple[RowModel, float, float]]:
    """(row model, predicted, signed % error) using the profile calibration, or `effs` (keyed like
    the calibration classes) when given."""
    out = []
    for m in models:
        if effs is None:
            m.sys.step.set_efficiency(*_profile_eff(m))
            pred = m.predict()
        else:
            eff = next((effs[k] for k in m.group_keys if k in effs), None)
            if eff is None:
                continue
            pred = m.predict(eff)
        out.append((m, pred, 100.0 * (pred - m.row.value) / m.row.value))
    return out


def _profile_eff(m: RowModel):
    return calibration_for(m.sys.deployment.engine, m.sys.deployment.hw, m.sys.deployment.catalog)


def summarize(errs) -> dict[str, dict]:
    out = {}
    for metric in SUMMARY_METRICS:
        e = [abs(x[2]) for x in errs if x[0].row.metric == metric]
        if e:
            out[metric] = {"rows": len(e), "median_abs_pct": round(median(e), 2), "max_abs_pct": round(max(e), 2)}
    return out


def calibrate(catalog: Catalog, data: str | Path = DEFAULT_DATA) -> dict[str, dict[str, Efficiency]]:
    """Fit every engine that has predict rows (confidence=normal)."""
    rows = read_rows(data)
    drop = left_out_of_fit(rows)
    models, _ = bind_rows(catalog, [r for r in rows if r.id not in drop], normal_only=False)
    prov = f"fitted by `python -m planner calibrate` on {Path(data).name} (sha256 {file_digest(data)})"
    by_engine: dict[str, list[RowModel]] = {}
    for m in models:
        by_engine.setdefault(m.sys.deployment.engine.id, []).append(m)
    out = {}
    for eng, ms in sorted(by_engine.items()):
        normal = [m for m in ms if m.row.confidence == "normal"]
        if normal:  # engines measured only in secondary copies are not fitted: they borrow, or use the priors
            out[eng] = fit_engine(normal, prov + ", confidence=normal rows")
    return out


# --------------------------------------------------------------------------- held-out validation
def source_key(row: Row) -> str:
    """One public source per key: a GitHub discussion/PR/issue, else a repository, else the text
    before its first parenthesis (commits and paths of one document are the same source)."""
    s = row.source.strip()
    m = re.search(r"github\.com/([\w.-]+/[\w.-]+)(?:/(pull|issues|discussions)/(\d+))?", s)
    if m:
        return m.group(1) + (f"/{m.group(2)}/{m.group(3)}" if m.group(2) else "")
    m = re.match(r"([\w.-]+/[\w.-]+)\s", s)
    if m:
        return m.group(1)
    return re.split(r" \(|;", s)[0].strip() or "(no source)"


def fit_all(models: list[RowModel], provenance: str = "held out") -> dict[str, dict[str, Efficiency]]:
    by_engine: dict[str, list[RowModel]] = {}
    for m in models:
        by_engine.setdefault(m.sys.deployment.engine.id, []).append(m)
    return {eng: fit_engine(ms, provenance) for eng, ms in sorted(by_engine.items())}


def predict_with(catalog: Catalog, m: RowModel, fits: dict[str, dict[str, Efficiency]]) -> tuple[float, str]:
    """Predict a row as `predict` would if `fits` were the committed calibration."""
    chain = calibration_chain(m.sys.deployment.engine, catalog)
    eff, label = lookup_calibration(
        [(e.id, fits.get(e.id, {})) for e in chain], m.sys.deployment.engine.id, m.sys.deployment.hw
    )
    return m.predict(eff), label


def held_out(catalog: Catalog, models: list[RowModel], group_of, full: dict | None = None) -> list[dict]:
    """For each group (a source, a chip family): refit the engines it measures without its rows and
    predict them. Returns one record per row: the row model, held-out prediction, signed % error,
    log speed error, the group and the class label used."""
    full = full if full is not None else fit_all(models)
    groups: dict[str, list[RowModel]] = {}
    for m in models:
        groups.setdefault(group_of(m), []).append(m)
    out = []
    for g, test in sorted(groups.items()):
        fits = dict(full)
        for eng in sorted({m.sys.deployment.engine.id for m in test}):
            train = [m for m in models if m.sys.deployment.engine.id == eng and group_of(m) != g]
            fits[eng] = fit_engine(train, "held out") if train else {}
        for m in test:
            pred, label = predict_with(catalog, m, fits)
            out.append(
                {
                    "model": m,
                    "group": g,
                    "predicted": pred,
                    "label": label,
                    "error_pct": 100.0 * (pred - m.row.value) / m.row.value,
                    "log_err": m.speed_log_error(pred),
                }
            )
    return out


def summarize_records(recs: list[dict]) -> dict[str, dict]:
    out = {}
    for metric in SUMMARY_METRICS:
        e = [abs(r["error_pct"]) for r in recs if r["model"].row.metric == metric]
        if e:
            out[metric] = {
                "rows": len(e),
                "median_abs_pct": round(median(e), 2),
                "p90_abs_pct": round(float(np.percentile(e, 90)), 2),
                "max_abs_pct": round(max(e), 2),
            }
    return out


def leave_one_source_out(catalog: Catalog, models: list[RowModel], full: dict | None = None) -> list[dict]:
    return held_out(catalog, models, lambda m: source_key(m.row), full)


def leave_one_family_out_records(catalog: Catalog, models: list[RowModel], full: dict | None = None) -> list[dict]:
    return held_out(catalog, models, lambda m: m.sys.deployment.hw.family, full)


# --------------------------------------------------------------------------- uncertainty bands
BAND_MIN_ROWS = 8  # a class with fewer held-out residuals takes its engine's, then everybody's
# one global factor on every band's width, chosen with the widening factors below so that the bands
# hold 75-85% of the rows in leave-one-source-out (84% today) while residuals drawn from one
# distribution still get about 80% (77%, tests/test_bounds_bands.py): the pooled residuals
# (leave-one-source-out and leave-one-family-out together, the widening factors on top) overstate
# a typical row's error
BAND_SCALE = 0.9


def band_kind(metric: str, batch: int) -> str:
    """The band's kind of speed: 'prefill', 'decode' (one stream) or 'decode-batched' (a batch of
    streams: its errors come from other terms, the small-batch matmul efficiency and batch shape)."""
    kind = KIND[metric]
    return "decode-batched" if kind == "decode" and batch > 1 else kind


def band_class(engine: str, vendor: str, kind: str) -> str:
    return f"{engine}@{BACKEND[vendor]}@{kind}"


def _quantiles(errs: list[float]) -> tuple[float, float, float]:
    a = np.asarray(errs, float)
    return float(np.percentile(a, 10)), float(np.median(a)), float(np.percentile(a, 90))


def band_table(recs: list[dict]) -> dict[str, dict]:
    """Held-out log speed errors (log(predicted / measured speed)) pooled by engine x backend x
    kind (decode / prefill), by engine x kind ('*' backend) and by kind alone: their 10th, 50th
    and 90th percentiles, the rows and sources behind them, and what was measured (families,
    largest batch and context) so a prediction can tell when it extrapolates."""
    pools: dict[str, list[dict]] = {}
    for r in recs:
        if r.get("label", "").endswith(":prior"):
            continue  # errors of prior-only predictions say nothing about a fitted class
        m = r["model"]
        kind = band_kind(m.row.metric, m.batch)
        for key in (
            band_class(m.sys.deployment.engine.id, m.sys.deployment.hw.vendor, kind),
            f"{m.sys.deployment.engine.id}@*@{kind}",
            f"*@*@{kind}",
        ):
            pools.setdefault(key, []).append(r)
    out = {}
    for key, rs in sorted(pools.items()):
        q10, q50, q90 = _quantiles([r["log_err"] for r in rs])
        q80abs = float(np.percentile(np.abs([r["log_err"] for r in rs]), 80))
        ms = [r["model"] for r in rs]
        out[key] = {
            "q80abs": round(q80abs, 5),
            "q10": round(q10, 5),
            "q50": round(q50, 5),
            "q90": round(q90, 5),
            "rows": len(rs),
            "sources": len({source_key(m.row) for m in ms}),
            "families": sorted({m.sys.deployment.hw.family for m in ms}),
            "max_batch": max(m.batch for m in ms),
            "max_context": max(m.prompt + m.gen for m in ms),
        }
    return out


def band_entry(table: dict[str, dict], engine: str, vendor: str, kind: str) -> tuple[dict | None, str]:
    """The band class for a prediction, falling back to the engine's pool, then to all engines';
    batched decode last falls back to the single-stream decode pools (widened as a fallback)."""
    kinds = (kind, "decode") if kind == "decode-batched" else (kind,)
    for key in [k for kd in kinds for k in (band_class(engine, vendor, kd), f"{engine}@*@{kd}", f"*@*@{kd}")]:
        e = table.get(key)
        if e and e["rows"] >= BAND_MIN_ROWS:
            return e, key
    return None, ""


def widen(
    entry: dict, key: str, family: str, batch: int, context: int, prior_only: bool = False
) -> tuple[float, float, list[str]]:
    """The band's log limits (on log(predicted / measured speed)): +-(80th percentile of the class's
    absolute held-out log errors) x BAND_SCALE, so the band always holds the prediction, widened by
    sqrt(1 + 8 / rows) for a class with few rows, x2 for a fallback pool (the engine x backend has
    too few held-out rows), x1.5 when the hardware family was never measured in the class, x1.25
    each for a batch or a context beyond what was measured, and x2.5 for a prediction from the
    physical priors alone (no fit of its own). The factors are one rule for every class, chosen so
    that the bands hold 75-85% of the rows in leave-one-source-out (`validate --loo` reports it)."""
    w = math.sqrt(1.0 + 8.0 / entry["rows"])
    why = []
    if "*" in key or batch > 1 and key.endswith("@decode"):  # another engine's or another kind's pool
        w *= 2.0
        why.append(f"fallback pool {key}")
    elif family not in entry["families"]:
        w *= 1.5
        why.append(f"{family} never measured in this class")
    if batch > entry["max_batch"]:
        w *= 1.25
        why.append(f"batch {batch} > measured {entry['max_batch']}")
    if context > entry["max_context"]:
        w *= 1.25
        why.append(f"context {context} > measured {entry['max_context']}")
    if prior_only:
        w *= 2.5
        why.append("physical priors only")
    h = BAND_SCALE * w * entry["q80abs"]
    return -h, h, why


def band_coverage(los_recs: list[dict], pool_recs: list[dict]) -> dict[str, dict]:
    """Share of rows whose measurement falls inside the 80% band built, for each row, from the
    held-out residuals of the other sources only (no row helps build its own band)."""
    by_kind: dict[str, list[bool]] = {}
    for r in los_recs:
        m = r["model"]
        src = source_key(m.row)
        table = band_table([p for p in pool_recs if source_key(p["model"].row) != src])
        kind = band_kind(m.row.metric, m.batch)
        entry, key = band_entry(table, m.sys.deployment.engine.id, m.sys.deployment.hw.vendor, kind)
        if entry is None:
            continue
        lo, hi, _ = widen(
            entry,
            key,
            m.sys.deployment.hw.family,
            m.batch,
            m.prompt + m.gen,
            prior_only=r.get("label", "").endswith(":prior"),
        )
        inside = lo <= r["log_err"] <= hi
        # the band in the row's own units: where the measurement should lie, given the prediction
        p = r.get("predicted")
        if p is not None:
            r["band80"] = (
                [round(p * math.exp(lo), 4), round(p * math.exp(hi), 4)]
                if m.row.metric in LATENCY_METRICS
                else [round(p * math.exp(-hi), 4), round(p * math.exp(-lo), 4)]
            )
        by_kind.setdefault(m.row.metric, []).append(inside)
        by_kind.setdefault("all", []).append(inside)
    return {k: {"rows": len(v), "coverage_pct": round(100.0 * sum(v) / len(v), 1)} for k, v in sorted(by_kind.items())}


def write_held_out(path: Path, data: str | Path, result: dict, lofo: list[dict]) -> Path:
    """The held-out predictions and summaries, for the app's Accuracy page (which cannot refit)."""
    rows = [dict(r, kind="leave-one-source-out") for r in result["leave_one_source_out"]["rows"]]
    rows += [
        {
            "id": r["model"].row.id,
            "source": source_key(r["model"].row),
            "family": r["group"],
            "hardware": r["model"].row.hardware_id,
            "engine": r["model"].row.engine_id,
            "model": r["model"].row.model_id,
            "quant": r["model"].row.quant_id,
            "metric": r["model"].row.metric,
            "measured": r["model"].row.value,
            "predicted": round(r["predicted"], 3),
            "error_pct": round(r["error_pct"], 2),
            "calibration": r["label"],
            "kind": "leave-one-family-out",
        }
        for r in lofo
    ]
    doc = {
        "data": f"{Path(data).name} sha256:{file_digest(data)}",
        "generated_by": "python -m planner validate --loo --write-bands",
        "summary": {
            "calibration_set": result.get("calibration_set_summary", {}),
            "leave_one_source_out": result["leave_one_source_out"]["summary"],
            "leave_one_family_out": result["leave_one_family_out_summary"],
            "band_coverage": result["band_coverage"],
        },
        "rows": rows,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


def write_bands(table: dict[str, dict], path: Path, data: str | Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Written by `python -m planner validate --loo --write-bands`; do not edit by hand.",
        "# 80% bands: percentiles of log(predicted / measured speed) of held-out predictions",
        "# (leave-one-source-out and leave-one-family-out), pooled by engine@backend@kind.",
        f'data = "{Path(data).name} sha256:{file_digest(data)}"',
        "",
    ]
    for key, e in table.items():
        lines.append(f"[classes.{_toml_str(key)}]")
        for k, v in e.items():
            lines.append(f"{k} = {json.dumps(v)}")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def write_calibration_files(fits: dict[str, dict[str, Efficiency]], out_dir: Path, data: str | Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    rows = read_rows(data)
    for engine, classes in fits.items():
        versions = sorted(
            {r.engine_version for r in rows if r.engine_id == engine and r.confidence == "normal" and r.engine_version}
        )
        lines = [
            "# Written by `python -m planner calibrate`; do not edit by hand, re-run the command.",
            f'engine = "{engine}"',
            'generated_by = "python -m planner calibrate --data data/calibration.csv"',
            f'data = "{Path(data).name} sha256:{file_digest(data)}"',
            "# engine builds/releases of the rows behind the fit (where the rows state them): what it models",
            f"engine_versions = {json.dumps(versions)}",
            "",
        ]
        for cls, eff in sorted(classes.items()):
            lines.append(f"[classes.{_toml_key(cls)}]")
            for k in PARAMS + ("fitted_on_rows",):
                lines.append(f"{k} = {getattr(eff, k)!r}")
            lines.append(f"provenance = {_toml_str(eff.provenance)}")
            lines.append("")
        path = out_dir / f"{engine}.toml"
        path.write_text("\n".join(lines), encoding="utf-8")
        written.append(path)
    return written


def _toml_key(k: str) -> str:
    return k if k.replace("-", "").replace("_", "").isalnum() else _toml_str(k)


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
