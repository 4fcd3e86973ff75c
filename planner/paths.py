"""Where the built-in data lives: the one place that knows.

The profiles (``profiles/``: hardware, models, quantizations, engines, fitted calibration...) and the
data files (``data/``: the calibration measurements, the article's claims, the offload measurements)
ship inside the ``planner`` package as package data and are found with :mod:`importlib.resources`,
so a normal ``pip install .`` or wheel works from any directory.  User overlays (``--profiles DIR``,
``$PLANNER_PROFILES``) are added on top by :mod:`planner.catalog.loader`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from planner.errors import CatalogError

# The package's data root: planner/ itself (its profiles/ and data/ folders are package data).
DATA_ROOT = Path(__file__).resolve().parent


def _root() -> Path:
    root = DATA_ROOT
    if root == Path(__file__).resolve().parent:  # package data: resolved through importlib.resources
        res = files(__package__)
        if not isinstance(res, Path):
            raise CatalogError(
                "the planner package is installed in a zip file; install it as a directory "
                "(pip install inference-planner) so that its built-in profiles can be read"
            )
        root = res
    return root


def builtin(*parts: str) -> Path:
    """Path of a built-in data file or folder, e.g. ``builtin("profiles")``, ``builtin("data", "claims.toml")``."""
    return _root().joinpath(*parts)


def require(*parts: str) -> Path:
    """Like :func:`builtin`, but a missing file or folder is a clear CatalogError (an incomplete install)."""
    p = builtin(*parts)
    if not p.exists():
        raise CatalogError(
            f"built-in {'/'.join(parts)} not found at {p}: the planner package is incomplete "
            "(reinstall it: pip install . from a full source checkout)"
        )
    return p
