"""The one cost model (planner.econ.costs): Compare and the Capacity plan give the same $ per million output tokens
for the same machine, stack and load; capex includes hosts and cluster extras the catalog prices."""

import pytest

from planner.econ import costs as econ
from planner.plan.search import plan
from planner.sim.scenario import parse_scenario
from planner.webapp.compare import evaluate_option, option_costs


@pytest.mark.parametrize(
    "cand,rate",
    [
        ({"hardware": "nvidia-l40s", "quant": "fp8", "engine": "vllm", "devices": 1}, 3.0),
        ({"hardware": "apple-m4-max-40c", "memory_gb": 128, "quant": "mlx-4bit", "engine": "mlx"}, 0.5),
        ({"hardware": "nvidia-rtx-4090", "quant": "q4_k_m", "engine": "llama.cpp", "devices": 1}, 2.0),
    ],
)
def test_compare_and_plan_agree_on_usd_per_m_output_tokens(cat, cand, rate):
    spec = {
        "model": "llama-3.1-8b",
        "candidates": [cand],
        "workload": {"rate_rps": rate, "prompt": {"mean": 500}, "output": {"mean": 200}},
        "slo": {"ttft_p95_s": 5.0, "tpot_p95_ms": 100.0},
        "search": {"requests": 200, "screen_factor": None},
        "costs": {"electricity_usd_per_kwh": 0.2, "pue": 1.2, "years": 4, "utilization": 0.6},
    }
    res = plan(cat, spec, executor="serial")
    row = res["candidates"][0]
    assert row["verdict"] == "winner", row.get("reason")
    # the same machine, stack and load on the Compare page, with the same cost inputs
    data = dict(row["scenario"])
    ci = res["cost_inputs"]
    data["cost"] = {
        "usd_per_kwh": ci["electricity_usd_per_kwh"],
        "pue": ci["pue"],
        "amortize_years": ci["years"],
        "utilization": ci["utilization"],
    }
    sc = parse_scenario(data)
    o = evaluate_option(cat, sc, 0)
    assert o["fits"] and o["sim"]["rejected"] == 0
    assert o["usd_per_mtok"] == pytest.approx(row["usd_per_m_output_tokens"], rel=0.01)
    assert o["price_usd"] == pytest.approx(row["capex_usd"])
    assert o["tokens_per_joule"] == pytest.approx(row["output_tokens_per_joule"], rel=0.01)


def test_tco_arithmetic():
    t = econ.tco(10_000, 1000.0, 100.0, 500.0, 0.5, 1.5, 0.2, 2)
    kwh = (0.5 * 1000 + 0.5 * 100) * econ.HOURS_PER_YEAR / 1000 * 1.5
    assert t["energy_kwh_per_year"] == pytest.approx(kwh)
    tokens = 500 * 0.5 * econ.HOURS_PER_YEAR * 3600 * 2
    assert t["usd_per_m_output_tokens"] == pytest.approx((10_000 + 2 * kwh * 0.2) / tokens * 1e6)
    assert t["usd_per_m_output_tokens"] == pytest.approx(
        t["usd_per_m_output_tokens_capex"] + t["usd_per_m_output_tokens_energy"]
    )
    assert t["output_tokens_per_joule"] == pytest.approx(0.5)
    assert econ.tco(None, 1000.0, 0.0, 500.0, 1, 1, 0.2, 1)["usd_per_m_output_tokens"] is None


def test_capex_includes_cluster_extras_and_priced_hosts(cat):
    one = econ.capex(cat, "apple-m3-ultra-80c", 512)
    two = econ.capex(cat, "apple-m3-ultra-80c", 512, nodes=2, link="thunderbolt5")
    # profiles/systems/mac-studio-m3-ultra-512-x2.toml: two Macs plus one Thunderbolt 5 cable
    assert two.usd == pytest.approx(cat.systems["mac-studio-m3-ultra-512-x2"].prices[0].usd)
    assert two.usd > 2 * one.usd and any("cluster extras" in p["what"] for p in two.parts)
    tr = cat.hosts["amd-threadripper-pro-7000"]
    gpu = econ.capex(cat, "nvidia-rtx-pro-6000", None)
    off = econ.capex(cat, "nvidia-rtx-pro-6000", None, host="amd-threadripper-pro-7000", offload="experts")
    card = cat.hardware["nvidia-rtx-pro-6000"].price_for(96).usd
    ws = cat.chassis["workstation-4-pcie"].prices[0].usd
    assert gpu.usd == pytest.approx(card + ws) and gpu.chassis == "workstation-4-pcie" and not gpu.bare_cards
    # a priced offload host is the machine around the card: no chassis on top
    assert off.usd == pytest.approx(card + tr.prices[0].usd) and off.chassis is None
    unpriced = econ.capex(cat, "nvidia-rtx-pro-6000", None, host="amd-epyc-9004-genoa", offload="experts")
    assert unpriced.usd == gpu.usd and "no sourced price" in unpriced.note
    assert econ.capex(cat, "nvidia-l40s", None, replicas=3, price_usd=100.0).usd == 3 * (100.0 + ws)


