"""The Streamlit app's logic with streamlit.testing.v1.AppTest (no browser)."""

import math
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from app_pages.compare_parts import _buffers, arrow_table

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGES = [
    "app_pages/sweep.py",
    "app_pages/catalog.py",
    "app_pages/measurements.py",
    "app_pages/accuracy.py",
    "app_pages/claims.py",
    "app_pages/glossary.py",
]


def run(query: dict | None = None, panels: tuple[int, ...] = ()) -> AppTest:
    """The app at `query`, the sidebar panels of machine options `panels` open (a closed panel draws no widgets)."""
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    for i in panels:
        at.session_state[f"panel:opt{i}"] = True
    return at.run()


def state(at):
    return at.session_state["scenario"]


def test_compare_default_page():
    at = run()
    assert not at.exception
    assert at.title[0].value == "Compare machines"
    sc = state(at)
    assert sc.machine.hardware == "apple-m3-ultra-80c" and sc.machine.memory_gb == 512 and sc.engine == "llama.cpp"
    assert len(sc.options()) == 4
    df = at.dataframe[0].value
    assert list(df["fits"]) == [True, True, True, True]
    assert (df["throughput_tok_s"] > 0).all() and (df["usd_per_mtok"] > 0).all()
    assert dict(at.query_params) in ({"v": ["2"]}, {"v": "2"})
    # the answer first: one sentence naming who meets the target at this load; the only warnings are tight fits
    sentence = (at.success or at.error)[0].value
    assert sentence.startswith("At 4 busy users") and "meet" in sentence
    assert all(w.value.split(": ", 1)[1].startswith("tight:") for w in at.warning)
    assert any("DeepSeek" not in w.value and "M3 Ultra" in w.value for w in at.warning)  # R1 on one 512 GB Mac


def test_link_restores_every_widget():
    at = run(
        {
            "v": "1",
            "workload.arrival": "poisson",
            "workload.rate_rps": "0.3",
            "workload.prompt.mean": "1000",
            "slo.ttft_p95_s": "5",
            "compare.0.hardware": "nvidia-b200",
            "compare.0.devices": "4",
            "machine.memory_gb": "256",
        },
        panels=(0, 1),
    )
    assert not at.exception
    assert not [w for w in at.warning if "Share link" in w.value]
    assert any("migrated" in i.value for i in at.info)  # a v=1 link: read against version 1's default, said so
    assert any("256 GB · llama.cpp · Q4_K_M does not fit" in w.value for w in at.warning)  # option 1: 256 GB Mac
    sb = at.sidebar
    assert sb.radio(key="w:load").value == "rate"
    assert sb.number_input(key="w:rate").value == pytest.approx(0.3)
    assert sb.number_input(key="w:prompt").value == 1000
    assert sb.number_input(key="w:slo_ttft").value == 5
    assert sb.number_input(key="w:n").value == 2
    assert sb.selectbox(key="w:opt1:hw").value == "nvidia-b200"
    assert sb.number_input(key="w:opt1:dev").value == 4
    assert sb.selectbox(key="w:opt0:mem:apple-m3-ultra-80c").value == 256
    assert len(at.dataframe[0].value) == 2


def test_malformed_link_warns_and_the_page_works():
    at = run({"v": "1", "workload.concurrency": "-2", "model": "nope", "compare.0.hardware": "zzz"})
    assert not at.exception
    text = " ".join(w.value for w in at.warning)
    assert "workload.concurrency" in text and "model" in text and "compare.0.hardware" in text
    assert state(at).workload.concurrency == 4 and state(at).model == "deepseek-r1"
    assert len(at.dataframe[0].value) == 1  # the bad option was dropped, option 1 still computed


def test_edit_updates_the_url_and_results():
    at = run()
    before = at.dataframe[0].value["throughput_tok_s"].tolist()
    at.sidebar.number_input(key="w:concurrency").set_value(8).run()
    assert not at.exception
    assert at.query_params["workload.concurrency"] in ("8", ["8"])
    assert at.dataframe[0].value["throughput_tok_s"].tolist() != before
    at.sidebar.number_input(key="w:n").set_value(5).run()
    assert len(state(at).compare) == 4 and "compare.3.hardware" in at.query_params


