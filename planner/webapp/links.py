"""Share links: a whole Scenario in a URL query string.

Only fields that differ from the app's default scenario are written, under dotted names that
follow the Scenario schema (``workload.rate_rps=4&machine.hardware=nvidia-h100-sxm``), plus the
version key ``v=1``.  Lists of machines (``compare``) and of custom hardware are written whole
when they differ from the default, one element per index (``compare.0.hardware=...``; fields at
their model default are left out; an empty list is ``compare=``).  Other lists (``workload.piecewise``)
are compact JSON.  ``None`` is an empty value.

Decoding never raises: a malformed, out-of-range or unknown value yields a warning naming the
field and the fix, and that field alone falls back to its default.  `decode_strict` is the
raising form (the CLI).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import parse_qsl, urlencode

from pydantic import BaseModel, ValidationError

from planner.catalog.loader import Catalog
from planner.errors import CatalogError, ScenarioError, validation_field, validation_message
from planner.sim.scenario import VERSION, CustomHardware, Machine, Scenario, SchedulerOverrides, scenario_catalog
from planner.webapp.defaults import default_scenario, default_scenario_v1
from planner.webapp.plan_inputs import PlanInputs

VERSION_KEY = "v"
MODEL_LISTS: dict[str, type[BaseModel]] = {
    "compare": Machine,
    "custom_hardware": CustomHardware,
}  # lists of objects, written per index


JSON_LEAVES = {"machine.scheduler", "scheduler"}  # object-valued fields written as compact JSON (scheduler
# overrides of one option: machine.scheduler, compare.N.scheduler)


@dataclass(frozen=True)
class LinkWarning:
    field: str
    message: str
    note: bool = False  # information (e.g. an old link was migrated), not a problem with the link

    def __post_init__(self):  # a parameter with an empty or blank name is still named
        if not self.field.strip():
            object.__setattr__(self, "field", f"(parameter with an empty name {self.field!r})")

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


# --------------------------------------------------------------------------- values


def fmt_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, separators=(",", ":"), sort_keys=isinstance(v, dict))
    return str(v)


def compact(v: Any) -> Any:
    """An object-valued field (scheduler overrides) without its unset (None) and default entries."""
    if not isinstance(v, dict):
        return v
    defaults = {k: f.default for k, f in SchedulerOverrides.model_fields.items()}
    return {k: x for k, x in v.items() if x is not None and x != defaults.get(k, object())}


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and key not in JSON_LEAVES:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = compact(v) if key in JSON_LEAVES else v
    return out


def flatten(sc: Scenario) -> dict[str, Any]:
    """Every scalar field of a scenario under its dotted name, model lists excluded."""
    data = sc.model_dump(mode="json")
    for k in MODEL_LISTS:
        data.pop(k, None)
    return _flatten(data)


def _element_fields(model: type[BaseModel], item: dict) -> dict[str, Any]:
    """An element's fields that differ from the element model's defaults (required ones always)."""
    out = {}
    for name, f in model.model_fields.items():
        v = compact(item.get(name)) if name in JSON_LEAVES else item.get(name)
        if f.is_required() or v != f.default:
            out[name] = v
    return out


# --------------------------------------------------------------------------- encode


def encode_params(sc: Scenario, default: Scenario | None = None) -> dict[str, str]:
    """The query parameters of a scenario: v=1 plus every field that differs from `default`."""
    default = default or default_scenario()
    params = {VERSION_KEY: str(VERSION)}
    mine, theirs = flatten(sc), flatten(default)
    for k, v in mine.items():
        if k != "version" and v != theirs.get(k):
            params[k] = fmt_value(v)
    for name, model in MODEL_LISTS.items():
        items = [x.model_dump(mode="json") for x in getattr(sc, name)]
        if items == [x.model_dump(mode="json") for x in getattr(default, name)]:
            continue
        if not items:
            params[name] = ""
        for i, item in enumerate(items):
            for f, v in _element_fields(model, item).items():
                params[f"{name}.{i}.{f}"] = fmt_value(v)
    return params


def encode(sc: Scenario, default: Scenario | None = None) -> str:
    """The query string (without '?')."""
    return urlencode(encode_params(sc, default), safe=",:[]")


# --------------------------------------------------------------------------- decode


def _parse_query(query: str | Mapping[str, Any]) -> dict[str, str]:
    if isinstance(query, str):
        pairs = parse_qsl(query.lstrip("?"), keep_blank_values=True)
        return {k: v for k, v in pairs}  # the last value of a repeated key wins
    out = {}
    for k, v in query.items():
        if isinstance(v, (list, tuple)):
            v = v[-1] if v else ""
        out[str(k)] = "" if v is None else str(v)
    return out


def _set(data: dict, path: list, value) -> None:
    d = data
    for p in path[:-1]:
        d = d[p]
    d[path[-1]] = value


def _get(data, path: list):
    d = data
    for p in path:
        d = d[p]
    return d


def _leaf(raw: str, default_value, json_leaf: bool = False):
    """A query string value shaped for validation (pydantic converts numbers and booleans)."""
    if raw == "":
        return None
    if isinstance(default_value, list) or json_leaf:
        try:
            return json.loads(raw)
        except ValueError:
            return raw  # validation names the field
    return raw


def decode(
    query: str | Mapping[str, Any], catalog: Catalog | None = None, default: Scenario | None = None
) -> tuple[Scenario, list[LinkWarning]]:
    """Scenario from a query; never raises.  Bad fields fall back to the default, one warning each."""
    params = {k: v for k, v in _parse_query(query).items() if not k.startswith(PLAN_PREFIX)}  # decode_plan's
    warnings: list[LinkWarning] = []
    version = params.pop(VERSION_KEY, None)
    if version == "1":  # one stack for every option, fields relative to version 1's default: migrate
        if default is None:
            default = default_scenario_v1()
        warnings.append(
            LinkWarning(
                VERSION_KEY,
                "a version 1 link, migrated to version 2: every option runs the "
                "scenario's quantization and engine, as in version 1 (set each "
                "option's own stack in its panel); the address bar now holds the "
                f"v={VERSION} link",
                note=True,
            )
        )
    elif version is not None and version != str(VERSION):
        warnings.append(
            LinkWarning(
                VERSION_KEY,
                f"link version '{version}' is not supported (this app writes v={VERSION}); read as version {VERSION}",
            )
        )
    default = default or default_scenario()
    params.pop("version", None)
    base = default.model_dump(mode="json")
    data = copy.deepcopy(base)
    set_paths: list[tuple] = []  # paths the link set, for per-field fallback
    lists: dict[str, dict[int, dict]] = {}
    for key, raw in params.items():
        parts = key.split(".")
        head = parts[0]
        if head in MODEL_LISTS:
            lists.setdefault(head, {})
            if len(parts) == 1:
                if raw != "":
                    warnings.append(LinkWarning(key, f"'{raw}' is not understood; write {head}.0.<field>=..."))
                continue
            if len(parts) != 3 or not parts[1].isdigit() or parts[2] not in MODEL_LISTS[head].model_fields:
                warnings.append(
                    LinkWarning(
                        key,
                        f"unknown field, ignored (expected {head}.<index>.<field> with "
                        f"a field of {', '.join(MODEL_LISTS[head].model_fields)})",
                    )
                )
                continue
            lists[head].setdefault(int(parts[1]), {})[parts[2]] = _leaf(raw, None, parts[2] in JSON_LEAVES)
            continue
        try:
            dv = _get(base, parts)
        except (KeyError, TypeError):
            dv = KeyError
        if dv is KeyError or (isinstance(dv, dict) and key not in JSON_LEAVES):
            warnings.append(
                LinkWarning(key, "unknown field, ignored (see `python -m planner schema` for the field names)")
            )
            continue
        _set(data, parts, _leaf(raw, dv, key in JSON_LEAVES))
        set_paths.append(tuple(parts))
    for name, items in lists.items():
        data[name] = [items[i] for i in sorted(items)]  # gaps in the indices close up
        set_paths += [(name, j, f) for j, i in enumerate(sorted(items)) for f in items[i]]
    sc = _validate(data, base, set_paths, warnings)
    if catalog is not None:
        sc = _check_ids(sc, catalog, default, warnings)
    return sc, warnings


def _revert(data: dict, base: dict, path: tuple) -> None:
    """Put one field back to its default (a list element's field: its model default)."""
    if path[0] in MODEL_LISTS and len(path) == 3:
        data[path[0]][path[1]].pop(path[2], None)
        return
    try:
        _set(data, list(path), copy.deepcopy(_get(base, list(path))))
    except (KeyError, IndexError, TypeError):
        pass


def _validate(data: dict, base: dict, set_paths: list[tuple], warnings: list[LinkWarning]) -> Scenario:
    for _ in range(200):
        try:
            return Scenario.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
        loc = tuple(err["loc"])
        field = validation_field(loc, "scenario", indices=True)
        msg = validation_message(err)
        if err["type"] == "missing" and loc and loc[0] in MODEL_LISTS and len(loc) == 3:
            data[loc[0]].pop(loc[1])  # an element without its required field: drop it
            set_paths[:] = [p for p in set_paths if p[:2] != loc[:2]]
            warnings.append(LinkWarning(field, f"{msg}; option dropped"))
            continue
        if loc and loc[0] in MODEL_LISTS and len(loc) == 1 and err["type"] == "too_long":
            limit = len(data[loc[0]]) - 1
            del data[loc[0]][limit:]
            warnings.append(LinkWarning(field, f"{msg}; the extra entries were dropped"))
            continue
        under = [p for p in set_paths if p[: len(loc)] == loc]
        if not under:
            under = [p for p in set_paths if loc[: len(p)] == p]
        fixed = None
        if len(under) > 1:  # an object-level rule (e.g. arrival = closed needs concurrency): revert one key
            for p in reversed(under):
                trial = copy.deepcopy(data)
                _revert(trial, base, p)
                try:
                    Scenario.model_validate(trial)
                    fixed = [p]
                    break
                except ValidationError as e2:
                    if all(tuple(x["loc"])[: len(loc)] != loc for x in e2.errors()):
                        fixed = [p]
                        break
        fixed = fixed or under
        if not fixed:  # nothing the link set explains it: start over from the default
            warnings.append(LinkWarning(field, f"{msg}; the default scenario is used"))
            return Scenario.model_validate(base)
        for p in fixed:
            _revert(data, base, p)
            set_paths.remove(p)
        names = ", ".join(".".join(str(x) for x in p) for p in fixed)
        where = field if len(fixed) == 1 and ".".join(str(x) for x in fixed[0]) == field else f"{field} ({names})"
        warnings.append(LinkWarning(where, f"{msg}; using the default"))
    warnings.append(LinkWarning("scenario", "too many bad fields; the default scenario is used"))
    return Scenario.model_validate(base)


def _check_ids(sc: Scenario, catalog: Catalog, default: Scenario, warnings: list[LinkWarning]) -> Scenario:
    """Unknown catalog ids fall back to the default (aliases become the canonical id)."""
    upd: dict = {}
    try:
        cat = scenario_catalog(catalog, sc)
    except ScenarioError as exc:
        warnings.append(LinkWarning(exc.field, str(exc).split(": ", 1)[1] + "; that machine is dropped"))
        i = int(exc.field.split(".")[1])
        sc = sc.model_copy(update={"custom_hardware": [h for j, h in enumerate(sc.custom_hardware) if j != i]})
        return _check_ids(sc, catalog, default, warnings)
    for field, kind in (("model", "models"), ("quant", "quants"), ("engine", "engines")):
        try:
            upd[field] = cat.resolve(kind, getattr(sc, field), field)
        except CatalogError as exc:
            warnings.append(LinkWarning(field, f"{exc}; using the default '{getattr(default, field)}'"))
            upd[field] = getattr(default, field)
    if sc.kv_dtype is not None and sc.kv_dtype not in cat.kv_dtypes:
        warnings.append(
            LinkWarning(
                "kv_dtype",
                f"unknown KV dtype '{sc.kv_dtype}' (known: "
                f"{', '.join(sorted(cat.kv_dtypes))}); using the engine default",
            )
        )
        upd["kv_dtype"] = None
    try:
        hw = cat.resolve("hardware", sc.machine.hardware, "machine.hardware")
        upd["machine"] = sc.machine.model_copy(update={"hardware": hw})
    except CatalogError as exc:
        warnings.append(LinkWarning("machine.hardware", f"{exc}; using the default '{default.machine.hardware}'"))
        upd["machine"] = default.machine
    compare = []
    for i, m in enumerate(sc.compare):
        try:
            compare.append(
                m.model_copy(update={"hardware": cat.resolve("hardware", m.hardware, f"compare.{i}.hardware")})
            )
        except CatalogError as exc:
            warnings.append(LinkWarning(f"compare.{i}.hardware", f"{exc}; option dropped"))
    upd["compare"] = compare
    for prefix, m in (("machine", upd["machine"]), *((f"compare.{i}", x) for i, x in enumerate(compare))):
        fix: dict[str, str | None] = {}
        for field, kind in (("quant", "quants"), ("engine", "engines")):
            v = getattr(m, field)
            if v is None:
                continue
            try:
                fix[field] = cat.resolve(kind, v, f"{prefix}.{field}")
            except CatalogError as exc:
                warnings.append(LinkWarning(f"{prefix}.{field}", f"{exc}; using the scenario's '{upd[field]}'"))
                fix[field] = None
        if m.kv_dtype is not None and m.kv_dtype not in cat.kv_dtypes:
            warnings.append(
                LinkWarning(
                    f"{prefix}.kv_dtype",
                    f"unknown KV dtype '{m.kv_dtype}' (known: "
                    f"{', '.join(sorted(cat.kv_dtypes))}); using the "
                    "scenario's",
                )
            )
            fix["kv_dtype"] = None
        for field, kind in (("link", "interconnects"), ("host", "hosts")):
            v = getattr(m, field)
            if v is None or not getattr(cat, kind):
                continue
            try:
                fix[field] = cat.resolve(kind, v, f"{prefix}.{field}")
            except CatalogError as exc:
                warnings.append(LinkWarning(f"{prefix}.{field}", f"{exc}; using the default (none)"))
                fix[field] = None
        if fix:
            m = m.model_copy(update=fix)
            if prefix == "machine":
                upd["machine"] = m
            else:
                compare[int(prefix.split(".")[1])] = m
    upd["compare"] = compare
    return sc.model_copy(update=upd)


def decode_strict(query: str | Mapping[str, Any], catalog: Catalog | None = None) -> Scenario:
    """Like decode, but the first problem raises ScenarioError(field, message)."""
    sc, warnings = decode(query, catalog)
    warnings = [w for w in warnings if not w.note]
    if warnings:
        w = warnings[0]
        msg = w.message
        for tail in ("; using the default", "; option dropped", ", ignored"):
            msg = msg.split(tail)[0] if tail == "; using the default" else msg.replace(tail, "")
        raise ScenarioError(w.field, msg)
    return sc


# --------------------------------------------------------------------------- capacity plan inputs
#
# The Capacity plan page's inputs travel in the same query string under ``plan.`` (``plan.rate_rps=4``,
# ``plan.candidates=nvidia-h200-sxm,amd-mi300x``), only those that differ from PlanInputs' defaults
# (planner.webapp.plan_inputs); the version key ``v`` is shared with the scenario.  Decoding warns per field
# and falls back per field.

PLAN_PREFIX = "plan."


def _plan_value(v: Any) -> str:
    if isinstance(v, list):
        return ",".join(v)
    return fmt_value(v)


def encode_plan_params(inp: PlanInputs) -> dict[str, str]:
    """``plan.<field>`` for every input that differs from the default (no version key: see encode_params)."""
    default = PlanInputs()
    return {PLAN_PREFIX + k: _plan_value(v) for k, v in inp.model_dump(mode="json").items() if v != getattr(default, k)}


def decode_plan(query: str | Mapping[str, Any], catalog: Catalog | None = None) -> tuple[PlanInputs, list[LinkWarning]]:
    """Plan inputs from a query (keys without the ``plan.`` prefix are ignored); never raises.
    A malformed or unknown value warns, naming the field, and that field keeps its default."""
    params = {k[len(PLAN_PREFIX) :]: v for k, v in _parse_query(query).items() if k.startswith(PLAN_PREFIX)}
    default = PlanInputs()
    data = default.model_dump()
    warnings: list[LinkWarning] = []
    fields = PlanInputs.model_fields
    for key, raw in params.items():
        name = PLAN_PREFIX + key
        if key not in fields:
            warnings.append(LinkWarning(name, f"unknown field, ignored (plan fields: {', '.join(fields)})"))
            continue
        raw = raw.strip()
        value: Any = None if raw == "" else raw
        if key == "candidates" and value is not None:
            value = [x.strip() for x in raw.split(",") if x.strip()] or None
        try:
            PlanInputs.model_validate({**data, key: value})
        except ValidationError as exc:
            msg = validation_message(exc.errors()[0], unknown=None)
            warnings.append(
                LinkWarning(name, f"'{raw}': {msg}; using the default ({_plan_value(getattr(default, key)) or 'none'})")
            )
            continue
        data[key] = value
    inp = PlanInputs.model_validate(data)
    if inp.ttft_p95_s is None and inp.tpot_p95_ms is None and inp.e2e_p95_s is None:
        warnings.append(
            LinkWarning(
                "plan.ttft_p95_s",
                "no SLO is set (the planner needs at least one); using the default TTFT and TPOT limits",
            )
        )
        inp = inp.model_copy(update={"ttft_p95_s": default.ttft_p95_s, "tpot_p95_ms": default.tpot_p95_ms})
    if catalog is not None:
        inp = _check_plan_ids(inp, catalog, default, warnings)
    return inp, warnings


def _check_plan_ids(inp: PlanInputs, catalog: Catalog, default: PlanInputs, warnings: list[LinkWarning]) -> PlanInputs:
    upd: dict = {}
    for field, kind, fallback in (("model", "models", default.model), ("quant", "quants", None)):
        v = getattr(inp, field)
        if v is None:
            continue
        try:
            upd[field] = catalog.resolve(kind, v, PLAN_PREFIX + field)
        except CatalogError as exc:
            warnings.append(LinkWarning(PLAN_PREFIX + field, f"{exc}; using the default ({fallback or 'all'})"))
            upd[field] = fallback
    if inp.candidates:
        keep = []
        for h in inp.candidates:
            try:
                hid = catalog.resolve("hardware", h, "plan.candidates")
            except CatalogError as exc:
                warnings.append(LinkWarning("plan.candidates", f"{exc}; left out"))
                continue
            if hid not in keep:
                keep.append(hid)
        upd["candidates"] = keep or None
    return inp.model_copy(update=upd)
