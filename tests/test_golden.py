"""Golden summaries: the simulator reproduces every stored result bit for bit (summary, every
per-request record, every step of the timeline).  Regenerate with `python -m tests.golden` only
when a result is meant to change."""

import json
from pathlib import Path

import pytest

from planner.sim.scenario import parse_scenario
from tests.golden.cases import HERE, all_cases, fingerprint

FILES = sorted(HERE.glob("*.json"))


def test_golden_files_match_the_cases():
    """Every case has its file and every file a case (a new case needs `python -m tests.golden`)."""
    assert sorted(p.stem for p in FILES) == sorted(all_cases())


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_golden(cat, path: Path):
    rec = json.loads(path.read_text())
    sc = parse_scenario(rec["scenario"])
    assert sc.model_dump(mode="json") == all_cases()[rec["name"]].model_dump(mode="json")
    got = fingerprint(cat, sc)
    assert got["summary"] == rec["summary"]
    assert got["timeline_rows"] == rec["timeline_rows"]
    assert got["requests_sha256"] == rec["requests_sha256"], "a per-request time changed"
    assert got["timeline_sha256"] == rec["timeline_sha256"], "a step of the timeline changed"
