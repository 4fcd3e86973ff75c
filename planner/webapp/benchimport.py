"""Your own measurements: parse the output of common benchmark tools, set each measured figure against
the prediction for the same configuration, and write a per-machine calibration overlay.

Supported (detected from the text):

- ``llama-bench``: the markdown table (default), ``-o json``, ``-o jsonl``, ``-o csv``;
- ``llama-batched-bench``: its markdown table (PP, TG, B, N_KV, T_PP s, S_PP t/s, T_TG s, S_TG t/s, ...);
- ``mlx_lm.generate --verbose``: the ``Prompt: N tokens, X tokens-per-sec`` / ``Generation: ...`` lines;
- ``mlx_lm.benchmark``: ``Timing with prompt_tokens=P and generation_tokens=G`` and the ``Averages:`` line;
- ``vllm bench serve --save-result`` (and ``benchmarks/benchmark_serving.py``): the result JSON.

A malformed or truncated file raises `BenchImportError` with one line naming the line number.

The overlay (`write_overlay`) is a ``--profiles`` directory holding one calibration file per engine: the
engine's built-in classes plus one class keyed by the hardware id, so later predictions for that machine
(and no other) use it (`planner.model.perf.calibration_for` looks up the hardware id first).  The class is the
machine's current parameters with the bandwidth efficiency rescaled so decode rows match and the compute
efficiency rescaled so prefill rows match (median ratio, a few fixed-point steps, kept within 0.05-1.0).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from planner.catalog.loader import Catalog
from planner.errors import BenchImportError, CatalogError, ScenarioError
from planner.model.perf import calibration_for
from planner.model.predict import predict
from planner.sim.engine import simulate_scenario
from planner.sim.scenario import parse_scenario

MAX_BYTES = 5_000_000
MAX_ROWS = 2000
TOOLS = ("llama-bench", "llama-batched-bench", "mlx_lm.generate", "mlx_lm.benchmark", "vllm bench serve")
ENGINE_OF = {
    "llama-bench": "llama.cpp",
    "llama-batched-bench": "llama.cpp",
    "mlx_lm.generate": "mlx",
    "mlx_lm.benchmark": "mlx",
    "vllm bench serve": "vllm",
}


@dataclass
class BenchRow:
    tool: str
    line: int  # 1-based line of the file the figure is on
    metric: str  # prefill_tok_s, decode_tok_s (single runs) or output_tok_s, ttft_ms, tpot_ms (serving)
    measured: float
    prompt: int = 0
    gen: int = 0
    depth: int = 0
    batch: int = 1
    test: str = ""
    model_text: str | None = None  # as the file names it (file name or type)
    size_gib: float | None = None
    params_b: float | None = None
    quant_text: str | None = None
    serve: dict = field(default_factory=dict)  # serving runs: rate, concurrency, prompts, lengths
    model: str | None = None  # catalog ids (guessed, the user confirms)
    quant: str | None = None
    engine: str | None = None
    predicted: float | None = None
    error_pct: float | None = None
    note: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- detection and parsing


def parse(text: str | bytes) -> tuple[str, list[BenchRow]]:
    """(tool, rows) from a benchmark tool's output; raises BenchImportError (one line) if it cannot.
    Every row is a finite, positive measurement (a 0 tok/s or 0 ms figure is a broken file, not a result)."""
    tool, rows = _parse_any(text)
    for r in rows:
        if not (math.isfinite(r.measured) and r.measured > 0):
            raise BenchImportError(f"line {r.line}: {r.metric} must be a positive number, got {r.measured:g}")
    return tool, rows


def _parse_any(text: str | bytes) -> tuple[str, list[BenchRow]]:
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise BenchImportError(
                f"the file is {len(text):,} bytes; benchmark outputs are small (at most {MAX_BYTES:,})"
            )
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BenchImportError("the file is not UTF-8 text: paste or upload the tool's text output") from None
    if len(text) > MAX_BYTES:
        raise BenchImportError(f"the text is {len(text):,} characters; at most {MAX_BYTES:,}")
    body = text.strip()
    if not body:
        raise BenchImportError("line 1: the file is empty")
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), 0)
    head = lines[first].strip()
    if head.startswith("[") or head.startswith("{"):
        return _parse_json(text, lines, first)
    if head.startswith("build_commit,") or head.startswith('"build_commit"'):
        return "llama-bench", _llama_bench_csv(text)
    if re.search(r"^\s*\|\s*PP\s*\|\s*TG\s*\|", text, re.M) and "S_TG t/s" in text:
        return "llama-batched-bench", _batched_bench(lines)
    if re.search(r"^\s*\|\s*model\s*\|", text, re.M) and re.search(r"\|\s*test\s*\|", text):
        return "llama-bench", _llama_bench_md(lines)
    if "prompt_tps=" in text and "generation_tps=" in text:
        return "mlx_lm.benchmark", _mlx_benchmark(lines)
    if re.search(r"^\s*(Prompt|Generation):\s*\d+\s+tokens,", text, re.M):
        return "mlx_lm.generate", _mlx_generate(lines)
    raise BenchImportError(
        f"line {first + 1}: not a recognised benchmark output (supported: llama-bench markdown, "
        "-o json/jsonl/csv; llama-batched-bench; mlx_lm.generate --verbose; mlx_lm.benchmark; "
        "vllm bench serve --save-result JSON)"
    )


def _num(text: str | float, line: int, what: str) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise BenchImportError(f"line {line}: {what} must be a number, got '{text}'") from None
    if not math.isfinite(v) or v < 0:
        raise BenchImportError(f"line {line}: {what} must be a finite number >= 0, got '{text}'")
    return v


def _cap(rows: list) -> list:
    if len(rows) > MAX_ROWS:
        raise BenchImportError(f"{len(rows):,} results: at most {MAX_ROWS:,} per file")
    return rows


def _llama_test_row(obj: dict, line: int) -> list[BenchRow]:
    """One llama-bench result object (json, jsonl, csv): n_prompt / n_gen / n_depth and avg_ts."""
    for k in ("n_prompt", "n_gen", "avg_ts"):
        if k not in obj:
            raise BenchImportError(
                f"line {line}: llama-bench result without '{k}' (truncated or not llama-bench output?)"
            )
    pp = int(_num(obj["n_prompt"], line, "n_prompt"))
    tg = int(_num(obj["n_gen"], line, "n_gen"))
    depth = int(_num(obj.get("n_depth", 0) or 0, line, "n_depth"))
    ts = _num(obj["avg_ts"], line, "avg_ts")
    size = obj.get("model_size")
    params = obj.get("model_n_params")
    common: dict[str, Any] = dict(
        tool="llama-bench",
        line=line,
        depth=depth,
        measured=ts,
        model_text=obj.get("model_filename") or obj.get("model_type"),
        size_gib=_num(size, line, "model_size") / 2**30 if size not in (None, "") else None,
        params_b=_num(params, line, "model_n_params") / 1e9 if params not in (None, "") else None,
        quant_text=f"{obj.get('model_type', '')} {obj.get('model_filename', '')}",
    )
    if pp and tg:
        return [
            BenchRow(
                metric="e2e_tok_s",
                prompt=pp,
                gen=tg,
                test=f"pp{pp}+tg{tg}",
                **common,
                note="pp+tg tests mix both phases: not compared",
            )
        ]
    if pp:
        return [
            BenchRow(metric="prefill_tok_s", prompt=pp, test=f"pp{pp}" + (f" @ d{depth}" if depth else ""), **common)
        ]
    return [BenchRow(metric="decode_tok_s", gen=tg, test=f"tg{tg}" + (f" @ d{depth}" if depth else ""), **common)]


def _parse_json(text: str, lines: list[str], first: int) -> tuple[str, list[BenchRow]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # JSON lines: one object per line (llama-bench -o jsonl)
        objs = []
        if lines[first].strip().startswith("{") and exc.msg == "Extra data":
            for n, ln in enumerate(lines, start=1):
                if not ln.strip():
                    continue
                try:
                    objs.append((n, json.loads(ln)))
                except json.JSONDecodeError as e2:
                    raise BenchImportError(
                        f"line {n}: not a complete JSON object ({e2.msg}); the file may be truncated"
                    ) from None
            if all(isinstance(o, dict) and "avg_ts" in o for _, o in objs):
                return "llama-bench", _cap([r for n, o in objs for r in _llama_test_row(o, n)])
            n = next(n for n, o in objs if not (isinstance(o, dict) and "avg_ts" in o))
            raise BenchImportError(f"line {n}: JSON lines that are not llama-bench results (no 'avg_ts')") from None
        raise BenchImportError(f"line {exc.lineno}: not valid JSON ({exc.msg}); the file may be truncated") from None
    if isinstance(data, list):
        if not data:
            raise BenchImportError(f"line {first + 1}: an empty JSON list: no results")
        starts = [n for n, ln in enumerate(lines, start=1) if ln.strip().startswith("{")]
        rows = []
        for k, obj in enumerate(data):
            n = starts[k] if k < len(starts) else first + 1
            if not isinstance(obj, dict) or "avg_ts" not in obj:
                raise BenchImportError(f"line {n}: JSON list entries must be llama-bench results (with 'avg_ts')")
            rows += _llama_test_row(obj, n)
        return "llama-bench", _cap(rows)
    if isinstance(data, dict) and "avg_ts" in data:
        return "llama-bench", _llama_test_row(data, first + 1)
    if isinstance(data, dict) and ("output_throughput" in data or "request_throughput" in data):
        return "vllm bench serve", _vllm(data, lines)
    raise BenchImportError(
        f"line {first + 1}: JSON that is neither llama-bench output nor a vllm bench serve "
        "result (expected 'avg_ts' or 'output_throughput')"
    )


def _llama_bench_csv(text: str) -> list[BenchRow]:
    reader = csv.reader(io.StringIO(text))
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise BenchImportError(f"line {reader.line_num}: not readable CSV ({exc})") from None
    header = [h.strip() for h in rows[0]]
    out = []
    for n, r in enumerate(rows[1:], start=2):
        if not any(x.strip() for x in r):
            continue
        if len(r) != len(header):
            raise BenchImportError(f"line {n}: {len(r)} values but the header has {len(header)} columns (truncated?)")
        out += _llama_test_row(dict(zip(header, r)), n)
    if not out:
        raise BenchImportError("line 2: a CSV header with no result rows")
    return _cap(out)


def _md_cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _md_table(lines: list[str], header_re: str) -> tuple[int, list[str], list[tuple[int, list[str]]]]:
    """(header line number, columns, [(line number, cells)]) of the first markdown table matching."""
    start = next(i for i, ln in enumerate(lines) if re.match(header_re, ln))
    cols = _md_cells(lines[start])
    body: list[tuple[int, list[str]]] = []
    for i in range(start + 1, len(lines)):
        ln = lines[i].strip()
        if not ln.startswith("|"):
            if body:
                break
            continue
        if re.fullmatch(r"\|?[\s\-:|]+\|?", ln):
            continue
        cells = _md_cells(ln)
        if not ln.endswith("|"):
            raise BenchImportError(f"line {i + 1}: the table row does not end with '|' (truncated?)")
        if len(cells) != len(cols):
            raise BenchImportError(
                f"line {i + 1}: {len(cells)} cells but the table header (line {start + 1}) has {len(cols)} (truncated?)"
            )
        body.append((i + 1, cells))
    if not body:
        raise BenchImportError(f"line {start + 1}: a table header with no result rows")
    return start + 1, cols, body


_SIZE = re.compile(r"([\d.]+)\s*(GiB|MiB|GB|MB)")


def _llama_bench_md(lines: list[str]) -> list[BenchRow]:
    _, cols, body = _md_table(lines, r"^\s*\|\s*model\s*\|")
    idx = {c: k for k, c in enumerate(cols)}
    for need in ("model", "test", "t/s"):
        if need not in idx:
            raise BenchImportError(f"line 1: the llama-bench table has no '{need}' column")
    out = []
    for n, cells in body:
        test = cells[idx["test"]].replace(" ", "")
        m = re.fullmatch(r"(pp|tg)(\d+)(?:\+tg(\d+))?(?:@d(\d+))?", test)
        if not m:
            raise BenchImportError(f"line {n}: test '{cells[idx['test']]}' is not ppN, tgN, ppN+tgM or ppN @ dD")
        ts = _num(cells[idx["t/s"]].split("±")[0].strip(), n, "t/s")
        size = params = None
        if "size" in idx and (sm := _SIZE.search(cells[idx["size"]])):
            size = float(sm.group(1)) * {"GiB": 1, "MiB": 1 / 1024, "GB": 1e9 / 2**30, "MB": 1e6 / 2**30}[sm.group(2)]
        if "params" in idx and (pm := re.match(r"([\d.]+)\s*([BM])", cells[idx["params"]])):
            params = float(pm.group(1)) * (1 if pm.group(2) == "B" else 1e-3)
        kind, a, b, d = m.group(1), int(m.group(2)), m.group(3), int(m.group(4) or 0)
        common: dict[str, Any] = dict(
            tool="llama-bench",
            line=n,
            depth=d,
            measured=ts,
            model_text=cells[idx["model"]],
            size_gib=size,
            params_b=params,
            quant_text=cells[idx["model"]],
        )
        if b:
            out.append(
                BenchRow(
                    metric="e2e_tok_s",
                    prompt=a,
                    gen=int(b),
                    test=test,
                    **common,
                    note="pp+tg tests mix both phases: not compared",
                )
            )
        elif kind == "pp":
            out.append(BenchRow(metric="prefill_tok_s", prompt=a, test=test, **common))
        else:
            out.append(BenchRow(metric="decode_tok_s", gen=a, test=test, **common))
    return _cap(out)


def _batched_bench(lines: list[str]) -> list[BenchRow]:
    _, cols, body = _md_table(lines, r"^\s*\|\s*PP\s*\|\s*TG\s*\|")
    idx = {c: k for k, c in enumerate(cols)}
    for need in ("PP", "TG", "S_PP t/s", "S_TG t/s"):
        if need not in idx:
            raise BenchImportError(f"line 1: the llama-batched-bench table has no '{need}' column")
    model = None
    for ln in lines:  # a pasted log may name the model file
        if (mm := re.search(r"(?:-m|--model)\s+(\S+\.gguf)", ln)) or (
            mm := re.search(r"loaded meta data.*?from\s+(\S+\.gguf)", ln)
        ):
            model = mm.group(1)
            break
    out = []
    for n, cells in body:
        pp = int(_num(cells[idx["PP"]], n, "PP"))
        tg = int(_num(cells[idx["TG"]], n, "TG"))
        b = int(_num(cells[idx["B"]], n, "B")) if "B" in idx else 1
        common: dict[str, Any] = dict(
            tool="llama-batched-bench", line=n, batch=max(b, 1), model_text=model, quant_text=model
        )
        if pp:
            out.append(
                BenchRow(
                    metric="prefill_tok_s",
                    prompt=pp,
                    gen=tg,
                    test=f"PP {pp}, B {b}",
                    measured=_num(cells[idx["S_PP t/s"]], n, "S_PP t/s"),
                    **common,
                )
            )
        if tg:
            out.append(
                BenchRow(
                    metric="decode_tok_s",
                    prompt=pp,
                    gen=tg,
                    test=f"TG {tg} after PP {pp}, B {b}",
                    measured=_num(cells[idx["S_TG t/s"]], n, "S_TG t/s"),
                    **common,
                )
            )
    return _cap(out)


def _mlx_model(lines: list[str]) -> str | None:
    for ln in lines:
        if mm := re.search(r"--model[ =]+(\S+)", ln):
            return mm.group(1).strip("'\"")
    return None


def _mlx_generate(lines: list[str]) -> list[BenchRow]:
    model = _mlx_model(lines)
    out, prompt = [], None
    for n, ln in enumerate(lines, start=1):
        m = re.match(r"\s*(Prompt|Generation):\s*(\d+)\s+tokens,\s*([\d.]+)\s+tokens-per-sec", ln)
        if not m:
            if re.match(r"\s*(Prompt|Generation):", ln):
                raise BenchImportError(
                    f"line {n}: expected '{ln.split(':')[0].strip()}: N tokens, X tokens-per-sec' (truncated?)"
                )
            continue
        toks, rate = int(m.group(2)), _num(m.group(3), n, "tokens-per-sec")
        common: dict[str, Any] = dict(tool="mlx_lm.generate", line=n, measured=rate, model_text=model, quant_text=model)
        if m.group(1) == "Prompt":
            prompt = toks
            out.append(BenchRow(metric="prefill_tok_s", prompt=toks, test=f"prompt {toks}", **common))
        else:
            out.append(
                BenchRow(
                    metric="decode_tok_s",
                    prompt=prompt or 0,
                    gen=toks,
                    test=f"generation {toks} after {prompt or 0}",
                    **common,
                )
            )
    if not out:
        raise BenchImportError("line 1: no 'Prompt:' or 'Generation:' lines with tokens-per-sec")
    return _cap(out)


def _mlx_benchmark(lines: list[str]) -> list[BenchRow]:
    model = _mlx_model(lines)
    pp = tg = None
    batch = 1
    out = []
    for n, ln in enumerate(lines, start=1):
        if m := re.search(r"prompt_tokens=(\d+)\s+and\s+generation_tokens=(\d+)(?:.*?batch_size=(\d+))?", ln):
            pp, tg = int(m.group(1)), int(m.group(2))
            batch = int(m.group(3) or 1)
        if ln.strip().startswith("Averages:"):
            m = re.search(r"prompt_tps=([\d.]+),\s*generation_tps=([\d.]+)", ln)
            if not m:
                raise BenchImportError(f"line {n}: expected 'Averages: prompt_tps=X, generation_tps=Y' (truncated?)")
            if pp is None or tg is None:
                raise BenchImportError(
                    f"line {n}: no 'Timing with prompt_tokens=P and generation_tokens=G' line before the averages"
                )
            common: dict[str, Any] = dict(
                tool="mlx_lm.benchmark", line=n, batch=batch, model_text=model, quant_text=model
            )
            out.append(
                BenchRow(
                    metric="prefill_tok_s",
                    prompt=pp,
                    gen=tg,
                    test=f"prompt {pp}",
                    measured=_num(m.group(1), n, "prompt_tps"),
                    **common,
                )
            )
            out.append(
                BenchRow(
                    metric="decode_tok_s",
                    prompt=pp,
                    gen=tg,
                    test=f"generation {tg} after {pp}",
                    measured=_num(m.group(2), n, "generation_tps"),
                    **common,
                )
            )
    if not out:
        raise BenchImportError(
            f"line {len(lines)}: no 'Averages: prompt_tps=..., generation_tps=...' line (truncated?)"
        )
    return out


def _vllm(d: dict, lines: list[str]) -> list[BenchRow]:
    n = next((k for k, ln in enumerate(lines, start=1) if "output_throughput" in ln), 1)
    if "output_throughput" not in d:
        raise BenchImportError(
            f"line {n}: the result has no 'output_throughput' (truncated, or not vllm bench serve JSON?)"
        )
    completed = d.get("completed") or d.get("num_prompts")
    if not completed:
        raise BenchImportError(f"line {n}: the result has no 'completed' request count")
    completed = _num(completed, n, "completed")
    prompt = _num(d.get("total_input_tokens", 0), n, "total_input_tokens") / completed if completed else 0
    output = _num(d.get("total_output_tokens", 0), n, "total_output_tokens") / completed if completed else 0
    rate = d.get("request_rate")
    rate = None if rate in (None, "inf", float("inf")) else _num(rate, n, "request_rate")
    serve = {
        "request_rate": rate,
        "max_concurrency": d.get("max_concurrency"),
        "completed": int(completed),
        "num_prompts": d.get("num_prompts"),
        "prompt_mean": round(prompt, 1),
        "output_mean": round(output, 1),
    }
    model = d.get("model_id") or d.get("model")
    common: dict[str, Any] = dict(
        tool="vllm bench serve",
        line=n,
        prompt=round(prompt),
        gen=round(output),
        model_text=model,
        quant_text=model,
        serve=serve,
    )
    out = [
        BenchRow(
            metric="output_tok_s",
            test="output throughput",
            measured=_num(d["output_throughput"], n, "output_throughput"),
            **common,
        )
    ]
    for key, metric, label in (("mean_ttft_ms", "ttft_ms", "mean TTFT"), ("mean_tpot_ms", "tpot_ms", "mean TPOT")):
        if d.get(key) is not None:
            out.append(BenchRow(metric=metric, test=label, measured=_num(d[key], n, key), **common))
    return out


# --------------------------------------------------------------------------- identification


_QUANT_PATTERNS = [  # (regex on the model type / file name, catalog quant id)
    (r"q4_k(?:\s*-\s*medium|_m)", "q4_k_m"),
    (r"q5_k(?:\s*-\s*medium|_m)", "q5_k_m"),
    (r"q6_k", "q6_k"),
    (r"q8_0", "q8_0"),
    (r"q4_0", "q4_0"),
    (r"iq2_xxs", "iq2_xxs"),
    (r"iq1_s", "iq1_s"),
    (r"mxfp4", "mxfp4"),
    (r"\bbf16\b", "bf16"),
    (r"\bf16\b", "f16"),
    (r"(?:^|[-_/ ])fp8(?:$|[-_ ])", "fp8"),
    (r"(?:^|[-_/ ])4bit", "mlx-4bit"),
    (r"(?:^|[-_/ ])8bit", "mlx-8bit"),
]


def guess_quant(text: str | None, cat: Catalog, tool: str) -> str | None:
    t = (text or "").lower()
    for rx, q in _QUANT_PATTERNS:
        if re.search(rx, t) and q in cat.quants:
            return q
    if tool == "vllm bench serve" and t:
        return "bf16" if "bf16" in cat.quants else None  # an unquantized checkpoint unless the name says so
    return None


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", s.lower()).strip("-")


def guess_model(row: BenchRow, cat: Catalog) -> str | None:
    """The catalog model a file name or llama-bench model type names: the longest catalog id or alias in
    the name, else (llama-bench tables) the family word and a parameter count within 5%."""
    text = row.model_text or ""
    base = _norm(Path(text.split("/")[-1] if "/" in text else text).name.removesuffix(".gguf"))
    base = base.replace("meta-llama-", "llama-")
    best, best_len = None, 0
    for mid, m in cat.models.items():
        for name in (mid, *m.aliases):
            nm = _norm(name)
            if nm and nm in base and len(nm) > best_len:
                best, best_len = mid, len(nm)
    if best:
        return best
    if row.params_b:
        # the architecture word of llama-bench's model type ("qwen2 7B Q4_K - Medium", "llama 7B mostly Q4_0")
        word = _norm((row.quant_text or base).split()[0] if (row.quant_text or "").strip() else base).split("-")[0]
        word = word.rstrip("0123456789.") or word
        close = [
            mid
            for mid, m in cat.models.items()
            if mid.startswith(word) and abs(m.published_total_params_b.value / row.params_b - 1) < 0.05
        ]
        if len(close) == 1:
            return close[0]
    return None


# --------------------------------------------------------------------------- measured against predicted


def compare_rows(
    cat: Catalog,
    hardware: str,
    rows: list[BenchRow],
    model: str | None = None,
    quant: str | None = None,
    engine: str | None = None,
    devices: int = 1,
    memory_gb: float | None = None,
) -> list[BenchRow]:
    """Fill in each row's catalog ids (the arguments override the guesses) and its prediction."""
    hardware = cat.resolve("hardware", hardware, "--hardware")
    if model:
        model = cat.resolve("models", model, "--model")
    if quant:
        quant = cat.resolve("quants", quant, "--quant")
    if engine:
        engine = cat.resolve("engines", engine, "--engine")
    for r in rows:
        r.engine = engine or ENGINE_OF[r.tool]
        r.model = model or guess_model(r, cat)
        r.quant = quant or guess_quant(r.quant_text, cat, r.tool)
        if r.note:
            continue
        if r.model is None:
            r.note = (
                f"model not identified from '{r.model_text or 'nothing'}'"
                + (f" ({r.params_b:g} B parameters)" if r.params_b else "")
                + ": give --model ID"
            )
            continue
        if r.quant is None:
            r.note = "quantization not identified: give --quant ID"
            continue
        try:
            if r.metric in ("prefill_tok_s", "decode_tok_s"):
                if r.metric == "prefill_tok_s" and r.depth:
                    r.note = "prompt processing at a prefilled depth: not modelled by predict"
                    continue
                prompt = r.prompt if r.metric == "prefill_tok_s" else (r.prompt or r.depth)
                gen = 0 if r.metric == "prefill_tok_s" else r.gen
                pr = predict(
                    cat,
                    hardware=hardware,
                    model=r.model,
                    quant=r.quant,
                    engine=r.engine,
                    devices=devices,
                    memory_gb=memory_gb,
                    batch=r.batch,
                    prompt=prompt,
                    gen=gen,
                )
                r.predicted = pr[r.metric]
            else:
                r.predicted = _serve_prediction(cat, hardware, r, devices, memory_gb)
        except (CatalogError, ScenarioError) as exc:
            r.note = str(exc)
            continue
        if r.predicted:
            r.error_pct = round((r.predicted / r.measured - 1) * 100, 1) if r.measured else None
    return rows


