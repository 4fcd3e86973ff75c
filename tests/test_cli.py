"""The `python -m planner` contract: JSON keys, exit codes, one-line errors."""

import json
import subprocess
import sys

import pytest

from planner.cli.commands import main

KEYS = {"fits", "reason", "memory_gb", "prefill_tok_s", "decode_tok_s", "ttft_s", "tpot_s", "max_concurrent_sequences"}


def run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_predict_json_contract(capsys):
    code, out, err = run(
        [
            "predict",
            "--hardware",
            "apple-m2-ultra-76c",
            "--model",
            "llama-3.1-8b",
            "--quant",
            "q4_k_m",
            "--engine",
            "llama.cpp",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    res = json.loads(out)
    assert KEYS <= set(res)
    assert set(res["memory_gb"]) >= {"weights", "kv_cache", "other", "total", "usable"}
    assert res["fits"] is True and res["reason"] is None
    assert res["prefill_tok_s"] > 0 and res["decode_tok_s"] > 0 and res["ttft_s"] > 0 and res["tpot_s"] > 0


def test_pp512_and_tg128_forms(capsys):
    base = [
        "predict",
        "--hardware",
        "apple-m2-ultra-76c",
        "--model",
        "llama-2-7b",
        "--quant",
        "q4_0",
        "--engine",
        "llama.cpp",
        "--json",
    ]
    code, out, _ = run(base + ["--prompt", "512", "--gen", "0"], capsys)
    pp = json.loads(out)
    assert code == 0 and pp["decode_tok_s"] is None and pp["prefill_tok_s"] > 0
    code, out, _ = run(base + ["--prompt", "0", "--gen", "128"], capsys)
    tg = json.loads(out)
    assert code == 0 and tg["prefill_tok_s"] is None and tg["decode_tok_s"] > 0
    # pp512 of a 7B model on an M2 Ultra is hundreds to thousands of tok/s; tg128 tens
    assert pp["prefill_tok_s"] > 10 * tg["decode_tok_s"]


def test_not_fitting_exits_3_with_json(capsys):
    code, out, _ = run(
        [
            "predict",
            "--hardware",
            "apple-m4-10c",
            "--model",
            "llama-3.1-70b",
            "--quant",
            "f16",
            "--engine",
            "llama.cpp",
            "--json",
        ],
        capsys,
    )
    assert code == 3
    res = json.loads(out)
    assert res["fits"] is False and res["reason"]
    assert res["decode_tok_s"] > 0  # speeds still computed


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--hardware", "nvidia-h100-sxn"], "nvidia-h100-sxm"),
        (["--model", "llama-9"], "unknown model id"),
        (["--batch", "0"], "batch"),
        (["--prompt", "-5"], "prompt"),
        (["--memory-gb", "abc"], "--memory-gb"),
        (["--memory-gb", "-1"], "memory_gb"),
        (["--devices", "0"], "devices"),
        (["--prompt", "0", "--gen", "0"], "nothing to predict"),
        (["--gen", "99999999999"], "gen"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, args, needle):
    base = {"--hardware": "nvidia-h100-sxm", "--model": "llama-3.1-8b", "--quant": "fp8", "--engine": "vllm"}
    argv = ["predict"]
    for k, v in base.items():
        if k not in args:
            argv += [k, v]
    argv += args + ["--json"]
    code, out, err = run(argv, capsys)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_missing_required_argument_is_one_line(capsys):
    assert main(["predict", "--hardware", "nvidia-h100-sxm"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "required" in err


@pytest.mark.parametrize("kind", ["hardware", "models", "quants", "engines"])
def test_catalog_json(capsys, kind):
    code, out, _ = run(["catalog", kind, "--json"], capsys)
    assert code == 0
    rows = json.loads(out)
    assert rows and all("id" in r for r in rows)


def test_module_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "planner", "catalog", "engines", "--json"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    assert {r["id"] for r in json.loads(proc.stdout)} >= {"llama.cpp", "mlx", "vllm", "sglang", "tensorrt-llm"}


def test_a_reader_that_goes_away_gets_no_traceback():
    """`python -m planner ... | head -1`: the pipe closes after the first line; the command stops without a
    traceback (exit 1, as Python's own advice for a broken pipe)."""
    p = subprocess.Popen(
        [sys.executable, "-m", "planner", "bench", "--suite", "--requests", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None and p.stdout.readline().startswith("engine: ")
    p.stdout.close()  # (the next workload's line meets a closed pipe)
    err = p.stderr.read() if p.stderr else ""
    assert p.wait(timeout=120) == 1 and "Traceback" not in err and "BrokenPipe" not in err, err


def test_predict_answers_every_combination(cat):
    """Every (hardware, model, quant) with an engine that runs it gets an answer: fits or a reason,
    and finite positive speeds; never an exception."""
    import math

    from planner.catalog.support import supported_engines
    from planner.model.predict import predict

    answered = fitting = 0
    for hw in cat.hardware.values():
        for q in cat.quants.values():
            for m in cat.models:
                # the engine that runs it there (support matrix: profiles/support)
                ok = supported_engines(cat, hw, cat.models[m], q, q.engines)
                if not ok:
                    continue
                engine = ok[0][0]
                res = predict(cat, hardware=hw.id, model=m, quant=q.id, engine=engine, prompt=256, gen=8)
                answered += 1
                fitting += res["fits"]
                assert (res["reason"] is None) == res["fits"]
                for k in ("prefill_tok_s", "decode_tok_s", "ttft_s", "tpot_s"):
                    assert res[k] is not None and math.isfinite(res[k]) and res[k] > 0, (hw.id, m, q.id, k)
    assert answered > 5000 and fitting > 1000
