"""Validate the simulator against the calibration set's ``mode=serve`` rows.

Each load-test row becomes a `Scenario` and is simulated; the simulated metric is compared
with the measured one.  Mapping (from the rows' load column, unit and notes):

- ``max (offline, infinite rate)`` (trtllm-bench throughput, vLLM benchmark_throughput): every
  request arrives at once (a constant arrival rate far above what the machine serves), fixed
  prompt/output lengths.  trtllm-bench sizes max_batch_size / max_num_tokens for the workload
  and turns chunked prefill on (`scheduler.sizing = workload`, see `planner.sim.engine.trtllm_bench_sizing`).
- a number, for gptSessionBenchmark tables (unit or notes say ``static batch``; TensorRT-LLM's
  v0.5/v0.6.1 ``docs/source/performance.md`` tables all are): one static batch of that many
  requests, throughput = batch x output / latency.
- another number: a closed loop with that many requests in flight (trtllm-bench ``--concurrency``,
  benchmark sweeps at concurrency N).
- ``rate N (random in<=X out<=Y)`` (sglang.bench_serving, random data set, range ratio 0):
  Poisson arrivals at N req/s, prompt and output lengths uniform in [1, X] and [1, Y].
  sglang's ``python/sglang/bench_serving.py`` (``sample_random_requests``; stored commit 0033168)
  draws ``np.random.randint(max(int(X * ratio), 1), X + 1)`` prompt lengths and
  ``np.random.randint(int(Y * ratio), Y + 1)`` output lengths, and ``get_request`` waits
  ``np.random.exponential(1 / rate)`` between requests (Poisson).  With ratio 0 an output may be
  0 tokens (1 chance in Y + 1); the simulator's uniform starts at 1.
- ``concurrency N (random in<=X out<=Y)`` (the same random data set, ``--max-concurrency N``,
  request rate inf): a closed loop with N requests in flight (bench_serving's ``benchmark`` holds
  an ``asyncio.Semaphore(max_concurrency)`` around every request and issues them all at once),
  lengths as above; the number of requests is the notes' ``--num-prompts N``.
- ``rate N req/s`` with fixed prompt/output lengths (bench_serving ``--random-range-ratio 1``):
  Poisson arrivals at N req/s, ``--num-prompts N`` (or ``--num-prompt``, an argparse prefix) requests.
- stated request counts (``--num-prompts``) are simulated as stated, up to ``MAX_STATED_REQUESTS``.
- TensorRT-LLM engines built with ``use_paged_context_fmha`` run chunked prefill: the performance
  tuning guide (docs/source/performance/tuning-max-batch-size-and-max-num-tokens.md, "Revisiting
  Paged Context Attention and Context Chunking") says enabling it "enables context chunking, which
  allows the context phase of a request to be broken up into pieces and processed over several
  execution iterations"; rows whose notes say paged context FMHA is off run without it.
- scheduler flags written in the notes (``--max-num-batched-tokens``, ``--enable-chunked-prefill
  False``, ``Max Num Seqs = N``, ``--max_batch_size``, ``--max_num_tokens``) are applied as deployed.
- units: throughput ``per GPU`` / ``per rank`` (and the older TensorRT-LLM peak-throughput table,
  whose A100 unit 'out tok/s' is only plausible per GPU) divides the simulated total by the device
  count; ``TOTAL (prompt+output)`` tokens multiply output tokens/s by (prompt + output) / output.
- ``tpot_ms`` / ``ttft_ms`` rows at a stated concurrency with output > 1 are simulated as a
  closed loop at that concurrency (mean, or the median where the unit says so).
- statistics: sglang.bench_serving's TPOT is per request, (latency - TTFT) / (output - 1), its
  mean / median over requests; its ITL is every gap between two streamed tokens of any request,
  and Median ITL is the median over all those gaps (``calculate_metrics``).  A ``tpot_ms`` row whose
  unit names the inter-token latency is compared with the simulator's ``itl_ms`` (each decode step's
  duration once per decoding sequence), p50 for a median, mean otherwise; other ``tpot_ms`` rows
  with its per-request ``tpot_ms`` (mean or p50 as the unit says).  Batch-1 ttft
  rows of a single token are single prefills, validated by ``planner validate`` itself.
- skipped, with the reason: MLPerf ``Offline`` / ``Server`` rows and ShareGPT runs (the rows do
  not give the data set's lengths), prefill-decode disaggregated deployments, and workloads
  longer than the model's context window.
"""

