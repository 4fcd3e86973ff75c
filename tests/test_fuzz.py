"""Fuzzing (hypothesis) of every untrusted input: share links, scenario CSVs, scenario JSON/TOML files,
profile overlay directories and benchmark-import files (real tool outputs, mutated).

Each input type runs at least FUZZ_EXAMPLES cases (2,000 in CI; ``make fuzz`` runs a long pass with
``PLANNER_FUZZ_EXAMPLES``).  The properties: no exception other than a PlannerError (never a traceback),
every message names the field (or the row/column/file) at fault, and an input that is accepted gives
finite numbers.
"""

import json
import math
import os
import re
import tomllib
from pathlib import Path
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.catalog.loader import load_catalog
from planner.errors import CatalogError, CSVError, PlannerError, ScenarioError
from planner.model.predict import predict
from planner.sim import budget as bud
from planner.sim.scenario import Scenario, load_scenario, scenario_catalog
from planner.webapp.clamps import clamp
from planner.webapp.csvio import read_scenario_csv, scenario_csv
from planner.webapp.defaults import PRESETS, default_scenario, preset_scenario
from planner.webapp.links import LinkWarning, _parse_query, decode, flatten

FUZZ_EXAMPLES = int(os.environ.get("PLANNER_FUZZ_EXAMPLES", "2000"))
REPO = Path(__file__).resolve().parent.parent
CAT = load_catalog()
COUNTS: dict[str, int] = {}


def run_fuzz(name, strategy, check):
    """Run `check` on FUZZ_EXAMPLES inputs drawn from `strategy`; returns how many cases ran."""
    COUNTS[name] = 0

    @SETTINGS
    @given(strategy)
    def prop(item):
        COUNTS[name] += 1
        check(item)

    prop()
    assert COUNTS[name] >= FUZZ_EXAMPLES, COUNTS
    print(f"{name}: {COUNTS[name]} cases")


SETTINGS = settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))

# ------------------------------------------------------------------ values a hostile input may hold

NASTY_FLOATS = st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, 0.0, -0.0, -1.0, 1e30])
NASTY_INTS = st.sampled_from([0, -1, 2**63, 2**64 + 1, 10**30, -(10**30), 10**6, 1024, 1_000_000_000])
NASTY_TEXT = st.sampled_from(
    [
        "",
        " ",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "1e999",
        "-0",
        "0x10",
        "1_000",
        "None",
        "null",
        "true",
        "[]",
        "{}",
        "[1, 2]",
        "𝟙𝟚",
        "ｈ１００",
        "h100\x00",
        "é" * 300,
        "a" * 5000,
        "../../etc/passwd",
        "/etc/passwd",
        "1,2,3",
        "tp=0",
        "tp=99999",
        "layers:-1",
        "experts",
        "poisson",
        "closed",
        "trace",
        "csv",
        "lognormal",
        "uniform",
        "fixed",
    ]
)
SCALARS = st.one_of(
    NASTY_FLOATS,
    NASTY_INTS,
    NASTY_TEXT,
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.text(max_size=30),
)
VALUES = st.recursive(
    SCALARS,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4)),
    max_leaves=8,
)


def scenario_dicts():
    return [default_scenario().model_dump(mode="json")] + [preset_scenario(p).model_dump(mode="json") for p in PRESETS]


def paths_of(d, prefix=()):
    """Every path (tuple of keys/indices) into a nested dict/list."""
    out = []
    items = d.items() if isinstance(d, dict) else enumerate(d) if isinstance(d, list) else []
    for k, v in items:
        out.append(prefix + (k,))
        out += paths_of(v, prefix + (k,))
    return out


