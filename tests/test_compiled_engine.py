"""The compiled engine (setup.py: planner/sim/engine.py compiled with Cython) gives the same results
bit for bit: the golden summaries and the simulator's tests (determinism, budgets, serving, SLOs, plans
and executors) run again on it, in a process of their own (the rest of the suite runs engine.py itself,
tests/conftest.py).  Where no compiled module was built (no C compiler) or it is out of date, the test
skips outside CI and fails in CI, which always builds it."""

import hashlib
import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import planner.sim as sim_pkg

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
RERUN = [
    "tests/test_golden.py",
    "tests/test_sim.py",
    "tests/test_determinism.py",
    "tests/test_budget.py",
    "tests/test_serving.py",
    "tests/test_slo.py",
    "tests/test_plan.py",  # (process pools and Dask workers import the compiled engine too)
    "tests/test_executors.py",
    "tests/test_typed.py",  # the compiled decode loop against the generated ones
]


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PLANNER_PURE_PYTHON", "PLANNER_TEST_COMPILED")}
    return {**env, **extra}


def _build() -> dict:
    """engine_build() in a process without PLANNER_PURE_PYTHON (this one has it set)."""
    code = "import json; from planner.sim import engine_build; print(json.dumps(engine_build()))"
    out = subprocess.run([sys.executable, "-c", code], env=_env(), cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_the_suite_itself_runs_the_python_engine():
    """What coverage measures is engine.py (conftest sets PLANNER_PURE_PYTHON before planner.sim loads)."""
    assert sim_pkg.engine_build()["file"].endswith("engine.py")


def test_the_compiled_engine_passes_the_simulators_tests():
    build = _build()
    if not build["compiled"]:
        why = f"the compiled engine does not run: {build['note']}"
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-cov", *RERUN],
        env=_env(PLANNER_TEST_COMPILED="1"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]  # (5 where none ran)


def test_an_edited_engine_runs_as_python_and_says_why(tmp_path):
    """A compiled module built from another engine.py is not imported (an edit would otherwise be ignored), nor
    one where PLANNER_PURE_PYTHON asks for Python; one that does not load falls back; the source runs, and
    engine_build says why."""
    pkg = tmp_path / "planner" / "sim"
    pkg.mkdir(parents=True)
    (tmp_path / "planner" / "__init__.py").write_text((ROOT / "planner" / "__init__.py").read_text())
    (pkg / "__init__.py").write_text((ROOT / "planner" / "sim" / "__init__.py").read_text())
    (pkg / "engine.py").write_text("WHICH = 'source'\n")
    (pkg / ("engine" + importlib.machinery.EXTENSION_SUFFIXES[0])).write_bytes(b"not a module")
    code = (
        "import json; from planner.sim import engine_build; before = engine_build(); import planner.sim.engine as e; "
        "print(json.dumps([before, engine_build(), e.WHICH]))"
    )
    this = hashlib.sha256(b"WHICH = 'source'\n").hexdigest()
    cases = (
        ("0" * 64, {}, "engine.py changed"),  # built from another engine.py
        (this, {"PLANNER_PURE_PYTHON": "1"}, "PLANNER_PURE_PYTHON is set"),
        (this, {}, "its compiled module did not load"),  # built from this one, but no module (another system's)
    )
    for digest, extra, why in cases:
        (pkg / "engine.py.sha256").write_text(digest + "\n")
        out = subprocess.run(
            [sys.executable, "-c", code], env={**_env(**extra), "PYTHONPATH": str(tmp_path)}, cwd=tmp_path,
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        before, after, which = json.loads(out.stdout)
        assert which == "source"  # (the compiled file here is no module: importing it fails)
        assert not after["compiled"] and after["file"] == str(pkg / "engine.py") and why in after["note"], after
        if why.startswith("its compiled"):  # (known once the import was tried)
            assert before["modules"]["planner.sim.engine"]["compiled"]
            assert before["file"].endswith(importlib.machinery.EXTENSION_SUFFIXES[0])
        else:
            assert before == after
