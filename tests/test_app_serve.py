"""`python -m app_pages.serve` (`make run`): the app's work before the first visitor, then `streamlit run app.py`
with the given options.  The server itself is started by the browser tests (tests/e2e/helpers.start_server)."""

import sys

from app_pages import serve
from planner.webapp import defaults as dflt


def test_serve_imports_the_app_and_evaluates_every_default_option(monkeypatch):
    assert {"app_pages.ui", "app_pages.compare_parts", "app_pages.head", "planner.webapp.compare"} <= set(sys.modules)
    seen = []
    monkeypatch.setattr(serve.cmp, "evaluate_option", lambda cat, sc, i: seen.append((sc, i)))
    assert serve.warm() >= 0
    sc = dflt.default_scenario()
    assert seen == [(sc.for_option(i), 0) for i in range(len(sc.options()))] and len(seen) == 4


def test_serve_runs_streamlit_on_the_app_with_the_given_options(monkeypatch):
    calls = []
    monkeypatch.setattr(serve, "warm", lambda: 0.0)
    monkeypatch.setattr(serve.cli, "main", lambda **kw: calls.append(kw))
    serve.main(["--server.port", "8502", "--server.headless", "true"])
    assert calls == [
        {
            "args": ["run", str(serve.APP), "--server.port", "8502", "--server.headless", "true"],
            "prog_name": "streamlit",
        }
    ]
    assert serve.APP.name == "app.py" and serve.APP.is_file()


def test_serve_starts_the_server_even_when_the_warm_up_fails(monkeypatch, capsys):
    calls = []

    def broken(cat, sc, i):
        raise RuntimeError("no tables")

    monkeypatch.setattr(serve.cmp, "evaluate_option", broken)
    monkeypatch.setattr(serve.cli, "main", lambda **kw: calls.append(kw))
    serve.main([])
    assert calls == [{"args": ["run", str(serve.APP)], "prog_name": "streamlit"}]
    assert "warm-up stopped (RuntimeError: no tables)" in capsys.readouterr().out
