"""Scenario CSV (one row per machine option, link column names) and result tables."""

import csv
import io

import pytest

from planner.errors import CSVError
from planner.sim.budget import load_budget
from planner.sim.scenario import parse_scenario
from planner.webapp.compare import compare, request_rows, summary_rows
from planner.webapp.csvio import read_scenario_csv, scenario_csv, write_table
from planner.webapp.defaults import DEFAULT, default_scenario


def test_round_trip_default(cat):
    sc = default_scenario()
    text = scenario_csv(sc)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 4 and rows[2]["machine.hardware"] == "nvidia-h200-sxm" and rows[2]["machine.devices"] == "8"
    assert rows[0]["workload.concurrency"] == "4" and rows[3]["model"] == "deepseek-r1"
    # each option's stack is a machine column
    assert [(r["machine.engine"], r["machine.quant"]) for r in rows] == [
        ("llama.cpp", "q4_k_m"),
        ("llama.cpp", "q4_k_m"),
        ("sglang", "fp8"),
        ("vllm", "fp8"),
    ]
    back = read_scenario_csv(text.encode(), cat)
    assert back == sc and [back.stack(i) for i in range(4)] == [sc.stack(i) for i in range(4)]


def test_round_trip_keeps_each_options_stack_and_scheduler(cat):
    from planner.sim.scenario import SchedulerOverrides

    d = default_scenario()
    opts = [d.machine, *d.compare]
    opts[1] = opts[1].model_copy(update={"kv_dtype": "q8_0", "scheduler": SchedulerOverrides(n_parallel=4)})
    opts[3] = opts[3].model_copy(update={"engine": "sglang", "quant": "bf16"})
    sc = d.model_copy(update={"machine": opts[0], "compare": opts[1:]})
    back = read_scenario_csv(scenario_csv(sc).encode(), cat)
    assert back == sc
    assert back.stack(3) == ("bf16", "sglang", None) and back.compare[0].scheduler.n_parallel == 4
    assert back.for_option(1).scheduler.n_parallel == 4 and back.for_option(0).scheduler.n_parallel is None


def test_version_1_csv_is_migrated(cat):
    """A CSV written by version 1 (no per-option stack columns, version 1): every option runs the scenario's
    quantization and engine, as it did then."""
    v1 = (
        "option,machine.hardware,machine.memory_gb,machine.devices,machine.replicas,machine.usable_memory_gb,"
        "version,model,quant,engine,workload.arrival,workload.concurrency,workload.requests\n"
        "1,apple-m3-ultra-80c,512,1,1,,1,deepseek-r1,q4_k_m,llama.cpp,closed,4,400\n"
        "2,nvidia-h100-sxm,,8,1,,1,deepseek-r1,q4_k_m,llama.cpp,closed,4,400\n"
    )
    notes = []
    sc = read_scenario_csv(v1.encode(), cat, notes)
    assert len(notes) == 1 and "migrated" in notes[0]
    assert [m.hardware for m in sc.options()] == ["apple-m3-ultra-80c", "nvidia-h100-sxm"]
    assert sc.stack(0) == sc.stack(1) == ("q4_k_m", "llama.cpp", None)
    assert sc.machine.quant is None and sc.compare[0].engine is None


def test_round_trip_custom_and_single_option(cat):
    custom = {
        "id": "my-box",
        "name": "My, box",
        "vendor": "amd",
        "memory_gb": 192,
        "bandwidth_gbs": 5300,
        "fp16_tflops": 1300,
        "power_w": 750,
        "price_usd": 12000,
    }
    sc = parse_scenario(
        {**DEFAULT, "machine": {"hardware": "my-box", "devices": 4}, "compare": [], "custom_hardware": [custom]}
    )
    assert read_scenario_csv(scenario_csv(sc), cat) == sc


def _edit(text, row, col, value):
    rows = list(csv.DictReader(io.StringIO(text)))
    rows[row][col] = value
    return write_table(rows, list(rows[0]))


@pytest.mark.parametrize(
    "edit,words",
    [
        (lambda t: b"\xff\xfe\x00", "not UTF-8"),
        (lambda t: "a,b\n1,2\n", "column 'machine.hardware' is missing"),
        (lambda t: t.splitlines()[0] + "\n", "no rows"),
        (lambda t: _edit(t, 1, "machine.devices", "0"), "option 2, column 'machine.devices'"),
        (lambda t: _edit(t, 0, "machine.hardware", "nvidia-h999"), "option 1, column 'machine.hardware'"),
        (lambda t: _edit(t, 2, "model", "llama-3.1-8b"), "option 3: column 'model'"),
        (
            lambda t: _edit(
                _edit(
                    _edit(_edit(t, 0, "workload.rate_rps", "x"), 1, "workload.rate_rps", "x"),
                    2,
                    "workload.rate_rps",
                    "x",
                ),
                3,
                "workload.rate_rps",
                "x",
            ),
            "column 'workload.rate_rps'",
        ),
        (lambda t: _edit(t, 0, "option", "7"), "column 'option'"),
    ],
)
def test_bad_csv_names_the_place(cat, edit, words):
    with pytest.raises(CSVError) as exc:
        read_scenario_csv(edit(scenario_csv(default_scenario())), cat)
    assert words in str(exc.value)


def test_result_tables(cat):
    res = compare(cat, default_scenario())
    summ = list(csv.DictReader(io.StringIO(write_table(summary_rows(res)))))
    assert len(summ) == 4 and float(summ[0]["throughput_tok_s"]) > 0
    req = list(csv.DictReader(io.StringIO(write_table(request_rows(res)))))
    assert len(req) == 4 * 400 and {r["option"] for r in req} == {"1", "2", "3", "4"}


def test_round_trip_scale_out(cat):
    from planner.sim.scenario import Machine
    from planner.webapp.defaults import default_scenario

    d = default_scenario()
    sc = d.model_copy(
        update={
            "compare": [
                *d.compare,
                Machine(
                    hardware="nvidia-rtx-pro-6000",
                    quant="q4_k_m",
                    engine="llama.cpp",
                    host="amd-epyc-9004-genoa",
                    offload="experts",
                ),
            ]
        }
    )
    text = scenario_csv(sc)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[1]["machine.nodes"] == "2" and rows[1]["machine.link"] == "thunderbolt5"
    assert rows[4]["machine.offload"] == "experts" and rows[4]["machine.host"] == "amd-epyc-9004-genoa"
    assert read_scenario_csv(text.encode(), cat) == sc
    bad = text.replace("thunderbolt5", "thunderbolt9")
    with pytest.raises(CSVError, match=r"option 2, column 'machine.link'"):
        read_scenario_csv(bad.encode(), cat)


def test_the_servers_upload_budget_bounds_a_scenario_csv(cat):
    """The Compare page passes its budget's `upload_bytes`: a file over it is refused with the limit named,
    one under it is read."""
    data = scenario_csv(default_scenario()).encode()
    small = load_budget({"PLANNER_BUDGET": f"upload_bytes={len(data) - 1}"}).upload_bytes
    with pytest.raises(CSVError, match=f"at most {small:,}"):
        read_scenario_csv(data, cat, max_bytes=small)
    assert read_scenario_csv(data, cat, max_bytes=len(data)) == default_scenario()
