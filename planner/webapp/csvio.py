"""CSV files of the app: the scenario (one row per machine option), the summary table and the
per-request results.

Scenario CSV columns are the share link's dotted names: ``option``, ``machine.hardware``,
``machine.memory_gb``, ``machine.devices``, ``machine.replicas``, ``machine.usable_memory_gb`` (row i
is option i), then every other scenario field (``model``, ``workload.rate_rps``, ``slo.ttft_p95_s``,
``custom_hardware.0.id``, ...), the same in every row.  Each option's own stack is in its row:
``machine.quant``, ``machine.engine``, ``machine.kv_dtype``, ``machine.scheduler`` (JSON); empty means the
scenario's.  A version 1 file (no ``machine.engine`` column) is migrated like a v=1 link.  Reading one back is strict: any problem
raises CSVError naming the row and column, so a bad file changes nothing.
"""

from __future__ import annotations

import csv
import io
from typing import Iterable

from planner.catalog.loader import Catalog
from planner.errors import CSVError
from planner.sim.scenario import MAX_COMPARE, Machine, Scenario
from planner.webapp.links import MODEL_LISTS, compact, decode, flatten, fmt_value

MACHINE_COLUMNS = tuple(f"machine.{f}" for f in Machine.model_fields)
MAX_BYTES = 1_000_000


def scenario_columns(sc: Scenario) -> list[str]:
    shared = [k for k in flatten(sc) if not k.startswith("machine.") and k != "version"]
    custom = [
        f"custom_hardware.{i}.{f}"
        for i, _ in enumerate(sc.custom_hardware)
        for f in MODEL_LISTS["custom_hardware"].model_fields
    ]
    return ["option", *MACHINE_COLUMNS, "version", *shared, *custom]


def scenario_rows(sc: Scenario) -> list[dict[str, str]]:
    flat = flatten(sc)
    shared = {k: fmt_value(v) for k, v in flat.items() if not k.startswith("machine.")}
    for i, h in enumerate(sc.custom_hardware):
        for f, v in h.model_dump(mode="json").items():
            shared[f"custom_hardware.{i}.{f}"] = fmt_value(v)
    rows = []
    for i, m in enumerate(sc.options()):
        row = {"option": str(i + 1)}
        row.update(
            {
                f"machine.{k}": fmt_value(compact(v) if k == "scheduler" else v)
                for k, v in m.model_dump(mode="json").items()
            }
        )
        row.update(shared)
        rows.append(row)
    return rows


def write_table(rows: Iterable[dict], columns: list[str] | None = None) -> str:
    rows = list(rows)
    cols = columns or (list(rows[0]) if rows else [])
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: fmt_value(r.get(k)) if not isinstance(r.get(k), str) else r.get(k) for k in cols})
    return buf.getvalue()


def scenario_csv(sc: Scenario) -> str:
    return write_table(scenario_rows(sc), scenario_columns(sc))


