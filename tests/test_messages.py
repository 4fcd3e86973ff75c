"""Messages never mix one machine's figure with a cluster's: a Mac cluster's GPU limit and the sysctl that
raises it are per machine (the sysctl is set on each Mac), the cluster's total is named as such."""

import re

import pytest

from planner.model.memory import GB, GIB
from planner.model.predict import predict

CASES = [  # (hardware, memory GB per machine, nodes, model, quant): Macs and Mac clusters that do not fit
    ("apple-m4-10c", 16, 4, "llama-3.1-70b", "q5_k_m"),  # the four 16 GB Macs
    ("apple-m4-10c", 24, 4, "llama-3.1-70b", "q8_0"),
    ("apple-m4-10c", 32, 2, "llama-3.1-70b", "q6_k"),
    ("apple-m3-ultra-80c", 96, 2, "deepseek-r1", "q4_k_m"),
    ("apple-m4-max-40c", 64, 2, "llama-3.1-70b", "f16"),
    ("apple-m4-10c", 16, 1, "llama-3.1-8b", "f16"),
    ("apple-m4-max-40c", 64, 1, "llama-3.1-70b", "q6_k"),  # one Mac: the sysctl fix applies
]


@pytest.mark.parametrize("hw,mem,nodes,model,quant", CASES)
def test_mac_cluster_messages_use_per_machine_figures(cat, hw, mem, nodes, model, quant):
    r = predict(
        cat,
        hardware=hw,
        model=model,
        quant=quant,
        engine="llama.cpp",
        memory_gb=mem,
        nodes=nodes,
        link="thunderbolt5" if nodes > 1 else None,
        prompt=512,
        gen=256,
    )
    reason = r["reason"] or ""
    assert not r["fits"]
    one_machine_gb = mem * GIB / GB
    # "the default GPU limit of each/this N GB Mac is X GB": X is one machine's, below its memory
    m = re.search(r"GPU limit of (?:each|this) ([\d.]+) GB Mac is ([\d.,]+) GiB", reason)
    assert m, reason
    assert float(m.group(1)) == mem and float(m.group(2).replace(",", "")) <= mem  # GiB, as the Mac is sold
    if nodes > 1:
        assert f"for the {nodes} Macs together" in reason
    for mb in re.findall(r"wired_limit_mb=(\d+)", reason):  # the sysctl is set per Mac: at most its memory
        assert int(mb) * 2**20 / 1e9 <= one_machine_gb, reason
        if nodes > 1:
            assert "on each Mac" in reason


def test_the_single_mac_sysctl_is_within_that_mac(cat):
    r = predict(
        cat,
        hardware="apple-m4-max-40c",
        model="llama-3.1-70b",
        quant="q6_k",
        engine="llama.cpp",
        memory_gb=64,
        prompt=512,
        gen=256,
    )
    assert "sudo sysctl iogpu.wired_limit_mb=" in r["reason"] and "on each Mac" not in r["reason"]


def test_capacities_are_shown_as_sold(cat):
    """A 96 GB card is a "96 GB card" (GiB), never "102 GB usable": the fit reason, the CLI text, the tight note
    and the summary table speak the vendor's GB (issue 11)."""
    from planner.webapp.compare import capacity_as_sold, summary_rows
    from planner.webapp.verdict import tight

    r = predict(
        cat, hardware="nvidia-rtx-pro-6000", model="llama-3.1-70b", quant="f16", engine="llama.cpp", prompt=512, gen=256
    )
    assert not r["fits"] and "of this 96 GB card is usable" in r["reason"]
    usable = [float(x) for x in re.findall(r"([\d.,]+) GiB of this 96 GB card is usable", r["reason"])]
    assert usable and all(u <= 96 for u in usable), r["reason"]
    assert r["memory_gb"]["usable"] > 96  # the model's own unit is 10^9 bytes: the message converts it
    assert not re.search(r"\b10[0-9](\.\d)? GB\b", r["reason"]), r["reason"]
    o = {
        "memory_gb_option": 96,
        "memory_kind": "discrete",
        "vendor": "nvidia",
        "devices": 2,
        "nodes": 1,
        "fits": True,
        "error": None,
        "memory": {"total": 200.0, "usable": r["memory_gb"]["usable"] * 2},
        "option": 1,
        "label": "2x RTX PRO 6000",
    }
    assert capacity_as_sold(o) == "2 x 96 GB cards"
    assert capacity_as_sold({**o, "devices": 1}) == "96 GB card"
    assert (
        capacity_as_sold({**o, "memory_gb_option": 512, "memory_kind": "unified", "vendor": "apple", "devices": 1})
        == "512 GB Mac"
    )
    row = summary_rows([o])[0]
    assert row["capacity"] == "2 x 96 GB cards" and 0.9 < row["memory_used_share"] < 1
    t = tight(o)
    assert t and " GiB usable" in t and float(re.search(r"of ([\d.]+) GiB", t).group(1)) <= 192, t
