"""Starts the web app with its work done before the first visitor: `python -m app_pages.serve [OPTIONS]` (what
`make run` runs; OPTIONS are `streamlit run`'s, e.g. `--server.port 8502`).

`streamlit run app.py` imports the app's modules (planner, numpy, pydantic, pyarrow) and reads the default
scenario's NVIDIA kernel tables on the first script run, so the server's first visitor waited for them (about 1 s
of CPU here).  Streamlit runs nothing when its server starts (only an `st.App`'s ASGI lifespan, which would change
the server under every page), so this launcher does that work in the server's process first, then starts
Streamlit's own command line (`streamlit run app.py`, the same server, options and `/_stcore/health`); the script
runs then find the modules imported and the tables read.  The start takes that much longer; the health check
answers once the server is ready, warm.

Its server sets TCP_NODELAY on each connection (`app_pages/nodelay.py`: without it, every file and answer after a
connection's first waited 40 ms for the browser's delayed acknowledgement)."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

T0 = time.monotonic()

# the app's modules, imported here: the script runs find them in sys.modules.  Importing them declares their
# st.cache_data functions, which log that no Streamlit runtime exists yet (true, and harmless: a cache's storage is
# made on its first call, in a script run); the log is quietened meanwhile.
import streamlit.material_icon_names  # noqa: E402, F401  (the pages' icons are checked against it)
import streamlit.runtime.caching.cache_data_api  # noqa: E402, F401
import streamlit.runtime.scriptrunner.magic_funcs  # noqa: E402, F401  (every script run imports it)
from streamlit import env_util  # noqa: E402
from streamlit.web import cli  # noqa: E402

_quiet = logging.getLogger("streamlit.runtime.caching.cache_data_api")  # made by Streamlit's import at its level
_level = _quiet.level
_quiet.setLevel(logging.ERROR)

from app_pages import compare_charts, compare_parts, head, nodelay, ui  # noqa: E402, F401
from planner.webapp import compare, csvio, verdict  # noqa: E402, F401
from planner.webapp import defaults as dflt  # noqa: E402

_quiet.setLevel(_level)

APP = Path(__file__).resolve().parents[1] / "app.py"


def warm() -> float:
    """The default scenario's options evaluated once, into the page's own cache (`ui.warm_options`: planner's
    catalog and the NVIDIA kernel tables its options read, and the results the first visitor's page looks up), and
    the one `inspect.stack()` Streamlit makes on a server's first element (`env_util.is_repl`, from its check for a
    run outside `streamlit run`: about 0.1 s, most of it finding each loaded module's file; the same search done
    here is remembered).  Returns the seconds it took."""
    t = time.monotonic()
    ui.warm_options(dflt.default_scenario())
    env_util.is_repl()
    return time.monotonic() - t


def main(argv: list[str] | None = None) -> None:
    """Warms, then runs `streamlit run app.py` with `argv` (default: this command's arguments), its connections with
    TCP_NODELAY.  A warm-up that fails only costs its head start: the server starts all the same and the page shows
    what went wrong."""
    argv = list(sys.argv[1:] if argv is None else argv)
    print(f"  {nodelay.tcp_nodelay()}", flush=True)
    imports = time.monotonic() - T0
    try:
        tables = warm()
    except Exception as exc:  # noqa: BLE001 - the first script run meets (and shows) the same error
        print(f"  warm-up stopped ({type(exc).__name__}: {exc}); starting without it", flush=True)
    else:
        print(
            f"  warmed in {imports + tables:.1f} s (imports {imports:.1f} s, default scenario {tables:.1f} s)",
            flush=True,
        )
    cli.main(args=["run", str(APP), *argv], prog_name="streamlit")


if __name__ == "__main__":
    main()