@st.composite
def mutated(draw, bases):
    """A valid document with a few fields replaced by hostile values, deleted, or unknown ones added."""
    import copy

    doc = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 3))):
        paths = paths_of(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        op = draw(st.sampled_from(["set", "set", "set", "delete", "add"]))
        if op == "set":
            parent[path[-1]] = draw(VALUES)
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = draw(VALUES)
    return doc


# ------------------------------------------------------------------ checks


def finite_numbers(obj, where="result"):
    """Every number in a result is finite."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return
    if isinstance(obj, (int, float)):
        assert math.isfinite(obj), f"{where} = {obj}"
    elif isinstance(obj, dict):
        for k, v in obj.items():
            finite_numbers(v, f"{where}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            finite_numbers(v, f"{where}[{i}]")


def predicts_finite(sc: Scenario) -> None:
    """An accepted scenario: each option's prediction is finite numbers or a PlannerError naming a field."""
    try:
        cat = scenario_catalog(CAT, sc)
    except ScenarioError as exc:
        assert exc.field
        return
    for m in sc.options()[:2]:
        try:
            res = predict(
                cat,
                hardware=m.hardware,
                model=sc.model,
                quant=sc.quant,
                engine=sc.engine,
                memory_gb=m.memory_gb,
                usable_memory_gb=m.usable_memory_gb,
                devices=m.devices,
                prompt=min(int(sc.workload.prompt.mean or 512), 4096),
                gen=min(int(sc.workload.output.mean or 128), 1024),
                kv_dtype=sc.kv_dtype,
                nodes=m.nodes,
                link=m.link,
                parallel=m.parallel,
                host=m.host,
                offload=m.offload,
                host_memory_gb=m.host_memory_gb,
            )
        except PlannerError as exc:
            assert str(exc).strip()
            continue
        finite_numbers(res)


KNOWN_FIELDS = set(flatten(default_scenario()))


def check_warning(w: LinkWarning, query_keys) -> None:
    assert isinstance(w, LinkWarning) and w.field and w.message
    if w.field in query_keys or w.field.startswith("(parameter with an empty name"):
        return
    head = w.field.split(" ")[0]
    top = head.split(".")[0]
    assert (
        head in KNOWN_FIELDS
        or head in query_keys
        or top
        in ("compare", "custom_hardware", "workload", "machine", "scenario", "slo", "scheduler", "cost", "v", "version")
        or any(head.startswith(k) for k in query_keys)
    ), w


# ------------------------------------------------------------------ share links

LINK_KEYS = st.one_of(
    st.sampled_from(sorted(KNOWN_FIELDS | {"v", "compare", "custom_hardware"})),
    st.builds(
        lambda i, f: f"compare.{i}.{f}",
        st.sampled_from([0, 1, 2, 4, 5, 9, 99999]),
        st.sampled_from(
            ["hardware", "devices", "replicas", "memory_gb", "nodes", "link", "parallel", "host", "offload", "nope"]
        ),
    ),
    st.builds(
        lambda i, f: f"custom_hardware.{i}.{f}",
        st.sampled_from([0, 1, 8, 9]),
        st.sampled_from(["id", "name", "vendor", "memory_gb", "bandwidth_gbs", "fp16_tflops", "power_w", "price_usd"]),
    ),
    st.text(max_size=20),
)
LINK_VALUES = st.one_of(
    NASTY_TEXT,
    st.text(max_size=40),
    NASTY_FLOATS.map(str),
    NASTY_INTS.map(str),
    st.sampled_from(["nvidia-h100-sxm", "h100", "deepseek-r1", "vllm", "fp8", "4", "0.5"]),
)
QUERIES = st.one_of(
    st.text(max_size=300),  # any query string
    st.lists(st.tuples(LINK_KEYS, LINK_VALUES), max_size=12).map(lambda kv: urlencode(kv)),
    st.lists(st.tuples(LINK_KEYS, LINK_VALUES), max_size=12).map(lambda kv: dict(kv)),
)


def _link_case(q):
    sc, warnings = decode(q, CAT)
    assert isinstance(sc, Scenario)
    keys = set(_parse_query(q))
    for w in warnings:
        check_warning(w, keys)
    run, clamps = clamp(sc, bud.Budget())
    assert all(c.field for c in clamps)
    predicts_finite(run)


def test_fuzz_share_links():
    run_fuzz("share links", QUERIES, _link_case)


# ------------------------------------------------------------------ scenario CSVs

CSV_MESSAGE = re.compile(r"column|line|row|file|CSV|header|option", re.I)
GOOD_CSV = [scenario_csv(Scenario.model_validate(d)) for d in scenario_dicts()]


@st.composite
def csv_mutants(draw):
    text = draw(st.sampled_from(GOOD_CSV))
    rows = [r.split(",") for r in text.splitlines()]
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["cell", "cell", "cell", "drop_col", "dup_row", "drop_row", "truncate", "quote"]))
        r = draw(st.integers(0, len(rows) - 1))
        if op == "cell" and rows[r]:
            rows[r][draw(st.integers(0, len(rows[r]) - 1))] = draw(LINK_VALUES).replace(",", ";").replace("\n", " ")
        elif op == "drop_col" and rows[0]:
            c = draw(st.integers(0, len(rows[0]) - 1))
            rows = [row[:c] + row[c + 1 :] for row in rows]
        elif op == "dup_row":
            rows.insert(r, list(rows[r]))
        elif op == "drop_row" and len(rows) > 1:
            rows.pop(r)
        elif op == "truncate" and rows[r]:
            rows[r] = rows[r][: draw(st.integers(0, len(rows[r])))]
        elif op == "quote" and rows[r]:
            rows[r][0] = '"' + rows[r][0]
    out = "\n".join(",".join(row) for row in rows)
    return out.encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"])), errors="replace")