_SERVE_CACHE: dict = {}


def _serve_prediction(cat: Catalog, hardware: str, r: BenchRow, devices: int, memory_gb) -> float | None:
    s = r.serve
    n = min(int(s.get("completed") or 200), 400)
    wl: dict = {"requests": n, "prompt": {"mean": max(1, r.prompt)}, "output": {"mean": max(1, r.gen)}}
    if s.get("max_concurrency"):
        wl.update(arrival="closed", concurrency=int(s["max_concurrency"]))
    elif s.get("request_rate"):
        wl.update(arrival="poisson", rate_rps=s["request_rate"])
    else:  # every request at once (request rate inf): a closed loop as wide as the run
        wl.update(arrival="closed", concurrency=n)
    key = (hardware, r.model, r.quant, r.engine, devices, memory_gb, json.dumps(wl, sort_keys=True))
    if key not in _SERVE_CACHE:
        sc = parse_scenario(
            {
                "model": r.model,
                "quant": r.quant,
                "engine": r.engine,
                "machine": {"hardware": hardware, "devices": devices, "memory_gb": memory_gb},
                "workload": wl,
            }
        )
        _SERVE_CACHE[key] = simulate_scenario(cat, sc).summary
    summ = _SERVE_CACHE[key]
    if r.metric == "output_tok_s":
        return summ["throughput_tok_s"]
    return (summ["ttft_ms"] if r.metric == "ttft_ms" else summ["tpot_ms"]).get("mean")


