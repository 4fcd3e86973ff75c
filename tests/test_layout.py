"""The package's shape: no import cycles, no imports inside functions (except optional or heavy
dependencies, each named here), and the mypy baseline only shrinks (README "Code quality")."""

import ast
from collections import Counter
from pathlib import Path

import grimp

from scripts import mypy_baseline, restructure

PLANNER = Path(__file__).resolve().parent.parent / "planner"

# (top-level module imported inside a function, why); anything else is imported at module level
LAZY_ALLOWED = {
    "distributed": "optional: Dask executors (extra `cluster`)",
    "ray": "optional: Ray executors (extra `cluster`)",
    "aiconfigurator_core": "optional: NVIDIA's measured kernels (extra `nvidia-data`)",
    "packaging": "only with the optional NVIDIA tables",
    "pandas": "heavy import, only for the optional NVIDIA tables",
    "pyarrow": "only for the optional NVIDIA tables (aiconfigurator-core depends on it)",
    "scipy": "heavy import, only `calibrate` fits",
}


def function_level_imports() -> list[tuple[str, int, str]]:
    out = []
    for path in sorted(PLANNER.rglob("*.py")):
        if "profiles" in path.parts:
            continue

        where = str(path.relative_to(PLANNER.parent))

        def walk(node, inside, where=where):
            for ch in ast.iter_child_nodes(node):
                fn = inside or isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                if inside and isinstance(ch, (ast.Import, ast.ImportFrom)):
                    mods = [a.name for a in ch.names] if isinstance(ch, ast.Import) else [ch.module or "."]
                    for m in mods:
                        top = m.split(".")[0] if not getattr(ch, "level", 0) else "planner"
                        out.append((where, ch.lineno, top))
                walk(ch, fn, where)

        walk(ast.parse(path.read_text()), False)
    return out


def test_no_imports_inside_functions_but_the_optional_and_heavy_ones():
    bad = [(f, line, m) for f, line, m in function_level_imports() if m not in LAZY_ALLOWED]
    assert not bad, f"import at module level instead: {bad}"


def test_no_import_cycles_between_planner_modules():
    g = grimp.build_graph("planner")
    cycles = []
    for m in sorted(g.modules):
        for imported in g.find_modules_directly_imported_by(m):
            if g.chain_exists(importer=imported, imported=m):
                cycles.append((m, imported))
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_mypy_baseline_counts_new_errors_not_moved_lines():
    out = (
        "planner/a.py:10: error: Incompatible types in assignment  [assignment]\n"
        "planner/a.py:99: error: Incompatible types in assignment  [assignment]\n"
        'planner/b.py:3:5: error: Name "x" is not defined  [name-defined]\n'
    )
    keys = mypy_baseline.parse(out)
    assert keys == Counter(
        {
            "planner/a.py: [assignment] Incompatible types in assignment": 2,
            'planner/b.py: [name-defined] Name "x" is not defined': 1,
        }
    )
    moved = mypy_baseline.parse(out.replace(":10:", ":12:"))  # an edit above the error moves its line
    assert mypy_baseline.new_errors(moved, keys) == []
    more = keys + Counter({"planner/a.py: [assignment] Incompatible types in assignment": 1})
    assert mypy_baseline.new_errors(more, keys) == [
        "planner/a.py: [assignment] Incompatible types in assignment (now 3, baseline 2)"
    ]


def test_mypy_baseline_file_parses():
    base = mypy_baseline.read_baseline()
    assert base and all(k.startswith("planner/") and n > 0 for k, n in base.items())


def test_readme_layout_and_contract_match_the_tree():
    """README's layout section and .importlinter are what scripts/restructure.py writes from the tree."""
    layered = (PLANNER / "sim" / "engine.py").exists()
    readme = (PLANNER.parent / "README.md").read_text()
    a, b = readme.index(restructure.LAYOUT_START), readme.index(restructure.LAYOUT_END)
    assert readme[a : b + len(restructure.LAYOUT_END)] == restructure.layout_section(layered), (
        "run `python scripts/restructure.py --contract-only` (flat tree) to rewrite the layout section"
    )
    assert (PLANNER.parent / ".importlinter").read_text() == restructure.contract(layered)
    listed = {m for _, _, mods in restructure.LAYERS for m in mods} | set(restructure.BASE) | {"__init__", "__main__"}
    top = {p.stem for p in PLANNER.glob("*.py")}
    if layered:
        assert top <= set(restructure.BASE) | {"__init__", "__main__"}, "a flat module left: add it to LAYERS"
    else:
        assert top <= listed, "a module missing from restructure.LAYERS"
