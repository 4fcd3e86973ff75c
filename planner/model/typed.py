"""The decode run's loop (planner.model.perf DecodePricer.run) in a form a compiler types: plain Python whose
float locals Cython makes C doubles (setup.py compiles this module; planner/__init__.py loads the compiled module
only where it was built from this source).  perf uses it only compiled (COMPILED): as Python its own generated
loops are faster.  The same IEEE operations in the same order as those loops: the same bits (the golden summaries
and tests/test_compiled_engine.py)."""

from __future__ import annotations

from itertools import repeat

COMPILED = not __file__.endswith(".py")
ADDS = 6  # additions decode_run holds (more: perf's generated loop)


def decode_run(n, kf, af, ks, aw, f0, e0, c0, d, q, w, bw, adds, floor):
    """planner.model.perf._run_loop's make for any terms in one loop: compiled, every float local below is a C
    double (Cython types what float() gives), so the loop runs without a Python object per operation.  The
    generated loop's operations in its order, its absent terms as neutral ones (0.0 added, a division by
    1.0, a product with 1.0, a floor of -inf: no bit of a positive time changes, as perf._run_loop says): step s's
    time is max(c, m) plus each addition in turn (at least the floor), c = ((f0 + af s [+ aw sw]) / e0 [+ c0])
    [/ d] [* q] and m = (w + kf s [+ ks sw]) / bw.  The generated loop's shortcut where one side exceeds the
    other throughout computes that side, which is max(c, m) there: the same values.  As Python the generated
    loops are faster; tests/test_typed.py compares the two (compiled in tests/test_compiled_engine.py's process)."""
    win = ks is not None
    nf = float(n)
    kf_, af_, f0_, e0_, w_, bw_ = float(kf), float(af), float(f0), float(e0), float(w), float(bw)
    ks_ = float(ks) if win else 0.0
    aw_ = float(aw) if win else 0.0
    c0_ = float(c0) if c0 is not None else 0.0
    d_ = float(d) if d is not None else 1.0  # (an int d: a float divided by it converts it so)
    q_ = float(q) if q is not None else 1.0
    fl = float(floor) if floor is not None else float("-inf")  # (float(): a C double; -math.inf would be an object)
    x = (*adds, *(0.0,) * (ADDS - len(adds)))  # (each float() below: a C double, compiled)
    a0, a1, a2, a3, a4, a5 = float(x[0]), float(x[1]), float(x[2]), float(x[3]), float(x[4]), float(x[5])

    def loop(k, s0, h, sw0, ln, t0):
        out: list[float] = []
        append = out.append
        hf = float(h)
        s = float(s0 - n)
        sw = float(sw0 - ln) if win else 0.0
        lnf = float(ln) if win else 0.0
        acc = 0.0
        if t0 is not None:  # the first step, priced by the caller
            acc = float(t0)
            append(acc)
            if acc >= hf or k <= 1:
                return out
            k -= 1
            s += nf
            sw += lnf
        for _ in repeat(None, k):
            s += nf
            sw += lnf  # (ln = 0: sw stays as it is, the generated loop's constant)
            c = (((f0_ + (af_ * s + aw_ * sw)) / e0_ + c0_) / d_) * q_
            m = (w_ + (kf_ * s + ks_ * sw)) / bw_
            t = (c if c > m else m) + a0 + a1 + a2 + a3 + a4 + a5
            if t < fl:
                t = fl
            acc = acc + t
            append(acc)
            if acc >= hf:
                break
        return out

    return loop