def test_non_fitting_option_shows_the_reason():
    at = run({"v": "1", "compare.0.hardware": "nvidia-rtx-pro-6000", "compare.0.devices": "4"})
    assert not at.exception
    assert any("does not fit" in w.value and "use at least" in w.value or "GB" in w.value for w in at.warning)


def test_bad_combination_is_a_message_not_a_traceback():
    at = run({"v": "1", "engine": "mlx"})
    assert not at.exception
    assert any("mlx" in e.value for e in at.error)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs(page):
    at = run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert at.title


def test_sweep_marks_a_knee():
    at = run({"v": "1", "compare": ""})
    at.switch_page("app_pages/sweep.py").run()
    assert not at.exception
    knees = at.dataframe[0].value
    assert len(knees) == 1


def test_catalog_adds_a_custom_machine_to_the_scenario():
    at = run()
    at.switch_page("app_pages/catalog.py").run()
    at.text_input[0].set_value("my-gpu")
    at.button[0].click().run()  # the form's submit button
    assert not at.exception
    sc = state(at)
    assert [h.id for h in sc.custom_hardware] == ["my-gpu"] and sc.compare[-1].hardware == "my-gpu"
    assert at.query_params["custom_hardware.0.id"] in ("my-gpu", ["my-gpu"])


def test_accuracy_page_numbers():
    at = run()
    at.switch_page("app_pages/accuracy.py").run()
    assert not at.exception
    rows = int(at.metric[0].value)
    assert rows > 150
    at.multiselect(key="acc_vendor").set_value(["apple"]).run()
    assert 0 < int(at.metric[0].value) < rows


def test_claims_page_checks_all_eleven():
    at = run()
    at.switch_page("app_pages/claims.py").run()
    assert not at.exception
    md = " ".join(m.value for m in at.markdown)
    for i in range(1, 12):
        assert f"**{i}. " in md
    assert "contradicted" in md and "Thunderbolt 5" in md


@pytest.mark.parametrize(
    "name,stacks",
    [
        ("r1", [("q4_k_m", "llama.cpp"), ("q4_k_m", "llama.cpp"), ("fp8", "sglang"), ("fp8", "vllm")]),
        ("llama70b-team", [("mlx-4bit", "mlx"), ("fp8", "vllm"), ("q4_k_m", "llama.cpp"), ("fp8", "vllm")]),
        ("one-developer", [("mlx-4bit", "mlx"), ("q4_k_m", "llama.cpp"), ("q4_k_m", "llama.cpp")]),
    ],
)
def test_presets_load_real_comparisons(name, stacks):
    """Each preset sets each machine's own stack; every option fits, is simulated and labelled with its stack."""
    at = run({"v": "2", "workload.concurrency": "2"})  # start elsewhere so the preset visibly changes it
    at.button(key=f"preset:{name}").click().run()
    assert not at.exception and not at.error
    sc = state(at)
    assert [sc.stack(i)[:2] for i in range(len(sc.options()))] == stacks
    df = at.dataframe[0].value
    assert list(df["fits"]) == [True] * len(stacks) and (df["throughput_tok_s"] > 0).all()
    for label, (q, e) in zip(df["machine"], stacks):
        assert label.endswith(
            " · "
            + " · ".join(
                [
                    {"llama.cpp": "llama.cpp", "mlx": "MLX", "vllm": "vLLM", "sglang": "SGLang"}[e],
                    {"q4_k_m": "Q4_K_M", "fp8": "FP8", "mlx-4bit": "4-bit"}[q],
                ]
            )
        )
    assert any(
        "each machine" in i.value.lower() or "one person" in i.value.lower() or "twenty" in i.value.lower()
        for i in at.info
    )