# --------------------------------------------------------------------------- calibration overlay


def fit_overlay(
    cat: Catalog, hardware: str, rows: list[BenchRow], devices: int = 1, memory_gb: float | None = None
) -> dict:
    """Per engine: this machine's current parameters with bandwidth efficiency (decode rows) and compute
    efficiency (prefill rows) rescaled to the user's single-run measurements."""
    hardware = cat.resolve("hardware", hardware, "--hardware")
    hw = cat.hardware[hardware]
    usable = [r for r in rows if r.predicted and r.measured and r.metric in ("prefill_tok_s", "decode_tok_s")]
    out = {}
    for eng_id in sorted({r.engine for r in usable if r.engine is not None}):
        eng = cat.engines[eng_id]
        base, label = calibration_for(eng, hw, cat)
        mine = [r for r in usable if r.engine == eng_id]
        eff = base.model_copy()
        for _ in range(4):  # fixed point: the step time is not exactly proportional to either parameter
            trial = _with_class(cat, eng_id, hardware, eff)
            upd = {}
            for metric, param in (("decode_tok_s", "bandwidth_efficiency"), ("prefill_tok_s", "compute_efficiency")):
                rs = [r for r in mine if r.metric == metric]
                if not rs:
                    continue
                ratios = [r.measured / _predict_row(trial, hardware, r, devices, memory_gb) for r in rs]
                upd[param] = min(1.0, max(0.05, getattr(eff, param) * statistics.median(ratios)))
            eff = eff.model_copy(update=upd)
        n_dec = sum(r.metric == "decode_tok_s" for r in mine)
        n_pre = sum(r.metric == "prefill_tok_s" for r in mine)
        eff = eff.model_copy(
            update={
                "fitted_on_rows": len(mine),
                "provenance": (
                    f"your measurements on {hardware} ({n_dec} decode, {n_pre} prefill rows of "
                    f"{', '.join(sorted({r.tool for r in mine}))}): {label} with bandwidth efficiency "
                    f"{base.bandwidth_efficiency:.3g} -> {eff.bandwidth_efficiency:.3g} and compute efficiency "
                    f"{base.compute_efficiency:.3g} -> {eff.compute_efficiency:.3g} "
                    "(`python -m planner import-bench`)"
                ),
            }
        )
        out[eng_id] = {"base": label, "efficiency": eff, "rows": len(mine)}
    return out