CSV_INPUTS = st.one_of(st.binary(max_size=2000), csv_mutants(), st.text(max_size=500).map(str.encode))


def _csv_case(data):
    try:
        sc = read_scenario_csv(data, CAT)
    except CSVError as exc:
        msg = str(exc)
        assert msg.strip() and CSV_MESSAGE.search(msg), msg
        return
    predicts_finite(sc)


def test_fuzz_scenario_csv():
    run_fuzz("scenario CSVs", CSV_INPUTS, _csv_case)


def test_csv_round_trip_still_works():
    for d in scenario_dicts():
        sc = Scenario.model_validate(d)
        assert read_scenario_csv(scenario_csv(sc).encode(), CAT) == sc


# ------------------------------------------------------------------ scenario JSON / TOML files


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v) if -(2**63) <= v < 2**63 else json.dumps(str(v))  # TOML integers are 64-bit
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, list):
        return "[" + ", ".join(x for x in map(toml_value, v) if x is not None) + "]"
    if isinstance(v, dict):
        return (
            "{"
            + ", ".join(f"{_key(str(k))} = {x}" for k, x in ((k, toml_value(x)) for k, x in v.items()) if x is not None)
            + "}"
        )
    raise TypeError(type(v))


def to_toml(doc: dict) -> str:
    return (
        "\n".join(f"{_key(str(k))} = {x}" for k, x in ((k, toml_value(v)) for k, v in doc.items()) if x is not None)
        + "\n"
    )


SCENARIO_FILES = st.one_of(
    st.tuples(st.just(".json"), mutated(scenario_dicts()).map(lambda d: json.dumps(d).encode())),
    st.tuples(st.just(".toml"), mutated(scenario_dicts()).map(lambda d: to_toml(d).encode())),
    st.tuples(st.sampled_from([".json", ".toml"]), st.binary(max_size=500)),
    st.tuples(st.just(".json"), VALUES.map(lambda v: json.dumps(v).encode())),
)


def test_toml_emitter_round_trips():
    for d in scenario_dicts():
        assert Scenario.model_validate(tomllib.loads(to_toml(d))) == Scenario.model_validate(d)


def test_fuzz_scenario_files(tmp_path):
    def case(item):
        suffix, data = item
        path = tmp_path / f"scenario{suffix}"
        path.write_bytes(data)
        try:
            sc = load_scenario(path)
        except ScenarioError as exc:
            assert exc.field and str(exc).startswith(exc.field), exc
            return
        predicts_finite(sc)

    run_fuzz("scenario JSON/TOML files", SCENARIO_FILES, case)


# ------------------------------------------------------------------ profile overlay directories

PROFILE_FILES = {
    kind: sorted((CAT.origins[(k2, pid)] for (k2, pid) in CAT.origins if k2 == kind), key=str)[:6]
    for kind in (
        "hardware",
        "models",
        "quants",
        "engines",
        "interconnects",
        "hosts",
        "systems",
        "platforms",
        "kv_dtypes",
        "calibration",
    )
}
PROFILE_DOCS = [(kind, p.name, tomllib.loads(p.read_text())) for kind, files in PROFILE_FILES.items() for p in files]