def test_scale_out_edit_goes_to_the_url():
    at = run(panels=(0, 1))
    at.sidebar.number_input(key="w:opt0:nodes").set_value(2).run()
    at.sidebar.selectbox(key="w:opt0:link").set_value("thunderbolt5").run()
    assert not at.exception
    assert state(at).machine.nodes == 2 and state(at).machine.link == "thunderbolt5"
    assert at.query_params["machine.nodes"] in ("2", ["2"])
    assert at.query_params["machine.link"] in ("thunderbolt5", ["thunderbolt5"])
    assert "2 nodes" in at.dataframe[0].value["machine"][0]
    at.sidebar.text_input(key="w:opt1:par").set_value("tp=8").run()
    assert at.query_params["compare.0.parallel"] in ("tp=8", ["tp=8"])
    at.sidebar.text_input(key="w:opt1:par").set_value("tp=banana").run()
    assert any("parallel" in e.value for e in at.sidebar.error)  # the previous value is kept
    assert state(at).compare[0].parallel == "tp=8"
    at2 = run(
        {
            "v": "1",
            "compare.0.offload": "layers:20",
            "compare.0.host": "amd-epyc-9005-turin",
            "compare.0.hardware": "nvidia-rtx-pro-6000",
            "compare.0.devices": "1",
        },
        panels=(1,),
    )
    assert not at2.exception
    assert at2.sidebar.selectbox(key="w:opt1:off").value == "layers"
    assert at2.sidebar.number_input(key="w:opt1:offn").value == 20


def test_capacity_plan_page_default():
    at = run()
    at.switch_page("app_pages/plan.py").run()
    assert not at.exception and not at.error
    assert at.title[0].value == "Capacity plan"
    assert at.success and "Winner" in at.success[0].value
    ranked = at.dataframe[0].value
    assert list(ranked["rank"])[:3] == [1, 2, 3] and (ranked["tco_usd"].diff().dropna() >= 0).all()
    for col in (
        "replicas",
        "capex_usd",
        "power_load_w",
        "power_idle_w",
        "energy_kwh_per_year",
        "tco_usd",
        "usd_per_m_output_tokens",
        "output_tokens_per_joule",
        "headroom",
    ):
        assert col in ranked.columns
    groups = at.dataframe[1].value
    assert "does not fit" in list(groups["reason"]) and groups["candidates"].sum() > 100
    md = " ".join(m.value for m in at.markdown)
    assert "ASSUMPTION" in md and "Runners-up" in md
    assert dict(at.query_params) in ({"v": ["2"]}, {"v": "2"})  # defaults: nothing but the version


def test_capacity_plan_inputs_go_to_the_url_and_back():
    q = {"v": "1", "plan.candidates": "nvidia-h200-sxm,amd-mi300x", "plan.rate_rps": "3"}
    at = run(q)
    at.switch_page("app_pages/plan.py").run()
    assert not at.exception and not at.warning
    assert at.sidebar.multiselect(key="p:cands").value == ["nvidia-h200-sxm", "amd-mi300x"]
    assert at.sidebar.number_input(key="p:rate").value == 3
    ranked = at.dataframe[0].value
    assert set(ranked["candidate"].str.split(" ").str[1]) <= {"H200", "MI300X"}  # human names
    at.sidebar.number_input(key="p:tpot").set_value(60.0)
    at.sidebar.button[0].click().run()  # the form's Plan button
    assert not at.exception
    assert at.query_params["plan.tpot_p95_ms"] in ("60", ["60"])
    assert at.query_params["plan.rate_rps"] in ("3", ["3"])
    assert at.session_state["plan_inputs"].tpot_p95_ms == 60


def test_capacity_plan_bad_link_and_impossible_slo():
    at = run({"v": "1", "plan.rate_rps": "fast", "plan.candidates": "nvidia-h200-sxm", "plan.ttft_p95_s": "0.001"})
    at.switch_page("app_pages/plan.py").run()
    assert not at.exception
    assert any("plan.rate_rps" in w.value for w in at.warning)
    assert at.error and "No plan" in at.error[0].value and "slo" in at.error[0].value


def test_starving_scheduler_setting_is_warned():
    """TensorRT-LLM's defaults with 8,192-token prompts run one request at a time: the page says so."""
    at = run(
        {
            "v": "1",
            "model": "llama-3.1-70b",
            "quant": "fp8",
            "engine": "tensorrt-llm",
            "machine.hardware": "nvidia-h200-sxm",
            "machine.devices": "2",
            "compare": "",
            "workload.arrival": "closed",
            "workload.concurrency": "16",
            "workload.requests": "48",
            "workload.prompt.mean": "8192",
            "workload.output.mean": "128",
        }
    )
    assert not at.exception
    assert any("one at a time" in w.value and "chunked prefill" in w.value for w in at.warning)


