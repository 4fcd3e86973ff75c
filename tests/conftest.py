"""Shared fixtures.  The suite runs the sources of the compiled modules as Python (planner/sim/engine.py,
planner/model/typed.py: coverage and profilers see Python code only); tests/test_compiled_engine.py runs the
simulator's tests again on the compiled modules (setup.py), in a process with PLANNER_TEST_COMPILED=1."""

import os

if os.environ.get("PLANNER_TEST_COMPILED") == "1":
    os.environ.pop("PLANNER_PURE_PYTHON", None)
else:
    os.environ["PLANNER_PURE_PYTHON"] = "1"  # (before planner is imported; subprocesses inherit it)

import pytest  # noqa: E402

from planner.catalog.loader import load_catalog  # noqa: E402
from planner.sim import engine_build  # noqa: E402

if os.environ.get("PLANNER_TEST_COMPILED") == "1" and not engine_build()["compiled"]:
    raise pytest.UsageError(f"PLANNER_TEST_COMPILED=1 but the engine is Python: {engine_build()['note']}")


@pytest.fixture(scope="session")
def cat():
    return load_catalog()
