"""One PlannerError hierarchy: bad input is one line and exit 2; a defect is never dressed up as bad input."""

import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from planner import errors
from planner.cli import commands as cli_module
from planner.cli.commands import main

REPO = Path(__file__).resolve().parent.parent
PREDICT = [
    "predict",
    "--hardware",
    "nvidia-h100-sxm",
    "--model",
    "llama-3.1-8b",
    "--quant",
    "fp8",
    "--engine",
    "vllm",
    "--json",
]


def test_old_names_are_the_one_hierarchy():
    from planner.catalog.loader import CatalogError
    from planner.cli.commands import UsageError
    from planner.model.calibration import DataError
    from planner.model.deployment import ScenarioError
    from planner.plan.search import PlanError
    from planner.sim.executors import ExecutorError
    from planner.webapp.csvio import CSVError

    for cls in (DataError, CatalogError, UsageError, CSVError, ScenarioError, PlanError, ExecutorError):
        assert cls is getattr(errors, cls.__name__) and issubclass(cls, errors.PlannerError)
    e = pickle.loads(pickle.dumps(ScenarioError("workload.requests", "too many")))  # crosses process pools
    assert e.field == "workload.requests" and str(e) == "workload.requests: too many"


@pytest.mark.parametrize(
    "argv,needle",
    [
        (
            ["predict", "--hardware", "nope", "--model", "llama-3.1-8b", "--quant", "fp8", "--engine", "vllm"],
            "hardware",
        ),
        (["simulate", "--hardware", "nvidia-h100-sxm", "--model", "llama-3.1-8b"], "missing"),
        (["link", "--decode", "v=1&workload.requests=-5"], "workload.requests"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err and len(err.strip().splitlines()) == 1


def test_a_planted_defect_is_not_reported_as_bad_input(monkeypatch):
    """A ValueError from a bug deep in the code (here: in numpy's hands) used to become 'error: ...', exit 2."""

    def broken(*a, **k):
        raise ValueError("operands could not be broadcast together with shapes (3,) (4,)")

    monkeypatch.setattr(cli_module, "predict", broken)  # the name the predict command calls
    with pytest.raises(ValueError, match="broadcast"):
        main(PREDICT)


def test_a_planted_defect_shows_its_traceback_and_exits_1():
    code = (
        "import sys, planner.model.predict as p\n"
        "def broken(*a, **k):\n    raise ValueError('operands could not be broadcast together')\n"
        "p.predict = broken\n"
        "from planner.cli.commands import main\nsys.exit(main(sys.argv[1:]))\n"
    )
    res = subprocess.run([sys.executable, "-c", code, *PREDICT], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 1
    assert "Traceback" in res.stderr and "broadcast" in res.stderr and not res.stderr.startswith("error:")


def test_app_shows_a_defect_in_the_exception_box_not_as_an_input_error(monkeypatch):
    import planner.webapp.compare

    def broken(*a, **k):
        raise ZeroDivisionError("planted defect")

    monkeypatch.setattr(planner.webapp.compare, "evaluate_option", broken)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.query_params["v"] = "1"
    at.query_params["workload.seed"] = "31337"  # not cached by another test
    at.run()
    assert at.exception and "planted defect" in at.exception[0].value
    assert not any("planted defect" in e.value for e in at.error)
