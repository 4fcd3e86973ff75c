"""`python -m planner simulate | schema | bench`: JSON contract, CSV outputs, one-line errors with exit 2."""

import argparse
import csv
import json

import pytest

from planner.cli import args as cli_args
from planner.cli import commands as cli
from planner.cli import sim as cli_sim

QUICK = ["simulate", "--hardware", "nvidia-h100-sxm", "--model", "llama-3.1-8b", "--quant", "fp8", "--engine", "vllm"]
KEYS = {
    "completed",
    "rejected",
    "duration_s",
    "throughput_tok_s",
    "request_throughput_rps",
    "ttft_ms",
    "tpot_ms",
    "e2e_s",
    "goodput",
    "kv_peak_fraction",
    "preemptions",
    "energy_j_per_token",
}


MAINS = [cli.main]


@pytest.fixture(params=MAINS, ids=lambda m: m.__module__)
def run(request, capsys):
    def go(args):
        try:
            code = request.param(args)
        except SystemExit as exc:  # argparse: usage errors
            code = exc.code
        out = capsys.readouterr()
        return code, out.out, out.err

    return go


def test_quick_form_json(run):
    code, out, err = run(QUICK + ["--rate", "20", "--prompt", "512", "--gen", "128", "--requests", "200", "--json"])
    assert code == 0, err
    s = json.loads(out)
    assert KEYS <= set(s) and s["completed"] == 200
    for k in ("ttft_ms", "tpot_ms", "e2e_s"):
        assert set(s[k]) == {"mean", "p50", "p90", "p95", "p99"}


def test_closed_loop_replicas_and_text(run):
    code, out, err = run(
        QUICK + ["--concurrency", "8", "--replicas", "2", "--router", "least_outstanding", "--requests", "100"]
    )
    assert code == 0, err
    assert "completed 100 / 100" in out


def test_scenario_file_and_csvs(run, tmp_path):
    sc = {
        "model": "llama-3.1-8b",
        "quant": "fp8",
        "engine": "vllm",
        "machine": {"hardware": "nvidia-h100-sxm"},
        "workload": {"arrival": "trace", "trace_csv": "trace.csv"},
    }
    (tmp_path / "trace.csv").write_text("arrival_s,prompt_tokens,output_tokens\n0,100,10\n0.01,200,20\n5,300,1\n")
    (tmp_path / "s.json").write_text(json.dumps(sc))
    req, tl = tmp_path / "req.csv", tmp_path / "tl.csv"
    code, out, err = run(
        ["simulate", str(tmp_path / "s.json"), "--requests-csv", str(req), "--timeline-csv", str(tl), "--json"]
    )
    assert code == 0, err
    rows = list(csv.DictReader(req.open()))
    assert [r["prompt_tokens"] for r in rows] == ["100", "200", "300"]
    assert all(float(r["finish_s"]) > float(r["arrival_s"]) for r in rows)
    steps = list(csv.DictReader(tl.open()))
    assert steps and {"time_s", "batch", "tokens", "kv_fraction"} <= set(steps[0])


def test_schema(run):
    code, out, _ = run(["schema"])
    v = json.loads(out)["properties"]["version"]
    assert code == 0 and v["enum"] == [1, 2] and v["default"] == 2  # version 1 scenarios are still read


def _trace(tmp_path, text):
    (tmp_path / "t.csv").write_text(text)
    (tmp_path / "s.toml").write_text(
        'model = "llama-3.1-8b"\nquant = "fp8"\nengine = "vllm"\n[machine]\n'
        'hardware = "nvidia-h100-sxm"\n[workload]\narrival = "trace"\n'
        'trace_csv = "t.csv"\n'
    )
    return ["simulate", str(tmp_path / "s.toml")]