def test_changing_option_2s_engine_changes_only_option_2():
    at = run(panels=(1,))
    before_df = at.dataframe[0].value.copy()
    before_q = dict(at.query_params)
    at.sidebar.selectbox(key="w:opt1:engine:apple-m3-ultra-80c").set_value("mlx").run()
    assert not at.exception
    sc = state(at)
    assert sc.stack(1)[:2] == ("mlx-4bit", "mlx") and [sc.stack(i) for i in (0, 2, 3)] == [
        ("q4_k_m", "llama.cpp", None),
        ("fp8", "sglang", None),
        ("fp8", "vllm", None),
    ]
    q = {k: (v[0] if isinstance(v, list) else v) for k, v in dict(at.query_params).items()}
    assert q["compare.0.engine"] == "mlx" and q["compare.0.quant"] == "mlx-4bit"
    assert q["compare.1.engine"] == "sglang" and q["compare.2.engine"] == "vllm" and "machine.engine" not in q
    df = at.dataframe[0].value
    for col in ("machine", "decode_tok_s", "throughput_tok_s", "usd_per_mtok"):
        assert df[col][0] == before_df[col][0] and df[col][2] == before_df[col][2] and df[col][3] == before_df[col][3]
        assert df[col][1] != before_df[col][1]
    assert before_q != dict(at.query_params)


def test_measurements_page_reads_a_pasted_llama_bench_table():
    import bench_outputs as B

    at = run()
    at.switch_page("app_pages/measurements.py").run()
    assert not at.exception
    at.selectbox(key="mb_hw").set_value("nvidia-rtx-4090")
    at.text_area(key="mb_text").set_value(B.LLAMA_BENCH_MD_PG).run()
    assert not at.exception and not at.error
    df = at.dataframe[0].value
    assert list(df["measured"])[:2] == [4918.36, 165.76] and df["predicted"][0] > 0
    assert any("llama-2-7b" in s.value for s in at.success)
    at.text_area(key="mb_text").set_value(B.LLAMA_BENCH_MD_PG[:300]).run()  # truncated
    assert any("line" in e.value for e in at.error)


def test_a_closed_option_panel_draws_no_widgets_and_keeps_its_option():
    at = run()
    sc = state(at)
    assert not [w for w in at.sidebar.selectbox if str(w.key).startswith("w:opt")]  # every panel closed
    at.session_state["panel:opt2"] = True
    at.run()
    assert not at.exception and state(at) == sc  # opening a panel changes nothing
    assert at.sidebar.selectbox(key="w:opt2:hw").value == sc.options()[2].hardware
    assert at.sidebar.number_input(key="w:opt2:dev").value == sc.options()[2].devices
    at.sidebar.number_input(key="w:opt2:dev").set_value(4).run()
    assert state(at).options()[2].devices == 4
    at.session_state["panel:opt2"] = False
    at.run()
    assert state(at).options()[2].devices == 4  # closed again: the edit stays, its widgets are gone
    assert not [w for w in at.sidebar.number_input if str(w.key).startswith("w:opt2:")]


def test_compare_draws_only_the_open_chart_view_and_sources():
    at = run()
    assert at.session_state["compare_view"] == "Memory" and len(at.get("vega_lite_chart")) == 1
    assert not [m for m in at.markdown if "calibration `" in m.value]  # the sources panel is closed: not drawn
    at.session_state["compare_view"] = "Latency"
    at.session_state["panel:sources"] = True
    at.run()
    assert not at.exception and len(at.get("vega_lite_chart")) == 2  # TTFT and TPOT
    sources = [m.value for m in at.markdown if "calibration `" in m.value]
    assert len(sources) == 1 and sources[0].count("calibration `") == 4  # one element, every option


def test_the_share_links_copy_box_is_drawn_only_when_opened():
    at = run()
    link = [m.value for m in at.markdown if "Link to this scenario" in m.value]
    assert len(link) == 1 and not at.code  # the link in the text; no code box (its script) until asked for
    at.session_state["panel:copylink"] = True
    at.run()
    assert not at.exception and len(at.code) == 1
    assert at.code[0].value in link[0]  # the same link, in a box with a copy button


