"""Serving simulation: the Scenario schema, workloads, the engines and runner, compute budgets, executors, the speed suite."""

from __future__ import annotations

from planner import compiled_modules


def engine_build() -> dict:
    """Which simulator runs: {"compiled": bool (every module setup.py compiles runs compiled), "file": the
    engine's path, "note": why a source runs (or ""), "modules": planner.compiled_modules()}."""
    mods = compiled_modules()
    engine = mods["planner.sim.engine"]
    notes = [m["note"] for m in mods.values() if m["note"]]
    return {
        "compiled": all(m["compiled"] for m in mods.values()),
        "file": engine["file"],
        "note": "; ".join(dict.fromkeys(notes)),
        "modules": mods,
    }