@pytest.mark.parametrize(
    "args,words",
    [
        (QUICK + ["--rate", "0"], "rate_rps"),
        (QUICK + ["--rate", "-1"], "rate_rps"),
        (QUICK + ["--concurrency", "0"], "concurrency"),
        (QUICK + ["--rate", "1", "--prompt", "130000", "--gen", "2000"], "context window"),
        (QUICK + ["--rate", "1", "--requests", "1000001"], "requests"),
        (QUICK + ["--rate", "1", "--gen", "0"], "--gen"),
        (QUICK + ["--rate", "abc"], "--rate must be a number"),
        (QUICK, "--rate"),
        (QUICK + ["--rate", "1", "--concurrency", "2"], "not allowed"),
        (
            [
                "simulate",
                "--hardware",
                "nvidia-h100-sxm",
                "--model",
                "llama-9",
                "--quant",
                "fp8",
                "--engine",
                "vllm",
                "--rate",
                "1",
            ],
            "unknown model id",
        ),
        (
            [
                "simulate",
                "--hardware",
                "nvidia-h100-sxm",
                "--model",
                "llama-3.1-8b",
                "--quant",
                "fp8",
                "--engine",
                "vlm",
                "--rate",
                "1",
            ],
            "unknown engine id",
        ),
        (["simulate", "/nonexistent/s.json"], "cannot read"),
    ],
)
def test_bad_input_exits_2_with_one_line(run, args, words):
    code, out, err = run(args)
    assert code == 2
    assert words in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "text,words",
    [
        ("", "lacks column"),
        ("arrival_s,prompt_tokens,output_tokens\n", "no requests"),
        ("arrival_s,prompt_tokens\n0,5\n", "lacks column(s) output_tokens"),
        ("arrival_s,prompt_tokens,output_tokens\n0,5,x\n", "line 2: output_tokens = 'x' is not a number"),
        ("arrival_s,prompt_tokens,output_tokens\n-1,5,5\n", "must be a finite number >= 0"),
        ("arrival_s,prompt_tokens,output_tokens\n0,5.5,5\n", "must be a whole number"),
    ],
)
def test_bad_traces(run, tmp_path, text, words):
    code, _, err = run(_trace(tmp_path, text))
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1


def test_trace_request_beyond_context_is_rejected_not_fatal(run, tmp_path):
    code, out, err = run(
        _trace(tmp_path, "arrival_s,prompt_tokens,output_tokens\n0,131000,500\n1,10,10\n") + ["--json"]
    )
    s = json.loads(out)
    assert code == 0 and s["completed"] == 1 and s["rejected"] == 1
    assert "context window" in s["rejection_reasons"][0]


def test_parsers_use_the_callers_parser_class():
    ap = cli_args.Parser(prog="x")
    sub = ap.add_subparsers(dest="cmd", parser_class=cli_args.Parser)
    cli_sim.add_sim_commands(sub)
    assert all(isinstance(p, cli_args.Parser) for p in sub.choices.values())
    assert {"simulate", "schema", "bench"} <= set(sub.choices)
    assert isinstance(ap.parse_args(["bench", "--requests", "10"]), argparse.Namespace)


def test_bench_suite_runs_every_workload(run):
    """`bench --suite` as a correctness check (small counts; no timing asserted): every workload
    completes its requests and reports a rate; the text form names each workload and the slowest."""
    from planner.sim import engine, engine_build
    from planner.sim.bench import SUITE, suite_scenario

    code, out, err = run(["bench", "--suite", "--requests", "60", "--json"])
    assert code == 0, err
    # which engine ran: the suite runs engine.py (tests/conftest.py sets PLANNER_PURE_PYTHON), and says why
    ran = json.loads(out)["engine"]
    assert ran == engine_build() and not ran["compiled"] and ran["file"] == engine.__file__
    assert set(ran["modules"]) == {"planner.sim.engine", "planner.model.typed"}
    assert "PLANNER_PURE_PYTHON is set" in ran["note"] or "no compiled module" in ran["note"]
    res = json.loads(out)["workloads"]
    assert list(res) == list(SUITE)
    for name, r in res.items():
        assert r["requests"] == 60 and r["completed"] == 60, name
        assert r["simulated_requests_per_s"] > 0 and len(r["rates"]) == 1
        # the offered rate is the scenario's (none for the closed loop); what was served is printed beside it
        assert r["offered_rps"] == suite_scenario(name).workload.rate_rps
    code, out, err = run(["bench", "--suite", "--requests", "40", "--workload", "moe"])
    assert code == 0, err
    served = json.loads(run(["bench", "--suite", "--requests", "40", "--workload", "moe", "--json"])[1])
    assert f"served {served['workloads']['moe']['request_throughput_rps']:.3g} of 2.9 req/s" in out
    code, out, err = run(["bench", "--suite", "--requests", "20", "--workload", "closed_r1", "--repeat", "2"])
    assert code == 0, err
    assert out.startswith(f"engine: Python (planner.sim.engine, planner.model.typed): {engine_build()['note']}\n")
    assert "closed_r1" in out and "slowest: closed_r1" in out and "light" not in out
    code, _, err = run(["bench", "--suite", "--workload", "nope"])
    assert code == 2 and "--workload" in err and "light" in err