def _with_class(cat: Catalog, eng_id: str, key: str, eff) -> Catalog:
    engines = dict(cat.engines)
    cal = dict(engines[eng_id].calibration)
    cal[key] = eff
    engines[eng_id] = engines[eng_id].model_copy(update={"calibration": cal})
    return Catalog(
        cat.hardware,
        cat.models,
        cat.quants,
        engines,
        cat.platforms,
        cat.kv_dtypes,
        cat.origins,
        cat.interconnects,
        cat.hosts,
        cat.systems,
        cat.support,
        chassis=cat.chassis,
    )


def _predict_row(cat: Catalog, hardware: str, r: BenchRow, devices: int, memory_gb) -> float:
    assert r.model and r.quant and r.engine, "only a row with its catalog ids is predicted"
    prompt = r.prompt if r.metric == "prefill_tok_s" else (r.prompt or r.depth)
    gen = 0 if r.metric == "prefill_tok_s" else r.gen
    return predict(
        cat,
        hardware=hardware,
        model=r.model,
        quant=r.quant,
        engine=r.engine,
        devices=devices,
        memory_gb=memory_gb,
        batch=r.batch,
        prompt=prompt,
        gen=gen,
    )[r.metric]


def overlay_files(cat: Catalog, hardware: str, fits: dict) -> dict[str, str]:
    """{relative path: TOML text} of the overlay directory (`--profiles DIR`): per engine, its calibration
    file with the built-in classes and this machine's class."""
    hardware = cat.resolve("hardware", hardware, "--hardware")
    files = {}
    for eng_id, f in fits.items():
        classes = dict(cat.engines[eng_id].calibration)
        classes[hardware] = f["efficiency"]
        lines = [
            f"# Calibration overlay for {hardware}: written by `python -m planner import-bench`. Use it with",
            "# `--profiles DIR` (or PLANNER_PROFILES=DIR); it replaces the built-in file of this engine and",
            "# adds one class keyed by the hardware id, so only predictions for this machine change.",
            f'engine = "{eng_id}"',
            'generated_by = "python -m planner import-bench"',
            f'data = "your measurements on {hardware}"',
            "",
        ]
        for key in sorted(classes):
            lines.append(f'[classes."{key}"]')
            for k, v in classes[key].model_dump().items():
                lines.append(f"{k} = {json.dumps(v)}")
            lines.append("")
        files[f"calibration/{eng_id}.toml"] = "\n".join(lines)
    return files


