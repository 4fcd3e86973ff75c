"""`python -m app_pages.serve` (`make run`): the app's work before the first visitor, then `streamlit run app.py`
with the given options, on a server whose connections have TCP_NODELAY (`app_pages/nodelay.py`, also
`python -m app_pages.nodelay SCRIPT`).  The server itself is started by the browser tests
(tests/e2e/helpers.start_server)."""

import ast
import asyncio
import concurrent.futures
import socket
import sys
import tomllib
from pathlib import Path

import pytest
from streamlit.runtime.scriptrunner import magic
from streamlit.testing.v1 import AppTest

from app_pages import nodelay, serve

ROOT = Path(serve.APP).parent


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts and ends with the page's options cache empty (a warm-up fills it for the whole process)."""
    serve.ui._evaluate.clear()
    yield
    serve.ui._evaluate.clear()


def _page_evaluations(monkeypatch) -> int:
    """How many options the default page computes (rather than finds in its cache) on one run of the app."""
    calls = []
    real = serve.ui.cmp.evaluate_option
    with monkeypatch.context() as m:
        m.setattr(serve.ui.cmp, "evaluate_option", lambda *a: calls.append(1) or real(*a))
        at = AppTest.from_file(str(serve.APP), default_timeout=120).run()
    assert not at.exception and at.title[0].value == "Compare machines"
    assert len(at.dataframe[0].value) == 4 and (at.dataframe[0].value["throughput_tok_s"] > 0).all()
    return len(calls)


def test_serve_imports_the_app_and_its_warm_up_fills_the_cache_the_default_page_reads(monkeypatch):
    assert {"app_pages.ui", "app_pages.compare_parts", "app_pages.head", "planner.webapp.compare"} <= set(sys.modules)
    assert _page_evaluations(monkeypatch) == 4  # cold: the page computes its four options
    serve.ui._evaluate.clear()
    assert serve.warm() >= 0
    assert _page_evaluations(monkeypatch) == 0  # warmed: the page finds all four under the keys it looks up