def test_the_progress_bar_is_drawn_only_while_slow_and_taken_away(monkeypatch):
    """A slow run draws the bar and takes it away at the end; a quick one never draws it (no message either)."""
    import time

    from streamlit.delta_generator import DeltaGenerator

    from app_pages import ui

    drawn, progress, evaluate = [], DeltaGenerator.progress, ui.evaluate

    def bar(self, value, text=None):
        drawn.append(value)
        return progress(self, value, text=text)

    def slow(sc, progress=None):
        def wait(k, n):
            time.sleep(0.3)  # each option over the 0.25 s the page waits before drawing a bar
            progress(k, n)

        return evaluate(sc, wait)

    monkeypatch.setattr(DeltaGenerator, "progress", bar)
    at = run()  # simulates the default scenario (a bar if that took over 0.25 s)
    assert not at.exception and not at.get("progress")
    drawn.clear()
    at.run()  # cached: quick, never drawn
    assert not at.exception and not at.get("progress") and not drawn
    monkeypatch.setattr(ui, "evaluate", slow)
    at.run()
    assert drawn == [0.25, 0.5, 0.75]  # drawn while the options were evaluated
    assert not at.exception and not at.get("progress")  # and taken away at the end


def test_an_unpriced_option_reads_a_dash_not_none():
    """Streamlit draws a missing number as "None": a $ column with an unpriced option (two 96 GB Mac Studios
    over Thunderbolt 5 have no sourced price) is sent as text with "—" there; a column without a gap stays numeric.
    Its $/Mtok is "—" too, and its energy share alone is marked "energy only" (table and cost chart)."""
    at = run(
        {
            "v": "2",
            "model": "llama-3.1-70b",
            "machine.hardware": "apple-m3-ultra-80c",
            "machine.memory_gb": "96",
            "machine.nodes": "2",
            "machine.link": "thunderbolt5",
            "compare.0.hardware": "nvidia-h100-sxm",
            "compare.0.devices": "2",
            "compare.0.quant": "fp8",
            "compare.0.engine": "vllm",
            "workload.requests": "40",
        }
    )
    assert not at.exception
    df = at.dataframe[0].value
    prices = list(df["price_usd"])
    assert prices[0] == "—" and prices[1].startswith("$") and None not in prices
    assert (df["throughput_tok_s"] > 0).all()  # full columns stay numbers
    # no price, no $/Mtok: the energy share alone is never shown as a full $/Mtok (it would read as the cheapest)
    per_m, energy = list(df["usd_per_mtok"]), list(df["usd_per_mtok_energy"])
    assert per_m[0] == "—" and per_m[1].startswith("$")
    assert energy[0].startswith("$") and energy[0].endswith(" energy only") and "energy" not in energy[1]
    assert float(energy[1].strip("$").replace(",", "")) < float(per_m[1].strip("$").replace(",", ""))
    at.session_state["compare_view"] = "Cost"  # the cost chart labels the unpriced bar likewise
    at.run()
    data = b"".join(d.SerializeToString() for d in at.get("vega_lite_chart")[0].proto.datasets)  # Arrow bytes
    assert data.count("energy only (no price)".encode()) == 1


def test_compare_tables_are_made_without_pandas_and_equal_pyarrows_own():
    """The Compare page's Arrow tables are made from buffers (pyarrow's conversion of Python values imports
    pandas, a second of a server's first session): the same arrays as pa.array's, pa.array where a column mixes
    kinds."""
    cases = [[1, 2, None], [1.5, None, 2], [True, None, False], ["a", None, "héllo", ""], [None] * 9 + [True], []]
    for values in cases:
        assert _buffers(values).equals(pa.array(values)), values
    assert [x if not math.isnan(x) else "nan" for x in _buffers([float("nan"), 1.0]).to_pylist()] == ["nan", 1.0]
    assert _buffers(["x", 1]) is None and _buffers([2**70]) is None and _buffers([True, 1]) is None
    t = arrow_table({"fits": [None, None], "nested": [[1], None], "n": [1, None]}, {"fits": pa.bool_()})
    assert t.schema.types == [pa.bool_(), pa.list_(pa.int64()), pa.int64()]
    code = (  # a fresh interpreter: pandas stays unimported
        "import sys; from app_pages.compare_parts import arrow_table; "
        "arrow_table({'a': [1.0, None], 'b': ['x', None], 'c': [True, False]}); print('pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(APP).parent, check=True)
    assert out.stdout.strip() == "False"
