"""Compute budgets for the web app (planner.sim.budget) and the three costly links of issue 14."""

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from planner.catalog.loader import load_catalog
from planner.errors import BudgetError, PlannerError
from planner.sim import budget as bud
from planner.sim.engine import simulate_scenario
from planner.webapp.clamps import clamp, sweep_plan
from planner.webapp.defaults import default_scenario
from planner.webapp.links import decode

APP = str(Path(__file__).resolve().parent.parent / "app.py")
CAT = load_catalog()

# the three links of the issue that tied up the server (4 options x 1,000,000 requests; 1,024 replicas at
# a million requests per second; a million timeline points)
LINKS = {
    "requests": ({"v": "1", "workload.requests": "1000000"}, "workload.requests"),
    "replicas": ({"v": "1", "machine.replicas": "1024", "workload.rate_rps": "1000000"}, "machine.replicas"),
    "timeline": ({"v": "1", "timeline_points": "1000000"}, "timeline_points"),
}


def test_default_scenario_is_within_the_default_budget():
    sc = default_scenario()
    run, clamps = clamp(sc, bud.Budget())
    assert clamps == [] and run is sc
    points, requests, clamps = sweep_plan(len(sc.options()), 8, sc.workload.requests, bud.Budget())
    assert (points, requests, clamps) == (8, sc.workload.requests, [])


@pytest.mark.parametrize("name", LINKS)
def test_each_costly_link_is_clamped_naming_the_field(name):
    query, field = LINKS[name]
    sc, warnings = decode(query, CAT)
    assert not [w for w in warnings if not w.note]  # only the note that a v=1 link was migrated
    b = bud.Budget()
    run, clamps = clamp(sc, b)
    assert [c.field for c in clamps] == [field]
    text = str(clamps[0])
    assert field in text and "budget" in text
    n = len(run.options())
    assert (run.workload.requests or 1000) * n <= b.requests
    assert run.timeline_points <= b.timeline_points
    assert all(m.replicas <= b.replicas for m in run.options())
    # everything else is what the link asked for
    assert (
        run.model_copy(
            update={
                "workload": sc.workload,
                "timeline_points": sc.timeline_points,
                "machine": sc.machine,
                "compare": sc.compare,
            }
        )
        == sc
    )


def test_links_naming_server_files_are_refused():
    sc, _ = decode({"v": "1", "workload.arrival": "trace", "workload.trace_csv": "/etc/passwd"}, CAT)
    run, clamps = clamp(sc, bud.Budget())
    assert clamps[0].field == "workload.trace_csv"
    assert run.workload.trace_csv is None and run.workload.arrival == default_scenario().workload.arrival


def test_budget_from_environment_and_file(tmp_path):
    f = tmp_path / "budget.toml"
    f.write_text("[budget]\nrequests = 1234\nsim_seconds = 2.5\n")
    b = bud.load_budget({bud.FILE_ENV: str(f), bud.ENV: "requests=99, timeline_points=50"})
    assert (b.requests, b.sim_seconds, b.timeline_points) == (99, 2.5, 50)  # the variable wins over the file
    assert bud.load_budget({}) == bud.Budget()
    for bad in ("requests=-1", "requests=abc", "nope=3", "requests"):
        with pytest.raises(PlannerError, match=r"PLANNER_BUDGET"):
            bud.load_budget({bud.ENV: bad})
    f.write_text("requests = [1")
    with pytest.raises(PlannerError, match="not valid TOML"):
        bud.load_budget({bud.FILE_ENV: str(f)})


def _long_scenario(requests=200_000):
    sc = default_scenario().for_option(1)
    return sc.model_copy(update={"workload": sc.workload.model_copy(update={"requests": requests})})


def test_wall_clock_limit_stops_a_simulation_with_a_clear_message():
    t0 = time.monotonic()
    with pytest.raises(BudgetError, match=r"wall-clock limit of 0\.2 s; lower workload\.requests"):
        with bud.deadline(0.2):
            simulate_scenario(CAT, _long_scenario())
    assert time.monotonic() - t0 < 5  # stopped soon after the limit, not after the whole run
    # outside a deadline nothing is limited (the CLI keeps the full limits)
    bud.check()


def test_stop_callback_and_zero_limit_stop_at_once():
    with pytest.raises(BudgetError, match="Stop pressed"):
        with bud.deadline(None, stop=lambda: True):
            simulate_scenario(CAT, _long_scenario())
    with pytest.raises(BudgetError, match="Stop pressed"):
        with bud.deadline(0):
            simulate_scenario(CAT, _long_scenario(2000))
    with bud.deadline(60, what="outer"):  # nested blocks keep the tighter limit
        with bud.deadline(600):
            assert bud._LIMIT.get()[1] == 60


# ------------------------------------------------------------------ the app


def _run(query: dict, env: dict | None = None, monkeypatch=None) -> AppTest:
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


@pytest.mark.parametrize("name", LINKS)
def test_app_answers_each_costly_link_within_the_budget_with_a_warning(name):
    query, field = LINKS[name]
    t0 = time.monotonic()
    at = _run(query)
    elapsed = time.monotonic() - t0
    assert not at.exception and not at.error
    budget_warnings = [w.value for w in at.warning if w.value.startswith("Compute budget")]
    assert len(budget_warnings) == 1 and field in budget_warnings[0] and "budget" in budget_warnings[0]
    df = at.dataframe[0].value
    assert len(df) == 4 and (df["throughput_tok_s"] > 0).all()
    # the link's own values stay in the address bar (the budget limits the work, not the scenario)
    assert at.session_state["scenario"] == decode(query, CAT)[0]
    print(f"{name}: answered in {elapsed:.1f} s")  # timing is informative only (not a timed test)


def test_app_wall_clock_limit_is_a_message(monkeypatch):
    at = _run(
        {"v": "1", "workload.seed": "424242", "workload.requests": "1000"},
        {bud.ENV: "sim_seconds=0.000001"},
        monkeypatch,
    )
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "wall-clock limit" in errors and "workload.requests" in errors


def test_app_stop_button_stops_new_simulations():
    at = _run({"v": "1"})
    assert len(at.dataframe[0].value) == 4 and not at.error
    at.sidebar.number_input(key="w:seed").set_value(987654)  # a scenario not simulated yet ...
    at.button(key="_stop").click().run()  # ... and Stop on the same run: nothing new is simulated
    assert not at.exception
    assert sum("Stop pressed" in e.value for e in at.error) == 4
    at.run()  # the next run simulates again
    assert not at.error and (at.dataframe[0].value["throughput_tok_s"] > 0).all()
