"""planner/model/typed.py's decode loop gives the generated loops' times bit for bit (planner/model/perf.py
_generated_run_loop), for every combination of terms: random terms over the ranges real deployments give, runs
that stay memory-bound, compute-bound or cross over, windows that grow or not, a first step priced by the caller
or not, a horizon or none.  Run as Python here and compiled in tests/test_compiled_engine.py's process."""

import math
import random

import pytest

from planner.model import perf, typed


def _terms(rng: random.Random, win: bool, c0: bool, d: bool, q: bool, adds: int, floor: bool) -> dict:
    n = rng.randint(1, 512)
    return {
        "n": n,
        "kf": rng.uniform(1e3, 1e6),  # KV bytes read per context token
        "af": rng.uniform(1e3, 1e7),  # attention FLOPs per context token
        "ks": rng.uniform(1e3, 1e6) if win else None,
        "aw": rng.uniform(1e3, 1e7) if win else None,
        "f0": 10 ** rng.uniform(6, 13),  # the batch's other FLOPs
        "e0": 10 ** rng.uniform(12, 15.5),  # FLOP/s
        "c0": rng.uniform(1e-6, 1e-2) if c0 else None,
        "d": rng.choice([2, 4, 8, 1.7]) if d else None,
        "q": rng.uniform(1.01, 2.5) if q else None,
        "w": 10 ** rng.uniform(8, 12),  # weight bytes
        "bw": 10 ** rng.uniform(11, 13.5),  # bytes/s
        "adds": tuple(rng.uniform(1e-6, 1e-2) for _ in range(adds)),
        "floor": rng.uniform(1e-5, 5e-2) if floor else None,
    }


def _run(rng: random.Random, n: int, win: bool) -> dict:
    k = rng.choice([1, 2, 3, rng.randint(4, 40), rng.randint(41, 400)])
    ln = rng.choice([0, rng.randint(1, n)]) if win else 0
    return {
        "k": k,
        "s0": rng.randint(n, 2_000_000),
        "h": math.inf if rng.random() < 0.5 else rng.uniform(1e-4, 5.0),
        "sw0": rng.randint(ln, ln + 4096 * n) if win else 0,
        "ln": ln,
        "t0": rng.uniform(1e-4, 5e-2) if rng.random() < 0.5 else None,
    }


def _cross(t: dict, r: dict) -> None:
    """Set t's weight bytes w so that the memory side equals the compute side at r's middle step (where that
    takes a positive w): the run changes sides there (c and m grow at different rates)."""
    n, k = t["n"], r["k"]
    s = float(r["s0"] + n * (k // 2))
    sw = float(r["sw0"] + r["ln"] * (k // 2)) if t["ks"] is not None else 0.0
    c = (t["f0"] + t["af"] * s + (t["aw"] or 0.0) * sw) / t["e0"] + (t["c0"] or 0.0)
    c = c / (t["d"] or 1) * (t["q"] or 1.0)
    w = c * t["bw"] - t["kf"] * s - (t["ks"] or 0.0) * sw
    if w > 0:
        t["w"] = w


@pytest.mark.parametrize("win", [False, True])
@pytest.mark.parametrize("c0", [False, True])
@pytest.mark.parametrize("dq", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("floor", [False, True])
def test_typed_decode_run_is_the_generated_loop(win, c0, dq, floor):
    d, q = dq
    rng = random.Random(f"{win}{c0}{d}{q}{floor}")
    for adds in range(typed.ADDS + 1):
        gen = perf._generated_run_loop(win, c0, d, q, adds, floor)
        for _ in range(25):
            t = _terms(rng, win, c0, d, q, adds, floor)
            names = ("n", "kf", "af", "ks", "aw", "f0", "e0", "c0", "d", "q", "w", "bw", "adds", "floor")
            for j in range(4):
                r = _run(rng, t["n"], win)
                if j == 3:  # a run whose sides cross over: m and c equal at its middle step (w chosen so)
                    _cross(t, r)
                ours, theirs = typed.decode_run(*[t[x] for x in names]), gen(*[t[x] for x in names])
                a = ours(r["k"], r["s0"], r["h"], r["sw0"], r["ln"], r["t0"])
                b = theirs(r["k"], r["s0"], r["h"], r["sw0"], r["ln"], r["t0"])
                assert [x.hex() for x in a] == [x.hex() for x in b], (t, r)
                assert all(type(x) is float for x in a) and 1 <= len(a) <= r["k"]


def test_the_pricer_uses_the_typed_loop_only_compiled():
    """DecodePricer.runner's loop: the typed one where its module runs compiled, else the generated one."""
    fn = perf._run_loop(True, True, False, False, 2, False)
    assert (fn is typed.decode_run) == typed.COMPILED
    assert perf._run_loop(False, False, False, False, typed.ADDS + 1, False) is not typed.decode_run