def test_no_gpu_option_is_priced_as_bare_cards_without_saying_so(cat):
    """Every discrete-GPU option is priced with the machine around its cards (a catalog chassis with a
    sourced or derived price, or a priced offload host), or its capex says it is bare cards."""
    checked = 0
    for hw in cat.hardware.values():
        if hw.memory != "discrete":
            continue
        for devices in (1, 2, 4, 8):
            cap = econ.capex(cat, hw.id, None, devices=devices)
            if cap.usd is None:
                continue  # no price at all: said by the caller ("no sourced price")
            checked += 1
            if cap.chassis:
                ch = cat.chassis[cap.chassis]
                part = next(p for p in cap.parts if p.get("chassis") == ch.id)
                assert part["usd"] > 0 and part["date"] and part["source"], (hw.id, devices)
                assert ch.prices[0].source or ch.prices[0].derived
                assert devices <= ch.max_devices
            else:
                assert cap.bare_cards and "bare cards" in cap.note and "quote" in cap.note, (hw.id, devices)
    assert checked > 20
    # the two classes the buyer compares: a 2-card workstation and an 8-GPU server
    assert econ.capex(cat, "nvidia-rtx-5090", None, devices=2).chassis == "workstation-4-pcie"
    assert econ.capex(cat, "nvidia-h100-sxm", None, devices=1).chassis == "server-8-hgx-oam"
    assert econ.capex(cat, "amd-mi325x", None, devices=8).chassis == "server-8-hgx-oam"
    # five PCIe cards fit no catalog workstation: bare cards, and the note says so
    five = econ.capex(cat, "nvidia-rtx-5090", None, devices=5)
    assert five.bare_cards and "enter a quote" in five.note
    # whole computers are not given a chassis
    assert econ.capex(cat, "apple-m3-ultra-80c", 512).chassis is None


def test_a_quote_replaces_every_catalog_price(cat):
    q = econ.capex(cat, "nvidia-h100-pcie", None, devices=2, replicas=3, quote_usd=50_000)
    assert q.usd == 150_000 and q.parts[0]["kind"] == "quote" and q.note is None
    # the chassis' power is counted with the cards, per machine
    bare = cat.hardware["nvidia-h100-sxm"].power_max_w.value * 8
    pw = econ.power(cat, "nvidia-h100-sxm", 8, 1.0)
    assert pw["power_load_w"] == pytest.approx(bare + cat.chassis["server-8-hgx-oam"].power_w.value)
    assert pw["power_idle_w"] >= cat.chassis["server-8-hgx-oam"].power_w.value
    assert "chassis" in pw["power_note"]


def test_sweep_points_carry_the_same_cost(cat):
    from planner.webapp.sweep import sweep_point

    sc = parse_scenario(
        {
            "model": "llama-3.1-8b",
            "quant": "fp8",
            "engine": "vllm",
            "machine": {"hardware": "nvidia-l40s"},
            "workload": {"rate_rps": 2.0, "requests": 200, "prompt": {"mean": 500}, "output": {"mean": 200}},
        }
    )
    p = sweep_point(cat, sc, 0, "rate_rps", 2.0)
    o = evaluate_option(cat, sc, 0)
    assert p["usd_per_mtok"] == pytest.approx(o["usd_per_mtok"]) and p["usd_per_mtok"] > 0
    assert option_costs(cat, sc.for_option(0), o["sim"])["usd_per_mtok"] == pytest.approx(o["usd_per_mtok"])


def test_every_device_has_an_idle_power_with_a_source_or_a_stated_estimate(cat):
    """No option idles at 0 W: every catalog device has an idle figure > 0 below its max, sourced or derived; a
    derived one says it is an estimate and is marked low-confidence (issue 11)."""
    for h in cat.hardware.values():
        f = h.power_idle_w
        assert f is not None and 0 < f.value < h.power_max_w.value, h.id
        assert f.source or f.derived, h.id
        if not f.source:
            assert f.confidence == "low" and f.confidence_note, h.id
            assert any(w in f.derived.lower() for w in ("estimate", "proxy")), h.id
        p = econ.power(cat, h.id, 2, busy=0.0)
        assert p["power_idle_w"] >= 2 * f.value > 0, h.id
        assert "0 W assumed" not in p["power_note"], h.id


def test_idle_power_changes_energy(cat):
    """Energy counts the idle hours at the idle figure: with it, a year costs more than with 0 W at idle, and the
    load power at a low busy share includes the idle floor (host + devices)."""
    busy = 0.2
    p = econ.power(cat, "nvidia-h100-sxm", 2, busy=busy)
    idle = cat.hardware["nvidia-h100-sxm"].power_idle_w.value
    assert p["power_load_w"] > 2 * 700 * busy  # the idle floor under the busy share
    with_idle = econ.tco(100_000, p["power_load_w"], p["power_idle_w"], 500.0, 0.5, 1.3, 0.15, 3)
    without = econ.tco(
        100_000, p["power_load_w"] - 2 * idle * (1 - busy), p["power_idle_w"] - 2 * idle, 500.0, 0.5, 1.3, 0.15, 3
    )
    assert with_idle["energy_kwh_per_year"] > without["energy_kwh_per_year"]
    assert with_idle["usd_per_m_output_tokens"] > without["usd_per_m_output_tokens"]