def test_no_page_relies_on_streamlit_magic_which_the_config_turns_off():
    """.streamlit/config.toml sets runner.magicEnabled = false: an expression magic would have drawn would now draw
    nothing.  Streamlit's own rewrite finds none in any script it runs (the pages, the benchmark's floors)."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["magicEnabled"] is False
    scripts = [ROOT / "app.py", *sorted((ROOT / "app_pages").glob("*.py")), *sorted(ROOT.glob("tests/e2e/floor/*.py"))]
    assert len(scripts) > 10
    drawn = [f.name for f in scripts if "transparent_write" in ast.dump(magic.add_magic(f.read_text(), str(f)))]
    assert drawn == []
    # the check sees what magic draws: a bare value in an else branch
    assert "transparent_write" in ast.dump(magic.add_magic("if x:\n    pass\nelse:\n    'shown'\n", "t.py"))


def test_serve_runs_streamlit_on_the_app_with_the_given_options(monkeypatch):
    calls = []
    monkeypatch.setattr(serve.nodelay, "tcp_nodelay", lambda: calls.append("nodelay") or "nodelay")
    monkeypatch.setattr(serve, "warm", lambda: 0.0)
    monkeypatch.setattr(serve.cli, "main", lambda **kw: calls.append(kw))
    serve.main(["--server.port", "8502", "--server.headless", "true"])
    assert calls == [
        "nodelay",
        {
            "args": ["run", str(serve.APP), "--server.port", "8502", "--server.headless", "true"],
            "prog_name": "streamlit",
        },
    ]
    assert serve.APP.name == "app.py" and serve.APP.is_file()


def test_serve_starts_the_server_even_when_the_warm_up_fails(monkeypatch, capsys):
    calls = []

    def broken(cat, sc, i):
        raise RuntimeError("no tables")

    monkeypatch.setattr(serve.ui.cmp, "evaluate_option", broken)
    monkeypatch.setattr(serve.nodelay, "tcp_nodelay", lambda: "nodelay")
    monkeypatch.setattr(serve.cli, "main", lambda **kw: calls.append(kw))
    serve.main([])
    assert calls == [{"args": ["run", str(serve.APP)], "prog_name": "streamlit"}]
    assert "warm-up stopped (RuntimeError: no tables)" in capsys.readouterr().out


def _accepted_nodelay(listener: socket.socket) -> int:
    """TCP_NODELAY of the connection an asyncio server on `listener` accepts (as uvicorn serves Streamlit)."""
    seen: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport):
            seen.append(transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def run() -> None:
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        host, port = listener.getsockname()[:2]
        _, writer = await asyncio.open_connection(host, port)
        for _ in range(200):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()

    # in a thread of its own: the browser tests' Playwright keeps an event loop running in this one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result(timeout=30)
    return seen[0]


def _listener(proto: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)  # as Streamlit's _bind_socket makes it: no number
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    return sock


def test_a_listener_without_protocol_number_gets_connections_without_nodelay_and_the_wrapped_one_with_it():
    assert _accepted_nodelay(_listener()) == 0  # the defect: Nagle's algorithm on every connection
    plain = _listener()
    address, fd = plain.getsockname(), plain.fileno()
    tcp = nodelay.with_tcp_protocol(plain)
    assert tcp.proto == socket.IPPROTO_TCP and tcp.fileno() == fd and tcp.getsockname() == address
    assert not tcp.getblocking() and not tcp.get_inheritable()  # as the listener was
    assert _accepted_nodelay(tcp) != 0
    already = _listener(socket.IPPROTO_TCP)
    assert nodelay.with_tcp_protocol(already) is already  # a socket with its number is left as it is
    already.close()


def test_tcp_nodelay_makes_streamlits_own_bind_give_sockets_whose_connections_have_nodelay(monkeypatch):
    from streamlit.web.server.starlette import starlette_server as server

    monkeypatch.setattr(server, "_bind_socket", server._bind_socket)
    own = server._bind_socket("127.0.0.1", 0, 8)
    assert own.proto == 0  # Streamlit 1.67's own bind, for the record
    own.close()
    assert nodelay.tcp_nodelay() == "TCP_NODELAY on each connection"
    patched = server._bind_socket
    assert nodelay.tcp_nodelay() == "TCP_NODELAY on each connection" and server._bind_socket is patched  # once
    sock = server._bind_socket("127.0.0.1", 0, 8)
    assert (
        sock.proto == socket.IPPROTO_TCP and sock.get_inheritable() and not sock.getblocking()
    )  # Streamlit's settings
    assert _accepted_nodelay(sock) != 0


def test_tcp_nodelay_leaves_a_streamlit_without_that_bind_alone(monkeypatch):
    from streamlit.web.server.starlette import starlette_server as server

    monkeypatch.delattr(server, "_bind_socket")
    assert "not set" in nodelay.tcp_nodelay() and not hasattr(server, "_bind_socket")


def test_nodelay_runs_the_given_script_with_streamlits_options_and_names_its_usage(monkeypatch, capsys):
    from streamlit.web import cli

    calls = []
    monkeypatch.setattr(nodelay, "tcp_nodelay", lambda: calls.append("nodelay") or "nodelay")
    monkeypatch.setattr(cli, "main", lambda **kw: calls.append(kw))
    nodelay.main(["tests/e2e/floor/nav.py", "--server.port", "8502"])
    assert calls == [
        "nodelay",
        {"args": ["run", "tests/e2e/floor/nav.py", "--server.port", "8502"], "prog_name": "streamlit"},
    ]
    for bad in ([], ["--server.port", "8502"]):
        with pytest.raises(SystemExit, match="usage: python -m app_pages.nodelay SCRIPT"):
            nodelay.main(bad)
    assert len(calls) == 2
