"""Scenario CSV (one row per machine option, link column names) and result tables."""

import csv
import io

import pytest

from planner.compare import DEFAULT, compare, default_scenario, request_rows, summary_rows
from planner.csvio import CSVError, read_scenario_csv, scenario_csv, write_table
from planner.scenario import parse_scenario


def test_round_trip_default(cat):
    sc = default_scenario()
    text = scenario_csv(sc)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 4 and rows[1]["machine.hardware"] == "nvidia-h100-sxm" and rows[1]["machine.devices"] == "8"
    assert rows[0]["workload.concurrency"] == "4" and rows[3]["model"] == "deepseek-r1"
    assert read_scenario_csv(text.encode(), cat) == sc


def test_round_trip_custom_and_single_option(cat):
    custom = {"id": "my-box", "name": "My, box", "vendor": "amd", "memory_gb": 192, "bandwidth_gbs": 5300,
              "fp16_tflops": 1300, "power_w": 750, "price_usd": 12000}
    sc = parse_scenario({**DEFAULT, "machine": {"hardware": "my-box", "devices": 4}, "compare": [],
                         "custom_hardware": [custom]})
    assert read_scenario_csv(scenario_csv(sc), cat) == sc


def _edit(text, row, col, value):
    rows = list(csv.DictReader(io.StringIO(text)))
    rows[row][col] = value
    return write_table(rows, list(rows[0]))


@pytest.mark.parametrize("edit,words", [
    (lambda t: b"\xff\xfe\x00", "not UTF-8"),
    (lambda t: "a,b\n1,2\n", "column 'machine.hardware' is missing"),
    (lambda t: t.splitlines()[0] + "\n", "no rows"),
    (lambda t: _edit(t, 1, "machine.devices", "0"), "option 2, column 'machine.devices'"),
    (lambda t: _edit(t, 0, "machine.hardware", "nvidia-h999"), "option 1, column 'machine.hardware'"),
    (lambda t: _edit(t, 2, "model", "llama-3.1-8b"), "option 3: column 'model'"),
    (lambda t: _edit(_edit(_edit(_edit(t, 0, "workload.rate_rps", "x"), 1, "workload.rate_rps", "x"), 2,
                           "workload.rate_rps", "x"), 3, "workload.rate_rps", "x"), "column 'workload.rate_rps'"),
    (lambda t: _edit(t, 0, "option", "7"), "column 'option'"),
])
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
    from planner.compare import preset_scenario

    sc = preset_scenario("r1-beyond-one-box")
    text = scenario_csv(sc)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[1]["machine.nodes"] == "2" and rows[1]["machine.link"] == "thunderbolt5"
    assert rows[4]["machine.offload"] == "experts" and rows[4]["machine.host"] == "amd-epyc-9004-genoa"
    assert read_scenario_csv(text.encode(), cat) == sc
    bad = text.replace("thunderbolt5", "thunderbolt9")
    with pytest.raises(CSVError, match=r"option 2, column 'machine.link'"):
        read_scenario_csv(bad.encode(), cat)