def write_overlay(cat: Catalog, hardware: str, fits: dict, out_dir: str | Path) -> list[str]:
    out = Path(out_dir)
    written = []
    for rel, text in overlay_files(cat, hardware, fits).items():
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        written.append(str(p))
    return written


def import_bench(
    cat: Catalog,
    text: str | bytes,
    hardware: str,
    model: str | None = None,
    quant: str | None = None,
    engine: str | None = None,
    devices: int = 1,
    memory_gb: float | None = None,
) -> dict:
    """Parse, identify, predict and fit: the JSON `python -m planner import-bench --json` prints (without the
    overlay's files)."""
    tool, rows = parse(text)
    rows = compare_rows(cat, hardware, rows, model, quant, engine, devices, memory_gb)
    fits = fit_overlay(cat, hardware, rows, devices, memory_gb)
    errs = [abs(r.error_pct) for r in rows if r.error_pct is not None]
    return {
        "tool": tool,
        "hardware": cat.resolve("hardware", hardware, "--hardware"),
        "devices": devices,
        "rows": [r.to_dict() for r in rows],
        "compared": len(errs),
        "median_abs_error_pct": round(statistics.median(errs), 1) if errs else None,
        "overlay": {
            e: {
                "base": f["base"],
                "rows": f["rows"],
                "bandwidth_efficiency": round(f["efficiency"].bandwidth_efficiency, 5),
                "compute_efficiency": round(f["efficiency"].compute_efficiency, 5),
            }
            for e, f in fits.items()
        },
        "_fits": fits,
    }
