"""Benchmark import: every supported tool's real output parses (tests/bench_outputs.py cites each source), a
malformed or truncated file is one line naming the line, and an overlay from one machine's llama-bench run
changes predictions for that machine only."""

import json

import bench_outputs as B  # tests/ is on sys.path (pytest rootdir, no __init__.py)
import pytest

from planner.catalog.loader import load_catalog
from planner.cli import commands as cli
from planner.model.predict import predict
from planner.webapp.benchimport import BenchImportError, import_bench, parse, write_overlay


@pytest.mark.parametrize(
    "text,tool,n,first",
    [
        (B.LLAMA_BENCH_MD, "llama-bench", 4, ("prefill_tok_s", 512, 0, 0, 7340.20)),
        (B.LLAMA_BENCH_MD_PG, "llama-bench", 3, ("prefill_tok_s", 512, 0, 0, 4918.36)),
        (B.LLAMA_BENCH_JSON, "llama-bench", 2, ("prefill_tok_s", 512, 0, 0, 7100.002165)),
        (B.LLAMA_BENCH_CSV, "llama-bench", 2, ("prefill_tok_s", 512, 0, 0, 2413.341687)),
        (B.LLAMA_BENCH_JSONL, "llama-bench", 2, ("prefill_tok_s", 512, 0, 0, 81.427806)),
        (B.BATCHED_BENCH, "llama-batched-bench", 12, ("prefill_tok_s", 512, 32, 0, 1518.90)),
        (B.MLX_GENERATE, "mlx_lm.generate", 2, ("prefill_tok_s", 32159, 0, 0, 261.786)),
        (B.MLX_BENCHMARK, "mlx_lm.benchmark", 2, ("prefill_tok_s", 2048, 128, 0, 2902.166)),
        (B.VLLM_SERVE_JSON, "vllm bench serve", 3, ("output_tok_s", 999, 267, 0, 5914.311656872681)),
    ],
)
def test_every_tools_real_output_parses(text, tool, n, first):
    got, rows = parse(text)
    assert got == tool and len(rows) == n
    r = rows[0]
    assert (r.metric, r.prompt, r.gen, r.depth, r.measured) == pytest.approx(first)
    assert all(x.line >= 1 and x.measured > 0 for x in rows)


def test_details_of_each_format():
    _, md = parse(B.LLAMA_BENCH_MD)
    assert [(r.test, r.metric, r.depth) for r in md] == [
        ("pp512", "prefill_tok_s", 0),
        ("tg128", "decode_tok_s", 0),
        ("pp512@d512", "prefill_tok_s", 512),
        ("tg128@d512", "decode_tok_s", 512),
    ]
    assert md[1].size_gib == pytest.approx(4.36) and md[1].params_b == pytest.approx(7.62) and md[1].line == 6
    _, bb = parse(B.BATCHED_BENCH)
    assert [(r.metric, r.batch, r.measured) for r in bb[:4]] == [
        ("prefill_tok_s", 1, 1518.90),
        ("decode_tok_s", 1, 79.04),
        ("prefill_tok_s", 2, 1603.62),
        ("decode_tok_s", 2, 136.37),
    ]
    _, mg = parse(B.MLX_GENERATE)
    assert mg[1].metric == "decode_tok_s" and (mg[1].prompt, mg[1].gen) == (32159, 1000)
    assert mg[0].model_text == "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit"
    _, v = parse(B.VLLM_SERVE_JSON)
    assert {r.metric: r.measured for r in v} == pytest.approx(
        {"output_tok_s": 5914.311656872681, "ttft_ms": 73.22729984779572, "tpot_ms": 23.586269942687313}
    )
    assert v[0].serve["request_rate"] == 30.0 and v[0].serve["completed"] == 900


def test_models_and_quants_are_identified_from_names_and_sizes(cat):
    res = import_bench(cat, B.LLAMA_BENCH_JSON, "nvidia-rtx-4090")
    assert {(r["model"], r["quant"], r["engine"]) for r in res["rows"]} == {("qwen2.5-7b", "q4_k_m", "llama.cpp")}
    res = import_bench(cat, B.LLAMA_BENCH_CSV, "nvidia-rtx-3090")  # 'ggml-model-q4_0.gguf', 'llama 7B', 6.74 B
    assert {(r["model"], r["quant"]) for r in res["rows"]} == {("llama-2-7b", "q4_0")}
    res = import_bench(cat, B.MLX_GENERATE, "apple-m4-pro-20c")
    assert {(r["model"], r["quant"], r["engine"]) for r in res["rows"]} == {("llama-3.1-8b", "mlx-4bit", "mlx")}
    assert all(r["predicted"] > 0 and r["error_pct"] is not None for r in res["rows"])
    # a model the catalog lacks is not guessed: the row says what to give
    res = import_bench(cat, B.LLAMA_BENCH_JSONL, "nvidia-rtx-4090")
    assert all(r["model"] is None and "--model" in r["note"] for r in res["rows"]) and res["compared"] == 0
    # the user confirms or overrides the identification
    res = import_bench(cat, B.MLX_BENCHMARK, "apple-m2-ultra-76c", model="qwen2.5-7b", quant="mlx-4bit")
    assert res["compared"] == 2


