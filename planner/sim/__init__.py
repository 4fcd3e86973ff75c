"""Serving simulation: the Scenario schema, workloads, the engines and runner, compute budgets, executors, the speed suite.

The engine (engine.py) may also be there compiled (Cython, built by setup.py from engine.py unchanged:
the same numbers bit for bit, faster).  `import planner.sim.engine` loads the compiled module only where
it was built from this very engine.py (the hash its build wrote beside it, engine.py.sha256) and
PLANNER_PURE_PYTHON is not set (profilers and coverage see Python code only); otherwise engine.py
itself.  `engine_build()` says which and why.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

_DIR = os.path.dirname(os.path.abspath(__file__))
_SOURCE = os.path.join(_DIR, "engine.py")
_NAME = __name__ + ".engine"


def _why_source() -> tuple[str | None, str]:
    """(the compiled module's path or None, why engine.py runs instead: '' where the compiled one runs)."""
    compiled = next(
        (p for s in importlib.machinery.EXTENSION_SUFFIXES if os.path.exists(p := os.path.join(_DIR, "engine" + s))),
        None,
    )
    if compiled is None:
        return None, "no compiled module (setup.py builds it where Cython and a C compiler are at hand)"
    if os.environ.get("PLANNER_PURE_PYTHON"):
        return compiled, "PLANNER_PURE_PYTHON is set"
    try:
        with open(os.path.join(_DIR, "engine.py.sha256")) as f:
            built = f.read().strip()
        with open(_SOURCE, "rb") as f:
            current = hashlib.sha256(f.read()).hexdigest()
    except OSError:
        built, current = "", "?"
    if built != current:
        return compiled, "engine.py changed since the compiled module was built (rebuild: `make build`)"
    return compiled, ""


class _EngineSource(importlib.abc.MetaPathFinder):
    """Finds planner.sim.engine in engine.py (ahead of the compiled module, which a folder's finder prefers)."""

    def find_spec(self, fullname, path, target=None):
        return importlib.util.spec_from_file_location(fullname, _SOURCE) if fullname == _NAME else None


_COMPILED, _WHY = _why_source()
if _WHY and _COMPILED is not None:
    sys.meta_path.insert(0, _EngineSource())


def engine_build() -> dict:
    """Which engine module runs (or will, once imported): {"compiled": bool, "file": its path, "note": why
    engine.py runs (or "")}."""
    loaded = sys.modules.get(_NAME)
    path: str = getattr(loaded, "__file__", None) or (_SOURCE if _WHY or _COMPILED is None else _COMPILED)
    compiled = not path.endswith(".py")
    return {"compiled": compiled, "file": path, "note": "" if compiled else _WHY}
