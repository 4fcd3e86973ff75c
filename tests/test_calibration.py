"""Calibration and validation against public measurements (data/calibration.csv)."""

import json

import pytest

from planner.cli.commands import main
from planner.errors import DataError
from planner.model.calibration import (
    DEFAULT_DATA,
    PARAMS,
    bind_rows,
    calibrate,
    errors,
    parse_rows,
    read_rows,
    summarize,
)
from planner.model.kernels import use_provider
from planner.model.predict import predict
from planner.validate.kernels import predict_row


@pytest.fixture(scope="module")
def report(cat):
    rows = read_rows(DEFAULT_DATA)
    models, skipped = bind_rows(cat, rows, normal_only=True)
    return models, skipped, errors(models)


def test_every_normal_predict_row_is_predicted(report):
    models, skipped, errs = report
    assert len(errs) == len(models) > 150
    for row, why in skipped:
        assert (
            row.mode != "predict" or row.confidence != "normal" or row.metric not in ("prefill_tok_s", "decode_tok_s")
        ), (row.id, why)


def test_accuracy_targets(report):
    _, _, errs = report
    s = summarize(errs)
    assert s["decode_tok_s"]["median_abs_pct"] <= 10.0
    assert s["prefill_tok_s"]["median_abs_pct"] <= 15.0


def test_committed_calibration_is_what_the_command_fits(cat):
    """The efficiency parameters in profiles/calibration come from `planner calibrate` on the data."""
    fits = calibrate(cat, DEFAULT_DATA)
    assert fits, "no engine fitted"
    for engine, classes in fits.items():
        stored = cat.engines[engine].calibration
        assert set(classes) == set(stored), engine
        for cls, eff in classes.items():
            for k in PARAMS:
                assert getattr(stored[cls], k) == pytest.approx(getattr(eff, k), rel=1e-3, abs=1e-4), (engine, cls, k)


HEADER = (
    "id,hardware_id,devices,model_id,quant_id,engine_id,mode,batch_or_concurrency,prompt_tokens,"
    "gen_tokens,metric,value\n"
)


@pytest.mark.parametrize(
    "text,needle",
    [
        ("", "missing column"),
        ("id,value\nx,1\n", "missing column"),
        (HEADER, "no data rows"),
        (
            HEADER + "r1,apple-m2-ultra-76c,1,llama-2-7b,q4_0,llama.cpp,predict,1,512,0,prefill_tok_s,fast\n",
            "line 2: column 'value'",
        ),
        (
            HEADER + "r1,apple-m2-ultra-76c,1,llama-2-7b,q4_0,llama.cpp,predict,1,-512,0,prefill_tok_s,100\n",
            "prompt_tokens",
        ),
        (
            HEADER + "r1,apple-m2-ultra-76c,1,llama-2-7b,q4_0,llama.cpp,predict,1,abc,0,prefill_tok_s,100\n",
            "prompt_tokens",
        ),
    ],
)
def test_malformed_measurement_files(text, needle):
    with pytest.raises(DataError) as e:
        parse_rows(text, "bad.csv")
    assert needle in str(e.value)


def test_validate_cli_on_user_file(tmp_path, capsys):
    f = tmp_path / "mine.csv"
    f.write_text(
        HEADER + "r1,apple-m2-ultra-76c,1,llama-2-7b,q4_0,llama.cpp,predict,1,512,0,prefill_tok_s,1200\n"
        "r2,apple-m2-ultra-76c,1,llama-2-7b,q4_0,llama.cpp,predict,1,0,128,decode_tok_s,94\n"
        "r3,no-such-gpu,1,llama-2-7b,q4_0,llama.cpp,predict,1,0,128,decode_tok_s,94\n"
    )
    assert main(["validate", "--data", str(f), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in res["rows"]] == ["r1", "r2"]
    assert res["skipped"][0]["id"] == "r3" and "unknown hardware id" in res["skipped"][0]["reason"]
    for r in res["rows"]:
        assert r["error_pct"] == pytest.approx(100 * (r["predicted"] - r["measured"]) / r["measured"], abs=0.01)


def test_validate_cli_bad_file(tmp_path, capsys):
    f = tmp_path / "bad.csv"
    f.write_text("hello\n")
    assert main(["validate", "--data", str(f)]) == 2
    assert "missing column" in capsys.readouterr().err


@pytest.fixture(scope="module")
def serve_result():
    from planner.catalog.loader import load_catalog
    from planner.validate.serve import validate_serve

    return validate_serve(load_catalog(), read_rows(DEFAULT_DATA))


def test_serve_rows_simulated_within_target(serve_result):
    """The calibration set's serving load tests, run as simulations (confidence=normal rows): issue 9's
    medians, throughput and TPOT <= 20%, TTFT <= 30%. (With NVIDIA's tables, the nvidia-data extra that
    `make test` installs: without them the DeepSeek rows fall back to the roofline.)"""
    from planner.model.kernels import data_root

    if data_root() is None:
        pytest.skip("the nvidia-data extra is not installed")
    assert serve_result["summary"]["median_abs_pct"] <= 20.0
    by = serve_result["summary"]["by_metric"]
    assert by["tpot_ms"]["normal"]["median_abs_pct"] <= 20.0
    assert by["ttft_ms"]["normal"]["median_abs_pct"] <= 30.0


def test_serve_rows_simulated(serve_result):
    """Every serve row whose workload the data states is simulated; the others say why."""
    res = serve_result
    assert res["summary"]["rows"] >= 15
    by = res["summary"]["by_metric"]
    assert by["tpot_ms"]["normal"]["rows"] >= 40 and by["ttft_ms"]["normal"]["rows"] >= 40  # the P5 rows
    assert all(r["id"] not in {s["id"] for s in res["skipped"]} for r in res["rows"])
    assert not [s for s in res["skipped"] if s["id"].startswith("P5-")]
    ids = {r["id"] for r in res["rows"]}
    assert {"I-TRT-001", "I-TRT-016", "I-TRT-020"} <= ids  # TP1, TP8, per-GPU table
    for sk in res["skipped"]:  # only rows whose workload the data cannot reproduce, each with its reason
        assert any(
            k in sk["reason"] for k in ("MLPerf", "ShareGPT", "lengths not given", "disaggregated", "context window")
        ), sk


def test_rows_on_more_than_eight_gpus_are_several_machines():
    """A 16-GPU row (two 8-GPU servers over InfiniBand, as P3-TT356's notes say) is predicted on two
    machines, by the calibration, `validate --providers` and the serve rows alike; before, the
    predict path put 16 H100s on one NVLink switch."""
    rows = {r.id: r for r in read_rows(DEFAULT_DATA)}
    assert rows["P3-TT356-001"].machine() == (8, 2, "infiniband-ndr-400g")
    assert rows["P5-071"].machine() == (8, 1, None)


def test_validate_predicts_a_multi_node_row_on_its_machines(cat):
    """`validate --providers` prices the 16-GPU batch-1 rows on two 8-GPU nodes (before: one
    16-GPU NVLink machine, 6.3 ms per token instead of 8.8)."""
    row = next(r for r in read_rows(DEFAULT_DATA) if r.id == "P3-TT356-001")
    with use_provider("roofline"):
        got = predict_row(cat, row)
        two = predict(
            cat,
            hardware=row.hardware_id,
            model=row.model_id,
            quant=row.quant_id,
            engine=row.engine_id,
            devices=8,
            nodes=2,
            link="infiniband-ndr-400g",
            batch=1,
            prompt=row.prompt,
            gen=row.gen,
        )
    assert got == pytest.approx(1000.0 * two["tpot_s"])
