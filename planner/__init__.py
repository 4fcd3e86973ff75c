"""Inference Planner: memory, speed and cost of running LLMs on Macs and GPU machines.

Two modules may also be there compiled (Cython, built by setup.py from their source unchanged: the same
numbers bit for bit, faster): the simulator's engine (planner/sim/engine.py) and the decode run's loop
(planner/model/typed.py).  Importing one loads its compiled module only where that was built from this very
source (the hash its build wrote beside it, NAME.py.sha256) and PLANNER_PURE_PYTHON is unset, empty, 0, false
or no (set to anything else, the sources run: profilers and coverage see Python code only); otherwise the source itself.  `compiled_modules()` says which and why.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

__version__ = "0.1.0"

COMPILED = ("planner.sim.engine", "planner.model.typed")  # the modules setup.py compiles
_ROOT = os.path.dirname(os.path.abspath(__file__))


def _source(name: str) -> str:
    return os.path.join(_ROOT, *name.split(".")[1:]) + ".py"


def _why_source(name: str) -> tuple[str | None, str]:
    """(module `name`'s compiled file or None, why its source runs instead: '' where the compiled one runs)."""
    src = _source(name)
    stem = src[: -len(".py")]
    compiled = next(
        (p for s in importlib.machinery.EXTENSION_SUFFIXES if os.path.exists(p := stem + s)),
        None,
    )
    if compiled is None:
        return None, "no compiled module (setup.py builds it where Cython and a C compiler are at hand)"
    if os.environ.get("PLANNER_PURE_PYTHON", "").strip().lower() not in ("", "0", "false", "no"):
        return compiled, "PLANNER_PURE_PYTHON is set"
    try:
        with open(src + ".sha256") as f:
            built = f.read().strip()
    except OSError:
        return compiled, f"{os.path.basename(src)}.sha256 is missing beside its compiled module (rebuild: `make build`)"
    with open(src, "rb") as f:
        current = hashlib.sha256(f.read()).hexdigest()
    if built != current:
        return compiled, f"{os.path.basename(src)} changed since its compiled module was built (rebuild: `make build`)"
    return compiled, ""


_BUILD = {name: _why_source(name) for name in COMPILED}


class _CompiledOrSource(importlib.machinery.ExtensionFileLoader):
    """Loads a compiled module, or its source where the compiled one does not load (built for another system, a
    damaged file): the import error is kept as the reason, and the source runs."""

    fallback: importlib.machinery.SourceFileLoader | None = None

    def create_module(self, spec):
        try:
            return super().create_module(spec)
        except ImportError as e:
            _BUILD[self.name] = (self.path, f"its compiled module did not load ({e}); the source runs")
            self.fallback = importlib.machinery.SourceFileLoader(self.name, _source(self.name))
            spec.origin = self.fallback.path  # (the module's __file__)
            return None  # (a plain module, which exec_module fills from the source)

    def exec_module(self, module):
        if self.fallback is not None:
            return self.fallback.exec_module(module)
        return super().exec_module(module)


class _Select(importlib.abc.MetaPathFinder):
    """Finds the compiled modules ahead of a folder's finder: the source where it runs (which that finder would
    not prefer), else the compiled module through _CompiledOrSource."""

    def find_spec(self, fullname, path, target=None):
        hit = _BUILD.get(fullname)
        if hit is None or hit[0] is None:
            return None
        if hit[1]:
            return importlib.util.spec_from_file_location(fullname, _source(fullname))
        return importlib.util.spec_from_file_location(fullname, hit[0], loader=_CompiledOrSource(fullname, hit[0]))


if any(c is not None for c, _ in _BUILD.values()):
    sys.meta_path.insert(0, _Select())


def compiled_modules() -> dict:
    """For each module setup.py compiles, which file runs (or will, once imported): name -> {"compiled": bool,
    "file": its path, "note": why its source runs (or "")}."""
    out = {}
    for name, (compiled, why) in _BUILD.items():
        loaded = sys.modules.get(name)
        path: str = getattr(loaded, "__file__", None) or (_source(name) if why or compiled is None else compiled)
        ok = not path.endswith(".py")
        out[name] = {"compiled": ok, "file": path, "note": "" if ok else why}
    return out
