"""Replayable codemod: the flat ``planner/`` package becomes layered sub-packages.

    python scripts/restructure.py            # move the modules (git mv), rewrite every reference, write the
                                             # import-linter contract and the README's layout section
    python scripts/restructure.py --dry-run  # print what it would move, change nothing
    python scripts/restructure.py --contract-only   # (flat tree) write .importlinter for the flat modules and
                                             # the README layout section, move nothing

Pure moves, no splitting: each flat module keeps its code and goes to one place (``MOVES``).  Every reference
is then rewritten by module name, not from a list of files, so a tree with files or imports that other
branches added is handled the same way:

* relative imports in ``planner/`` (``from .sim import x``, ``from . import econ``) become absolute imports of
  the new modules;
* ``from planner import compare as cmp`` becomes ``from planner.webapp import compare as cmp``;
* any dotted name ``planner.X[.attr]`` in code, strings and docs (``import planner.sim``, ``mock.patch(
  "planner.sim.simulate_scenario")``, ``monkeypatch.setattr("planner.compare.x", ...)``, ``python -m
  planner.x``) and any path ``planner/X.py`` (README, pyproject's per-file ignores, mypy-baseline.txt)
  is mapped to the new module;

in ``planner/``, ``tests/``, ``app_pages/``, ``app.py``, ``scripts/``, ``README.md``, ``pyproject.toml``,
``Makefile``, ``.ci/`` and ``mypy-baseline.txt``.

Idempotent: a module already moved is not moved again, and a name that already points into a new package
(``planner.sim.engine``) is left alone, so running it twice, or after merging a branch that still says
``from planner.sim import simulate_scenario``, converges on the same tree.  A flat module that it does not
know (added by another branch) stays in ``planner/`` and is reported; add it to ``MOVES`` and run again.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = "planner"

# The layers, highest first: a layer may import the layers below it, never above.  Each entry: package
# (under planner/), its one-line description, and the flat modules it receives (old name -> new name).
LAYERS: list[tuple[str, str, dict[str, str]]] = [
    (
        "cli",
        "the command line: one module per command and the shared arguments",
        {
            "cli": "commands",
            "cli_args": "args",
            "cli_sim": "sim",
            "cli_plan": "plan",
            "cli_link": "link",
            "cli_bench": "bench",
        },
    ),
    (
        "webapp",
        "the Streamlit-free side of the app pages: defaults and presets, options (compare), the load sweep, "
        "share links, CSV, the budget clamps, verdicts, claims, your own measurements",
        {
            "defaults": "defaults",
            "compare": "compare",
            "sweep": "sweep",
            "links": "links",
            "plan_inputs": "plan_inputs",
            "csvio": "csvio",
            "clamps": "clamps",
            "verdict": "verdict",
            "claims": "claims",
            "benchimport": "benchimport",
        },
    ),
    (
        "validate",
        "the model and simulator against the calibration set's measurements",
        {"serve_validation": "serve", "kernel_validation": "kernels"},
    ),
    (
        "plan",
        "capacity planning: candidates, screening, the replica search, the report",
        {"plan": "search", "plan_report": "report"},
    ),
    (
        "sim",
        "serving simulation: the Scenario schema, workloads, the engines and runner, compute budgets, "
        "executors, the speed suite",
        {
            "scenario": "scenario",
            "workload": "workload",
            "sim": "engine",
            "budget": "budget",
            "sweep": "executors",
            "simbench": "bench",
        },
    ),
    (
        "econ",
        "the one cost model (power, TCO, $ per million tokens) and the SLO's one meaning",
        {"econ": "costs", "slo": "slo"},
    ),
    (
        "model",
        "single-run model: architecture arithmetic, memory and step time, calibration, priors, bands, "
        "step-time providers, predict",
        {
            "arch": "arch",
            "deployment": "deployment",
            "memory": "memory",
            "perf": "perf",
            "predict": "predict",
            "calibration": "calibration",
            "priors": "priors",
            "bands": "bands",
            "kernels": "kernels",
            "kernel_tables": "kernel_tables",
        },
    ),
    (
        "catalog",
        "sourced data: profile schema and loader, the engine support matrix",
        {"catalog": "loader", "support": "support"},
    ),
]
# Independent siblings within one contract layer (neither imports the other).
SIBLINGS = [("webapp", "validate")]
BASE = ["errors", "paths", "glossary"]  # stay at planner/ top: imported by every layer
TOP = ["__main__"]

# Symbols renamed so that each name means one thing ("sweep" is the Load sweep; the executors run points)
RENAMES = {"run_sweep": "run_points", "SweepError": "ExecutorError"}
# Test files renamed with their module
TEST_MOVES = {"tests/test_sweep.py": "tests/test_executors.py"}

MOVES: dict[str, str] = {old: f"{pkg}.{new}" for pkg, _, mods in LAYERS for old, new in mods.items()}
PACKAGES = {pkg: doc for pkg, doc, _ in LAYERS}
SUBMODULES = {pkg: set(mods.values()) for pkg, _, mods in LAYERS}

TEXT_FILES = ["README.md", "pyproject.toml", "Makefile", "mypy-baseline.txt", ".ci/run"]
CODE_DIRS = ["planner", "tests", "app_pages", "scripts"]
CODE_FILES = ["app.py"]
SELF = Path(__file__).resolve()

DOTTED = re.compile(r"(?<![\w.])planner\.([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)?)")
SLASHED = re.compile(r"(?<![\w/.])planner/([A-Za-z_]\w*)\.py\b")
LAYOUT_START, LAYOUT_END = "<!-- layout:start (scripts/restructure.py) -->", "<!-- layout:end -->"


def git(*args: str, check: bool = True) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=check, capture_output=True, text=True).stdout


# ------------------------------------------------------------------------------------------- name mapping


def map_module(dotted: str) -> str:
    """'planner.sim' -> 'planner.sim.engine', 'planner.sim.engine' -> itself, 'planner.errors' -> itself."""
    parts = dotted.split(".")
    if len(parts) < 2 or parts[0] != PKG or parts[1] not in MOVES:
        return dotted
    old = parts[1]
    if old in SUBMODULES and len(parts) > 2 and parts[2] in SUBMODULES[old]:
        return dotted  # already points into the new package
    return ".".join([PKG, *MOVES[old].split("."), *parts[2:]])


IMPORTED = re.compile(r"\s+import\s+\(?\s*(\w+)")


def _dotted_sub(m: re.Match) -> str:
    head, rest = m.group(1), m.group(2)
    if head not in MOVES:
        return m.group(0)
    if head in SUBMODULES:
        if rest and rest[1:] in SUBMODULES[head]:
            return m.group(0)  # planner.sim.engine: already new
        after = IMPORTED.match(m.string, m.end())
        if not rest and after and after.group(1) in SUBMODULES[head]:
            return m.group(0)  # from planner.sim import engine: already new
    return f"{PKG}.{MOVES[head]}{rest}"


def _slashed_sub(m: re.Match) -> str:
    head = m.group(1)
    return f"{PKG}/{MOVES[head].replace('.', '/')}.py" if head in MOVES else m.group(0)


RENAMED = re.compile(r"\b(" + "|".join(map(re.escape, RENAMES)) + r")\b")


def rewrite_text(text: str) -> str:
    text = RENAMED.sub(lambda m: RENAMES[m.group(1)], text)
    return SLASHED.sub(_slashed_sub, DOTTED.sub(_dotted_sub, text))


def collisions() -> list[str]:
    """A new package named like the old module must not have a sub-module named like one of the old
    module's top-level names (`from planner.cli import main` would then be ambiguous)."""
    out = []
    for pkg, subs in SUBMODULES.items():
        path = ROOT / PKG / f"{pkg}.py"
        if pkg not in MOVES or not path.exists():
            continue
        names = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names |= {x.id for t in targets for x in ast.walk(t) if isinstance(x, ast.Name)}
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names |= {a.asname or a.name.split(".")[0] for a in node.names}
        out += [
            f"planner/{pkg}.py defines '{n}', also the name of the sub-module planner.{pkg}.{n}"
            for n in sorted(subs & names)
        ]
    return out