def read_scenario_csv(
    data: bytes | str,
    catalog: Catalog | None = None,
    notes: list[str] | None = None,
    max_bytes: int = MAX_BYTES,
) -> Scenario:
    """Scenario from a scenario CSV; raises CSVError (row, column, fix) on any problem.  Information about
    the file (a version 1 file was migrated) is appended to `notes` when given.  `max_bytes`: the largest
    file read (the app passes its server budget's `upload_bytes`)."""
    if isinstance(data, bytes):
        if len(data) > max_bytes:
            raise CSVError(f"the file is {len(data):,} bytes; a scenario CSV is a few kB (at most {max_bytes:,})")
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CSVError("the file is not UTF-8 text: upload the CSV this app downloads") from None
    if len(data) > max_bytes:
        raise CSVError(f"the text is {len(data):,} characters; a scenario CSV is a few kB (at most {max_bytes:,})")
    try:
        reader = csv.DictReader(io.StringIO(data))
        cols = reader.fieldnames or []
        rows = []
        for r in reader:  # stop at the first row past the limit: a huge file is not parsed whole
            if any((v or "").strip() for k, v in r.items() if k is not None) or None in r:
                rows.append(r)
                if len(rows) > MAX_COMPARE + 1:
                    raise CSVError(f"more than {MAX_COMPARE + 1} rows: at most {MAX_COMPARE + 1} machine options")
    except csv.Error as exc:
        raise CSVError(f"not a readable CSV ({exc})") from None
    if "machine.hardware" not in cols:
        raise CSVError(
            "column 'machine.hardware' is missing: the first line must be the header the app writes "
            "(option, machine.hardware, machine.memory_gb, ...)"
        )
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise CSVError(f"column '{dup[0]}' appears twice in the header")
    rows = [r for r in rows if any((v or "").strip() for k, v in r.items() if k is not None)]
    if not rows:
        raise CSVError("no rows: one row per machine option is needed")
    if len(rows) > MAX_COMPARE + 1:
        raise CSVError(f"{len(rows)} rows: at most {MAX_COMPARE + 1} machine options")
    for n, r in enumerate(rows, start=2):
        if None in r:
            raise CSVError(f"line {n}: more values than columns in the header")
    if "option" in cols:
        try:
            order = [int(r["option"]) for r in rows]
        except (TypeError, ValueError):
            bad = next(r["option"] for r in rows if not (r["option"] or "").strip().isdigit())
            raise CSVError(f"column 'option' must be 1, 2, ... (one per row), got '{bad}'") from None
        if sorted(order) != list(range(1, len(rows) + 1)):
            raise CSVError(f"column 'option' must number the rows 1 to {len(rows)}, got {order}")
        rows = [r for _, r in sorted(zip(order, rows), key=lambda t: t[0])]
    shared = [c for c in cols if c not in MACHINE_COLUMNS and c != "option"]
    first = rows[0]
    for n, r in enumerate(rows[1:], start=2):
        for c in shared:
            if (r[c] or "") != (first[c] or ""):
                raise CSVError(
                    f"option {n}: column '{c}' is '{r[c]}' but option 1 has '{first[c]}'; only the "
                    "machine.* columns may differ between rows"
                )
    params: dict[str, str] = {"compare": "", "custom_hardware": ""}
    for c in shared:
        params[c] = (first[c] or "").strip()
    for i, r in enumerate(rows):
        for c in MACHINE_COLUMNS:
            if c in r:
                f = c.split(".", 1)[1]
                key = c if i == 0 else f"compare.{i - 1}.{f}"
                params[key] = (r[c] or "").strip()
    version = params.pop("version", "")
    if version == "1" or "machine.engine" not in cols:  # written by version 1: one stack for every option
        params["v"] = "1"
    elif version not in ("", "2"):
        raise CSVError(f"column 'version' is '{version}': this app reads versions 1 and 2")
    sc, warnings = decode(params, catalog)
    if notes is not None and any(w.note for w in warnings):
        notes.append(
            "a version 1 file, migrated to version 2: every option runs the scenario's quantization and "
            "engine, as in version 1"
        )
    warnings = [w for w in warnings if not w.note]  # a version 1 file is migrated (the app says so)
    if warnings:
        w = warnings[0]
        msg = w.message
        for tail in ("; using the default", "; option dropped", ", ignored"):
            msg = msg.replace(tail, "")
        raise CSVError(f"{_where(w.field)}: {msg}")
    return sc


def _where(field: str) -> str:
    """'compare.1.devices' -> "option 3, column 'machine.devices'"; others -> "column 'x'"."""
    parts = field.split(" ")[0].split(".")
    if parts[0] == "compare" and len(parts) >= 3 and parts[1].isdigit():
        return f"option {int(parts[1]) + 2}, column 'machine.{parts[2]}'"
    if parts[0] == "machine":
        return f"option 1, column '{field.split(' ')[0]}'"
    return f"column '{field.split(' ')[0]}'"