from __future__ import annotations

import copy
import re
import tempfile
from pathlib import Path
from statistics import median

import numpy as np

from planner.catalog.loader import Catalog
from planner.errors import CatalogError, ScenarioError
from planner.model.calibration import Row, bind_rows, calibrate, parse_rows, read_rows
from planner.sim.engine import Sim, make_requests, resolve, simulate_scenario
from planner.sim.engine import _summary as sim_summary
from planner.sim.scenario import parse_scenario

OFFLINE_RATE = 1e6  # requests/s: "infinite rate" (all requests queued at once)
DEFAULT_REQUESTS = 2000
MAX_STATED_REQUESTS = 5000  # a row's stated --num-prompts is simulated as stated up to this many
METRICS = ("throughput_tok_s", "tpot_ms", "ttft_ms")


def _int(pattern: str, text: str) -> int | None:
    m = re.search(pattern, text, re.I)
    return int(m.group(1)) if m else None


def deployed_scheduler(notes: str) -> dict:
    """Scheduler settings a row's notes state (as deployed for the measurement)."""
    out = {}
    if "attention_dp" in notes:  # per-rank limits under attention data parallelism: not one engine's limits
        return out
    tok = _int(r"--max[-_]num[-_](?:batched[-_])?tokens[ =](\d+)", notes)
    if tok:
        out["max_num_batched_tokens"] = tok
    seqs = (
        _int(r"Max Num Seqs = (\d+)", notes)
        or _int(r"--max[-_]num[-_]seqs[ =](\d+)", notes)
        or _int(r"--max_batch_size[ =](\d+)", notes)
    )
    if seqs:
        out["max_num_seqs"] = seqs
    m = re.search(r"--enable-chunked-prefill[ =](True|False)", notes)
    if m:
        out["chunked_prefill"] = m.group(1) == "True"
    elif "use_paged_context_fmha" in notes:  # TensorRT-LLM: paged context FMHA enables context chunking
        out["chunked_prefill"] = True
    elif re.search(r"paged context FMHA off", notes, re.I):
        out["chunked_prefill"] = False
    return out


def stated_requests(notes: str) -> int | None:
    """The request count a bench_serving command line in the notes gives (``--num-prompt`` is an
    argparse prefix of ``--num-prompts``), capped at MAX_STATED_REQUESTS."""
    n = _int(r"--num-prompts? (\d+)", notes)
    return min(n, MAX_STATED_REQUESTS) if n else None


LOAD_RANDOM = re.compile(r"(rate|concurrency) ([\d.]+) \(random in<=(\d+) out<=(\d+)\)$")
LOAD_RATE = re.compile(r"rate ([\d.]+) req/s$")


