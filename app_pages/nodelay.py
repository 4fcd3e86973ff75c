"""TCP_NODELAY on each connection of Streamlit's server, and `python -m app_pages.nodelay SCRIPT [OPTIONS]`: `streamlit
run SCRIPT [OPTIONS]` with it (the benchmark's floors, tests/e2e/floor/; the app itself: `app_pages/serve.py`, which
uses it too).  Imports nothing but Streamlit's command line.

Streamlit's Starlette server (1.67) binds its listening socket as `socket.socket(family)`, whose protocol number is 0;
asyncio sets TCP_NODELAY on an accepted connection only where that number is IPPROTO_TCP
(`asyncio.base_events._set_nodelay`), so Nagle's algorithm stayed on.  A response is written in two parts (headers,
then body): on a kept-alive connection the body waited for the browser's delayed acknowledgement of the headers,
40 ms on Linux, for every file and answer after a connection's first (measured: 44 ms per request, 0.3-4 ms with
the fix).  A first load fetches about 150 files over six connections."""

from __future__ import annotations

import os
import socket
import sys


def with_tcp_protocol(sock: socket.socket) -> socket.socket:
    """`sock`, a listening TCP socket made without a protocol number, as the same socket with IPPROTO_TCP named, so
    that asyncio sets TCP_NODELAY on each connection it accepts (an accepted socket takes its listener's number).
    Any other socket is returned as it is."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM or sock.proto:
        return sock
    family, blocking, inheritable = sock.family, sock.getblocking(), sock.get_inheritable()
    fd = sock.detach()
    try:
        tcp = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, fileno=fd)
    except BaseException:
        os.close(fd)
        raise
    tcp.setblocking(blocking)
    tcp.set_inheritable(inheritable)
    return tcp


def tcp_nodelay() -> str:
    """Makes Streamlit's server bind its socket with `with_tcp_protocol` (see the module's note).  Returns what was
    done, for the start's log; a Streamlit without that function is left as it is."""
    try:
        from streamlit.web.server.starlette import starlette_server as server
    except ImportError as exc:
        return f"TCP_NODELAY not set (Streamlit's Starlette server not found: {exc})"
    bind = getattr(server, "_bind_socket", None)
    if bind is None:
        return "TCP_NODELAY not set (this Streamlit binds its socket elsewhere)"
    if not getattr(bind, "_planner_tcp", False):

        def _bind_socket(address: str, port: int, backlog: int) -> socket.socket:
            return with_tcp_protocol(bind(address, port, backlog))

        _bind_socket._planner_tcp = True  # type: ignore[attr-defined]
        server._bind_socket = _bind_socket
    return "TCP_NODELAY on each connection"


def main(argv: list[str] | None = None) -> None:
    """`streamlit run SCRIPT [OPTIONS]` (`argv`, default: this command's arguments) with `tcp_nodelay`."""
    from streamlit.web import cli

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-"):
        raise SystemExit("usage: python -m app_pages.nodelay SCRIPT [streamlit run's options]")
    print(f"  {tcp_nodelay()}", flush=True)
    cli.main(args=["run", *argv], prog_name="streamlit")


if __name__ == "__main__":
    main()
