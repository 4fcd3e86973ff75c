"""Compute budgets: how much work one interactive page may do for one (untrusted) scenario.

A share link is untrusted input: ``?workload.requests=1000000`` on four machine options is minutes
of server CPU.  The web app therefore runs every scenario through ``planner.webapp.clamps.clamp`` first: fields over
the server's budget are lowered to it, each with a warning naming the field and the budget, and
simulations run under a wall-clock limit (:func:`deadline`).  The command line keeps the schema's
full limits (``planner.sim.scenario``: 1,000,000 requests per simulation) and no time limit unless asked.

The server sets the budget, never the link: the environment variable ``PLANNER_BUDGET``
(``requests=4000,timeline_points=5000,...``) or a TOML file named by ``PLANNER_BUDGET_FILE``
(``[budget]`` table or top-level keys; independent of ``.streamlit/``).  The environment variable
wins over the file, the file over the defaults.  The defaults keep a page under about 5 s on a
2-core machine (see README, "Compute budget").
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import time
import tomllib
from dataclasses import dataclass, fields, replace
from typing import Callable, Iterator, Mapping

from planner.errors import BudgetError, UsageError

ENV = "PLANNER_BUDGET"
FILE_ENV = "PLANNER_BUDGET_FILE"


@dataclass(frozen=True)
class Budget:
    """Limits for one interactive page."""

    #: simulated requests summed over the machine options (requests x options)
    requests: int = 4000
    #: step-timeline points kept per simulation (the charts draw them)
    timeline_points: int = 5000
    #: replicas simulated per option (each is a scheduler and a process in the simulation)
    replicas: int = 16
    #: load-sweep simulations summed over the options (points x options)
    sweep_points: int = 32
    #: simulated requests summed over a load sweep's simulations (requests x points x options)
    sweep_requests: int = 12_800
    #: wall-clock limit of the simulations of one page run (the Compare page's options together, or one
    #: option's load sweep), seconds
    sim_seconds: float = 10.0
    #: largest scenario CSV the Compare page reads, bytes (Streamlit's server.maxUploadSize, 5 MB in
    #: .streamlit/config.toml, bounds every upload, benchmark files included)
    upload_bytes: int = 1_000_000

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
                raise UsageError(f"budget {f.name} must be a positive number, got {v!r}")


def _coerce(name: str, raw, where: str):
    kinds = {f.name: f.type for f in fields(Budget)}
    if name not in kinds:
        raise UsageError(f"{where}: unknown budget field '{name}' (known: {', '.join(kinds)})")
    try:
        value = float(raw) if kinds[name] in ("float", float) else int(str(raw).replace("_", ""))
    except (TypeError, ValueError):
        raise UsageError(f"{where}: budget {name} must be a number, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{where}: budget {name} must be a positive number, got {raw!r}")
    return value


def load_budget(env: Mapping[str, str] | None = None) -> Budget:
    """The server's budget: defaults, then the file in $PLANNER_BUDGET_FILE, then $PLANNER_BUDGET."""
    env = os.environ if env is None else env
    values: dict = {}
    path = env.get(FILE_ENV)
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise UsageError(f"${FILE_ENV}: cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"${FILE_ENV}: {path} is not valid TOML ({exc})") from None
        table = data.get("budget", data)
        if not isinstance(table, dict):
            raise UsageError(f"${FILE_ENV}: [budget] must be a table")
        for k, v in table.items():
            values[k] = _coerce(k, v, f"{path}")
    text = env.get(ENV, "").strip()
    if text:
        for item in text.split(","):
            if not item.strip():
                continue
            k, sep, v = item.partition("=")
            if not sep:
                raise UsageError(f"${ENV}: '{item.strip()}' must look like field=value")
            values[k.strip()] = _coerce(k.strip(), v.strip(), f"${ENV}")
    return replace(Budget(), **values)


# --------------------------------------------------------------------------- wall-clock limit and Stop

_LIMIT: contextvars.ContextVar = contextvars.ContextVar("planner_deadline", default=None)


@contextlib.contextmanager
def deadline(
    seconds: float | None, stop: Callable[[], bool] | None = None, what: str = "the simulation"
) -> Iterator[None]:
    """Within this block, :func:`check` raises BudgetError once `seconds` have passed (None: no
    limit; 0: stopped at once, e.g. after a click on Stop) or `stop()` returns true (Streamlit's own Stop
    or a re-run request).  Nested blocks keep the tighter limit."""
    now = time.monotonic()
    outer = _LIMIT.get()
    end = math.inf if seconds is None else now + seconds
    stops = [s for s in (stop, outer[3] if outer else None) if s]
    if outer and outer[0] <= end:
        end, seconds, what = outer[0], outer[1], outer[2]
    token = _LIMIT.set((end, seconds, what, (lambda: any(s() for s in stops)) if stops else None))
    try:
        yield
    finally:
        _LIMIT.reset(token)


_tick = [0]


def active() -> bool:
    """Whether a :func:`deadline` encloses this call (the simulator then calls :func:`check` every step)."""
    return _LIMIT.get() is not None


def check() -> None:
    """Raise BudgetError when the enclosing :func:`deadline` has passed or Stop was pressed.
    Cheap (a context-variable read); the simulator calls it once per engine step."""
    lim = _LIMIT.get()
    if lim is None:
        return
    end, seconds, what, stop = lim
    if time.monotonic() > end:
        if not seconds:
            raise BudgetError(f"{what}: stopped (Stop pressed); change the scenario to run again")
        raise BudgetError(
            f"{what}: stopped at the wall-clock limit of {seconds:g} s; lower workload.requests "
            "or the number of options, or run it with `python -m planner simulate` (no limit)"
        )
    if stop is not None:
        _tick[0] += 1
        if _tick[0] % 64 == 0 and stop():
            raise BudgetError(f"{what}: stopped (Stop pressed or the page re-ran)")