def row_scenario(row: Row, requests: int = DEFAULT_REQUESTS) -> tuple[dict | None, str]:
    """(scenario dict, how the row was read) for a serve row, or (None, why it cannot be reproduced)."""
    notes, load = row.notes, row.batch.strip()
    sched: dict = {}
    m = LOAD_RANDOM.match(load)
    rate = LOAD_RATE.match(load)
    if (load.startswith("concurrency") or "random" in load or "req/" in load) and not (m or rate):
        return None, (
            f"load '{row.batch}' not understood: expected 'rate N (random in<=X out<=Y)', "
            "'concurrency N (random in<=X out<=Y)' or 'rate N req/s'"
        )
    if m:
        kind, x, pmax, omax = m.group(1), float(m.group(2)), int(m.group(3)), int(m.group(4))
        if x <= 0 or pmax < 1 or omax < 1 or (kind == "concurrency" and not x.is_integer()):
            return None, f"load '{row.batch}': rate, concurrency and lengths must be positive (whole concurrency)"
        n = stated_requests(notes) or requests
        lengths = {
            "prompt": {"dist": "uniform", "min": 1, "max": pmax},
            "output": {"dist": "uniform", "min": 1, "max": omax},
        }
        if kind == "rate":
            workload = {"arrival": "poisson", "rate_rps": x, "requests": n, **lengths}
            how = f"Poisson {m.group(2)} req/s, {n} requests, uniform lengths (bench_serving random, range ratio 0)"
        else:
            c = int(x)
            workload = {"arrival": "closed", "concurrency": c, "requests": max(n, c), **lengths}
            how = f"closed loop, {c} in flight, {max(n, c)} requests, uniform lengths (bench_serving random, range ratio 0)"
    elif row.prompt is None or row.gen is None:
        if "sharegpt" in notes.lower():
            return None, "ShareGPT run: the row does not give the data set's prompt/output lengths"
        if "mlperf" in notes.lower():
            return None, "MLPerf OpenOrca run: the row does not give the data set's prompt lengths"
        return None, "prompt/output lengths not given in the row"
    elif "disaggregated" in notes:
        return None, "prefill-decode disaggregated deployment (decode nodes only): not modelled"
    elif rate:
        x = float(rate.group(1))
        if x <= 0:
            return None, f"load '{row.batch}': the rate must be positive"
        if row.prompt is None or row.gen is None:
            return None, f"load '{row.batch}' needs the prompt_tokens and gen_tokens columns (fixed lengths)"
        n = stated_requests(notes) or requests
        workload = {"arrival": "poisson", "rate_rps": x, "requests": n}
        how = f"Poisson {rate.group(1)} req/s, {n} requests, fixed lengths (bench_serving range ratio 1)"
    elif load.startswith("max"):
        n = _int(r"Num Prompts = (?:Max Num Seqs = )?(\d+)", notes) or requests
        workload = {"arrival": "constant", "rate_rps": OFFLINE_RATE, "requests": min(n, requests)}
        how = "offline: all requests at once"
        if "trtllm-bench" in notes and "--max_batch_size" not in notes:
            sched["sizing"] = "workload"
            how += ", trtllm-bench sizing"
    elif load.isdigit() and static_batch(row):
        b = int(load)
        workload = {"arrival": "constant", "rate_rps": OFFLINE_RATE, "requests": b}
        sched.update({"batching": "static", "static_batch": b, "static_timeout_s": 1.0})
        how = f"one static batch of {b}"
    elif load.isdigit():
        c = int(load)
        n = stated_requests(notes) or (requests if row.metric == "throughput_tok_s" else max(16, 4 * c))
        workload = {"arrival": "closed", "concurrency": c, "requests": max(n, c)}
        how = f"closed loop, {c} in flight"
        if "trtllm-bench" in notes and "--max_batch_size" not in notes:  # explicit limits: used as given
            sched["sizing"] = "workload"
            how += ", trtllm-bench sizing"
    else:
        return None, f"load '{row.batch}' not simulated"
    if row.metric not in METRICS:
        return None, f"metric {row.metric} not simulated"
    if row.metric != "throughput_tok_s" and (row.gen or 0) <= 1 and not m:
        return None, "a single-token latency is one prefill: validated by `planner validate`"
    if not m:
        workload.update({"prompt": {"dist": "fixed", "mean": row.prompt}, "output": {"dist": "fixed", "mean": row.gen}})
    workload["seed"] = 0
    flags = deployed_scheduler(notes)
    if flags:
        sched.update(flags)
        how += ", " + ", ".join(f"{k}={v}" for k, v in flags.items())
    sc = {
        "model": row.model_id,
        "quant": row.quant_id,
        "engine": row.engine_id,
        "machine": {"hardware": row.hardware_id, "devices": row.devices},
        **({"engine_version": row.release()} if row.release() else {}),
        "workload": workload,
    }
    devices, nodes, link = row.machine()
    if nodes > 1:  # two or more 8-GPU servers
        sc["machine"] = {"hardware": row.hardware_id, "devices": devices, "nodes": nodes, "link": link}
    if sched:
        sc["scheduler"] = sched
    return sc, how


def static_batch(row: Row) -> bool:
    """gptSessionBenchmark tables: one static batch (the unit or notes say so; TensorRT-LLM's
    docs/source/performance.md v0.5/v0.6.1 tables all are, as its rows P3-TRTPERF-* state)."""
    return (
        "static batch" in row.unit.lower()
        or "static batch" in row.notes
        or "docs/source/performance.md (stored commit 138f96d" in row.source
    )


