"""The answer first: one sentence saying which machine options meet the target at this load, which fail and
why, and the cheapest that meets it; plus the reading helpers the pages share (a duration in the unit that
reads best, a team's load in words, "tight" memory fits).

One home for these rules: the Compare page, the Load sweep and the Capacity plan import them.

- **meets the target**: the option fits, was simulated and its simulated requests meet the SLO in the one
  meaning simulate and the plan use (`planner.econ.slo`: each p95 within its limit on all requests and on the
  later half by arrival, nothing rejected).  Without an SLO an option that fits and keeps up (nothing
  rejected) meets it.
- **why an option fails**, the first that applies: an error; does not fit; prefill too slow (one request
  alone already misses the first-token target); decode too slow (one stream alone misses the per-token
  target); rejected requests; queueing (alone it would meet the target, at this load requests wait).
- **tight**: fits with less than `TIGHT_MARGIN` (5%) of its usable memory left, or with room for fewer
  concurrent sequences than the load asks; says what to change.
"""

from __future__ import annotations

import math

from planner.econ.slo import LATER_HALF, SLOCheck, check_columns
from planner.plan.report import REASONS, excluded_groups

TIGHT_MARGIN = 0.05


def fmt_duration(seconds: float | None) -> str:
    """A duration in the unit that reads best: '850 ms', '2.3 s', '15 min', '2.1 h', '3.0 days'."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    s = abs(seconds)
    if s < 1:
        return f"{seconds * 1e3:.3g} ms" if s < 0.01 else f"{seconds * 1e3:.0f} ms"
    if s < 60:
        return f"{seconds:.2g} s" if s < 10 else f"{seconds:.0f} s"
    if s < 3600:
        return f"{seconds / 60:.1f} min" if s < 600 else f"{seconds / 60:.0f} min"
    if s < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def team_load_text(people: int, every_min: float) -> str:
    """How a team's load maps to the simulation, in words (the page shows it)."""
    rate = people / (every_min * 60.0)
    return (
        f"{people} people, each sending a request every {every_min:g} min at busy times: at most "
        f"{rate:.3g} requests/s ({rate * 60:.3g} per minute). Simulated as a closed loop: each person "
        f"waits for the answer, then thinks for {every_min:g} min on average (exponential) before the next "
        "request, so a slow machine also slows the requests down, as a real team would."
    )


def load_text(wl) -> str:
    """The scenario's load in words, for the verdict sentence."""
    if wl.arrival == "closed":
        n = wl.concurrency or 1
        if wl.think_time_s:
            return f"{n} {'people' if n != 1 else 'person'} each sending a request every {wl.think_time_s / 60:g} min"
        return f"{n} busy user{'s' if n != 1 else ''} (no think time)"
    if wl.rate_rps:
        return f"{wl.rate_rps:g} requests/s ({wl.arrival})"
    return f"the scenario's {wl.arrival} load"


def _slo_text(slo) -> str:
    parts = []
    if slo.ttft_p95_s:
        parts.append(f"first token within {fmt_duration(slo.ttft_p95_s)}")
    if slo.tpot_p95_ms:
        parts.append(f"{fmt_duration(slo.tpot_p95_ms / 1e3)} per output token")
    if slo.e2e_p95_s:
        parts.append(f"whole answer within {fmt_duration(slo.e2e_p95_s)}")
    return " and ".join(parts)


def memory_margin(o: dict) -> float | None:
    """Share of usable memory left free by the option (None when unknown)."""
    mem = o.get("memory") or {}
    total, usable = mem.get("total"), mem.get("usable")
    if not total or not usable:
        return None
    return (usable - total) / usable


def tight(o: dict, concurrency: int | None = None) -> str | None:
    """'tight: ...' with what to change, for a fit with little room; None otherwise."""
    if o.get("error") or not o.get("fits"):
        return None
    m = memory_margin(o)
    if m is not None and m < TIGHT_MARGIN:
        mem, g = o["memory"], 1e9 / 2**30  # GiB: the unit memory is sold in ("96 GB" card = 96 GiB)
        return (
            f"tight: {(mem['usable'] - mem['total']) * g:.1f} of {mem['usable'] * g:.1f} GiB usable memory left "
            f"({m:.1%}); use a smaller quantization, a shorter context, or more memory or devices"
        )
    seqs = o.get("max_concurrent_sequences")
    if concurrency and seqs is not None and seqs < concurrency:
        return (
            f"tight: room for {seqs} concurrent sequences, fewer than the {concurrency} the load asks; use a "
            "smaller quantization or KV cache, shorter requests, or more memory or devices"
        )
    return None


def slo_check(o: dict, slo) -> SLOCheck | None:
    """The option's simulated requests judged against `slo` (`econ.slo.check_slo`: the meaning simulate and the
    plan use); None when it was not simulated."""
    cols = o.get("requests")
    return check_columns(slo, cols) if cols else None


def _missed(chk: SLOCheck) -> str:
    """The first limit the run missed, in words: 'p95 first token 12 s, above 10 s' (missed on the later half of
    the requests by arrival only: 'later requests: p95 ...')."""
    for k in chk.failed:
        late = k.startswith(LATER_HALF)
        key = k.removeprefix(LATER_HALF)
        if key not in LIMIT_WORDS:
            continue
        what, scale = LIMIT_WORDS[key]
        fig = (chk.later_half if late else chk.figures)[key]
        lim = chk.limits[key]
        return (
            "later requests: " if late else ""
        ) + f"{key.split('_')[1]} {what} {fmt_duration(fig * scale)}, above {fmt_duration(lim * scale)}"
    return "goodput below its minimum" if "goodput_min" in chk.failed else ""