@st.composite
def overlay_files(draw):
    kind, name, _ = draw(st.sampled_from(PROFILE_DOCS))
    how = draw(st.sampled_from(["mutate", "mutate", "mutate", "bytes", "text"]))
    if how == "bytes":
        return kind, name, draw(st.binary(max_size=400))
    if how == "text":
        return kind, name, draw(st.text(max_size=300)).encode("utf-8", "surrogatepass")
    docs = [d for k, n, d in PROFILE_DOCS if k == kind]
    doc = draw(mutated(docs))
    if draw(st.booleans()) and "id" in doc and isinstance(doc.get("id"), str):
        doc["id"] = "fuzz-" + doc["id"]  # a new profile next to the built-ins (else: replaces one)
    return kind, name, to_toml(doc).encode()


def test_fuzz_profile_overlays(tmp_path):
    overlay = tmp_path / "overlay"

    def case(item):
        kind, name, data = item
        if overlay.exists():
            for p in overlay.glob("*/*"):
                p.unlink()
        (overlay / kind).mkdir(parents=True, exist_ok=True)
        path = overlay / kind / name
        path.write_bytes(data)
        try:
            cat = load_catalog(overlay)
        except CatalogError as exc:
            msg = str(exc)
            assert str(path) in msg and ("field '" in msg or "not valid TOML" in msg or "cannot read" in msg), msg
            return
        if kind == "hardware":  # accepted: predictions with it are finite numbers (or bad input, named)
            hw = [h for h, p in ((h, cat.origins[("hardware", h)]) for h in cat.hardware) if p == path]
            for h in hw:
                for model, quant, engine in (("llama-3.1-8b", "q4_k_m", "llama.cpp"), ("llama-3.1-8b", "fp8", "vllm")):
                    try:
                        finite_numbers(predict(cat, hardware=h, model=model, quant=quant, engine=engine))
                    except PlannerError as exc:
                        assert str(exc).strip()

    run_fuzz("profile overlay directories", overlay_files(), case)


# ------------------------------------------------------------------ benchmark-import files

import bench_outputs as _bench_outputs  # noqa: E402  (real tool outputs, each with its source)

from planner.webapp.benchimport import parse as _parse_bench  # noqa: E402

REAL_BENCH = [v for k, v in sorted(vars(_bench_outputs).items()) if k.isupper() and isinstance(v, str)]
BENCH_MESSAGE = re.compile(r"line \d+|bytes|characters|UTF-8|empty", re.I)


@st.composite
def bench_mutants(draw):
    """A real output of llama-bench, llama-batched-bench, mlx_lm or vllm bench serve, mutated: truncated, a
    span replaced by hostile text or numbers, lines shuffled or duplicated, or raw bytes."""
    text = draw(st.sampled_from(REAL_BENCH))
    how = draw(st.sampled_from(["truncate", "replace", "lines", "bytes", "numbers"]))
    if how == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    if how == "replace":
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 40)))
        return text[:i] + draw(st.one_of(NASTY_TEXT, st.text(max_size=40))) + text[j:]
    if how == "lines":
        lines = text.splitlines()
        return "\n".join(draw(st.lists(st.sampled_from(lines), max_size=len(lines) + 3))) if lines else text
    if how == "numbers":  # every number replaced by a hostile one
        return re.sub(
            r"\d+(\.\d+)?", lambda m: draw(st.sampled_from(["nan", "inf", "-1", "0", "1e999", "99999999999"])), text
        )
    return draw(st.binary(max_size=400))


def _bench_case(text):
    try:
        tool, rows = _parse_bench(text)
    except PlannerError as exc:
        msg = str(exc)
        assert "\n" not in msg and BENCH_MESSAGE.search(msg), msg
        return
    assert tool and rows
    for r in rows:  # what is accepted is a finite, positive measurement on a line of the file
        assert math.isfinite(r.measured) and r.measured > 0, r
        assert r.line >= 1


def test_fuzz_benchmark_import_files():
    run_fuzz("benchmark-import files", bench_mutants(), _bench_case)