def per_gpu(row: Row) -> bool:
    return bool(re.search(r"tok/s,? per (gpu|rank)", row.unit, re.I)) or "peak throughput table" in row.notes


def total_tokens(row: Row) -> bool:
    return "total (prompt+output)" in row.unit.lower()


def _summary(rows: list[dict]) -> dict:
    errs = [abs(x["error_pct"]) for x in rows]
    return {
        "rows": len(errs),
        "median_abs_pct": round(median(errs), 2) if errs else None,
        "max_abs_pct": round(max(errs), 2) if errs else None,
    }


def simulated_value(row: Row, summary: dict) -> float:
    """The simulated counterpart of a row's measured value."""
    if row.metric == "throughput_tok_s":
        pred = float(summary["throughput_tok_s"])
        if per_gpu(row):
            pred /= row.devices
        if total_tokens(row) and row.prompt and row.gen:
            pred *= (row.prompt + row.gen) / row.gen
        return pred
    unit = row.unit.lower()
    stat = "p50" if "median" in unit else "mean"
    key = "itl_ms" if row.metric == "tpot_ms" and itl_unit(row) and "itl_ms" in summary else row.metric
    return float(summary[key][stat])


def itl_unit(row: Row) -> bool:
    """The row measured the inter-token latency (every gap between two tokens), not per-request TPOT."""
    return bool(re.search(r"inter-token latency|\bitl\b", row.unit, re.I))


def explain(sim) -> dict:
    """Where a simulated row's time went (`validate --explain`): the batch sizes the steps ran,
    the share of the run spent in steps that carry prompt tokens (prefill or mixed) against pure
    decode steps, the queue's share of the mean end-to-end latency and of the mean TTFT, and which
    step-time provider and calibration priced it. `sim` is a finished `planner.sim.engine.Sim`."""
    tl = sim.timeline  # (t, replica, steps, duration, batch, tokens, kv_fraction, waiting), every step or run
    steps = np.array([r[2] for r in tl], dtype=float)
    dur = np.array([r[3] for r in tl], dtype=float)
    batch = np.array([r[4] for r in tl], dtype=float)
    tokens = np.array([r[5] for r in tl], dtype=float)
    prefill = tokens > batch * steps  # steps with prompt tokens (decode runs carry one token per sequence and step)
    total = float(dur.sum()) or 1.0
    arr, adm = np.asarray(sim.arrival, float), np.asarray(sim.admitted, float)
    first, fin = np.asarray(sim.first, float), np.asarray(sim.finish, float)
    ok = np.isfinite(fin) & np.isfinite(adm)
    queue = adm[ok] - arr[ok]
    e2e, ttft = fin[ok] - arr[ok], first[ok] - arr[ok]
    order = np.argsort(batch)
    cum = np.cumsum(steps[order])
    p50 = float(batch[order][np.searchsorted(cum, cum[-1] / 2)]) if len(cum) else 0.0
    sys = sim.sys
    return {
        "steps": int(steps.sum()),
        "batch_mean_by_time": round(float((batch * dur).sum() / total), 2),
        "batch_p50_by_step": p50,
        "batch_max": int(batch.max()) if len(batch) else 0,
        "prefill_step_time_share": round(float(dur[prefill].sum() / total), 4),
        "decode_step_time_share": round(float(dur[~prefill].sum() / total), 4),
        "queue_share_of_e2e": round(float(queue.mean() / e2e.mean()), 4) if ok.any() and e2e.mean() > 0 else None,
        "queue_share_of_ttft": round(float(queue.mean() / ttft.mean()), 4) if ok.any() and ttft.mean() > 0 else None,
        "step_time_provider": sys.step.provider_note,
        "calibration": sys.step.eff_label,
    }