@pytest.mark.parametrize(
    "text,words",
    [
        (B.LLAMA_BENCH_JSON[:900], "line 35: not valid JSON"),
        (B.LLAMA_BENCH_MD[:500], "line 6: the table row does not end with '|'"),
        (B.LLAMA_BENCH_CSV_MISMATCHED, "line 2: 41 values but the header has 42 columns"),
        (B.BATCHED_BENCH[:700], "line 8: 5 cells but the table header (line 3) has 10"),
        (B.MLX_BENCHMARK[:300], "line 6: no 'Averages:"),
        (B.VLLM_SERVE_JSON[:200], "line 1: not valid JSON"),
        (
            B.LLAMA_BENCH_JSONL.splitlines()[0] + "\n" + B.LLAMA_BENCH_JSONL.splitlines()[1][:700],
            "line 2: not a complete",
        ),
        (B.MLX_GENERATE.replace("23.146 tokens-per-sec", ""), "line 5: expected 'Generation: N tokens"),
        ("hello\nworld\n", "line 1: not a recognised benchmark output"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_malformed_or_truncated_is_one_line_with_the_line_number(text, words):
    with pytest.raises(BenchImportError) as exc:
        parse(text)
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_overlay_changes_that_machine_only(cat, tmp_path):
    """An overlay from a llama-bench run of one model on an RTX 4090 changes predictions for other models on
    that machine, and nothing for other machines."""
    res = import_bench(cat, B.LLAMA_BENCH_MD_PG, "nvidia-rtx-4090")
    write_overlay(cat, "nvidia-rtx-4090", res["_fits"], tmp_path)
    mine = load_catalog(tmp_path)
    args = dict(model="llama-3.1-8b", quant="q4_k_m", engine="llama.cpp", prompt=0, gen=128)
    before = predict(cat, hardware="nvidia-rtx-4090", **args)
    after = predict(mine, hardware="nvidia-rtx-4090", **args)
    assert after["calibration"] == "llama.cpp:nvidia-rtx-4090" and after["decode_tok_s"] != before["decode_tok_s"]
    pre = dict(args, prompt=512, gen=0)
    assert (
        predict(mine, hardware="nvidia-rtx-4090", **pre)["prefill_tok_s"]
        < predict(cat, hardware="nvidia-rtx-4090", **pre)["prefill_tok_s"]
    )  # measured prefill was below the prediction
    for hw in ("nvidia-rtx-3090", "nvidia-rtx-6000-ada", "apple-m2-ultra-76c"):  # the same family and others
        a, b = predict(cat, hardware=hw, **args), predict(mine, hardware=hw, **args)
        assert (a["decode_tok_s"], a["calibration"]) == (b["decode_tok_s"], b["calibration"])
    # the overlay moves the measured rows towards the measurements (within physical bounds)
    again = import_bench(mine, B.LLAMA_BENCH_MD_PG, "nvidia-rtx-4090")
    assert again["median_abs_error_pct"] < res["median_abs_error_pct"]


def test_cli_import_bench_json_and_overlay(tmp_path, capsys):
    f = tmp_path / "bench.json"
    f.write_text(B.LLAMA_BENCH_JSON)
    out = tmp_path / "overlay"
    assert cli.main(["import-bench", str(f), "--hardware", "nvidia-rtx-4090", "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["tool"] == "llama-bench" and len(res["rows"]) == 2
    assert all({"line", "measured", "predicted", "error_pct", "model", "quant"} <= set(r) for r in res["rows"])
    assert res["overlay_files"] and (out / "calibration" / "llama.cpp.toml").exists()
    bad = tmp_path / "bad.json"
    bad.write_text(B.LLAMA_BENCH_JSON[:900])
    assert cli.main(["import-bench", str(bad), "--hardware", "nvidia-rtx-4090"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 35" in err
    assert cli.main(["import-bench", str(f), "--hardware", "nvidia-rtx-9999"]) == 2
    assert "hardware" in capsys.readouterr().err
