"""Validate the simulator against the calibration set's ``mode=serve`` rows.

Each load-test row becomes a `Scenario` and is simulated; the simulated metric is compared
with the measured one.  Mapping (from the rows' notes):

- ``max (offline, infinite rate)`` (trtllm-bench throughput): every request arrives at once
  (a constant arrival rate far above what the machine serves), fixed prompt/output lengths.
- a number (the TensorRT-LLM peak-throughput table's batch size): a closed loop with that many
  requests in flight. That table reports output tokens/s per GPU (explicitly so for H100; the
  A100 table's unit is 'out tok/s', and only a per-GPU reading is physically plausible: 670
  tok/s in total for Llama-2-70B on 4x A100 at batch 1280 would be a tenth of one A100 serving
  Llama-2-7B), so the simulated throughput is divided by the device count there.
- prompts longer than the engine's token budget (TensorRT-LLM's max_num_tokens, 8192) are run
  with chunked prefill on, as trtllm-bench must have to process them.
- ``Offline`` / ``Server N QPS`` (MLPerf, OpenOrca): skipped, since the rows do not give the
  data set's prompt lengths.
- batch-1 ``ttft_ms`` rows are single prefills and are validated by ``planner validate`` itself.
"""

from __future__ import annotations

from statistics import median

from .calibration import Row
from .catalog import Catalog, CatalogError
from .perf import ScenarioError

OFFLINE_RATE = 1e6  # requests/s: "infinite rate" (all requests queued at once)
DEFAULT_REQUESTS = 2000
CHUNK_BUDGET = 8192  # TensorRT-LLM's default max_num_tokens


def row_scenario(row: Row, requests: int = DEFAULT_REQUESTS) -> dict | None:
    """The scenario dict for a serve row, or None when the row cannot be reproduced."""
    if row.metric != "throughput_tok_s" or row.prompt is None or row.gen is None:
        return None
    if row.batch.startswith("max"):
        workload = {"arrival": "constant", "rate_rps": OFFLINE_RATE}
    elif row.batch.isdigit():
        workload = {"arrival": "closed", "concurrency": int(row.batch)}
    else:
        return None
    workload.update({"requests": requests, "prompt": {"dist": "fixed", "mean": row.prompt},
                     "output": {"dist": "fixed", "mean": row.gen}, "seed": 0})
    sc = {"model": row.model_id, "quant": row.quant_id, "engine": row.engine_id,
          "machine": {"hardware": row.hardware_id, "devices": row.devices}, "workload": workload}
    if row.prompt > CHUNK_BUDGET:
        sc["scheduler"] = {"chunked_prefill": True}
    return sc


def per_gpu(row: Row) -> bool:
    return "peak throughput table" in row.notes


def validate_serve(catalog: Catalog, rows: list[Row], requests: int = DEFAULT_REQUESTS) -> dict:
    from .scenario import parse_scenario
    from .sim import simulate_scenario

    out, skipped = [], []
    for r in rows:
        if r.mode != "serve" or r.metric == "ttft_ms" and r.batch == "1":
            continue
        sc = row_scenario(r, requests)
        if sc is None:
            skipped.append({"id": r.id, "reason": "prompt/output lengths or load not given in the row"
                            if r.metric == "throughput_tok_s" else f"metric {r.metric} at this load not simulated"})
            continue
        try:
            res = simulate_scenario(catalog, parse_scenario(sc))
        except (CatalogError, ScenarioError) as exc:
            skipped.append({"id": r.id, "reason": str(exc)})
            continue
        pred = float(res.summary["throughput_tok_s"])
        if per_gpu(r):
            pred /= r.devices
        out.append({"id": r.id, "hardware": r.hardware_id, "devices": r.devices, "model": r.model_id,
                    "quant": r.quant_id, "engine": r.engine_id, "load": r.batch, "prompt": r.prompt, "gen": r.gen,
                    "metric": r.metric + ("_per_gpu" if per_gpu(r) else ""), "measured": r.value, "predicted": round(pred, 2),
                    "error_pct": round(100.0 * (pred - r.value) / r.value, 2)})
    errs = [abs(x["error_pct"]) for x in out]
    summary = {"rows": len(out), "median_abs_pct": round(median(errs), 2) if errs else None,
               "max_abs_pct": round(max(errs), 2) if errs else None}
    return {"rows": out, "summary": summary, "skipped": skipped}
