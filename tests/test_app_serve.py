"""`python -m app_pages.serve` (`make run`): the app's work before the first visitor, then `streamlit run app.py`
with the given options.  The server itself is started by the browser tests (tests/e2e/helpers.start_server)."""

import ast
import asyncio
import concurrent.futures
import socket
import sys
import tomllib
from pathlib import Path

from app_pages import serve
from planner.webapp import defaults as dflt


def test_serve_imports_the_app_and_fills_the_pages_cache_with_every_default_option(monkeypatch):
    assert {"app_pages.ui", "app_pages.compare_parts", "app_pages.head", "planner.webapp.compare"} <= set(sys.modules)
    seen = []
    monkeypatch.setattr(serve.ui.cmp, "evaluate_option", lambda cat, sc, i: seen.append((sc, i)) or {"sc": sc})
    serve.ui._evaluate.clear()
    try:
        assert serve.warm() >= 0
        sc = dflt.default_scenario()
        assert seen == [(sc.for_option(i), 0) for i in range(len(sc.options()))] and len(seen) == 4
        serve.ui.warm_options(sc)  # the page's look-ups (the same keys) now hit the cache
        assert len(seen) == 4
        assert [serve.ui._evaluate(serve.ui._option_key(sc, i))["sc"] for i in range(4)] == [x[0] for x in seen]
    finally:
        serve.ui._evaluate.clear()  # the stand-in results do not stay for the other tests


def test_no_page_relies_on_streamlit_magic_which_the_config_turns_off():
    """.streamlit/config.toml sets runner.magicEnabled = false: a bare expression on a page would draw nothing."""
    root = Path(serve.APP).parent
    config = tomllib.loads((root / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["magicEnabled"] is False
    bare = []
    for f in [root / "app.py", *sorted((root / "app_pages").glob("*.py"))]:
        for node in ast.walk(ast.parse(f.read_text())):
            body = getattr(node, "body", None)
            for i, s in enumerate(body if isinstance(body, list) else []):
                if not isinstance(s, ast.Expr) or isinstance(s.value, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom)):
                    continue
                if i == 0 and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
                    continue  # a docstring: magic leaves it alone too
                bare.append(f"{f.name}:{s.lineno}")
    assert bare == []


def test_serve_runs_streamlit_on_the_app_with_the_given_options(monkeypatch):
    calls = []
    monkeypatch.setattr(serve, "tcp_nodelay", lambda: calls.append("nodelay") or "nodelay")
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
    monkeypatch.setattr(serve, "tcp_nodelay", lambda: "nodelay")
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
    tcp = serve.with_tcp_protocol(plain)
    assert tcp.proto == socket.IPPROTO_TCP and tcp.fileno() == fd and tcp.getsockname() == address
    assert not tcp.getblocking() and tcp.get_inheritable()
    assert _accepted_nodelay(tcp) != 0
    already = _listener(socket.IPPROTO_TCP)
    assert serve.with_tcp_protocol(already) is already  # a socket with its number is left as it is
    already.close()


def test_tcp_nodelay_makes_streamlits_own_bind_give_sockets_whose_connections_have_nodelay(monkeypatch):
    from streamlit.web.server.starlette import starlette_server as server

    monkeypatch.setattr(server, "_bind_socket", server._bind_socket)
    own = server._bind_socket("127.0.0.1", 0, 8)
    assert own.proto == 0  # Streamlit 1.67's own bind, for the record
    own.close()
    assert serve.tcp_nodelay() == "TCP_NODELAY on each connection"
    patched = server._bind_socket
    assert serve.tcp_nodelay() == "TCP_NODELAY on each connection" and server._bind_socket is patched  # once
    sock = server._bind_socket("127.0.0.1", 0, 8)
    assert sock.proto == socket.IPPROTO_TCP and _accepted_nodelay(sock) != 0


def test_tcp_nodelay_leaves_a_streamlit_without_that_bind_alone(monkeypatch):
    from streamlit.web.server.starlette import starlette_server as server

    monkeypatch.delattr(server, "_bind_socket")
    assert "not set" in serve.tcp_nodelay() and not hasattr(server, "_bind_socket")


def test_serve_script_runs_another_script_without_the_warm_up(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(serve, "warm", lambda: calls.append("warm") or 0.0)
    monkeypatch.setattr(serve, "tcp_nodelay", lambda: "nodelay")
    monkeypatch.setattr(serve.cli, "main", lambda **kw: calls.append(kw))
    serve.main(["--script", "tests/e2e/floor/nav.py", "--server.port", "8502"])
    assert calls == [{"args": ["run", "tests/e2e/floor/nav.py", "--server.port", "8502"], "prog_name": "streamlit"}]
    assert "nodelay" in capsys.readouterr().out