def _simulate(catalog: Catalog, sc: dict, with_explain: bool):
    """(summary, explain dict or None) of a row's scenario."""
    scenario = parse_scenario(sc)
    if not with_explain:
        return simulate_scenario(catalog, scenario).summary, None
    scenario = scenario.for_option(0)
    sys, cfg = resolve(catalog, scenario)
    wl = scenario.workload
    if wl.prompt.lowest() + wl.output.lowest() > sys.deployment.model.max_context:  # as simulate_scenario refuses it
        raise ScenarioError("workload", f"prompt + output exceeds {sys.deployment.model.id}'s context window")
    sim = Sim(sys, cfg, scenario, make_requests(scenario.workload))
    sim.run()
    return sim_summary(sim), explain(sim)


def validate_serve(
    catalog: Catalog,
    rows: list[Row],
    requests: int = DEFAULT_REQUESTS,
    overrides: dict | None = None,
    with_explain: bool = False,
    loso_data=None,
) -> dict:
    """Simulate every reproducible serve row. `overrides` (scheduler fields, e.g.
    {"cpu_overhead": False}) switch mechanisms off to measure their effect.

    summary: throughput rows of confidence=normal (the accuracy target); by_metric: each metric
    over normal rows and over all rows.

    loso_data (the calibration CSV's path): leave-one-source-out, i.e. a row whose source also has
    rows in the calibration fit is simulated with every engine refitted without that source
    (`refit_catalog`); serve rows themselves are never fitted."""
    cats: dict[str, Catalog] = {}
    fitted_sources: set[str] = set()
    if loso_data is not None:
        fitted, _ = bind_rows(catalog, read_rows(loso_data))
        fitted_sources = {source_key(m.row) for m in fitted}
    out, skipped = [], []
    for r in rows:
        if r.mode != "serve":
            continue
        sc, how = row_scenario(r, requests)
        if sc is None:
            if not how.startswith("a single-token latency"):
                skipped.append({"id": r.id, "reason": how})
            continue
        if overrides:
            sc["scheduler"] = {**sc.get("scheduler", {}), **overrides}
        cat = catalog
        if fitted_sources and source_key(r) in fitted_sources:
            src = source_key(r)
            if src not in cats:
                cats[src] = refit_catalog(catalog, loso_data, src)
            cat = cats[src]
        try:
            summ, why = _simulate(cat, sc, with_explain)
        except (CatalogError, ScenarioError) as exc:
            skipped.append({"id": r.id, "reason": str(exc)})
            continue
        if not summ["completed"]:
            skipped.append({"id": r.id, "reason": "; ".join(summ["rejection_reasons"]) or "nothing completed"})
            continue
        pred = simulated_value(r, summ)
        metric = r.metric + ("_per_gpu" if r.metric == "throughput_tok_s" and per_gpu(r) else "")
        out.append(
            {
                "id": r.id,
                "hardware": r.hardware_id,
                "devices": r.devices,
                "model": r.model_id,
                "quant": r.quant_id,
                "engine": r.engine_id,
                "load": r.batch,
                "prompt": r.prompt,
                "gen": r.gen,
                "metric": metric,
                "confidence": r.confidence,
                "how": how,
                "measured": r.value,
                "predicted": round(pred, 2),
                "error_pct": round(100.0 * (pred - r.value) / r.value, 2),
                "warnings": summ.get("warnings", []),
                **({"explain": why} if why else {}),
            }
        )
    by_metric = {}
    for met in METRICS:
        sel = [x for x in out if x["metric"].startswith(met)]
        if sel:
            by_metric[met] = {"normal": _summary([x for x in sel if x["confidence"] == "normal"]), "all": _summary(sel)}
    summary = _summary([x for x in out if x["metric"].startswith("throughput") and x["confidence"] == "normal"])
    summary["by_metric"] = by_metric
    summary["leave_one_source_out"] = loso_data is not None
    return {"rows": out, "summary": summary, "skipped": skipped, "refitted_without": sorted(cats)}


def source_key(r: Row) -> str:
    return r.source.split(" (")[0].strip()


def refit_catalog(catalog: Catalog, data: Path, drop_source: str) -> Catalog:
    """The catalog with every engine's calibration refitted without one source's rows."""
    text = data.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    rows = parse_rows(text, str(data))
    keep = [lines[0]] + [ln for ln, r in zip(lines[1:], rows) if source_key(r) != drop_source]
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