# a percentile limit in words: (what, factor to seconds)
LIMIT_WORDS = {
    "ttft_p95_s": ("first token", 1.0),
    "ttft_p99_s": ("first token", 1.0),
    "tpot_p95_ms": ("per output token", 1e-3),
    "tpot_p99_ms": ("per output token", 1e-3),
    "e2e_p95_s": ("whole answer", 1.0),
    "e2e_p99_s": ("whole answer", 1.0),
}


def classify(o: dict, slo) -> tuple[bool, str]:
    """(meets the target, why not / how well) for one evaluated option (compare.evaluate_option): it meets the
    target exactly when its simulated requests meet the SLO (`econ.slo.check_slo`)."""
    if o.get("error"):
        return False, "error"
    if not o.get("fits"):
        return False, "does not fit"
    chk = slo_check(o, slo)
    if chk is None:
        return False, "not simulated"
    has_slo = bool(chk.limits)
    if chk.met:
        return True, f"each p95 on target ({chk.goodput:.0%} of requests within every limit)" if has_slo else "keeps up"
    if slo.ttft_p95_s and o.get("ttft_s") is not None and o["ttft_s"] > slo.ttft_p95_s:
        return False, f"prefill too slow (one request alone waits {fmt_duration(o['ttft_s'])} for its first token)"
    if slo.tpot_p95_ms and o.get("tpot_s") is not None and o["tpot_s"] * 1e3 > slo.tpot_p95_ms:
        return False, f"decode too slow ({fmt_duration(o['tpot_s'])} per token for one stream alone)"
    if chk.rejected:
        return False, f"rejects {chk.rejected:,} of {len(chk.good):,} requests"
    return False, f"queueing ({_missed(chk)}; {chk.goodput:.0%} of requests within every limit)"


def verdict(results: list[dict], slo, load_text: str, concurrency: int | None = None) -> dict:
    """The page's answer: {"sentence", "meets": [labels], "fails": [(label, why)], "cheapest", "tight":
    [(label, text)], "ok": bool}.  `results` are compare.evaluate_option outputs (with costs)."""
    meets, fails, tights = [], [], []
    for o in results:
        ok, why = classify(o, slo)
        name = _name(o)
        (meets.append((name, o)) if ok else fails.append((name, why)))
        t = tight(o, concurrency)
        if t:
            tights.append((name, t))
    target = _slo_text(slo)
    head = f"At {load_text}" + (f", target {target}" if target else ", no latency target set") + ": "
    if meets:
        names = ", ".join(n for n, _ in meets)
        head += (
            f"{len(meets)} of {len(results)} option{'s' if len(results) != 1 else ''} meet"
            f"{'s' if len(meets) == 1 else ''} it ({names})"
        )
    else:
        head += f"none of the {len(results)} options meets it"
    if fails:
        head += "; " + "; ".join(f"{n} fails: {why}" for n, why in fails)
    cheapest = None
    priced = [
        (o.get("usd_per_mtok"), n, o)
        for n, o in meets
        if o.get("usd_per_mtok") is not None and o.get("price_usd") is not None
    ]
    if priced:
        _, cheapest, o = min(priced, key=lambda t: (t[0], t[1]))
        head += (
            f". Cheapest that meets it: {cheapest}, ${o['price_usd']:,.0f} to buy, "
            f"${o['usd_per_mtok']:,.2f} per million output tokens"
        )
    elif meets:
        head += ". None of those has a price: enter a quote to rank them"
    return {
        "sentence": head + ".",
        "meets": [n for n, _ in meets],
        "fails": fails,
        "cheapest": cheapest,
        "tight": tights,
        "ok": bool(meets),
    }


def _name(o: dict) -> str:
    """An option's label without its number ('1: 2x RTX 5090 · vLLM · FP8' -> '2x RTX 5090 · vLLM · FP8')."""
    lab = o.get("label") or f"option {o.get('option')}"
    head, sep, rest = lab.partition(": ")
    return rest if sep and head.isdigit() else lab


def plan_sentence(result: dict, rows: list[dict], load_text: str) -> str:
    """The Capacity plan's answer in one sentence: how many candidates meet the SLO at this load, the
    cheapest (the winner) and why the others were excluded, by reason."""
    n = len(rows)
    if not rows:
        return f"At {load_text}, no candidate meets the target."
    win = rows[0]
    reps = f"{win['replicas']} x " if win["replicas"] > 1 else ""
    names = ", ".join(r["candidate"] for r in rows[:3]) + (", ..." if n > 3 else "")
    out = (
        f"At {load_text}, {n} configuration{'s' if n != 1 else ''} meet{'s' if n == 1 else ''} the target "
        f"({names}). Cheapest: {reps}{win['candidate']}, ${win['capex_usd']:,.0f} to buy, "
        f"${win['usd_per_m_output_tokens']:,.2f} per million output tokens"
    )
    groups = excluded_groups(result)
    if groups:
        out += "; excluded: " + ", ".join(f"{len(g['rows'])} {REASONS.get(g['code'], g['code'])}" for g in groups)
    return out + "."
