"""The one home of the planner's error types.

Every problem with *input* (an unknown id, a malformed share link, CSV, scenario or profile file,
an impossible scenario, a request over a limit) raises a subclass of :class:`PlannerError` with a
one-line message naming the field at fault and the fix.  The CLI (``python -m planner``) and the
web app catch exactly this class: one line on stderr and exit 2, or ``st.error`` on the page.
Anything else that escapes is a defect in the planner and is shown as such (a traceback and
exit 1; Streamlit's exception box), never dressed up as bad input.

The old names stay importable from the modules that defined them before (``planner.catalog.loader.
CatalogError``, ``planner.model.perf.ScenarioError``, ``planner.webapp.csvio.CSVError``, ...): they are the
classes defined here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class PlannerError(ValueError):
    """Bad input: the message names the field and the fix.  (A ValueError for code that caught
    ValueError before this hierarchy existed.)"""


class UsageError(PlannerError):
    """A bad command-line argument or combination of arguments."""


class CatalogError(PlannerError):
    """A user-facing error about the catalog (unknown id, bad profile file, missing catalog)."""


class ScenarioError(PlannerError):
    """An impossible or malformed request, with the field at fault and the fix."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def __reduce__(self):  # picklable (process pools, Dask, Ray hand errors back)
        return type(self), (self.field, self.message)


class UnsupportedError(ScenarioError):
    """The engine does not run this format (or KV dtype) on this GPU architecture (profiles/support): the
    message gives the reason, its source and the nearest supported combination (CLI exit 2).  `verdict` is
    the planner.catalog.support.Verdict that failed (its `field` and `message()`)."""

    def __init__(self, verdict):
        super().__init__(verdict.field or "quant", verdict.message())
        self.verdict = verdict


class CSVError(PlannerError):
    """A scenario CSV that cannot be read; the message names the row/column and the fix."""


class DataError(PlannerError):
    """A bad measurements file (calibration data): the message names the row and column."""


class BenchImportError(DataError):
    """A benchmark output (llama-bench, mlx_lm, vllm bench serve...) that cannot be read: one line, with the
    line number where it applies."""


class PlanError(PlannerError):
    """A capacity-plan request that cannot be answered (bad spec, nothing meets the SLO)."""


class ExecutorError(PlannerError):
    """A sweep that cannot run (missing optional dependency, unreachable cluster)."""


class BudgetError(PlannerError):
    """Work over a compute limit: a simulation past its wall-clock limit, or stopped by the user."""


def one_line(exc: BaseException) -> str:
    """The first line of an error's message (its class name when it has none)."""
    text = str(exc)
    return text.splitlines()[0] if text.strip() else type(exc).__name__


def validation_field(loc, default: str, indices: bool = False) -> str:
    """A pydantic error location as the dotted field name users see (list indices dropped unless `indices`)."""
    return ".".join(str(p) for p in loc if indices or not isinstance(p, int)) or default


def validation_message(err: Mapping[str, Any], unknown: str | None = "unknown field") -> str:
    """A pydantic error's message without pydantic's 'Value error, ' prefix; an extra (forbidden) field says
    `unknown` (None: pydantic's own words)."""
    if err["type"] == "extra_forbidden" and unknown is not None:
        return unknown
    return err["msg"].removeprefix("Value error, ")


def first_validation_error(
    exc, default: str, unknown: str | None = "unknown field", indices: bool = False
) -> tuple[str, str]:
    """(dotted field, message) of a pydantic ValidationError's first error: the one formatting of validation
    errors shared by scenarios, plans, share links, the catalog and the app's forms."""
    err = exc.errors()[0]
    return validation_field(err["loc"], default, indices), validation_message(err, unknown)