# ------------------------------------------------------------------------------------------- import statements


def _module_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve_relative(level: int, module: str | None, origin: str, is_pkg: bool) -> str:
    base = origin.split(".") if is_pkg else origin.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + ([module] if module else []))


def _import_lines(node: ast.ImportFrom, target: str, indent: str) -> list[str]:
    """`from target import names` (names mapped when target is the planner package itself)."""
    out: list[str] = []
    plain: list[str] = []
    for a in node.names:
        full = f"{target}.{a.name}"
        mapped = map_module(full)
        if target == PKG and mapped != full:
            pkg, _, mod = mapped.rpartition(".")
            alias = a.asname or a.name
            out.append(f"{indent}from {pkg} import {mod}" + (f" as {alias}" if alias != mod else ""))
        else:
            plain.append(a.name + (f" as {a.asname}" if a.asname else ""))
    if plain:
        out.insert(0, f"{indent}from {target} import {', '.join(plain)}")
    return out


def rewrite_imports(src: str, origin: str, is_pkg: bool) -> str:
    """Rewrite relative imports (resolved against the module's original name `origin`) and `from planner
    import x` statements; every other reference is left to the dotted-name pass."""
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return src
    lines = src.splitlines(keepends=True)
    edits: list[tuple[int, int, list[str]]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 0 and node.module != PKG:
            continue
        target = _resolve_relative(node.level, node.module, origin, is_pkg) if node.level else PKG
        first = lines[node.lineno - 1]
        indent = first[: len(first) - len(first.lstrip())]
        comment = ""
        last = lines[node.end_lineno - 1].rstrip("\n")
        if "#" in last and node.lineno == node.end_lineno:
            comment = "  " + last[last.index("#") :]
        if target == PKG or node.module is None:
            new = _import_lines(node, map_module(target), indent)
        else:
            new_target = map_module(target)
            body = src_segment(lines, node)
            head = re.match(r"from\s+\.*[\w.]*\s+import\s+", body.lstrip())
            if not head:
                continue
            new = [indent + f"from {new_target} import " + body.lstrip()[head.end() :].rstrip("\n")]
            comment = ""
        if comment and new:
            new[-1] += comment
        edits.append((node.lineno, node.end_lineno, new))
    for start, end, new in sorted(edits, reverse=True):
        lines[start - 1 : end] = [ln + "\n" for ln in new]
    return "".join(lines)


def src_segment(lines: list[str], node: ast.AST) -> str:
    return "".join(lines[node.lineno - 1 : node.end_lineno])


# ------------------------------------------------------------------------------------------- the steps


def pending_moves() -> dict[Path, Path]:
    out = {}
    for old, new in MOVES.items():
        src = ROOT / PKG / f"{old}.py"
        dst = ROOT / PKG / (new.replace(".", "/") + ".py")
        if src.exists() and not dst.exists():
            out[src] = dst
    return out


def move_files(moves: dict[Path, Path], dry: bool) -> dict[Path, str]:
    """git mv each module; returns {new path: original dotted module name}."""
    origins: dict[Path, str] = {}
    for pkg, doc in PACKAGES.items():
        init = ROOT / PKG / pkg / "__init__.py"
        if not init.exists() and not dry:
            init.parent.mkdir(exist_ok=True)
            init.write_text(f'"""{doc[0].upper() + doc[1:]}."""\n')
            git("add", str(init.relative_to(ROOT)))
    for src, dst in moves.items():
        print(f"  git mv {src.relative_to(ROOT)} {dst.relative_to(ROOT)}")
        if not dry:
            git("mv", str(src.relative_to(ROOT)), str(dst.relative_to(ROOT)))
        origins[dst] = f"{PKG}.{src.stem}"
    for old, new in TEST_MOVES.items():
        if (ROOT / old).exists() and not (ROOT / new).exists():
            print(f"  git mv {old} {new}")
            if not dry:
                git("mv", old, new)
    return origins


def code_files() -> list[Path]:
    files = [ROOT / f for f in CODE_FILES if (ROOT / f).exists()]
    for d in CODE_DIRS:
        if (ROOT / d).exists():
            files += [p for p in (ROOT / d).rglob("*.py") if "profiles" not in p.parts]
    return sorted(p for p in files if p.resolve() != SELF)


def rewrite_all(origins: dict[Path, str], dry: bool) -> list[Path]:
    changed = []
    for path in code_files():
        src = path.read_text()
        is_pkg = path.name == "__init__.py"
        origin = origins.get(path, _module_of(path))
        # dotted names first (`from planner.sim import x` -> planner.sim.engine), then the import statements
        # that name the planner package itself or are relative (their output is already final)
        new = rewrite_imports(rewrite_text(src), origin, is_pkg)
        if new != src:
            changed.append(path)
            if not dry:
                path.write_text(new)
    for name in TEXT_FILES:
        path = ROOT / name
        if not path.exists():
            continue
        src = path.read_text()
        new = rewrite_text(src)
        if new != src:
            changed.append(path)
            if not dry:
                path.write_text(new)
    return changed


def unplaced() -> list[str]:
    known = set(BASE) | set(TOP) | {"__init__"}
    return sorted(p.stem for p in (ROOT / PKG).glob("*.py") if p.stem not in known and p.stem not in MOVES)


# ------------------------------------------------------------------------------------------- contract and docs


def contract(layered: bool) -> str:
    """The import-linter configuration: layers, highest first (flat tree: the same layers as module lists)."""

    def name(pkg: str) -> str:
        if layered:
            return f"{PKG}.{pkg}"
        return " : ".join(f"{PKG}.{m}" for m in PACKAGES_FLAT[pkg] if (ROOT / PKG / f"{m}.py").exists())

    PACKAGES_FLAT = {pkg: list(mods) for pkg, _, mods in LAYERS}
    rows, done = [], set()
    for pkg, _, _ in LAYERS:
        if pkg in done:
            continue
        group = next((g for g in SIBLINGS if pkg in g), (pkg,))
        done.update(group)
        names = [name(p) for p in group if name(p)]
        if not layered and len(names) > 1:
            rows.append(" : ".join(names))  # flat: a layer cannot mix ':' and '|'
        else:
            rows.append(" | ".join(names))
    base = " : ".join(f"{PKG}.{m}" for m in BASE)
    layers = "\n    ".join([f"{PKG}.__main__", *rows, base])
    return (
        "# The layers of planner/, highest first: imports point down only (make lint: lint-imports).\n"
        "# Written by scripts/restructure.py" + (" --contract-only (flat layout)" if not layered else "") + ".\n"
        "[importlinter]\n"
        f"root_package = {PKG}\n"
        "include_external_packages = False\n\n"
        "[importlinter:contract:layers]\n"
        "name = planner layers (cli > webapp | validate > plan > sim > econ > model > catalog > base)\n"
        "type = layers\n"
        f"layers =\n    {layers}\n"
    )


def _doc_line(path: Path) -> str:
    try:
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    except SyntaxError:
        return ""
    first = " ".join(doc.strip().split("\n\n")[0].split())
    return first.split(". ")[0].rstrip(".")


def layout_section(layered: bool) -> str:
    lines = [
        LAYOUT_START,
        "",
        "`planner/` (the engine, no Streamlit import) in layers, highest first; a layer imports only the "
        "layers below it (`.importlinter`, checked by `make lint`):",
        "",
    ]
    for pkg, doc, mods in LAYERS:
        if layered:
            entries = [(f"{pkg}/{new}.py", ROOT / PKG / pkg / f"{new}.py") for new in mods.values()]
            lines.append(f"- `planner/{pkg}/`: {doc}.")
        else:
            entries = [(f"{old}.py", ROOT / PKG / f"{old}.py") for old in mods]
            lines.append(f"- {doc[0].upper() + doc[1:]}:")
        for label, path in entries:
            if path.exists():
                lines.append(f"  - `{label}`: {_doc_line(path)}.")
    lines.append("- At the top of `planner/`, imported by every layer:")
    for m in BASE:
        lines.append(f"  - `{m}.py`: {_doc_line(ROOT / PKG / f'{m}.py')}.")
    lines += ["", LAYOUT_END]
    return "\n".join(lines)


def write_docs(layered: bool, dry: bool) -> None:
    ini = ROOT / ".importlinter"
    readme = ROOT / "README.md"
    text = readme.read_text()
    if LAYOUT_START in text and LAYOUT_END in text:
        a, b = text.index(LAYOUT_START), text.index(LAYOUT_END) + len(LAYOUT_END)
        text = text[:a] + layout_section(layered) + text[b:]
    else:
        print("  README.md has no layout markers: layout section not written", file=sys.stderr)
    if not dry:
        ini.write_text(contract(layered))
        readme.write_text(text)
        git("add", ".importlinter", "README.md")


def sort_imports() -> None:
    """The rewritten import blocks sorted by ruff (isort rules, `I`), which `make lint` then enforces."""
    pyproject = ROOT / "pyproject.toml"
    text = pyproject.read_text()
    sel = 'select = ["E", "W", "F", "B", "C90", "PLR0124"]'
    if sel in text:
        pyproject.write_text(text.replace(sel, 'select = ["E", "W", "F", "B", "C90", "PLR0124", "I"]'))
    targets = [d for d in CODE_DIRS + CODE_FILES if (ROOT / d).exists()]
    res = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "I", "--fix", "--quiet", *targets],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if res.returncode not in (0, 1):
        print(f"  ruff could not sort the imports: {res.stderr.strip()}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--contract-only", action="store_true", help="flat tree: write .importlinter and README only")
    args = ap.parse_args(argv)
    if args.contract_only:
        write_docs(layered=False, dry=args.dry_run)
        print("wrote .importlinter (flat layers) and README layout section")
        return 0
    clash = collisions()
    if clash:
        print("rename these sub-modules in LAYERS first:\n  " + "\n  ".join(clash), file=sys.stderr)
        return 2
    moves = pending_moves()
    print(f"{len(moves)} module(s) to move")
    origins = move_files(moves, args.dry_run)
    changed = rewrite_all(origins, args.dry_run)
    print(f"{len(changed)} file(s) rewritten")
    write_docs(layered=True, dry=args.dry_run)
    left = unplaced()
    if left:
        print(
            "not placed (add them to LAYERS and run again): " + ", ".join(f"planner/{m}.py" for m in left),
            file=sys.stderr,
        )
        return 1
    if not args.dry_run:
        sort_imports()
        git(
            "add",
            "-A",
            PKG,
            "tests",
            "app_pages",
            "scripts",
            *[f for f in CODE_FILES + TEXT_FILES if (ROOT / f).exists()],
        )
    print("done: now run the tests, `lint-imports` and `python scripts/mypy_baseline.py`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
